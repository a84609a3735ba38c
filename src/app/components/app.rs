//! The app shell: a header with the page links, and the page the hash names.

use gloo::events::EventListener;
use yew::prelude::*;

use super::bench_page::BenchPage;
use super::tensor_page::TensorPage;
use crate::app::url;
use crate::share::Page;

#[function_component(App)]
pub fn app() -> Html {
    let page = use_state(|| Page::from_hash(&url::read_hash()));
    // The last Tensor page link, so that coming back keeps its settings.
    let tensor_hash = use_mut_ref(|| Some(url::read_hash()).filter(|h| Page::from_hash(h) == Page::Tensor));
    {
        let (page, tensor_hash) = (page.clone(), tensor_hash.clone());
        use_effect_with((), move |_| {
            let listener = EventListener::new(&gloo::utils::window(), "hashchange", move |_| {
                let hash = url::read_hash();
                let p = Page::from_hash(&hash);
                page.set(p);
                if p == Page::Tensor {
                    *tensor_hash.borrow_mut() = Some(hash);
                }
            });
            move || drop(listener)
        });
    }
    if *page == Page::Tensor {
        *tensor_hash.borrow_mut() = Some(url::read_hash());
    }
    let tensor_link = tensor_hash.borrow().clone().filter(|h| h.len() > 1).unwrap_or_else(|| "#/tensor".into());
    let link = |p: Page, href: String, label: &str| {
        html! {
            <a href={href} class={classes!((*page == p).then_some("active"))}
                aria-current={(*page == p).then_some("page")}>{ label.to_string() }</a>
        }
    };
    html! {
        <>
            <header class="top">
                <h1><span class="logo">{"q"}</span>{"play"}</h1>
                <nav aria-label="Pages">
                    { link(Page::Tensor, tensor_link, "Tensor") }
                    { link(Page::Bench, "#/bench".into(), "Benchmark") }
                </nav>
                <p class="tagline">{"the quantization playground: scale, zero point and error, live in your browser"}</p>
            </header>
            <main>
                { match *page {
                    Page::Tensor => html! { <TensorPage /> },
                    Page::Bench => html! { <BenchPage /> },
                } }
            </main>
        </>
    }
}

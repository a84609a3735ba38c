//! The app shell: a hash router with the page links in a header, and the
//! state every page keeps while another one is shown (the Model page's, the
//! Lab's and the Language-model page's reducers, and the worker), shared through contexts.

use yew::prelude::*;
use yew_router::prelude::*;

use super::bench_page::BenchPage;
use super::lab_lm::LabLmQueue;
use super::lab_page::LabPage;
use super::lm_page::LmPage;
use super::model_page::ModelPage;
use super::tensor_page::TensorPage;
use crate::app::state::bench::BenchState;
use crate::app::state::lab::LabState;
use crate::app::state::scaling::ScalingState;
use crate::app::state::lm::LmState;
use crate::app::state::model::ModelState;
use crate::app::state::TensorState;
use crate::app::url;
use crate::app::worker::host::SharedWorker;
use crate::share::{query_of, Page};

/// The pages, by the path at the start of the hash (`#/model?…`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Routable)]
pub enum Route {
    #[at("/tensor")]
    Tensor,
    #[at("/model")]
    Model,
    #[at("/lab")]
    Lab,
    #[at("/bench")]
    Bench,
    #[at("/lm")]
    Lm,
    /// An empty or unknown path shows the Tensor page.
    #[not_found]
    #[at("/")]
    Home,
}

impl Route {
    pub fn page(self) -> Page {
        match self {
            Route::Model => Page::Model,
            Route::Lab => Page::Lab,
            Route::Bench => Page::Bench,
            Route::Lm => Page::Lm,
            Route::Tensor | Route::Home => Page::Tensor,
        }
    }
}

fn switch(route: Route) -> Html {
    // Each page its own title, so that a tab, the history and a screen reader name it.
    let title = match route.page() {
        Page::Tensor => "Tensor",
        Page::Model => "Model",
        Page::Lab => "Lab",
        Page::Bench => "Benchmark",
        Page::Lm => "Language model",
    };
    gloo::utils::document().set_title(&format!("{title} — qplay, the quantization playground"));
    match route.page() {
        Page::Tensor => html! { <TensorPage /> },
        Page::Model => html! { <ModelPage /> },
        Page::Lab => html! { <LabPage /> },
        Page::Bench => html! { <BenchPage /> },
        Page::Lm => html! { <LmPage /> },
    }
}

#[function_component(App)]
pub fn app() -> Html {
    html! {
        <HashRouter>
            <Shell />
        </HashRouter>
    }
}

#[function_component(Shell)]
fn shell() -> Html {
    let hash = url::read_hash();
    let first = Page::from_hash(&hash);
    let tensor = use_reducer_eq(|| TensorState::from_hash(if first == Page::Tensor { &hash } else { "" }));
    let model = use_reducer_eq(|| if first == Page::Model { ModelState::from_query(query_of(&hash), None) } else { ModelState::default() });
    let lab = use_reducer_eq(|| if first == Page::Lab { LabState::from_query(query_of(&hash)) } else { LabState::default() });
    let lm = use_reducer_eq(|| if first == Page::Lm { LmState::from_query(query_of(&hash)) } else { LmState::default() });
    // The Benchmark page's runs live here too: a run goes on, and shows, across page switches.
    let bench = use_reducer_eq(BenchState::default);
    let scaling = use_reducer_eq(ScalingState::default);
    let lab_lm_queue = LabLmQueue(use_state(Vec::new));
    let worker = use_state(SharedWorker::default);
    let route = use_route::<Route>().unwrap_or(Route::Home);
    let page = route.page();
    let tensor_link = tensor.to_hash();
    let (model_link, lab_link, lm_link) = (model.to_hash(), lab.to_hash(), lm.to_hash());
    // A skip link, the first thing Tab reaches: off screen until it has focus. It focuses <main>
    // itself (an href="#main" would change the route of this hash router).
    let skip_shown = use_state(|| false);
    let main_ref = use_node_ref();
    let on_skip = {
        let main_ref = main_ref.clone();
        Callback::from(move |e: MouseEvent| {
            e.prevent_default();
            if let Some(m) = main_ref.cast::<web_sys::HtmlElement>() {
                let _ = m.focus();
            }
        })
    };
    let skip_style = if *skip_shown {
        "position:absolute;left:8px;top:8px;z-index:10;background:#fff;color:#000;padding:6px 10px;border:2px solid #1565c0"
    } else {
        "position:absolute;left:-10000px;top:auto;width:1px;height:1px;overflow:hidden"
    };
    let (on_skip_focus, on_skip_blur) = {
        let (a, b) = (skip_shown.clone(), skip_shown.clone());
        (Callback::from(move |_: FocusEvent| a.set(true)), Callback::from(move |_: FocusEvent| b.set(false)))
    };
    let link = |p: Page, href: String, label: &str, tip: &str| {
        html! {
            <a href={href} class={classes!((page == p).then_some("active"))} title={tip.to_string()}
                aria-current={(page == p).then_some("page")}>{ label.to_string() }</a>
        }
    };
    html! {
        <ContextProvider<SharedWorker> context={(*worker).clone()}>
        <ContextProvider<UseReducerHandle<TensorState>> context={tensor}>
        <ContextProvider<UseReducerHandle<ModelState>> context={model}>
        <ContextProvider<UseReducerHandle<LabState>> context={lab}>
        <ContextProvider<UseReducerHandle<LmState>> context={lm}>
        <ContextProvider<UseReducerHandle<BenchState>> context={bench}>
        <ContextProvider<UseReducerHandle<ScalingState>> context={scaling}>
        <ContextProvider<LabLmQueue> context={lab_lm_queue}>
            <a href="#" class="skip-link" style={skip_style} onclick={on_skip} onfocus={on_skip_focus} onblur={on_skip_blur}
                data-testid="skip-link">{"Skip to the main content"}</a>
            <header class="top">
                <h1><span class="logo">{"q"}</span>{"play"}</h1>
                <nav aria-label="Pages">
                    { link(Page::Tensor, tensor_link, "Tensor", "Quantize a tensor: scale, zero point, grid and error") }
                    { link(Page::Model, model_link, "Model", "Quantize a model: PTQ, comparisons, sweeps, mixed-bit searches, QAT") }
                    { link(Page::Lab, lab_link, "Lab", "The quantization lab handout, step by step") }
                    { link(Page::Lm, lm_link, "Language model", "Quantize a small language model: perplexity, KL and the text it writes, against FP32") }
                    { link(Page::Bench, "#/bench".into(), "Benchmark", "int8 SIMD against FP32 in this browser") }
                </nav>
                <p class="tagline">{"the quantization playground: scale, zero point and error, live in your browser"}</p>
            </header>
            <main ref={main_ref} id="main" tabindex="-1">
                <Switch<Route> render={switch} />
            </main>
            <super::lab_page::LabRunner />
            <super::worker_scaling::ScalingRunner />
            <super::lab_lm::LabLmRunner />
        </ContextProvider<LabLmQueue>>
        </ContextProvider<UseReducerHandle<ScalingState>>>
        </ContextProvider<UseReducerHandle<BenchState>>>
        </ContextProvider<UseReducerHandle<LmState>>>
        </ContextProvider<UseReducerHandle<LabState>>>
        </ContextProvider<UseReducerHandle<ModelState>>>
        </ContextProvider<UseReducerHandle<TensorState>>>
        </ContextProvider<SharedWorker>>
    }
}

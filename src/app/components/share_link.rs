//! The share line of a page: a Copy link button, the link itself (read-only, selected on
//! focus so that Ctrl+C copies it where the Clipboard API is refused) and what copying did.

use wasm_bindgen::JsCast;
use web_sys::HtmlInputElement;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct ShareLinkProps {
    /// The whole link (origin, path and hash).
    pub link: String,
    /// What the link reproduces, for the button's tooltip.
    pub what: AttrValue,
    /// What it leaves out, as a sentence shown beside it.
    #[prop_or_default]
    pub leaves_out: Option<AttrValue>,
}

#[function_component(ShareLink)]
pub fn share_link(props: &ShareLinkProps) -> Html {
    let status = use_state(|| None::<String>);
    let on_copy = {
        let (link, status) = (props.link.clone(), status.clone());
        Callback::from(move |_: MouseEvent| copy_to_clipboard(&link, status.clone()))
    };
    let on_focus = Callback::from(|e: FocusEvent| e.target_unchecked_into::<HtmlInputElement>().select());
    html! {
        <div class="share">
            <button onclick={on_copy} data-testid="copy-link" title={format!("Copy a link that opens this page with {}", props.what)}>{"Copy link"}</button>
            <input class="link" readonly=true value={props.link.clone()} aria-label="Share link" data-testid="share-link" onfocus={on_focus} />
            if let Some(s) = &*status { <span class="copy-status" role="status" data-testid="copy-status">{ s.clone() }</span> }
            if let Some(n) = &props.leaves_out { <span class="hint" data-testid="link-leaves-out">{ n.clone() }</span> }
        </div>
    }
}

/// Writes `text` with the async Clipboard API (called through JS reflection:
/// web-sys keeps it behind an unstable flag) and reports the outcome.
fn copy_to_clipboard(text: &str, status: UseStateHandle<Option<String>>) {
    let navigator = gloo::utils::window().navigator();
    let clipboard = js_sys::Reflect::get(&navigator, &"clipboard".into()).ok().filter(|c| !c.is_undefined());
    let write = clipboard.as_ref().and_then(|c| js_sys::Reflect::get(c, &"writeText".into()).ok());
    let promise = match (clipboard, write.and_then(|f| f.dyn_into::<js_sys::Function>().ok())) {
        (Some(c), Some(f)) => f.call1(&c, &text.into()).ok().and_then(|p| p.dyn_into::<js_sys::Promise>().ok()),
        _ => None,
    };
    let Some(promise) = promise else {
        status.set(Some("This browser cannot copy for us: select the link and press Ctrl+C.".into()));
        return;
    };
    yew::platform::spawn_local(async move {
        let message = match wasm_bindgen_futures::JsFuture::from(promise).await {
            Ok(_) => "Link copied.",
            Err(_) => "Copying was blocked: select the link and press Ctrl+C.",
        };
        status.set(Some(message.into()));
    });
}

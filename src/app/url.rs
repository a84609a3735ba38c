//! The browser side of share links: reading and writing `location.hash`.
//! What the hash means is defined once, in [`crate::share`].

use gloo::events::EventListener;
use wasm_bindgen::JsValue;
use yew::prelude::*;

use crate::share::Page;

/// The current hash, including its `#`, or "" when there is none.
pub fn read_hash() -> String {
    gloo::utils::window().location().hash().unwrap_or_default()
}

/// Replaces the hash without adding a history entry or firing `hashchange`.
pub fn replace_hash(hash: &str) {
    let window = gloo::utils::window();
    if window.location().hash().ok().as_deref() == Some(hash) {
        return;
    }
    if let Ok(history) = window.history() {
        let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(hash));
    }
}

/// A hash that does not start with `#/` (`#?bits=4`, `#bits=4`, typed or cut from a link) as
/// the same hash under `/` (`#/?bits=4`: the Tensor page with bits = 4; `#/bits=4`: an unknown
/// page, named in a notice). The router's hash history cannot read such a hash ("You cannot use
/// relative path with this history type", an uncaught error); this runs once before the app
/// starts and then on every change of the address, before the router's own listeners.
pub fn keep_hash_rooted() {
    fn root() {
        let hash = read_hash();
        if let Some(rest) = hash.strip_prefix('#').filter(|r| !r.is_empty() && !r.starts_with('/')) {
            replace_hash(&format!("#/{rest}"));
        }
    }
    root();
    let window = gloo::utils::window();
    for event in ["popstate", "hashchange"] {
        EventListener::new(&window, event, |_| root()).forget();
    }
}

/// The full link for `hash`: the page's address without its old hash, plus `hash`.
pub fn link_for(hash: &str) -> String {
    let href = gloo::utils::window().location().href().unwrap_or_default();
    let base = href.split('#').next().unwrap_or_default();
    format!("{base}{hash}")
}

/// Keeps the address bar and a page's state in step, while `page` is the one shown.
///
/// The address is read first, then written: when the page opens (in a fresh tab, or in a tab
/// already on another page of the app, where the state kept from before may differ from the
/// link just followed) a hash for this page that differs from the state's is handed to
/// `on_edit`, and nothing is written over it. After that the hash follows `hash` (the page's
/// state, written without a history entry), and a hash edited by hand is handed to `on_edit`.
#[hook]
pub fn use_page_link(page: Page, hash: String, on_edit: Callback<String>) {
    let opened = use_mut_ref(|| false);
    {
        let on_edit = on_edit.clone();
        use_effect_with(hash, move |hash| {
            let address = read_hash();
            if Page::from_hash(&address) == page {
                let first = !std::mem::replace(&mut *opened.borrow_mut(), true);
                if first && address != *hash && !address.is_empty() {
                    on_edit.emit(address);
                } else {
                    replace_hash(hash);
                }
            }
        });
    }
    use_effect_with((), move |_| {
        let listener = EventListener::new(&gloo::utils::window(), "hashchange", move |_| {
            let hash = read_hash();
            if Page::from_hash(&hash) == page {
                on_edit.emit(hash);
            }
        });
        move || drop(listener)
    });
}

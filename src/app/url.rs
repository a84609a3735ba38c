//! The browser side of share links: reading and writing `location.hash`.
//! What the hash means is defined once, in [`crate::share`].

use wasm_bindgen::JsValue;

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

/// The full link for `hash`: the page's address without its old hash, plus `hash`.
pub fn link_for(hash: &str) -> String {
    let href = gloo::utils::window().location().href().unwrap_or_default();
    let base = href.split('#').next().unwrap_or_default();
    format!("{base}{hash}")
}

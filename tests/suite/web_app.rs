//! Browser-only checks of the app's glue: the panic banner and the URL hash.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen_test]
fn the_panic_banner_shows_the_message_as_text() {
    qplay::app::panic::show_banner("<b>boom</b> at src/x.rs:1");
    let banner = gloo::utils::document().get_element_by_id("panic-banner").expect("the banner is created");
    let text = banner.text_content().unwrap_or_default();
    assert!(text.contains("<b>boom</b> at src/x.rs:1"), "{text}");
    assert!(text.contains("Reload the page"));
    assert_eq!(banner.children().length(), 0, "the message is text, never HTML");
    assert!(!banner.has_attribute("hidden"));
}

#[wasm_bindgen_test]
fn replace_hash_writes_the_url_without_a_history_entry() {
    let before = gloo::utils::window().history().unwrap().length().unwrap();
    qplay::app::url::replace_hash("#/tensor?method=clip&bits=8");
    assert_eq!(qplay::app::url::read_hash(), "#/tensor?method=clip&bits=8");
    assert_eq!(gloo::utils::window().history().unwrap().length().unwrap(), before);
    assert!(qplay::app::url::link_for("#/x").ends_with("#/x"));
}

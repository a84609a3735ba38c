//! A panic in wasm stops the app; this hook makes sure the user sees why
//! instead of a blank or frozen page. It logs the panic to the console
//! (console_error_panic_hook) and fills `#panic-banner`, which index.html
//! provides outside the Yew tree so it works whatever state Yew is in.

use wasm_bindgen::JsCast;

pub fn install() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        show_banner(&info.to_string());
    }));
}

/// In the worker there is no page to show a banner on: log the panic; the page sees the job fail.
pub fn install_console_only() {
    std::panic::set_hook(Box::new(console_error_panic_hook::hook));
}

/// Shows the banner with `message` (as text, never as HTML).
pub fn show_banner(message: &str) {
    let doc = gloo::utils::document();
    let banner = match doc.get_element_by_id("panic-banner") {
        Some(b) => b,
        None => match doc.create_element("div") {
            Ok(b) => {
                b.set_id("panic-banner");
                if let Some(body) = doc.body() {
                    let _ = body.prepend_with_node_1(&b);
                }
                b
            }
            Err(_) => return,
        },
    };
    banner.set_text_content(Some(&format!(
        "qplay hit an internal error and stopped. Reload the page to continue (the share link keeps your settings). Details: {message}"
    )));
    let _ = banner.set_attribute("role", "alert");
    if let Some(el) = banner.dyn_ref::<web_sys::HtmlElement>() {
        el.set_hidden(false);
    }
}

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

#[wasm_bindgen_test]
fn the_workers_downloads_show_as_one_bar() {
    use qplay::app::state::job::combined_loading;
    assert_eq!(combined_loading(&[None, None]), None);
    // One worker downloading: its own bar.
    assert_eq!(combined_loading(&[None, Some(("the model".into(), 5, 10))]), Some(("the model".into(), 5, 10)));
    // Two downloading the same file: summed, named once, counted.
    let two = [Some(("the model".to_string(), 5, 10)), Some(("the model".to_string(), 2, 10))];
    assert_eq!(combined_loading(&two), Some(("the model, on 2 workers".into(), 7, 20)));
    // Different files, one of unknown size: the total is unknown.
    let mixed = [Some(("the model".to_string(), 5, 10)), Some(("the test images".to_string(), 3, 0)), None];
    assert_eq!(combined_loading(&mixed), Some(("the model, the test images, on 2 workers".into(), 8, 0)));
}

#[wasm_bindgen_test]
fn every_route_is_the_page_whose_path_it_reads() {
    use qplay::app::components::app::Route;
    use qplay::share::Page;
    use yew_router::Routable;
    // The router's paths and the links' (`Page::path`) are written twice: they must agree.
    for page in Page::ALL {
        let route = Route::recognize(page.path()).expect("the router knows every page's path");
        assert_eq!(route.page(), page, "{}", page.path());
        assert_eq!(route.to_path(), page.path());
        assert_eq!(Page::from_hash(&format!("#{}?x=1", page.path())), page);
    }
    // An unknown or empty path is the Tensor page for both.
    for path in ["/", "/nope"] {
        assert_eq!(Route::recognize(path).map(Route::page), Some(Page::Tensor), "{path}");
        assert_eq!(Page::from_hash(&format!("#{path}")), Page::Tensor);
    }
}

#[wasm_bindgen_test]
fn a_change_of_accuracy_that_rounds_to_none_reads_plus_zero_points() {
    use qplay::app::components::ptq_result::points;
    // A W16A16 run's sensitivity read "(-0.00 points)": −0 and tiny losses are no change.
    assert_eq!(points(0.0), "+0.00 points");
    assert_eq!(points(-0.0), "+0.00 points");
    assert_eq!(points(-0.000_04), "+0.00 points");
    assert_eq!(points(-0.0012), "-0.12 points");
    assert_eq!(points(0.0035), "+0.35 points");
}

//! What the test files share: `both!` declares each test once for both places it runs —
//! natively as `#[test]`, and in wasm as `#[wasm_bindgen_test]` (under Node, or in headless
//! Chromium when the file configures `run_in_browser`).

macro_rules! both {
    ($($name:ident $body:block)*) => {$(
        #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
        #[cfg_attr(not(target_arch = "wasm32"), test)]
        fn $name() $body
    )*};
}

//! What the test files share: `both!` declares each test once for both places it runs —
//! natively as `#[test]`, and in wasm as `#[wasm_bindgen_test]` (under Node, or in headless
//! Chromium when the file configures `run_in_browser`). `fixture!` is a file of tests/fixtures/
//! as bytes, embedded so that the browser runs need no file system.

macro_rules! both {
    ($($(#[$meta:meta])* $name:ident $body:block)*) => {$(
        $(#[$meta])*
        #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
        #[cfg_attr(not(target_arch = "wasm32"), test)]
        fn $name() $body
    )*};
}

#[allow(unused_macros)] // used by the files that read fixtures
macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/", $name))
    };
}

//! In headless Chromium (the simd128 build): see `identity/mod.rs`.
#![cfg(target_arch = "wasm32")]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

mod identity;

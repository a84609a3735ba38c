//! SIMD-vs-reference equivalence in headless Chromium (and natively).
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

mod equivalence;

// The language-model kernels and weight formats (tests/lm_kernels.rs, which runs
// natively and in wasm under Node on its own) in headless Chromium as well.
#[cfg(target_arch = "wasm32")]
#[path = "lm_kernels.rs"]
mod lm_kernels;

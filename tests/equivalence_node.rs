//! SIMD-vs-reference equivalence under Node (wasm-bindgen-test runs a test
//! binary in Node when it is not configured for the browser).
#![cfg(target_arch = "wasm32")]

mod equivalence;

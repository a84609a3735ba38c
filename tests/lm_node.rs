//! The language model under Node (wasm-bindgen-test runs a test binary in Node
//! when it is not configured for the browser).
#![cfg(target_arch = "wasm32")]

#[macro_use]
mod common;
mod lm;

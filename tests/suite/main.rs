//! Every Rust test of qplay in one crate, so `cargo test` links one binary instead of one per file.
//!
//! Natively every module runs (`cargo test --test suite [module::]`). Compiled for wasm32, the
//! modules that also run in the browser run in headless Chromium on the simd128 build
//! (`cargo test --target wasm32-unknown-unknown --test suite` with wasm-bindgen-test-runner); the
//! native-only ones are `#![cfg(not(target_arch = "wasm32"))]` and the browser-only ones
//! `#![cfg(target_arch = "wasm32")]`. tests/node/ runs the kernels and the language model under
//! Node as well.

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

#[macro_use]
mod common;
mod alloc_probe;
mod expected_outputs;
mod www;

// The arithmetic and its kernels.
mod equivalence;
mod golden;
mod qlinear;
mod quant_cases;
mod quant_props;
mod requant;

// Files: readers, writers and their fuzzing.
mod data;
mod fuzz;
mod npy;
mod npz;
mod onnx;
mod quantized_export;
mod safetensors;
mod text_format;

// Vision models: forward, training, quantization, engines, experiments.
mod engines;
mod experiment;
mod gradients;
mod identity;
mod int8_model;
mod model;
mod ptq;
mod runtime_modes;
mod tensor_charts;
mod train;

// Language models.
mod ggml_read;
mod lm;
mod lm_export;
mod lm_import;
mod lm_kernels;
mod lm_mixed;
mod lm_tokenizers;
mod lm_train;
mod onnx_lm;

// The command-line tool.
mod cli;
mod cli_engines;
mod cli_lm;

// The app: links, charts and the page in the browser.
mod charts_browser;
mod share;
mod web_app;

//! qplay: a quantization playground.
//!
//! The numeric core (everything outside `app`) imports no web crate, so
//! `cargo test` runs it natively and `wasm-bindgen-test` runs the very same
//! code in the browser, where the simd128 kernels execute.
//!
//! - [`quant`]: affine quantization (scheme, parameters, kernels).
//! - [`metrics`]: error metrics between a tensor and its reconstruction.
//! - [`parse`]: reading numbers typed or pasted by a user.
//! - [`share`]: the settings that live in a share link, and their URL form.
//! - [`stats`], [`report`]: statistics and the MindSpore Lite-style reports (CSV / JSON).
//! - [`generate`]: seeded test tensors.
//! - [`formats`], [`data`]: files in and out (.npy, the embedded datasets).
//! - [`model`], [`runtime`], [`train`]: layers, FP32 and int8 inference, training and QAT.
//! - [`ptq`]: post-training quantization of a whole model.
//! - [`experiment`]: the experiments users run (PTQ, the lab's comparison, sweeps, mixed-bit searches, QAT).
//! - [`bench`]: benchmarks that run natively, under Node and in the browser.
//! - [`units`]: the size unit every page shows (kB = 1,000 bytes).

pub mod bench;
pub mod bench_summary;
pub mod clip;
pub mod data;
pub mod decimal;
pub mod examples;
pub mod experiment;
pub mod formats;
pub mod generate;
pub mod lm;
pub mod metrics;
pub mod model;
pub mod parse;
pub mod ptq;
pub mod quant;
pub mod report;
pub mod runtime;
pub mod share;
pub mod stats;
pub mod train;
pub mod units;

#[cfg(target_arch = "wasm32")]
pub mod app;

//! Post-training quantization of a whole model.
//!
//! - [`config`]: what to quantize and how ([`PtqConfig`]): mode, bits, granularity,
//!   calibration, skip list, bias correction, SmoothQuant.
//! - [`qmodel`]: the quantized model ([`QuantModel`]) and its simulated forward pass.
//! - [`build`]: calibrating and quantizing an FP32 model into a [`QuantModel`].
//! - [`int8`]: the integer-only engine for the quantized models int8 kernels can run.

pub mod build;
pub mod config;
pub mod int8;
pub mod lm;
pub mod lm_calib;
pub mod lm_method;
pub mod gptq;
pub mod awq;
pub mod smoothquant;
pub mod lm_outliers;
pub mod qmodel;

pub use build::{quantizable_layers, quantize_model, quantize_model_with, Flow, PtqError, Quantization, Scope};
pub use config::{ConfigError, PtqConfig, QuantMode, WeightGranularity};
pub use qmodel::{ActParams, InputQuant, QuantLayer, QuantModel};

//! Post-training quantization of a whole model.
//!
//! - [`config`]: what to quantize and how ([`PtqConfig`]): mode, bits, granularity,
//!   calibration, skip list, bias correction, SmoothQuant.
//! - [`qmodel`]: the quantized model ([`QuantModel`]) and its simulated forward pass.
//! - [`build`]: calibrating and quantizing an FP32 model into a [`QuantModel`].
//! - [`int8`]: the integer-only engine for the quantized models int8 kernels can run.
//! - [`engine`]: [`executable`], the one place that chooses the engine of every layer.

pub mod build;
pub mod config;
pub mod engine;
pub mod int8;
pub mod lm;
pub mod golden_stick;
pub mod lm_calib;
pub mod lm_method;
pub mod lm_sensitivity;
pub mod lm_static_acts;
pub mod gptq;
pub mod awq;
pub mod smoothquant;
pub mod lm_outliers;
pub mod qmodel;

pub use build::{quantizable_layers, quantize_model, quantize_model_with, Flow, PtqError, Quantization, Scope};
pub use config::{ConfigError, DynamicMode, PtqConfig, QuantMode, WeightGranularity};
pub use engine::{executable, Engine, EngineError, ExecModel, FallbackReason};
pub use qmodel::{ActParams, InputQuant, QuantLayer, QuantModel};

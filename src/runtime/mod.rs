//! The model runtime: integer kernels with TensorFlow Lite's reference semantics.
//!
//! - [`requant`]: fixed-point multiplier and shift, and the requantization of an int32 accumulator.
//! - [`gemm_i8`]: int8 × int8 → int32 GEMM, scalar reference and simd128 on packed weights.
//! - [`gemm_f32`]: the f32 GEMM, the FP32 baseline (natively the language models use `native_gemm`, matrixmultiply's sgemm).
//! - [`qlinear`]: an integer-only Linear layer (int8 in and out, int32 accumulation).
//! - [`qconv`]: an integer-only Conv2d (im2col onto the int8 GEMM), and its scalar twin.
//! - [`qpool`]: max and average pooling on int8 values (TFLite's rounding).
//! - [`int8_model`]: a whole network in int8, quantized from FP32 by static W8A8 PTQ.
//! - [`weight_only`]: 8/4-bit weights on [`qmatmul`], 2/1-bit packed and dequantized row by row; float activations (Linear, Conv2d).
//! - [`dynamic`]: dynamic quantization on the int8 GEMM, activations quantized per batch (ALWC; Linear, Conv2d).
//!
//! Which of them runs a layer is decided in [`crate::ptq::engine`], not here.

pub mod requant;
pub mod gemm_i8;
pub mod dynamic;
pub mod gemm_f32;
pub mod int8_model;
pub mod qconv;
pub mod qlinear;
pub mod qpool;
pub mod weight_only;
pub mod qmatmul;
#[cfg(not(target_arch = "wasm32"))]
pub mod native_gemm;

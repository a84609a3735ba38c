//! Element-wise quantization kernels and their registry.
//!
//! ```text
//! quantize:    q  = clamp(round(r / s + Z), qmin, qmax)
//! dequantize:  r' = (q − Z) · s
//! fake-quant:  r' = dequantize(quantize(r))      (float in, float out)
//! ```
//!
//! [`scalar`] is the reference; [`simd128`] is compiled only for wasm32 with
//! `+simd128` and must give bit-identical results (same operations in the
//! same order: a true division, the same rounding, clamp before conversion).
//! [`best`] returns the fastest set compiled into this build, so a build
//! without SIMD loses speed, never a feature.

pub mod scalar;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod simd128;

use super::{QParams, Rounding};

/// One implementation of each kernel.
#[derive(Clone, Copy)]
pub struct Kernels {
    pub name: &'static str,
    /// `base` is the flat index of `x[0]`; only stochastic rounding reads it.
    pub quantize: fn(x: &[f32], p: &QParams, rounding: Rounding, base: usize, q: &mut [i32]),
    pub dequantize: fn(q: &[i32], p: &QParams, out: &mut [f32]),
    pub fake_quant: fn(x: &[f32], p: &QParams, rounding: Rounding, base: usize, out: &mut [f32]),
}

pub const SCALAR: Kernels = Kernels {
    name: "scalar",
    quantize: scalar::quantize,
    dequantize: scalar::dequantize,
    fake_quant: scalar::fake_quant,
};

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub const SIMD128: Kernels = Kernels {
    name: "simd128",
    quantize: simd128::quantize,
    dequantize: simd128::dequantize,
    fake_quant: simd128::fake_quant,
};

/// Every kernel set compiled into this build, reference first.
pub fn all() -> Vec<Kernels> {
    #[allow(unused_mut)]
    let mut v = vec![SCALAR];
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    v.push(SIMD128);
    v
}

/// The fastest kernel set in this build.
pub fn best() -> Kernels {
    *all().last().expect("the scalar set is always present")
}

pub fn quantize(x: &[f32], p: &QParams, rounding: Rounding, base: usize, q: &mut [i32]) {
    (best().quantize)(x, p, rounding, base, q)
}

pub fn dequantize(q: &[i32], p: &QParams, out: &mut [f32]) {
    (best().dequantize)(q, p, out)
}

pub fn fake_quant(x: &[f32], p: &QParams, rounding: Rounding, base: usize, out: &mut [f32]) {
    (best().fake_quant)(x, p, rounding, base, out)
}

//! Affine (scale / zero-point) quantization.
//!
//! ```text
//! s = (β − α) / (βq − αq)          Z = round(αq − α / s)
//! q = clamp(round(r / s + Z), qmin, qmax)
//! r' = (q − Z) · s
//! ```
//!
//! - [`scheme`]: what the user chooses (bits, signedness, symmetry, the lab's method, rounding).
//! - [`params`]: the scale and zero point that a float range [α, β] gives under a scheme.
//! - [`rounding`]: the rounding modes.
//! - [`kernels`]: quantize / dequantize / fake-quant over slices.
//! - [`error`]: what can go wrong, as a typed error.

pub mod error;
pub mod kernels;
pub mod params;
pub mod rounding;
pub mod scheme;

pub use error::QuantError;
pub use params::{QParams, RangeGuard};
pub use rounding::Rounding;
pub use scheme::{Method, Scheme};

/// The result of quantizing one tensor with one set of parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantized {
    /// Scale, zero point, and the float range actually used (after any guard).
    pub params: QParams,
    pub guard: RangeGuard,
    /// q, one integer per input value.
    pub q: Vec<i32>,
    /// r' = (q − Z) · s, one float per input value.
    pub dequant: Vec<f32>,
}

/// Checks that every value is finite; the error names the first bad index.
pub fn check_finite(x: &[f32]) -> Result<(), QuantError> {
    match x.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(index) => Err(QuantError::NonFinite { index, value: x[index] }),
    }
}

/// min and max of a non-empty, finite slice.
pub fn min_max(x: &[f32]) -> Result<(f32, f32), QuantError> {
    if x.is_empty() {
        return Err(QuantError::Empty);
    }
    check_finite(x)?;
    let (mut lo, mut hi) = (x[0], x[0]);
    for &v in &x[1..] {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    Ok((lo, hi))
}

/// Quantizes a whole tensor with α = min, β = max (the lab's per-tensor flow).
pub fn quantize_tensor(x: &[f32], scheme: &Scheme) -> Result<Quantized, QuantError> {
    let (alpha, beta) = min_max(x)?;
    quantize_with_range(x, alpha, beta, scheme)
}

/// Quantizes a tensor with a float range chosen elsewhere (a calibrator, or a slider).
pub fn quantize_with_range(x: &[f32], alpha: f32, beta: f32, scheme: &Scheme) -> Result<Quantized, QuantError> {
    check_finite(x)?;
    let (params, guard) = QParams::from_range(alpha, beta, scheme)?;
    let mut q = vec![0i32; x.len()];
    kernels::quantize(x, &params, scheme.rounding, 0, &mut q);
    let mut dequant = vec![0f32; x.len()];
    kernels::dequantize(&q, &params, &mut dequant);
    Ok(Quantized { params, guard, q, dequant })
}

pub mod calibration;
pub mod float16;
pub mod granularity;
pub mod grouped;
pub mod ggml;
pub mod ggml_read;

pub use calibration::{calibrate, Calibration, CalibrationKind};
pub use float16::{bf16_round_trip, fp16_round_trip, Float16Format};
pub use granularity::{quantize_granular, quantize_with_manual_range, GranularQuantized, Granularity};

//! Percentile calibration: the range that holds `percentile` % of the values,
//! with quantiles interpolated as NumPy's default (see [`crate::stats`]).
//!
//! ```text
//! p = percentile / 100
//! symmetric scheme:   t = Q(|x|, p)                    (α, β) = (−t, t)
//! asymmetric scheme:  (α, β) = (Q(x, (1 − p)/2), Q(x, (1 + p)/2))   (equal tails)
//! ```
//!
//! The symmetric form is TensorRT's percentile calibrator (on |x|, as a symmetric
//! grid only uses max(|α|, |β|)); the asymmetric form cuts the same mass, split
//! evenly, from both tails. p = 100 gives MinMax (max |x| for symmetric).

use crate::quant::{QuantError, Scheme};
use crate::stats::{quantile_sorted, sorted_f64};

/// TensorRT's usual choice.
pub const DEFAULT_PERCENTILE: f32 = 99.99;

/// percentile ∈ (0, 100].
pub fn default_percentile() -> f32 {
    DEFAULT_PERCENTILE
}

pub fn validate(percentile: f32) -> Result<(), QuantError> {
    if !(percentile > 0.0 && percentile <= 100.0) {
        return Err(QuantError::OutOfRange { setting: "percentile", value: percentile as f64, allowed: "(0, 100]" });
    }
    Ok(())
}

pub fn percentile_range(x: &[f32], scheme: &Scheme, percentile: f32) -> Result<(f32, f32), QuantError> {
    validate(percentile)?;
    let p = percentile as f64 / 100.0;
    if scheme.symmetric {
        let abs: Vec<f32> = x.iter().map(|v| v.abs()).collect();
        let sorted = sorted_f64(&abs).map_err(|e| reindex(e, x))?;
        let t = quantile_sorted(&sorted, p) as f32;
        Ok((-t, t))
    } else {
        let sorted = sorted_f64(x)?;
        // Equal tails: (1 − p)/2 below α, (1 − p)/2 above β.
        let alpha = quantile_sorted(&sorted, (1.0 - p) / 2.0);
        let beta = quantile_sorted(&sorted, (1.0 + p) / 2.0);
        Ok((alpha as f32, beta as f32))
    }
}

/// A NonFinite error found in |x| names the original value, not its absolute value.
fn reindex(e: QuantError, x: &[f32]) -> QuantError {
    match e {
        QuantError::NonFinite { index, .. } => QuantError::NonFinite { index, value: x[index] },
        other => other,
    }
}

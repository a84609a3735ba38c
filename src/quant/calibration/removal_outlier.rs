//! RemovalOutlier (MindSpore Lite's `REMOVAL_OUTLIER`): drop k = ⌊ratio·n⌋ values
//! from each end, then take min and max of what is left:
//!
//! ```text
//! sorted x₍₀₎ ≤ … ≤ x₍ₙ₋₁₎,   k = ⌊ratio·n⌋
//! α = x₍ₖ₎        β = x₍ₙ₋₁₋ₖ₎
//! ```
//!
//! MindSpore Lite's fixed percentages are 0.0001 and 0.9999, so the default ratio
//! is 0.0001 (0.01 % from each tail). It computes this per calibration batch and
//! averages α and β over the batches; here the tensor is the one batch.
//! Two deliberate differences from its code: the upper index is n − 1 − k, the
//! mirror of the lower one (MindSpore Lite takes ⌊0.9999·n⌋, one further up, which
//! for n = 10000 keeps the maximum while dropping the minimum); and ratio·n is
//! computed from the ratio's shortest decimal form, so that the f32 0.0001
//! (0.0000999999997…) times 10000 counts as 1, not 0.
//! ratio ∈ [0, 0.5) keeps k ≤ n − 1 − k, so α ≤ β; ratio = 0 is MinMax.

use crate::quant::QuantError;
use crate::stats::sorted_f64;

/// MindSpore Lite's `min_percentage` (its `max_percentage` is 1 − this).
pub const DEFAULT_RATIO: f32 = 0.0001;

/// ratio ∈ [0, 0.5).
pub fn default_ratio() -> f32 {
    DEFAULT_RATIO
}

pub fn validate(ratio: f32) -> Result<(), QuantError> {
    if !(0.0..0.5).contains(&ratio) {
        return Err(QuantError::OutOfRange { setting: "outlier ratio", value: ratio as f64, allowed: "[0, 0.5)" });
    }
    Ok(())
}

pub fn removal_outlier_range(x: &[f32], ratio: f32) -> Result<(f32, f32), QuantError> {
    validate(ratio)?;
    let sorted = sorted_f64(x)?;
    let n = sorted.len();
    // The ratio as typed: f32's shortest decimal form, read as f64 ("0.0001" → 1e−4).
    let r: f64 = ratio.to_string().parse().unwrap_or(ratio as f64);
    // k = ⌊ratio·n⌋ ≤ (n − 1)/2 since ratio < 0.5 (min() only guards rounding).
    let k = ((r * n as f64).floor() as usize).min((n - 1) / 2);
    Ok((sorted[k] as f32, sorted[n - 1 - k] as f32))
}

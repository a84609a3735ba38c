//! MSE calibration: a grid search over candidate clip ranges, keeping the one
//! whose fake-quantized tensor is closest to the original under the user's own
//! scheme (bits, signedness, symmetry, narrow range, method, rounding).
//!
//! ```text
//! (α₀, β₀) = (min x, max x),   a = clamp(0, α₀, β₀)          (the anchor)
//! candidate k = steps, steps − 1, …, 1:    t = k / steps
//!     (α, β) = (a + t·(α₀ − a), a + t·(β₀ − a))
//!     x'     = dequant(quant(x)) with QParams::from_range(α, β, scheme)
//!     MSE(t) = (1/n) Σ (x − x')²                                 (f64)
//! the candidate with the smallest MSE wins; ties keep the wider range
//! ```
//!
//! Shrinking about a = clamp(0, …) keeps 0 inside a range that straddles it (so
//! the zero point does not move off the grid), keeps the minimum of all-positive
//! data (a ReLU output) and the maximum of all-negative data. For a symmetric
//! scheme only max(|α|, |β|) matters, so this is a search over t·max|x|.
//!
//! Edge cases:
//! - A candidate that `from_range` rejects (its zero point would overflow: a
//!   narrow range far from 0) is skipped; t = 1 is MinMax, whose error, if it has
//!   one, is returned, so the search never silently returns nothing.
//! - Stochastic rounding is seeded and indexed by position, so the search is
//!   repeatable; it measures the MSE of that one draw.
//!
//! Cost: O(steps · n) fake-quant operations (10⁷ for 100 steps over 10⁵ values).

use super::super::{kernels, min_max, QParams, QuantError, Scheme};

/// Candidates in the default grid: t = 0.01, 0.02, …, 1.
pub const DEFAULT_STEPS: usize = 100;
/// An upper bound so that a typo cannot make the search run for minutes.
pub const MAX_STEPS: usize = 10_000;

/// The default of a description that names the method alone (`{ method = "mse" }`).
pub fn default_steps() -> usize {
    DEFAULT_STEPS
}

/// 1..=[`MAX_STEPS`] in words, for the messages that refuse a number of steps.
pub const ALLOWED_STEPS: &str = "a whole number in [1, 10000]";

/// steps ∈ [1, 10000].
pub fn validate(steps: usize) -> Result<(), QuantError> {
    if !(1..=MAX_STEPS).contains(&steps) {
        return Err(QuantError::OutOfRange { setting: "MSE steps", value: steps as f64, allowed: ALLOWED_STEPS });
    }
    Ok(())
}

pub fn mse_range(x: &[f32], scheme: &Scheme, steps: usize) -> Result<(f32, f32), QuantError> {
    validate(steps)?;
    scheme.validate()?;
    let (lo, hi) = min_max(x)?;
    // t = 1 first: MinMax, which must be valid for the search to mean anything.
    let (p_full, _) = QParams::from_range(lo, hi, scheme)?;
    let mut buf = vec![0f32; x.len()];
    let mut best = ((lo, hi), mse_of(x, &p_full, scheme, &mut buf));
    // a = clamp(0, α₀, β₀)
    let (lo64, hi64) = (lo as f64, hi as f64);
    let anchor = 0.0f64.clamp(lo64, hi64);
    for k in (1..steps).rev() {
        let t = k as f64 / steps as f64;
        // (α, β) = (a + t·(α₀ − a), a + t·(β₀ − a))
        let alpha = (anchor + t * (lo64 - anchor)) as f32;
        let beta = (anchor + t * (hi64 - anchor)) as f32;
        let Ok((p, _)) = QParams::from_range(alpha, beta, scheme) else {
            continue; // this candidate's zero point overflows: not a range this scheme can use
        };
        let mse = mse_of(x, &p, scheme, &mut buf);
        if mse < best.1 {
            best = ((alpha, beta), mse);
        }
    }
    Ok(best.0)
}

/// (1/n) Σ (x − x')², x' = fake_quant(x) under p (flat indices from 0 for stochastic rounding).
fn mse_of(x: &[f32], p: &QParams, scheme: &Scheme, buf: &mut [f32]) -> f64 {
    kernels::fake_quant(x, p, scheme.rounding, 0, buf);
    let sum: f64 = x.iter().zip(buf.iter()).map(|(&a, &b)| (a as f64 - b as f64) * (a as f64 - b as f64)).sum();
    sum / x.len() as f64
}

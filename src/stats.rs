//! Descriptive statistics of a tensor, in f64: quantiles, a five-number summary
//! with mean and variance, and fixed-edge histograms.
//!
//! Promises:
//! - quantiles interpolate linearly between order statistics, as NumPy's default
//!   (`method="linear"`): for sorted values x₀ ≤ … ≤ x₍ₙ₋₁₎ and p ∈ [0, 1],
//!   ```text
//!   h = (n − 1)·p,   k = ⌊h⌋,   Q(p) = x_k + (h − k)·(x_(k+1) − x_k)
//!   ```
//! - the variance is the population variance (NumPy's `var`, ddof = 0),
//!   computed in two passes so that a large mean does not cancel it away;
//! - a histogram bins values into `bins` equal bins over [lo, hi]; the last bin
//!   is closed on the right (hi falls into it), values outside are not counted;
//! - the functions on a whole tensor ([`quantile`], [`summarize`], [`sorted_f64`])
//!   return `Result`: an empty slice is [`QuantError::Empty`], a NaN or ±Inf is
//!   [`QuantError::NonFinite`] naming its index. The building blocks never fail:
//!   [`quantile_sorted`] of an empty slice is NaN, and a histogram skips values
//!   outside [lo, hi] (NaN included).

use serde::{Deserialize, Serialize};

use crate::quant::{check_finite, QuantError};

/// Q(p) of an already sorted, non-empty slice (NumPy's linear method).
/// `p` outside [0, 1] is clamped to it.
pub fn quantile_sorted(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN; // callers check emptiness; kept total so it cannot panic
    }
    let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
    // h = (n − 1)·p,  k = ⌊h⌋
    let h = (n - 1) as f64 * p;
    let k = (h.floor() as usize).min(n - 1);
    if k + 1 >= n {
        return sorted[n - 1];
    }
    // Q(p) = x_k + (h − k)·(x_(k+1) − x_k)
    sorted[k] + (h - k as f64) * (sorted[k + 1] - sorted[k])
}

/// The values of a finite, non-empty tensor as f64, sorted ascending.
pub fn sorted_f64(x: &[f32]) -> Result<Vec<f64>, QuantError> {
    if x.is_empty() {
        return Err(QuantError::Empty);
    }
    check_finite(x)?;
    let mut v: Vec<f64> = x.iter().map(|&a| a as f64).collect();
    v.sort_by(f64::total_cmp);
    Ok(v)
}

/// Q(p) of a tensor, p ∈ [0, 1] (NumPy's `np.quantile(x, p)`).
pub fn quantile(x: &[f32], p: f64) -> Result<f64, QuantError> {
    if !(0.0..=1.0).contains(&p) {
        return Err(QuantError::OutOfRange { setting: "quantile", value: p, allowed: "[0, 1]" });
    }
    Ok(quantile_sorted(&sorted_f64(x)?, p))
}

/// The per-tensor statistics of MindSpore Lite's debug report.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub count: usize,
    pub min: f64,
    /// Q(0.25)
    pub q1: f64,
    /// Q(0.5)
    pub median: f64,
    /// Q(0.75)
    pub q3: f64,
    pub max: f64,
    /// (1/n) Σ x
    pub mean: f64,
    /// (1/n) Σ (x − mean)²  (population variance, ddof = 0)
    pub var: f64,
    /// Fraction of values that are exactly 0 (−0.0 counts as 0).
    pub sparsity: f64,
}

pub fn summarize(x: &[f32]) -> Result<Summary, QuantError> {
    let sorted = sorted_f64(x)?;
    let n = sorted.len() as f64;
    let mean = sorted.iter().sum::<f64>() / n;
    // Two passes: Σ (x − mean)² rather than Σ x² − n·mean², which cancels.
    let var = sorted.iter().map(|&v| (v - mean) * (v - mean)).sum::<f64>() / n;
    let zeros = x.iter().filter(|&&v| v == 0.0).count();
    Ok(Summary {
        count: sorted.len(),
        min: sorted[0],
        q1: quantile_sorted(&sorted, 0.25),
        median: quantile_sorted(&sorted, 0.5),
        q3: quantile_sorted(&sorted, 0.75),
        max: sorted[sorted.len() - 1],
        mean,
        var,
        sparsity: zeros as f64 / n,
    })
}

/// (1/n) Σ x and (1/n) Σ (x − mean)² of a non-empty slice, in f64 (no checks: internal helper).
pub(crate) fn mean_var(x: &[f32]) -> (f64, f64) {
    let n = x.len().max(1) as f64;
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = x.iter().map(|&v| (v as f64 - mean) * (v as f64 - mean)).sum::<f64>() / n;
    (mean, var)
}

/// Counts of values in `bins` equal bins over [lo, hi].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub lo: f64,
    pub hi: f64,
    pub counts: Vec<f64>,
}

impl Histogram {
    /// An empty histogram. `hi == lo` is allowed: every value equal to lo then
    /// falls into the last bin (the width is 0, so there is no other place for it).
    pub fn new(lo: f64, hi: f64, bins: usize) -> Histogram {
        Histogram { lo, hi, counts: vec![0.0; bins.max(1)] }
    }

    pub fn bins(&self) -> usize {
        self.counts.len()
    }

    /// Bin width w = (hi − lo) / bins.
    pub fn width(&self) -> f64 {
        (self.hi - self.lo) / self.counts.len() as f64
    }

    /// The bin of v: ⌊(v − lo) / w⌋, with hi in the last bin; `None` outside [lo, hi].
    #[inline]
    pub fn bin_of(&self, v: f64) -> Option<usize> {
        if !(v >= self.lo && v <= self.hi) {
            return None;
        }
        let bins = self.counts.len();
        let w = self.width();
        if w <= 0.0 {
            return Some(bins - 1);
        }
        Some((((v - self.lo) / w) as usize).min(bins - 1))
    }

    pub fn add(&mut self, v: f64) {
        if let Some(b) = self.bin_of(v) {
            self.counts[b] += 1.0;
        }
    }

    /// The left edge of bin b: lo + b·w (b = bins gives hi).
    pub fn edge(&self, b: usize) -> f64 {
        if b >= self.counts.len() {
            self.hi
        } else {
            self.lo + b as f64 * self.width()
        }
    }
}

/// The histogram of x over [lo, hi] (values outside are not counted).
pub fn histogram(x: &[f32], lo: f64, hi: f64, bins: usize) -> Histogram {
    let mut h = Histogram::new(lo, hi, bins);
    for &v in x {
        h.add(v as f64);
    }
    h
}

//! What the Tensor page's charts draw, reduced from the values where the view is derived (in the
//! worker for a large tensor): histograms of a few dozen bins and a scatter of at most
//! [`MAX_SCATTER_POINTS`] points, instead of every value. Drawing them on the page's thread then
//! costs the same for 4 M values as for 8.
//!
//! ```text
//! bins = clamp(⌈√n⌉, 8, 80)            n = the finite values counted
//! e_i = r'_i − x_i                      |e_i| ≤ s_k(i) / 2 unless x_i was clamped
//! ```
//!
//! Every float here is finite (a histogram over no finite value is `None`), so the charts
//! travel from the worker as JSON.

use serde::{Deserialize, Serialize};

use crate::quant::calibration::CalibrationOutcome;
use crate::quant::granularity::GranularQuantized;
use crate::quant::QParams;
use crate::stats::{histogram, Histogram};

/// Most points in the scatter; beyond it every k-th finite pair is kept.
pub const MAX_SCATTER_POINTS: usize = 20_000;

/// Most bars in the scale / zero-point strip; beyond it each bar spans a run of slices.
pub const MAX_STRIP_BARS: usize = 1024;

/// The four charts of one view.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TensorCharts {
    /// The values over their range and the first slice's clamp limits.
    pub grid: ValueHistogram,
    /// The values over their range and every calibrator's clip range (when they were compared).
    pub calibrators: Option<ValueHistogram>,
    pub scatter: ScatterSample,
    pub errors: ErrorHistogram,
    pub strip: SliceStrip,
}

/// The scale and zero point of every slice, as at most [`MAX_STRIP_BARS`] bars: bar k covers
/// slices [k·per_bar, (k+1)·per_bar) and holds the smallest and largest finite s and Z among them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SliceStrip {
    /// (smallest s, largest s) of each bar; `None` when no scale in it is finite.
    pub scales: Vec<Option<(f32, f32)>>,
    /// (smallest Z, largest Z) of each bar.
    pub zero_points: Vec<(i32, i32)>,
    pub per_bar: usize,
    /// Slices in all.
    pub slices: usize,
    /// Slices whose scale is NaN / ±∞.
    pub skipped: usize,
}

/// A histogram of the finite values; `bins` is `None` when there is none (or no finite range).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValueHistogram {
    pub bins: Option<Histogram>,
    /// NaN / ±∞ values left out.
    pub skipped: usize,
}

/// Every `every`-th finite pair (x, r′), in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScatterSample {
    pub points: Vec<(f32, f32)>,
    pub every: usize,
    /// Pairs with both values finite (the points are taken from these).
    pub finite: usize,
    /// Pairs left out for a NaN / ±∞.
    pub skipped: usize,
}

/// The error e = r′ − x of every value, binned on a range symmetric around 0 that holds the
/// errors and the largest ±s/2.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorHistogram {
    pub bins: Option<Histogram>,
    /// Finite errors counted.
    pub count: usize,
    /// Errors left out (NaN / ±∞).
    pub skipped: usize,
    /// Values whose |e| exceeds their own slice's s/2 (the clamped ones).
    pub beyond: usize,
    /// The smallest and the largest s/2 over the slices with a finite, positive scale.
    pub half_step: Option<(f64, f64)>,
}

impl TensorCharts {
    /// The charts of values `x` quantized as `g` says (its reconstruction, its slices and which
    /// slice holds each value) and of the calibrators compared on them.
    pub fn of(x: &[f32], g: &GranularQuantized, outcomes: Option<&[CalibrationOutcome]>) -> TensorCharts {
        let scales: Vec<f32> = g.slices.iter().map(|s| s.params.scale).collect();
        let zero_points: Vec<i32> = g.slices.iter().map(|s| s.params.zero_point).collect();
        TensorCharts {
            grid: g.slices.first().map_or_else(|| value_histogram(x, f64::NAN, f64::NAN), |s| grid_histogram(x, &s.params)),
            calibrators: outcomes.map(|o| calibrators_histogram(x, o)),
            scatter: scatter_sample(x, &g.dequant),
            errors: error_histogram(x, &g.dequant, |i| g.params_of(i).scale),
            strip: slice_strip(&scales, &zero_points),
        }
    }
}

/// (min, max) of the finite values, or `None`.
fn finite_range(x: &[f32]) -> Option<(f64, f64)> {
    x.iter().filter(|v| v.is_finite()).fold(None, |r, &v| {
        let v = v as f64;
        Some(r.map_or((v, v), |(lo, hi): (f64, f64)| (lo.min(v), hi.max(v))))
    })
}

/// The smaller (`pick` = min) or larger of the finite ones among a and b; NaN when neither is.
fn finite_pick(a: f64, b: f64, pick: fn(f64, f64) -> f64) -> f64 {
    match (a.is_finite(), b.is_finite()) {
        (true, true) => pick(a, b),
        (true, false) => a,
        (false, true) => b,
        (false, false) => f64::NAN,
    }
}

/// About √n bins, between 8 and 80.
fn bin_count(n: usize) -> usize {
    ((n as f64).sqrt().ceil() as usize).clamp(8, 80)
}

/// The finite values of x binned over [lo, hi] widened by 5 % on each side (at least 1e-6, and
/// at least a millionth of the larger magnitude, so a constant tensor still has a width). A
/// bound that is not finite falls back to the data's own.
pub fn value_histogram(x: &[f32], lo: f64, hi: f64) -> ValueHistogram {
    let finite = x.iter().filter(|v| v.is_finite()).count();
    let skipped = x.len() - finite;
    let data = finite_range(x);
    let (lo, hi) = match data {
        Some((a, b)) => (finite_pick(lo, a, f64::min), finite_pick(hi, b, f64::max)),
        None => return ValueHistogram { bins: None, skipped },
    };
    // 5 % of the width on each side, scaled to the data (values of 1e-30 keep an axis of their own
    // size); a zero width gets 5 % of the magnitude, and all zeros ±1e-6.
    let magnitude = lo.abs().max(hi.abs());
    let pad = match hi - lo {
        w if w > 0.0 => (w * 0.05).max(magnitude * 1e-6),
        _ if magnitude > 0.0 => magnitude * 0.05,
        _ => 1e-6,
    };
    let (lo, hi) = (lo - pad, hi + pad);
    if !(lo.is_finite() && hi.is_finite()) {
        return ValueHistogram { bins: None, skipped };
    }
    ValueHistogram { bins: Some(histogram(x, lo, hi, bin_count(finite))), skipped }
}

/// The histogram under one grid: over the data and the clamp limits of `p` (or its [α, β]
/// when a limit is not finite).
pub fn grid_histogram(x: &[f32], p: &QParams) -> ValueHistogram {
    let (clamp_lo, clamp_hi) = p.clamp_limits();
    let lo = finite_pick(clamp_lo as f64, p.alpha as f64, f64::min);
    let hi = finite_pick(clamp_hi as f64, p.beta as f64, f64::max);
    value_histogram(x, lo, hi)
}

/// The histogram under every calibrator's clip range.
pub fn calibrators_histogram(x: &[f32], outcomes: &[CalibrationOutcome]) -> ValueHistogram {
    let lo = outcomes.iter().fold(f64::NAN, |a, o| finite_pick(a, o.clamp_lo as f64, f64::min));
    let hi = outcomes.iter().fold(f64::NAN, |a, o| finite_pick(a, o.clamp_hi as f64, f64::max));
    value_histogram(x, lo, hi)
}

/// Every k-th finite pair (x_i, r′_i), k = ⌈finite / MAX_SCATTER_POINTS⌉ (pairs past the shorter
/// slice are not seen).
pub fn scatter_sample(x: &[f32], dequant: &[f32]) -> ScatterSample {
    let n = x.len().min(dequant.len());
    let pairs = || x[..n].iter().zip(&dequant[..n]).filter(|(a, b)| a.is_finite() && b.is_finite());
    let finite = pairs().count();
    let every = finite.div_ceil(MAX_SCATTER_POINTS).max(1);
    ScatterSample { points: pairs().step_by(every).map(|(&a, &b)| (a, b)).collect(), every, finite, skipped: n - finite }
}

/// The errors r′ − x binned; `scale_of(i)` is the scale of the slice that holds value i.
pub fn error_histogram(x: &[f32], dequant: &[f32], scale_of: impl Fn(usize) -> f32) -> ErrorHistogram {
    let n = x.len().min(dequant.len());
    let error = |i: usize| dequant[i] as f64 - x[i] as f64;
    let (mut count, mut beyond) = (0usize, 0usize);
    let mut half_step: Option<(f64, f64)> = None;
    let mut range: Option<(f64, f64)> = None;
    for i in 0..n {
        let e = error(i);
        if !e.is_finite() {
            continue;
        }
        count += 1;
        range = Some(range.map_or((e, e), |(lo, hi)| (lo.min(e), hi.max(e))));
        let s = scale_of(i) as f64;
        if s.is_finite() && s > 0.0 {
            let h = s / 2.0;
            half_step = Some(half_step.map_or((h, h), |(a, b)| (a.min(h), b.max(h))));
            // A little slack: r′ is computed in f32, so an exact half step can land just past it.
            if e.abs() > h * (1.0 + 1e-4) + 1e-12 {
                beyond += 1;
            }
        }
    }
    let bins = range.map(|(e_lo, e_hi)| {
        // Symmetric around 0, wide enough for the errors and for the largest bound.
        let m = e_lo.abs().max(e_hi.abs()).max(half_step.map_or(0.0, |(_, b)| b));
        let m = if m > 0.0 { m * 1.1 } else { 1e-6 };
        let mut h = Histogram::new(-m, m, bin_count(count));
        for i in 0..n {
            let e = error(i);
            if e.is_finite() {
                h.add(e);
            }
        }
        h
    });
    ErrorHistogram { bins, count, skipped: n - count, beyond, half_step }
}

/// The strip of slices with scales `scales` and zero points `zero_points` (pairs past the shorter
/// are not seen): one bar per slice up to [`MAX_STRIP_BARS`], then one per run of
/// ⌈slices / MAX_STRIP_BARS⌉ slices.
pub fn slice_strip(scales: &[f32], zero_points: &[i32]) -> SliceStrip {
    let n = scales.len().min(zero_points.len());
    let per_bar = n.div_ceil(MAX_STRIP_BARS).max(1);
    let bars = scales[..n].chunks(per_bar).zip(zero_points[..n].chunks(per_bar));
    let (mut out_s, mut out_z) = (Vec::with_capacity(n.min(MAX_STRIP_BARS)), Vec::with_capacity(n.min(MAX_STRIP_BARS)));
    for (s, z) in bars {
        let finite = s.iter().copied().filter(|v| v.is_finite());
        out_s.push(finite.fold(None, |r: Option<(f32, f32)>, v| Some(r.map_or((v, v), |(a, b)| (a.min(v), b.max(v))))));
        out_z.push(z.iter().fold((i32::MAX, i32::MIN), |(a, b), &v| (a.min(v), b.max(v))));
    }
    SliceStrip { scales: out_s, zero_points: out_z, per_bar, slices: n, skipped: scales[..n].iter().filter(|v| !v.is_finite()).count() }
}

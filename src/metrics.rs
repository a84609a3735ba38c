//! Error metrics between a tensor x and its reconstruction x' (dequantized, or
//! an FP16 / BF16 round trip). Sums run in f64 so long tensors do not lose precision.
//!
//! ```text
//! MSE   = (1/n) Σ (x − x')²            RMSE = √MSE          MAE = (1/n) Σ |x − x'|
//! SQNR  = 10·log10(Σ x² / Σ (x − x')²)  dB, clamped to ±SQNR_CAP_DB
//! cos   = Σ x·x' / (‖x‖·‖x'‖)
//! KL    = Σ p_i · ln(p_i / q_i)         p, q: histograms of x and x' on shared edges, smoothed
//! ```
//!
//! With the quantization parameters ([`quant_error_metrics`]):
//!
//! ```text
//! clamp limits  [lo, hi] = [(qmin − Z)·s, (qmax − Z)·s]
//! clipped x     ⇔ round(x / s + Z) ∉ [qmin, qmax]     (the clamp moves its integer)
//! clip ratio    = #{clipped x} / n
//! MSE           = MSE_clip + MSE_round
//!                 MSE_clip  = (1/n) Σ over clipped x    (x − x')²
//!                 MSE_round = (1/n) Σ over the others   (x − x')²
//! RMSE / s      vs 1/√12 ≈ 0.2887, the RMS of uniform rounding noise on a step of 1
//! ```
//!
//! "Clipped" is "the clamp of q = clamp(round(x / s + Z), qmin, qmax) changed q": the rounding
//! is to nearest (ties to even, in f32 as the quantizer computes it), so a value up to half a
//! step past the clamp limits (Z is rounded to an integer, so the grid can sit up to s/2 off
//! [α, β]) rounds onto qmin or qmax itself and is not clipped; a clipped value's error is at
//! least s/2. With floor or stochastic rounding the count is still that of nearest rounding.
//!
//! Conventions at the edges (all results are finite, so serde_json never writes `null`):
//! - SQNR: an exact reconstruction (Σ (x − x')² = 0) reports `+SQNR_CAP_DB`; an all-zero x
//!   reconstructed with error reports `−SQNR_CAP_DB`; anything beyond is clamped to ±SQNR_CAP_DB.
//!   f32 data cannot come near it in practice (a 16-bit grid gives ~98 dB, f32 round-off ~150 dB).
//! - cosine: two all-zero tensors are identical (1); one all-zero and one not are orthogonal (0).
//! - KL: a tensor whose values (of x and x' together) are all equal has KL = 0.
//! - A reconstruction x' that is ±∞ or NaN (FP16 past ±65504) has an unbounded error: it is
//!   counted in `overflowed`, the SQNR is −∞ (reported as −SQNR_CAP_DB), and the other figures
//!   describe the values that did not overflow.

use serde::{Deserialize, Serialize};

use crate::quant::{Method, QParams, QuantError};
use crate::stats::Histogram;

/// SQNR reported for an exact reconstruction, and the clamp of every SQNR (dB).
pub const SQNR_CAP_DB: f64 = 400.0;
/// RMS of rounding noise uniform on [−1/2, 1/2]: √(1/12) ≈ 0.2887 (in units of the scale s).
pub const UNIFORM_NOISE_RMS: f64 = 0.288_675_134_594_812_9;
/// Histogram bins for the KL divergence in [`ErrorMetrics`].
pub const KL_BINS: usize = 128;
/// Pseudo-count added to every histogram bin before normalising (Krichevsky–Trofimov's ½),
/// so that a bin empty in x' but not in x gives a large, finite term instead of +∞.
pub const KL_PSEUDO_COUNT: f64 = 0.5;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorMetrics {
    /// Number of values compared.
    pub n: usize,
    /// MSE = (1/n) Σ (x − x')²
    pub mse: f64,
    /// RMSE = √MSE
    pub rmse: f64,
    /// MAE = (1/n) Σ |x − x'|
    pub mae: f64,
    /// max |x − x'|
    pub max_abs: f64,
    /// 10·log10(Σ x² / Σ (x − x')²) in dB, clamped to ±[`SQNR_CAP_DB`] (see the module header).
    pub sqnr_db: f64,
    /// Σ x·x' / (‖x‖·‖x'‖), with the zero-norm convention of the module header.
    pub cosine: f64,
    /// KL(P_x ‖ Q_x') over [`KL_BINS`] shared bins, smoothed by [`KL_PSEUDO_COUNT`] (nats).
    pub kl_divergence: f64,
    /// Values whose x' is ±∞ or NaN (x past FP16's ±65504): the SQNR is then −∞ (−cap), and the
    /// other figures leave them out.
    #[serde(default)]
    pub overflowed: usize,
}

/// Metrics of x against x'. x and x' should have equal lengths (the app always passes a
/// tensor and its own reconstruction); if they do not, only the common prefix is compared,
/// so this never panics. [`try_error_metrics`] reports a mismatch as a typed error instead.
pub fn error_metrics(x: &[f32], x_hat: &[f32]) -> ErrorMetrics {
    let n = x.len().min(x_hat.len());
    compute(&x[..n], &x_hat[..n])
}

/// Metrics of x against x', or [`QuantError::LengthMismatch`].
pub fn try_error_metrics(x: &[f32], x_hat: &[f32]) -> Result<ErrorMetrics, QuantError> {
    if x.len() != x_hat.len() {
        return Err(QuantError::LengthMismatch { left: x.len(), right: x_hat.len() });
    }
    Ok(compute(x, x_hat))
}

fn compute(x: &[f32], x_hat: &[f32]) -> ErrorMetrics {
    let overflowed = x_hat.iter().filter(|v| !v.is_finite()).count();
    if overflowed > 0 {
        let (x, x_hat): (Vec<f32>, Vec<f32>) = x.iter().zip(x_hat).filter(|(_, b)| b.is_finite()).map(|(&a, &b)| (a, b)).unzip();
        return ErrorMetrics { n: x.len() + overflowed, overflowed, sqnr_db: -SQNR_CAP_DB, ..compute(&x, &x_hat) };
    }
    let n = x.len();
    let nf = n.max(1) as f64; // an empty tensor has every sum 0, so every mean 0
    let (mut sum_sq, mut sum_abs, mut max_abs) = (0.0f64, 0.0f64, 0.0f64);
    let (mut signal, mut dot, mut norm_hat) = (0.0f64, 0.0f64, 0.0f64);
    for (&a, &b) in x.iter().zip(x_hat) {
        let (a, b) = (a as f64, b as f64);
        let e = (a - b).abs();
        sum_sq += e * e;
        sum_abs += e;
        max_abs = max_abs.max(e);
        signal += a * a;
        dot += a * b;
        norm_hat += b * b;
    }
    let mse = sum_sq / nf;
    ErrorMetrics {
        n,
        mse,
        rmse: mse.sqrt(),
        mae: sum_abs / nf,
        max_abs,
        sqnr_db: sqnr_from_sums(signal, sum_sq),
        cosine: cosine_from_sums(dot, signal, norm_hat),
        kl_divergence: kl_of(x, x_hat, KL_BINS),
        overflowed: 0,
    }
}

/// SQNR = 10·log10(Σ x² / Σ e²) dB, clamped to ±SQNR_CAP_DB.
pub fn sqnr_from_sums(signal: f64, noise: f64) -> f64 {
    if noise <= 0.0 {
        return SQNR_CAP_DB; // exact reconstruction: +∞ dB, reported as the cap
    }
    if signal <= 0.0 {
        return -SQNR_CAP_DB; // zero signal, non-zero error: −∞ dB, reported as −cap
    }
    (10.0 * (signal / noise).log10()).clamp(-SQNR_CAP_DB, SQNR_CAP_DB)
}

/// cos = x·x' / (‖x‖·‖x'‖); both zero → 1, exactly one zero → 0.
fn cosine_from_sums(dot: f64, norm_x_sq: f64, norm_hat_sq: f64) -> f64 {
    match (norm_x_sq > 0.0, norm_hat_sq > 0.0) {
        (false, false) => 1.0,
        (true, true) => (dot / (norm_x_sq.sqrt() * norm_hat_sq.sqrt())).clamp(-1.0, 1.0),
        _ => 0.0,
    }
}

/// Cosine similarity of x and x' (MindSpore Lite's `CosineSimilarity`).
pub fn cosine_similarity(x: &[f32], x_hat: &[f32]) -> Result<f64, QuantError> {
    if x.len() != x_hat.len() {
        return Err(QuantError::LengthMismatch { left: x.len(), right: x_hat.len() });
    }
    let (mut dot, mut nx, mut nh) = (0.0f64, 0.0f64, 0.0f64);
    for (&a, &b) in x.iter().zip(x_hat) {
        let (a, b) = (a as f64, b as f64);
        dot += a * b;
        nx += a * a;
        nh += b * b;
    }
    Ok(cosine_from_sums(dot, nx, nh))
}

/// KL(P ‖ Q) of the histograms of x (P) and x' (Q), `bins` bins on the shared edges
/// [min(x ∪ x'), max(x ∪ x')], each count smoothed by [`KL_PSEUDO_COUNT`]:
/// p_i = (c_i + ½) / (n + ½·bins), likewise q_i.
pub fn histogram_kl(x: &[f32], x_hat: &[f32], bins: usize) -> Result<f64, QuantError> {
    if x.len() != x_hat.len() {
        return Err(QuantError::LengthMismatch { left: x.len(), right: x_hat.len() });
    }
    if bins == 0 {
        return Err(QuantError::OutOfRange { setting: "KL histogram bins", value: 0.0, allowed: "[1, ∞)" });
    }
    Ok(kl_of(x, x_hat, bins))
}

fn kl_of(x: &[f32], x_hat: &[f32], bins: usize) -> f64 {
    let finite = x.iter().chain(x_hat).copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v as f64), hi.max(v as f64)));
    if hi <= lo {
        return 0.0; // all values equal (or none): the two histograms are the same single spike
    }
    let (mut p, mut q) = (Histogram::new(lo, hi, bins), Histogram::new(lo, hi, bins));
    x.iter().for_each(|&v| p.add(v as f64));
    x_hat.iter().for_each(|&v| q.add(v as f64));
    let total = |h: &Histogram| h.counts.iter().sum::<f64>() + KL_PSEUDO_COUNT * bins as f64;
    let (tp, tq) = (total(&p), total(&q));
    p.counts
        .iter()
        .zip(&q.counts)
        .map(|(&cp, &cq)| {
            // p_i = (c_i + ½) / (n + ½·bins);  term = p_i · ln(p_i / q_i)
            let (pi, qi) = ((cp + KL_PSEUDO_COUNT) / tp, (cq + KL_PSEUDO_COUNT) / tq);
            pi * (pi / qi).ln()
        })
        .sum::<f64>()
        .max(0.0)
}

/// Error metrics that need the quantization parameters: clipping, and the split of the MSE.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuantErrorMetrics {
    #[serde(flatten)]
    pub error: ErrorMetrics,
    /// The clamp limits [(qmin − Z)·s, (qmax − Z)·s].
    pub clamp_lo: f64,
    pub clamp_hi: f64,
    /// Number of x whose integer the clamp moved ([`is_clipped`]).
    pub clipped: usize,
    /// clipped / n
    pub clip_ratio: f64,
    /// (1/n) Σ over clipped x of (x − x')².
    pub mse_clip: f64,
    /// (1/n) Σ over the other x of (x − x')²; mse_clip + mse_round = mse.
    pub mse_round: f64,
    /// RMSE / s: about [`UNIFORM_NOISE_RMS`] for round-to-nearest with no clipping.
    pub rmse_over_scale: f64,
    /// [`UNIFORM_NOISE_RMS`] = 1/√12, for comparison.
    pub uniform_noise_rms: f64,
}

/// The clamp limits of a set of parameters, in f64.
fn limits(p: &QParams) -> (f64, f64) {
    let (lo, hi) = p.clamp_limits();
    (lo as f64, hi as f64)
}

/// Whether the clamp moves x's integer: round(x / s + Z), to nearest with ties to even and in f32
/// as the quantizer computes it, lies outside [qmin, qmax].
#[inline]
pub fn is_clipped(x: f32, p: &QParams) -> bool {
    let q = (x / p.scale + p.zero_point as f32).round_ties_even();
    q < p.qmin as f32 || q > p.qmax as f32
}

/// Fraction of x whose integer the clamp of `params` moves ([`is_clipped`]; MindSpore Lite's `Clip`).
pub fn clip_ratio(x: &[f32], params: &QParams) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    x.iter().filter(|&&v| is_clipped(v, params)).count() as f64 / x.len() as f64
}

/// The clipping of one per-tensor quantization in words, following the measured counts (never a
/// fixed "nothing is clipped"): the clamp moved the integers of `clipped` values of `n`
/// ([`QuantErrorMetrics::clipped`]), `outside_range` of them lie outside [α, β] itself. The rest
/// lie inside [α, β]: with the normal method they are the ties exactly half a step past qmin or
/// qmax, which round to even beyond it (Z is rounded, so the grid sits up to s/2 off [α, β]; in
/// a symmetric scheme Z is fixed and [qmin, qmax] has one more level below it than above, so
/// β / s + Z = qmax + ½); with the clip method the outer part of [α, β] that the halved step
/// cannot reach.
pub fn clipping_note(method: Method, symmetric: bool, clipped: usize, outside_range: usize, n: usize) -> String {
    if clipped == 0 {
        return "Here nothing is clipped: every value rounds to an integer inside [qmin, qmax] (clip ratio 0 %).".into();
    }
    let pct = 100.0 * clipped as f64 / n.max(1) as f64;
    let outside = outside_range.min(clipped);
    let inside = clipped - outside;
    let why_inside = match (method, symmetric) {
        (Method::Normal, false) => "rounding Z shifted the grid by up to half a step, and they land exactly half a step past qmin or qmax, a tie that rounds to the even integer beyond",
        (Method::Normal, true) => {
            "Z is fixed and [−max|r|, max|r|] is centred on it, while [qmin, qmax] has one more level below Z than above, so the largest values land half a step past qmax, and where the float arithmetic puts one exactly on that tie it rounds to the even integer beyond (a narrow range has none)"
        }
        (Method::Clip, _) => "they lie in the outer part of [α, β] that the halved step cannot reach",
    };
    // Counted as the clip ratio is defined, with r / s + Z rounded to nearest (floor or stochastic
    // rounding moves a value past qmin or qmax by its own rule).
    let mut text = format!("Here {clipped} of {n} values ({pct:.2} %) are clamped to qmin or qmax (r / s + Z, rounded to nearest, falls outside them)");
    if outside > 0 {
        text += &format!(": {outside} of them lie outside [α, β] (a range narrower than the data)");
        if inside > 0 {
            text += &format!("; the other {inside} lie inside [α, β], but {why_inside}");
        }
    } else {
        text += &format!(": they lie inside [α, β], but {why_inside}");
    }
    text + "."
}

/// [`ErrorMetrics`] plus clipping and the MSE split, for x' = dequant(quant(x)) under `params`.
pub fn quant_error_metrics(x: &[f32], x_hat: &[f32], params: &QParams) -> Result<QuantErrorMetrics, QuantError> {
    quant_error_metrics_by(x, x_hat, |_| params)
}

/// As [`quant_error_metrics`], where element i was quantized with `params_of(i)` (per-channel,
/// per-group, e.g. `|i| g.params_of(i)`). Each element is checked against its own slice's
/// clamp limits and its error divided by its own slice's scale; the reported `clamp_lo` /
/// `clamp_hi` are element 0's.
pub fn quant_error_metrics_by<'a>(
    x: &[f32],
    x_hat: &[f32],
    params_of: impl Fn(usize) -> &'a QParams,
) -> Result<QuantErrorMetrics, QuantError> {
    let error = try_error_metrics(x, x_hat)?;
    if x.is_empty() {
        return Err(QuantError::Empty);
    }
    let n = x.len() as f64;
    let (mut clipped, mut sum_clip, mut sum_round, mut sum_sq_over_s2) = (0usize, 0.0f64, 0.0f64, 0.0f64);
    for (i, (&a, &b)) in x.iter().zip(x_hat).enumerate() {
        let p = params_of(i);
        let e = a as f64 - b as f64;
        if is_clipped(a, p) {
            clipped += 1;
            sum_clip += e * e;
        } else {
            sum_round += e * e;
        }
        let s = p.scale as f64;
        sum_sq_over_s2 += (e / s) * (e / s);
    }
    let p0 = params_of(0);
    let (clamp_lo, clamp_hi) = limits(p0);
    Ok(QuantErrorMetrics {
        error,
        clamp_lo,
        clamp_hi,
        clipped,
        clip_ratio: clipped as f64 / n,
        mse_clip: sum_clip / n,
        mse_round: sum_round / n,
        // RMSE / s, each error in units of its own slice's scale: √((1/n) Σ (e_i / s_i)²)
        rmse_over_scale: (sum_sq_over_s2 / n).sqrt(),
        uniform_noise_rms: UNIFORM_NOISE_RMS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::Scheme;

    #[test]
    fn the_clipping_note_follows_the_clip_ratio() {
        // The lab's first tensor, 8-bit normal, MinMax: s = 2.3102 / 255, Z = round(−128 + 1.1217 / s)
        // = round(−4.19) = −4, so 1.1885 / s + Z ≈ 127.19 lies past qmax = 127 but rounds to 127
        // itself: the clamp moves nothing.
        let x = [0.6004f32, -1.0151, 1.1885, 0.9948, -0.3187, -1.1111, 0.7827, -1.1217];
        let (p, _) = QParams::from_range(-1.1217, 1.1885, &Scheme::lab(Method::Normal, 8)).unwrap();
        assert!(1.1885 > p.clamp_limits().1, "past the last level");
        let clipped = x.iter().filter(|&&v| is_clipped(v, &p)).count();
        assert_eq!((clipped, clip_ratio(&x, &p)), (0, 0.0));
        assert_eq!(
            clipping_note(Method::Normal, false, clipped, 0, x.len()),
            "Here nothing is clipped: every value rounds to an integer inside [qmin, qmax] (clip ratio 0 %)."
        );
        // 1.1885 + s/2 is 127.69 steps up: it rounds to 128, which the clamp moves to 127.
        let past = [1.1885 + 0.5 * p.scale, 1.1885];
        assert_eq!(past.map(|v| is_clipped(v, &p)), [true, false]);
        // A symmetric 8-bit grid: β / s + Z is 127.5 but for the f32 rounding of s, 127.49999, so
        // β rounds to 127 (as the quantizer computes it) and is not clipped; past the tie it is.
        let (p, _) = QParams::from_range(-1.0, 1.0, &Scheme { symmetric: true, ..Scheme::lab(Method::Normal, 8) }).unwrap();
        assert_eq!((1.0 / p.scale + p.zero_point as f32, is_clipped(1.0, &p), is_clipped(-1.0, &p)), (127.49999, false, false));
        assert!(is_clipped(1.0 + 0.01 * p.scale, &p) && !is_clipped(-1.0 - 0.49 * p.scale, &p));
        let note = clipping_note(Method::Normal, true, 1, 0, 2);
        assert!(note.starts_with("Here 1 of 2 values (50.00 %) are clamped to qmin or qmax (r / s + Z, rounded to nearest, falls outside them): they lie inside [α, β]") && note.contains("tie"), "{note}");
        let narrow = clipping_note(Method::Clip, false, 3, 2, 8);
        assert!(narrow.contains("3 of 8 values (37.50 %)") && narrow.contains("2 of them lie outside [α, β]") && narrow.contains("the other 1"), "{narrow}");
    }

    #[test]
    fn a_symmetric_scheme_clips_its_top_value_for_a_reason_other_than_rounding_z() {
        // 4-bit signed symmetric: s = 3.7 / 7.5, Z = 0 exactly, and 3.7 / s = 7.5 rounds to 8, past
        // qmax = 7; −3.7 / s = −7.5 → −8 = qmin fits. A narrow range ([−7, 7]) clips nothing.
        let x = [0.1f32, -0.5, 2.3, 3.7, -1.2, 0.0, 0.75, -2.25];
        let scheme = Scheme { symmetric: true, ..Scheme::lab(Method::Normal, 4) };
        let (p, _) = QParams::from_range(-3.7, 3.7, &scheme).unwrap();
        assert_eq!(p.zero_point, 0);
        let clipped: Vec<f32> = x.iter().copied().filter(|&v| is_clipped(v, &p)).collect();
        assert_eq!(clipped, [3.7]);
        let note = clipping_note(Method::Normal, true, clipped.len(), 0, x.len());
        assert!(note.contains("one more level below Z than above") && !note.contains("rounding Z"), "{note}");
        let (narrow, _) = QParams::from_range(-3.7, 3.7, &Scheme { narrow_range: true, ..scheme }).unwrap();
        assert!(x.iter().all(|&v| !is_clipped(v, &narrow)));
    }
}

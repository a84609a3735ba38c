//! KL (entropy) calibration, TensorRT style (Migacz, "8-bit inference with
//! TensorRT", GTC 2017; MindSpore Lite's `KL`): choose the saturation threshold
//! whose quantized histogram loses the least information, measured by the
//! Kullback–Leibler divergence from the original histogram.
//!
//! ```text
//! h = histogram of the data, B = bins bins of width w
//! L = quantized levels the window is split into (see below)
//! for each candidate window of k bins, k = L … B:
//!     P = h[window], with every count left of it added to P's first bin
//!                    and every count right of it added to P's last bin   (the clipped values)
//!     Q = h[window] merged into L groups, group g = bins [⌊g·k/L⌋, ⌊(g+1)·k/L⌋),
//!         each group's mass spread evenly over its bins where P ≠ 0     (what L levels can say)
//!     KL(P ‖ Q) = Σ_{P_i > 0} P_i · ln(P_i / Q_i)    (P, Q normalised to sum 1)
//! the window with the smallest KL wins (the first, i.e. narrowest, on ties)
//! ```
//!
//! Symmetric schemes (TensorRT's case): the histogram is of |x| over [0, max|x|],
//! windows are [0, k·w), L = ⌈(qmax − qmin + 1) / 2⌉ (128 for int8: the levels on
//! one side of zero), and the range is (−T, T) with T = k·w, the window's right
//! edge (TensorRT quotes (k + 0.5)·w; the edge is what MXNet and TVM use, and
//! keeps T ≤ max |x|).
//!
//! Asymmetric schemes: the histogram is of x itself over [min x, max x], and
//! L = qmax − qmin + 1, all the levels. Windows shrink the range about an anchor
//! a = clamp(0, min x, max x), keeping the share on each side of it:
//! window k covers about [a + (k/B)(min x − a), a + (k/B)(max x − a)], rounded
//! to whole bins. So data that straddles 0 keeps 0 inside the range in the same
//! proportion, all-positive data (a ReLU output) keeps its minimum and trims
//! only the top, all-negative data the reverse. This is a one-parameter
//! ("symmetric-ish") search, not a search over every (α, β) pair.
//!
//! Two choices that differ from TensorRT's reference, both for activations after a ReLU
//! under an asymmetric scheme (issue 11: with the reference's choices the MLP's W8A8 lost
//! 0.2 points at 2048 bins, 3 at 4096 and 15 at 8192):
//! - **Exact zeros are left out of the histogram.** Every grid here holds 0 exactly (the zero
//!   point is an integer; symmetric grids are centred on it), so zeros carry no rounding error,
//!   but a ReLU output is often half zeros, all in the first bin, and that one bin then decides
//!   the divergence: any window that merges it with its neighbours looks bad. NVIDIA's
//!   pytorch-quantization does the same for the same reason (`bins[0] = bins[1]` before its
//!   entropy search). The range still starts at min x (0 after a ReLU).
//! - **Groups split the window evenly** (⌊g·k/L⌋ boundaries) instead of ⌊k/L⌋ bins each with the
//!   remainder in the last group. With L = 256 levels (asymmetric int8 uses all of them) and
//!   k < 2L, the reference gives 255 one-bin groups and one group of up to 256 bins: a window of
//!   511 bins then looks almost lossless whatever the data, and the search returned
//!   511 / B · max x (a quarter of the range at 2048 bins, 6 % at 8192).
//!
//! Edge cases:
//! - Q_i = 0 where P_i > 0 (the window clipped a bin's mass away) costs
//!   P_i·ln(P_i / Q_FLOOR) with Q_FLOOR = 1e−6: heavy but finite. (MXNet instead
//!   smooths both histograms by ε = 1e−4 counts; the argmin rarely differs.)
//! - L ≥ B: the grid is finer than the histogram, which then cannot see any
//!   rounding error, so the full range is returned (e.g. 16-bit with 2048 bins).
//! - A tensor whose values are all equal has no histogram width: its (min, max)
//!   is returned, and `QParams::from_range`'s guard handles the zero width.
//! - The thresholds count the clamp range [qmin, qmax], whatever the lab's method:
//!   under `Method::Clip` the returned range is mapped onto the doubled grid and
//!   saturates at about half of it, as MinMax's range does.
//!
//! Cost: O(n) for the histogram plus O(B²) for the search (≈ 2·10⁶ steps at B = 2048).

use super::super::{min_max, QuantError, Scheme};
use crate::stats::Histogram;

/// TensorRT's histogram size.
pub const DEFAULT_BINS: usize = 2048;
/// The fewest bins: an int8 grid has 256 levels, and fewer bins than half of them cannot show
/// any rounding error.
pub const MIN_BINS: usize = 128;
/// The most bins: the search costs O(B²) (8192 bins: about 0.1 s natively), and more bins than
/// this only split the same values into emptier bins (TensorRT uses 2048).
pub const MAX_BINS: usize = 8192;
/// The smallest Q_i used where Q_i = 0 < P_i (see the module header).
pub const Q_FLOOR: f64 = 1e-6;

/// The most search steps (slices × B², about 1.3 ns each natively) one tensor's KL calibration
/// may take: about 45 s. Per channel at 8192 bins on 128 rows (2^33) or groups of 16 at 2048
/// bins on a 784 × 128 weight (2.6·10^10) run; 50,000 groups of 2 at 8192 bins (an hour) do not.
pub const MAX_SEARCH_WORK: u64 = 1 << 35;

/// Whether KL with `bins` bins on `slices` slices stays within [`MAX_SEARCH_WORK`]; the error
/// says what to change.
pub fn check_work(bins: usize, slices: usize) -> Result<(), QuantError> {
    let work = (slices as u64).saturating_mul((bins as u64).saturating_mul(bins as u64));
    if work > MAX_SEARCH_WORK {
        return Err(QuantError::Setting {
            name: "KL bins",
            message: format!(
                "{bins} bins on each of {slices} slices is {work:.1e} search steps, more than the limit of {:.1e}: use fewer bins, larger groups, or another method",
                MAX_SEARCH_WORK as f64,
                work = work as f64
            ),
        });
    }
    Ok(())
}

/// The default of a description that names the method alone (`{ method = "kl" }`).
pub fn default_bins() -> usize {
    DEFAULT_BINS
}

/// [`MIN_BINS`]..=[`MAX_BINS`] in words, for the messages that refuse a number of bins.
pub const ALLOWED_BINS: &str = "a whole number in [128, 8192]";

/// bins ∈ [128, 8192] ([`MIN_BINS`], [`MAX_BINS`]).
pub fn validate(bins: usize) -> Result<(), QuantError> {
    if !(MIN_BINS..=MAX_BINS).contains(&bins) {
        return Err(QuantError::OutOfRange { setting: "KL bins", value: bins as f64, allowed: ALLOWED_BINS });
    }
    Ok(())
}

pub fn kl_range(x: &[f32], scheme: &Scheme, bins: usize) -> Result<(f32, f32), QuantError> {
    validate(bins)?;
    scheme.validate()?;
    let (lo, hi) = min_max(x)?; // also rejects empty and non-finite input
    let (qmin, qmax) = scheme.clamp_range();
    let levels = (qmax - qmin) as usize + 1;
    if scheme.symmetric {
        let amax = (lo as f64).abs().max((hi as f64).abs());
        if amax == 0.0 {
            return Ok((lo, hi)); // all zeros: no width to search in
        }
        let mut h = Histogram::new(0.0, amax, bins);
        x.iter().filter(|&&v| v != 0.0).for_each(|&v| h.add((v as f64).abs()));
        let (_, k) = search(&h.counts, levels.div_ceil(2), 0.0);
        let t = h.edge(k) as f32; // T = k·w (h.edge(B) is exactly max |x|)
        Ok((-t, t))
    } else {
        if hi == lo {
            return Ok((lo, hi)); // a constant tensor: the guard in from_range widens it
        }
        let h = {
            let mut h = Histogram::new(lo as f64, hi as f64, bins);
            x.iter().filter(|&&v| v != 0.0).for_each(|&v| h.add(v as f64));
            h
        };
        // The anchor a = clamp(0, min, max), in bins from the left edge.
        let anchor = ((0.0 - lo as f64) / h.width()).clamp(0.0, bins as f64);
        let (start, stop) = search(&h.counts, levels, anchor);
        // Whole-histogram edges are exact: edge(0) = min x and edge(B) = max x.
        Ok((h.edge(start) as f32, h.edge(stop) as f32))
    }
}

/// The best window [start, stop) of `h` for `levels` quantized levels, windows
/// shrinking about `anchor` (a position in bins). Returns the full range when
/// `levels` ≥ the number of bins.
fn search(h: &[f64], levels: usize, anchor: f64) -> (usize, usize) {
    let bins = h.len();
    let levels = levels.max(1);
    if levels >= bins {
        return (0, bins);
    }
    // cum[i] = Σ h[..i], so the mass outside a window is two subtractions.
    let mut cum = Vec::with_capacity(bins + 1);
    cum.push(0.0f64);
    for &c in h {
        cum.push(cum[cum.len() - 1] + c);
    }
    let total = cum[bins];
    let (mut best, mut best_kl) = ((0, bins), f64::INFINITY);
    let mut p = vec![0.0f64; bins];
    let mut q = vec![0.0f64; bins];
    for k in levels..=bins {
        // start ≈ anchor·(1 − k/B), so that the window keeps the anchor's share on each side.
        let start = ((anchor * (1.0 - k as f64 / bins as f64)).round() as usize).min(bins - k);
        let stop = start + k;
        let kl = window_kl(h, &cum, total, start, stop, levels, &mut p[..k], &mut q[..k]);
        if kl < best_kl {
            best_kl = kl;
            best = (start, stop);
        }
    }
    best
}

/// KL(P ‖ Q) for the window h[start..stop], `levels` ≤ its width (see the module header).
#[allow(clippy::too_many_arguments)]
fn window_kl(
    h: &[f64],
    cum: &[f64],
    total: f64,
    start: usize,
    stop: usize,
    levels: usize,
    p: &mut [f64],
    q: &mut [f64],
) -> f64 {
    let k = stop - start;
    let slice = &h[start..stop];
    // P: the window, with the clipped mass folded onto its two end bins.
    p.copy_from_slice(slice);
    p[0] += cum[start];
    p[k - 1] += total - cum[stop];
    // Q: `levels` groups of ⌊k/L⌋ bins (the last takes the remainder); each group's
    // mass, from the unfolded window, spread evenly over the bins where P is non-zero.
    q.fill(0.0);
    for g in 0..levels {
        let (a, b) = (g * k / levels, (g + 1) * k / levels);
        let mass: f64 = slice[a..b].iter().sum();
        let nonzero = p[a..b].iter().filter(|&&v| v > 0.0).count();
        if nonzero > 0 {
            let each = mass / nonzero as f64;
            for i in a..b {
                if p[i] > 0.0 {
                    q[i] = each;
                }
            }
        }
    }
    let (sp, sq): (f64, f64) = (p.iter().sum(), q.iter().sum());
    if sp <= 0.0 {
        return f64::INFINITY;
    }
    let sq = if sq > 0.0 { sq } else { 1.0 };
    // KL(P ‖ Q) = Σ_{P_i > 0} P_i · ln(P_i / Q_i), with Q_i floored at Q_FLOOR.
    p.iter()
        .zip(q.iter())
        .filter(|(&pi, _)| pi > 0.0)
        .map(|(&pi, &qi)| {
            let (pi, qi) = (pi / sp, (qi / sq).max(Q_FLOOR));
            pi * (pi / qi).ln()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_that_loses_nothing_has_zero_divergence() {
        // 4 occupied bins, 4 levels: the full window [0, 4) is represented exactly.
        let h = [3.0, 1.0, 2.0, 5.0];
        let cum = [0.0, 3.0, 4.0, 6.0, 11.0];
        let (mut p, mut q) = ([0.0; 4], [0.0; 4]);
        assert!(window_kl(&h, &cum, 11.0, 0, 4, 4, &mut p, &mut q).abs() < 1e-15);
        // Two levels over four bins average pairs, which loses information.
        assert!(window_kl(&h, &cum, 11.0, 0, 4, 2, &mut p, &mut q) > 0.0);
    }

    #[test]
    fn more_levels_than_bins_returns_the_full_range() {
        assert_eq!(search(&[1.0; 16], 32, 0.0), (0, 16));
    }
}

//! Outlier injection: the activation outliers of large language models (a few channels of the
//! RMSNorm output tens of times larger than the rest, LLM.int8() / SmoothQuant §3) reproduced
//! on a small model, without changing what the model computes in FP32.
//!
//! ```text
//! D = dim, n = channels, σ = scale
//! channels (evenly spaced, the centre of each of n equal slices of 0..D):  c_i = ⌊(2i + 1)·D / (2n)⌋, i < n
//! every block, both RMSNorms (attention_norm → wq, wk, wv; ffn_norm → w1, w3):
//!   g[c] ← g[c] · σ                   the RMSNorm output x[c] = r(h)[c] · g[c] grows σ-fold
//!   W[:, c] ← W[:, c] / σ             for every Linear fed by that RMSNorm
//!   y = Σ_j x_j · W[n, j] unchanged:  (x_c · σ) · (W[n, c] / σ) = x_c · W[n, c]   (up to float rounding)
//! ```
//!
//! With per-token int8 activations (W8A8) the token's scale max_j |x_j| / 127 is then set by the
//! outlier channel, so every other channel keeps about log2(σ) fewer bits: naive W8A8 loses
//! accuracy, which SmoothQuant ([`super::smoothquant`]) recovers by moving the outlier back into
//! the weights. The RMSNorm weight is multiplied and the columns divided (not the other way round)
//! so that the FP32 function changes only by the rounding of W[:, c] / σ (relative 2^-24 per weight).

use crate::lm::{LmError, LmWeights};

/// The channels that [`inject_outliers`] scales: n evenly spaced channels of 0..D, the centre of
/// each of n equal slices, c_i = ⌊(2i + 1)·D / (2n)⌋ (distinct for n ≤ D, increasing).
pub fn outlier_channels(dim: usize, channels: usize) -> Vec<usize> {
    (0..channels).map(|i| (2 * i + 1) * dim / (2 * channels)).collect()
}

/// Scales `channels` channels (see [`outlier_channels`]) of every block's `attention_norm` and
/// `ffn_norm` weight by `scale` and divides the matching input columns of wq, wk, wv (resp. w1, w3)
/// by `scale`. Returns the channels. `channels` = 0 changes nothing.
///
/// Errors: `channels` > D, a `scale` that is not finite and positive, an invalid model.
pub fn inject_outliers(w: &mut LmWeights, channels: usize, scale: f32) -> Result<Vec<usize>, LmError> {
    w.validate()?;
    let d = w.config.dim;
    if channels > d {
        return Err(LmError::Setting { name: "outliers", message: format!("{channels} channels in a model of width {d}") });
    }
    if !(scale.is_finite() && scale > 0.0) {
        return Err(LmError::Setting { name: "outlier_scale", message: format!("{scale} is not a finite positive number") });
    }
    let picked = outlier_channels(d, channels);
    for b in &mut w.layers {
        for &c in &picked {
            // g[c] · σ and W[:, c] / σ: the product x_c · W[n, c] is unchanged.
            b.attention_norm[c] *= scale;
            b.ffn_norm[c] *= scale;
        }
        for m in [&mut b.wq, &mut b.wk, &mut b.wv, &mut b.w1, &mut b.w3] {
            for row in m.chunks_exact_mut(d) {
                for &c in &picked {
                    row[c] /= scale;
                }
            }
        }
    }
    Ok(picked)
}

//! SmoothQuant (Xiao et al., 2022, "SmoothQuant: Accurate and Efficient Post-Training
//! Quantization for Large Language Models"): migrate the difficulty of quantizing activation
//! outliers into the weights with a per-input-channel scale that keeps the FP32 function.
//!
//! ```text
//! X [M, D] = the RMSNorm output feeding a group of Linears W_i [N_i, D] (M calibration tokens)
//! a_j = max_m |X[m, j]|                                  (per-channel activation range)
//! w_j = max(max_i max_n |W_i[n, j]|, 1e-5)              (the group's weight range, zero guarded)
//! s_j = max(a_j^α / w_j^(1−α), 1e-5)                    (α = cfg.alpha; clamped as the reference)
//! X · Wᵀ = (X · diag(s)⁻¹) · (diag(s) · Wᵀ):
//!   RMSNorm weight g_j ← g_j / s_j                       (so X[:, j] ← X[:, j] / s_j)
//!   W_i[:, j] ← W_i[:, j] · s_j                          (every Linear the RMSNorm feeds)
//! after: max|X_j / s_j| = a_j^(1−α) · w_j^(1−α),  max|W_j · s_j| = a_j^α · w_j^α   (α = ½: equal)
//! ```
//!
//! Groups of a Llama block, as the reference's `smooth_lm` for Llama: (attention_norm → wq, wk,
//! wv) and (ffn_norm → w1, w3). Like the reference, wo and w2 are not smoothed: their inputs
//! (the attention output, silu(x·w1ᵀ) ⊙ x·w3ᵀ) come from no per-channel affine operation
//! into which 1/s could be folded exactly.
//!
//! Calibration: `cfg.calib_tokens` tokens in windows of the context length spread evenly over the
//! calibration text ([`crate::ptq::lm_calib::spread_calibration`], as GPTQ and AWQ), not its
//! first pages. Statistics come from the FP32 model as given: one pass over the calibration windows (each
//! with a fresh FP32 KV cache, as [`crate::ptq::lm_calib::capture_block`]) keeps the running
//! max |X_j| of every block's two RMSNorm outputs (memory 2·L·D values, whatever the number of
//! tokens), as the reference's `generate_act_scales` does in one pass before smoothing. Each
//! smoothing is function-preserving, so block l's input is the same as in the model smoothed
//! so far, up to rounding. max|X_j| after smoothing is reported as a_j / s_j: the RMSNorm
//! output of channel j is exactly divided by s_j.
//!
//! The clamps, as the reference's `smooth_ln_fcs`: the weight range at 1e-5 (a column of
//! zeros would divide by 0) and s at 1e-5 (a channel that never fires, a_j = 0, would give
//! s_j = 0 and a division by 0 in the RMSNorm weight). No upper clamp.

use serde::Serialize;

use crate::lm::{KvCache, KvFormat, LmError, LmModel, LmWeights, Probe};
use crate::ptq::lm::LmQuantConfig;
use crate::ptq::lm_calib::{calibration_windows, spread_calibration};

/// The smallest weight range and the smallest scale (the reference's clamps).
pub const MIN_SCALE: f32 = 1e-5;

/// w_j = max over every matrix (each [N_i, K] row-major) and row of |W_i[n, j]|.
pub fn weight_absmax(mats: &[&[f32]], k: usize) -> Vec<f32> {
    let mut w = vec![0f32; k];
    for m in mats {
        for row in m.chunks_exact(k.max(1)) {
            for (wj, &v) in w.iter_mut().zip(row) {
                *wj = wj.max(v.abs());
            }
        }
    }
    w
}

/// s_j = max(a_j^α / max(w_j, 1e-5)^(1−α), 1e-5), computed in f64 and rounded to f32.
pub fn smooth_scales(x_absmax: &[f32], w_absmax: &[f32], alpha: f32) -> Result<Vec<f32>, LmError> {
    if x_absmax.len() != w_absmax.len() {
        return Err(LmError::Setting {
            name: "smoothquant",
            message: format!("{} activation ranges for {} weight ranges", x_absmax.len(), w_absmax.len()),
        });
    }
    if !(alpha.is_finite() && (0.0..=1.0).contains(&alpha)) {
        return Err(LmError::Setting { name: "alpha", message: format!("{alpha} is outside 0–1") });
    }
    let a = alpha as f64;
    Ok(x_absmax
        .iter()
        .zip(w_absmax)
        .map(|(&x, &w)| {
            // a_j^α / w_j^(1−α); 0^0 = 1 (α = 0: s = 1 / w).
            let s = (x as f64).powf(a) / (w.max(MIN_SCALE) as f64).powf(1.0 - a);
            (s as f32).max(MIN_SCALE)
        })
        .collect())
}

/// g_j ← g_j / s_j and W_i[:, j] ← W_i[:, j] · s_j for each matrix [N_i, K].
pub fn fold_smoothing(norm: &mut [f32], mats: &mut [&mut Vec<f32>], s: &[f32]) {
    for (g, &sj) in norm.iter_mut().zip(s) {
        *g /= sj;
    }
    let k = s.len().max(1);
    for m in mats.iter_mut() {
        for row in m.chunks_exact_mut(k) {
            for (v, &sj) in row.iter_mut().zip(s) {
                *v *= sj;
            }
        }
    }
}

/// One smoothed RMSNorm output and what it feeds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SmoothedInput {
    /// `layers.{l}.attention_norm` or `layers.{l}.ffn_norm`.
    pub norm: String,
    /// The Linears it feeds (`layers.{l}.attention.wq`, …).
    pub linears: Vec<String>,
    /// a_j = max|X_j| over the calibration tokens, before smoothing.
    pub x_absmax_before: Vec<f32>,
    /// a_j / s_j, after.
    pub x_absmax_after: Vec<f32>,
    /// w_j = max|W_j| over the group's weights, before.
    pub w_absmax_before: Vec<f32>,
    /// w_j · s_j, after.
    pub w_absmax_after: Vec<f32>,
    /// s_j.
    pub s: Vec<f32>,
}

/// What [`smooth_lm`] did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SmoothReport {
    pub alpha: f32,
    /// Calibration tokens the statistics came from.
    pub calib_tokens: usize,
    /// Two per block: attention_norm, then ffn_norm.
    pub inputs: Vec<SmoothedInput>,
}

/// The running max |X_j| of every block's RMSNorm outputs: [attention (wq's input), ffn (w1's input)].
struct RangeProbe {
    blocks: Vec<[Vec<f32>; 2]>,
}

impl Probe for RangeProbe {
    fn linear(&mut self, layer: Option<usize>, name: &'static str, _m: usize, input: &[f32], _output: &[f32]) {
        let i = match name {
            "attention.wq" => 0,
            "feed_forward.w1" => 1,
            _ => return,
        };
        let Some(absmax) = layer.and_then(|l| self.blocks.get_mut(l)).map(|b| &mut b[i]) else { return };
        for row in input.chunks_exact(absmax.len().max(1)) {
            for (a, &x) in absmax.iter_mut().zip(row) {
                *a = a.max(x.abs());
            }
        }
    }
}

/// a_j = max |X_j| of every block's two RMSNorm outputs over the calibration windows (one pass).
pub fn activation_ranges(model: &LmModel, windows: &[&[u32]]) -> Result<Vec<[Vec<f32>; 2]>, LmError> {
    let c = &model.config;
    let mut probe = RangeProbe { blocks: (0..c.n_layers).map(|_| [vec![0f32; c.dim], vec![0f32; c.dim]]).collect() };
    let mut cache = KvCache::new(c, KvFormat::F32)?;
    for w in windows.iter().filter(|w| !w.is_empty()) {
        cache.clear();
        model.forward(w, &mut cache, true, &mut probe)?;
    }
    Ok(probe.blocks)
}

/// Smooths every block of `w` in place (see the module header) with statistics of the
/// calibration tokens `calib` (`cfg.calib_tokens` of them, in windows of the context spread
/// evenly over `calib`, as GPTQ and AWQ take theirs) and
/// α = `cfg.alpha`. Quantize the result with [`crate::ptq::lm::quantize_lm`] (W8A8).
pub fn smooth_lm(w: &mut LmWeights, calib: &[u32], cfg: &LmQuantConfig) -> Result<SmoothReport, LmError> {
    cfg.validate()?;
    let sample = spread_calibration(calib, w.config.seq_len, cfg.calib_tokens);
    let windows = calibration_windows(&sample, w.config.seq_len, cfg.calib_tokens)?;
    let calib_tokens = windows.iter().map(|x| x.len()).sum();
    let ranges = activation_ranges(&LmModel::from_weights(w)?, &windows)?;
    let d = w.config.dim;
    let mut inputs = Vec::with_capacity(2 * w.config.n_layers);
    for (l, (b, [att, ffn])) in w.layers.iter_mut().zip(ranges).enumerate() {
        for (norm_name, x_absmax) in [("attention_norm", att), ("ffn_norm", ffn)] {
            let (norm, mut mats, names): (_, Vec<&mut Vec<f32>>, _) = if norm_name == "attention_norm" {
                (&mut b.attention_norm, vec![&mut b.wq, &mut b.wk, &mut b.wv], ["attention.wq", "attention.wk", "attention.wv"].as_slice())
            } else {
                (&mut b.ffn_norm, vec![&mut b.w1, &mut b.w3], ["feed_forward.w1", "feed_forward.w3"].as_slice())
            };
            let w_absmax = weight_absmax(&mats.iter().map(|m| m.as_slice()).collect::<Vec<_>>(), d);
            let s = smooth_scales(&x_absmax, &w_absmax, cfg.alpha)?;
            fold_smoothing(norm, &mut mats, &s);
            inputs.push(SmoothedInput {
                norm: format!("layers.{l}.{norm_name}"),
                linears: names.iter().map(|n| format!("layers.{l}.{n}")).collect(),
                x_absmax_after: x_absmax.iter().zip(&s).map(|(a, s)| a / s).collect(),
                w_absmax_after: w_absmax.iter().zip(&s).map(|(w, s)| w * s).collect(),
                x_absmax_before: x_absmax,
                w_absmax_before: w_absmax,
                s,
            });
        }
    }
    Ok(SmoothReport { alpha: cfg.alpha, calib_tokens, inputs })
}

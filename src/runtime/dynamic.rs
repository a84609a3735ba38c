//! Dynamic quantization (MindSpore Lite's `[dynamic_quant_param]`): weights
//! are quantized ahead of time, activations per batch at run time, from the
//! batch's own range.
//!
//! - **ALWC** (activation per layer, weight per channel): the batch x [M, K]
//!   gets one asymmetric int8 (s_x, Z_x); weights are int8 per output channel,
//!   symmetric. Runs on the int8 GEMM:
//!   `y[m, o] = s_x · s_w[o] · (Σ_k q_x[m, k]·q_w[o, k] − Z_x · Σ_k q_w[o, k]) + b[o]`.
//! - **ACWL** (activation per channel, weight per layer): each input feature
//!   k gets its own (s_x[k], Z_x[k]) over the batch, weights one symmetric scale.
//!   A scale that varies along k cannot be taken out of the integer sum, so
//!   ACWL runs simulated: a float GEMM on the dequantized values.

use serde::{Deserialize, Serialize};

use super::gemm_f32::{self, PackedWf32};
use super::gemm_i8::{self, PackedW};
use crate::quant::{kernels, Method, QParams, QuantError, Rounding, Scheme};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DynamicMode {
    Alwc,
    Acwl,
}

pub struct DynamicLinear {
    pub mode: DynamicMode,
    pub n: usize,
    pub k: usize,
    w_q: Vec<i8>,
    w_packed: PackedW,
    /// Σ_k q_w[o, k], for the activation zero point.
    w_sums: Vec<i32>,
    w_scales: Vec<f32>,
    bias: Vec<f32>,
}

fn act_scheme() -> Scheme {
    Scheme::lab(Method::Normal, 8)
}

/// (s, Z) for a range widened to include 0.
fn act_params(lo: f32, hi: f32) -> Result<QParams, QuantError> {
    QParams::from_range(lo.min(0.0), hi.max(0.0), &act_scheme()).map(|(p, _)| p)
}

impl DynamicLinear {
    /// w: [N, K], bias: [N] (or empty).
    pub fn new(w: &[f32], n: usize, k: usize, bias: &[f32], mode: DynamicMode) -> Result<DynamicLinear, QuantError> {
        if w.len() != n * k || !(bias.is_empty() || bias.len() == n) {
            return Err(QuantError::LengthMismatch { left: w.len(), right: n * k });
        }
        crate::quant::check_finite(w)?;
        let amax_of = |r: &[f32]| r.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scales: Vec<f32> = match mode {
            DynamicMode::Alwc => (0..n).map(|o| amax_of(&w[o * k..(o + 1) * k])).collect(),
            DynamicMode::Acwl => vec![amax_of(w); n],
        };
        let w_scales: Vec<f32> = scales.iter().map(|&a| if a > 0.0 { a / 127.0 } else { 1.0 }).collect();
        let w_q: Vec<i8> = w
            .iter()
            .enumerate()
            .map(|(i, &v)| (v / w_scales[i / k.max(1)]).round_ties_even().clamp(-127.0, 127.0) as i8)
            .collect();
        let w_sums = (0..n).map(|o| w_q[o * k..(o + 1) * k].iter().map(|&v| v as i32).sum()).collect();
        Ok(DynamicLinear {
            mode,
            n,
            k,
            w_packed: PackedW::pack(&w_q, n, k),
            w_q,
            w_sums,
            w_scales,
            bias: if bias.is_empty() { vec![0.0; n] } else { bias.to_vec() },
        })
    }

    /// y [M, N] from x [M, K], quantizing x from this batch's range.
    pub fn forward(&self, x: &[f32], m: usize) -> Result<Vec<f32>, QuantError> {
        if x.len() != m * self.k {
            return Err(QuantError::LengthMismatch { left: x.len(), right: m * self.k });
        }
        crate::quant::check_finite(x)?;
        let mut y = vec![0f32; m * self.n];
        if m == 0 {
            return Ok(y);
        }
        match self.mode {
            DynamicMode::Alwc => {
                let (lo, hi) = crate::quant::min_max(x)?;
                let p = act_params(lo, hi)?;
                let mut q = vec![0i32; x.len()];
                kernels::quantize(x, &p, Rounding::HalfEven, 0, &mut q);
                let xq: Vec<i8> = q.iter().map(|&v| v as i8).collect();
                let mut acc = vec![0i32; m * self.n];
                (gemm_i8::best().run)(&xq, m, &self.w_packed, &mut acc);
                for r in 0..m {
                    for o in 0..self.n {
                        let a = acc[r * self.n + o] as i64 - p.zero_point as i64 * self.w_sums[o] as i64;
                        y[r * self.n + o] = (p.scale as f64 * self.w_scales[o] as f64 * a as f64) as f32 + self.bias[o];
                    }
                }
            }
            DynamicMode::Acwl => {
                // x'[m, k] = fake-quant with column k's own range over the batch.
                let mut xd = x.to_vec();
                let mut col = vec![0f32; m];
                let mut out = vec![0f32; m];
                for kk in 0..self.k {
                    for r in 0..m {
                        col[r] = x[r * self.k + kk];
                    }
                    let (lo, hi) = crate::quant::min_max(&col)?;
                    let p = act_params(lo, hi)?;
                    kernels::fake_quant(&col, &p, Rounding::HalfEven, 0, &mut out);
                    for r in 0..m {
                        xd[r * self.k + kk] = out[r];
                    }
                }
                let wd: Vec<f32> = self.w_q.iter().map(|&q| q as f32 * self.w_scales[0]).collect();
                (gemm_f32::best().run)(&xd, m, &PackedWf32::pack(&wd, self.n, self.k), &mut y);
                for row in y.chunks_exact_mut(self.n) {
                    for (v, b) in row.iter_mut().zip(&self.bias) {
                        *v += b;
                    }
                }
            }
        }
        Ok(y)
    }
}

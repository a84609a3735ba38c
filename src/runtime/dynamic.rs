//! Dynamic quantization on the int8 GEMM (MindSpore Lite's `[dynamic_quant_param]`, strategy
//! ALWC: activation per layer, weight per channel). The weights arrive already quantized
//! (symmetric int8, one scale per output channel or per tensor); each batch's activations are
//! quantized at run time with one asymmetric (s_x, Z_x) from the batch's own range:
//!
//! ```text
//! [α, β] = [min(0, min x), max(0, max x)]       (s_x, Z_x) from [α, β] on the activation scheme
//! q_x = clamp(round(x / s_x + Z_x), qmin, qmax)
//! y[m, o] = s_x · s_w[o] · (Σ_k q_x[m, k]·q_w[o, k] − Z_x · Σ_k q_w[o, k]) + b[o]
//! ```
//!
//! A Conv2d runs the same product over its im2col patches, padding with Z_x (the real 0).
//! The result equals the simulation's `layer(x̂; ŵ, b)` but for float summation order.

use super::gemm_i8::{self, PackedW};
use super::qconv::{conv_by_rows, ConvGeometry};
use crate::quant::{kernels, QParams, QuantError, Scheme};

/// A dynamically quantized Linear or Conv2d.
#[derive(Clone, Debug)]
pub struct DynamicLayer {
    /// N = outputs, K = fan-in (C·k·k for a Conv2d).
    pub n: usize,
    pub k: usize,
    /// `Some` for a Conv2d: its geometry over one input plane.
    pub conv: Option<ConvGeometry>,
    w_packed: PackedW,
    /// Σ_k q_w[o, k], for the activation zero point.
    w_sums: Vec<i64>,
    /// s_w[o], one per output.
    w_scales: Vec<f32>,
    bias: Vec<f32>,
    /// How each batch's activations are quantized (signed 8-bit).
    act: Scheme,
}

impl DynamicLayer {
    /// w_q: [N, K] symmetric int8 weights; w_scales: one per output or one for all; bias: [N] or
    /// empty; `act`: the activation scheme, signed 8-bit.
    pub fn new(w_q: &[i8], n: usize, k: usize, w_scales: &[f32], bias: &[f32], act: Scheme, conv: Option<ConvGeometry>) -> Result<DynamicLayer, QuantError> {
        // checked: on wasm32, n · k of 65,536 × 65,537 wraps to 65,536.
        if n.checked_mul(k) != Some(w_q.len()) {
            return Err(QuantError::ShapeMismatch { shape: vec![n, k], elements: n.checked_mul(k), values: w_q.len() });
        }
        if !(w_scales.len() == 1 || w_scales.len() == n) {
            return Err(QuantError::LengthMismatch { left: w_scales.len(), right: n });
        }
        if !(bias.is_empty() || bias.len() == n) {
            return Err(QuantError::LengthMismatch { left: bias.len(), right: n });
        }
        if act.bits != 8 || !act.signed {
            return Err(QuantError::Setting { name: "act_bits", message: format!("the int8 GEMM takes signed 8-bit activations, not {}{} bits", if act.signed { "" } else { "unsigned " }, act.bits) });
        }
        // |Σ_k q_x·q_w| ≤ K · 128 · 128 must stay inside int32.
        if k > i32::MAX as usize / (128 * 128) {
            return Err(QuantError::TooLarge { elements: Some(k), limit: i32::MAX as usize / (128 * 128) });
        }
        if let Some(g) = conv {
            if g.fan_in() != k || g.out_channels != n {
                return Err(QuantError::ShapeMismatch { shape: vec![g.out_channels, g.fan_in()], elements: Some(g.out_channels * g.fan_in()), values: w_q.len() });
            }
        }
        crate::quant::check_finite(w_scales)?;
        crate::quant::check_finite(bias)?;
        Ok(DynamicLayer {
            n,
            k,
            conv,
            w_packed: PackedW::pack(w_q, n, k),
            w_sums: (0..n).map(|o| w_q[o * k..(o + 1) * k].iter().map(|&v| v as i64).sum()).collect(),
            w_scales: if w_scales.len() == n { w_scales.to_vec() } else { vec![w_scales[0]; n] },
            bias: if bias.is_empty() { vec![0.0; n] } else { bias.to_vec() },
            act,
        })
    }

    /// Values per sample: (in, out).
    pub fn lens(&self) -> (usize, usize) {
        match self.conv {
            Some(g) => (g.in_len(), g.out_len()),
            None => (self.k, self.n),
        }
    }

    /// y [B, out] from x [B, in], quantizing x with this batch's range.
    pub fn forward(&self, x: &[f32], batch: usize) -> Result<Vec<f32>, QuantError> {
        let (inp, out) = self.lens();
        if batch.checked_mul(inp) != Some(x.len()) {
            return Err(QuantError::LengthMismatch { left: x.len(), right: batch.saturating_mul(inp) });
        }
        crate::quant::check_finite(x)?;
        let y_len = batch.checked_mul(out).ok_or(QuantError::TooLarge { elements: None, limit: usize::MAX })?;
        let mut y = vec![0f32; y_len];
        if batch == 0 {
            return Ok(y);
        }
        // [α, β] widened to hold 0, as the simulation's dynamic input does.
        let (lo, hi) = x.iter().fold((0f32, 0f32), |(a, b), &v| (a.min(v), b.max(v)));
        let (p, _) = QParams::from_range(lo, hi, &self.act)?;
        let mut q = vec![0i32; x.len()];
        kernels::quantize(x, &p, self.act.rounding, 0, &mut q);
        let xq: Vec<i8> = q.iter().map(|&v| v.clamp(-128, 127) as i8).collect();
        let mut acc = Vec::new();
        match self.conv {
            None => self.rows(&xq, batch, &p, &mut acc, &mut y),
            Some(g) => conv_by_rows(&xq, batch, &g, p.zero_point.clamp(-128, 127) as i8, &mut y, |cols, rows, out| self.rows(cols, rows, &p, &mut acc, out)),
        }
        Ok(y)
    }

    /// out [M, N] = s_x · s_w[o] · (acc − Z_x · Σ q_w[o]) + b[o], acc = xq [M, K] · q_wᵀ.
    fn rows(&self, xq: &[i8], m: usize, p: &QParams, acc: &mut Vec<i32>, out: &mut [f32]) {
        acc.clear();
        acc.resize(m * self.n, 0);
        (gemm_i8::best().run)(xq, m, &self.w_packed, acc);
        for (acc_row, out_row) in acc.chunks_exact(self.n).zip(out.chunks_exact_mut(self.n)) {
            for (o, (&a, y)) in acc_row.iter().zip(out_row.iter_mut()).enumerate() {
                let centred = a as i64 - p.zero_point as i64 * self.w_sums[o];
                *y = (p.scale as f64 * self.w_scales[o] as f64 * centred as f64) as f32 + self.bias[o];
            }
        }
    }
}

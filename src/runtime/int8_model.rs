//! Integer-only inference of an MLP (Linear / ReLU / Flatten layers), built
//! from an FP32 model by static W8A8 post-training quantization:
//!
//! - weights: int8 per output channel, symmetric narrow range [−127, 127];
//! - activations: int8 asymmetric, ranges from MinMax over a calibration batch
//!   (widened to include 0, so ReLU's zero is exact);
//! - each Linear runs as [`QLinear`] with the following ReLU fused;
//! - input pixels p ∈ 0..=255 enter as p − 128 with s = 1/255, Z = −128 (exact).

use super::qlinear::{QLinear, QLinearSpec};
use crate::model::forward::Fp32Runner;
use crate::model::{LayerKind, Model, ModelError};
use crate::quant::{QParams, Scheme};

pub struct Int8Mlp {
    layers: Vec<QLinear>,
    /// q of each pixel value p ∈ 0..=255 (the input is p / 255, quantized with the first layer's (s, Z)).
    input_lut: [i8; 256],
    /// The table is the usual q = p − 128, whose arithmetic form vectorizes (a lookup does not).
    input_is_offset: bool,
    /// Scale and zero point of the logits.
    pub out_scale: f32,
    pub out_zero_point: i32,
    pub in_features: usize,
    pub classes: usize,
}

/// Pixel input: s = 1/255, Z = −128, so q = p − 128 exactly.
pub const INPUT_SCALE: f32 = 1.0 / 255.0;
pub const INPUT_ZERO_POINT: i32 = -128;

fn act_params(lo: f32, hi: f32) -> Result<(f32, i32), ModelError> {
    let scheme = Scheme::lab(crate::quant::Method::Normal, 8);
    let (p, _) = QParams::from_range(lo.min(0.0), hi.max(0.0), &scheme)
        .map_err(|e| ModelError::ShapeMismatch { layer: "calibration".into(), expected: "finite activations".into(), found: e.to_string() })?;
    Ok((p.scale, p.zero_point))
}

impl Int8Mlp {
    /// Quantizes `model` (Flatten? then Linear [ReLU] …) calibrating on `calib`: [N, 784] floats in [0, 1].
    pub fn from_model(model: &Model, calib: &[f32]) -> Result<Int8Mlp, ModelError> {
        // Record min/max of every layer output on the calibration batch.
        let runner = Fp32Runner::new(model.clone());
        let mut ranges = vec![(0f32, 0f32); model.layers.len()];
        runner.run(calib, &mut |i, y| {
            ranges[i] = y.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
        })?;
        let mut layers = Vec::new();
        let (mut x_scale, mut x_zp) = (INPUT_SCALE, INPUT_ZERO_POINT);
        let mut i = 0;
        while i < model.layers.len() {
            match &model.layers[i].kind {
                LayerKind::Flatten => i += 1,
                LayerKind::Linear(l) => {
                    let relu = matches!(model.layers.get(i + 1).map(|l| &l.kind), Some(LayerKind::Relu));
                    let out_i = if relu { i + 1 } else { i };
                    let (y_scale, y_zp) = act_params(ranges[out_i].0, ranges[out_i].1)?;
                    // Per-channel symmetric weights: s_w[o] = max|w[o, :]| / 127.
                    let mut wq = vec![0i8; l.w.len()];
                    let mut w_scales = vec![0f32; l.out_features];
                    for o in 0..l.out_features {
                        let row = &l.w[o * l.in_features..(o + 1) * l.in_features];
                        let amax = row.iter().fold(0f32, |m, v| m.max(v.abs()));
                        let s = if amax > 0.0 { amax / 127.0 } else { 1.0 };
                        w_scales[o] = s;
                        for (q, &v) in wq[o * l.in_features..].iter_mut().zip(row) {
                            *q = (v / s).round_ties_even().clamp(-127.0, 127.0) as i8;
                        }
                    }
                    layers.push(QLinear::try_new(&QLinearSpec {
                        w: &wq,
                        n: l.out_features,
                        k: l.in_features,
                        w_scales: &w_scales,
                        bias: &l.b,
                        x_scale,
                        x_zero_point: x_zp,
                        y_scale,
                        y_zero_point: y_zp,
                        relu,
                    })
                    .map_err(|e| ModelError::Int32Overflow { layer: model.layers[i].name.clone(), detail: e.to_string() })?);
                    (x_scale, x_zp) = (y_scale, y_zp);
                    i = out_i + 1;
                }
                _ => {
                    return Err(ModelError::UnknownLayer {
                        layer: model.layers[i].name.clone(),
                        kind: format!("{} (the int8 runner takes Flatten, Linear and ReLU)", model.layers[i].kind.name()),
                    })
                }
            }
        }
        let lut = std::array::from_fn(|p| (p as i32 + INPUT_ZERO_POINT) as i8);
        Int8Mlp::from_parts(layers, lut, x_scale, x_zp)
    }

    /// An MLP from its integer layers (each Linear with its ReLU fused), the pixel → int8 table of
    /// the input, and the output's (s, Z).
    pub fn from_parts(layers: Vec<QLinear>, input_lut: [i8; 256], out_scale: f32, out_zero_point: i32) -> Result<Int8Mlp, ModelError> {
        let first = layers.first().ok_or(ModelError::Empty)?;
        let last = layers.last().ok_or(ModelError::Empty)?;
        let input_is_offset = input_lut.iter().enumerate().all(|(p, &q)| q as i32 == p as i32 + INPUT_ZERO_POINT);
        Ok(Int8Mlp { in_features: first.k, classes: last.n, input_lut, input_is_offset, layers, out_scale, out_zero_point })
    }

    /// Predicted classes for images given as u8 pixels [B, in_features].
    /// `scratch` is reused between calls.
    pub fn predict(&self, pixels: &[u8], scratch: &mut Int8Scratch) -> Vec<u8> {
        let batch = pixels.len() / self.in_features.max(1);
        let Int8Scratch { a, b, acc } = scratch;
        a.clear();
        if self.input_is_offset {
            a.extend(pixels.iter().map(|&p| (p as i32 + INPUT_ZERO_POINT) as i8));
        } else {
            a.extend(pixels.iter().map(|&p| self.input_lut[p as usize]));
        }
        for l in &self.layers {
            b.clear();
            b.resize(batch * l.n, 0);
            l.forward(a, batch, acc, b);
            std::mem::swap(a, b);
        }
        crate::model::argmax_rows(a, self.classes)
    }
}

/// Reusable buffers for [`Int8Mlp::predict`].
#[derive(Default)]
pub struct Int8Scratch {
    a: Vec<i8>,
    b: Vec<i8>,
    acc: Vec<i32>,
}

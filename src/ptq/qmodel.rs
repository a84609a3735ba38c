//! A model after post-training quantization, and its simulated (fake-quant)
//! forward pass, which runs at any bit width from 1 to 16.
//!
//! Shape legend: B = batch; a weight is viewed as [out, fan_in] (a Conv2d's
//! [oc, ic, k, k] as [oc, ic·k·k], the same values in the same order).
//!
//! For each quantized Linear / Conv2d:
//!
//! ```text
//! x̃ = x / s_smooth[j]                               SmoothQuant, per input feature / channel j (optional)
//! x̂ = (clamp(round(x̃ / s_x + Z_x), qmin, qmax) − Z_x) · s_x
//!                                                   static: (s_x, Z_x) from calibration;
//!                                                   dynamic: from this batch's own range
//! ŵ = (q_w − Z_w) · s_w                             one (s, Z) per tensor, channel or group;
//!                                                   the smoothing is already multiplied into w
//! y = layer(x̂; ŵ, b′)                               b′ = b + the bias correction
//! ```
//!
//! In full mode the model's output (the logits) is fake-quantized as well, so
//! every tensor between layers is one an integer-only engine would hold.

use serde::{Deserialize, Serialize};

use crate::model::forward::Fp32Runner;
use crate::model::{LayerKind, Model, ModelError, Shape};
use crate::quant::granularity::GranularQuantized;
use crate::quant::{kernels, QParams, Scheme};
use super::config::DynamicMode;

/// One activation tensor's static parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActParams {
    pub params: QParams,
    pub scheme: Scheme,
}

/// How the input of a quantized layer is quantized.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum InputQuant {
    /// Left in float (weight-only quantization).
    Float,
    /// One (s, Z) for the whole tensor, fixed by calibration.
    Static(ActParams),
    /// (s, Z) from each batch at run time: one for the whole batch (ALWC), or one per
    /// input feature / channel over the batch (ACWL).
    Dynamic { strategy: DynamicMode, scheme: Scheme },
}

/// A quantized Linear or Conv2d.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantLayer {
    /// The layer's index in the model.
    pub index: usize,
    pub name: String,
    /// The integer weights and their parameters, as [out, fan_in].
    pub weight: GranularQuantized,
    /// The weight's shape in the model: [out, in] or [oc, ic, k, k].
    pub weight_shape: Vec<usize>,
    /// The bias to use with ŵ (FP32, after any bias correction).
    pub bias: Vec<f32>,
    /// What bias correction added to the bias, per output channel (zeros when off).
    pub bias_delta: Vec<f32>,
    pub input: InputQuant,
    /// SmoothQuant's divisor per input feature (Linear) or channel (Conv2d), if on.
    pub smooth: Option<Vec<f32>>,
}

impl QuantLayer {
    pub fn bits(&self) -> u8 {
        self.weight.scheme.bits
    }

    /// Storage of this layer in bytes: the weight packed at b bits, one f32 scale per slice plus
    /// a zero point of ⌈b/8⌉ bytes when the scheme is asymmetric (a symmetric one has Z fixed),
    /// the f32 bias, the smoothing factors, and a static input's f32 scale and zero point.
    pub fn bytes(&self) -> usize {
        let act_bits = match self.input {
            InputQuant::Static(a) => Some(a.scheme.bits),
            _ => None,
        };
        LayerSize {
            weights: self.weight.q.len(),
            bits: self.bits(),
            slices: self.weight.slices.len(),
            symmetric: self.weight.scheme.symmetric,
            bias: self.bias.len(),
            smooth: self.smooth.as_ref().map_or(0, Vec::len),
            static_act_bits: act_bits,
        }
        .bytes()
    }
}

/// What a quantized layer stores, for its size in bytes (see [`QuantLayer::bytes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerSize {
    pub weights: usize,
    pub bits: u8,
    /// Number of (scale, zero point) pairs.
    pub slices: usize,
    pub symmetric: bool,
    pub bias: usize,
    /// SmoothQuant factors stored.
    pub smooth: usize,
    /// The bits of a static input's parameters, if the input is static.
    pub static_act_bits: Option<u8>,
}

impl LayerSize {
    /// ⌈weights·b / 8⌉ + slices·(4 + zero-point bytes) + 4·bias + 4·smooth + the input's (s, Z).
    pub fn bytes(&self) -> usize {
        let b = self.bits as usize;
        let zp = if self.symmetric { 0 } else { b.div_ceil(8) };
        let act = self.static_act_bits.map_or(0, |a| 4 + (a as usize).div_ceil(8));
        (self.weights * b).div_ceil(8) + self.slices * (4 + zp) + 4 * self.bias + 4 * self.smooth + act
    }
}

/// A model with some of its layers quantized.
pub struct QuantModel {
    /// The FP32 model, unchanged.
    pub fp32: Model,
    /// One entry per model layer: `Some` for a quantized Linear / Conv2d.
    pub layers: Vec<Option<QuantLayer>>,
    /// The static parameters of the model's output (full mode), if quantized.
    pub output: Option<ActParams>,
    /// The FP32 model with ŵ and b′ in place of the weights: what the simulation runs.
    sim: Fp32Runner,
}

/// Bytes of a model left entirely in FP32.
pub fn fp32_bytes(model: &Model) -> usize {
    4 * model.params()
}

impl QuantModel {
    /// Assembles a quantized model; `layers[i]` must quantize layer i of `fp32` (a Linear or Conv2d
    /// whose weight has as many values as `weight`).
    pub fn new(fp32: Model, layers: Vec<Option<QuantLayer>>, output: Option<ActParams>) -> Result<QuantModel, ModelError> {
        let mut sim = fp32.clone();
        for (i, ql) in layers.iter().enumerate() {
            let Some(ql) = ql else { continue };
            let layer = sim.layers.get_mut(i).ok_or(ModelError::Empty)?;
            let bad = |what: &'static str| ModelError::TensorLength { layer: ql.name.clone(), tensor: what, expected: 0, found: 0 };
            let (w, b) = match &mut layer.kind {
                LayerKind::Linear(l) => (&mut l.w, &mut l.b),
                LayerKind::Conv2d(c) => (&mut c.w, &mut c.b),
                _ => return Err(bad("weight (not a Linear or Conv2d)")),
            };
            if w.len() != ql.weight.dequant.len() || b.len() != ql.bias.len() {
                return Err(ModelError::TensorLength { layer: ql.name.clone(), tensor: "weight", expected: w.len() as u128, found: ql.weight.dequant.len() });
            }
            w.copy_from_slice(&ql.weight.dequant);
            b.copy_from_slice(&ql.bias);
        }
        let sim = Fp32Runner::new(Model::new(fp32.input, sim.layers, usize::MAX)?);
        Ok(QuantModel { fp32, layers, output, sim })
    }

    /// The quantized layers, in model order.
    pub fn quantized(&self) -> impl Iterator<Item = &QuantLayer> {
        self.layers.iter().flatten()
    }

    /// Total storage in bytes: quantized layers as [`QuantLayer::bytes`], the rest in FP32, and
    /// the output's parameters.
    pub fn bytes(&self) -> usize {
        let mut total = 0;
        for (l, q) in self.fp32.layers.iter().zip(&self.layers) {
            total += match q {
                Some(q) => q.bytes(),
                None => 4 * l.kind.params(),
            };
        }
        total + self.output.map_or(0, |a| 4 + (a.scheme.bits as usize).div_ceil(8))
    }

    /// Layer i of the simulation alone on a batch x: [B, shapes[i]] → y: [B, shapes[i + 1]]
    /// (x is quantized in place first when layer i is quantized).
    pub fn forward_layer(&self, i: usize, batch: usize, x: &mut [f32], y: &mut Vec<f32>) {
        if let Some(ql) = &self.layers[i] {
            quantize_input(ql, self.fp32.shapes[i], batch, x);
        }
        self.sim.forward_layer(i, batch, x, y);
    }

    /// The simulated output for a batch x: [B, input] → [B, output].
    pub fn forward(&self, x: &[f32]) -> Result<Vec<f32>, ModelError> {
        let mut out = Vec::new();
        let last = self.fp32.layers.len() - 1;
        self.run(x, &mut |i, y| {
            if i == last {
                out = y.to_vec();
            }
        })?;
        Ok(out)
    }

    /// Runs a batch and calls `each(i, y)` with the output of every layer i, as the quantized
    /// model computes it (the last one fake-quantized when the output is).
    pub fn run(&self, x: &[f32], each: &mut dyn FnMut(usize, &[f32])) -> Result<(), ModelError> {
        self.run_with_inputs(x, &mut |_, _| {}, each)
    }

    /// As [`QuantModel::run`], and also calls `input(i, x̂)` with the input of every quantized
    /// layer i after its quantization (the tensor between its QuantizeLinear and the layer).
    pub fn run_with_inputs(
        &self,
        x: &[f32],
        input: &mut dyn FnMut(usize, &[f32]),
        each: &mut dyn FnMut(usize, &[f32]),
    ) -> Result<(), ModelError> {
        let last = self.fp32.layers.len() - 1;
        let mut quantized_out = Vec::new();
        self.sim.run_hooked(
            x,
            &mut |i, batch, cur| {
                if let Some(ql) = &self.layers[i] {
                    quantize_input(ql, self.fp32.shapes[i], batch, cur);
                    input(i, cur);
                }
            },
            &mut |i, y| match (i == last, self.output) {
                (true, Some(a)) => {
                    quantized_out.resize(y.len(), 0.0);
                    kernels::fake_quant(y, &a.params, a.scheme.rounding, 0, &mut quantized_out);
                    each(i, &quantized_out);
                }
                _ => each(i, y),
            },
        )
    }
}

/// (channels, values per channel per sample) of a sample shape: a flat input's features are its
/// channels; an image's channels each hold an H×W plane.
pub fn channel_of(shape: Shape) -> (usize, usize) {
    match shape {
        Shape::Flat(f) => (f, 1),
        Shape::Chw(c, h, w) => (c, h * w),
    }
}

/// Applies a quantized layer's input transform to `x` ([B, shape]) in place: the SmoothQuant
/// division, then the fake-quantization of its [`InputQuant`].
pub fn quantize_input(ql: &QuantLayer, shape: Shape, batch: usize, x: &mut [f32]) {
    smooth_input(ql, shape, x);
    fake_quant_input(ql, shape, batch, x);
}

/// The fake-quantization of a quantized layer's [`InputQuant`] alone, on an input that is
/// already smoothed ([`smooth_input`]).
pub fn fake_quant_input(ql: &QuantLayer, shape: Shape, batch: usize, x: &mut [f32]) {
    let (channels, plane) = channel_of(shape);
    match ql.input {
        InputQuant::Float => {}
        InputQuant::Static(a) => fake_quant_in_place(x, &a.params, &a.scheme),
        InputQuant::Dynamic { strategy: DynamicMode::Alwc, scheme } => {
            let (lo, hi) = x.iter().fold((0f32, 0f32), |(a, b), &v| (a.min(v), b.max(v)));
            if let Ok((p, _)) = QParams::from_range(lo, hi, &scheme) {
                fake_quant_in_place(x, &p, &scheme);
            }
        }
        InputQuant::Dynamic { strategy: DynamicMode::Acwl, scheme } => {
            // One range per channel j over the whole batch (and the image plane).
            let mut col = Vec::with_capacity(batch * plane);
            for j in 0..channels {
                col.clear();
                for b in 0..batch {
                    let start = (b * channels + j) * plane;
                    col.extend_from_slice(&x[start..start + plane]);
                }
                let (lo, hi) = col.iter().fold((0f32, 0f32), |(a, b), &v| (a.min(v), b.max(v)));
                let Ok((p, _)) = QParams::from_range(lo, hi, &scheme) else { continue };
                fake_quant_in_place(&mut col, &p, &scheme);
                for b in 0..batch {
                    let start = (b * channels + j) * plane;
                    x[start..start + plane].copy_from_slice(&col[b * plane..(b + 1) * plane]);
                }
            }
        }
    }
}

/// SmoothQuant's division of a quantized layer's input x ([B, shape]) in place, when it is on:
/// x̃[b, j, p] = x[b, j, p] / s[j].
pub fn smooth_input(ql: &QuantLayer, shape: Shape, x: &mut [f32]) {
    let (channels, plane) = channel_of(shape);
    if let Some(s) = &ql.smooth {
        for (i, v) in x.iter_mut().enumerate() {
            *v /= s[(i / plane) % channels];
        }
    }
}

/// The inverse of [`smooth_input`]: x[b, j, p] = x̃[b, j, p] · s[j] (nothing when SmoothQuant is off).
pub fn unsmooth_input(ql: &QuantLayer, shape: Shape, x: &mut [f32]) {
    let (channels, plane) = channel_of(shape);
    if let Some(s) = &ql.smooth {
        for (i, v) in x.iter_mut().enumerate() {
            *v *= s[(i / plane) % channels];
        }
    }
}

/// x ← fake_quant(x), through a small buffer (the kernels read and write separate slices).
fn fake_quant_in_place(x: &mut [f32], p: &QParams, scheme: &Scheme) {
    const CHUNK: usize = 1024;
    let mut buf = [0f32; CHUNK];
    for (c, chunk) in x.chunks_mut(CHUNK).enumerate() {
        let n = chunk.len();
        buf[..n].copy_from_slice(chunk);
        kernels::fake_quant(&buf[..n], p, scheme.rounding, c * CHUNK, chunk);
    }
}

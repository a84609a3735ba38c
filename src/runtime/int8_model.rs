//! Integer-only inference of a network of [`Int8Op`]s (Linear, Conv2d, max / average
//! pooling, ReLU; Flatten is free on the [B, C, H, W] buffer), every tensor int8.
//! [`crate::ptq::int8::int8_engine`] builds one from a quantized model; [`crate::ptq::executable`]
//! uses it for every static model it can run:
//!
//! - weights: int8, symmetric (zero point 0), one scale per tensor or per output channel;
//! - activations: int8 with the (s, Z) the static calibration chose;
//! - each Linear / Conv2d runs as [`QLinear`] / [`QConv2d`] with the following ReLU fused;
//! - input pixels p ∈ 0..=255 enter through a 256-entry table (p − 128 when s = 1/255, Z = −128).

use super::qconv::{ConvScratch, QConv2d};
use super::qlinear::QLinear;
use super::qpool::QPool2d;

/// Integer layers that do not make a network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Int8ChainError {
    /// No Linear, Conv2d or pooling layer.
    Empty,
    /// Op `op` gives `gives` values per sample, the next sized op takes `next_takes`.
    Mismatch { op: usize, gives: usize, next_takes: usize },
}

impl std::fmt::Display for Int8ChainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Int8ChainError::Empty => f.write_str("the integer network has no Linear, Conv2d or pooling layer"),
            Int8ChainError::Mismatch { op, gives, next_takes } => write!(f, "integer op #{op} gives {gives} values per sample, the next takes {next_takes}"),
        }
    }
}

impl std::error::Error for Int8ChainError {}

/// One integer layer.
#[derive(Clone, Debug)]
pub enum Int8Op {
    /// A Linear with its ReLU fused.
    Linear(QLinear),
    /// A Conv2d with its ReLU fused.
    Conv(QConv2d),
    /// Max or average pooling (the output keeps the input's (s, Z)).
    Pool(QPool2d),
    /// A ReLU that no layer before it could fuse: y = max(q, Z).
    Relu { zero_point: i8 },
}

impl Int8Op {
    /// (values in, values out) per sample.
    pub fn lens(&self) -> (usize, usize) {
        match self {
            Int8Op::Linear(l) => (l.k, l.n),
            Int8Op::Conv(c) => (c.geometry.in_len(), c.geometry.out_len()),
            Int8Op::Pool(p) => (p.in_len(), p.out_len()),
            Int8Op::Relu { .. } => (0, 0),
        }
    }
}

/// An integer network (the name is historical: it runs CNNs too).
pub struct Int8Mlp {
    layers: Vec<Int8Op>,
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

/// Images per pass of [`Int8Mlp::predict`].
pub const PREDICT_CHUNK: usize = 32;

/// Pixel input: s = 1/255, Z = −128, so q = p − 128 exactly.
pub const INPUT_SCALE: f32 = 1.0 / 255.0;
pub const INPUT_ZERO_POINT: i32 = -128;

impl Int8Mlp {
    /// A network from its integer layers (each Linear / Conv2d with its ReLU fused), the pixel →
    /// int8 table of the input, and the output's (s, Z). Each layer must take what the one before
    /// it gives.
    pub fn from_parts(layers: Vec<Int8Op>, input_lut: [i8; 256], out_scale: f32, out_zero_point: i32) -> Result<Int8Mlp, Int8ChainError> {
        let sized: Vec<(usize, (usize, usize))> = layers.iter().map(Int8Op::lens).enumerate().filter(|&(_, (i, _))| i > 0).collect();
        let first = sized.first().ok_or(Int8ChainError::Empty)?.1;
        let last = sized.last().ok_or(Int8ChainError::Empty)?.1;
        if let Some(w) = sized.windows(2).find(|w| w[0].1 .1 != w[1].1 .0) {
            return Err(Int8ChainError::Mismatch { op: w[0].0, gives: w[0].1 .1, next_takes: w[1].1 .0 });
        }
        let input_is_offset = input_lut.iter().enumerate().all(|(p, &q)| q as i32 == p as i32 + INPUT_ZERO_POINT);
        Ok(Int8Mlp { in_features: first.0, classes: last.1, input_lut, input_is_offset, layers, out_scale, out_zero_point })
    }

    /// The integer layers, in order.
    pub fn layers(&self) -> &[Int8Op] {
        &self.layers
    }

    /// Predicted classes for images given as u8 pixels [B, in_features].
    /// `scratch` is reused between calls.
    ///
    /// The batch runs [`PREDICT_CHUNK`] images at a time through every layer, so that the int8
    /// activations between layers stay in cache (500 CNN images hold 3 MiB after the first conv).
    pub fn predict(&self, pixels: &[u8], scratch: &mut Int8Scratch) -> Vec<u8> {
        let mut out = Vec::with_capacity(pixels.len() / self.in_features.max(1));
        for chunk in pixels.chunks(PREDICT_CHUNK * self.in_features.max(1)) {
            out.extend(crate::model::argmax_rows(self.forward_q(chunk, scratch), self.classes));
        }
        out
    }

    /// The int8 logits [B, classes] (scale `out_scale`, zero point `out_zero_point`) for images
    /// given as u8 pixels [B, in_features].
    pub fn forward_q<'s>(&self, pixels: &[u8], scratch: &'s mut Int8Scratch) -> &'s [i8] {
        let batch = pixels.len() / self.in_features.max(1);
        let Int8Scratch { a, b, acc, conv } = scratch;
        a.clear();
        if self.input_is_offset {
            a.extend(pixels.iter().map(|&p| (p as i32 + INPUT_ZERO_POINT) as i8));
        } else {
            a.extend(pixels.iter().map(|&p| self.input_lut[p as usize]));
        }
        for l in &self.layers {
            match l {
                Int8Op::Relu { zero_point } => {
                    a.iter_mut().for_each(|v| *v = (*v).max(*zero_point));
                    continue;
                }
                _ => {
                    b.clear();
                    b.resize(batch * l.lens().1, 0);
                }
            }
            match l {
                Int8Op::Linear(q) => q.forward(a, batch, acc, b),
                Int8Op::Conv(c) => c.forward(a, batch, conv, b),
                Int8Op::Pool(p) => p.forward(a, batch, b),
                Int8Op::Relu { .. } => {}
            }
            std::mem::swap(a, b);
        }
        a
    }
}

/// Reusable buffers for [`Int8Mlp::predict`].
#[derive(Default)]
pub struct Int8Scratch {
    a: Vec<i8>,
    b: Vec<i8>,
    acc: Vec<i32>,
    conv: ConvScratch,
}

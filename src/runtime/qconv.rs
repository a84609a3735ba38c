//! An integer-only Conv2d with TensorFlow Lite's reference semantics
//! (`reference/integer_ops/conv.h`), run as im2col onto the int8 GEMM of [`QLinear`].
//!
//! Shape legend: B = batch, C = input channels, H×W = input plane, O = output channels,
//! k = kernel side, OH×OW = output plane, K = C·k·k (the fan-in).
//!
//! ```text
//! x: [B, C, H, W] int8 (s_x, zp_x)       w: [O, C, k, k] int8 (per-channel s_w[o], zero point 0)
//! acc[b, o, oy, ox] = Σ_{c, ky, kx} w[o, c, ky, kx] · (x[b, c, oy·stride + ky − pad, ox·stride + kx − pad] − zp_x) + bias_q[o]
//!                     a position outside the image holds zp_x (the real value 0), so it adds nothing
//! y[b, o, oy, ox]   = clamp(requantize(acc, M0[o], shift[o]) + zp_y, act_min, act_max)
//! OH = ⌊(H + 2·pad − k) / stride⌋ + 1, the same for OW
//! ```
//!
//! im2col: the patches of an image become the rows of cols: [OH·OW, K], column index
//! c·k·k + ky·k + kx (the order of a row of w), with zp_x where the patch leaves the image. Then
//! `[OH·OW, K] · wᵀ` is the Linear product of [`QLinear`] (the zero-point term folded into its
//! bias, its int32 bound proved at construction), and the [OH·OW, O] result is transposed back
//! to the model's [O, OH, OW].
//!
//! [`conv2d_reference`] is the scalar twin: the formula above as written, in i64, from the real
//! parameters; tests hold the two bit-exact.

use super::qlinear::{AccumulatorOverflow, QLinear, QLinearSpec};
use super::requant::{quantize_multiplier, requantize};

/// The geometry of a convolution over one input plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub in_h: usize,
    pub in_w: usize,
}

impl ConvGeometry {
    /// (OH, OW) = (⌊(H + 2·pad − k) / stride⌋ + 1, the same for W).
    pub fn out_hw(&self) -> (usize, usize) {
        let out = |n: usize| (n + 2 * self.padding).saturating_sub(self.kernel) / self.stride.max(1) + 1;
        (out(self.in_h), out(self.in_w))
    }

    /// K = C·k·k.
    pub fn fan_in(&self) -> usize {
        self.in_channels * self.kernel * self.kernel
    }

    /// Values per sample: input C·H·W, output O·OH·OW.
    pub fn in_len(&self) -> usize {
        self.in_channels * self.in_h * self.in_w
    }

    pub fn out_len(&self) -> usize {
        let (oh, ow) = self.out_hw();
        self.out_channels * oh * ow
    }
}

/// Everything a quantized Conv2d needs, in real terms (see [`QLinearSpec`] for the fields it shares).
pub struct QConvSpec<'a> {
    pub geometry: ConvGeometry,
    /// w: [O, C, k, k] int8, symmetric.
    pub w: &'a [i8],
    /// One scale per output channel, or one for the whole tensor.
    pub w_scales: &'a [f32],
    /// bias: [O] float, or empty.
    pub bias: &'a [f32],
    pub x_scale: f32,
    pub x_zero_point: i32,
    pub y_scale: f32,
    pub y_zero_point: i32,
    /// Fuse ReLU: clamp at zp_y.
    pub relu: bool,
}

/// An integer Conv2d: im2col, then the requantized int8 GEMM.
#[derive(Clone, Debug)]
pub struct QConv2d {
    pub geometry: ConvGeometry,
    /// The padding value: zp_x as int8.
    pad_value: i8,
    /// The Linear over patches: N = O, K = C·k·k.
    linear: QLinear,
}

/// Reusable buffers of [`QConv2d::forward`].
#[derive(Default)]
pub struct ConvScratch {
    cols: Vec<i8>,
    rows: Vec<i8>,
    acc: Vec<i32>,
}

impl QConv2d {
    /// The layer, or the proof that an accumulator could leave int32.
    pub fn try_new(s: &QConvSpec) -> Result<QConv2d, AccumulatorOverflow> {
        let g = s.geometry;
        let linear = QLinear::try_new(&QLinearSpec {
            w: s.w,
            n: g.out_channels,
            k: g.fan_in(),
            w_scales: s.w_scales,
            bias: s.bias,
            x_scale: s.x_scale,
            x_zero_point: s.x_zero_point,
            y_scale: s.y_scale,
            y_zero_point: s.y_zero_point,
            relu: s.relu,
        })?;
        Ok(QConv2d { geometry: g, pad_value: s.x_zero_point.clamp(-128, 127) as i8, linear })
    }

    /// The output stage's clamp (act_min, act_max) and zp_y.
    pub fn linear(&self) -> &QLinear {
        &self.linear
    }

    /// y: [B, O, OH, OW] from x: [B, C, H, W].
    pub fn forward(&self, x: &[i8], batch: usize, scratch: &mut ConvScratch, y: &mut [i8]) {
        let g = self.geometry;
        assert!(x.len() == batch * g.in_len() && y.len() == batch * g.out_len(), "QConv2d::forward: shapes");
        let ConvScratch { cols, rows, acc } = scratch;
        // One image at a time (see [`conv_by_rows`]): its patches and int32 sums stay in cache.
        conv_by_rows_in(x, batch, &g, self.pad_value, y, cols, rows, |c, plane, r| self.linear.forward(c, plane, acc, r));
    }
}

/// A convolution as a Linear over patches, one image at a time: for each image, cols =
/// im2col(x_b) [OH·OW, K] (padded with `pad`), `linear(cols, OH·OW, rows)` fills rows
/// [OH·OW, O], and rows are transposed into y_b [O, OH·OW]. x: [B, C, H, W], y: [B, O, OH, OW].
///
/// One image at a time because a whole batch's patches did not stay in cache (64 images of the
/// lab's CNN: 1.6 MiB of int32 sums), and ran 3× slower per image under Node.
pub fn conv_by_rows<T: Copy + Default, Y: Copy + Default>(x: &[T], batch: usize, g: &ConvGeometry, pad: T, y: &mut [Y], linear: impl FnMut(&[T], usize, &mut [Y])) {
    conv_by_rows_in(x, batch, g, pad, y, &mut Vec::new(), &mut Vec::new(), linear)
}

#[allow(clippy::too_many_arguments)]
fn conv_by_rows_in<T: Copy + Default, Y: Copy + Default>(
    x: &[T],
    batch: usize,
    g: &ConvGeometry,
    pad: T,
    y: &mut [Y],
    cols: &mut Vec<T>,
    rows: &mut Vec<Y>,
    mut linear: impl FnMut(&[T], usize, &mut [Y]),
) {
    let (oh, ow) = g.out_hw();
    let (k, plane, o_n) = (g.fan_in(), oh * ow, g.out_channels);
    for b in 0..batch {
        cols.clear();
        cols.resize(plane * k, pad);
        im2col(&x[b * g.in_len()..(b + 1) * g.in_len()], g, cols);
        rows.clear();
        rows.resize(plane * o_n, Y::default());
        linear(cols, plane, rows);
        // [OH·OW, O] → [O, OH·OW]
        let dst = &mut y[b * plane * o_n..(b + 1) * plane * o_n];
        for (p, row) in rows.chunks_exact(o_n).enumerate() {
            for (o, &v) in row.iter().enumerate() {
                dst[o * plane + p] = v;
            }
        }
    }
}

/// The patches of one image, cols: [OH·OW, C·k·k], pre-filled with the padding value.
fn im2col<T: Copy>(x: &[T], g: &ConvGeometry, cols: &mut [T]) {
    let (oh, ow) = g.out_hw();
    let (kk, k) = (g.kernel, g.fan_in());
    for oy in 0..oh {
        for ox in 0..ow {
            let row = &mut cols[(oy * ow + ox) * k..(oy * ow + ox + 1) * k];
            for c in 0..g.in_channels {
                for ky in 0..kk {
                    // iy = oy·stride + ky − pad, outside [0, H) stays padding.
                    let Some(iy) = (oy * g.stride + ky).checked_sub(g.padding).filter(|&iy| iy < g.in_h) else { continue };
                    let src = &x[(c * g.in_h + iy) * g.in_w..(c * g.in_h + iy + 1) * g.in_w];
                    let dst = &mut row[(c * kk + ky) * kk..(c * kk + ky + 1) * kk];
                    for (kx, d) in dst.iter_mut().enumerate() {
                        if let Some(ix) = (ox * g.stride + kx).checked_sub(g.padding).filter(|&ix| ix < g.in_w) {
                            *d = src[ix];
                        }
                    }
                }
            }
        }
    }
}

/// The scalar twin: the module header's formula, term by term, in i64, with bias_q and the
/// multipliers derived here from the real parameters (TFLite: bias_q = round(b / (s_x·s_w)),
/// M = QuantizeMultiplier(s_x·s_w / s_y)). y: [B, O, OH, OW].
pub fn conv2d_reference(s: &QConvSpec, x: &[i8], batch: usize) -> Vec<i8> {
    let g = s.geometry;
    let (oh, ow) = g.out_hw();
    let kk = g.kernel;
    let scale_w = |o: usize| if s.w_scales.len() == 1 { s.w_scales[0] } else { s.w_scales[o] };
    // As QConv2d: a zero point past 127 leaves every output at 127, not act_min > act_max.
    let act_min = if s.relu { s.y_zero_point.clamp(-128, 127) } else { -128 };
    let mut y = vec![0i8; batch * g.out_len()];
    for b in 0..batch {
        for o in 0..g.out_channels {
            let acc_scale = s.x_scale as f64 * scale_w(o) as f64;
            let bias_q = s.bias.get(o).map_or(0, |&v| (v as f64 / acc_scale).round() as i64);
            let m = quantize_multiplier(acc_scale / s.y_scale as f64);
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = bias_q;
                    for c in 0..g.in_channels {
                        for ky in 0..kk {
                            for kx in 0..kk {
                                let iy = (oy * g.stride + ky) as i64 - g.padding as i64;
                                let ix = (ox * g.stride + kx) as i64 - g.padding as i64;
                                let inside = (0..g.in_h as i64).contains(&iy) && (0..g.in_w as i64).contains(&ix);
                                let xq = if inside { x[b * g.in_len() + (c * g.in_h + iy as usize) * g.in_w + ix as usize] as i64 } else { s.x_zero_point as i64 };
                                acc += s.w[((o * g.in_channels + c) * kk + ky) * kk + kx] as i64 * (xq - s.x_zero_point as i64);
                            }
                        }
                    }
                    let acc = i32::try_from(acc).expect("conv2d_reference: the accumulator fits i32 for layers QConv2d accepts");
                    y[((b * g.out_channels + o) * oh + oy) * ow + ox] = requantize(acc, m, s.y_zero_point, act_min, 127) as i8;
                }
            }
        }
    }
    y
}

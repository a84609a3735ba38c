//! Weight-only quantization (W8A32, W4A32, W2A32, W1A32; the seeds' W8A16 / W4A16 RTN is the
//! same idea with 16-bit activations): the integer weights that PTQ chose, multiplied with
//! float activations; 8 and 4 bits on the grouped kernels (see "Which kernel" below), the
//! others stored as b-bit two's-complement fields packed 8/b to a byte, unpacked and
//! dequantized one row at a time.
//!
//! ```text
//! g = ⌊k / group⌋                             the (s, Z) pair of w[o, k] is pair [o, g]
//! ŵ[o, k] = (q[o, k] − Z[o, g]) · s[o, g]     (the same f32 arithmetic as the simulation's ŵ)
//! y[m, o] = Σ_k x[m, k] · ŵ[o, k] + b[o]
//! ```
//!
//! Packing: along k, value j of a byte sits in bits [j·b, (j+1)·b), two's complement in b
//! bits; rows are padded to whole bytes. A Conv2d runs the same product over its im2col patches.
//!
//! **Which kernel.** 8- and 4-bit layers run on the engine's one quantized matmul,
//! [`qmatmul::matmul_f32_grouped`] (the language models' kernels: integers unpacked in simd128
//! registers for a few rows, blocks of rows dequantized for the f32 GEMM for many), on
//! [`GroupedWeights`] with each group padded to whole SIMD blocks when it is not already:
//! ```text
//! g' = g rounded up to 8 (8-bit) or 32 (4-bit),  K' = (K / g) · g'
//! u[o, G·g' + j] = q[o, G·g + j] + o_b  (j < g),   o_b  (g ≤ j < g': a zero weight)      o_b = 0 (8-bit), 8 (4-bit)
//! x'[m, G·g' + j] = x[m, G·g + j]       (j < g),   0
//! ŵ = scale · (u − o_b) + min,  scale = s,  min = −s·Z   (absent when every Z = 0: ŵ = s·q bit for bit)
//! ```
//! Taken only while K' ≤ 2K, and for |Z| ≤ 2^12: −s·Z is rounded once, by at most
//! 2^12 · 2^-24 = 2^-12 of a step s (qplay's asymmetric zero points may lie outside the b-bit
//! range, e.g. −172 at 8 bits for an all-positive row). Other layers (1 and 2 bits, tiny
//! groups, a file's far-off zero points) dequantize one row at a time below. The float sums
//! differ from the simulation's in order and in that one rounding: within f32 rounding.

use super::gemm_f32::dot;
use super::qconv::{conv_by_rows, ConvGeometry};
use super::qmatmul;
use crate::quant::grouped::{GroupedWeights, ScaleFormat, BLOCK4, MAX_GROUP};
use crate::quant::QuantError;

/// Bit widths that pack whole into a byte.
pub const PACKABLE_BITS: [u8; 4] = [1, 2, 4, 8];

#[derive(Clone, Debug, PartialEq)]
pub struct PackedIntWeights {
    pub bits: u8,
    pub n: usize,
    pub k: usize,
    /// Bytes per row: ⌈K·bits / 8⌉.
    pub row_bytes: usize,
    pub data: Vec<u8>,
    /// Consecutive values of a row that share one (s, Z): K for per-channel / per-tensor.
    pub group: usize,
    /// s[o, g] and Z[o, g], [N, ⌈K / group⌉].
    pub scales: Vec<f32>,
    pub zero_points: Vec<i32>,
}

impl PackedIntWeights {
    /// Packs quantized weights q: [N, K], signed `bits`-bit integers, with one (s, Z) per
    /// `group` consecutive values of a row (`scales`, `zero_points`: [N, ⌈K / group⌉]).
    pub fn from_quantized(q: &[i32], n: usize, k: usize, bits: u8, group: usize, scales: &[f32], zero_points: &[i32]) -> Result<PackedIntWeights, QuantError> {
        if !PACKABLE_BITS.contains(&bits) {
            return Err(QuantError::Setting { name: "weight-only bits", message: format!("{bits} bits do not pack whole into a byte: use 1, 2, 4 or 8") });
        }
        // checked: on wasm32, n · k of 65,536 × 65,537 wraps to 65,536.
        if n.checked_mul(k) != Some(q.len()) {
            return Err(QuantError::ShapeMismatch { shape: vec![n, k], elements: n.checked_mul(k), values: q.len() });
        }
        if group == 0 || !k.is_multiple_of(group) {
            return Err(QuantError::GroupSize { group_size: group, axis_len: k });
        }
        let pairs = n * (k / group);
        if scales.len() != pairs || zero_points.len() != pairs {
            return Err(QuantError::LengthMismatch { left: scales.len().min(zero_points.len()), right: pairs });
        }
        crate::quant::check_finite(scales)?;
        // q − Z in i32 (the dequantization) needs |Z| well inside it; qplay's zero points are
        // at most 2^24 (`QParams::from_range`), and so is any a file may hold.
        if let Some(z) = zero_points.iter().find(|z| z.unsigned_abs() > 1 << 24) {
            return Err(QuantError::OutOfRange { setting: "zero point", value: *z as f64, allowed: "[-16777216, 16777216]" });
        }
        let (qmin, qmax) = (-(1i32 << (bits - 1)), (1i32 << (bits - 1)) - 1);
        if let Some(i) = q.iter().position(|v| !(qmin..=qmax).contains(v)) {
            return Err(QuantError::Setting { name: "weight-only bits", message: format!("q[{i}] = {} is outside the {bits}-bit range [{qmin}, {qmax}]", q[i]) });
        }
        let per_byte = 8 / bits as usize;
        let row_bytes = k.div_ceil(per_byte);
        let mask = ((1u16 << bits) - 1) as u8;
        let mut data = vec![0u8; n * row_bytes];
        for o in 0..n {
            for (j, &v) in q[o * k..(o + 1) * k].iter().enumerate() {
                data[o * row_bytes + j / per_byte] |= ((v as u8) & mask) << ((j % per_byte) * bits as usize);
            }
        }
        Ok(PackedIntWeights { bits, n, k, row_bytes, data, group, scales: scales.to_vec(), zero_points: zero_points.to_vec() })
    }

    /// Row o's integers, sign-extended from `bits`.
    pub fn unpack_row(&self, o: usize, out: &mut [i32]) {
        let row = &self.data[o * self.row_bytes..(o + 1) * self.row_bytes];
        let out = &mut out[..self.k];
        match self.bits {
            8 => out.iter_mut().zip(row).for_each(|(v, &b)| *v = b as i8 as i32),
            // Low nibble first: value 2j in bits 0–3 of byte j, value 2j + 1 in bits 4–7.
            4 => {
                for (pair, &b) in out.chunks_mut(2).zip(row) {
                    pair[0] = ((b << 4) as i8 >> 4) as i32;
                    if let Some(hi) = pair.get_mut(1) {
                        *hi = (b as i8 >> 4) as i32;
                    }
                }
            }
            bits => {
                let per_byte = 8 / bits as usize;
                let shift_back = 8 - bits as u32;
                for (vals, &byte) in out.chunks_mut(per_byte).zip(row) {
                    for (j, v) in vals.iter_mut().enumerate() {
                        // Move the b-bit field to the top of an i8 and shift back: sign extension.
                        *v = (((byte >> (j * bits as usize)) << shift_back) as i8 >> shift_back) as i32;
                    }
                }
            }
        }
    }

    /// Row o dequantized: ŵ[o, k] = (q − Z) · s with its pair's (s, Z).
    pub fn dequant_row(&self, o: usize, q: &mut [i32], out: &mut [f32]) {
        self.unpack_row(o, q);
        let groups = self.k / self.group;
        let pairs = self.scales[o * groups..(o + 1) * groups].iter().zip(&self.zero_points[o * groups..(o + 1) * groups]);
        for ((w, q), (&s, &z)) in out[..self.k].chunks_mut(self.group).zip(q.chunks(self.group)).zip(pairs) {
            for (w, &v) in w.iter_mut().zip(q) {
                *w = (v - z) as f32 * s;
            }
        }
    }

    /// Storage in bytes: the packed integers and one f32 scale per pair (zero points not
    /// counted: see [`crate::ptq::qmodel::LayerSize`] for the model's accounting).
    pub fn bytes(&self) -> usize {
        self.data.len() + 4 * self.scales.len()
    }

    /// y [M, N] = x [M, K] · ŵᵀ + bias, dequantizing one row of ŵ at a time.
    pub fn forward(&self, x: &[f32], m: usize, bias: &[f32], y: &mut [f32]) {
        assert!(x.len() == m * self.k && y.len() == m * self.n && (bias.is_empty() || bias.len() == self.n), "PackedIntWeights::forward: shapes");
        if self.k == 0 {
            // No inputs: every output is its bias (`chunks_exact(0)` below would panic).
            for (i, v) in y.iter_mut().enumerate() {
                *v = bias.get(i % self.n).copied().unwrap_or(0.0);
            }
            return;
        }
        let mut q = vec![0i32; self.k];
        let mut w = vec![0f32; self.k];
        for o in 0..self.n {
            self.dequant_row(o, &mut q, &mut w);
            let b = bias.get(o).copied().unwrap_or(0.0);
            for (r, x) in x.chunks_exact(self.k).enumerate() {
                // Eight lanes (SIMD): the sum's order differs from the simulation's f32 GEMM,
                // within f32 rounding (the tests' tolerance).
                y[r * self.n + o] = dot(x, &w) + b;
            }
        }
    }
}

/// The largest |Z| the grouped kernels take (see the module header).
pub const MAX_ZERO_POINT: u32 = 1 << 12;

/// A weight-only layer's integers padded to whole SIMD blocks for [`qmatmul`] (see the module header).
#[derive(Clone, Debug)]
pub struct PaddedGrouped {
    pub w: GroupedWeights,
    /// The layer's K and g (the padded ones are `w.k`, `w.group`).
    pub k: usize,
    pub group: usize,
}

impl PaddedGrouped {
    /// `None` when the layer does not fit the grouped kernels (bits, zero points, padding cost).
    pub fn of(p: &PackedIntWeights) -> Option<PaddedGrouped> {
        let (block, offset) = match p.bits {
            8 => (8, 0u8),
            4 => (BLOCK4, 8u8),
            _ => return None,
        };
        if p.n == 0 || p.k == 0 || p.zero_points.iter().any(|z| z.unsigned_abs() > MAX_ZERO_POINT) {
            return None;
        }
        let padded = p.group.next_multiple_of(block);
        let groups = p.k / p.group;
        let k_pad = groups * padded;
        if padded > MAX_GROUP || k_pad > 2 * p.k {
            return None;
        }
        let row_bytes = if p.bits == 4 { k_pad / 2 } else { k_pad };
        let mut q = vec![0u8; p.n.checked_mul(row_bytes)?];
        let mut ints = vec![0i32; p.k];
        for (o, row) in q.chunks_exact_mut(row_bytes).enumerate() {
            p.unpack_row(o, &mut ints);
            for col in 0..k_pad {
                let (g, j) = (col / padded, col % padded);
                // u = q + o_b; a padding value is u = o_b, the weight 0.
                let u = if j < p.group { ints[g * p.group + j] + offset as i32 } else { offset as i32 } as u8;
                if p.bits == 8 {
                    row[col] = u;
                } else {
                    // llama.cpp's block layout: byte j of block c holds values 32c + j (low) and 32c + 16 + j (high).
                    let byte = &mut row[col / BLOCK4 * 16 + col % 16];
                    *byte |= if col % BLOCK4 < 16 { u & 0x0F } else { u << 4 };
                }
            }
        }
        // ŵ = s·(q − Z) = s·q + (−s·Z).
        let min = p.zero_points.iter().any(|&z| z != 0).then(|| p.scales.iter().zip(&p.zero_points).map(|(&s, &z)| -(s * z as f32)).collect());
        let w = GroupedWeights { n: p.n, k: k_pad, group: padded, bits: p.bits, q, offset, scale: p.scales.clone(), min, scale_format: ScaleFormat::F32 };
        w.validate().ok()?;
        Some(PaddedGrouped { w, k: p.k, group: p.group })
    }

    /// y [M, N] = x [M, K] · ŵᵀ + bias.
    pub fn forward(&self, x: &[f32], m: usize, bias: &[f32], y: &mut [f32]) -> Result<(), QuantError> {
        if x.len() != m.saturating_mul(self.k) {
            return Err(QuantError::LengthMismatch { left: x.len(), right: m.saturating_mul(self.k) });
        }
        if self.w.k == self.k {
            qmatmul::matmul_f32_grouped(x, m, &self.w, y)?;
        } else {
            let (g, g_pad) = (self.group, self.w.group);
            let mut padded = vec![0f32; m * self.w.k];
            for (dst, src) in padded.chunks_exact_mut(g_pad).zip(x.chunks_exact(g)) {
                dst[..g].copy_from_slice(src);
            }
            qmatmul::matmul_f32_grouped(&padded, m, &self.w, y)?;
        }
        if !bias.is_empty() {
            for row in y.chunks_exact_mut(self.w.n) {
                row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
            }
        }
        Ok(())
    }
}

/// How a weight-only layer holds its integers.
#[derive(Clone, Debug)]
pub enum WeightStore {
    /// 8- and 4-bit layers that fit: the grouped kernels.
    Grouped(PaddedGrouped),
    /// Everything else: packed rows, dequantized one at a time.
    Packed(PackedIntWeights),
}

impl WeightStore {
    /// (N, K) of the Linear (of the Conv2d's patches), unpadded.
    pub fn shape(&self) -> (usize, usize) {
        match self {
            WeightStore::Grouped(g) => (g.w.n, g.k),
            WeightStore::Packed(p) => (p.n, p.k),
        }
    }
}

/// A weight-only Linear or Conv2d: packed weights, a float bias, float activations.
#[derive(Clone, Debug)]
pub struct WeightOnlyLayer {
    pub weights: WeightStore,
    pub bias: Vec<f32>,
    /// `Some` for a Conv2d: its geometry over one input plane.
    pub conv: Option<ConvGeometry>,
}

impl WeightOnlyLayer {
    pub fn new(weights: PackedIntWeights, bias: &[f32], conv: Option<ConvGeometry>) -> Result<WeightOnlyLayer, QuantError> {
        if !(bias.is_empty() || bias.len() == weights.n) {
            return Err(QuantError::LengthMismatch { left: bias.len(), right: weights.n });
        }
        if let Some(g) = conv {
            if g.fan_in() != weights.k || g.out_channels != weights.n {
                return Err(QuantError::ShapeMismatch { shape: vec![g.out_channels, g.fan_in()], elements: Some(g.out_channels * g.fan_in()), values: weights.n * weights.k });
            }
        }
        crate::quant::check_finite(bias)?;
        let weights = match PaddedGrouped::of(&weights) {
            Some(g) => WeightStore::Grouped(g),
            None => WeightStore::Packed(weights),
        };
        Ok(WeightOnlyLayer { weights, bias: bias.to_vec(), conv })
    }

    /// Values per sample: (in, out).
    pub fn lens(&self) -> (usize, usize) {
        match self.conv {
            Some(g) => (g.in_len(), g.out_len()),
            None => {
                let (n, k) = self.weights.shape();
                (k, n)
            }
        }
    }

    /// y [M, N] = x [M, K] · ŵᵀ + bias on this layer's kernel.
    fn linear(&self, x: &[f32], m: usize, y: &mut [f32]) -> Result<(), QuantError> {
        match &self.weights {
            WeightStore::Grouped(g) => g.forward(x, m, &self.bias, y),
            WeightStore::Packed(p) => {
                p.forward(x, m, &self.bias, y);
                Ok(())
            }
        }
    }

    /// y [B, out] from x [B, in].
    pub fn forward(&self, x: &[f32], batch: usize) -> Result<Vec<f32>, QuantError> {
        let (inp, out) = self.lens();
        if batch.checked_mul(inp) != Some(x.len()) {
            return Err(QuantError::LengthMismatch { left: x.len(), right: batch.saturating_mul(inp) });
        }
        let y_len = batch.checked_mul(out).ok_or(QuantError::TooLarge { elements: None, limit: usize::MAX })?;
        let mut y = vec![0f32; y_len];
        match self.conv {
            None => self.linear(x, batch, &mut y)?,
            Some(g) => {
                let mut failed = Ok(());
                conv_by_rows(x, batch, &g, 0.0, &mut y, |cols, rows, o| {
                    if failed.is_ok() {
                        failed = self.linear(cols, rows, o);
                    }
                });
                failed?;
            }
        }
        Ok(y)
    }
}

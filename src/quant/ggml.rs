//! llama.cpp's legacy block formats, bit for bit as `ggml-common.h` declares them
//! and `ggml-quants.c` (`quantize_row_*_ref`, `dequantize_row_*`) computes them,
//! and as the PyPI `gguf` package (`gguf.quants`) reproduces them in numpy —
//! the independent reference of tests/suite/lm_kernels.rs (fixtures from
//! scripts/make_gguf_fixtures.py).
//!
//! ```text
//! block of QK = 32 values x[0..32], f16 little-endian, every step in f32 (no fused multiply-add):
//! Q8_0 (34 B: d, qs[32] i8)   d = max|x| / 127, id = d ≠ 0 ? 1/d : 0, qs[j] = roundf(x[j]·id)   (half away from 0)
//!                             y[j] = qs[j] · d
//! Q4_0 (18 B: d, qs[16])      M = the x of largest |x| (the first), d = M / −8, id = d ≠ 0 ? 1/d : 0,
//!                             u[j] = min(15, trunc(x[j]·id + 8.5)),  qs[j] = u[j] | u[j + 16] << 4
//!                             y[j] = (u[j] − 8) · d
//! Q4_1 (20 B: d, m, qs[16])   min, max of x, d = (max − min) / 15, id = d ≠ 0 ? 1/d : 0,
//!                             u[j] = min(15, trunc((x[j] − min)·id + 0.5)),  qs as Q4_0
//!                             y[j] = d · u[j] + m
//! ```
//! d and m are stored as f16 (round to nearest even; an overflow becomes ±Inf,
//! as in ggml), but the integers are computed with the f32 d, id and min, as
//! ggml does. Q4_0's truncation of x·id + 8.5 is round half up of x·id (x·id ≥ −8
//! up to rounding, so the sum is positive); ggml's C code converts through
//! `int8_t`, which truncates the same way.
//!
//! One corner where gguf-py and ggml's C differ: a Q4_0 block of −0.0 only.
//! C starts from max = 0.0 and keeps it (|−0.0| is not > 0), so d = 0.0 / −8 =
//! −0.0; gguf-py takes the first value, −0.0, and stores d = +0.0. We follow C
//! (tests/suite/lm_kernels.rs checks both the fixtures, which avoid that block, and
//! this case by hand).
//!
//! Conversions to and from [`GroupedWeights`] are lossless (group 32): Q8_0 →
//! 8-bit, Q4_0 → 4-bit with o = 8, Q4_1 → 4-bit with o = 0 and `min`; a
//! Q4_0 block's `qs` is exactly a 32-value block of the 4-bit layout, so a model
//! stored in Q4_0 runs on the grouped kernels as it is. f16 → f32 is exact.

use std::mem::size_of;

use half::f16;

use super::grouped::{GroupedWeights, ScaleFormat};
use super::{check_finite, QuantError};

/// Values per block (QK8_0 = QK4_0 = QK4_1).
pub const QK: usize = 32;

/// `block_q8_0`: f16 delta, 32 signed quants.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ8_0 {
    pub d: f16,
    pub qs: [i8; QK],
}

/// `block_q4_0`: f16 delta, 32 nibbles (byte j: value j low, value j + 16 high).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ4_0 {
    pub d: f16,
    pub qs: [u8; QK / 2],
}

/// `block_q4_1`: f16 delta, f16 min, 32 nibbles.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ4_1 {
    pub d: f16,
    pub m: f16,
    pub qs: [u8; QK / 2],
}

const _: () = assert!(size_of::<BlockQ8_0>() == 34);
const _: () = assert!(size_of::<BlockQ4_0>() == 18);
const _: () = assert!(size_of::<BlockQ4_1>() == 20);

/// The three formats, with GGML's type ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GgmlType {
    Q4_0,
    Q4_1,
    Q8_0,
}

impl GgmlType {
    /// `ggml_type` (GGML_TYPE_Q4_0 = 2, Q4_1 = 3, Q8_0 = 8).
    pub fn id(self) -> u32 {
        match self {
            GgmlType::Q4_0 => 2,
            GgmlType::Q4_1 => 3,
            GgmlType::Q8_0 => 8,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            GgmlType::Q4_0 => "Q4_0",
            GgmlType::Q4_1 => "Q4_1",
            GgmlType::Q8_0 => "Q8_0",
        }
    }

    /// Bytes per block of 32 values.
    pub fn type_size(self) -> usize {
        match self {
            GgmlType::Q4_0 => size_of::<BlockQ4_0>(),
            GgmlType::Q4_1 => size_of::<BlockQ4_1>(),
            GgmlType::Q8_0 => size_of::<BlockQ8_0>(),
        }
    }

    /// Bytes of `values` values (a multiple of 32).
    pub fn bytes_for(self, values: usize) -> Result<usize, QuantError> {
        if !values.is_multiple_of(QK) {
            return Err(QuantError::GroupSize { group_size: QK, axis_len: values });
        }
        Ok(values / QK * self.type_size())
    }
}

#[inline]
fn half_at(b: &[u8], at: usize) -> f16 {
    f16::from_bits(u16::from_le_bytes([b[at], b[at + 1]]))
}

/// Checks x for a block format: a multiple of 32 values, all finite.
fn check_blocks_in(x: &[f32]) -> Result<usize, QuantError> {
    if !x.len().is_multiple_of(QK) {
        return Err(QuantError::GroupSize { group_size: QK, axis_len: x.len() });
    }
    check_finite(x)?;
    Ok(x.len() / QK)
}

/// The number of whole blocks in `bytes`, or a typed error.
fn check_blocks_out(ty: GgmlType, bytes: &[u8]) -> Result<usize, QuantError> {
    let ts = ty.type_size();
    if !bytes.len().is_multiple_of(ts) {
        return Err(QuantError::Setting {
            name: "block bytes",
            message: format!("{} bytes are not whole {} blocks of {ts} bytes", bytes.len(), ty.name()),
        });
    }
    Ok(bytes.len() / ts)
}

// ---- Q8_0 ----

/// `quantize_row_q8_0_ref` for one block.
pub fn quantize_block_q8_0(x: &[f32; QK]) -> BlockQ8_0 {
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    // roundf: half away from zero. |x·id| ≤ 127 up to rounding, so the cast does not saturate.
    BlockQ8_0 { d: f16::from_f32(d), qs: std::array::from_fn(|j| (x[j] * id).round() as i8) }
}

/// Raw Q8_0 blocks of x (x.len() a multiple of 32, all finite).
pub fn quantize_q8_0(x: &[f32]) -> Result<Vec<u8>, QuantError> {
    let nb = check_blocks_in(x)?;
    let mut out = Vec::with_capacity(nb * size_of::<BlockQ8_0>());
    for chunk in x.chunks_exact(QK) {
        let b = quantize_block_q8_0(chunk.try_into().expect("chunks of 32"));
        out.extend_from_slice(&b.d.to_bits().to_le_bytes());
        out.extend(b.qs.iter().map(|&q| q as u8));
    }
    Ok(out)
}

/// `dequantize_row_q8_0`: y = qs · d.
pub fn dequantize_q8_0(bytes: &[u8]) -> Result<Vec<f32>, QuantError> {
    let nb = check_blocks_out(GgmlType::Q8_0, bytes)?;
    let mut y = Vec::with_capacity(nb * QK);
    for b in bytes.chunks_exact(size_of::<BlockQ8_0>()) {
        let d = half_at(b, 0).to_f32();
        y.extend(b[2..].iter().map(|&q| q as i8 as f32 * d));
    }
    Ok(y)
}

// ---- Q4_0 ----

/// `quantize_row_q4_0_ref` for one block.
pub fn quantize_block_q4_0(x: &[f32; QK]) -> BlockQ4_0 {
    let (mut amax, mut max) = (0f32, 0f32);
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    let d = max / -8.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    // trunc(x·id + 8.5) ≥ 0 (x·id ≥ −8 up to rounding); `as u8` truncates, then cap at 15.
    let u = |v: f32| ((v * id + 8.5) as u8).min(15);
    BlockQ4_0 { d: f16::from_f32(d), qs: std::array::from_fn(|j| u(x[j]) | u(x[j + QK / 2]) << 4) }
}

/// Raw Q4_0 blocks of x (x.len() a multiple of 32, all finite).
pub fn quantize_q4_0(x: &[f32]) -> Result<Vec<u8>, QuantError> {
    let nb = check_blocks_in(x)?;
    let mut out = Vec::with_capacity(nb * size_of::<BlockQ4_0>());
    for chunk in x.chunks_exact(QK) {
        let b = quantize_block_q4_0(chunk.try_into().expect("chunks of 32"));
        out.extend_from_slice(&b.d.to_bits().to_le_bytes());
        out.extend_from_slice(&b.qs);
    }
    Ok(out)
}

/// `dequantize_row_q4_0`: y[j] = (u[j] − 8) · d.
pub fn dequantize_q4_0(bytes: &[u8]) -> Result<Vec<f32>, QuantError> {
    let nb = check_blocks_out(GgmlType::Q4_0, bytes)?;
    let mut y = vec![0f32; nb * QK];
    for (b, out) in bytes.chunks_exact(size_of::<BlockQ4_0>()).zip(y.chunks_exact_mut(QK)) {
        let d = half_at(b, 0).to_f32();
        for (j, &q) in b[2..].iter().enumerate() {
            out[j] = ((q & 0x0F) as i32 - 8) as f32 * d;
            out[j + QK / 2] = ((q >> 4) as i32 - 8) as f32 * d;
        }
    }
    Ok(y)
}

// ---- Q4_1 ----

/// `quantize_row_q4_1_ref` for one block.
pub fn quantize_block_q4_1(x: &[f32; QK]) -> BlockQ4_1 {
    let (mut min, mut max) = (f32::MAX, -f32::MAX);
    for &v in x {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    let d = (max - min) / 15.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    // trunc((x − min)·id + 0.5) ≥ 0.5 > 0, so `as u8` truncates; cap at 15.
    let u = |v: f32| (((v - min) * id + 0.5) as u8).min(15);
    BlockQ4_1 { d: f16::from_f32(d), m: f16::from_f32(min), qs: std::array::from_fn(|j| u(x[j]) | u(x[j + QK / 2]) << 4) }
}

/// Raw Q4_1 blocks of x (x.len() a multiple of 32, all finite).
pub fn quantize_q4_1(x: &[f32]) -> Result<Vec<u8>, QuantError> {
    let nb = check_blocks_in(x)?;
    let mut out = Vec::with_capacity(nb * size_of::<BlockQ4_1>());
    for chunk in x.chunks_exact(QK) {
        let b = quantize_block_q4_1(chunk.try_into().expect("chunks of 32"));
        out.extend_from_slice(&b.d.to_bits().to_le_bytes());
        out.extend_from_slice(&b.m.to_bits().to_le_bytes());
        out.extend_from_slice(&b.qs);
    }
    Ok(out)
}

/// `dequantize_row_q4_1`: y[j] = d · u[j] + m.
pub fn dequantize_q4_1(bytes: &[u8]) -> Result<Vec<f32>, QuantError> {
    let nb = check_blocks_out(GgmlType::Q4_1, bytes)?;
    let mut y = vec![0f32; nb * QK];
    for (b, out) in bytes.chunks_exact(size_of::<BlockQ4_1>()).zip(y.chunks_exact_mut(QK)) {
        let (d, m) = (half_at(b, 0).to_f32(), half_at(b, 2).to_f32());
        for (j, &q) in b[4..].iter().enumerate() {
            out[j] = d * (q & 0x0F) as f32 + m;
            out[j + QK / 2] = d * (q >> 4) as f32 + m;
        }
    }
    Ok(y)
}

/// Quantizes x to raw blocks of `ty`.
pub fn quantize(ty: GgmlType, x: &[f32]) -> Result<Vec<u8>, QuantError> {
    match ty {
        GgmlType::Q8_0 => quantize_q8_0(x),
        GgmlType::Q4_0 => quantize_q4_0(x),
        GgmlType::Q4_1 => quantize_q4_1(x),
    }
}

/// Dequantizes raw blocks of `ty`.
pub fn dequantize(ty: GgmlType, bytes: &[u8]) -> Result<Vec<f32>, QuantError> {
    match ty {
        GgmlType::Q8_0 => dequantize_q8_0(bytes),
        GgmlType::Q4_0 => dequantize_q4_0(bytes),
        GgmlType::Q4_1 => dequantize_q4_1(bytes),
    }
}

// ---- GroupedWeights ----

/// An [N, K] matrix stored as `ty` blocks (row after row, K/32 blocks each) as
/// [`GroupedWeights`] with group 32, without loss. K must be a multiple of 32;
/// `bytes` must hold exactly N·K/32 blocks.
pub fn to_grouped(ty: GgmlType, bytes: &[u8], n: usize, k: usize) -> Result<GroupedWeights, QuantError> {
    if !k.is_multiple_of(QK) || k == 0 {
        return Err(QuantError::GroupSize { group_size: QK, axis_len: k });
    }
    let nk = match n.checked_mul(k) {
        Some(v) if v > 0 => v,
        elements => return Err(QuantError::ShapeMismatch { shape: vec![n, k], elements, values: 0 }),
    };
    let want = (nk / QK).checked_mul(ty.type_size());
    if want != Some(bytes.len()) {
        return Err(QuantError::LengthMismatch { left: bytes.len(), right: want.unwrap_or(usize::MAX) });
    }
    let nb = nk / QK;
    let ts = ty.type_size();
    let mut scale = Vec::with_capacity(nb);
    let (q, offset, min) = match ty {
        GgmlType::Q8_0 => {
            let mut q = Vec::with_capacity(nk);
            for b in bytes.chunks_exact(ts) {
                scale.push(half_at(b, 0).to_f32());
                q.extend_from_slice(&b[2..]);
            }
            (q, 0, None)
        }
        GgmlType::Q4_0 => {
            let mut q = Vec::with_capacity(nk / 2);
            for b in bytes.chunks_exact(ts) {
                scale.push(half_at(b, 0).to_f32());
                q.extend_from_slice(&b[2..]);
            }
            (q, 8, None)
        }
        GgmlType::Q4_1 => {
            let mut q = Vec::with_capacity(nk / 2);
            let mut min = Vec::with_capacity(nb);
            for b in bytes.chunks_exact(ts) {
                scale.push(half_at(b, 0).to_f32());
                min.push(half_at(b, 2).to_f32());
                q.extend_from_slice(&b[4..]);
            }
            (q, 0, Some(min))
        }
    };
    let bits = if ty == GgmlType::Q8_0 { 8 } else { 4 };
    let w = GroupedWeights { n, k, group: QK, bits, q, offset, scale, min, scale_format: ScaleFormat::F16 };
    w.validate()?;
    Ok(w)
}

/// An f32 that must be stored as f16 without loss.
fn exact_f16(v: f32, what: &'static str) -> Result<f16, QuantError> {
    let h = f16::from_f32(v);
    let back = h.to_f32();
    if back.to_bits() == v.to_bits() || (back.is_nan() && v.is_nan()) {
        Ok(h)
    } else {
        Err(QuantError::Setting { name: what, message: format!("{v} is not exactly an f16: the conversion would lose it") })
    }
}

/// The blocks of `ty` that hold `w` exactly: group 32 and the matching bits,
/// offset, minimum, and scales (and minimums) that are exactly f16. Anything
/// else is a typed error rather than a silent rounding.
pub fn from_grouped(w: &GroupedWeights, ty: GgmlType) -> Result<Vec<u8>, QuantError> {
    w.validate()?;
    let fits = match ty {
        GgmlType::Q8_0 => w.bits == 8 && w.offset == 0 && w.min.is_none(),
        GgmlType::Q4_0 => w.bits == 4 && w.offset == 8 && w.min.is_none(),
        GgmlType::Q4_1 => w.bits == 4 && w.offset == 0 && w.min.is_some(),
    };
    if w.group != QK || !fits {
        return Err(QuantError::Setting {
            name: "ggml format",
            message: format!(
                "{} needs group 32, {}; these weights are {}-bit, group {}, offset {}{}",
                ty.name(),
                match ty {
                    GgmlType::Q8_0 => "8-bit, offset 0, no minimum",
                    GgmlType::Q4_0 => "4-bit, offset 8, no minimum",
                    GgmlType::Q4_1 => "4-bit, offset 0, with a minimum",
                },
                w.bits,
                w.group,
                w.offset,
                if w.min.is_some() { ", with a minimum" } else { "" }
            ),
        });
    }
    let nb = w.scale.len();
    let per_block = if w.bits == 8 { QK } else { QK / 2 };
    let mut out = Vec::with_capacity(nb * ty.type_size());
    for (b, qs) in w.q.chunks_exact(per_block).enumerate() {
        out.extend_from_slice(&exact_f16(w.scale[b], "scale")?.to_bits().to_le_bytes());
        if let Some(min) = &w.min {
            out.extend_from_slice(&exact_f16(min[b], "min")?.to_bits().to_le_bytes());
        }
        out.extend_from_slice(qs);
    }
    Ok(out)
}

//! Group-wise quantized weight matrices: the storage a language model's Linear
//! layers run on (llama.cpp's Q8_0 / Q4_0 / Q4_1, runq.c's Q8 groups, AWQ/GPTQ's
//! W4 groups), and their round-to-nearest (RTN) quantization.
//!
//! ```text
//! N = output features (rows), K = input features, g = group size (g | K; g = K is per-channel),
//! G = K / g groups per row, b = bits (8 or 4), o = the matrix's integer offset
//!
//! w[n, k] ≈ scale[n, k/g] · (u[n, k] − o) + min[n, k/g]          (min = 0 when absent)
//! ```
//!
//! Storage (`q`), row-major, each row starting on a byte:
//! - **8 bits**: one two's-complement i8 per value, `q[n·K + k] = u[n, k] as u8`; o = 0.
//! - **4 bits**: K must be a multiple of 32, split into blocks of 32 values
//!   stored in 16 bytes exactly as llama.cpp's Q4_0 / Q4_1 `qs`: byte j of
//!   block c holds value 32c + j in its low nibble and value 32c + 16 + j in
//!   its high nibble. u ∈ [0, 15] unsigned, o = 8 (symmetric) or 0 (with `min`).
//!   A Q4_0 block's `qs` is then copied as it is, and the SIMD kernels unpack
//!   16 bytes into 32 values with a mask and shifts (no shuffles).
//!
//! Groups of 4-bit weights are whole blocks (g a multiple of 32), so a group
//! never splits a byte.
//!
//! Round-to-nearest ([`quantize_rtn`]), per group of g values x:
//! ```text
//! symmetric, full range (the Q4_0 trick): M = the x of largest |x| (the first one), d = M / −2^(b−1),
//!                                      i = clamp(round(x / d), −2^(b−1), 2^(b−1) − 1)    (M ↦ −2^(b−1) exactly)
//! symmetric, narrow range:             d = max|x| / (2^(b−1) − 1), i = clamp(round(x / d), −(2^(b−1) − 1), 2^(b−1) − 1)
//! asymmetric (Q4_1):                   d = (max − min) / (2^b − 1),  i = clamp(round((x − min) / d), 0, 2^b − 1)
//! ```
//! round = round half to even of the exact quotient. The quotient is computed in
//! f64 from the f32 x and d: a tie in real arithmetic is exactly representable
//! there, and a non-tie lies at least 2^-26 away from k + ½ (x − (k + ½)·d is a
//! nonzero multiple of 2^(e_d − 25) when |x / d| ≥ ½), far beyond f64's error
//! (≤ 2^8 · 2^-53), so the rounding is that of the real quotient.
//! (llama.cpp's own rounding — truncation of x·(1/d) + 8.5 for Q4_0, `roundf`
//! for Q8_0 — lives in [`super::ggml`], bit for bit.)
//!
//! A group whose d is 0 (all zeros, or a constant group when asymmetric) gets
//! scale 0 and i = 0 (symmetric) or the lowest level (asymmetric, min = the
//! constant): dequantization gives back exactly 0 or the constant, and no
//! division by 0 ever happens (no NaN).
//!
//! Stored integers: 4-bit u = i + 8 (symmetric, o = 8) or u = i (asymmetric,
//! o = 0). 8-bit symmetric stores i (o = 0). 8-bit asymmetric has 256 levels
//! that do not fit a signed byte with o = 0, so it stores i − 128 and folds
//! the shift into the minimum: min' = min + 128·d (rounded to f32 once), and the
//! quotient is taken against min' so that each value goes to the nearest level
//! of the grid actually stored.

use super::{check_finite, QuantError};

/// The largest group size the integer kernels accept, so that one group's
/// integer dot product fits an i32:
/// ```text
/// |q_x| ≤ 128 (any i8 activation), |u − o| ≤ 128 (8-bit; ≤ 15 for 4-bit)
/// |Σ_{k∈g} q_x · (u − o)| ≤ g · 2^14 ≤ (2^17 − 1) · 2^14 = 2^31 − 2^14 < 2^31
/// ```
/// (with activations quantized symmetrically, |q_x| ≤ 127 and the bound is
/// 2^31 / (127 · 128) ≈ 132,104; 2^17 − 1 also covers hand-made −128s).
pub const MAX_GROUP: usize = (1 << 17) - 1;

/// Values per 4-bit block (llama.cpp's QK4_0): 16 bytes, low nibbles first.
pub const BLOCK4: usize = 32;

/// The precision the scales and minimums are stored at (they are held as f32
/// either way; F16 means every value is exactly an f16, as in llama.cpp's blocks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaleFormat {
    F32,
    F16,
}

impl ScaleFormat {
    pub fn bytes(self) -> usize {
        match self {
            ScaleFormat::F32 => 4,
            ScaleFormat::F16 => 2,
        }
    }
}

/// An [N, K] matrix quantized in groups of `group` consecutive values along K.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupedWeights {
    /// Rows N (output features).
    pub n: usize,
    /// Columns K (input features).
    pub k: usize,
    /// Values per group g, g | K; g = K is per-channel.
    pub group: usize,
    /// 8 or 4.
    pub bits: u8,
    /// The integers, [N, K] at `bits` per value (layout: see the module header).
    pub q: Vec<u8>,
    /// o: the integer weight is u − o. 0 for 8-bit; 8 (symmetric) or 0 (with `min`) for 4-bit.
    pub offset: u8,
    /// [N, G] scales.
    pub scale: Vec<f32>,
    /// [N, G] minimums, added after scaling (asymmetric formats).
    pub min: Option<Vec<f32>>,
    /// The precision of `scale` and `min` in storage (for [`GroupedWeights::bytes`]).
    pub scale_format: ScaleFormat,
}

/// Round-to-nearest settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtnSpec {
    /// 8 or 4.
    pub bits: u8,
    /// Values per group; must divide K (4-bit: a multiple of 32).
    pub group: usize,
    /// Symmetric (scale only) or asymmetric (scale and minimum).
    pub symmetric: bool,
    /// Symmetric only: ±(2^(b−1) − 1) instead of the full [−2^(b−1), 2^(b−1) − 1].
    /// Asymmetric grids always use all 2^b levels (as Q4_1); `narrow` is ignored there.
    pub narrow: bool,
}

/// Checks a shape's sizes before anything is allocated: N, K ≥ 1, N·K without
/// overflow and equal to `values`.
pub fn check_shape(n: usize, k: usize, values: usize) -> Result<usize, QuantError> {
    let elements = n.checked_mul(k);
    if elements != Some(values) {
        return Err(QuantError::ShapeMismatch { shape: vec![n, k], elements, values });
    }
    if values == 0 {
        return Err(QuantError::Empty);
    }
    Ok(values)
}

/// Checks bits, group and offset for an [N, K] matrix (sizes already checked).
fn check_format(k: usize, group: usize, bits: u8, offset: u8) -> Result<(), QuantError> {
    if !matches!(bits, 4 | 8) {
        return Err(QuantError::Setting { name: "bits", message: format!("grouped weights are 8- or 4-bit, not {bits}-bit") });
    }
    if group == 0 || !k.is_multiple_of(group) {
        return Err(QuantError::GroupSize { group_size: group, axis_len: k });
    }
    if group > MAX_GROUP {
        return Err(QuantError::OutOfRange {
            setting: "group",
            value: group as f64,
            allowed: "[1, 131071] (one group's integer dot product must fit an i32)",
        });
    }
    if bits == 4 && !group.is_multiple_of(BLOCK4) {
        return Err(QuantError::Setting {
            name: "group",
            message: format!("4-bit weights are stored in blocks of 32 (as Q4_0): the group ({group}) must be a multiple of 32"),
        });
    }
    match (bits, offset) {
        (8, 0) | (4, 0) | (4, 8) => Ok(()),
        _ => Err(QuantError::Setting {
            name: "offset",
            message: format!("a {bits}-bit offset must be {}, not {offset}", if bits == 8 { "0" } else { "0 or 8" }),
        }),
    }
}

impl GroupedWeights {
    /// G = K / g.
    pub fn groups(&self) -> usize {
        self.k / self.group.max(1)
    }

    /// Bytes of `q` per row: K (8-bit) or K / 2 (4-bit).
    pub fn row_bytes(&self) -> usize {
        if self.bits == 4 {
            self.k / 2
        } else {
            self.k
        }
    }

    /// Checks every invariant the kernels rely on (the fields are public, so
    /// anyone can build an inconsistent value): bits, offset, group, lengths.
    pub fn validate(&self) -> Result<(), QuantError> {
        let nk = self.n.checked_mul(self.k);
        if nk.is_none() || self.n == 0 || self.k == 0 {
            return Err(QuantError::ShapeMismatch { shape: vec![self.n, self.k], elements: nk, values: self.q.len() });
        }
        check_format(self.k, self.group, self.bits, self.offset)?;
        let q_len = self.n * self.row_bytes();
        if self.q.len() != q_len {
            return Err(QuantError::LengthMismatch { left: self.q.len(), right: q_len });
        }
        let ng = self.n * self.groups();
        if self.scale.len() != ng {
            return Err(QuantError::LengthMismatch { left: self.scale.len(), right: ng });
        }
        if let Some(min) = &self.min {
            if min.len() != ng {
                return Err(QuantError::LengthMismatch { left: min.len(), right: ng });
            }
        }
        Ok(())
    }

    /// u[row, col] − o, the integer weight; `None` outside the matrix or when
    /// `q` is too short.
    pub fn int_at(&self, row: usize, col: usize) -> Option<i32> {
        if row >= self.n || col >= self.k {
            return None;
        }
        let rb = self.row_bytes();
        if self.bits == 4 {
            let byte = *self.q.get(row * rb + col / BLOCK4 * 16 + col % 16)?;
            let u = if col % BLOCK4 < 16 { byte & 0x0F } else { byte >> 4 };
            Some(u as i32 - self.offset as i32)
        } else {
            self.q.get(row * rb + col).map(|&b| b as i8 as i32)
        }
    }

    /// out [K] = row `row` dequantized: scale · (u − o) (+ min when present).
    /// Without a minimum nothing is added, so a −0.0 stays −0.0 (as in ggml).
    /// (After `validate`, every `int_at` of the row exists.)
    pub fn dequantize_row(&self, row: usize, out: &mut [f32]) -> Result<(), QuantError> {
        self.validate()?;
        if row >= self.n {
            return Err(QuantError::OutOfRange { setting: "row", value: row as f64, allowed: "[0, N)" });
        }
        if out.len() != self.k {
            return Err(QuantError::LengthMismatch { left: out.len(), right: self.k });
        }
        let groups = self.groups();
        for (g, chunk) in out.chunks_exact_mut(self.group).enumerate() {
            let s = self.scale[row * groups + g];
            let min = self.min.as_ref().map(|m| m[row * groups + g]);
            let k0 = g * self.group;
            for (j, o) in chunk.iter_mut().enumerate() {
                *o = dequantized(s, self.int_at(row, k0 + j).unwrap_or(0), min);
            }
        }
        Ok(())
    }

    /// The whole [N, K] matrix in f32: for tests and error metrics only (the
    /// kernels never build it).
    pub fn dequantize(&self) -> Result<Vec<f32>, QuantError> {
        self.validate()?;
        let mut out = vec![0f32; self.n * self.k];
        for (row, chunk) in out.chunks_exact_mut(self.k).enumerate() {
            self.dequantize_row(row, chunk)?;
        }
        Ok(out)
    }

    /// Storage in bytes: the integers, then every scale and minimum at its stored precision.
    pub fn bytes(&self) -> usize {
        let per = self.scale_format.bytes();
        self.q.len() + per * (self.scale.len() + self.min.as_ref().map_or(0, Vec::len))
    }

    /// bytes · 8 / (N · K): 8.5 for Q8_0, 4.5 for Q4_0, 5 for Q4_1.
    pub fn bits_per_weight(&self) -> f64 {
        let values = (self.n as f64) * (self.k as f64);
        if values == 0.0 {
            return 0.0;
        }
        self.bytes() as f64 * 8.0 / values
    }
}

/// Stores integer u at (row, col) of a zeroed `q` (4-bit: into its nibble).
#[inline]
pub(crate) fn put(q: &mut [u8], bits: u8, row_bytes: usize, row: usize, col: usize, u: i32) {
    if bits == 4 {
        let byte = &mut q[row * row_bytes + col / BLOCK4 * 16 + col % 16];
        let u = (u as u8) & 0x0F;
        *byte |= if col % BLOCK4 < 16 { u } else { u << 4 };
    } else {
        q[row * row_bytes + col] = u as i8 as u8;
    }
}

/// One group's grid: value i ∈ [lo, hi] ↦ d · i + base.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Grid {
    pub(crate) d: f32,
    pub(crate) base: f32,
    pub(crate) lo: i32,
    pub(crate) hi: i32,
}

/// The RTN grid of one group (see the module header); GPTQ (`crate::ptq::gptq`) rounds onto it too.
pub(crate) fn group_grid(x: &[f32], bits: u8, symmetric: bool, narrow: bool) -> Grid {
    let half = 1i32 << (bits - 1);
    if symmetric {
        if narrow {
            let qmax = half - 1;
            let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
            Grid { d: amax / qmax as f32, base: 0.0, lo: -qmax, hi: qmax }
        } else {
            // The value of largest magnitude (the first one), sign included: it maps to −2^(b−1).
            let (mut amax, mut max) = (0f32, 0f32);
            for &v in x {
                if amax < v.abs() {
                    amax = v.abs();
                    max = v;
                }
            }
            Grid { d: max / -(half as f32), base: 0.0, lo: -half, hi: half - 1 }
        }
    } else {
        let (lo_x, hi_x) = x.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
        let levels = (1i32 << bits) - 1;
        // In f64: max − min of two finite f32 cannot overflow there, and its
        // quotient by 15 or 255 fits an f32.
        let d = ((hi_x as f64 - lo_x as f64) / levels as f64) as f32;
        if bits == 8 {
            // i − 128 is stored: the grid starts at min + 128·d, level −128.
            Grid { d, base: (lo_x as f64 + 128.0 * d as f64) as f32, lo: -128, hi: 127 }
        } else {
            Grid { d, base: lo_x, lo: 0, hi: levels }
        }
    }
}

/// Round-to-nearest quantization of w: [N, K] (row-major) in groups along K.
///
/// Errors: a bad shape, bits other than 8 / 4, a group that is 0, does not
/// divide K, exceeds [`MAX_GROUP`] or (4-bit) is not a multiple of 32, and any
/// NaN / ±Inf (`NonFinite`, naming the first). Sizes are checked before anything
/// is allocated.
pub fn quantize_rtn(w: &[f32], n: usize, k: usize, spec: RtnSpec) -> Result<GroupedWeights, QuantError> {
    check_shape(n, k, w.len())?;
    let offset = if spec.bits == 4 && spec.symmetric { 8 } else { 0 };
    check_format(k, spec.group, spec.bits, offset)?;
    check_finite(w)?;
    let row_bytes = if spec.bits == 4 { k / 2 } else { k };
    let groups = k / spec.group;
    let mut q = vec![0u8; n * row_bytes];
    let mut scale = vec![0f32; n * groups];
    let mut min = if spec.symmetric { None } else { Some(vec![0f32; n * groups]) };
    for row in 0..n {
        for g in 0..groups {
            let k0 = g * spec.group;
            let x = &w[row * k + k0..row * k + k0 + spec.group];
            let grid = group_grid(x, spec.bits, spec.symmetric, spec.narrow);
            scale[row * groups + g] = grid.d;
            if let Some(min) = &mut min {
                min[row * groups + g] = grid.base;
            }
            for (j, &v) in x.iter().enumerate() {
                let i = if grid.d == 0.0 {
                    // Zero (or constant) group: every value is exactly the base.
                    if spec.symmetric {
                        0
                    } else {
                        grid.lo
                    }
                } else {
                    // i = clamp(round_half_even((x − base) / d), lo, hi), the quotient in f64.
                    let r = ((v as f64 - grid.base as f64) / grid.d as f64).round_ties_even();
                    r.clamp(grid.lo as f64, grid.hi as f64) as i32
                };
                put(&mut q, spec.bits, row_bytes, row, k0 + j, i + offset as i32);
            }
        }
    }
    Ok(GroupedWeights { n, k, group: spec.group, bits: spec.bits, q, offset, scale, min, scale_format: ScaleFormat::F32 })
}

/// ŵ = s · (u − o) [+ min], one weight of a group from its integer u − o. Without a minimum
/// nothing is added, so a −0.0 stays −0.0 (as in ggml; x + 0.0 would turn it into +0.0).
#[inline]
pub fn dequantized(s: f32, int: i32, min: Option<f32>) -> f32 {
    match min {
        None => s * int as f32,
        Some(m) => s * int as f32 + m,
    }
}

//! Quantized matrix multiplies for a language model's Linear layers, on
//! group-wise weights ([`GroupedWeights`]: 8- or 4-bit, scale and optional
//! minimum per group of g values along K; llama.cpp's Q8_0 / Q4_0 / Q4_1 are
//! the case g = 32, see [`crate::quant::ggml`]).
//!
//! ```text
//! M = rows of activations (1 when decoding a token; the prompt length in prefill / perplexity),
//! K = input features, N = output features, g = group size, G = K / g, o = the weights' offset
//! W [N, K]: w[n, k] = scale[n, k/g] · (u[n, k] − o) + min[n, k/g]
//!
//! float activations (W8A16 / W4A16; f32 here):   x [M, K] f32
//!   y[m, n] = Σ_G ( scale[n, G] · Σ_{k∈G} x[m, k] · (u[n, k] − o)  +  min[n, G] · Σ_{k∈G} x[m, k] )
//!
//! int8 activations (W8A8 / W4A8), quantized per token and per group (runq.c):
//!   s_x[m, G] = max_{k∈G} |x[m, k]| / 127,  q_x[m, k] = clamp(round(x[m, k] / s_x), −127, 127)
//!   idot[m, n, G] = Σ_{k∈G} q_x[m, k] · (u[n, k] − o)                      exact, in i32
//!   y[m, n] = Σ_G ( (s_x[m, G] · scale[n, G]) · idot  +  min[n, G] · (s_x[m, G] · Σ_{k∈G} q_x[m, k]) )
//! ```
//!
//! **Why idot fits an i32** ([`crate::quant::grouped::MAX_GROUP`], checked when
//! weights are built and again by every kernel): |q_x| ≤ 127 (≤ 128 for any
//! i8), |u − o| ≤ 128 for 8-bit and ≤ 15 for 4-bit, so
//! |idot| ≤ g · 128 · 128 = g · 2^14 < 2^31 for g ≤ 2^17 − 1 = 131,071
//! (≈ 2^31 / (127 · 128) = 132,104 for symmetric activations). Every partial
//! sum the SIMD kernel forms is a sum over a subset of the same terms, so it
//! is bounded the same way.
//!
//! **Exactness.** The integer kernel's idot is the same integer in every
//! implementation, and its f32 epilogue runs the same operations in the same
//! order (per output: acc = 0; for each group in order,
//! acc += (s_x · scale) · f32(idot); then, with a minimum,
//! acc += min · (s_x · f32(Σ q_x))), without fused multiply-adds, so scalar and
//! simd128 give the same bits. (s_x · f32(Σ q_x)) depends on the row and group
//! only, so the SIMD kernel computes it once per row and group. The float
//! kernel sums x · (u − o) in a different order in SIMD lanes, so it agrees
//! with the reference within [`f32_grouped_tolerance`]. Activation
//! quantization gives the same q, s_x and Σ q_x everywhere.
//!
//! The weights are never dequantized to an f32 matrix: the kernels unpack the
//! integers in registers (simd128) or one group at a time (scalar). With float
//! activations and many rows (prefill, perplexity) [`matmul_f32_grouped`]
//! dequantizes one block of weight rows at a time (at most 256 KiB of f32) for the
//! f32 GEMM instead ([`dequant_blocks`]), within the same tolerance.
//!
//! A registry like [`super::gemm_i8`]'s: [`all`] lists the implementations of
//! this build, the scalar reference first, [`best`] is the fastest; the free
//! functions ([`matmul_f32_grouped`], [`matmul_i8_grouped`],
//! [`quantize_activations`], [`matmul_f32`]) run the fastest. FP32 weights use
//! [`super::gemm_f32`]'s kernels (the entry's `f32`), so a model written
//! against this registry has its FP32 baseline in the same place. Every entry
//! checks its inputs first and returns a typed error instead of panicking
//! (the weights' fields are public, so they are validated on every call, in
//! O(1)). simd128 lists the measured speeds.

use crate::quant::grouped::GroupedWeights;
use crate::quant::QuantError;

use super::gemm_f32::{self, GemmF32, PackedWf32};

pub mod dequant_blocks;
pub mod per_channel_i8;
pub mod scalar;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod simd128;

/// Activations quantized to int8 per token (row) and per group of `group` values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QuantizedActs {
    /// Rows M.
    pub m: usize,
    /// Columns K.
    pub k: usize,
    /// Values per group (the weights' group: the kernels need the same).
    pub group: usize,
    /// [M, K] q_x ∈ [−127, 127].
    pub q: Vec<i8>,
    /// [M, K/group] s_x.
    pub scale: Vec<f32>,
    /// [M, K/group] Σ q_x over the group (for the weights' minimum).
    pub sum: Vec<i32>,
}

impl QuantizedActs {
    /// G = K / group.
    pub fn groups(&self) -> usize {
        self.k / self.group.max(1)
    }

    /// Checks the lengths against M, K and the group (the fields are public).
    pub fn validate(&self) -> Result<(), QuantError> {
        if self.group == 0 || !self.k.is_multiple_of(self.group) {
            return Err(QuantError::GroupSize { group_size: self.group, axis_len: self.k });
        }
        expect_len(self.q.len(), self.m, self.k)?;
        expect_len(self.scale.len(), self.m, self.groups())?;
        expect_len(self.sum.len(), self.m, self.groups())
    }
}

/// `len` must be rows · cols (checked without overflow).
fn expect_len(len: usize, rows: usize, cols: usize) -> Result<(), QuantError> {
    let elements = rows.checked_mul(cols);
    if elements == Some(len) {
        Ok(())
    } else {
        Err(QuantError::ShapeMismatch { shape: vec![rows, cols], elements, values: len })
    }
}

/// Quantizes x [M, K] to int8 per row and per group of `group` values, as
/// llama2.c's runq.c: s = max|x| / 127, q = round(x / s) (half away from zero,
/// C's `round`), clamped to ±127. A group of zeros (or one whose s underflows
/// to 0) gets s = 0 and q = 0, never a NaN. NaN / ±Inf are rejected.
pub fn quantize_activations(x: &[f32], m: usize, k: usize, group: usize) -> Result<QuantizedActs, QuantError> {
    let mut out = QuantizedActs::default();
    quantize_activations_into(x, m, k, group, &mut out)?;
    Ok(out)
}

/// [`quantize_activations`] into an existing value, reusing its buffers (a
/// decoder quantizes one token per layer and step: no allocation once warm),
/// on the fastest implementation (all give the same integers and scales).
pub fn quantize_activations_into(x: &[f32], m: usize, k: usize, group: usize, out: &mut QuantizedActs) -> Result<(), QuantError> {
    (best().quantize_acts)(x, m, k, group, out)
}

/// Activations to int8 with one static scale s (calibrated beforehand) for every token and
/// group: q = round(x / s) half away from zero, as [`quantize_activations`] rounds, clamped to
/// ±127 (a value beyond the calibrated range saturates); s_x = s and Σ q per group as there.
pub fn quantize_activations_static_into(x: &[f32], m: usize, k: usize, group: usize, s: f32, out: &mut QuantizedActs) -> Result<(), QuantError> {
    if !(s.is_finite() && s > 0.0) {
        return Err(QuantError::OutOfRange { setting: "static activation scale", value: s as f64, allowed: "a positive finite number" });
    }
    prepare_activations(x, m, k, group, out)?;
    for (gi, (xg, qg)) in x.chunks_exact(group).zip(out.q.chunks_exact_mut(group)).enumerate() {
        out.scale[gi] = s;
        out.sum[gi] = round_group(xg, qg, s);
    }
    Ok(())
}

/// q = round(x / s) half away from zero, clamped to ±127, for one group; returns Σ q (|q| ≤ 127
/// and a group of at most MAX_GROUP values, checked by [`prepare_activations_shape`]: |Σ q| < 2^24).
pub(crate) fn round_group(xg: &[f32], qg: &mut [i8], s: f32) -> i32 {
    let mut sum = 0i32;
    for (q, &v) in qg.iter_mut().zip(xg) {
        let r = (v / s).round().clamp(-127.0, 127.0) as i8;
        *q = r;
        sum += r as i32;
    }
    sum
}

/// Checks activations to quantize (group, shape, finiteness) and sizes `out`
/// for them: q zeroed, scales 0, sums 0.
pub fn prepare_activations(x: &[f32], m: usize, k: usize, group: usize, out: &mut QuantizedActs) -> Result<(), QuantError> {
    prepare_activations_shape(x, m, k, group, out)?;
    first_non_finite(x).map_or(Ok(()), Err)
}

/// The error naming the first NaN / ±Inf of x, if any.
pub(crate) fn first_non_finite(x: &[f32]) -> Option<QuantError> {
    x.iter().position(|v| !v.is_finite()).map(|index| QuantError::NonFinite { index, value: x[index] })
}

/// [`prepare_activations`] without the finiteness scan, for a kernel that
/// detects NaN / ±Inf itself (and then reports [`first_non_finite`]).
pub(crate) fn prepare_activations_shape(x: &[f32], m: usize, k: usize, group: usize, out: &mut QuantizedActs) -> Result<(), QuantError> {
    // A group holds at most MAX_GROUP < 2^17 values, so Σ q (|q| ≤ 127) stays below 2^24 in an i32.
    if group == 0 || group > crate::quant::grouped::MAX_GROUP || !k.is_multiple_of(group) {
        return Err(QuantError::GroupSize { group_size: group, axis_len: k });
    }
    expect_len(x.len(), m, k)?;
    let groups = k / group;
    out.m = m;
    out.k = k;
    out.group = group;
    out.q.clear();
    out.q.resize(m * k, 0);
    out.scale.clear();
    out.scale.resize(m * groups, 0.0);
    out.sum.clear();
    out.sum.resize(m * groups, 0);
    Ok(())
}

/// Checks a float-activation product: valid weights, x [M, K], y [M, N].
pub fn check_f32_grouped(x: &[f32], m: usize, w: &GroupedWeights, y: &[f32]) -> Result<(), QuantError> {
    w.validate()?;
    expect_len(x.len(), m, w.k)?;
    expect_len(y.len(), m, w.n)
}

/// Checks an int8-activation product: valid weights and activations of M rows,
/// the same K and group, and an output of M · N · `per_output` values.
pub fn check_i8_grouped(a: &QuantizedActs, m: usize, w: &GroupedWeights, out_len: usize, per_output: usize) -> Result<(), QuantError> {
    w.validate()?;
    a.validate()?;
    if a.m != m {
        return Err(QuantError::LengthMismatch { left: a.m, right: m });
    }
    if a.k != w.k {
        return Err(QuantError::LengthMismatch { left: a.k, right: w.k });
    }
    if a.group != w.group {
        return Err(QuantError::Setting {
            name: "activation group",
            message: format!(
                "activations grouped by {} cannot meet weights grouped by {}: quantize them with the weights' group",
                a.group, w.group
            ),
        });
    }
    let cols = w.n.checked_mul(per_output).ok_or(QuantError::TooLarge { elements: None, limit: usize::MAX })?;
    expect_len(out_len, m, cols)
}

/// Σ_{k∈G} x[m, k] for every row and group, k increasing: [M, G] (x a whole
/// number of groups of `group` ≥ 1 values, as checked by the kernels).
pub(crate) fn x_group_sums(x: &[f32], group: usize, out: &mut Vec<f32>) {
    out.clear();
    out.extend(x.chunks_exact(group.max(1)).map(|g| g.iter().fold(0f32, |s, &v| s + v)));
}

/// The tolerance between two float-activation kernels (reference and SIMD) for
/// output column `n` of the row `x_row` [K]: each computes y[m, n] with at
/// most K + 2 roundings along any path, so each is within γ_{K+2} · T of the
/// exact value, with γ_j ≈ j · 2^-24 and T = Σ_k |x[m, k]| · (|scale| · |u − o| + |min|);
/// the two are within twice that. Errors for invalid weights or shapes.
pub fn f32_grouped_tolerance(x_row: &[f32], w: &GroupedWeights, n: usize) -> Result<f32, QuantError> {
    w.validate()?;
    if x_row.len() != w.k {
        return Err(QuantError::LengthMismatch { left: x_row.len(), right: w.k });
    }
    if n >= w.n {
        return Err(QuantError::OutOfRange { setting: "output column", value: n as f64, allowed: "[0, N)" });
    }
    let groups = w.groups();
    let mut t = 0f64;
    for (kk, &xv) in x_row.iter().enumerate() {
        let g = kk / w.group;
        let s = w.scale[n * groups + g].abs() as f64;
        let mn = w.min.as_ref().map_or(0.0, |m| m[n * groups + g].abs() as f64);
        let u = w.int_at(n, kk).unwrap_or(0).unsigned_abs() as f64;
        t += (xv.abs() as f64) * (s * u + mn);
    }
    let gamma = (w.k as f64 + 2.0) * f64::from(f32::EPSILON) / 2.0; // u = 2^-24 = EPSILON / 2
    Ok((2.0 * gamma * t * 1.01) as f32 + f32::MIN_POSITIVE)
}

/// y [M, N] = x [M, K] · Wᵀ with float activations (W8A16 / W4A16).
pub type F32GroupedFn = fn(x: &[f32], m: usize, w: &GroupedWeights, y: &mut [f32]) -> Result<(), QuantError>;
/// y [M, N] from int8 activations (W8A8 / W4A8).
pub type I8GroupedFn = fn(a: &QuantizedActs, m: usize, w: &GroupedWeights, y: &mut [f32]) -> Result<(), QuantError>;
/// dots [M, N, G]: every group's integer dot product idot.
pub type I8DotsFn = fn(a: &QuantizedActs, m: usize, w: &GroupedWeights, dots: &mut [i32]) -> Result<(), QuantError>;
/// x [M, K] → int8 per token and group of `group` values.
pub type QuantizeActsFn = fn(x: &[f32], m: usize, k: usize, group: usize, out: &mut QuantizedActs) -> Result<(), QuantError>;

/// One implementation of every product.
#[derive(Clone, Copy)]
pub struct QMatMul {
    pub name: &'static str,
    /// y [M, N] = x [M, K] · Wᵀ with float activations (W8A16 / W4A16).
    pub f32_grouped: F32GroupedFn,
    /// y [M, N] from int8 activations (W8A8 / W4A8).
    pub i8_grouped: I8GroupedFn,
    /// dots [M, N, G]: every group's integer dot product idot (what the
    /// equivalence tests compare exactly).
    pub i8_group_dots: I8DotsFn,
    /// Activations to int8 per token and group ([`quantize_activations`]).
    pub quantize_acts: QuantizeActsFn,
    /// FP32 weights: [`super::gemm_f32`]'s kernel of the same instruction set.
    pub f32: GemmF32,
}

pub const SCALAR: QMatMul = QMatMul {
    name: "scalar",
    f32_grouped: scalar::matmul_f32_grouped,
    i8_grouped: scalar::matmul_i8_grouped,
    i8_group_dots: scalar::group_dots_i8,
    quantize_acts: scalar::quantize_activations_into,
    f32: gemm_f32::SCALAR,
};

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub const SIMD128: QMatMul = QMatMul {
    name: "simd128",
    f32_grouped: simd128::matmul_f32_grouped,
    i8_grouped: simd128::matmul_i8_grouped,
    i8_group_dots: simd128::group_dots_i8,
    quantize_acts: simd128::quantize_activations_into,
    f32: gemm_f32::SIMD128,
};

/// Every implementation in this build, reference first.
pub fn all() -> Vec<QMatMul> {
    #[allow(unused_mut)]
    let mut v = vec![SCALAR];
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    v.push(SIMD128);
    v
}

/// The fastest implementation in this build.
pub fn best() -> QMatMul {
    // The last entry of [`all`], without building the list (a decoder step calls this ~40 times).
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return SIMD128;
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    SCALAR
}

/// y [M, N] = x [M, K] · Wᵀ, float activations, on the fastest kernel: the register kernels
/// for fewer than [`dequant_blocks::min_rows`] rows (decoding), else blocks of weight rows
/// dequantized for the f32 GEMM (prefill, perplexity).
pub fn matmul_f32_grouped(x: &[f32], m: usize, w: &GroupedWeights, y: &mut [f32]) -> Result<(), QuantError> {
    if m >= dequant_blocks::min_rows(w.bits) {
        dequant_blocks::matmul(x, m, w, y)
    } else {
        (best().f32_grouped)(x, m, w, y)
    }
}

/// y [M, N] from int8 activations, on the fastest kernel.
pub fn matmul_i8_grouped(a: &QuantizedActs, m: usize, w: &GroupedWeights, y: &mut [f32]) -> Result<(), QuantError> {
    (best().i8_grouped)(a, m, w, y)
}

/// y [M, N] = x [M, K] · Wᵀ for FP32 weights packed by [`PackedWf32::pack`],
/// on the fastest f32 GEMM, with the shapes checked first.
pub fn matmul_f32(x: &[f32], m: usize, w: &PackedWf32, y: &mut [f32]) -> Result<(), QuantError> {
    let panels = w.n.div_ceil(gemm_f32::PANEL);
    let packed = panels.checked_mul(w.k).and_then(|v| v.checked_mul(gemm_f32::PANEL));
    if w.panels != panels || packed != Some(w.data.len()) {
        return Err(QuantError::LengthMismatch { left: w.data.len(), right: packed.unwrap_or(usize::MAX) });
    }
    expect_len(x.len(), m, w.k)?;
    expect_len(y.len(), m, w.n)?;
    (best().f32.run)(x, m, w, y);
    Ok(())
}

//! int8 × int8 → int32 matrix multiply: the core of integer-only inference.
//!
//! ```text
//! M = rows of activations (batch), K = input features, N = output features
//! c[m, n] = Σ_k a[m, k] · w[n, k]          a: [M, K] i8, w: [N, K] i8 (a Linear weight), c: [M, N] i32
//! ```
//!
//! Zero points are not subtracted here: with symmetric weights (zp_w = 0)
//! the activation zero point folds into the bias,
//! `Σ_k w·(x − zp_x) = Σ_k w·x − zp_x · Σ_k w[n, k]`, so the kernel is a plain
//! signed product and signed activations run at full SIMD speed.
//!
//! Two entry points, each a registry of implementations with the scalar
//! reference first:
//! - [`GemmI8`]: c = a · wᵀ as int32;
//! - [`QGemmI8`]: the same product requantized to int8 through an
//!   [`OutputStage`] (bias, per-channel multiplier, zero point, clamp): the
//!   simd128 GEMM then the simd128 requantization, or both fused so that the
//!   int32 sums never leave registers (not faster when measured, kept for the benchmark).
//!
//! [`scalar`] is the reference. [`simd128`] runs on weights packed by
//! [`PackedW`]: int8 in panels of [`PANEL`] output columns, each column's K
//! split into blocks of 8, widened to int16 by the load itself
//! (`i16x8.load8x8_s`), so one `i32x4.dot_i16x8_s` takes 8 k of one row and one
//! column (the "dot" layout; simd128 lists what it was measured against). Both
//! give identical integers.

use super::requant::{self, OutputStage};

pub mod scalar;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod simd128;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod variants;

/// Output columns per packed panel.
pub const PANEL: usize = 4;
/// k values per block: one i16x8 vector.
pub const KB: usize = 8;

/// Weights [N, K] packed for the SIMD kernel (and usable by the reference).
///
/// Layout: panel p holds columns PANEL·p .. PANEL·p + PANEL; inside it, for each
/// k block b (k = 8b .. 8b + 8), PANEL runs of 8 i8: `w[n0, 8b..8b+8], w[n1, 8b..8b+8], …`.
/// K is padded to a multiple of 8 and N to a multiple of PANEL, with zeros.
/// One byte per weight: a decoder's weights are read from L2 / L3 on every token, and
/// the kernel's loads widen them to i16 at no extra instruction.
#[derive(Clone, Debug, PartialEq)]
pub struct PackedW {
    pub n: usize,
    pub k: usize,
    /// Number of k blocks: ⌈K / 8⌉.
    pub k_blocks: usize,
    pub panels: usize,
    pub data: Vec<i8>,
}

impl PackedW {
    /// Packs w: [N, K] row-major.
    pub fn pack(w: &[i8], n: usize, k: usize) -> PackedW {
        PackedW { n, k, k_blocks: k.div_ceil(KB), panels: n.div_ceil(PANEL), data: pack_panels(w, n, k, PANEL) }
    }

    /// w[col, kk] as stored (the reference reads the packed layout through this).
    #[inline]
    pub fn at(&self, col: usize, kk: usize) -> i16 {
        let (p, c, b, t) = (col / PANEL, col % PANEL, kk / KB, kk % KB);
        self.data[((p * self.k_blocks + b) * PANEL + c) * KB + t] as i16
    }
}

/// The dot layout with `cols` columns per panel: [⌈N/cols⌉][⌈K/8⌉][cols][8], stored as i8
/// or pre-widened to i16 (the kernel variants').
pub fn pack_panels<T: From<i8> + Copy + Default>(w: &[i8], n: usize, k: usize, cols: usize) -> Vec<T> {
    assert_eq!(w.len(), n * k, "pack_panels: w is not [N, K]");
    let kb = k.div_ceil(KB);
    let mut data = vec![T::default(); n.div_ceil(cols) * kb * cols * KB];
    for col in 0..n {
        let (p, c) = (col / cols, col % cols);
        for (kk, &v) in w[col * k..(col + 1) * k].iter().enumerate() {
            data[((p * kb + kk / KB) * cols + c) * KB + kk % KB] = T::from(v);
        }
    }
    data
}

/// One GEMM implementation: c [M, N] = a [M, K] · wᵀ.
#[derive(Clone, Copy)]
pub struct GemmI8 {
    pub name: &'static str,
    pub run: fn(a: &[i8], m: usize, w: &PackedW, c: &mut [i32]),
}

pub const SCALAR: GemmI8 = GemmI8 { name: "scalar", run: scalar::gemm_packed };

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub const SIMD128: GemmI8 = GemmI8 { name: "simd128", run: simd128::gemm };

/// Every implementation in this build, reference first.
pub fn all() -> Vec<GemmI8> {
    #[allow(unused_mut)]
    let mut v = vec![SCALAR];
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    v.push(SIMD128);
    v
}

/// The fastest implementation in this build.
pub fn best() -> GemmI8 {
    // The last entry of [`all`], without building the list on every call.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return SIMD128;
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    SCALAR
}

/// One requantized GEMM: y [M, N] i8 = stage(a [M, K] · wᵀ).
#[derive(Clone, Copy)]
pub struct QGemmI8 {
    pub name: &'static str,
    pub run: fn(a: &[i8], m: usize, w: &PackedW, stage: &OutputStage, y: &mut [i8]),
}

/// The reference: the scalar GEMM into int32, then the scalar requantization.
pub const QSCALAR: QGemmI8 = QGemmI8 { name: "scalar", run: qgemm_reference };

/// The simd128 GEMM with the requantization in registers, right after each
/// tile: the int32 sums never go to memory. Under Node it took 0.90-1.03 × the
/// two passes' time over six runs (`ratio suite=qgemm_i8 … fused/two_pass`, faster in
/// 15 of 42 interleaved comparisons): its per-tile epilogue (8 outputs, 12
/// constant vectors, spills) costs about what writing and re-reading the int32
/// sums, which stay in cache, does. `QLinear::forward` keeps the two passes.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub const QSIMD128_FUSED: QGemmI8 = QGemmI8 { name: "simd128_fused", run: simd128::qgemm_fused };

/// The simd128 GEMM into int32, then the simd128 requantization as a second
/// pass: what `QLinear::forward` runs.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub const QSIMD128: QGemmI8 = QGemmI8 { name: "simd128", run: simd128::qgemm_two_pass };

fn qgemm_reference(a: &[i8], m: usize, w: &PackedW, stage: &OutputStage, y: &mut [i8]) {
    let mut acc = vec![0i32; m * w.n];
    scalar::gemm_packed(a, m, w, &mut acc);
    requant::requantize_rows(&acc, stage, y);
}

/// Every requantized GEMM in this build, reference first and fastest last.
pub fn all_requant() -> Vec<QGemmI8> {
    #[allow(unused_mut)]
    let mut v = vec![QSCALAR];
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    v.extend([QSIMD128_FUSED, QSIMD128]);
    v
}

/// The fastest requantized GEMM in this build.
pub fn best_requant() -> QGemmI8 {
    *all_requant().last().expect("the scalar requantized GEMM is always present")
}

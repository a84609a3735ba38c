//! f32 matrix multiply, the FP32 baseline that int8 is measured against.
//!
//! ```text
//! c[m, n] = Σ_k a[m, k] · w[n, k]          a: [M, K], w: [N, K] (a Linear weight), c: [M, N]
//! ```
//!
//! Both implementations add the products in increasing k, one multiply and
//! one add at a time (no fused multiply-add, no reassociation), so the SIMD
//! kernel gives the same bits as the scalar reference; the equivalence test
//! still states a tolerance (0) rather than assuming it.

pub mod scalar;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod simd128;

/// Σ a_i · b_i in eight independent lanes (added in a fixed order), so the compiler can use
/// SIMD registers; the same order for every row, so results do not depend on the batch size.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ac.remainder().iter().zip(bc.remainder()).map(|(x, y)| x * y).sum();
    for (a8, b8) in ac.zip(bc) {
        for i in 0..8 {
            acc[i] += a8[i] * b8[i];
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// Output columns per packed panel.
pub const PANEL: usize = 8;

/// Weights [N, K] packed in panels of 8 columns: for each k, the 8 values
/// `w[n0, k] … w[n7, k]`; N is padded to a multiple of 8 with zeros.
#[derive(Clone, Debug, PartialEq)]
pub struct PackedWf32 {
    pub n: usize,
    pub k: usize,
    pub panels: usize,
    pub data: Vec<f32>,
}

impl PackedWf32 {
    pub fn pack(w: &[f32], n: usize, k: usize) -> PackedWf32 {
        assert_eq!(w.len(), n * k, "PackedWf32::pack: w is not [N, K]");
        let panels = n.div_ceil(PANEL);
        let mut data = vec![0f32; panels * k * PANEL];
        for col in 0..n {
            let (p, c) = (col / PANEL, col % PANEL);
            for kk in 0..k {
                data[(p * k + kk) * PANEL + c] = w[col * k + kk];
            }
        }
        PackedWf32 { n, k, panels, data }
    }
}

#[derive(Clone, Copy)]
pub struct GemmF32 {
    pub name: &'static str,
    pub run: fn(a: &[f32], m: usize, w: &PackedWf32, c: &mut [f32]),
}

pub const SCALAR: GemmF32 = GemmF32 { name: "scalar", run: scalar::gemm_packed };

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub const SIMD128: GemmF32 = GemmF32 { name: "simd128", run: simd128::gemm };

pub fn all() -> Vec<GemmF32> {
    #[allow(unused_mut)]
    let mut v = vec![SCALAR];
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    v.push(SIMD128);
    v
}

pub fn best() -> GemmF32 {
    // The last entry of [`all`], without building the list (a decoder step calls this ~40 times).
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return SIMD128;
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    SCALAR
}

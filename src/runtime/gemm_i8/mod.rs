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
//! [`scalar`] is the reference. [`simd128`] runs on weights packed by
//! [`PackedW`]: int8 widened to int16, in panels of 8 output columns, each
//! pair of consecutive k interleaved, so one `i32x4.dot_i16x8_s` does
//! 8 multiply-adds for 4 columns. Both give identical integers.

pub mod scalar;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod simd128;

/// Output columns per packed panel.
pub const PANEL: usize = 8;

/// Weights [N, K] packed for the SIMD kernel (and usable by the reference).
///
/// Layout: panel p holds columns 8p..8p+8; inside it, for each k pair
/// (2j, 2j+1), 16 i16 values `w[n0,2j], w[n0,2j+1], w[n1,2j], w[n1,2j+1], …, w[n7,2j+1]`.
/// K is padded to an even number and N to a multiple of 8, with zeros.
#[derive(Clone, Debug, PartialEq)]
pub struct PackedW {
    pub n: usize,
    pub k: usize,
    /// Number of k pairs: ⌈K / 2⌉.
    pub k_pairs: usize,
    pub panels: usize,
    pub data: Vec<i16>,
}

impl PackedW {
    /// Packs w: [N, K] row-major.
    pub fn pack(w: &[i8], n: usize, k: usize) -> PackedW {
        assert_eq!(w.len(), n * k, "PackedW::pack: w is not [N, K]");
        let k_pairs = k.div_ceil(2);
        let panels = n.div_ceil(PANEL);
        let mut data = vec![0i16; panels * k_pairs * 2 * PANEL];
        for p in 0..panels {
            for j in 0..k_pairs {
                let base = (p * k_pairs + j) * 2 * PANEL;
                for c in 0..PANEL {
                    let col = p * PANEL + c;
                    if col >= n {
                        continue;
                    }
                    for t in 0..2 {
                        let kk = 2 * j + t;
                        if kk < k {
                            data[base + 2 * c + t] = w[col * k + kk] as i16;
                        }
                    }
                }
            }
        }
        PackedW { n, k, k_pairs, panels, data }
    }
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
    *all().last().expect("the scalar GEMM is always present")
}

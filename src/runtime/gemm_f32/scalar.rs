//! Scalar reference f32 GEMMs.

use super::{PackedWf32, PANEL};

/// c[m, n] = Σ_k a[m, k] · w[n, k] on plain layouts, k increasing.
pub fn gemm(a: &[f32], w: &[f32], m: usize, n: usize, k: usize, c: &mut [f32]) {
    assert!(a.len() == m * k && w.len() == n * k && c.len() == m * n, "gemm: shapes");
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0f32;
            for t in 0..k {
                acc += a[i * k + t] * w[j * k + t];
            }
            c[i * n + j] = acc;
        }
    }
}

/// The same product on packed weights (the registry's reference entry).
pub fn gemm_packed(a: &[f32], m: usize, w: &PackedWf32, c: &mut [f32]) {
    let (n, k) = (w.n, w.k);
    assert!(a.len() == m * k && c.len() == m * n, "gemm_packed: shapes");
    for i in 0..m {
        for j in 0..n {
            let (p, col) = (j / PANEL, j % PANEL);
            let mut acc = 0f32;
            for t in 0..k {
                acc += a[i * k + t] * w.data[(p * k + t) * PANEL + col];
            }
            c[i * n + j] = acc;
        }
    }
}

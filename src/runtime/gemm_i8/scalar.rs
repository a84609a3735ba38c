//! Scalar reference GEMMs: the definition the SIMD kernel must match exactly.

use super::PackedW;

/// c[m, n] = Σ_k a[m, k] · w[n, k], on the plain layouts.
/// a: [M, K], w: [N, K], c: [M, N].
pub fn gemm(a: &[i8], w: &[i8], m: usize, n: usize, k: usize, c: &mut [i32]) {
    assert!(a.len() == m * k && w.len() == n * k && c.len() == m * n, "gemm: shapes");
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0i32;
            for t in 0..k {
                acc += a[i * k + t] as i32 * w[j * k + t] as i32;
            }
            c[i * n + j] = acc;
        }
    }
}

/// The same product on packed weights (the registry's reference entry).
pub fn gemm_packed(a: &[i8], m: usize, w: &PackedW, c: &mut [i32]) {
    let (n, k) = (w.n, w.k);
    assert!(a.len() == m * k && c.len() == m * n, "gemm_packed: shapes");
    for i in 0..m {
        for j in 0..n {
            let (p, col) = (j / super::PANEL, j % super::PANEL);
            let mut acc = 0i32;
            for t in 0..k {
                let wv = w.data[(p * w.k_pairs + t / 2) * 2 * super::PANEL + 2 * col + t % 2];
                acc += a[i * k + t] as i32 * wv as i32;
            }
            c[i * n + j] = acc;
        }
    }
}

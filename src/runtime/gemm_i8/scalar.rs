//! Scalar reference GEMMs: the definition the SIMD kernel must match exactly.

use super::{PackedW, KB, PANEL};

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

/// The same product on packed weights (the registry's reference entry):
/// column j's K values are its 8-value runs in k blocks 0, 1, … of its panel.
pub fn gemm_packed(a: &[i8], m: usize, w: &PackedW, c: &mut [i32]) {
    let (n, k) = (w.n, w.k);
    assert!(a.len() == m * k && c.len() == m * n, "gemm_packed: shapes");
    for i in 0..m {
        let row = &a[i * k..(i + 1) * k];
        for j in 0..n {
            let (p, col) = (j / PANEL, j % PANEL);
            let mut acc = 0i32;
            for (b, chunk) in row.chunks(KB).enumerate() {
                let run = &w.data[((p * w.k_blocks + b) * PANEL + col) * KB..][..chunk.len()];
                for (&x, &v) in chunk.iter().zip(run) {
                    acc += x as i32 * v as i32;
                }
            }
            c[i * n + j] = acc;
        }
    }
}

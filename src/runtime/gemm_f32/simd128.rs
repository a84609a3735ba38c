//! wasm simd128 f32 GEMM on packed weights: register tiles of 4 rows × 8
//! columns (8 accumulators of f32x4); per k, two loads of the weight panel,
//! one `v128.load32_splat` per row, and per row two multiplies and two adds.

use core::arch::wasm32::*;

use super::{PackedWf32, PANEL};

const ROWS: usize = 4;

pub fn gemm(a: &[f32], m: usize, w: &PackedWf32, c: &mut [f32]) {
    let (n, k) = (w.n, w.k);
    assert!(a.len() == m * k && c.len() == m * n, "gemm: shapes");
    let mut row = 0;
    while row < m {
        let rows = (m - row).min(ROWS);
        for p in 0..w.panels {
            let panel = &w.data[p * k * PANEL..(p + 1) * k * PANEL];
            let mut acc = [f32x4_splat(0.0); 2 * ROWS];
            let a_tile = &a[row * k..];
            match rows {
                4 => tile::<4>(a_tile, k, panel, &mut acc),
                3 => tile::<3>(a_tile, k, panel, &mut acc),
                2 => tile::<2>(a_tile, k, panel, &mut acc),
                _ => tile::<1>(a_tile, k, panel, &mut acc),
            }
            let cols = (n - p * PANEL).min(PANEL);
            for r in 0..rows {
                let mut tmp = [0f32; PANEL];
                // SAFETY: `tmp` holds 8 f32 = two v128.
                unsafe {
                    v128_store(tmp.as_mut_ptr() as *mut v128, acc[2 * r]);
                    v128_store(tmp.as_mut_ptr().add(4) as *mut v128, acc[2 * r + 1]);
                }
                c[(row + r) * n + p * PANEL..][..cols].copy_from_slice(&tmp[..cols]);
            }
        }
        row += rows;
    }
}

#[inline(always)]
fn tile<const R: usize>(a: &[f32], k: usize, panel: &[f32], acc: &mut [v128; 2 * ROWS]) {
    assert!(a.len() >= R * k && panel.len() >= k * PANEL);
    let mut lo = [f32x4_splat(0.0); R];
    let mut hi = [f32x4_splat(0.0); R];
    let (a0, w0) = (a.as_ptr(), panel.as_ptr());
    for t in 0..k {
        // SAFETY: t < k; the assert above bounds every index.
        unsafe {
            let w_lo = v128_load(w0.add(t * PANEL) as *const v128);
            let w_hi = v128_load(w0.add(t * PANEL + 4) as *const v128);
            for r in 0..R {
                let x = v128_load32_splat(a0.add(r * k + t) as *const u32);
                lo[r] = f32x4_add(lo[r], f32x4_mul(x, w_lo));
                hi[r] = f32x4_add(hi[r], f32x4_mul(x, w_hi));
            }
        }
    }
    for r in 0..R {
        acc[2 * r] = lo[r];
        acc[2 * r + 1] = hi[r];
    }
}

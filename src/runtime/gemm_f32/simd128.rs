//! wasm simd128 f32 GEMM on packed weights: register tiles of 4 rows × 8
//! columns (8 accumulators of f32x4); per k, two loads of the weight panel,
//! one `v128.load32_splat` per row, and per row two multiplies and two adds.
//!
//! A single row (M = 1, a decoded token) would keep only two sums in flight, each add waiting
//! for the one before it: there one row runs against four panels at once (8 sums of f32x4,
//! 32 columns), and the adds of different panels overlap. Each column still adds its products
//! in increasing k, one multiply and one add at a time, so the bits do not change.

use core::arch::wasm32::*;

use super::{PackedWf32, PANEL};

const ROWS: usize = 4;

pub fn gemm(a: &[f32], m: usize, w: &PackedWf32, c: &mut [f32]) {
    let (n, k) = (w.n, w.k);
    assert!(a.len() == m * k && c.len() == m * n, "gemm: shapes");
    let mut row = 0;
    while row < m {
        let rows = (m - row).min(ROWS);
        let a_tile = &a[row * k..];
        let mut p = 0;
        while p < w.panels {
            if rows == 1 && p + WIDE <= w.panels {
                let mut acc = [f32x4_splat(0.0); 2 * WIDE];
                row_wide(a_tile, k, &w.data[p * k * PANEL..(p + WIDE) * k * PANEL], &mut acc);
                for q in 0..WIDE {
                    store_panel(c, row * n, n, p + q, acc[2 * q], acc[2 * q + 1]);
                }
                p += WIDE;
                continue;
            }
            let panel = &w.data[p * k * PANEL..(p + 1) * k * PANEL];
            let mut acc = [f32x4_splat(0.0); 2 * ROWS];
            match rows {
                4 => tile::<4>(a_tile, k, panel, &mut acc),
                3 => tile::<3>(a_tile, k, panel, &mut acc),
                2 => tile::<2>(a_tile, k, panel, &mut acc),
                _ => tile::<1>(a_tile, k, panel, &mut acc),
            }
            for r in 0..rows {
                store_panel(c, (row + r) * n, n, p, acc[2 * r], acc[2 * r + 1]);
            }
            p += 1;
        }
        row += rows;
    }
}

/// Panels one row runs against at once.
const WIDE: usize = 4;

/// Panel p's 8 sums (lo: columns 0–3, hi: 4–7) into the row of c starting at `start`, cut to the
/// columns that exist (N need not be a multiple of 8).
#[inline(always)]
fn store_panel(c: &mut [f32], start: usize, n: usize, p: usize, lo: v128, hi: v128) {
    let cols = (n - p * PANEL).min(PANEL);
    let mut tmp = [0f32; PANEL];
    // SAFETY: `tmp` holds 8 f32 = two v128.
    unsafe {
        v128_store(tmp.as_mut_ptr() as *mut v128, lo);
        v128_store(tmp.as_mut_ptr().add(4) as *mut v128, hi);
    }
    c[start + p * PANEL..][..cols].copy_from_slice(&tmp[..cols]);
}

/// One row `a` [K] against WIDE consecutive panels ([WIDE][K][8]): acc[2q], acc[2q + 1] are
/// panel q's columns 0–3 and 4–7, each Σ_k a[k] · w[col, k] in increasing k.
#[inline(always)]
fn row_wide(a: &[f32], k: usize, panels: &[f32], acc: &mut [v128; 2 * WIDE]) {
    assert!(a.len() >= k && panels.len() >= WIDE * k * PANEL);
    let mut sums = [f32x4_splat(0.0); 2 * WIDE];
    let (a0, w0) = (a.as_ptr(), panels.as_ptr());
    for t in 0..k {
        // SAFETY: t < k and q < WIDE; the assert above bounds every index.
        unsafe {
            let x = v128_load32_splat(a0.add(t) as *const u32);
            for q in 0..WIDE {
                let wq = w0.add((q * k + t) * PANEL);
                sums[2 * q] = f32x4_add(sums[2 * q], f32x4_mul(x, v128_load(wq as *const v128)));
                sums[2 * q + 1] = f32x4_add(sums[2 * q + 1], f32x4_mul(x, v128_load(wq.add(4) as *const v128)));
            }
        }
    }
    *acc = sums;
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

//! wasm simd128 int8 GEMM on packed weights.
//!
//! Register tile: ROWS rows × 8 columns = ROWS × 2 accumulators of i32x4.
//! Per k pair: two 128-bit loads of the weight panel (8 columns × 2 k as i16),
//! one `v128.load32_splat` per row (the row's two activations as i16),
//! and per row two `i32x4.dot_i16x8_s` + two `i32x4.add`.
//! Rows that do not fill a tile, and columns past N in the last panel, are
//! handled by the same code with a smaller row count and a masked store.

use core::arch::wasm32::*;

use std::cell::RefCell;

use super::{PackedW, PANEL};

const ROWS: usize = 4;

thread_local! {
    /// The widened activations, reused between calls so that a GEMM allocates nothing.
    static A16: RefCell<Vec<i16>> = const { RefCell::new(Vec::new()) };
}

/// a [M, K] i8 → [M, 2·⌈K/2⌉] i16, 16 values per widening step; consecutive
/// i16 pairs are then the u32 that `v128.load32_splat` broadcasts.
fn widen_a(a: &[i8], m: usize, k: usize, out: &mut Vec<i16>) {
    let k2 = k.div_ceil(2) * 2;
    out.clear();
    out.resize(m * k2, 0);
    for (row, dst) in a.chunks_exact(k.max(1)).take(m).zip(out.chunks_exact_mut(k2.max(1))) {
        let n16 = k / 16 * 16;
        for i in (0..n16).step_by(16) {
            // SAFETY: i + 16 ≤ k ≤ row.len() and ≤ dst.len().
            unsafe {
                let v = v128_load(row.as_ptr().add(i) as *const v128);
                v128_store(dst.as_mut_ptr().add(i) as *mut v128, i16x8_extend_low_i8x16(v));
                v128_store(dst.as_mut_ptr().add(i + 8) as *mut v128, i16x8_extend_high_i8x16(v));
            }
        }
        for i in n16..k {
            dst[i] = row[i] as i16;
        }
    }
}

pub fn gemm(a: &[i8], m: usize, w: &PackedW, c: &mut [i32]) {
    let (n, k) = (w.n, w.k);
    assert!(a.len() == m * k && c.len() == m * n, "gemm: shapes");
    A16.with_borrow_mut(|a16| {
        widen_a(a, m, k, a16);
        gemm_widened(a16, m, w, c)
    })
}

fn gemm_widened(a16: &[i16], m: usize, w: &PackedW, c: &mut [i32]) {
    let n = w.n;
    let kp = w.k_pairs;
    // SAFETY of the cast: a16 holds M · 2·kp i16 = M · kp u32, 2-byte aligned,
    // and `tile` reads them with unaligned-tolerant `v128.load32_splat`.
    let ap = unsafe { core::slice::from_raw_parts(a16.as_ptr() as *const u32, m * kp) };
    let mut row = 0;
    while row < m {
        let rows = (m - row).min(ROWS);
        for p in 0..w.panels {
            let panel = &w.data[p * kp * 2 * PANEL..(p + 1) * kp * 2 * PANEL];
            let mut acc = [i32x4_splat(0); 2 * ROWS];
            match rows {
                4 => tile::<4>(&ap[row * kp..], kp, panel, &mut acc),
                3 => tile::<3>(&ap[row * kp..], kp, panel, &mut acc),
                2 => tile::<2>(&ap[row * kp..], kp, panel, &mut acc),
                _ => tile::<1>(&ap[row * kp..], kp, panel, &mut acc),
            }
            let cols = (n - p * PANEL).min(PANEL);
            for r in 0..rows {
                let out = &mut c[(row + r) * n + p * PANEL..][..cols];
                if cols == PANEL {
                    // SAFETY: `out` has 8 i32 = two v128; unaligned stores are allowed.
                    unsafe {
                        v128_store(out.as_mut_ptr() as *mut v128, acc[2 * r]);
                        v128_store(out.as_mut_ptr().add(4) as *mut v128, acc[2 * r + 1]);
                    }
                } else {
                    let mut tmp = [0i32; PANEL];
                    // SAFETY: `tmp` holds 8 i32.
                    unsafe {
                        v128_store(tmp.as_mut_ptr() as *mut v128, acc[2 * r]);
                        v128_store(tmp.as_mut_ptr().add(4) as *mut v128, acc[2 * r + 1]);
                    }
                    out.copy_from_slice(&tmp[..cols]);
                }
            }
        }
        row += rows;
    }
}

/// acc[2r], acc[2r+1] += Σ_j dot(a_pair[r][j], panel[j]) for R rows.
/// `ap` starts at the tile's first row; rows are `kp` u32 apart.
#[inline(always)]
fn tile<const R: usize>(ap: &[u32], kp: usize, panel: &[i16], acc: &mut [v128; 2 * ROWS]) {
    assert!(ap.len() >= (R - 1) * kp + kp && panel.len() >= kp * 2 * PANEL);
    let mut lo = [i32x4_splat(0); R];
    let mut hi = [i32x4_splat(0); R];
    let a0 = ap.as_ptr();
    let w0 = panel.as_ptr();
    for j in 0..kp {
        // SAFETY: j < kp; the asserts above bound every index.
        unsafe {
            let w_lo = v128_load(w0.add(j * 2 * PANEL) as *const v128);
            let w_hi = v128_load(w0.add(j * 2 * PANEL + PANEL) as *const v128);
            for r in 0..R {
                let x = v128_load32_splat(a0.add(r * kp + j));
                lo[r] = i32x4_add(lo[r], i32x4_dot_i16x8(x, w_lo));
                hi[r] = i32x4_add(hi[r], i32x4_dot_i16x8(x, w_hi));
            }
        }
    }
    for r in 0..R {
        acc[2 * r] = lo[r];
        acc[2 * r + 1] = hi[r];
    }
}

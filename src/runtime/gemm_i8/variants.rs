//! Kernel variants kept for measurement (`bench suite=gemm_i8_variants`):
//! the same product with other register tiles, panel widths, blockings and
//! layouts, so a change of the production kernel is always measured against
//! the alternatives in one run. Each packs its own weights. The equivalence
//! tests hold every variant bit-exact to the reference, like the production kernel.
//!
//! - `splat{R}x{W}`: the previous layout. k pairs interleaved in panels of W
//!   columns; per k pair, one `v128.load32_splat` per row (the row's two
//!   activations) against W/4 packed vectors: R·W/4 dot/add pairs, R splats.
//!   `splat4x8` is the kernel this crate shipped before the dot layout.
//! - `dot{R}x{C}[_b{B}][_opaque]`: [`super::simd128`]'s layout with R rows × C
//!   columns, row blocks of B (default [`super::simd128::BLOCK_ROWS`]), and
//!   pointers hidden from LLVM (`_opaque`, see [`super::simd128::tile_dot`]).
//! - `dot{R}x{C}_nodot`: the same loop with each `i32x4.dot_i16x8_s` replaced by
//!   an `i32x4.add` of its operands (same loads, same data flow, wrong sums):
//!   the time the loads and the loop take, for attributing the kernel's time.
//!   Excluded from equivalence (`exact = false`).

use core::arch::wasm32::*;

use std::cell::RefCell;

use super::simd128::{drive, StoreI32, BLOCK_ROWS};
use super::{pack_panels, KB};

/// A GEMM on a variant's own packing: c [M, N] = a [M, K] · wᵀ.
pub type VariantGemm = fn(a: &[i8], m: usize, n: usize, k: usize, w: &[i16], c: &mut [i32]);

/// One variant: its packing and its GEMM on that packing.
#[derive(Clone, Copy)]
pub struct Variant {
    pub name: &'static str,
    /// Whether it computes the product (false for the measurement-only ablations).
    pub exact: bool,
    pub pack: fn(w: &[i8], n: usize, k: usize) -> Vec<i16>,
    pub run: VariantGemm,
}

macro_rules! dot {
    ($name:literal, $r:literal, $c:literal, $block:expr, $opaque:literal) => {
        Variant {
            name: $name,
            exact: true,
            pack: |w, n, k| pack_panels::<i16>(w, n, k, $c),
            run: |a, m, n, k, w, c| drive::<$r, $c, { usize::div_ceil($c, 4) }, $opaque, i16, _>(a, m, n, k, w, $block, &mut StoreI32 { c, n, row0: 0 }),
        }
    };
}

macro_rules! splat {
    ($name:literal, $r:literal, $v:literal) => {
        Variant { name: $name, exact: true, pack: |w, n, k| pack_pairs(w, n, k, 4 * $v), run: splat_gemm::<$r, $v> }
    };
}

/// Every variant, the production configuration included (`dot2x4`).
pub fn all() -> Vec<Variant> {
    vec![
        splat!("splat4x8", 4, 2),
        splat!("splat2x16", 2, 4),
        dot!("dot1x8", 1, 8, BLOCK_ROWS, false),
        dot!("dot2x4", 2, 4, BLOCK_ROWS, false),
        dot!("dot2x4_opaque", 2, 4, BLOCK_ROWS, true),
        dot!("dot2x4_b16", 2, 4, 16, false),
        dot!("dot3x3", 3, 3, BLOCK_ROWS, false),
        dot!("dot2x8", 2, 8, BLOCK_ROWS, false),
        Variant {
            name: "dot2x4_nodot",
            exact: false,
            pack: |w, n, k| pack_panels(w, n, k, 4),
            run: |a, m, n, k, w, c| nodot_gemm::<2, 4>(a, m, n, k, w, c),
        },
    ]
}

// ---- the previous kernel: broadcast k pairs ----

/// Panels of `cols` columns; for each k pair j, `cols` × (w[n, 2j], w[n, 2j+1]) as i16.
pub fn pack_pairs(w: &[i8], n: usize, k: usize, cols: usize) -> Vec<i16> {
    assert_eq!(w.len(), n * k);
    let kp = k.div_ceil(2);
    let mut data = vec![0i16; n.div_ceil(cols) * kp * 2 * cols];
    for col in 0..n {
        let (p, c) = (col / cols, col % cols);
        for kk in 0..k {
            data[(p * kp + kk / 2) * 2 * cols + 2 * c + kk % 2] = w[col * k + kk] as i16;
        }
    }
    data
}

thread_local! {
    static A16: RefCell<Vec<i16>> = const { RefCell::new(Vec::new()) };
}

/// The previous kernel, generalised to R rows × 4V columns: a [M, K] widened
/// to [M, 2⌈K/2⌉] i16 once per call, then per tile and k pair R splats.
fn splat_gemm<const R: usize, const V: usize>(a: &[i8], m: usize, n: usize, k: usize, w: &[i16], c: &mut [i32]) {
    assert!(a.len() == m * k && c.len() == m * n);
    let (kp, cols) = (k.div_ceil(2), 4 * V);
    let panels = n.div_ceil(cols);
    assert!(w.len() >= panels * kp * 2 * cols);
    A16.with_borrow_mut(|a16| {
        widen_pairs(a, m, k, a16);
        // SAFETY of the cast: M · kp u32 = M · 2kp i16, read by unaligned-tolerant splats.
        let ap = unsafe { core::slice::from_raw_parts(a16.as_ptr() as *const u32, m * kp) };
        let mut row = 0;
        while row < m {
            let rows = (m - row).min(R);
            for p in 0..panels {
                let panel = &w[p * kp * 2 * cols..(p + 1) * kp * 2 * cols];
                let acc: [[v128; V]; R] = match rows {
                    _ if rows == R => splat_tile::<R, V, R>(&ap[row * kp..], kp, panel),
                    1 => splat_tile::<1, V, R>(&ap[row * kp..], kp, panel),
                    2 => splat_tile::<2, V, R>(&ap[row * kp..], kp, panel),
                    _ => splat_tile::<3, V, R>(&ap[row * kp..], kp, panel),
                };
                let nc = (n - p * cols).min(cols);
                for (r, accr) in acc.iter().enumerate().take(rows) {
                    let mut tmp = [[0i32; 4]; V];
                    for (t, &v) in tmp.iter_mut().zip(accr) {
                        // SAFETY: `t` holds 4 i32.
                        unsafe { v128_store(t.as_mut_ptr() as *mut v128, v) };
                    }
                    c[(row + r) * n + p * cols..][..nc].copy_from_slice(&tmp.as_flattened()[..nc]);
                }
            }
            row += rows;
        }
    })
}

/// The previous kernel's widening, verbatim: a [M, K] i8 → [M, 2·⌈K/2⌉] i16, 16 values per step.
fn widen_pairs(a: &[i8], m: usize, k: usize, out: &mut Vec<i16>) {
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

#[inline(always)]
#[allow(clippy::needless_range_loop)] // the previous kernel, kept as it was
fn splat_tile<const RT: usize, const V: usize, const R: usize>(ap: &[u32], kp: usize, panel: &[i16]) -> [[v128; V]; R] {
    assert!(ap.len() >= RT * kp && panel.len() >= kp * 8 * V);
    let mut acc = [[i32x4_splat(0); V]; R];
    let (a0, w0) = (ap.as_ptr(), panel.as_ptr());
    for j in 0..kp {
        // SAFETY: j < kp; the assert bounds every index.
        unsafe {
            let wv: [v128; V] = core::array::from_fn(|v| v128_load(w0.add((j * V + v) * 8) as *const v128));
            for r in 0..RT {
                let x = v128_load32_splat(a0.add(r * kp + j));
                for v in 0..V {
                    acc[r][v] = i32x4_add(acc[r][v], i32x4_dot_i16x8(x, wv[v]));
                }
            }
        }
    }
    acc
}

// ---- ablation: the dot loop without the multiply ----

thread_local! {
    static B16: RefCell<Vec<i16>> = const { RefCell::new(Vec::new()) };
}

fn nodot_gemm<const R: usize, const C: usize>(a: &[i8], m: usize, n: usize, k: usize, w: &[i16], c: &mut [i32]) {
    let kb = k.div_ceil(KB);
    B16.with_borrow_mut(|a16| {
        let mut row0 = 0;
        while row0 < m {
            let rows = (m - row0).min(BLOCK_ROWS / R * R);
            super::simd128::widen_block(a, k, row0, rows, R, a16);
            for p in 0..n.div_ceil(C) {
                let panel = &w[p * kb * C * KB..(p + 1) * kb * C * KB];
                let mut t0 = 0;
                while t0 + R <= rows {
                    let tile = &a16[t0 * kb * KB..(t0 + R) * kb * KB];
                    let mut acc = [[i32x4_splat(0); C]; R];
                    let (mut ap, mut wp) = (tile.as_ptr(), panel.as_ptr());
                    for _ in 0..kb {
                        // SAFETY: as in `tile_dot`.
                        unsafe {
                            let av: [v128; R] = core::array::from_fn(|r| v128_load(ap.add(r * KB) as *const v128));
                            for cc in 0..C {
                                let wv = v128_load(wp.add(cc * KB) as *const v128);
                                for (accr, &a) in acc.iter_mut().zip(&av) {
                                    accr[cc] = i32x4_add(accr[cc], i32x4_add(a, wv));
                                }
                            }
                            ap = ap.add(R * KB);
                            wp = wp.add(C * KB);
                        }
                    }
                    let s: i32 = acc.iter().flatten().map(|&v| i32x4_extract_lane::<0>(v)).sum();
                    c[(row0 + t0) * n] = c[(row0 + t0) * n].wrapping_add(s);
                    t0 += R;
                }
            }
            row0 += rows;
        }
    })
}

//! wasm simd128 int8 GEMM on packed weights, in the "dot" layout.
//!
//! ```text
//! R = rows per register tile (2), C = columns per panel (4), KB = 8 (k per i16x8 vector)
//! acc[r][c]: i32x4, lane l holds Σ over k ≡ {2l, 2l+1} (mod 8) of a[r, k] · w[c, k]
//! per k block:  R loads of a (8 k of one row), C loads of w (8 k of one column),
//!               R·C × (i32x4.dot_i16x8_s + i32x4.add)
//! after K:      4 accumulators of one row → one i32x4 of 4 column sums (6 shuffles + 3 adds)
//! ```
//!
//! Measured against the alternatives in one run (`bench suite=gemm_i8_variants`,
//! as a fraction of the `dot_i16x8_s` + add ceiling timed beside them):
//! - 2 × 4 (8 accumulators, 2 activation vectors, a weight vector and a
//!   product temporary) runs its k loop in registers; in 1 × 8, 3 × 3 and
//!   2 × 8, V8 moves accumulators through the stack inside the k loop
//!   (`vmovups`, scripts/kernel_loops.sh), and they run at 0.5–0.6.
//! - Against the previous kernel (`splat4x8`: per k pair one
//!   `v128.load32_splat` per row, which V8 emits as `vbroadcastss`) it is on par
//!   or a few percent ahead for M ≥ 16 and well ahead for M = 1, where the
//!   splat kernel runs 1 of its 4 rows (0.72 vs 0.54 of the ceiling).
//! - The loop is not bound by the multiplier: the same loop with the dot
//!   replaced by an add (`dot2x4_nodot`) takes ~0.9 of the time. Per k block V8
//!   emits 8 `vpmaddwd` + 8 `vpaddd` + 6 `vmovdqu` + a `leal` per load (the
//!   constant offsets are not folded into the loads, see [`tile_dot`]) + loop
//!   control, ~32 instructions per 8 dots against ~19 in the ceiling loop.
//!
//! Activations are widened to i16 once per block of rows (`widen_block`), in
//! tiles of R interleaved rows so that one pointer walks a tile; each weight
//! panel then runs over every tile of the block while it stays in L1.

use core::arch::wasm32::*;

use std::cell::RefCell;

use super::{PackedW, KB, PANEL};
use crate::runtime::requant::simd128::{narrow8, requant4, store_i32_prefix, store_i8_prefix, Group};
use crate::runtime::requant::OutputStage;

/// Rows per register tile of the production kernel (columns: [`PANEL`]).
pub const ROWS: usize = 2;
/// Whether the production kernel hides its pointers from LLVM (see [`tile_dot`]).
pub const OPAQUE: bool = false;
/// Rows widened at a time: 64 rows of K = 784 are 100 KB of i16, in L2, while
/// each weight panel (4 columns · K · 1 B = 3.1 KB) stays in L1. (16 rows
/// measured the same: `dot2x4_b16`.)
pub const BLOCK_ROWS: usize = 64;

thread_local! {
    /// The widened activations of one row block, reused between calls so that a GEMM allocates nothing.
    static A16: RefCell<Vec<i16>> = const { RefCell::new(Vec::new()) };
}

/// Rows [row0, row0 + rows) of a [M, K] i8 → i16 tiles of `r` rows (the last
/// tile may hold fewer): tile t is [⌈K/8⌉][rows of t][8], K padded with zeros.
pub fn widen_block(a: &[i8], k: usize, row0: usize, rows: usize, r: usize, out: &mut Vec<i16>) {
    let kb = k.div_ceil(KB);
    out.clear();
    out.resize(rows * kb * KB, 0);
    let full = k / KB;
    let mut t0 = 0;
    while t0 < rows {
        let rt = (rows - t0).min(r);
        let tile = &mut out[t0 * kb * KB..(t0 + rt) * kb * KB];
        for i in 0..rt {
            let src = &a[(row0 + t0 + i) * k..(row0 + t0 + i + 1) * k];
            for b in 0..full {
                // SAFETY: 8b + 8 ≤ K = src.len(); (b·rt + i)·8 + 8 ≤ tile.len() = rt · kb · 8.
                unsafe {
                    let v = i16x8_load_extend_i8x8(src.as_ptr().add(b * KB));
                    v128_store(tile.as_mut_ptr().add((b * rt + i) * KB) as *mut v128, v);
                }
            }
            for kk in full * KB..k {
                tile[(full * rt + i) * KB + kk % KB] = src[kk] as i16;
            }
        }
        t0 += rt;
    }
}

/// A panel's stored integers: i8 (widened to i16 by the load, `i16x8.load8x8_s`, one
/// `vpmovsxbw` with a memory operand on x64) or i16 (pre-widened, the variants').
pub trait PanelInt: Copy {
    /// Eight values from `p` as i16x8.
    ///
    /// # Safety
    /// p .. p + 8 is readable.
    unsafe fn load8(p: *const Self) -> v128;
}

impl PanelInt for i8 {
    #[inline(always)]
    unsafe fn load8(p: *const i8) -> v128 {
        i16x8_load_extend_i8x8(p)
    }
}

impl PanelInt for i16 {
    #[inline(always)]
    unsafe fn load8(p: *const i16) -> v128 {
        v128_load(p as *const v128)
    }
}

/// The R × C accumulators of one tile: `a` is the tile ([kb][R][8] i16),
/// `w` the panel ([kb][C][8] i8 or i16).
///
/// `OPAQUE`: pass the two pointers through `black_box` once per k block. In a
/// loop, LLVM's strength reduction rewrites `ptr + 16·c` into adds that have
/// lost their no-wrap flag, so the wasm carries an explicit `i32.add` per load
/// and V8 emits a `leal` per load (it cannot fold a wrapping 32-bit add into
/// an x64 address). Hiding the pointers from it keeps the constant offsets in
/// the loads' `offset=` immediates, at the price of a stack store and load per
/// pointer and iteration. Measured as the `_opaque` variants.
#[inline(always)]
pub fn tile_dot<const R: usize, const C: usize, const OPAQUE: bool, T: PanelInt>(a: &[i16], w: &[T], kb: usize) -> [[v128; C]; R] {
    assert!(a.len() >= kb * R * KB && w.len() >= kb * C * KB);
    let mut acc = [[i32x4_splat(0); C]; R];
    let (mut ap, mut wp) = (a.as_ptr(), w.as_ptr());
    for _ in 0..kb {
        if OPAQUE {
            (ap, wp) = core::hint::black_box((ap, wp));
        }
        // SAFETY: kb iterations advance ap by R·8 and wp by C·8, within the asserted lengths.
        unsafe {
            let av: [v128; R] = core::array::from_fn(|r| v128_load(ap.add(r * KB) as *const v128));
            for c in 0..C {
                let wv = T::load8(wp.add(c * KB));
                for (accr, &a) in acc.iter_mut().zip(&av) {
                    accr[c] = i32x4_add(accr[c], i32x4_dot_i16x8(a, wv));
                }
            }
            ap = ap.add(R * KB);
            wp = wp.add(C * KB);
        }
    }
    acc
}

/// Four accumulators → [Σ a0, Σ a1, Σ a2, Σ a3].
#[inline(always)]
pub fn reduce4(a0: v128, a1: v128, a2: v128, a3: v128) -> v128 {
    let s01 = i32x4_add(i32x4_shuffle::<0, 4, 1, 5>(a0, a1), i32x4_shuffle::<2, 6, 3, 7>(a0, a1));
    let s23 = i32x4_add(i32x4_shuffle::<0, 4, 1, 5>(a2, a3), i32x4_shuffle::<2, 6, 3, 7>(a2, a3));
    i32x4_add(i32x4_shuffle::<0, 1, 4, 5>(s01, s23), i32x4_shuffle::<2, 3, 6, 7>(s01, s23))
}

/// What a tile's sums become: int32 stores, or int8 through an output stage.
pub trait Epilogue {
    /// `sums[r][g]`: columns col0 + 4g .. col0 + 4g + 4 of row row0 + r;
    /// only the first `cols` columns exist. Every one of the R rows exists
    /// (the driver picks R = the rows left), so the R rows are straight-line
    /// code: with a run-time row count LLVM hoists the shared
    /// sign-extension of M0 out of the row loop, and V8 then builds the
    /// product from a generic `i64x2.mul` (3 `vpmuludq` + 5) instead of one `vpmuldq`.
    fn emit<const R: usize, const G: usize>(&mut self, sums: &[[v128; G]; R], row0: usize, col0: usize, cols: usize);
}

/// c [M, N] i32 (row `row0` of the product lands in row 0 of `c`).
pub struct StoreI32<'a> {
    pub c: &'a mut [i32],
    pub n: usize,
    pub row0: usize,
}

impl Epilogue for StoreI32<'_> {
    #[inline(always)]
    fn emit<const R: usize, const G: usize>(&mut self, sums: &[[v128; G]; R], row0: usize, col0: usize, cols: usize) {
        for (r, row) in sums.iter().enumerate() {
            let out = &mut self.c[(row0 - self.row0 + r) * self.n + col0..][..cols];
            for (g, &v) in row.iter().enumerate() {
                let n = cols.saturating_sub(4 * g).min(4);
                // SAFETY: 4g + n ≤ cols = out.len().
                unsafe { store_i32_prefix(v, out.as_mut_ptr().add(4 * g), n) };
            }
        }
    }
}

/// y [M, N] i8 through `stage`, requantized in registers right after each
/// tile's reduction (the i32 sums never leave registers).
pub struct StoreRequant<'a> {
    pub y: &'a mut [i8],
    pub n: usize,
    pub stage: &'a OutputStage,
}

impl Epilogue for StoreRequant<'_> {
    #[inline(always)]
    fn emit<const R: usize, const G: usize>(&mut self, sums: &[[v128; G]; R], row0: usize, col0: usize, cols: usize) {
        let groups: [Group; G] = core::array::from_fn(|g| Group::load(self.stage, col0 / 4 + g));
        let q: [[v128; G]; R] = core::array::from_fn(|r| core::array::from_fn(|g| requant4(sums[r][g], &groups[g])));
        for (r, qr) in q.iter().enumerate() {
            let out = &mut self.y[(row0 + r) * self.n + col0..][..cols];
            for j in 0..G.div_ceil(2) {
                let v = narrow8(qr[2 * j], qr[(2 * j + 1).min(G - 1)]);
                let n = cols.saturating_sub(8 * j).min(8);
                // SAFETY: 8j + n ≤ cols = out.len().
                unsafe {
                    let p = out.as_mut_ptr().add(8 * j);
                    match n {
                        8 => v128_store64_lane::<0>(v, p as *mut u64),
                        4 => v128_store32_lane::<0>(v, p as *mut u32),
                        _ => store_i8_prefix(v, p, n),
                    }
                }
            }
        }
    }
}

/// The GEMM driver: row blocks of `block_rows` rows widened once; inside a
/// block, each panel of C columns runs over every tile of R rows (the last
/// tile of a block may be shorter). `w` is `pack_panels(w, n, k, C)`;
/// G = ⌈C/4⌉ vectors of sums per row.
#[inline(always)]
pub fn drive<const R: usize, const C: usize, const G: usize, const OPAQUE: bool, T: PanelInt, E: Epilogue>(
    a: &[i8],
    m: usize,
    n: usize,
    k: usize,
    w: &[T],
    block_rows: usize,
    epi: &mut E,
) {
    const { assert!(C <= 4 * G && C + 4 > 4 * G && R >= 1 && R <= 4) };
    assert_eq!(a.len(), m * k, "gemm: a is not [M, K]");
    let kb = k.div_ceil(KB);
    let panels = n.div_ceil(C);
    assert!(w.len() >= panels * kb * C * KB, "gemm: w is not packed in panels of C");
    let block_rows = block_rows.max(R) / R * R;
    A16.with_borrow_mut(|a16| {
        let mut row0 = 0;
        while row0 < m {
            let rows = (m - row0).min(block_rows);
            widen_block(a, k, row0, rows, R, a16);
            for p in 0..panels {
                let panel = &w[p * kb * C * KB..(p + 1) * kb * C * KB];
                let (col0, cols) = (p * C, (n - p * C).min(C));
                let mut t0 = 0;
                while t0 < rows {
                    let rt = (rows - t0).min(R);
                    let tile = &a16[t0 * kb * KB..(t0 + rt) * kb * KB];
                    match rt {
                        _ if rt == R => tile_sums::<R, C, G, OPAQUE, T, E>(tile, panel, kb, row0 + t0, col0, cols, epi),
                        1 => tile_sums::<1, C, G, OPAQUE, T, E>(tile, panel, kb, row0 + t0, col0, cols, epi),
                        2 if R > 2 => tile_sums::<2, C, G, OPAQUE, T, E>(tile, panel, kb, row0 + t0, col0, cols, epi),
                        3 if R > 3 => tile_sums::<3, C, G, OPAQUE, T, E>(tile, panel, kb, row0 + t0, col0, cols, epi),
                        _ => unreachable!("tiles have 1 to 4 rows"),
                    }
                    t0 += rt;
                }
            }
            row0 += rows;
        }
    });
}

#[inline(always)]
fn tile_sums<const R: usize, const C: usize, const G: usize, const OPAQUE: bool, T: PanelInt, E: Epilogue>(
    tile: &[i16],
    panel: &[T],
    kb: usize,
    row0: usize,
    col0: usize,
    cols: usize,
    epi: &mut E,
) {
    let acc = tile_dot::<R, C, OPAQUE, T>(tile, panel, kb);
    // Panels of C < 4G columns (a variant's) reduce zeros in the missing places.
    let at = |r: usize, c: usize| if c < C { acc[r][c] } else { i32x4_splat(0) };
    let sums: [[v128; G]; R] =
        core::array::from_fn(|r| core::array::from_fn(|g| reduce4(at(r, 4 * g), at(r, 4 * g + 1), at(r, 4 * g + 2), at(r, 4 * g + 3))));
    epi.emit::<R, G>(&sums, row0, col0, cols);
}

/// c [M, N] i32 = a · wᵀ (the registry's simd128 entry).
pub fn gemm(a: &[i8], m: usize, w: &PackedW, c: &mut [i32]) {
    assert!(a.len() == m * w.k && c.len() == m * w.n, "gemm: shapes");
    let n = w.n;
    drive::<ROWS, PANEL, { PANEL / 4 }, OPAQUE, i8, _>(a, m, n, w.k, &w.data, BLOCK_ROWS, &mut StoreI32 { c, n, row0: 0 });
}

/// y [M, N] i8 = stage(a · wᵀ), requantized in registers after each tile.
pub fn qgemm_fused(a: &[i8], m: usize, w: &PackedW, stage: &OutputStage, y: &mut [i8]) {
    assert!(a.len() == m * w.k && y.len() == m * w.n && stage.n() == w.n, "qgemm: shapes");
    if !stage.fits_i8() {
        return qgemm_two_pass(a, m, w, stage, y);
    }
    let n = w.n;
    drive::<ROWS, PANEL, { PANEL / 4 }, OPAQUE, i8, _>(a, m, n, w.k, &w.data, BLOCK_ROWS, &mut StoreRequant { y, n, stage });
}

thread_local! {
    /// The int32 product of `qgemm_two_pass`.
    static ACC: RefCell<Vec<i32>> = const { RefCell::new(Vec::new()) };
}

/// The simd128 GEMM into int32 [M, N], then the simd128 requantization over all of it.
pub fn qgemm_two_pass(a: &[i8], m: usize, w: &PackedW, stage: &OutputStage, y: &mut [i8]) {
    assert!(a.len() == m * w.k && y.len() == m * w.n && stage.n() == w.n, "qgemm: shapes");
    ACC.with_borrow_mut(|acc| {
        acc.clear();
        acc.resize(m * w.n, 0);
        gemm(a, m, w, acc);
        crate::runtime::requant::simd128::requantize_rows(acc, stage, y);
    })
}

//! wasm simd128 kernels on group-wise weights: the integers are unpacked in
//! registers, never to an f32 matrix.
//!
//! ```text
//! tile: R = 1 or 2 activation rows × C = 4 weight rows (output columns; past N the last row repeats
//! and its lanes are dropped), over every group of K in order:
//!   per group: R·C accumulators, lane l holding part of one (row, column) sum
//!              → reduce4: one vector of the 4 columns' sums per row (exact for integers)
//!              → epilogue over the 4 columns at once, the reference's operations lane by lane:
//!                acc[r] += (s_x · scale4) · f32(idot4)  [+ min4 · (s_x · f32(Σ q_x))]
//!   scale4 / min4: one v128 load from the scales regrouped per tile once per call ([`tiles_of`]).
//!
//! int8 activations (widened once per block of rows to i16):
//!   8-bit W, per 8 k and column: i16x8.load8x8_s (w) · i32x4.dot_i16x8_s (x, w) + i32x4.add
//!   4-bit W, per 32 k (16 bytes) and column: one v128.load; o = 8: v ^= 0x88 (u − 8 as a 4-bit
//!     two's complement), then in i16 lanes the four nibbles by shifts:
//!       (v << 12) >> 12, (v << 8) >> 12, (v << 4) >> 12, v >> 12   (arithmetic: u − 8; logical + mask: u)
//!     lane i of the 16-bit load holds bytes 2i, 2i+1, i.e. values 2i, 2i+16, 2i+1, 2i+17 of the block,
//!     so x is permuted once per call to [x(2i)…, x(2i+16)…, x(2i+1)…, x(2i+17)…] (8 each) and the
//!     four products are 4 × i32x4.dot_i16x8_s against signed i16 lanes (exact).
//! float activations:
//!   8-bit W, per 8 k and column: load8x8_s, two extends to i32x4, two f32x4.convert, 2 mul + 2 add
//!   4-bit W, per 32 k and column: one load (^ 0x88 when o = 8), then in i32 lanes nibble j of 8:
//!       (v << (28 − 4j)) >> 28                                   (arithmetic: u − 8; logical: u)
//!     lane i holds bytes 4i..4i+4, so nibble j of lane i is value 4i + j/2 + 16·(j mod 2); x is
//!     permuted to match, and each j is one f32x4.convert, mul and add.
//! ```
//!
//! The integer kernel gives the same idot as [`super::scalar`] and the same
//! f32 outputs (same operations, same order; see the module header). The float
//! kernel sums in lanes: within [`super::f32_grouped_tolerance`].
//!
//! Requirements beyond validity: 8-bit groups a multiple of 8 (4-bit groups are
//! whole blocks of 32 by construction). Other 8-bit groups (never in llama.cpp's
//! formats) run the scalar reference, and so do activation groups that are not
//! a multiple of 16.
//!
//! Measured (Node 20 / V8 on an x86-64 AMD EPYC, minimum of 15 interleaved
//! trials, group 32, against gemm_f32's simd128 kernel on the same weights in f32):
//!
//! | M × N × K | f32 | int8 acts, Q8_0-like | Q4_0-like | Q4_1-like | f32 acts, 8-bit | 4-bit |
//! |---|---|---|---|---|---|---|
//! | 1 × 768 × 768 (in cache) | 9.5 GMAC/s | 1.84× | 1.59× | 1.48× | 0.69× | 0.63× |
//! | 1 × 2048 × 2048 | 7.1–8.4 | 2.1–2.3× | 1.8–2.1× | 1.7–2.0× | 0.8–0.9× | 0.8× |
//! | 1 × 4096 × 4096 (from memory) | 4.4 | 2.0× | 2.8× | 1.9× | 1.2× | 1.1× |
//! | 1 × 11008 × 4096 | 3.2 | 2.5× | 2.6× | 2.0× | 1.1× | 1.0× |
//! | 64 × 768 × 768 | 20.2 | 1.13× | 0.91× | 0.91× | 0.47× | 0.42× |
//!
//! Quantizing the activations adds 2.1 µs per 768 values (2.5 % of the f32 matvec).
//! What was tried and measured:
//! - Per-channel groups (g = K) run the same 8-bit loop at 23–25 GMAC/s: at
//!   g = 32 a quarter of the time goes to the per-group reduction and epilogue.
//!   Regrouping the scales per tile (one v128 load instead of four scalar
//!   loads, four bounds checks and three inserts per group) took the 8-bit
//!   matvec from 1.5× to 1.85× f32; gathering them was as costly as the dots.
//! - Loops over g = 32 that LLVM fully unrolls get their loads clustered at the
//!   top of the block (the wasm backend schedules as if registers were free),
//!   and V8 then spills: 4 k-blocks × 4 columns of weights live at once. An
//!   opaque offset per chunk (to keep the constant offsets in the loads, as
//!   gemm_i8's OPAQUE variant) or a compiler fence did not change that order.
//! - Sign extension by shifts ((v << 8) >> 8, v >> 8, x permuted even / odd)
//!   instead of `i16x8.load8x8_s`: the same speed.
//! - The 2-row 4-bit tile spills (8 x vectors, 8 accumulators, 4 nibble
//!   vectors); it is still faster than 1-row tiles (18.3 vs 16.7 GMAC/s at
//!   M = 64). Reloading x per column (volatile loads, or offsets hidden from
//!   LLVM) made it slower.

use core::arch::wasm32::*;

use std::cell::RefCell;

use super::{check_f32_grouped, check_i8_grouped, prepare_activations_shape, scalar, x_group_sums, QuantizedActs};
use crate::quant::grouped::GroupedWeights;
use crate::quant::QuantError;
use crate::runtime::gemm_i8::simd128::reduce4;

/// Output columns (weight rows) per tile.
pub const COLS: usize = 4;
/// Activation rows per tile (the last tile of a block may have 1).
pub const ROWS: usize = 2;
/// Activation rows prepared (widened or permuted) at a time: 16 rows of K = 4096
/// are 128 KB of i16, while a tile's 4 weight rows stay in L1.
pub const BLOCK_ROWS: usize = 16;

/// The buffers of one call, kept between calls so that a decoder step allocates nothing.
#[derive(Default)]
struct Scratch {
    /// The int8 activations of one row block, widened to i16 (permuted, see [`widen_i8`]).
    xi16: Vec<i16>,
    /// The float activations of one row block, permuted for 4-bit weights ([`permute_f32`]).
    xf32: Vec<f32>,
    /// The scales and minimums regrouped per tile ([`tiles_of`]).
    ts: Vec<f32>,
    tm: Vec<f32>,
    /// Per row and group: s_x · f32(Σ q_x) (int8 activations) or Σ x (float), for the minimum.
    rg: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Four f32 accumulators → [Σ a0, Σ a1, Σ a2, Σ a3].
#[inline(always)]
fn reduce4f(a0: v128, a1: v128, a2: v128, a3: v128) -> v128 {
    let s01 = f32x4_add(i32x4_shuffle::<0, 4, 1, 5>(a0, a1), i32x4_shuffle::<2, 6, 3, 7>(a0, a1));
    let s23 = f32x4_add(i32x4_shuffle::<0, 4, 1, 5>(a2, a3), i32x4_shuffle::<2, 6, 3, 7>(a2, a3));
    f32x4_add(i32x4_shuffle::<0, 1, 4, 5>(s01, s23), i32x4_shuffle::<2, 3, 6, 7>(s01, s23))
}

/// Stores the first `cols` lanes of `v` at `out[0..cols]`.
#[inline(always)]
fn store_f32_prefix(v: v128, out: &mut [f32], cols: usize) {
    if cols == COLS && out.len() >= COLS {
        // SAFETY: 4 f32 fit in `out`.
        unsafe { v128_store(out.as_mut_ptr() as *mut v128, v) };
    } else {
        let mut t = [0f32; 4];
        // SAFETY: `t` holds 4 f32.
        unsafe { v128_store(t.as_mut_ptr() as *mut v128, v) };
        out[..cols].copy_from_slice(&t[..cols]);
    }
}

/// The four nibble vectors of 16 bytes of 4-bit weights in i16 lanes
/// (values 2i, 2i+16, 2i+1, 2i+17 of the block): u − 8 when `SIGNED`, else u.
#[inline(always)]
fn nibbles_i16<const SIGNED: bool>(v: v128) -> [v128; 4] {
    if SIGNED {
        let v = v128_xor(v, u8x16_splat(0x88));
        [i16x8_shr(i16x8_shl(v, 12), 12), i16x8_shr(i16x8_shl(v, 8), 12), i16x8_shr(i16x8_shl(v, 4), 12), i16x8_shr(v, 12)]
    } else {
        let mask = u16x8_splat(0x000F);
        [v128_and(v, mask), v128_and(u16x8_shr(v, 4), mask), v128_and(u16x8_shr(v, 8), mask), u16x8_shr(v, 12)]
    }
}

/// Rows [row0, row0 + rows) of q [M, K] → i16 [rows, K]; with `perm4`, each
/// block of 32 in the order of [`nibbles_i16`].
fn widen_i8(q: &[i8], k: usize, row0: usize, rows: usize, perm4: bool, out: &mut Vec<i16>) {
    out.clear();
    out.resize(rows * k, 0);
    for (r, dst) in out.chunks_exact_mut(k).enumerate() {
        let src = &q[(row0 + r) * k..][..k];
        if perm4 {
            for (s, d) in src.chunks_exact(32).zip(dst.chunks_exact_mut(32)) {
                for i in 0..8 {
                    d[i] = s[2 * i] as i16;
                    d[8 + i] = s[2 * i + 16] as i16;
                    d[16 + i] = s[2 * i + 1] as i16;
                    d[24 + i] = s[2 * i + 17] as i16;
                }
            }
        } else {
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = s as i16;
            }
        }
    }
}

/// Rows [row0, row0 + rows) of x [M, K] with each block of 32 permuted so that
/// vector j (4 lanes) of a block holds values 4i + j/2 + 16·(j mod 2), i = 0..4.
fn permute_f32(x: &[f32], k: usize, row0: usize, rows: usize, out: &mut Vec<f32>) {
    out.clear();
    out.resize(rows * k, 0.0);
    for (s, d) in x[row0 * k..(row0 + rows) * k].chunks_exact(32).zip(out.chunks_exact_mut(32)) {
        for j in 0..8 {
            for i in 0..4 {
                d[4 * j + i] = s[4 * i + j / 2 + 16 * (j % 2)];
            }
        }
    }
}

// ---- int8 activations ----

/// One group's dots for R rows × 4 columns, 8-bit weights: [R] vectors of 4 column sums.
///
/// SAFETY: x[r] + g and w[c] + g are within their rows; 8 divides g.
#[inline(always)]
unsafe fn dots_8bit<const R: usize>(x: [*const i16; R], w: [*const i8; COLS], g: usize) -> [v128; R] {
    let mut acc = [[i32x4_splat(0); COLS]; R];
    for b in 0..g / 8 {
        let off = 8 * b;
        let xv: [v128; R] = core::array::from_fn(|r| v128_load(x[r].add(off) as *const v128));
        for c in 0..COLS {
            let wv = i16x8_load_extend_i8x8(w[c].add(off));
            for r in 0..R {
                acc[r][c] = i32x4_add(acc[r][c], i32x4_dot_i16x8(xv[r], wv));
            }
        }
    }
    core::array::from_fn(|r| reduce4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]))
}

/// [`dots_8bit`] for g = 32 (Q8_0), without a loop to enter and leave per group.
///
/// SAFETY: x[r] + 32 and w[c] + 32 are within their rows.
#[inline(always)]
unsafe fn dots_8bit_32<const R: usize>(x: [*const i16; R], w: [*const i8; COLS]) -> [v128; R] {
    let mut acc = [[i32x4_splat(0); COLS]; R];
    for h in 0..4 {
        let xv: [v128; R] = core::array::from_fn(|r| v128_load(x[r].add(8 * h) as *const v128));
        for c in 0..COLS {
            let wv = i16x8_load_extend_i8x8(w[c].add(8 * h));
            for r in 0..R {
                acc[r][c] = i32x4_add(acc[r][c], i32x4_dot_i16x8(xv[r], wv));
            }
        }
    }
    core::array::from_fn(|r| reduce4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]))
}

/// One group's dots for R rows × 4 columns, 4-bit weights (x permuted by [`widen_i8`]).
///
/// SAFETY: x[r] + g and w[c] + g / 2 are within their rows; 32 divides g.
#[inline(always)]
unsafe fn dots_4bit<const R: usize, const SIGNED: bool>(x: [*const i16; R], w: [*const u8; COLS], g: usize) -> [v128; R] {
    let mut acc = [[i32x4_splat(0); COLS]; R];
    // g = 32 (Q4_0, Q4_1) is one block: no loop to enter and leave per group.
    let blocks = if g == 32 { 1 } else { g / 32 };
    for b in 0..blocks {
        let xo = 32 * b;
        for c in 0..COLS {
            let [p0, p1, p2, p3] = nibbles_i16::<SIGNED>(v128_load(w[c].add(xo / 2) as *const v128));
            for r in 0..R {
                let xr = x[r].add(xo);
                let s01 =
                    i32x4_add(i32x4_dot_i16x8(v128_load(xr as *const v128), p0), i32x4_dot_i16x8(v128_load(xr.add(8) as *const v128), p1));
                let s23 = i32x4_add(
                    i32x4_dot_i16x8(v128_load(xr.add(16) as *const v128), p2),
                    i32x4_dot_i16x8(v128_load(xr.add(24) as *const v128), p3),
                );
                acc[r][c] = i32x4_add(acc[r][c], i32x4_add(s01, s23));
            }
        }
    }
    core::array::from_fn(|r| reduce4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]))
}

/// Weight format of a kernel instance.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Int8,
    Int4Signed,
    Int4Unsigned,
}

fn format_of(w: &GroupedWeights) -> Option<Format> {
    match (w.bits, w.offset) {
        (8, 0) if w.group.is_multiple_of(8) => Some(Format::Int8),
        (4, 8) => Some(Format::Int4Signed),
        (4, 0) => Some(Format::Int4Unsigned),
        _ => None,
    }
}

/// Where a tile writes: y [M, N] (f32 epilogue) or dots [M, N, G].
struct I8Out<'a> {
    y: &'a mut [f32],
    dots: &'a mut [i32],
}

/// An [N, G] table (scales or minimums) regrouped per tile of 4 weight rows:
/// out[(t·G + G_i)·4 + c] = v[(4t + c)·G + G_i] (rows past N repeat the last),
/// so that a tile's 4 values of a group are one v128 load.
fn tiles_of(v: &[f32], n: usize, groups: usize, out: &mut Vec<f32>) {
    let tiles = n.div_ceil(COLS);
    out.clear();
    out.resize(tiles * groups * COLS, 0.0);
    for (t, tile) in out.chunks_exact_mut(groups * COLS).enumerate() {
        let rows: [&[f32]; COLS] = core::array::from_fn(|c| {
            let row = (t * COLS + c).min(n - 1);
            &v[row * groups..(row + 1) * groups]
        });
        // 4 groups at a time: a 4 × 4 transpose in registers (8 shuffles).
        let full = groups / 4 * 4;
        for gi in (0..full).step_by(4) {
            // SAFETY: gi + 4 ≤ G = each row's length, and (gi + 4) · 4 ≤ the tile's G · 4 values.
            unsafe {
                let [a, b, c, d] = rows.map(|r| v128_load(r.as_ptr().add(gi) as *const v128));
                let (ab01, ab23) = (i32x4_shuffle::<0, 4, 1, 5>(a, b), i32x4_shuffle::<2, 6, 3, 7>(a, b));
                let (cd01, cd23) = (i32x4_shuffle::<0, 4, 1, 5>(c, d), i32x4_shuffle::<2, 6, 3, 7>(c, d));
                let o = tile.as_mut_ptr().add(gi * COLS) as *mut v128;
                v128_store(o, i32x4_shuffle::<0, 1, 4, 5>(ab01, cd01));
                v128_store(o.add(1), i32x4_shuffle::<2, 3, 6, 7>(ab01, cd01));
                v128_store(o.add(2), i32x4_shuffle::<0, 1, 4, 5>(ab23, cd23));
                v128_store(o.add(3), i32x4_shuffle::<2, 3, 6, 7>(ab23, cd23));
            }
        }
        for gi in full..groups {
            for (c, row) in rows.iter().enumerate() {
                tile[gi * COLS + c] = row[gi];
            }
        }
    }
}

/// A tile's weight rows: c0 .. c0 + cols (cols ≤ 4), and its scales and
/// minimums from [`tiles_of`] (G · 4 values each; `tm` unused without a minimum).
#[derive(Clone, Copy)]
struct Tile {
    c0: usize,
    cols: usize,
    ts: *const f32,
    tm: *const f32,
}

impl Tile {
    /// Tile c0 / 4 of the regrouped tables `ts` (scales) and `tm` (minimums, when `min`).
    fn of(c0: usize, n: usize, groups: usize, ts: &[f32], tm: &[f32], min: bool) -> Tile {
        let at = c0 / COLS * groups * COLS;
        Tile { c0, cols: (n - c0).min(COLS), ts: ts[at..].as_ptr(), tm: if min { tm[at..].as_ptr() } else { ts.as_ptr() } }
    }
}

/// One tile: activation rows `rows` (widened at `xp`) × the tile's weight
/// rows, every group in order.
///
/// SAFETY: `xp[r]` points at K widened values; the weights are valid and the
/// tile's tables hold G · 4 values; rows[r] < M; `sxi` holds M · G values when MIN.
#[inline(always)]
unsafe fn tile_i8<const R: usize, const F: u8, const MIN: bool, const DOTS: bool>(
    xp: [*const i16; R],
    rows: [usize; R],
    tile: Tile,
    a: &QuantizedActs,
    w: &GroupedWeights,
    sxi: &[f32],
    out: &mut I8Out,
) {
    let Tile { c0, cols, ts, tm } = tile;
    let (n, g, groups, rb) = (w.n, w.group, w.groups(), w.row_bytes());
    let wbytes = if F == 0 { g } else { g / 2 };
    let mut xq = xp;
    let mut wp: [*const u8; COLS] = core::array::from_fn(|c| w.q.as_ptr().add((c0 + c).min(n - 1) * rb));
    let sx_p: [*const f32; R] = core::array::from_fn(|r| a.scale.as_ptr().add(rows[r] * groups));
    let sxi_p: [*const f32; R] = core::array::from_fn(|r| sxi.as_ptr().add(if MIN { rows[r] * groups } else { 0 }));
    let mut acc = [f32x4_splat(0.0); R];
    for gi in 0..groups {
        let idot: [v128; R] = match F {
            0 if g == 32 => dots_8bit_32::<R>(xq, wp.map(|p| p as *const i8)),
            0 => dots_8bit::<R>(xq, wp.map(|p| p as *const i8), g),
            1 => dots_4bit::<R, true>(xq, wp, g),
            _ => dots_4bit::<R, false>(xq, wp, g),
        };
        if DOTS {
            for r in 0..R {
                let mut lanes = [0i32; 4];
                v128_store(lanes.as_mut_ptr() as *mut v128, idot[r]);
                for (c, &v) in lanes.iter().enumerate().take(cols) {
                    out.dots[(rows[r] * n + c0 + c) * groups + gi] = v;
                }
            }
        } else {
            let s4 = v128_load(ts.add(gi * COLS) as *const v128);
            for r in 0..R {
                // acc += (s_x · scale) · f32(idot) [+ min · (s_x · f32(Σ q_x))], as the reference.
                let sx = v128_load32_splat(sx_p[r].add(gi) as *const u32);
                acc[r] = f32x4_add(acc[r], f32x4_mul(f32x4_mul(sx, s4), f32x4_convert_i32x4(idot[r])));
                if MIN {
                    let m4 = v128_load(tm.add(gi * COLS) as *const v128);
                    acc[r] = f32x4_add(acc[r], f32x4_mul(m4, v128_load32_splat(sxi_p[r].add(gi) as *const u32)));
                }
            }
        }
        xq = xq.map(|p| p.add(g));
        wp = wp.map(|p| p.add(wbytes));
    }
    if !DOTS {
        for r in 0..R {
            store_f32_prefix(acc[r], &mut out.y[rows[r] * n + c0..][..cols], cols);
        }
    }
}

/// Regroups the weights' scales (and minimums) per tile (see [`tiles_of`]) and returns the
/// tables the tiles read. One group per row (per-channel) with N a multiple of 4 is already in
/// tile order: the weights' own tables, nothing copied (a decoder step makes ~40 such calls).
fn prepare_tables<'a>(w: &'a GroupedWeights, ts: &'a mut Vec<f32>, tm: &'a mut Vec<f32>) -> (&'a [f32], &'a [f32]) {
    if w.groups() == 1 && w.n.is_multiple_of(COLS) {
        return (&w.scale, w.min.as_deref().unwrap_or(&[]));
    }
    tiles_of(&w.scale, w.n, w.groups(), ts);
    if let Some(min) = &w.min {
        tiles_of(min, w.n, w.groups(), tm);
    }
    (ts, tm)
}

/// Row blocks widened once; inside a block, each tile of 4 weight rows runs
/// over every tile of 2 (then 1) activation rows.
fn drive_i8<const F: u8, const MIN: bool, const DOTS: bool>(a: &QuantizedActs, m: usize, w: &GroupedWeights, out: &mut I8Out) {
    let (n, k, groups) = (w.n, w.k, w.groups());
    SCRATCH.with_borrow_mut(|sc| {
        if MIN {
            sc.rg.clear();
            sc.rg.extend(a.scale.iter().zip(&a.sum).map(|(&s, &q)| s * q as f32));
        }
        let Scratch { xi16, ts, tm, rg, .. } = sc;
        let (ts, tm) = prepare_tables(w, ts, tm);
        let mut row0 = 0;
        while row0 < m {
            let rows = (m - row0).min(BLOCK_ROWS);
            widen_i8(&a.q, k, row0, rows, F != 0, xi16);
            for c0 in (0..n).step_by(COLS) {
                let tile = Tile::of(c0, n, groups, ts, tm, MIN);
                let mut t = 0;
                while t < rows {
                    let xp = |r: usize| xi16[r * k..].as_ptr();
                    // SAFETY: rows t (and t + 1) < rows are in the widened block of rows × K.
                    unsafe {
                        if rows - t >= ROWS {
                            let r2 = [row0 + t, row0 + t + 1];
                            tile_i8::<2, F, MIN, DOTS>([xp(t), xp(t + 1)], r2, tile, a, w, rg, out);
                            t += 2;
                        } else {
                            tile_i8::<1, F, MIN, DOTS>([xp(t)], [row0 + t], tile, a, w, rg, out);
                            t += 1;
                        }
                    }
                }
            }
            row0 += rows;
        }
    })
}

fn run_i8<const DOTS: bool>(a: &QuantizedActs, m: usize, w: &GroupedWeights, out: &mut I8Out) -> bool {
    match (format_of(w), w.min.is_some()) {
        (Some(Format::Int8), false) => drive_i8::<0, false, DOTS>(a, m, w, out),
        (Some(Format::Int8), true) => drive_i8::<0, true, DOTS>(a, m, w, out),
        (Some(Format::Int4Signed), false) => drive_i8::<1, false, DOTS>(a, m, w, out),
        (Some(Format::Int4Signed), true) => drive_i8::<1, true, DOTS>(a, m, w, out),
        (Some(Format::Int4Unsigned), false) => drive_i8::<2, false, DOTS>(a, m, w, out),
        (Some(Format::Int4Unsigned), true) => drive_i8::<2, true, DOTS>(a, m, w, out),
        (None, _) => return false,
    }
    true
}

/// y [M, N] from int8 activations (the registry's simd128 entry): the same
/// bits as [`scalar::matmul_i8_grouped`].
pub fn matmul_i8_grouped(a: &QuantizedActs, m: usize, w: &GroupedWeights, y: &mut [f32]) -> Result<(), QuantError> {
    check_i8_grouped(a, m, w, y.len(), 1)?;
    if !run_i8::<false>(a, m, w, &mut I8Out { y, dots: &mut [] }) {
        return scalar::matmul_i8_grouped(a, m, w, y);
    }
    Ok(())
}

/// dots [M, N, G]: every group's idot, as [`scalar::group_dots_i8`].
pub fn group_dots_i8(a: &QuantizedActs, m: usize, w: &GroupedWeights, dots: &mut [i32]) -> Result<(), QuantError> {
    check_i8_grouped(a, m, w, dots.len(), w.groups())?;
    if !run_i8::<true>(a, m, w, &mut I8Out { y: &mut [], dots }) {
        return scalar::group_dots_i8(a, m, w, dots);
    }
    Ok(())
}

// ---- float activations ----

/// One group's f32 dots for R rows × 4 columns, 8-bit weights.
///
/// SAFETY: x[r] + g and w[c] + g are within their rows; 8 divides g.
#[inline(always)]
unsafe fn fdots_8bit<const R: usize>(x: [*const f32; R], w: [*const i8; COLS], g: usize) -> [v128; R] {
    let mut acc = [[f32x4_splat(0.0); COLS]; R];
    for b in 0..g / 8 {
        let off = 8 * b;
        let xv: [[v128; 2]; R] =
            core::array::from_fn(|r| [v128_load(x[r].add(off) as *const v128), v128_load(x[r].add(off + 4) as *const v128)]);
        for c in 0..COLS {
            let w16 = i16x8_load_extend_i8x8(w[c].add(off));
            let lo = f32x4_convert_i32x4(i32x4_extend_low_i16x8(w16));
            let hi = f32x4_convert_i32x4(i32x4_extend_high_i16x8(w16));
            for r in 0..R {
                acc[r][c] = f32x4_add(acc[r][c], f32x4_add(f32x4_mul(xv[r][0], lo), f32x4_mul(xv[r][1], hi)));
            }
        }
    }
    core::array::from_fn(|r| reduce4f(acc[r][0], acc[r][1], acc[r][2], acc[r][3]))
}

/// One group's f32 dots for R rows × 4 columns, 4-bit weights (x permuted by [`permute_f32`]).
///
/// SAFETY: x[r] + g and w[c] + g / 2 are within their rows; 32 divides g.
#[inline(always)]
unsafe fn fdots_4bit<const R: usize, const SIGNED: bool>(x: [*const f32; R], w: [*const u8; COLS], g: usize) -> [v128; R] {
    let mut acc = [[f32x4_splat(0.0); COLS]; R];
    for b in 0..g / 32 {
        let xo = 32 * b;
        for c in 0..COLS {
            let mut v = v128_load(w[c].add(xo / 2) as *const v128);
            if SIGNED {
                v = v128_xor(v, u8x16_splat(0x88));
            }
            for j in 0..8u32 {
                let t = i32x4_shl(v, 28 - 4 * j);
                let u = if SIGNED { i32x4_shr(t, 28) } else { u32x4_shr(t, 28) };
                let wf = f32x4_convert_i32x4(u);
                for r in 0..R {
                    let xv = v128_load(x[r].add(xo + 4 * j as usize) as *const v128);
                    acc[r][c] = f32x4_add(acc[r][c], f32x4_mul(xv, wf));
                }
            }
        }
    }
    core::array::from_fn(|r| reduce4f(acc[r][0], acc[r][1], acc[r][2], acc[r][3]))
}

/// One tile of the float product: acc += scale4 · dot4 [+ min4 · Σ x] per group.
///
/// SAFETY: `xp[r]` points at K (prepared) values of row rows[r]; the weights are
/// valid; the tile's tables hold G · 4 values; `xsum` holds M · G values when MIN.
#[inline(always)]
unsafe fn tile_f32<const R: usize, const F: u8, const MIN: bool>(
    xp: [*const f32; R],
    rows: [usize; R],
    tile: Tile,
    w: &GroupedWeights,
    xsum: &[f32],
    y: &mut [f32],
) {
    let Tile { c0, cols, ts, tm } = tile;
    let (n, g, groups, rb) = (w.n, w.group, w.groups(), w.row_bytes());
    let wbytes = if F == 0 { g } else { g / 2 };
    let mut xq = xp;
    let mut wp: [*const u8; COLS] = core::array::from_fn(|c| w.q.as_ptr().add((c0 + c).min(n - 1) * rb));
    let xs_p: [*const f32; R] = core::array::from_fn(|r| xsum.as_ptr().add(if MIN { rows[r] * groups } else { 0 }));
    let mut acc = [f32x4_splat(0.0); R];
    for gi in 0..groups {
        let dot: [v128; R] = match F {
            0 => fdots_8bit::<R>(xq, wp.map(|p| p as *const i8), g),
            1 => fdots_4bit::<R, true>(xq, wp, g),
            _ => fdots_4bit::<R, false>(xq, wp, g),
        };
        let s4 = v128_load(ts.add(gi * COLS) as *const v128);
        for r in 0..R {
            acc[r] = f32x4_add(acc[r], f32x4_mul(s4, dot[r]));
            if MIN {
                let m4 = v128_load(tm.add(gi * COLS) as *const v128);
                acc[r] = f32x4_add(acc[r], f32x4_mul(m4, v128_load32_splat(xs_p[r].add(gi) as *const u32)));
            }
        }
        xq = xq.map(|p| p.add(g));
        wp = wp.map(|p| p.add(wbytes));
    }
    for r in 0..R {
        store_f32_prefix(acc[r], &mut y[rows[r] * n + c0..][..cols], cols);
    }
}

fn drive_f32<const F: u8, const MIN: bool>(x: &[f32], m: usize, w: &GroupedWeights, y: &mut [f32]) {
    let (n, k, groups) = (w.n, w.k, w.groups());
    SCRATCH.with_borrow_mut(|sc| {
        if MIN {
            x_group_sums(x, w.group, &mut sc.rg);
        }
        let Scratch { xf32, ts, tm, rg, .. } = sc;
        let (ts, tm) = prepare_tables(w, ts, tm);
        let mut row0 = 0;
        while row0 < m {
            let rows = (m - row0).min(BLOCK_ROWS);
            // 8-bit weights read x as it is; 4-bit ones a permuted copy of the block.
            let (base, first) = if F == 0 {
                (x, row0)
            } else {
                permute_f32(x, k, row0, rows, xf32);
                (&xf32[..], 0)
            };
            for c0 in (0..n).step_by(COLS) {
                let tile = Tile::of(c0, n, groups, ts, tm, MIN);
                let mut t = 0;
                while t < rows {
                    let xp = |r: usize| base[(first + r) * k..].as_ptr();
                    // SAFETY: rows first + t (and + 1) hold K values in `base`.
                    unsafe {
                        if rows - t >= ROWS {
                            let r2 = [row0 + t, row0 + t + 1];
                            tile_f32::<2, F, MIN>([xp(t), xp(t + 1)], r2, tile, w, rg, y);
                            t += 2;
                        } else {
                            tile_f32::<1, F, MIN>([xp(t)], [row0 + t], tile, w, rg, y);
                            t += 1;
                        }
                    }
                }
            }
            row0 += rows;
        }
    })
}

/// y [M, N] = x [M, K] · Wᵀ, float activations (the registry's simd128 entry):
/// within [`super::f32_grouped_tolerance`] of [`scalar::matmul_f32_grouped`].
pub fn matmul_f32_grouped(x: &[f32], m: usize, w: &GroupedWeights, y: &mut [f32]) -> Result<(), QuantError> {
    check_f32_grouped(x, m, w, y)?;
    match (format_of(w), w.min.is_some()) {
        (Some(Format::Int8), false) => drive_f32::<0, false>(x, m, w, y),
        (Some(Format::Int8), true) => drive_f32::<0, true>(x, m, w, y),
        (Some(Format::Int4Signed), false) => drive_f32::<1, false>(x, m, w, y),
        (Some(Format::Int4Signed), true) => drive_f32::<1, true>(x, m, w, y),
        (Some(Format::Int4Unsigned), false) => drive_f32::<2, false>(x, m, w, y),
        (Some(Format::Int4Unsigned), true) => drive_f32::<2, true>(x, m, w, y),
        (None, _) => return scalar::matmul_f32_grouped(x, m, w, y),
    }
    Ok(())
}

// ---- activations ----

/// [`scalar::quantize_activations_into`] 16 values at a time (groups of a
/// multiple of 16; others run the reference): the same q, s and Σ q.
/// round(r) half away from zero is trunc(r) ± 1 when |r − trunc(r)| ≥ ½ (r −
/// trunc(r) is exact), and x / s is the same IEEE division as the reference's.
///
/// Every operation is one x64 instruction under V8: NaN / ±Inf are found by
/// the group's own pass (x ≠ x, or max|x| = ∞) instead of a scan beforehand, so
/// the clamp and max|x| use the pseudo-min/max (`minps` / `maxps`, exact on
/// finite values), and the clamped r, an integer in [−127, 127], becomes an
/// i32 through the bits of r + 1.5·2²³ (exact there) rather than `trunc_sat`.
pub fn quantize_activations_into(x: &[f32], m: usize, k: usize, group: usize, out: &mut QuantizedActs) -> Result<(), QuantError> {
    if !group.is_multiple_of(16) {
        return scalar::quantize_activations_into(x, m, k, group, out);
    }
    prepare_activations_shape(x, m, k, group, out)?;
    // 1.5 · 2²³: for an integer |r| ≤ 127, bits(r + MAGIC) = bits(MAGIC) + r.
    const MAGIC: f32 = 12_582_912.0;
    let (half, one, sign, lim, magic) = (f32x4_splat(0.5), f32x4_splat(1.0), f32x4_splat(-0.0), f32x4_splat(127.0), f32x4_splat(MAGIC));
    let magic_bits = i32x4_splat(MAGIC.to_bits() as i32);
    for (gi, (xg, qg)) in x.chunks_exact(group).zip(out.q.chunks_exact_mut(group)).enumerate() {
        // SAFETY: every load and store is 16 values inside the group (a multiple of 16).
        unsafe {
            let p = xg.as_ptr();
            let (mut amax, mut nan) = (f32x4_splat(0.0), i32x4_splat(0));
            for i in (0..group).step_by(4) {
                let v = v128_load(p.add(i) as *const v128);
                amax = f32x4_pmax(amax, f32x4_abs(v));
                nan = v128_or(nan, f32x4_ne(v, v));
            }
            let amax = f32x4_pmax(amax, i32x4_shuffle::<2, 3, 0, 1>(amax, amax));
            let amax = f32x4_extract_lane::<0>(f32x4_pmax(amax, i32x4_shuffle::<1, 0, 3, 2>(amax, amax)));
            if v128_any_true(nan) || amax == f32::INFINITY {
                if let Some(e) = super::first_non_finite(x) {
                    return Err(e);
                }
            }
            let s = amax / 127.0;
            if s == 0.0 {
                continue;
            }
            let sv = f32x4_splat(s);
            let mut sum = i32x4_splat(0);
            for i in (0..group).step_by(16) {
                let q: [v128; 4] = core::array::from_fn(|j| {
                    let r = f32x4_div(v128_load(p.add(i + 4 * j) as *const v128), sv);
                    let t = f32x4_trunc(r);
                    let away = v128_and(f32x4_ge(f32x4_abs(f32x4_sub(r, t)), half), v128_or(v128_and(r, sign), one));
                    let r = f32x4_pmin(f32x4_pmax(f32x4_add(t, away), f32x4_neg(lim)), lim);
                    i32x4_sub(f32x4_add(r, magic), magic_bits)
                });
                sum = i32x4_add(sum, i32x4_add(i32x4_add(q[0], q[1]), i32x4_add(q[2], q[3])));
                let q16 = i8x16_narrow_i16x8(i16x8_narrow_i32x4(q[0], q[1]), i16x8_narrow_i32x4(q[2], q[3]));
                v128_store(qg.as_mut_ptr().add(i) as *mut v128, q16);
            }
            let sum = i32x4_add(sum, i32x4_shuffle::<2, 3, 0, 1>(sum, sum));
            out.scale[gi] = s;
            out.sum[gi] = i32x4_extract_lane::<0>(i32x4_add(sum, i32x4_shuffle::<1, 0, 3, 2>(sum, sum)));
        }
    }
    Ok(())
}

//! simd128 requantization, bit-exact with the scalar reference
//! ([`super::requantize`]) for every input, 4 channels per vector.
//!
//! Per group of 4 channels, with the constants of [`super::lane`]:
//!
//! ```text
//! x   = (acc + bias) · 2^left                      i32, wrapping (= acc.wrapping_shl(left))
//! q   = SRDHM(x, M0) = ⌊(x·M0 + 2^30) / 2^31⌋      the truncating division of the reference,
//!                                                   with its sign-dependent nudge, is this floor
//!     = high half of 2·(x·M0 + 2^30)               in i64 lanes: two extmuls, two adds, one shuffle
//!       (x = M0 = INT32_MIN wraps to INT32_MIN; xor with −1 gives INT32_MAX, the saturation)
//! r   = RDBP(q, e) = ⌊q / 2^e⌋ + ((q & mask) > (mask >> 1) + [q < 0])
//!       with ⌊q / 2^e⌋ = ⌊(q + 2^31)·2^(31−e) / 2^31⌋ − 2^(31−e)   (u32 lanes, e varies per lane,
//!                                                   which no simd128 shift can do)
//! y   = clamp(clamp(r, act_min − zp, act_max − zp) + zp, act_min, act_max)
//!       (= clamp(r +sat zp, act_min, act_max); the inner bounds are clamped to i32, so the add never wraps)
//! ```

use core::arch::wasm32::*;

use super::{lane, OutputStage, LANE_VECS};

/// One group's constants in registers.
#[derive(Clone, Copy)]
pub struct Group {
    bias: v128,
    left_mul: v128,
    m0: v128,
    sat: v128,
    mask: v128,
    half: v128,
    f: v128,
    lo: v128,
    hi: v128,
    zp: v128,
    amin: v128,
    amax: v128,
}

impl Group {
    /// Loads group `g` (channels 4g..4g+4) of `stage`.
    #[inline(always)]
    pub fn load(stage: &OutputStage, g: usize) -> Group {
        let l = &stage.lanes()[g * LANE_VECS * 4..(g + 1) * LANE_VECS * 4];
        let p = l.as_ptr();
        // SAFETY: `l` holds LANE_VECS · 4 i32; each load reads 4 of them (unaligned loads are allowed).
        let v = |i: usize| unsafe { v128_load(p.add(i * 4) as *const v128) };
        Group {
            bias: v(lane::BIAS),
            left_mul: v(lane::LEFT_MUL),
            m0: v(lane::M0),
            sat: v(lane::SAT),
            mask: v(lane::MASK),
            half: v(lane::HALF),
            f: v(lane::F),
            lo: v(lane::LO),
            hi: v(lane::HI),
            zp: v(lane::ZP),
            amin: v(lane::AMIN),
            amax: v(lane::AMAX),
        }
    }
}

/// The outputs of 4 channels (i32x4, each in [act_min, act_max]) from their accumulators.
#[inline(always)]
pub fn requant4(acc: v128, g: &Group) -> v128 {
    let x = i32x4_mul(i32x4_add(acc, g.bias), g.left_mul);
    // SaturatingRoundingDoublingHighMul.
    let nudge = i64x2_splat(1 << 30);
    let lo = i64x2_add(i64x2_extmul_low_i32x4(x, g.m0), nudge);
    let hi = i64x2_add(i64x2_extmul_high_i32x4(x, g.m0), nudge);
    let q = i32x4_shuffle::<1, 3, 5, 7>(i64x2_add(lo, lo), i64x2_add(hi, hi));
    let q = v128_xor(q, v128_and(i32x4_eq(x, i32x4_splat(i32::MIN)), g.sat));
    // RoundingDivideByPOT with a shift per lane.
    let qb = v128_xor(q, i32x4_splat(i32::MIN));
    let flo = i64x2_extmul_low_u32x4(qb, g.f);
    let fhi = i64x2_extmul_high_u32x4(qb, g.f);
    let floor = i32x4_sub(i32x4_shuffle::<1, 3, 5, 7>(i64x2_add(flo, flo), i64x2_add(fhi, fhi)), g.f);
    let threshold = i32x4_sub(g.half, i32x4_shr(q, 31));
    let r = i32x4_sub(floor, i32x4_gt(v128_and(q, g.mask), threshold));
    // Zero point and activation clamp.
    let r = i32x4_add(i32x4_min(i32x4_max(r, g.lo), g.hi), g.zp);
    i32x4_min(i32x4_max(r, g.amin), g.amax)
}

/// Two groups of outputs (8 channels, each in [−128, 127]) as 8 i8 in the low half.
#[inline(always)]
pub fn narrow8(a: v128, b: v128) -> v128 {
    let h = i16x8_narrow_i32x4(a, b);
    i8x16_narrow_i16x8(h, h)
}

/// y [M, N] i8 from acc [M, N] i32: the SIMD twin of [`super::requantize_rows`].
pub fn requantize_rows(acc: &[i32], stage: &OutputStage, y: &mut [i8]) {
    let n = stage.n();
    assert!(acc.len() == y.len() && (n == 0 || acc.len().is_multiple_of(n)), "requantize_rows: shapes");
    if n == 0 {
        return;
    }
    if !stage.fits_i8() {
        // `as i8` would wrap where the narrowing saturates: keep the reference's behaviour.
        return super::requantize_rows(acc, stage, y);
    }
    // Row by row, each group's constants loaded where they are used. (Channel
    // strips outside and rows inside would load them once per strip, but then
    // LLVM hoists the sign extension of M0 out of the row loop, and V8 builds
    // each product from a generic `i64x2.mul`: measured 2× slower.)
    let full = n / 8 * 8;
    for (row_acc, row_y) in acc.chunks_exact(n).zip(y.chunks_exact_mut(n)) {
        let mut ch = 0;
        while ch < full {
            let (g0, g1) = (Group::load(stage, ch / 4), Group::load(stage, ch / 4 + 1));
            // SAFETY: ch + 8 ≤ n = row length, for both rows.
            unsafe {
                let a0 = v128_load(row_acc.as_ptr().add(ch) as *const v128);
                let a1 = v128_load(row_acc.as_ptr().add(ch + 4) as *const v128);
                let out = narrow8(requant4(a0, &g0), requant4(a1, &g1));
                v128_store64_lane::<0>(out, row_y.as_mut_ptr().add(ch) as *mut u64);
            }
            ch += 8;
        }
        while ch < n {
            // The ragged end: up to 7 channels through zero-padded vectors.
            let cols = (n - ch).min(4);
            // SAFETY: ch + cols ≤ n, for both rows.
            unsafe {
                let v = requant4(load_i32_prefix(row_acc.as_ptr().add(ch), cols), &Group::load(stage, ch / 4));
                store_i8_prefix(narrow8(v, v), row_y.as_mut_ptr().add(ch), cols);
            }
            ch += cols;
        }
    }
}

// Partial vectors. Plain copies (`copy_from_slice`) of a run-time length
// compile to `memory.copy`, which V8 runs as a call into C: tens of
// nanoseconds per ragged row. These move the elements one by one instead.

/// The first `n` ≤ 4 i32 at `p` in the low lanes, zeros above.
///
/// # Safety
/// `p` must be valid for reading `n` i32.
#[inline(always)]
pub unsafe fn load_i32_prefix(p: *const i32, n: usize) -> v128 {
    match n {
        0 => i32x4_splat(0),
        1 => v128_load32_zero(p as *const u32),
        2 => v128_load64_zero(p as *const u64),
        3 => v128_load32_lane::<2>(v128_load64_zero(p as *const u64), p.add(2) as *const u32),
        _ => v128_load(p as *const v128),
    }
}

/// Stores the low `n` ≤ 4 lanes of `v` (i32) at `p`.
///
/// # Safety
/// `p` must be valid for writing `n` i32.
#[inline(always)]
pub unsafe fn store_i32_prefix(v: v128, p: *mut i32, n: usize) {
    debug_assert!(n <= 4);
    if n == 4 {
        return v128_store(p as *mut v128, v);
    }
    if n >= 2 {
        v128_store64_lane::<0>(v, p as *mut u64);
    }
    match n {
        1 => v128_store32_lane::<0>(v, p as *mut u32),
        3 => v128_store32_lane::<2>(v, p.add(2) as *mut u32),
        _ => {}
    }
}

/// Stores the low `n` ≤ 8 bytes of `v` at `p`.
///
/// # Safety
/// `p` must be valid for writing `n` i8.
#[inline(always)]
pub unsafe fn store_i8_prefix(v: v128, p: *mut i8, n: usize) {
    debug_assert!(n <= 8);
    let bytes = u64x2_extract_lane::<0>(v).to_le_bytes();
    for (i, &b) in bytes.iter().enumerate().take(n) {
        // Volatile, so that LLVM does not turn the loop back into a memory.copy.
        core::ptr::write_volatile(p.add(i), b as i8);
    }
}

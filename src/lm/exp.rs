//! e^x, SiLU and the softmax numerators of the decoder, in plain f32 arithmetic (no libm
//! call), so that every platform gives the same bits; the slice forms run four lanes at a
//! time on wasm simd128 with the same operations in the same order as the scalar code.
//!
//! ```text
//! e^x:      x = n·ln2 + r, n = round_half_even(x·log2 e), r = (x − n·ln2_hi) − n·ln2_lo  (Cody–Waite)
//!           e^r ≈ 1 + r(1 + r(1/2 + r(1/6 + r(1/24 + r(1/120 + r/720)))))   (rel. error < 2·10⁻⁷)
//!           e^x = e^r · 2ⁿ through the exponent bits; x < −87.3 → 0, x > 88.7 → +∞, NaN → NaN
//! silu(x) = x / (1 + e^(−x));  swiglu: a ← silu(a) · u
//! softmax numerators: s ← e^(s − max s); Σ s summed in 4 lanes (lane j: s[4i + j]),
//!           then (l0 + l1) + (l2 + l3), then the tail in order
//! ```

const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
const LOW: f32 = -87.3;
const HIGH: f32 = 88.7;

/// e^x (see the module header).
#[inline]
pub fn exp(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    if x < LOW {
        return 0.0;
    }
    if x > HIGH {
        return f32::INFINITY;
    }
    let n = (x * LOG2E).round_ties_even();
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// silu(x) = x · σ(x) = x / (1 + e^(−x)).
#[inline]
pub fn silu(x: f32) -> f32 {
    x / (1.0 + exp(-x))
}

/// a ← silu(a) ⊙ u (the SwiGLU gate), four lanes at a time on simd128.
pub fn swiglu(a: &mut [f32], u: &[f32]) {
    let n = a.len().min(u.len());
    let done = simd::swiglu(&mut a[..n], &u[..n]);
    for (x, &v) in a[done..n].iter_mut().zip(&u[done..n]) {
        *x = silu(*x) * v;
    }
}

/// The maximum by comparison: m ← v when v > m, from −∞ (NaN never wins, as f32::max),
/// without a call to fmaxf.
fn max_by_comparison<'a>(s: impl IntoIterator<Item = &'a f32>) -> f32 {
    s.into_iter().fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
}

/// s ← e^(s − max s) in place; returns Σ s (summed as the module header says).
pub fn softmax_numerators(s: &mut [f32]) -> f32 {
    let max = simd::max(s);
    let (done, lanes) = simd::exp_shifted(s, max);
    let mut tail = 0f32;
    for v in &mut s[done..] {
        *v = exp(*v - max);
        tail += *v;
    }
    ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + tail
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd {
    use core::arch::wasm32::*;

    use super::{HIGH, LN2_HI, LN2_LO, LOG2E, LOW};

    /// [`super::exp`] on four lanes: the same operations, the branches as selects.
    #[inline(always)]
    fn exp4(x: v128) -> v128 {
        let c = f32x4_splat;
        let n = f32x4_nearest(f32x4_mul(x, c(LOG2E)));
        let r = f32x4_sub(f32x4_sub(x, f32x4_mul(n, c(LN2_HI))), f32x4_mul(n, c(LN2_LO)));
        let mut p = f32x4_add(c(1.0 / 120.0), f32x4_mul(r, c(1.0 / 720.0)));
        for k in [1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
            p = f32x4_add(c(k), f32x4_mul(r, p));
        }
        // 2ⁿ: n ∈ [−126, 128] wherever the result is kept (x within [LOW, HIGH]).
        let two_n = i32x4_shl(i32x4_add(i32x4_trunc_sat_f32x4(n), i32x4_splat(127)), 23);
        let y = f32x4_mul(p, two_n);
        let y = v128_bitselect(c(f32::INFINITY), y, f32x4_gt(x, c(HIGH)));
        let y = v128_bitselect(c(0.0), y, f32x4_lt(x, c(LOW)));
        v128_bitselect(x, y, f32x4_ne(x, x))
    }

    /// a ← silu(a) · u for the first multiple of 4 values; returns how many.
    pub fn swiglu(a: &mut [f32], u: &[f32]) -> usize {
        let n = a.len() / 4 * 4;
        for (a4, u4) in a[..n].chunks_exact_mut(4).zip(u[..n].chunks_exact(4)) {
            // SAFETY: both chunks hold 4 f32.
            unsafe {
                let x = v128_load(a4.as_ptr() as *const v128);
                let e = exp4(f32x4_neg(x));
                let s = f32x4_div(x, f32x4_add(f32x4_splat(1.0), e));
                v128_store(a4.as_mut_ptr() as *mut v128, f32x4_mul(s, v128_load(u4.as_ptr() as *const v128)));
            }
        }
        n
    }

    /// [`super::max_by_comparison`] four lanes at a time: `f32x4.pmax` (m < v ? v : m) is
    /// the same rule, and the maximum of a set does not depend on the order it is taken in
    /// (but for the sign of a zero maximum, which s − max and e^(s − max) do not see).
    pub fn max(s: &[f32]) -> f32 {
        let n = s.len() / 4 * 4;
        let mut m = f32x4_splat(f32::NEG_INFINITY);
        for s4 in s[..n].chunks_exact(4) {
            // SAFETY: the chunk holds 4 f32.
            m = f32x4_pmax(m, unsafe { v128_load(s4.as_ptr() as *const v128) });
        }
        let lanes = [f32x4_extract_lane::<0>(m), f32x4_extract_lane::<1>(m), f32x4_extract_lane::<2>(m), f32x4_extract_lane::<3>(m)];
        super::max_by_comparison(lanes.iter().chain(&s[n..]))
    }

    /// s ← e^(s − max) for the first multiple of 4 values; returns how many and the lane sums.
    pub fn exp_shifted(s: &mut [f32], max: f32) -> (usize, [f32; 4]) {
        let n = s.len() / 4 * 4;
        let mut acc = f32x4_splat(0.0);
        for s4 in s[..n].chunks_exact_mut(4) {
            // SAFETY: the chunk holds 4 f32.
            unsafe {
                let e = exp4(f32x4_sub(v128_load(s4.as_ptr() as *const v128), f32x4_splat(max)));
                v128_store(s4.as_mut_ptr() as *mut v128, e);
                acc = f32x4_add(acc, e);
            }
        }
        (n, [f32x4_extract_lane::<0>(acc), f32x4_extract_lane::<1>(acc), f32x4_extract_lane::<2>(acc), f32x4_extract_lane::<3>(acc)])
    }
}

/// The scalar twin: the same lanes and order as the simd128 code.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod simd {
    use super::{exp, silu};

    pub fn max(s: &[f32]) -> f32 {
        super::max_by_comparison(s)
    }

    pub fn swiglu(a: &mut [f32], u: &[f32]) -> usize {
        for (x, &v) in a.iter_mut().zip(u) {
            *x = silu(*x) * v;
        }
        a.len()
    }

    pub fn exp_shifted(s: &mut [f32], max: f32) -> (usize, [f32; 4]) {
        let n = s.len() / 4 * 4;
        let mut acc = [0f32; 4];
        for s4 in s[..n].chunks_exact_mut(4) {
            for (a, v) in acc.iter_mut().zip(s4) {
                *v = exp(*v - max);
                *a += *v;
            }
        }
        (n, acc)
    }
}

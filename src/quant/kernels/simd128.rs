//! wasm simd128 kernels, four lanes at a time; the tail (n mod 4) and
//! stochastic rounding (a 64-bit hash per element) go through the scalar
//! reference. Every lane does exactly what `scalar` does, so the results are
//! bit-identical (checked in the browser by tests/suite/equivalence/).

use core::arch::wasm32::*;

use super::scalar;
use crate::quant::{QParams, Rounding};

/// round(v) for the deterministic modes, lane-wise, matching `Rounding::round`.
#[inline(always)]
fn round4(v: v128, rounding: Rounding) -> v128 {
    match rounding {
        Rounding::HalfEven => f32x4_nearest(v),
        Rounding::Floor => f32x4_floor(v),
        // Half away from zero: t = trunc(v); d = v − t (exact);
        // t + sign(v) where |d| ≥ 0.5, else t. Same as f32::round.
        _ => {
            let t = f32x4_trunc(v);
            let d = f32x4_sub(v, t);
            let up = f32x4_ge(f32x4_abs(d), f32x4_splat(0.5));
            let sign_one = v128_or(v128_and(v, f32x4_splat(-0.0)), f32x4_splat(1.0));
            f32x4_add(t, v128_and(up, sign_one))
        }
    }
}

/// q4 = clamp(round(r4 / s + Z), qmin, qmax) as i32
#[inline(always)]
fn quantize4(r: v128, s: v128, z: v128, lo: v128, hi: v128, rounding: Rounding) -> v128 {
    let v = f32x4_add(f32x4_div(r, s), z);
    i32x4_trunc_sat_f32x4(f32x4_pmax(f32x4_pmin(round4(v, rounding), hi), lo))
}

pub fn quantize(x: &[f32], p: &QParams, rounding: Rounding, base: usize, q: &mut [i32]) {
    assert_eq!(x.len(), q.len(), "quantize: x and q differ in length");
    if let Rounding::Stochastic { .. } = rounding {
        return scalar::quantize(x, p, rounding, base, q);
    }
    let n4 = x.len() / 4 * 4;
    let (s, z) = (f32x4_splat(p.scale), f32x4_splat(p.zero_point as f32));
    let (lo, hi) = (f32x4_splat(p.qmin as f32), f32x4_splat(p.qmax as f32));
    for i in (0..n4).step_by(4) {
        // SAFETY: i + 4 ≤ n4 ≤ len of both slices; unaligned v128 loads and stores are allowed.
        unsafe {
            let r = v128_load(x.as_ptr().add(i) as *const v128);
            v128_store(q.as_mut_ptr().add(i) as *mut v128, quantize4(r, s, z, lo, hi, rounding));
        }
    }
    scalar::quantize(&x[n4..], p, rounding, base + n4, &mut q[n4..]);
}

pub fn dequantize(q: &[i32], p: &QParams, out: &mut [f32]) {
    assert_eq!(q.len(), out.len(), "dequantize: q and out differ in length");
    let n4 = q.len() / 4 * 4;
    let (s, z) = (f32x4_splat(p.scale), i32x4_splat(p.zero_point));
    for i in (0..n4).step_by(4) {
        // SAFETY: as in `quantize`.
        unsafe {
            let qi = v128_load(q.as_ptr().add(i) as *const v128);
            let r = f32x4_mul(f32x4_convert_i32x4(i32x4_sub(qi, z)), s);
            v128_store(out.as_mut_ptr().add(i) as *mut v128, r);
        }
    }
    scalar::dequantize(&q[n4..], p, &mut out[n4..]);
}

pub fn fake_quant(x: &[f32], p: &QParams, rounding: Rounding, base: usize, out: &mut [f32]) {
    assert_eq!(x.len(), out.len(), "fake_quant: x and out differ in length");
    if let Rounding::Stochastic { .. } = rounding {
        return scalar::fake_quant(x, p, rounding, base, out);
    }
    let n4 = x.len() / 4 * 4;
    let (s, zf, zi) = (f32x4_splat(p.scale), f32x4_splat(p.zero_point as f32), i32x4_splat(p.zero_point));
    let (lo, hi) = (f32x4_splat(p.qmin as f32), f32x4_splat(p.qmax as f32));
    for i in (0..n4).step_by(4) {
        // SAFETY: as in `quantize`.
        unsafe {
            let r = v128_load(x.as_ptr().add(i) as *const v128);
            let qi = quantize4(r, s, zf, lo, hi, rounding);
            let rq = f32x4_mul(f32x4_convert_i32x4(i32x4_sub(qi, zi)), s);
            v128_store(out.as_mut_ptr().add(i) as *mut v128, rq);
        }
    }
    scalar::fake_quant(&x[n4..], p, rounding, base + n4, &mut out[n4..]);
}

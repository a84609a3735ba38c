//! Scalar reference kernels: the definition the SIMD kernels must match bit for bit.
//! Shapes: x, q, out are flat slices of equal length n.

use crate::quant::{QParams, Rounding};

/// q[i] = clamp(round(x[i] / s + Z), qmin, qmax)
pub fn quantize(x: &[f32], p: &QParams, rounding: Rounding, base: usize, q: &mut [i32]) {
    assert_eq!(x.len(), q.len(), "quantize: x and q differ in length");
    let (z, lo, hi) = (p.zero_point as f32, p.qmin as f32, p.qmax as f32);
    for (i, (&r, qi)) in x.iter().zip(q.iter_mut()).enumerate() {
        *qi = rounding.round(r / p.scale + z, base + i).clamp(lo, hi) as i32;
    }
}

/// out[i] = (q[i] − Z) · s
pub fn dequantize(q: &[i32], p: &QParams, out: &mut [f32]) {
    assert_eq!(q.len(), out.len(), "dequantize: q and out differ in length");
    for (&qi, o) in q.iter().zip(out.iter_mut()) {
        *o = (qi - p.zero_point) as f32 * p.scale;
    }
}

/// out[i] = (clamp(round(x[i] / s + Z), qmin, qmax) − Z) · s
pub fn fake_quant(x: &[f32], p: &QParams, rounding: Rounding, base: usize, out: &mut [f32]) {
    assert_eq!(x.len(), out.len(), "fake_quant: x and out differ in length");
    let (z, lo, hi) = (p.zero_point as f32, p.qmin as f32, p.qmax as f32);
    for (i, (&r, o)) in x.iter().zip(out.iter_mut()).enumerate() {
        let q = rounding.round(r / p.scale + z, base + i).clamp(lo, hi) as i32;
        *o = (q - p.zero_point) as f32 * p.scale;
    }
}

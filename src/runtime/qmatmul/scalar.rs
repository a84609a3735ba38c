//! Scalar reference kernels: the definitions the simd128 kernels must match
//! (integer dots exactly, the int8 product's f32 outputs bit for bit, the
//! float product within [`super::f32_grouped_tolerance`]).
//!
//! Loop order: weight row n, then group G (its integers unpacked once into a
//! buffer of g values), then activation row m; y[m, n] accumulates the groups
//! in increasing order starting from 0.0, as the module header defines.

use super::{check_f32_grouped, check_i8_grouped, prepare_activations, x_group_sums, QuantizedActs};
use crate::quant::grouped::{GroupedWeights, BLOCK4};
use crate::quant::QuantError;

/// out [g] = u − o for row `row`, group `gi` of validated weights (4-bit:
/// from the nibbles, block by block: low nibbles are values 0..16, high 16..32).
pub(crate) fn unpack_group(w: &GroupedWeights, row: usize, gi: usize, out: &mut [i8]) {
    let k0 = gi * w.group;
    if w.bits == 8 {
        for (o, &b) in out.iter_mut().zip(&w.q[row * w.k + k0..][..w.group]) {
            *o = b as i8;
        }
    } else {
        let rb = w.k / 2;
        let bytes = &w.q[row * rb + k0 / 2..][..w.group / 2];
        let off = w.offset as i8;
        for (chunk, o) in bytes.chunks_exact(BLOCK4 / 2).zip(out.chunks_exact_mut(BLOCK4)) {
            for (j, &b) in chunk.iter().enumerate() {
                o[j] = (b & 0x0F) as i8 - off;
                o[j + BLOCK4 / 2] = (b >> 4) as i8 - off;
            }
        }
    }
}

/// y [M, N] = x [M, K] · Wᵀ, float activations:
/// y[m, n] = Σ_G ( scale · Σ_{k∈G} x · (u − o)  +  min · Σ_{k∈G} x ), each sum in increasing k.
pub fn matmul_f32_grouped(x: &[f32], m: usize, w: &GroupedWeights, y: &mut [f32]) -> Result<(), QuantError> {
    check_f32_grouped(x, m, w, y)?;
    let (n, k, g, groups) = (w.n, w.k, w.group, w.groups());
    let mut xsum = Vec::new();
    if w.min.is_some() {
        x_group_sums(x, g, &mut xsum);
    }
    let mut wi = vec![0i8; g];
    let mut wf = vec![0f32; g];
    y.fill(0.0);
    for j in 0..n {
        for gi in 0..groups {
            unpack_group(w, j, gi, &mut wi);
            for (f, &v) in wf.iter_mut().zip(&wi) {
                *f = v as f32;
            }
            let s = w.scale[j * groups + gi];
            let mn = w.min.as_ref().map(|mv| mv[j * groups + gi]);
            for i in 0..m {
                let xg = &x[i * k + gi * g..][..g];
                let dot = xg.iter().zip(&wf).fold(0f32, |acc, (&a, &b)| acc + a * b);
                let mut acc = y[i * n + j] + s * dot;
                if let Some(mn) = mn {
                    acc += mn * xsum[i * groups + gi];
                }
                y[i * n + j] = acc;
            }
        }
    }
    Ok(())
}

/// Calls `emit(m, n, G, idot)` for every idot = Σ_{k∈G} q_x · (u − o), in the
/// order n, G, m. No overflow: |idot| ≤ g · 2^14 < 2^31 (module header).
fn drive_i8(a: &QuantizedActs, m: usize, w: &GroupedWeights, mut emit: impl FnMut(usize, usize, usize, i32)) {
    let (n, k, g, groups) = (w.n, w.k, w.group, w.groups());
    let mut wi = vec![0i8; g];
    for j in 0..n {
        for gi in 0..groups {
            unpack_group(w, j, gi, &mut wi);
            for i in 0..m {
                let xq = &a.q[i * k + gi * g..][..g];
                let idot: i32 = xq.iter().zip(&wi).map(|(&p, &q)| p as i32 * q as i32).sum();
                emit(i, j, gi, idot);
            }
        }
    }
}

/// y [M, N] from int8 activations:
/// y[m, n] = Σ_G ( (s_x · scale) · f32(idot)  +  min · (s_x · f32(Σ q_x)) ), groups in order from 0.0.
pub fn matmul_i8_grouped(a: &QuantizedActs, m: usize, w: &GroupedWeights, y: &mut [f32]) -> Result<(), QuantError> {
    check_i8_grouped(a, m, w, y.len(), 1)?;
    let (n, groups) = (w.n, w.groups());
    y.fill(0.0);
    drive_i8(a, m, w, |i, j, gi, idot| {
        let sx = a.scale[i * groups + gi];
        let mut acc = y[i * n + j] + (sx * w.scale[j * groups + gi]) * idot as f32;
        if let Some(min) = &w.min {
            acc += min[j * groups + gi] * (sx * a.sum[i * groups + gi] as f32);
        }
        y[i * n + j] = acc;
    });
    Ok(())
}

/// dots [M, N, G] = every group's idot.
pub fn group_dots_i8(a: &QuantizedActs, m: usize, w: &GroupedWeights, dots: &mut [i32]) -> Result<(), QuantError> {
    check_i8_grouped(a, m, w, dots.len(), w.groups())?;
    let (n, groups) = (w.n, w.groups());
    drive_i8(a, m, w, |i, j, gi, idot| dots[(i * n + j) * groups + gi] = idot);
    Ok(())
}

/// Activations to int8 per row and group, as runq.c: s = max|x| / 127,
/// q = round(x / s) half away from zero, clamped to ±127; a group whose s is 0
/// keeps q = 0, s = 0, Σ q = 0.
pub fn quantize_activations_into(x: &[f32], m: usize, k: usize, group: usize, out: &mut QuantizedActs) -> Result<(), QuantError> {
    prepare_activations(x, m, k, group, out)?;
    for (gi, (xg, qg)) in x.chunks_exact(group).zip(out.q.chunks_exact_mut(group)).enumerate() {
        let amax = xg.iter().fold(0f32, |a, v| a.max(v.abs()));
        let s = amax / 127.0;
        if s == 0.0 {
            continue;
        }
        out.scale[gi] = s;
        out.sum[gi] = super::round_group(xg, qg, s);
    }
    Ok(())
}

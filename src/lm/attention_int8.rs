//! Attention over an int8 KV cache in integers, as llama.cpp runs a q8_0 cache: the query is
//! quantized like the cached keys, the probabilities like llama.cpp's `kq` in blocks of 32
//! positions, and both products run on int8 × int8 dots.
//!
//! ```text
//! head h reads kv head g = h / (H / Hkv); positions t ≤ pos; the cache holds k8, v8 and s_k, s_v:
//!   s_q = max|q_h| / 127,  q8 = round(q_h / s_q)                          (the cache's own rule)
//!   idot[t]  = Σ_i q8_i · k8[t]_i                     exact in i32: |idot| ≤ hd · 127² ≤ 512 · 16,129
//!   score[t] = ((s_q · s_k[t]) · f32(idot[t])) · 1/√hd
//!   p[t]     = e^(score[t] − max) / Σ_t' e^(score[t'] − max)
//!   w[t]     = p[t] · s_v[t]                                               ≥ 0
//!   block B of 32 positions: c_B = max_{t∈B} w[t] / 127,  w8[t] = round(w[t] / c_B) ∈ [0, 127]
//!   iacc_B[d] = Σ_{t∈B} w8[t] · v8[t][d]              exact in i32: |iacc| ≤ 32 · 127²
//!   out_h[d]  = Σ_B c_B · f32(iacc_B[d])             blocks added in order, from 0
//! ```
//!
//! The integer sums are exact, and every float operation is the same IEEE operation in the
//! scalar reference and the simd128 kernels, so both give the same bits (tested).

use super::exp::softmax_numerators;
use super::LmConfig;

/// Positions per block of quantized probabilities (llama.cpp's QK8_0).
pub const BLOCK: usize = 32;

/// Working memory of [`attend_int8`], reused between calls.
#[derive(Default)]
pub struct Int8Scratch {
    /// One head's query as int8 [hd].
    q8: Vec<i8>,
    /// The weights w[t] of one head, then their int8 values, [pos + 1].
    w: Vec<f32>,
    w8: Vec<i8>,
}

/// One layer's int8 keys and values: [T][Hkv·hd] integers and [T][Hkv] scales.
#[derive(Clone, Copy)]
pub struct Int8Kv<'a> {
    pub kq: &'a [i8],
    pub ks: &'a [f32],
    pub vq: &'a [i8],
    pub vs: &'a [f32],
}

/// One kv head's rows in a layer's cache: row t is `q[at + t·stride ..][..hd]`, its scale
/// `scales[scale_at + t·scale_stride]`.
#[derive(Clone, Copy)]
pub struct HeadRows<'a> {
    pub q: &'a [i8],
    pub scales: &'a [f32],
    pub at: usize,
    pub stride: usize,
    pub scale_at: usize,
    pub scale_stride: usize,
}

/// The kernels of one platform: the int8 rows' quantizer, the key scores and the weighted
/// value sums.
#[derive(Clone, Copy)]
pub struct Kernels {
    pub name: &'static str,
    /// out = round(x / s) ∈ [−127, 127] with s = max|x| / 127, returned: one head of the int8
    /// cache, a query, a block of weights. A zero row gives s = 0 and q = 0; NaN is skipped by
    /// the maximum and quantized to 0.
    pub quantize: fn(x: &[f32], out: &mut [i8]) -> f32,
    /// out[t] = ((s_q · s_k[t]) · f32(Σ_i q8_i · k8[t]_i)) · scale for t < out.len().
    pub key_scores: fn(q8: &[i8], s_q: f32, keys: HeadRows<'_>, scale: f32, out: &mut [f32]),
    /// out[d] += c · f32(Σ_t w8[t] · v8[at + t·stride + d]) for d < out.len(), t < w8.len() ≤ [`BLOCK`].
    pub add_values: AddValues,
}

/// `add_values(w8, c, v8, at, stride, out)`: see [`Kernels::add_values`].
pub type AddValues = fn(w8: &[i8], c: f32, v8: &[i8], at: usize, stride: usize, out: &mut [f32]);

pub const SCALAR: Kernels = Kernels { name: "scalar", quantize: scalar::quantize, key_scores: scalar::key_scores, add_values: scalar::add_values };

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub const SIMD128: Kernels = Kernels { name: "simd128", quantize: simd::quantize, key_scores: simd::key_scores, add_values: simd::add_values };

/// Every implementation in this build, the reference first.
pub fn all() -> Vec<Kernels> {
    #[allow(unused_mut)]
    let mut v = vec![SCALAR];
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    v.push(SIMD128);
    v
}

/// The fastest implementation in this build.
pub fn best() -> Kernels {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return SIMD128;
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    SCALAR
}

/// Attention output [D] of the query `q` [D] at `pos` over the int8 cache of positions
/// 0..=pos, on `kernels`; `scores` is scratch of at least pos + 1 values.
#[allow(clippy::too_many_arguments)]
pub fn attend_int8(c: &LmConfig, kv: Int8Kv<'_>, pos: usize, q: &[f32], out: &mut [f32], scores: &mut [f32], s: &mut Int8Scratch, kernels: Kernels) {
    let (hd, kv_dim, kv_heads) = (c.head_dim(), c.kv_dim(), c.n_kv_heads);
    let group = c.n_heads / kv_heads;
    let scale = 1.0 / (hd as f32).sqrt();
    let n = pos + 1;
    let scores = &mut scores[..n];
    s.q8.resize(hd, 0);
    s.w.resize(n, 0.0);
    s.w8.resize(n, 0);
    for h in 0..c.n_heads {
        let g = h / group;
        let s_q = (kernels.quantize)(&q[h * hd..(h + 1) * hd], &mut s.q8);
        let keys = HeadRows { q: kv.kq, scales: kv.ks, at: g * hd, stride: kv_dim, scale_at: g, scale_stride: kv_heads };
        (kernels.key_scores)(&s.q8, s_q, keys, scale, scores);
        let inv = 1.0 / softmax_numerators(scores);
        for (t, (w, &e)) in s.w[..n].iter_mut().zip(scores.iter()).enumerate() {
            *w = (e * inv) * kv.vs[g + t * kv_heads];
        }
        let oh = &mut out[h * hd..(h + 1) * hd];
        oh.fill(0.0);
        for t0 in (0..n).step_by(BLOCK) {
            let t1 = (t0 + BLOCK).min(n);
            let c_b = (kernels.quantize)(&s.w[t0..t1], &mut s.w8[t0..t1]);
            (kernels.add_values)(&s.w8[t0..t1], c_b, kv.vq, t0 * kv_dim + g * hd, kv_dim, oh);
        }
    }
}

pub mod scalar {
    use super::HeadRows;

    /// max|x| with NaN skipped (`f32::max` does the same, but wasm lowers it to a call to fmaxf).
    pub fn abs_max(x: &[f32]) -> f32 {
        x.iter().fold(0f32, |m, v| if v.abs() > m { v.abs() } else { m })
    }

    /// s = max|x| / 127, out = round(x · (1 / s)) clamped to ±127 (NaN → 0, the saturating cast).
    pub fn quantize(x: &[f32], out: &mut [i8]) -> f32 {
        let s = abs_max(x) / 127.0;
        let inv = if s > 0.0 { 1.0 / s } else { 0.0 };
        for (o, &xi) in out.iter_mut().zip(x) {
            *o = (xi * inv).round_ties_even().clamp(-127.0, 127.0) as i8;
        }
        s
    }

    /// Σ_i q8_i · k8_i in i32 (exact).
    pub fn idot(q8: &[i8], k8: &[i8]) -> i32 {
        q8.iter().zip(k8).map(|(&a, &b)| a as i32 * b as i32).sum()
    }

    /// out[t] = ((s_q · s_k[t]) · f32(Σ_i q8_i · k8[t]_i)) · scale.
    pub fn key_scores(q8: &[i8], s_q: f32, keys: HeadRows<'_>, scale: f32, out: &mut [f32]) {
        for (t, o) in out.iter_mut().enumerate() {
            let d = idot(q8, &keys.q[keys.at + t * keys.stride..][..q8.len()]);
            *o = ((s_q * keys.scales[keys.scale_at + t * keys.scale_stride]) * d as f32) * scale;
        }
    }

    /// out[d] += c · f32(Σ_t w8[t] · v8[at + t·stride + d]), the sum in i32 (exact).
    pub fn add_values(w8: &[i8], c: f32, v8: &[i8], at: usize, stride: usize, out: &mut [f32]) {
        for (d, o) in out.iter_mut().enumerate() {
            let acc: i32 = w8.iter().enumerate().map(|(t, &w)| w as i32 * v8[at + t * stride + d] as i32).sum();
            *o += c * acc as f32;
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd {
    use core::arch::wasm32::*;

    use super::HeadRows;
    use crate::runtime::gemm_i8::simd128::reduce4;

    /// The largest head dimension (checked by LmConfig) in vectors of 8.
    const MAX_CHUNKS: usize = 64;

    /// [`super::scalar::quantize`], four values at a time: the maximum by `pmax` (m < v ? v : m,
    /// the scalar rule: NaN never wins; a maximum of values ≥ +0 does not depend on order),
    /// `f32x4.nearest` (ties to even), and the clamp on the integers after `trunc_sat`, which
    /// also sends NaN to 0 as the scalar cast does (rounded values are integers, so clamping
    /// before or after the conversion is the same).
    pub fn quantize(x: &[f32], out: &mut [i8]) -> f32 {
        let n = x.len().min(out.len());
        let full = n / 4 * 4;
        let mut m = f32x4_splat(0.0);
        for c in (0..full).step_by(4) {
            // SAFETY: c + 4 ≤ x.len().
            m = f32x4_pmax(m, f32x4_abs(unsafe { v128_load(x.as_ptr().add(c) as *const v128) }));
        }
        let lanes = [f32x4_extract_lane::<0>(m), f32x4_extract_lane::<1>(m), f32x4_extract_lane::<2>(m), f32x4_extract_lane::<3>(m)];
        let amax = super::scalar::abs_max(&[super::scalar::abs_max(&lanes), super::scalar::abs_max(&x[full..n])]);
        let s = amax / 127.0;
        let inv = if s > 0.0 { 1.0 / s } else { 0.0 };
        let (iv, lo, hi) = (f32x4_splat(inv), i32x4_splat(-127), i32x4_splat(127));
        for c in (0..full).step_by(4) {
            // SAFETY: c + 4 ≤ n ≤ x.len(), out.len().
            unsafe {
                let r = f32x4_nearest(f32x4_mul(v128_load(x.as_ptr().add(c) as *const v128), iv));
                let q = i32x4_max(lo, i32x4_min(hi, i32x4_trunc_sat_f32x4(r)));
                let b = i8x16_narrow_i16x8(i16x8_narrow_i32x4(q, q), i16x8_narrow_i32x4(q, q));
                v128_store32_lane::<0>(b, out.as_mut_ptr().add(c) as *mut u32);
            }
        }
        for (o, &xi) in out[full..n].iter_mut().zip(&x[full..n]) {
            *o = (xi * inv).round_ties_even().clamp(-127.0, 127.0) as i8;
        }
        s
    }

    /// [`super::scalar::key_scores`]: q8 widened to i16 once, then four rows at a time, per 8
    /// dimensions one `i32x4.dot_i16x8_s` each, and the four scores scaled in one vector.
    /// A head dimension not a multiple of 8 and the last < 4 rows go to the reference (the
    /// same integers, the same float operations).
    pub fn key_scores(q8: &[i8], s_q: f32, keys: HeadRows<'_>, scale: f32, out: &mut [f32]) {
        let hd = q8.len();
        let chunks = hd / 8;
        if !hd.is_multiple_of(8) || chunks > MAX_CHUNKS {
            return super::scalar::key_scores(q8, s_q, keys, scale, out);
        }
        let mut qw = [i16x8_splat(0); MAX_CHUNKS];
        for (c, v) in qw[..chunks].iter_mut().enumerate() {
            // SAFETY: 8c + 8 ≤ hd = q8.len().
            *v = unsafe { i16x8_load_extend_i8x8(q8.as_ptr().add(8 * c)) };
        }
        let (sq, sc) = (f32x4_splat(s_q), f32x4_splat(scale));
        let full = out.len() / 4 * 4;
        for t in (0..full).step_by(4) {
            let rows: [&[i8]; 4] = core::array::from_fn(|i| &keys.q[keys.at + (t + i) * keys.stride..][..hd]);
            let sk: [f32; 4] = core::array::from_fn(|i| keys.scales[keys.scale_at + (t + i) * keys.scale_stride]);
            let mut acc = [i32x4_splat(0); 4];
            for (c, &q) in qw[..chunks].iter().enumerate() {
                for (a, row) in acc.iter_mut().zip(&rows) {
                    // SAFETY: 8c + 8 ≤ hd = row.len().
                    let k = unsafe { i16x8_load_extend_i8x8(row.as_ptr().add(8 * c)) };
                    *a = i32x4_add(*a, i32x4_dot_i16x8(q, k));
                }
            }
            let d = f32x4_convert_i32x4(reduce4(acc[0], acc[1], acc[2], acc[3]));
            // ((s_q · s_k[t]) · f32(idot)) · scale, lane by lane.
            let v = f32x4_mul(f32x4_mul(f32x4_mul(sq, f32x4(sk[0], sk[1], sk[2], sk[3])), d), sc);
            let o = &mut out[t..t + 4];
            // SAFETY: o holds 4 f32 (unaligned stores are allowed).
            unsafe { v128_store(o.as_mut_ptr() as *mut v128, v) };
        }
        let rest = HeadRows { at: keys.at + full * keys.stride, scale_at: keys.scale_at + full * keys.scale_stride, ..keys };
        super::scalar::key_scores(q8, s_q, rest, scale, &mut out[full..]);
    }

    /// [`super::scalar::add_values`]: two positions at a time, their rows' 8 dimensions
    /// interleaved (v_t[0], v_t'[0], v_t[1], …) against the pair (w_t, w_t') in every i32 lane,
    /// so one `i32x4.dot_i16x8_s` gives w_t · v_t[d] + w_t' · v_t'[d] for 4 dimensions. An odd
    /// last position pairs with itself at weight 0.
    pub fn add_values(w8: &[i8], c: f32, v8: &[i8], at: usize, stride: usize, out: &mut [f32]) {
        let (hd, n) = (out.len(), w8.len());
        if hd % 8 != 0 || n == 0 || n > super::BLOCK {
            return super::scalar::add_values(w8, c, v8, at, stride, out);
        }
        // Every row read: at + t·stride + hd ≤ v8.len() for t < n.
        let _ = &v8[at + (n - 1) * stride..][..hd];
        let pairs = n.div_ceil(2);
        let mut weights = [i32x4_splat(0); super::BLOCK / 2];
        let mut second = [0usize; super::BLOCK / 2];
        for j in 0..pairs {
            let (a, b) = (w8[2 * j], if 2 * j + 1 < n { w8[2 * j + 1] } else { 0 });
            weights[j] = i32x4_splat((a as i16 as u16 as u32 | (b as i16 as u16 as u32) << 16) as i32);
            second[j] = if 2 * j + 1 < n { stride } else { 0 };
        }
        let cv = f32x4_splat(c);
        let base = v8.as_ptr();
        for d in (0..hd).step_by(8) {
            let (mut lo, mut hi) = (i32x4_splat(0), i32x4_splat(0));
            for j in 0..pairs {
                // SAFETY: row 2j (and 2j + 1 < n when second[j] ≠ 0) is inside v8 (checked above), d + 8 ≤ hd.
                let (a, b) = unsafe {
                    let p = base.add(at + 2 * j * stride + d);
                    (i16x8_load_extend_i8x8(p), i16x8_load_extend_i8x8(p.add(second[j])))
                };
                lo = i32x4_add(lo, i32x4_dot_i16x8(i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(a, b), weights[j]));
                hi = i32x4_add(hi, i32x4_dot_i16x8(i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(a, b), weights[j]));
            }
            let o = &mut out[d..d + 8];
            // SAFETY: o holds 8 f32 (unaligned loads and stores are allowed).
            unsafe {
                let p = o.as_mut_ptr() as *mut v128;
                v128_store(p, f32x4_add(v128_load(p), f32x4_mul(cv, f32x4_convert_i32x4(lo))));
                v128_store(p.add(1), f32x4_add(v128_load(p.add(1)), f32x4_mul(cv, f32x4_convert_i32x4(hi))));
            }
        }
    }
}

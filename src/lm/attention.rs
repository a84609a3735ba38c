//! Causal self-attention of one position over the KV cache, for every head of a layer.
//!
//! ```text
//! head h reads kv head h / (H / Hkv); for t ≤ pos:
//!   score[t] = (q_h · k_t) / sqrt(hd)
//!   p[t] = e^(score[t] − max) / Σ_t' e^(score[t'] − max)
//!   out_h = Σ_t p[t] · v_t
//! ```
//!
//! An int8 cache runs in integers instead ([`super::attention_int8`]). The cache's format is
//! matched once per layer, not once per position: each format's loops
//! are monomorphised over [`KeyRows`]. Dots sum in eight lanes added in a fixed order, so the
//! compiler can keep them in SIMD registers and every platform gives the same bits.

use half::f16;

use super::attention_int8::{self, attend_int8, Int8Scratch};
use crate::runtime::gemm_f32::dot;
use super::exp::softmax_numerators;
use super::kv_cache::LayerRows;
use super::LmConfig;

/// out += p · v, elementwise.
#[inline(always)]
fn axpy(out: &mut [f32], p: f32, v: impl Iterator<Item = f32>) {
    for (o, x) in out.iter_mut().zip(v) {
        *o += p * x;
    }
}

/// One layer's stored rows in one format: the dot of a query with a key and the weighted
/// sum of values, for kv head `h` at position `t`.
trait KeyRows {
    fn dot(&self, at: usize, q: &[f32]) -> f32;
    /// The dots of q with the keys at `at + i·stride` (i < 4): four [`KeyRows::dot`]s.
    #[inline(always)]
    fn dot4(&self, at: usize, stride: usize, q: &[f32]) -> [f32; 4] {
        core::array::from_fn(|i| self.dot(at + i * stride, q))
    }
    /// out[i] = (q · k at `at + i·stride`) · scale for i < 4: the scaled scores of four positions.
    #[inline(always)]
    fn scores4(&self, at: usize, stride: usize, q: &[f32], scale: f32, out: &mut [f32]) {
        for (s, d) in out[..4].iter_mut().zip(self.dot4(at, stride, q)) {
            *s = d * scale;
        }
    }
    fn add(&self, at: usize, p: f32, out: &mut [f32]);
    /// out += Σ_i p[i] · v at `at + i·stride` (i < 4, added in order): four [`KeyRows::add`]s.
    #[inline(always)]
    fn add4(&self, at: usize, stride: usize, p: [f32; 4], out: &mut [f32]) {
        for (i, &pi) in p.iter().enumerate() {
            self.add(at + i * stride, pi, out);
        }
    }
}

struct F32Rows<'a>(&'a [f32]);
struct F16Rows<'a>(&'a [f16]);

impl KeyRows for F32Rows<'_> {
    #[inline(always)]
    fn dot(&self, at: usize, q: &[f32]) -> f32 {
        dot(q, &self.0[at..at + q.len()])
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    fn scores4(&self, at: usize, stride: usize, q: &[f32], scale: f32, out: &mut [f32]) {
        let rows: [&[f32]; 4] = core::array::from_fn(|i| &self.0[at + i * stride..at + i * stride + q.len()]);
        simd::store4(out, simd::times(simd::dot4(q, rows), scale));
    }
    #[inline(always)]
    fn add(&self, at: usize, p: f32, out: &mut [f32]) {
        axpy(out, p, self.0[at..at + out.len()].iter().copied());
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    fn add4(&self, at: usize, stride: usize, p: [f32; 4], out: &mut [f32]) {
        let rows: [&[f32]; 4] = core::array::from_fn(|i| &self.0[at + i * stride..at + i * stride + out.len()]);
        simd::add4(out, p, rows)
    }
}

impl KeyRows for F16Rows<'_> {
    #[inline(always)]
    fn dot(&self, at: usize, q: &[f32]) -> f32 {
        // Widened into a stack row (head dims are checked ≤ 512 by LmConfig).
        let mut k = [0f32; 512];
        let k = &mut k[..q.len()];
        for (o, x) in k.iter_mut().zip(&self.0[at..at + q.len()]) {
            *o = x.to_f32();
        }
        dot(q, k)
    }
    #[inline(always)]
    fn add(&self, at: usize, p: f32, out: &mut [f32]) {
        axpy(out, p, self.0[at..at + out.len()].iter().map(|x| x.to_f32()));
    }
}

fn attend_rows<K: KeyRows, V: KeyRows>(c: &LmConfig, keys: &K, values: &V, pos: usize, q: &[f32], out: &mut [f32], scores: &mut [f32]) {
    let (hd, kv_dim, kv_heads) = (c.head_dim(), c.kv_dim(), c.n_kv_heads);
    let group = c.n_heads / kv_heads;
    let scale = 1.0 / (hd as f32).sqrt();
    let scores = &mut scores[..=pos];
    for h in 0..c.n_heads {
        let kvh = h / group;
        let qh = &q[h * hd..(h + 1) * hd];
        // Four positions at a time (one SIMD reduction for four dots), then the rest.
        let full = if hd % 8 == 0 { scores.len() / 4 * 4 } else { 0 };
        for t in (0..full).step_by(4) {
            keys.scores4(t * kv_dim + kvh * hd, kv_dim, qh, scale, &mut scores[t..t + 4]);
        }
        for (t, s) in scores.iter_mut().enumerate().skip(full) {
            *s = keys.dot(t * kv_dim + kvh * hd, qh) * scale;
        }
        let inv = 1.0 / softmax_numerators(scores);
        let oh = &mut out[h * hd..(h + 1) * hd];
        oh.fill(0.0);
        let full = if hd % 8 == 0 { scores.len() / 4 * 4 } else { 0 };
        for t in (0..full).step_by(4) {
            let p = [0, 1, 2, 3].map(|i| scores[t + i] * inv);
            values.add4(t * kv_dim + kvh * hd, kv_dim, p, oh);
        }
        for (t, &p) in scores.iter().enumerate().skip(full) {
            values.add(t * kv_dim + kvh * hd, p * inv, oh);
        }
    }
}

/// Working memory of [`attend`], made once per forward pass.
pub struct AttendScratch {
    /// One head's scores, then its softmax numerators, [seq_len].
    scores: Vec<f32>,
    int8: Int8Scratch,
}

impl AttendScratch {
    pub fn new(c: &LmConfig) -> AttendScratch {
        AttendScratch { scores: vec![0.0; c.seq_len], int8: Int8Scratch::default() }
    }
}

/// Attention output [D] of the query row `q` [D] at position `pos` over the cached keys and
/// values of positions 0..=pos (pos < the context, as the cache's rows).
#[inline(never)]
pub(crate) fn attend(c: &LmConfig, kv: LayerRows<'_>, pos: usize, q: &[f32], out: &mut [f32], scratch: &mut AttendScratch) {
    let scores = &mut scratch.scores;
    match kv {
        LayerRows::F32 { k, v } => attend_rows(c, &F32Rows(k), &F32Rows(v), pos, q, out, scores),
        LayerRows::F16 { k, v } => attend_rows(c, &F16Rows(k), &F16Rows(v), pos, q, out, scores),
        LayerRows::Int8(kv) => attend_int8(c, kv, pos, q, out, scores, &mut scratch.int8, attention_int8::best()),
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd {
    use core::arch::wasm32::*;

    /// Eight key values (from `at`) as two f32x4.
    pub trait Load8 {
        /// SAFETY: at + 8 ≤ the row's length.
        unsafe fn load8(&self, at: usize) -> (v128, v128);
    }

    impl Load8 for &[f32] {
        #[inline(always)]
        unsafe fn load8(&self, at: usize) -> (v128, v128) {
            let p = self.as_ptr().add(at) as *const v128;
            (v128_load(p), v128_load(p.add(1)))
        }
    }

    /// out += p0·v0 + p1·v1 + p2·v2 + p3·v3, added in that order for every element (as four
    /// scalar passes would). Needs out.len() a multiple of 8 and every row as long as out.
    #[inline(always)]
    pub fn add4(out: &mut [f32], p: [f32; 4], rows: [&[f32]; 4]) {
        let ps = p.map(|v| f32x4_splat(v));
        for c in (0..out.len() / 4 * 4).step_by(4) {
            // SAFETY: c + 4 ≤ out.len() ≤ each row's length.
            unsafe {
                let o = out.as_mut_ptr().add(c) as *mut v128;
                let mut acc = v128_load(o);
                for i in 0..4 {
                    acc = f32x4_add(acc, f32x4_mul(ps[i], v128_load(rows[i].as_ptr().add(c) as *const v128)));
                }
                v128_store(o, acc);
            }
        }
    }

    /// q · k_i for four rows, each summed exactly as [`super::dot`] sums: lanes j and j + 4
    /// accumulate in order, then ((a0 + a4) + (a1 + a5)) + ((a2 + a6) + (a3 + a7)).
    /// Needs q.len() a multiple of 8 and every row at least as long as q.
    #[inline(always)]
    pub fn dot4<R: Load8>(q: &[f32], rows: [R; 4]) -> v128 {
        let n = q.len() / 8 * 8;
        let mut lo = [f32x4_splat(0.0); 4];
        let mut hi = [f32x4_splat(0.0); 4];
        for c in (0..n).step_by(8) {
            // SAFETY: c + 8 ≤ q.len() ≤ each row's length (checked by the caller's slices).
            unsafe {
                let p = q.as_ptr().add(c) as *const v128;
                let (q0, q1) = (v128_load(p), v128_load(p.add(1)));
                for i in 0..4 {
                    let (k0, k1) = rows[i].load8(c);
                    lo[i] = f32x4_add(lo[i], f32x4_mul(q0, k0));
                    hi[i] = f32x4_add(hi[i], f32x4_mul(q1, k1));
                }
            }
        }
        // s = (a0 + a4, a1 + a5, a2 + a6, a3 + a7) per row, then (s0 + s1) + (s2 + s3) for all four.
        let s: [v128; 4] = core::array::from_fn(|i| f32x4_add(lo[i], hi[i]));
        let u = f32x4_add(i32x4_shuffle::<0, 4, 2, 6>(s[0], s[1]), i32x4_shuffle::<1, 5, 3, 7>(s[0], s[1]));
        let v = f32x4_add(i32x4_shuffle::<0, 4, 2, 6>(s[2], s[3]), i32x4_shuffle::<1, 5, 3, 7>(s[2], s[3]));
        f32x4_add(i32x4_shuffle::<0, 1, 4, 5>(u, v), i32x4_shuffle::<2, 3, 6, 7>(u, v))
    }

    /// d_i · scale in each lane.
    #[inline(always)]
    pub fn times(d: v128, scale: f32) -> v128 {
        f32x4_mul(d, f32x4_splat(scale))
    }

    /// out[..4] = v.
    #[inline(always)]
    pub fn store4(out: &mut [f32], v: v128) {
        let out = &mut out[..4];
        // SAFETY: out holds 4 f32 (unaligned stores are allowed).
        unsafe { v128_store(out.as_mut_ptr() as *mut v128, v) }
    }
}

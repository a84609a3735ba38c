//! The decoder's non-Linear parts as plain ONNX operators (no opset-23 RMSNormalization /
//! RotaryEmbedding / Attention, so ONNX Runtime 1.x runs them on its default kernels).
//!
//! ```text
//! rmsnorm(x) ⊙ w = Mul(Mul(x, Reciprocal(Sqrt(ReduceMean(x·x, axis −1) + eps))), w)   (qplay: x · (1 / sqrt(ss + eps)) · w)
//!
//! rope, interleaved pairs (x[2i], x[2i+1]) of every head (llama2.c), θ_i = pos / theta^(2i / hd):
//!   x' = x ⊙ cos2 + swap(x) ⊙ sin±          swap = Gather(x, [1, 0, 3, 2, …], axis −1)
//!   cos2[pos, 2i] = cos2[pos, 2i+1] = cos θ_i,   sin±[pos, 2i] = −sin θ_i,   sin±[pos, 2i+1] = +sin θ_i
//!   so x'[2i] = x[2i]·cos − x[2i+1]·sin and x'[2i+1] = x[2i+1]·cos + x[2i]·sin, qplay's products and sums.
//!   The tables [seq_len, 1, hd] (f64 angles rounded to f32, as qplay's) are sliced to the first T
//!   positions: Slice(table, 0, T) with T = Shape(input_ids)[1].
//!
//! attention, q [B, T, H, hd], k, v [B, T, Hkv, hd]:
//!   Q = Transpose(q) [B, H, T, hd], Kᵀ = Transpose(k) [B, Hkv, hd, T], V = Transpose(v) [B, Hkv, T, hd]
//!   grouped kv heads: Gather(Kᵀ / V, [j / (H / Hkv) for each query head j], axis 1) → [B, H, …]
//!   S = MatMul(Q, Kᵀ) · (1 / sqrt(hd)) + mask,   mask = Trilu(Expand(−∞, [T, T]), k = 1, upper)
//!   O = MatMul(Softmax(S, axis −1), V) → Transpose → Reshape [B, T, D]
//!
//! SwiGLU: (a ⊙ Sigmoid(a)) ⊙ b with a = m·w1ᵀ, b = m·w3ᵀ   (qplay: silu(a) = a / (1 + e^−a))
//! ```

use super::linear::emit_linear;
use super::LmGraph;
use crate::formats::onnx::graph::Attr;
use crate::formats::FormatError;
use crate::lm::forward::rope_tables;
use crate::lm::{Block, LmConfig};

/// Values every block reads: the rotary tables and the causal mask, sliced to T.
pub struct Shared {
    /// cos2 [T, 1, hd].
    cos: String,
    /// sin± [T, 1, hd].
    sin: String,
    /// [1, 0, 3, 2, …] (hd values): the pair swap.
    swap: String,
    /// [T, T]: 0 on and below the diagonal, −∞ above.
    mask: String,
    /// The kv head of every query head, when Hkv < H.
    kv_heads: Option<String>,
}

impl Shared {
    pub(super) fn new(w: &mut LmGraph, c: &LmConfig, ids: &str) -> Shared {
        let (hd, half) = (c.head_dim(), c.head_dim() / 2);
        let (cos, sin) = rope_tables(c);
        let mut cos2 = vec![0f32; c.seq_len * hd];
        let mut sin2 = vec![0f32; c.seq_len * hd];
        for pos in 0..c.seq_len {
            for i in 0..half {
                let (cv, sv) = (cos[pos * half + i], sin[pos * half + i]);
                cos2[pos * hd + 2 * i] = cv;
                cos2[pos * hd + 2 * i + 1] = cv;
                sin2[pos * hd + 2 * i] = -sv;
                sin2[pos * hd + 2 * i + 1] = sv;
            }
        }
        let cos_table = w.g.init_f32("rope.cos", &[c.seq_len, 1, hd], &cos2);
        let sin_table = w.g.init_f32("rope.sin", &[c.seq_len, 1, hd], &sin2);
        // T = Shape(input_ids)[1], as a 1-D [1] tensor.
        let t = w.g.node("Shape", "seq_len", &[ids], vec![("start", Attr::Int(1)), ("end", Attr::Int(2))]);
        let zero = w.ints(&[0]);
        let cos = w.g.node("Slice", "rope.cos.slice", &[&cos_table, &zero, &t, &zero], vec![]);
        let sin = w.g.node("Slice", "rope.sin.slice", &[&sin_table, &zero, &t, &zero], vec![]);
        let perm: Vec<i64> = (0..hd as i64).map(|j| j ^ 1).collect();
        let swap = w.ints(&perm);
        let tt = w.g.node("Concat", "mask.shape", &[&t, &t], vec![("axis", Attr::Int(0))]);
        let neg = w.scalar_f32(f32::NEG_INFINITY);
        let full = w.g.node("Expand", "mask.fill", &[&neg, &tt], vec![]);
        let k1 = w.g.init_i64("mask.diagonal", &[], &[1]);
        let mask = w.g.node("Trilu", "mask", &[&full, &k1], vec![("upper", Attr::Int(1))]);
        let group = c.n_heads / c.n_kv_heads;
        let kv_heads = (group > 1).then(|| {
            let idx: Vec<i64> = (0..c.n_heads).map(|j| (j / group) as i64).collect();
            w.ints(&idx)
        });
        Shared { cos, sin, swap, mask, kv_heads }
    }
}

/// rmsnorm(x) ⊙ weight over the last axis; returns its value.
pub(super) fn rmsnorm(w: &mut LmGraph, x: &str, weight: &[f32], eps: f32, name: &str) -> String {
    let wt = w.g.init_f32(&format!("{name}.weight"), &[weight.len()], weight);
    let last = w.ints(&[-1]);
    let eps = w.scalar_f32(eps);
    let sq = w.g.node("Mul", &format!("{name}.square"), &[x, x], vec![]);
    let ms = w.g.node("ReduceMean", &format!("{name}.mean"), &[&sq, &last], vec![("keepdims", Attr::Int(1))]);
    let e = w.g.node("Add", &format!("{name}.add_eps"), &[&ms, &eps], vec![]);
    let r = w.g.node("Sqrt", &format!("{name}.sqrt"), &[&e], vec![]);
    let inv = w.g.node("Reciprocal", &format!("{name}.inverse"), &[&r], vec![]);
    let xn = w.g.node("Mul", &format!("{name}.normalize"), &[x, &inv], vec![]);
    w.g.node("Mul", &format!("{name}.scale"), &[&xn, &wt], vec![])
}

/// x [B, T, heads·hd] → rotated [B, T, heads, hd].
fn rope(w: &mut LmGraph, sh: &Shared, x: &str, heads: usize, hd: usize, name: &str) -> String {
    let shape = w.ints(&[0, 0, heads as i64, hd as i64]);
    let x4 = w.g.node("Reshape", &format!("{name}.heads"), &[x, &shape], vec![]);
    let a = w.g.node("Mul", &format!("{name}.cos"), &[&x4, &sh.cos], vec![]);
    let swapped = w.g.node("Gather", &format!("{name}.swap"), &[&x4, &sh.swap], vec![("axis", Attr::Int(-1))]);
    let b = w.g.node("Mul", &format!("{name}.sin"), &[&swapped, &sh.sin], vec![]);
    w.g.node("Add", &format!("{name}.rotate"), &[&a, &b], vec![])
}

/// One transformer block reading the residual stream `h` [B, T, D]; returns the new stream.
pub(super) fn block(w: &mut LmGraph, c: &LmConfig, sh: &Shared, b: &Block, l: usize, h: &str) -> Result<String, FormatError> {
    let p = format!("layers.{l}");
    let (d, hd) = (c.dim, c.head_dim());
    let nkv = c.n_kv_heads as i64;
    // Attention.
    let a = rmsnorm(w, h, &b.attention_norm, c.norm_eps, &format!("{p}.attention_norm"));
    let q = emit_linear(w, &format!("{p}.attention.wq"), &b.wq, &a)?;
    let k = emit_linear(w, &format!("{p}.attention.wk"), &b.wk, &a)?;
    let v = emit_linear(w, &format!("{p}.attention.wv"), &b.wv, &a)?;
    let q4 = rope(w, sh, &q, c.n_heads, hd, &format!("{p}.attention.q_rope"));
    let k4 = rope(w, sh, &k, c.n_kv_heads, hd, &format!("{p}.attention.k_rope"));
    let qh = w.g.node("Transpose", &format!("{p}.attention.q_heads"), &[&q4], vec![("perm", Attr::Ints(vec![0, 2, 1, 3]))]);
    let mut kt = w.g.node("Transpose", &format!("{p}.attention.k_heads"), &[&k4], vec![("perm", Attr::Ints(vec![0, 2, 3, 1]))]);
    let v_shape = w.ints(&[0, 0, nkv, hd as i64]);
    let v4 = w.g.node("Reshape", &format!("{p}.attention.v_split"), &[&v, &v_shape], vec![]);
    let mut vh = w.g.node("Transpose", &format!("{p}.attention.v_heads"), &[&v4], vec![("perm", Attr::Ints(vec![0, 2, 1, 3]))]);
    if let Some(idx) = &sh.kv_heads {
        // Query head j reads kv head j / (H / Hkv).
        kt = w.g.node("Gather", &format!("{p}.attention.k_repeat"), &[&kt, idx], vec![("axis", Attr::Int(1))]);
        vh = w.g.node("Gather", &format!("{p}.attention.v_repeat"), &[&vh, idx], vec![("axis", Attr::Int(1))]);
    }
    // S = Q·Kᵀ · (1 / sqrt(hd)) (qplay: the dot product, then × scale), masked, softmax.
    let scale = w.scalar_f32(1.0 / (hd as f32).sqrt());
    let s = w.g.node("MatMul", &format!("{p}.attention.scores"), &[&qh, &kt], vec![]);
    let s = w.g.node("Mul", &format!("{p}.attention.scale"), &[&s, &scale], vec![]);
    let s = w.g.node("Add", &format!("{p}.attention.mask"), &[&s, &sh.mask], vec![]);
    let pr = w.g.node("Softmax", &format!("{p}.attention.softmax"), &[&s], vec![("axis", Attr::Int(-1))]);
    let o = w.g.node("MatMul", &format!("{p}.attention.mix"), &[&pr, &vh], vec![]);
    let o = w.g.node("Transpose", &format!("{p}.attention.merge"), &[&o], vec![("perm", Attr::Ints(vec![0, 2, 1, 3]))]);
    let flat = w.ints(&[0, 0, d as i64]);
    let o = w.g.node("Reshape", &format!("{p}.attention.flatten"), &[&o, &flat], vec![]);
    let proj = emit_linear(w, &format!("{p}.attention.wo"), &b.wo, &o)?;
    let h = w.g.node("Add", &format!("{p}.attention.residual"), &[h, &proj], vec![]);
    // SwiGLU MLP.
    let m = rmsnorm(w, &h, &b.ffn_norm, c.norm_eps, &format!("{p}.ffn_norm"));
    let gate = emit_linear(w, &format!("{p}.feed_forward.w1"), &b.w1, &m)?;
    let up = emit_linear(w, &format!("{p}.feed_forward.w3"), &b.w3, &m)?;
    let sig = w.g.node("Sigmoid", &format!("{p}.feed_forward.sigmoid"), &[&gate], vec![]);
    let silu = w.g.node("Mul", &format!("{p}.feed_forward.silu"), &[&gate, &sig], vec![]);
    let act = w.g.node("Mul", &format!("{p}.feed_forward.glu"), &[&silu, &up], vec![]);
    let down = emit_linear(w, &format!("{p}.feed_forward.w2"), &b.w2, &act)?;
    Ok(w.g.node("Add", &format!("{p}.feed_forward.residual"), &[&h, &down], vec![]))
}

//! Forward and backward through the decoder for a batch of training sequences
//! (llm.c's `*_forward` / `*_backward` pairs), with the activations kept for the
//! backward pass. Gradients are named `d*`.
//!
//! ```text
//! B = sequences, T = tokens per sequence, N = B·T rows; D, Hkv·hd = KV, F, V as in `lm`
//! tokens: [B, T + 1] (the inputs are 0..T, the targets 1..T+1)
//! ```

use crate::runtime::native_gemm::{mm, View};
use crate::lm::forward::rope_tables;
use crate::lm::{LmConfig, LmWeights};

/// What a layer's forward pass keeps for its backward pass.
struct LayerActs {
    x: Vec<f32>,    // [N, D] the block's input
    inv1: Vec<f32>, // [N] 1 / rms of x
    xn1: Vec<f32>,  // [N, D] rmsnorm(x) ⊙ attention_norm
    q: Vec<f32>,    // [N, D] after rope
    k: Vec<f32>,    // [N, KV] after rope
    v: Vec<f32>,    // [N, KV]
    p: Vec<f32>,    // [B, H, T, T] attention probabilities (0 above the diagonal)
    att: Vec<f32>,  // [N, D] attention output before wo
    xmid: Vec<f32>, // [N, D] x + attention
    inv2: Vec<f32>, // [N]
    xn2: Vec<f32>,  // [N, D]
    a: Vec<f32>,    // [N, F] gate pre-activation (x·w1ᵀ)
    u: Vec<f32>,    // [N, F] up (x·w3ᵀ)
    g: Vec<f32>,    // [N, F] silu(a) ⊙ u
}

/// silu(x) = x · σ(x) with the platform's exp: the trainer's own (the inference pass uses a
/// portable exp instead; the committed weights were trained with this one, so it stays).
#[inline]
fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

/// rmsnorm forward over rows: y = x · inv ⊙ w, inv = 1 / sqrt(mean(x²) + eps).
fn rmsnorm_forward(x: &[f32], w: &[f32], eps: f32, y: &mut [f32], inv: &mut [f32]) {
    let d = w.len();
    for ((xr, yr), iv) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)).zip(inv.iter_mut()) {
        let ms = xr.iter().map(|v| v * v).sum::<f32>() / d as f32;
        *iv = 1.0 / (ms + eps).sqrt();
        for ((o, &xi), &wi) in yr.iter_mut().zip(xr).zip(w) {
            *o = xi * *iv * wi;
        }
    }
}

/// rmsnorm backward: dw += Σ_rows dy ⊙ x·inv; dx += inv·(dy ⊙ w) − x·inv³·Σ(dy ⊙ w ⊙ x) / D.
fn rmsnorm_backward(dy: &[f32], x: &[f32], w: &[f32], inv: &[f32], dx: &mut [f32], dw: &mut [f32]) {
    let d = w.len();
    for (((dyr, xr), dxr), &iv) in dy.chunks_exact(d).zip(x.chunks_exact(d)).zip(dx.chunks_exact_mut(d)).zip(inv) {
        let mut dot = 0f32;
        for j in 0..d {
            dot += dyr[j] * w[j] * xr[j];
            dw[j] += dyr[j] * xr[j] * iv;
        }
        let c = iv * iv * iv * dot / d as f32;
        for j in 0..d {
            dxr[j] += iv * dyr[j] * w[j] - xr[j] * c;
        }
    }
}

/// y [N, out] = x [N, in] · Wᵀ.
fn linear_forward(x: &[f32], w: &[f32], n: usize, k_in: usize, out: usize, y: &mut [f32]) {
    mm(n, k_in, out, View::rm(x, k_in), View::t(w, k_in), 0.0, y, out);
}

/// dW [out, in] += dyᵀ · x; dx [N, in] = beta·dx + dy · W.
#[allow(clippy::too_many_arguments)]
fn linear_backward(dy: &[f32], x: &[f32], w: &[f32], n: usize, k_in: usize, out: usize, dw: &mut [f32], dx: &mut [f32], beta: f32) {
    mm(out, n, k_in, View::t(dy, out), View::rm(x, k_in), 1.0, dw, k_in);
    mm(n, out, k_in, View::rm(dy, out), View::rm(w, k_in), beta, dx, k_in);
}

/// Rotates (or, with `inverse`, rotates back) the pairs of every head of every row; row r is at position r % T.
fn rope_rows(x: &mut [f32], width: usize, hd: usize, t: usize, cos: &[f32], sin: &[f32], inverse: bool) {
    let half = hd / 2;
    for (r, row) in x.chunks_exact_mut(width).enumerate() {
        let pos = r % t;
        let (c, s) = (&cos[pos * half..(pos + 1) * half], &sin[pos * half..(pos + 1) * half]);
        for head in row.chunks_exact_mut(hd) {
            for (i, pair) in head.chunks_exact_mut(2).enumerate() {
                let (a, b) = (pair[0], pair[1]);
                let sn = if inverse { -s[i] } else { s[i] };
                pair[0] = a * c[i] - b * sn;
                pair[1] = a * sn + b * c[i];
            }
        }
    }
}

/// Loss summed over the B·T targets, and gradients of (loss_sum · `grad_scale`) added into `grads`.
pub fn loss_and_grads(w: &LmWeights, tokens: &[u32], b: usize, grads: &mut LmWeights, grad_scale: f32) -> f64 {
    let c: &LmConfig = &w.config;
    let t = c.seq_len;
    assert_eq!(tokens.len(), b * (t + 1), "loss_and_grads: tokens are not [B, T + 1]");
    let (d, kv, f, v, hd) = (c.dim, c.kv_dim(), c.hidden_dim, c.vocab_size, c.head_dim());
    let (nh, group) = (c.n_heads, c.n_heads / c.n_kv_heads);
    let n = b * t;
    let scale = 1.0 / (hd as f32).sqrt();
    let (cos, sin) = rope_tables(c);
    let inputs: Vec<u32> = (0..b).flat_map(|s| tokens[s * (t + 1)..s * (t + 1) + t].iter().copied()).collect();
    let targets: Vec<u32> = (0..b).flat_map(|s| tokens[s * (t + 1) + 1..(s + 1) * (t + 1)].iter().copied()).collect();

    // ---- forward ----
    let mut x = vec![0f32; n * d];
    for (r, &tok) in inputs.iter().enumerate() {
        x[r * d..(r + 1) * d].copy_from_slice(&w.tok_embeddings[tok as usize * d..(tok as usize + 1) * d]);
    }
    let mut acts: Vec<LayerActs> = Vec::with_capacity(c.n_layers);
    for lw in &w.layers {
        let mut la = LayerActs {
            x: x.clone(),
            inv1: vec![0.0; n],
            xn1: vec![0.0; n * d],
            q: vec![0.0; n * d],
            k: vec![0.0; n * kv],
            v: vec![0.0; n * kv],
            p: vec![0.0; b * nh * t * t],
            att: vec![0.0; n * d],
            xmid: vec![0.0; n * d],
            inv2: vec![0.0; n],
            xn2: vec![0.0; n * d],
            a: vec![0.0; n * f],
            u: vec![0.0; n * f],
            g: vec![0.0; n * f],
        };
        rmsnorm_forward(&la.x, &lw.attention_norm, c.norm_eps, &mut la.xn1, &mut la.inv1);
        linear_forward(&la.xn1, &lw.wq, n, d, d, &mut la.q);
        linear_forward(&la.xn1, &lw.wk, n, d, kv, &mut la.k);
        linear_forward(&la.xn1, &lw.wv, n, d, kv, &mut la.v);
        rope_rows(&mut la.q, d, hd, t, &cos, &sin, false);
        rope_rows(&mut la.k, kv, hd, t, &cos, &sin, false);
        for s in 0..b {
            for h in 0..nh {
                let kvh = h / group;
                let qh = &la.q[s * t * d + h * hd..];
                let kh = &la.k[s * t * kv + kvh * hd..];
                let vh = &la.v[s * t * kv + kvh * hd..];
                let p = &mut la.p[(s * nh + h) * t * t..(s * nh + h + 1) * t * t];
                // S = q_h · k_hᵀ; P = softmax(S · scale) over j ≤ i.
                mm(t, hd, t, View::strided(qh, d), View::strided_t(kh, kv), 0.0, p, t);
                for i in 0..t {
                    let row = &mut p[i * t..(i + 1) * t];
                    let max = row[..=i].iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s * scale));
                    let mut sum = 0f32;
                    for e in &mut row[..=i] {
                        *e = (*e * scale - max).exp();
                        sum += *e;
                    }
                    for e in &mut row[..=i] {
                        *e /= sum;
                    }
                    row[i + 1..].fill(0.0);
                }
                mm(t, t, hd, View::rm(p, t), View::strided(vh, kv), 0.0, &mut la.att[s * t * d + h * hd..], d);
            }
        }
        linear_forward(&la.att, &lw.wo, n, d, d, &mut la.xmid);
        for (o, &xi) in la.xmid.iter_mut().zip(&la.x) {
            *o += xi;
        }
        rmsnorm_forward(&la.xmid, &lw.ffn_norm, c.norm_eps, &mut la.xn2, &mut la.inv2);
        linear_forward(&la.xn2, &lw.w1, n, d, f, &mut la.a);
        linear_forward(&la.xn2, &lw.w3, n, d, f, &mut la.u);
        for ((g, &a), &u) in la.g.iter_mut().zip(&la.a).zip(&la.u) {
            *g = silu(a) * u;
        }
        linear_forward(&la.g, &lw.w2, n, f, d, &mut x);
        for (o, &m) in x.iter_mut().zip(&la.xmid) {
            *o += m;
        }
        acts.push(la);
    }
    let mut inv_f = vec![0f32; n];
    let mut xnf = vec![0f32; n * d];
    rmsnorm_forward(&x, &w.norm, c.norm_eps, &mut xnf, &mut inv_f);
    let out_w = w.output_weights();
    let mut logits = vec![0f32; n * v];
    linear_forward(&xnf, out_w, n, d, v, &mut logits);

    // Cross-entropy; dlogits = (softmax − onehot) · grad_scale, in place.
    let mut loss = 0f64;
    for (row, &target) in logits.chunks_exact_mut(v).zip(&targets) {
        let max = row.iter().fold(f32::NEG_INFINITY, |m, &z| m.max(z));
        let mut sum = 0f32;
        for z in row.iter_mut() {
            *z = (*z - max).exp();
            sum += *z;
        }
        loss -= ((row[target as usize] / sum) as f64).ln();
        for z in row.iter_mut() {
            *z = *z / sum * grad_scale;
        }
        row[target as usize] -= grad_scale;
    }
    let dlogits = logits;

    // ---- backward ----
    let mut dxnf = vec![0f32; n * d];
    {
        let d_out = match &mut grads.output {
            Some(o) => o,
            None => &mut grads.tok_embeddings,
        };
        linear_backward(&dlogits, &xnf, out_w, n, d, v, d_out, &mut dxnf, 0.0);
    }
    let mut dx = vec![0f32; n * d];
    rmsnorm_backward(&dxnf, &x, &w.norm, &inv_f, &mut dx, &mut grads.norm);
    drop(dxnf);

    let mut dg = vec![0f32; n * f];
    let mut da = vec![0f32; n * f];
    let mut du = vec![0f32; n * f];
    let mut dxn = vec![0f32; n * d];
    let mut datt = vec![0f32; n * d];
    let mut dq = vec![0f32; n * d];
    let mut dk = vec![0f32; n * kv];
    let mut dv = vec![0f32; n * kv];
    let mut dp = vec![0f32; t * t];
    for (l, la) in acts.iter().enumerate().rev() {
        let lw = &w.layers[l];
        let gw = &mut grads.layers[l];
        // x_out = xmid + g·w2ᵀ: dx is d(x_out) and d(xmid) gets it too (it stays in dx).
        linear_backward(&dx, &la.g, &lw.w2, n, f, d, &mut gw.w2, &mut dg, 0.0);
        // g = silu(a) ⊙ u: du = dg ⊙ silu(a); da = dg ⊙ u ⊙ σ(a)(1 + a(1 − σ(a))).
        for i in 0..n * f {
            let a = la.a[i];
            let sig = 1.0 / (1.0 + (-a).exp());
            du[i] = dg[i] * a * sig;
            da[i] = dg[i] * la.u[i] * sig * (1.0 + a * (1.0 - sig));
        }
        linear_backward(&da, &la.xn2, &lw.w1, n, d, f, &mut gw.w1, &mut dxn, 0.0);
        linear_backward(&du, &la.xn2, &lw.w3, n, d, f, &mut gw.w3, &mut dxn, 1.0);
        rmsnorm_backward(&dxn, &la.xmid, &lw.ffn_norm, &la.inv2, &mut dx, &mut gw.ffn_norm);
        // xmid = x + att·woᵀ.
        linear_backward(&dx, &la.att, &lw.wo, n, d, d, &mut gw.wo, &mut datt, 0.0);
        dk.fill(0.0);
        dv.fill(0.0);
        for s in 0..b {
            for h in 0..nh {
                let kvh = h / group;
                let p = &la.p[(s * nh + h) * t * t..(s * nh + h + 1) * t * t];
                let qh = &la.q[s * t * d + h * hd..];
                let kh = &la.k[s * t * kv + kvh * hd..];
                let vh = &la.v[s * t * kv + kvh * hd..];
                let dah = &datt[s * t * d + h * hd..];
                // dP = dO · vᵀ; dv += Pᵀ · dO.
                mm(t, hd, t, View::strided(dah, d), View::strided_t(vh, kv), 0.0, &mut dp, t);
                mm(t, t, hd, View::t(p, t), View::strided(dah, d), 1.0, &mut dv[s * t * kv + kvh * hd..], kv);
                // dS = P ⊙ (dP − Σ_j dP·P) · scale (the softmax's backward, then the score scale).
                for i in 0..t {
                    let (pr, dr) = (&p[i * t..(i + 1) * t], &mut dp[i * t..(i + 1) * t]);
                    let dot: f32 = pr[..=i].iter().zip(&dr[..=i]).map(|(a, b)| a * b).sum();
                    for j in 0..=i {
                        dr[j] = pr[j] * (dr[j] - dot) * scale;
                    }
                    dr[i + 1..].fill(0.0);
                }
                // dq = dS · k; dk += dSᵀ · q.
                mm(t, t, hd, View::rm(&dp, t), View::strided(kh, kv), 0.0, &mut dq[s * t * d + h * hd..], d);
                mm(t, t, hd, View::t(&dp, t), View::strided(qh, d), 1.0, &mut dk[s * t * kv + kvh * hd..], kv);
            }
        }
        rope_rows(&mut dq, d, hd, t, &cos, &sin, true);
        rope_rows(&mut dk, kv, hd, t, &cos, &sin, true);
        linear_backward(&dq, &la.xn1, &lw.wq, n, d, d, &mut gw.wq, &mut dxn, 0.0);
        linear_backward(&dk, &la.xn1, &lw.wk, n, d, kv, &mut gw.wk, &mut dxn, 1.0);
        linear_backward(&dv, &la.xn1, &lw.wv, n, d, kv, &mut gw.wv, &mut dxn, 1.0);
        rmsnorm_backward(&dxn, &la.x, &lw.attention_norm, &la.inv1, &mut dx, &mut gw.attention_norm);
    }
    for (r, &tok) in inputs.iter().enumerate() {
        let row = &mut grads.tok_embeddings[tok as usize * d..(tok as usize + 1) * d];
        for (g, &dd) in row.iter_mut().zip(&dx[r * d..(r + 1) * d]) {
            *g += dd;
        }
    }
    loss
}

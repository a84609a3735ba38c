//! AWQ (Lin et al., 2023, "AWQ: Activation-aware Weight Quantization for LLM Compression and
//! Acceleration"), as llm-awq's `auto_scale` and `auto_clip` do it: protect the weights of the
//! input channels with large activations by scaling them up before rounding, with the scale
//! folded into the previous operation so that the FP32 function is unchanged.
//!
//! ```text
//! a group: a previous operation P feeding Linears W_i [N_i, K]; X [M, K] their calibration input
//! x̄_j = mean_m |X[m, j]|                                        (per-channel activation size)
//! for α ∈ {0, 1/20, …, 19/20}:
//!   s_j = max(x̄_j^α, 1e-4);   s ← s / sqrt(max_j s_j · min_j s_j)          (llm-awq's normalisation)
//!   Ŵ_i = Q(W_i · diag(s)) · diag(s)⁻¹                            Q = the configured weight format
//!   loss(α) = mean over tokens and outputs of (F_Ŵ(X) − F_W(X))²,  F = the module llm-awq inspects:
//!     attention_norm → wq, wk, wv:  F = the attention module (rope, causal softmax over each
//!                                   calibration window, wo in FP32)
//!     ffn_norm → w1, w3:            F = the MLP w2 · (silu(X·w1ᵀ) ⊙ X·w3ᵀ) (w2 in FP32)
//!     one Linear (w3 → w2, wv → wo): F = X·Wᵀ, so loss = Σ_n Δ_n · H · Δ_nᵀ / N,
//!                                   Δ = Ŵ − W, H = XᵀX / M (exact, every token, N·K² a candidate)
//! keep the α of least loss (the first on a tie; α = 0 is s = 1, plain RTN, so loss ≤ RTN's);
//! fold: P ← P · diag(s)⁻¹ (its output channel j divided by s_j), W_i ← W_i · diag(s)
//! ```
//!
//! Groups of a Llama block, as llm-awq's `auto_scale_block` for `LlamaDecoderLayer`:
//! - (attention_norm → wq, wk, wv): P = the RMSNorm weight g_j ← g_j / s_j;
//! - (wv → wo), only when wv's outputs are wo's inputs (Hkv = H): P = wv's row j ← row j / s_j.
//!   With grouped KV heads (Hkv < H) a v channel feeds H / Hkv channels of wo's input and the
//!   group is skipped (llm-awq's `v_proj.weight.shape == o_proj.weight.shape` test); the report
//!   says so;
//! - (ffn_norm → w1, w3): P = the RMSNorm weight;
//! - (w3 → w2): P = w3's row j (silu(x·w1ᵀ) ⊙ x·w3ᵀ is linear in x·w3ᵀ).
//!
//! The two module losses run on the block's inputs captured from the FP32 model
//! ([`capture_block`], one pass per block, 4·M·(3D + F) bytes); every group of a block is
//! searched on the block's original weights, then all scales are applied (as llm-awq).
//! Activations are not quantized in the search (llm-awq's weight-only loss). AutoAWQ's "duo
//! scaling" (s = x̄^α / w̄^(1−α)) is not used: llm-awq has none, and on the built-in model it
//! did not help (measured for issue 13).
//!
//! Clipping (`cfg.awq_clip`, llm-awq's `auto_clip`: n_grid 20, max_shrink 0.5), after scaling,
//! on the scaled weights and the scaled inputs X · diag(s)⁻¹ (H_ij / (s_i s_j)):
//! ```text
//! per output row n and quantization group G (g values; per channel: G = all of K):
//!   m = max_{j∈G} |W[n, j]|;  for r ∈ {1, 0.95, …, 0.55}: W_r = clamp(W, −r·m, r·m)
//!   err(r) = mean over tokens of (Σ_{j∈G} X[:, j] · (Q(W_r)[n, j] − W[n, j]))² = Δ_G · H_GG · Δ_Gᵀ
//! W[n, G] ← clamp(W[n, G], ±r*·m) for the r* of least err (the first on a tie)
//! ```
//! wq and wk are not clipped (llm-awq: "due to qk bmm, it is hard to clip precisely"). llm-awq
//! samples 512 tokens for the clipping error; through H every calibration token counts.
//!
//! Calibration: `cfg.calib_tokens` tokens in windows of the context length spread evenly over
//! the calibration text ([`spread_calibration`], as GPTQ; llm-awq samples
//! documents across the Pile), not its first pages.
//!
//! Inputs come from the FP32 model as given: one pass over the calibration windows gathers
//! every block's statistics (Σ xᵀx and Σ |x| of its four inputs; memory L·8·(3D² + F²) bytes,
//! whatever the number of tokens), then the blocks are processed in order. llm-awq likewise
//! computes the next block's input with the block's weights before scaling and clipping.
//! Scaling is function-preserving, so these are the scaled model's inputs up to rounding;
//! clipping is not, and its effect is not propagated (as llm-awq).

use serde::Serialize;

use crate::lm::attention::{attend, AttendScratch};
use crate::lm::exp::swiglu;
use crate::lm::forward::{rope, rope_tables};
use crate::lm::{BlockWeights, KvCache, KvFormat, LmConfig, LmError, LmLinear, LmModel, LmWeights, Probe};
use crate::ptq::lm::{quantize_linear, LmQuantConfig, LmWeightFormat};
use crate::ptq::lm_calib::{calibration_windows, capture_block, spread_calibration, BLOCK_INPUTS, MAX_CAPTURE_BYTES};
use crate::quant::ggml::QK;
use crate::runtime::qmatmul::QuantizedActs;

/// Candidates α = i / N_GRID, i < N_GRID (llm-awq's n_grid = 20).
pub const N_GRID: usize = 20;
/// The smallest x̄^α before normalisation (llm-awq's `clamp(min=1e-4)`).
pub const MIN_SCALE: f64 = 1e-4;
/// Clipping: ratios r = 1 − i / CLIP_GRID for i < CLIP_STEPS (n_grid 20, max_shrink 0.5).
pub const CLIP_GRID: usize = 20;
pub const CLIP_STEPS: usize = 10;

/// Running sums of one input X over the calibration windows: Σ xᵀx (each window's XᵀX on the
/// f32 GEMM, summed over windows in f64), Σ |x| per channel and the token count.
#[derive(Clone, Debug)]
pub struct InputStats {
    pub k: usize,
    pub tokens: usize,
    xtx: Vec<f64>,
    abs_sum: Vec<f64>,
}

impl InputStats {
    pub fn new(k: usize) -> InputStats {
        InputStats { k, tokens: 0, xtx: vec![0.0; k * k], abs_sum: vec![0.0; k] }
    }

    /// Adds the rows of X [M, K].
    pub fn add(&mut self, x: &[f32], m: usize) -> Result<(), LmError> {
        let k = self.k;
        if m == 0 || k == 0 || m.checked_mul(k) != Some(x.len()) {
            return Err(LmError::Setting { name: "calib_tokens", message: format!("{} input values for {m} tokens × {k} channels", x.len()) });
        }
        // Xᵀ [K, M]; then XᵀX = Xᵀ · (Xᵀ)ᵀ.
        let mut xt = vec![0f32; k * m];
        for (i, row) in x.chunks_exact(k).enumerate() {
            for (j, &v) in row.iter().enumerate() {
                xt[j * m + i] = v;
                self.abs_sum[j] += v.abs() as f64;
            }
        }
        let mut h = vec![0f32; k * k];
        LmLinear::f32(&xt, k, m).forward(&xt, k, &mut h, &mut QuantizedActs::default())?;
        for (s, &v) in self.xtx.iter_mut().zip(&h) {
            *s += v as f64;
        }
        self.tokens += m;
        Ok(())
    }

    /// x̄_j = Σ |x_j| / M.
    pub fn mean_abs(&self) -> Vec<f32> {
        self.abs_sum.iter().map(|&s| (s / self.tokens.max(1) as f64) as f32).collect()
    }

    /// H = XᵀX / M.
    pub fn gram(&self) -> Gram {
        let inv = 1.0 / self.tokens.max(1) as f64;
        Gram::from_h(self.xtx.iter().map(|&v| (v * inv) as f32).collect(), self.k)
    }
}

/// H = XᵀX / M [K, K] of one input X [M, K], kept as a Linear so that Δ·H runs on the
/// f32 GEMM of the build (matrixmultiply natively, the simd128 GEMM in wasm).
pub struct Gram {
    pub k: usize,
    /// H [K, K], row-major, symmetric.
    pub h: Vec<f32>,
    gemm: LmLinear,
}

impl Gram {
    /// H = XᵀX / M from X [M, K] row-major.
    pub fn new(x: &[f32], m: usize, k: usize) -> Result<Gram, LmError> {
        let mut s = InputStats::new(k);
        s.add(x, m)?;
        Ok(s.gram())
    }

    fn from_h(h: Vec<f32>, k: usize) -> Gram {
        let gemm = LmLinear::f32(&h, k, k);
        Gram { k, h, gemm }
    }

    /// The Gram matrix of X · diag(s)⁻¹: H_ij / (s_i · s_j).
    pub fn scaled(&self, s: &[f32]) -> Result<Gram, LmError> {
        let k = self.k;
        self.check("s", s.len(), 1)?;
        let mut h = self.h.clone();
        for (i, row) in h.chunks_exact_mut(k).enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = (*v as f64 / (s[i] as f64 * s[j] as f64)) as f32;
            }
        }
        Ok(Self::from_h(h, k))
    }

    /// `len` must be rows · K.
    fn check(&self, what: &str, len: usize, rows: usize) -> Result<(), LmError> {
        if rows.checked_mul(self.k) == Some(len) {
            Ok(())
        } else {
            Err(LmError::Setting { name: "awq", message: format!("{what}: {len} values for {rows} rows of {} inputs", self.k) })
        }
    }

    /// Σ_n Δ_n · H · Δ_nᵀ over the rows of Δ [N, K]: the sum over outputs of the mean over
    /// tokens of (X·Δᵀ)². E = Δ·H on the GEMM, then Σ E ⊙ Δ in f64.
    pub fn error(&self, delta: &[f32], n: usize) -> Result<f64, LmError> {
        self.check("Δ", delta.len(), n)?;
        let mut e = vec![0f32; n * self.k];
        self.gemm.forward(delta, n, &mut e, &mut QuantizedActs::default())?;
        Ok(e.iter().zip(delta).map(|(&a, &b)| a as f64 * b as f64).sum())
    }

    /// Δ_G · H_GG · Δ_Gᵀ for every row and group of `group` columns: [N, K / group].
    pub fn group_errors(&self, delta: &[f32], n: usize, group: usize) -> Result<Vec<f64>, LmError> {
        let k = self.k;
        self.check("Δ", delta.len(), n)?;
        if group == 0 || !k.is_multiple_of(group) {
            return Err(LmError::Setting { name: "group", message: format!("{group} does not divide {k} inputs") });
        }
        if group == k {
            let mut e = vec![0f32; n * k];
            self.gemm.forward(delta, n, &mut e, &mut QuantizedActs::default())?;
            return Ok(e.chunks_exact(k).zip(delta.chunks_exact(k)).map(|(e, d)| e.iter().zip(d).map(|(&a, &b)| a as f64 * b as f64).sum()).collect());
        }
        let mut out = Vec::with_capacity(n * (k / group));
        for d in delta.chunks_exact(k) {
            for g0 in (0..k).step_by(group) {
                let mut err = 0f64;
                for i in g0..g0 + group {
                    let hrow = &self.h[i * k + g0..i * k + g0 + group];
                    let hd: f64 = hrow.iter().zip(&d[g0..g0 + group]).map(|(&h, &v)| h as f64 * v as f64).sum();
                    err += d[i] as f64 * hd;
                }
                out.push(err);
            }
        }
        Ok(out)
    }
}

/// One Linear of a group: its full name (for the skip list and per-layer bits), W [N, K], N.
#[derive(Clone, Copy)]
pub struct AwqLinear<'a> {
    pub name: &'a str,
    pub w: &'a [f32],
    pub n: usize,
}

/// W as the configured format stores it, back in f32: Q(W) [N, K] (FP32 when skipped).
pub fn fake_quantize(cfg: &LmQuantConfig, name: &str, w: &[f32], n: usize, k: usize) -> Result<Vec<f32>, LmError> {
    let (lin, _) = quantize_linear(cfg, name, w, n, k)?;
    let mut out = vec![0f32; n * k];
    for (r, row) in out.chunks_exact_mut(k).enumerate() {
        lin.row(r, row)?;
    }
    Ok(out)
}

/// Values per quantization group of the configured format on K inputs (ggml blocks: 32).
pub fn quant_group(cfg: &LmQuantConfig, k: usize) -> usize {
    match cfg.weights {
        LmWeightFormat::Q8_0 | LmWeightFormat::Q4_0 | LmWeightFormat::Q4_1 => QK,
        _ if cfg.group == 0 => k,
        _ => cfg.group,
    }
}

/// s_j = max(x̄_j^α, 1e-4), then s ← s / sqrt(max s · min s); in f64, rounded to f32.
pub fn awq_scales(x_mean: &[f32], alpha: f64) -> Vec<f32> {
    let s: Vec<f64> = x_mean.iter().map(|&x| (x as f64).powf(alpha).max(MIN_SCALE)).collect();
    let (lo, hi) = s.iter().fold((f64::INFINITY, 0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let norm = (hi * lo).sqrt();
    s.iter().map(|&v| (v / norm) as f32).collect()
}

/// The outcome of one group's α search.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupSearch {
    /// The chosen α (i / 20).
    pub alpha: f32,
    /// The grid index of α.
    pub index: usize,
    /// s at the chosen α.
    pub s: Vec<f32>,
    /// loss(α) for every α of the grid (mean squared error of the group's outputs).
    pub losses: Vec<f64>,
}

/// Ŵ_i = Q(W_i · diag(s)) · diag(s)⁻¹ of every Linear of a group.
fn scale_quantize_unscale(linears: &[AwqLinear], s: &[f32], cfg: &LmQuantConfig) -> Result<Vec<Vec<f32>>, LmError> {
    let k = s.len();
    linears
        .iter()
        .map(|l| {
            let ws: Vec<f32> = l.w.chunks_exact(k).flat_map(|row| row.iter().zip(s).map(|(&w, &sj)| w * sj)).collect();
            let mut q = fake_quantize(cfg, l.name, &ws, l.n, k)?;
            for row in q.chunks_exact_mut(k) {
                for (v, &sj) in row.iter_mut().zip(s) {
                    *v /= sj;
                }
            }
            Ok(q)
        })
        .collect()
}

/// The α grid search of one group: for each α, s, the Linears' Ŵ and `loss(Ŵ)`; the first α
/// of least loss.
/// The loss of a group's candidate weights Ŵ_i (one per Linear of the group).
type GroupLoss<'a> = dyn FnMut(&[Vec<f32>]) -> Result<f64, LmError> + 'a;

fn search_alpha(x_mean: &[f32], linears: &[AwqLinear], cfg: &LmQuantConfig, loss: &mut GroupLoss) -> Result<GroupSearch, LmError> {
    let k = x_mean.len();
    if linears.iter().any(|l| l.n.checked_mul(k) != Some(l.w.len())) {
        return Err(LmError::Setting { name: "awq", message: format!("a group's weights do not have {k} inputs") });
    }
    let scales = |alpha: f64| awq_scales(x_mean, alpha);
    let mut losses = Vec::with_capacity(N_GRID);
    let (mut best, mut best_loss) = (0, f64::INFINITY);
    for i in 0..N_GRID {
        let s = scales(i as f64 / N_GRID as f64);
        let l = loss(&scale_quantize_unscale(linears, &s, cfg)?)?;
        if l < best_loss {
            (best, best_loss) = (i, l);
        }
        losses.push(l);
    }
    Ok(GroupSearch { alpha: best as f32 / N_GRID as f32, index: best, s: scales(best as f64 / N_GRID as f64), losses })
}

/// Searches α for the Linears `linears` (all with K = gram.k inputs) fed by an input whose
/// Gram matrix is `gram` and whose per-channel mean |x| is `x_mean`, the loss measured on
/// the Linears' own outputs (see the module header).
pub fn awq_search_group(gram: &Gram, x_mean: &[f32], linears: &[AwqLinear], cfg: &LmQuantConfig) -> Result<GroupSearch, LmError> {
    if x_mean.len() != gram.k {
        return Err(LmError::Setting { name: "awq", message: format!("{} channel means for {} inputs", x_mean.len(), gram.k) });
    }
    search_alpha(x_mean, linears, cfg, &mut linear_loss(gram, linears))
}

/// loss(Ŵ) = Σ_i Σ_n Δ_n · H · Δ_nᵀ / Σ_i N_i,  Δ = Ŵ_i − W_i.
fn linear_loss<'a>(gram: &'a Gram, linears: &'a [AwqLinear]) -> impl FnMut(&[Vec<f32>]) -> Result<f64, LmError> + 'a {
    let outputs: usize = linears.iter().map(|l| l.n).sum();
    move |qs| {
        let mut loss = 0f64;
        for (l, q) in linears.iter().zip(qs) {
            let delta: Vec<f32> = q.iter().zip(l.w).map(|(a, b)| a - b).collect();
            loss += gram.error(&delta, l.n)?;
        }
        Ok(loss / outputs.max(1) as f64)
    }
}

/// mean over the values of (a − b)².
fn mse(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| (x as f64 - y as f64).powi(2)).sum::<f64>() / a.len().max(1) as f64
}

/// Y = X · Wᵀ: X [M, K], W [N, K] → [M, N] on the f32 GEMM.
fn matmul(x: &[f32], m: usize, w: &[f32], n: usize, k: usize) -> Result<Vec<f32>, LmError> {
    let mut y = vec![0f32; m * n];
    LmLinear::f32(w, n, k).forward(x, m, &mut y, &mut QuantizedActs::default())?;
    Ok(y)
}

/// The SwiGLU MLP's output w2 · (silu(x·w1ᵀ) ⊙ x·w3ᵀ) [M, D] for its input X [M, D];
/// w1, w3 [F, D], w2 [D, F].
pub fn mlp_output(x: &[f32], d: usize, f: usize, w1: &[f32], w3: &[f32], w2: &[f32]) -> Result<Vec<f32>, LmError> {
    let m = x.len() / d.max(1);
    if m * d != x.len() || w1.len() != f * d || w3.len() != f * d || w2.len() != d * f {
        return Err(LmError::Setting { name: "awq", message: format!("MLP shapes: X {} values, w1 {}, w3 {}, w2 {} for D {d}, F {f}", x.len(), w1.len(), w3.len(), w2.len()) });
    }
    let mut h1 = matmul(x, m, w1, f, d)?;
    let h3 = matmul(x, m, w3, f, d)?;
    swiglu(&mut h1, &h3);
    matmul(&h1, m, w2, d, f)
}

/// AWQ's search for (ffn_norm → w1, w3) with llm-awq's loss on the whole MLP's output
/// (`module2inspect = mlp`; w2 stays FP32 in the search):
/// loss(α) = mean over tokens and D outputs of (MLP_Ŵ1,Ŵ3(X) − MLP(X))².
pub fn awq_search_mlp(x: &[f32], x_mean: &[f32], w1: AwqLinear, w3: AwqLinear, w2: &[f32], cfg: &LmQuantConfig) -> Result<GroupSearch, LmError> {
    let (d, f) = (x_mean.len(), w1.n);
    let reference = mlp_output(x, d, f, w1.w, w3.w, w2)?;
    search_alpha(x_mean, &[w1, w3], cfg, &mut |qs| Ok(mse(&mlp_output(x, d, f, &qs[0], &qs[1], w2)?, &reference)))
}

/// The attention module's output wo · attention(rope(x·wqᵀ), rope(x·wkᵀ), x·wvᵀ) [M, D] for its
/// input X [M, D] made of calibration windows of `lens` tokens (positions 0.. in each), as
/// [`crate::lm::LmModel::forward`] computes it with an FP32 KV cache; `rope_cs` = [`rope_tables`].
#[allow(clippy::too_many_arguments)]
pub fn attention_output(c: &LmConfig, rope_cs: &(Vec<f32>, Vec<f32>), x: &[f32], lens: &[usize], wq: &[f32], wk: &[f32], wv: &[f32], wo: &[f32]) -> Result<Vec<f32>, LmError> {
    let (d, kv, hd) = (c.dim, c.kv_dim(), c.head_dim());
    let half = hd / 2;
    let m: usize = lens.iter().sum();
    if m * d != x.len() || lens.iter().any(|&t| t > c.seq_len) || wq.len() != d * d || wk.len() != kv * d || wv.len() != kv * d || wo.len() != d * d {
        return Err(LmError::Setting { name: "awq", message: format!("attention shapes: X {} values for {m} tokens, D {d}, KV {kv}", x.len()) });
    }
    let mut q = matmul(x, m, wq, d, d)?;
    let mut k = matmul(x, m, wk, kv, d)?;
    let v = matmul(x, m, wv, kv, d)?;
    let mut att = vec![0f32; m * d];
    let mut scratch = AttendScratch::new(c);
    let mut cache = KvCache::new(c, KvFormat::F32)?;
    let mut start = 0;
    for &len in lens {
        for pos in 0..len {
            let i = start + pos;
            let (cos, sin) = (&rope_cs.0[pos * half..(pos + 1) * half], &rope_cs.1[pos * half..(pos + 1) * half]);
            rope(&mut q[i * d..(i + 1) * d], hd, cos, sin);
            rope(&mut k[i * kv..(i + 1) * kv], hd, cos, sin);
            cache.store(0, pos, &k[i * kv..(i + 1) * kv], &v[i * kv..(i + 1) * kv]);
        }
        for pos in 0..len {
            let i = start + pos;
            attend(c, cache.layer(0), pos, &q[i * d..(i + 1) * d], &mut att[i * d..(i + 1) * d], &mut scratch);
        }
        start += len;
    }
    matmul(&att, m, wo, d, d)
}

/// AWQ's search for (attention_norm → wq, wk, wv) with llm-awq's loss on the whole attention
/// module's output (`module2inspect = self_attn`; wo stays FP32 in the search).
pub fn awq_search_attention(c: &LmConfig, x: &[f32], lens: &[usize], x_mean: &[f32], qkv: [AwqLinear; 3], wo: &[f32], cfg: &LmQuantConfig) -> Result<GroupSearch, LmError> {
    let rope_cs = rope_tables(c);
    let reference = attention_output(c, &rope_cs, x, lens, qkv[0].w, qkv[1].w, qkv[2].w, wo)?;
    search_alpha(x_mean, &qkv, cfg, &mut |qs| Ok(mse(&attention_output(c, &rope_cs, x, lens, &qs[0], &qs[1], &qs[2], wo)?, &reference)))
}

/// The outcome of one Linear's clipping search.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClipSearch {
    /// Values per group g.
    pub group: usize,
    /// The chosen ratio index i (r = 1 − i / 20) per row and group [N, K / g].
    pub index: Vec<u8>,
    /// r·max|W| per row and group [N, K / g]: W is clamped to ± this.
    pub max_val: Vec<f32>,
}

/// llm-awq's `auto_clip_layer` for W [N, K] (already scaled) with the Gram matrix of its
/// (scaled) input: the best clipping threshold of every row and quantization group.
pub fn awq_clip_search(gram: &Gram, lin: AwqLinear, cfg: &LmQuantConfig) -> Result<ClipSearch, LmError> {
    let (k, n) = (gram.k, lin.n);
    let group = quant_group(cfg, k);
    if n.checked_mul(k) != Some(lin.w.len()) || group == 0 || !k.is_multiple_of(group) {
        return Err(LmError::Setting { name: "group", message: format!("{}: {} weights, group {group}, {k} inputs", lin.name, lin.w.len()) });
    }
    let groups = k / group;
    let org_max: Vec<f32> = lin.w.chunks_exact(group).map(|g| g.iter().fold(0f32, |m, v| m.max(v.abs()))).collect();
    let mut best_err = vec![f64::INFINITY; n * groups];
    let mut index = vec![0u8; n * groups];
    let mut clipped = vec![0f32; n * k];
    for i in 0..CLIP_STEPS {
        // max_val = r · m, W_r = clamp(W, −max_val, max_val).
        let r = 1.0 - i as f32 / CLIP_GRID as f32;
        for ((c, w), &m) in clipped.chunks_exact_mut(group).zip(lin.w.chunks_exact(group)).zip(&org_max) {
            let mv = m * r;
            for (c, &w) in c.iter_mut().zip(w) {
                *c = w.clamp(-mv, mv);
            }
        }
        let mut delta = fake_quantize(cfg, lin.name, &clipped, n, k)?;
        for (d, &w) in delta.iter_mut().zip(lin.w) {
            *d -= w;
        }
        for (gi, e) in gram.group_errors(&delta, n, group)?.into_iter().enumerate() {
            if e < best_err[gi] {
                best_err[gi] = e;
                index[gi] = i as u8;
            }
        }
    }
    let max_val = org_max.iter().zip(&index).map(|(&m, &i)| m * (1.0 - i as f32 / CLIP_GRID as f32)).collect();
    Ok(ClipSearch { group, index, max_val })
}

/// W[n, G] ← clamp(W[n, G], −max_val[n, G], max_val[n, G]).
pub fn apply_clip(w: &mut [f32], clip: &ClipSearch) {
    for (g, &mv) in w.chunks_exact_mut(clip.group.max(1)).zip(&clip.max_val) {
        for v in g {
            *v = v.clamp(-mv, mv);
        }
    }
}

/// One scaled group in the report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AwqGroup {
    /// The operation s is folded into: `layers.{l}.attention_norm`, `.attention.wv`, `.ffn_norm`, `.feed_forward.w3`.
    pub prev: String,
    /// The Linears scaled by s.
    pub linears: Vec<String>,
    pub alpha: f32,
    /// The grid index of α (α = index / 20).
    pub index: usize,
    /// loss(α) over the grid.
    pub losses: Vec<f64>,
    /// loss at α = 0 (s = 1: plain RTN).
    pub loss_before: f64,
    /// loss at the chosen α.
    pub loss_after: f64,
    /// x̄_j = mean |X_j| before scaling.
    pub x_mean_before: Vec<f32>,
    /// x̄_j / s_j after.
    pub x_mean_after: Vec<f32>,
    pub s: Vec<f32>,
}

/// One clipped Linear in the report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AwqClip {
    pub name: String,
    /// Mean squared error of its outputs (scaled weights, quantized) before and after clipping.
    pub loss_before: f64,
    pub loss_after: f64,
    /// Mean of the chosen ratios r.
    pub mean_ratio: f64,
    /// Share of (row, group) pairs clipped (r < 1).
    pub clipped_share: f64,
}

/// What [`awq_lm`] did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AwqReport {
    pub calib_tokens: usize,
    pub groups: Vec<AwqGroup>,
    pub clips: Vec<AwqClip>,
    /// Groups skipped and why.
    pub notes: Vec<String>,
}

/// The output MSE of W [N, K] quantized, per output (for the clipping report).
fn quant_loss(gram: &Gram, cfg: &LmQuantConfig, name: &str, w: &[f32], n: usize) -> Result<f64, LmError> {
    let mut delta = fake_quantize(cfg, name, w, n, gram.k)?;
    for (d, &v) in delta.iter_mut().zip(w) {
        *d -= v;
    }
    Ok(gram.error(&delta, n)? / n as f64)
}

/// The operation of a Llama block a group's scales are folded into (see the module's list).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AwqFold {
    /// attention_norm → wq, wk, wv.
    AttentionNorm,
    /// wv → wo (only when wv's outputs are wo's inputs).
    Wv,
    /// ffn_norm → w1, w3.
    FfnNorm,
    /// w3 → w2.
    W3,
}

/// Folds s into block b at `at`: P ← P · diag(s)⁻¹ (P's output channel j divided by s_j), and the
/// Linears P feeds W ← W · diag(s); the FP32 function is unchanged. The caller gives s of P's
/// output length (D for the norms, wv's / w3's rows).
pub fn fold_group(b: &mut BlockWeights, at: AwqFold, s: &[f32]) {
    // wv's and w3's rows take the block's input, of the model's dim D = the RMSNorm's length.
    let d = b.attention_norm.len();
    match at {
        AwqFold::AttentionNorm => crate::ptq::smoothquant::fold_smoothing(&mut b.attention_norm, &mut [&mut b.wq, &mut b.wk, &mut b.wv], s),
        AwqFold::Wv => {
            divide_rows(&mut b.wv, d, s);
            scale_columns(&mut b.wo, s);
        }
        AwqFold::FfnNorm => crate::ptq::smoothquant::fold_smoothing(&mut b.ffn_norm, &mut [&mut b.w1, &mut b.w3], s),
        AwqFold::W3 => {
            divide_rows(&mut b.w3, d, s);
            scale_columns(&mut b.w2, s);
        }
    }
}

fn scale_columns(w: &mut [f32], s: &[f32]) {
    for row in w.chunks_exact_mut(s.len()) {
        for (v, &sj) in row.iter_mut().zip(s) {
            *v *= sj;
        }
    }
}

fn divide_rows(w: &mut [f32], k: usize, s: &[f32]) {
    for (row, &sj) in w.chunks_exact_mut(k).zip(s) {
        for v in row {
            *v /= sj;
        }
    }
}

/// Accumulates [`InputStats`] of every block's four inputs ([`BLOCK_INPUTS`]) while the model runs.
struct StatsProbe {
    blocks: Vec<[InputStats; 4]>,
    error: Option<LmError>,
}

impl Probe for StatsProbe {
    fn linear(&mut self, layer: Option<usize>, name: &'static str, m: usize, input: &[f32], _output: &[f32]) {
        let (Some(l), Some(i)) = (layer, BLOCK_INPUTS.iter().position(|&n| n == name)) else { return };
        if self.error.is_none() {
            if let Some(stats) = self.blocks.get_mut(l) {
                if let Err(e) = stats[i].add(input, m) {
                    self.error = Some(e);
                }
            }
        }
    }
}

/// Bytes of the running sums [`awq_statistics`] keeps: L · 8 · (3D² + F² + 3D + F).
pub fn statistics_bytes(c: &crate::lm::LmConfig) -> u128 {
    let (d, f) = (c.dim as u128, c.hidden_dim as u128);
    c.n_layers as u128 * 8 * (3 * d * d + f * f + 3 * d + f)
}

/// One pass of `model` over the calibration windows (each with a fresh FP32 KV cache, as
/// [`crate::ptq::lm_calib::capture_block`]): every block's input statistics at once, in memory
/// independent of the number of tokens (checked against [`MAX_CAPTURE_BYTES`]).
pub fn awq_statistics(model: &LmModel, windows: &[&[u32]]) -> Result<Vec<[InputStats; 4]>, LmError> {
    let c = &model.config;
    let bytes = statistics_bytes(c);
    if bytes > MAX_CAPTURE_BYTES {
        return Err(LmError::TooLarge { what: "AWQ's calibration statistics (a Gram matrix per input)".into(), bytes, limit: MAX_CAPTURE_BYTES });
    }
    let (d, f) = (c.dim, c.hidden_dim);
    let blocks = (0..c.n_layers).map(|_| [InputStats::new(d), InputStats::new(d), InputStats::new(d), InputStats::new(f)]).collect();
    let mut probe = StatsProbe { blocks, error: None };
    let mut cache = KvCache::new(c, KvFormat::F32)?;
    for w in windows.iter().filter(|w| !w.is_empty()) {
        cache.clear();
        model.forward(w, &mut cache, true, &mut probe)?;
        if let Some(e) = probe.error.take() {
            return Err(e);
        }
    }
    Ok(probe.blocks)
}

/// Applies AWQ to every block of `w` in place (see the module header): scales searched on
/// `cfg.calib_tokens` tokens of `calib`, in windows spread over it, for the weight format of `cfg`, then
/// optionally clipping. `progress(done, total)`: total = 1 + L steps, the calibration pass
/// then each block. Quantize the result with [`crate::ptq::lm::quantize_lm`].
pub fn awq_lm(w: &mut LmWeights, calib: &[u32], cfg: &LmQuantConfig, progress: &mut dyn FnMut(usize, usize)) -> Result<AwqReport, LmError> {
    if !matches!(cfg.weights, LmWeightFormat::Rtn | LmWeightFormat::Q8_0 | LmWeightFormat::Q4_0 | LmWeightFormat::Q4_1) {
        return Err(LmError::Setting { name: "method", message: format!("AWQ needs an integer weight format, not {}", cfg.weights.name()) });
    }
    cfg.validate()?;
    let c = w.config.clone();
    let sample = spread_calibration(calib, c.seq_len, cfg.calib_tokens);
    let windows = calibration_windows(&sample, c.seq_len, cfg.calib_tokens)?;
    let steps = c.n_layers + 1;
    let model = LmModel::from_weights(w)?;
    let stats = awq_statistics(&model, &windows)?;
    let lens: Vec<usize> = windows.iter().map(|x| x.len()).collect();
    progress(1, steps);
    let (d, kv, f) = (c.dim, c.kv_dim(), c.hidden_dim);
    let mut report = AwqReport { calib_tokens: windows.iter().map(|x| x.len()).sum(), groups: vec![], clips: vec![], notes: vec![] };
    for (l, [x_att, x_wo, x_ffn, x_w2]) in stats.iter().enumerate() {
        let name = |n: &str| format!("layers.{l}.{n}");
        let (nq, nk, nv, no, n1, n2, n3) =
            (name("attention.wq"), name("attention.wk"), name("attention.wv"), name("attention.wo"), name("feed_forward.w1"), name("feed_forward.w2"), name("feed_forward.w3"));
        let b = &w.layers[l];
        let (g_att, g_wo, g_ffn, g_w2) = (x_att.gram(), x_wo.gram(), x_ffn.gram(), x_w2.gram());
        let (m_att, m_wo, m_ffn, m_w2) = (x_att.mean_abs(), x_wo.mean_abs(), x_ffn.mean_abs(), x_w2.mean_abs());
        let vo = kv == d;
        // The RMSNorm groups: loss on the attention / MLP output, on this block's captured inputs.
        let inputs = capture_block(&model, &windows, l)?;
        let s_att = awq_search_attention(
            &c,
            &inputs.attention,
            &lens,
            &m_att,
            [AwqLinear { name: &nq, w: &b.wq, n: d }, AwqLinear { name: &nk, w: &b.wk, n: kv }, AwqLinear { name: &nv, w: &b.wv, n: kv }],
            &b.wo,
            cfg,
        )?;
        let s_ffn = awq_search_mlp(&inputs.ffn, &m_ffn, AwqLinear { name: &n1, w: &b.w1, n: f }, AwqLinear { name: &n3, w: &b.w3, n: f }, &b.w2, cfg)?;
        drop(inputs);
        let s_vo = match vo {
            true => Some(awq_search_group(&g_wo, &m_wo, &[AwqLinear { name: &no, w: &b.wo, n: d }], cfg)?),
            false => {
                report.notes.push(format!(
                    "layers.{l}: wv → wo not scaled: wv gives {kv} outputs and wo takes {d} inputs (grouped KV heads, {} kv heads for {} heads)",
                    c.n_kv_heads, c.n_heads
                ));
                None
            }
        };
        let s_w2 = awq_search_group(&g_w2, &m_w2, &[AwqLinear { name: &n2, w: &b.w2, n: d }], cfg)?;

        // Fold every scale: P ← P · diag(s)⁻¹, W ← W · diag(s).
        let b = &mut w.layers[l];
        fold_group(b, AwqFold::AttentionNorm, &s_att.s);
        if let Some(s) = &s_vo {
            fold_group(b, AwqFold::Wv, &s.s);
        }
        fold_group(b, AwqFold::FfnNorm, &s_ffn.s);
        fold_group(b, AwqFold::W3, &s_w2.s);

        let mut push = |prev: String, linears: Vec<&String>, g: &GroupSearch, x_mean: Vec<f32>| {
            report.groups.push(AwqGroup {
                prev,
                linears: linears.into_iter().cloned().collect(),
                alpha: g.alpha,
                index: g.index,
                loss_before: g.losses[0],
                loss_after: g.losses[g.index],
                losses: g.losses.clone(),
                x_mean_after: x_mean.iter().zip(&g.s).map(|(x, s)| x / s).collect(),
                x_mean_before: x_mean,
                s: g.s.clone(),
            })
        };
        push(name("attention_norm"), vec![&nq, &nk, &nv], &s_att, m_att);
        if let Some(s) = &s_vo {
            push(nv.clone(), vec![&no], s, m_wo);
        }
        push(name("ffn_norm"), vec![&n1, &n3], &s_ffn, m_ffn);
        push(n3.clone(), vec![&n2], &s_w2, m_w2);

        if cfg.awq_clip {
            // Scaled inputs: X · diag(s)⁻¹ of each group (wo's unscaled when wv → wo is skipped).
            let h_att = g_att.scaled(&s_att.s)?;
            let h_wo_scaled;
            let h_wo = match &s_vo {
                Some(s) => {
                    h_wo_scaled = g_wo.scaled(&s.s)?;
                    &h_wo_scaled
                }
                None => &g_wo,
            };
            let h_ffn = g_ffn.scaled(&s_ffn.s)?;
            let h_w2 = g_w2.scaled(&s_w2.s)?;
            for (gram, nm, m, n) in
                [(&h_att, &nv, &mut b.wv, kv), (h_wo, &no, &mut b.wo, d), (&h_ffn, &n1, &mut b.w1, f), (&h_ffn, &n3, &mut b.w3, f), (&h_w2, &n2, &mut b.w2, d)]
            {
                let before = quant_loss(gram, cfg, nm, m, n)?;
                let clip = awq_clip_search(gram, AwqLinear { name: nm, w: m, n }, cfg)?;
                apply_clip(m, &clip);
                let after = quant_loss(gram, cfg, nm, m, n)?;
                let ratios = clip.index.len().max(1) as f64;
                report.clips.push(AwqClip {
                    name: nm.clone(),
                    loss_before: before,
                    loss_after: after,
                    mean_ratio: clip.index.iter().map(|&i| 1.0 - i as f64 / CLIP_GRID as f64).sum::<f64>() / ratios,
                    clipped_share: clip.index.iter().filter(|&&i| i > 0).count() as f64 / ratios,
                });
            }
        }
        progress(l + 2, steps);
    }
    Ok(report)
}

//! The decoder's forward pass over a KV cache (llama2.c's `forward`, for a block of
//! tokens at once so that prefill and perplexity are GEMMs and decoding a matrix-vector product).
//!
//! ```text
//! M = tokens in this call, p0 = positions already in the cache, T = context length
//! x [M, D] → for each block: attention (reads the cache's 0..p0+M) and the SwiGLU MLP → logits [M, V]
//! ```

use super::attention::{attend, AttendScratch};
use super::exp::swiglu;
use super::{KvCache, KvFormat, LmConfig, LmError, LmLinear};
use crate::runtime::qmatmul::QuantizedActs;

/// Largest working memory of one forward call: 512 MiB.
pub const MAX_WORK_BYTES: u128 = 512 << 20;

/// One block with its weights in whatever format the quantizer chose.
#[derive(Clone, Debug)]
pub struct Block {
    pub attention_norm: Vec<f32>,
    pub wq: LmLinear,
    pub wk: LmLinear,
    pub wv: LmLinear,
    pub wo: LmLinear,
    pub ffn_norm: Vec<f32>,
    pub w1: LmLinear,
    pub w2: LmLinear,
    pub w3: LmLinear,
}

impl Block {
    pub fn linears(&self) -> [(&'static str, &LmLinear); 7] {
        [
            ("attention.wq", &self.wq),
            ("attention.wk", &self.wk),
            ("attention.wv", &self.wv),
            ("attention.wo", &self.wo),
            ("feed_forward.w1", &self.w1),
            ("feed_forward.w2", &self.w2),
            ("feed_forward.w3", &self.w3),
        ]
    }
}

/// The token embedding: rows looked up by id. FP32, or any Linear format (a row is
/// dequantized when looked up; the table itself stays in its format).
#[derive(Clone, Debug)]
pub enum Embedding {
    F32(Vec<f32>),
    Linear(LmLinear),
}

/// An executable decoder.
#[derive(Clone, Debug)]
pub struct LmModel {
    pub config: LmConfig,
    pub embedding: Embedding,
    pub blocks: Vec<Block>,
    pub norm: Vec<f32>,
    pub output: LmLinear,
    /// cos / sin of the rotary angles, [T, hd/2].
    rope_cos: Vec<f32>,
    rope_sin: Vec<f32>,
}

/// What a caller may look at inside the forward pass (per-layer error, activation ranges).
pub trait Probe {
    /// `input` [M, K] goes into `linear` of block `layer` (None: the output head) and gives `output` [M, N].
    fn linear(&mut self, layer: Option<usize>, name: &'static str, m: usize, input: &[f32], output: &[f32]);
}

/// A probe that looks at nothing.
pub struct NoProbe;
impl Probe for NoProbe {
    fn linear(&mut self, _: Option<usize>, _: &'static str, _: usize, _: &[f32], _: &[f32]) {}
}

/// rmsnorm: out = x / sqrt(mean(x²) + eps) ⊙ w, one row of D.
#[inline(never)]
pub fn rmsnorm(out: &mut [f32], x: &[f32], w: &[f32], eps: f32) {
    let ss = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    if !ss.is_finite() {
        return rmsnorm_wide(out, x, w, eps);
    }
    let inv = 1.0 / (ss + eps).sqrt();
    for ((o, &xi), &wi) in out.iter_mut().zip(x).zip(w) {
        *o = xi * inv * wi;
    }
}

/// [`rmsnorm`] for a row whose Σx² overflows f32 (some |x| > 1.8e19): the sum in f64, so the
/// row is normalised rather than zeroed by 1/√∞. A row holding NaN or ±∞ stays non-finite.
#[cold]
fn rmsnorm_wide(out: &mut [f32], x: &[f32], w: &[f32], eps: f32) {
    let ss = x.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / x.len() as f64;
    let inv = 1.0 / (ss + eps as f64).sqrt();
    for ((o, &xi), &wi) in out.iter_mut().zip(x).zip(w) {
        *o = (xi as f64 * inv) as f32 * wi;
    }
}

/// Fails at the first NaN or ±∞ of `values`, the activations at `at` (the forward pass has
/// overflowed f32 there: weights or inputs too large for it).
fn check_finite(values: &[f32], at: impl FnOnce() -> String) -> Result<(), LmError> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(index) => Err(LmError::Overflow { at: at(), index }),
    }
}

/// The rotary tables: θ_i = pos / theta^(2i / hd), i < hd/2, for pos < T.
pub fn rope_tables(c: &LmConfig) -> (Vec<f32>, Vec<f32>) {
    let (t, half) = (c.seq_len, c.head_dim() / 2);
    let (mut cos, mut sin) = (vec![0f32; t * half], vec![0f32; t * half]);
    for pos in 0..t {
        for i in 0..half {
            // In f64, then rounded: the same angles as NumPy's reference.
            let freq = 1.0 / (c.rope_theta as f64).powf((2 * i) as f64 / c.head_dim() as f64);
            let angle = pos as f64 * freq;
            cos[pos * half + i] = angle.cos() as f32;
            sin[pos * half + i] = angle.sin() as f32;
        }
    }
    (cos, sin)
}

/// Rotates the pairs (x[2i], x[2i+1]) of every head of one row by the angles of `pos`.
#[inline]
pub fn rope(x: &mut [f32], head_dim: usize, cos: &[f32], sin: &[f32]) {
    for head in x.chunks_exact_mut(head_dim) {
        for (i, pair) in head.chunks_exact_mut(2).enumerate() {
            let (a, b) = (pair[0], pair[1]);
            pair[0] = a * cos[i] - b * sin[i];
            pair[1] = a * sin[i] + b * cos[i];
        }
    }
}

impl LmModel {
    pub fn new(
        config: LmConfig,
        embedding: Embedding,
        blocks: Vec<Block>,
        norm: Vec<f32>,
        output: LmLinear,
    ) -> Result<LmModel, LmError> {
        config.validate()?;
        let (rope_cos, rope_sin) = rope_tables(&config);
        Ok(LmModel { config, embedding, blocks, norm, output, rope_cos, rope_sin })
    }

    /// Bytes of every stored weight (norms in f32).
    pub fn weight_bytes(&self) -> usize {
        let emb = match &self.embedding {
            Embedding::F32(e) => e.len() * 4,
            Embedding::Linear(l) => l.bytes(),
        };
        let tied_output = self.config.tied;
        let blocks: usize = self
            .blocks
            .iter()
            .map(|b| b.linears().iter().map(|(_, l)| l.bytes()).sum::<usize>() + 8 * self.config.dim)
            .sum();
        emb + blocks + 4 * self.config.dim + if tied_output { 0 } else { self.output.bytes() }
    }

    /// Bits per weight over every parameter but the norms (the norms stay f32 in every format):
    /// 8 · (weight bytes − 4 · norms) / (parameters − norms).
    pub fn bits_per_weight(&self) -> f64 {
        let c = &self.config;
        let norms = (2 * c.n_layers + 1) * c.dim;
        let weights = (c.param_count() as f64 - norms as f64).max(1.0);
        (self.weight_bytes().saturating_sub(4 * norms) * 8) as f64 / weights
    }

    /// Working memory of a call with M tokens (u128, so absurd sizes cannot overflow): the
    /// activations of every row, and the logits of every row, or of the last with `last_only`.
    pub fn work_bytes(c: &LmConfig, m: usize, last_only: bool) -> u128 {
        let m = m as u128;
        let per_token = 4 * c.dim as u128 + 2 * c.kv_dim() as u128 + 2 * c.hidden_dim as u128;
        let logit_rows = if last_only { m.min(1) } else { m };
        4 * (m * per_token + logit_rows * c.vocab_size as u128 + c.seq_len as u128 + c.head_dim() as u128)
    }

    /// Bytes per token of every block's Linear outputs (what a probe that keeps them holds):
    /// per block wq, wo, w2 give dim values, wk, wv kv_dim, w1, w3 hidden_dim.
    pub fn block_outputs_bytes(c: &LmConfig) -> u128 {
        4 * c.n_layers as u128 * (3 * c.dim as u128 + 2 * c.kv_dim() as u128 + 2 * c.hidden_dim as u128)
    }

    /// The most tokens one [`Self::forward`] call with every row's logits takes within
    /// [`MAX_WORK_BYTES`] (at least 1): a long window of a model with a large vocabulary (a
    /// Llama 3 tokenizer's 128,256 tokens over 2,048 positions is 1 GiB of logits) runs in
    /// pieces of this many rows, one after the other through the KV cache.
    pub fn rows_per_call(&self) -> usize {
        self.rows_within(MAX_WORK_BYTES, 0)
    }

    /// The most tokens (at least 1, at most the context) whose call with every row's logits
    /// takes at most `budget` bytes of working memory ([`Self::work_bytes`]) together with
    /// `held_per_row` bytes per row that the caller holds beside the call (another model's
    /// logits, recorded outputs).
    pub fn rows_within(&self, budget: u128, held_per_row: u128) -> usize {
        let c = &self.config;
        let (mut lo, mut hi) = (1usize, c.seq_len.max(1));
        // The largest m ≤ seq_len with work_bytes(m) + m · held_per_row ≤ budget (monotone in m).
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if Self::work_bytes(c, mid, false) + mid as u128 * held_per_row <= budget {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        lo
    }

    /// Every row's logits of `tokens` (as [`Self::forward`] gives them with `last_only` false),
    /// computed in pieces of at most [`Self::rows_per_call`] rows: `each(first, logits)` gets
    /// rows first .. first + logits.len() / V. Each row's logits are those of one call: the
    /// attention reads the same cache, and every Linear treats its rows one by one, except where
    /// activations share one scale per call (per-tensor dynamic W8A8), which a piece then sets.
    pub fn forward_in_pieces(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
        probe: &mut dyn Probe,
        mut each: impl FnMut(usize, &[f32]) -> Result<(), LmError>,
    ) -> Result<(), LmError> {
        let rows = self.rows_per_call();
        for (i, piece) in tokens.chunks(rows).enumerate() {
            let logits = self.forward(piece, cache, false, probe)?;
            each(i * rows, &logits)?;
        }
        Ok(())
    }

    fn embed_row(&self, token: u32, out: &mut [f32]) -> Result<(), LmError> {
        let d = self.config.dim;
        match &self.embedding {
            Embedding::F32(e) => out.copy_from_slice(&e[token as usize * d..(token as usize + 1) * d]),
            Embedding::Linear(l) => l.row(token as usize, out)?,
        }
        Ok(())
    }

    /// Runs token 0 at position 0 and fails as a run would (an overflow of f32 named where it
    /// happens) when the weights cannot be run at all: a reader can refuse such a model when its
    /// files are given (the model in use stays) rather than at the first run.
    pub fn check_runs(&self) -> Result<(), LmError> {
        let mut cache = KvCache::for_positions(&self.config, KvFormat::F32, 1)?;
        self.forward(&[0], &mut cache, true, &mut NoProbe).map(|_| ())
    }

    /// Runs `tokens` at positions cache.len() .. cache.len() + M, appends their k and v to the
    /// cache and returns the logits [M, V]. With `last_only`, only the last position's logits [V].
    pub fn forward(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
        last_only: bool,
        probe: &mut dyn Probe,
    ) -> Result<Vec<f32>, LmError> {
        let c = &self.config;
        let m = tokens.len();
        let p0 = cache.len();
        if m == 0 {
            return Err(LmError::Tokens("no tokens to run".into()));
        }
        if cache.capacity() > c.seq_len || cache.n_layers() != c.n_layers {
            return Err(LmError::Tokens("the KV cache was made for another model".into()));
        }
        if p0 + m > cache.capacity() {
            let room = if cache.capacity() == c.seq_len { "the model's context" } else { "the KV cache" };
            return Err(LmError::Tokens(format!("{m} tokens after {p0} already in the context do not fit {room} of {} tokens", cache.capacity())));
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= c.vocab_size) {
            return Err(LmError::Tokens(format!("token id {bad} is outside the vocabulary of {}", c.vocab_size)));
        }
        let work = Self::work_bytes(c, m, last_only);
        if work > MAX_WORK_BYTES {
            return Err(LmError::TooLarge { what: format!("a forward pass over {m} tokens"), bytes: work, limit: MAX_WORK_BYTES });
        }
        let (d, kv_dim, hd, f) = (c.dim, c.kv_dim(), c.head_dim(), c.hidden_dim);
        let half = hd / 2;
        let mut x = vec![0f32; m * d];
        for (i, &t) in tokens.iter().enumerate() {
            self.embed_row(t, &mut x[i * d..(i + 1) * d])?;
        }
        let mut xb = vec![0f32; m * d];
        let mut q = vec![0f32; m * d];
        let mut k = vec![0f32; m * kv_dim];
        let mut v = vec![0f32; m * kv_dim];
        let mut att_out = vec![0f32; m * d];
        let mut proj = vec![0f32; m * d];
        let mut h1 = vec![0f32; m * f];
        let mut h3 = vec![0f32; m * f];
        let mut scratch = AttendScratch::new(c);
        let mut acts = QuantizedActs::default();
        for (l, b) in self.blocks.iter().enumerate() {
            // Attention.
            for i in 0..m {
                rmsnorm(&mut xb[i * d..(i + 1) * d], &x[i * d..(i + 1) * d], &b.attention_norm, c.norm_eps);
            }
            LmLinear::forward_same_input(&xb, m, &mut [(&b.wq, &mut q), (&b.wk, &mut k), (&b.wv, &mut v)], &mut acts).map_err(at(|| format!("layers.{l}.attention.wq / wk / wv")))?;
            probe.linear(Some(l), "attention.wq", m, &xb, &q);
            probe.linear(Some(l), "attention.wk", m, &xb, &k);
            probe.linear(Some(l), "attention.wv", m, &xb, &v);
            for i in 0..m {
                let pos = p0 + i;
                let (cos, sin) = (&self.rope_cos[pos * half..(pos + 1) * half], &self.rope_sin[pos * half..(pos + 1) * half]);
                rope(&mut q[i * d..(i + 1) * d], hd, cos, sin);
                rope(&mut k[i * kv_dim..(i + 1) * kv_dim], hd, cos, sin);
                cache.store(l, pos, &k[i * kv_dim..(i + 1) * kv_dim], &v[i * kv_dim..(i + 1) * kv_dim]);
            }
            let kv = cache.layer(l);
            for i in 0..m {
                let rows = i * d..(i + 1) * d;
                attend(c, kv, p0 + i, &q[rows.clone()], &mut att_out[rows], &mut scratch);
            }
            b.wo.forward(&att_out, m, &mut proj, &mut acts).map_err(at(|| format!("layers.{l}.attention.wo")))?;
            probe.linear(Some(l), "attention.wo", m, &att_out, &proj);
            for (xi, pi) in x.iter_mut().zip(&proj) {
                *xi += pi;
            }
            // SwiGLU MLP.
            for i in 0..m {
                rmsnorm(&mut xb[i * d..(i + 1) * d], &x[i * d..(i + 1) * d], &b.ffn_norm, c.norm_eps);
            }
            LmLinear::forward_same_input(&xb, m, &mut [(&b.w1, &mut h1), (&b.w3, &mut h3)], &mut acts).map_err(at(|| format!("layers.{l}.feed_forward.w1 / w3")))?;
            probe.linear(Some(l), "feed_forward.w1", m, &xb, &h1);
            probe.linear(Some(l), "feed_forward.w3", m, &xb, &h3);
            swiglu(&mut h1, &h3);
            b.w2.forward(&h1, m, &mut proj, &mut acts).map_err(at(|| format!("layers.{l}.feed_forward.w2")))?;
            probe.linear(Some(l), "feed_forward.w2", m, &h1, &proj);
            for (xi, pi) in x.iter_mut().zip(&proj) {
                *xi += pi;
            }
            check_finite(&x, || format!("the residual stream after block {l}"))?;
        }
        cache.set_len(p0 + m);
        let rows: Vec<usize> = if last_only { vec![m - 1] } else { (0..m).collect() };
        let mut xn = vec![0f32; rows.len() * d];
        for (j, &i) in rows.iter().enumerate() {
            rmsnorm(&mut xn[j * d..(j + 1) * d], &x[i * d..(i + 1) * d], &self.norm, c.norm_eps);
        }
        let mut logits = vec![0f32; rows.len() * c.vocab_size];
        self.output.forward(&xn, rows.len(), &mut logits, &mut acts).map_err(at(|| "output".to_string()))?;
        probe.linear(None, "output", rows.len(), &xn, &logits);
        check_finite(&logits, || "the logits".into())?;
        Ok(logits)
    }
}

/// Puts the Linear's name in front of its format in a product's error ("quantizing
/// layers.3.feed_forward.w2 (W8A8 per-channel): value 17 is NaN or infinite"): the Linear itself
/// knows only its format.
fn at(name: impl FnOnce() -> String) -> impl FnOnce(LmError) -> LmError {
    move |e| match e {
        LmError::Quant { tensor, error } => LmError::Quant { tensor: format!("{} ({tensor})", name()), error },
        other => other,
    }
}

//! Calibration for a language model's Linears: the inputs X of every projection of one
//! block, captured while the model runs over calibration text (GPTQ's Hessian H = 2·XᵀX,
//! AWQ's mean |x| per channel, SmoothQuant's max |x| per channel).
//!
//! ```text
//! calibration windows: tokens [w·T, w·T + T) for w < ⌈n / T⌉, the last one shorter
//! block l's inputs: attention.{wq,wk,wv} see one X [M, D], attention.wo [M, D],
//! feed_forward.{w1,w3} one X [M, D], feed_forward.w2 [M, F]; M = every calibration token
//! ```
//!
//! Sequential methods (GPTQ) quantize block l with the inputs the model *as quantized so
//! far* gives it: pass the partly quantized model to [`capture_block`].

use crate::lm::{KvCache, KvFormat, LmError, LmModel, Probe};

/// The largest calibration set: 65,536 tokens.
pub const MAX_CALIB_TOKENS: usize = 1 << 16;

/// The most memory one block's captured inputs may take: 256 MiB.
pub const MAX_CAPTURE_BYTES: u128 = 256 << 20;

/// The inputs of one block's Linears over the calibration tokens, row-major [M, K].
#[derive(Clone, Debug, PartialEq)]
pub struct BlockInputs {
    /// Calibration tokens M.
    pub m: usize,
    /// The input of wq, wk and wv (the attention RMSNorm's output) [M, D].
    pub attention: Vec<f32>,
    /// The input of wo (the heads' outputs) [M, D].
    pub wo: Vec<f32>,
    /// The input of w1 and w3 (the MLP RMSNorm's output) [M, D].
    pub ffn: Vec<f32>,
    /// The input of w2 (silu(x·w1ᵀ) ⊙ x·w3ᵀ) [M, F].
    pub w2: Vec<f32>,
}

/// The block Linears whose inputs are the block's four distinct inputs, in [`BlockInputs`]
/// order: wq's (shared by wk, wv), wo's, w1's (shared by w3), w2's.
pub const BLOCK_INPUTS: [&str; 4] = ["attention.wq", "attention.wo", "feed_forward.w1", "feed_forward.w2"];

/// The Linear whose name the forward pass gives the input of block Linear `name` (a block matrix
/// name such as "attention.wk"): wq, wk and wv read wq's input, w1 and w3 read w1's.
pub fn input_of(name: &str) -> Option<&'static str> {
    match name {
        "attention.wq" | "attention.wk" | "attention.wv" => Some("attention.wq"),
        "attention.wo" => Some("attention.wo"),
        "feed_forward.w1" | "feed_forward.w3" => Some("feed_forward.w1"),
        "feed_forward.w2" => Some("feed_forward.w2"),
        _ => None,
    }
}

impl BlockInputs {
    /// The input X [M, K] of the Linear `name` (a block matrix name such as "attention.wq").
    pub fn of(&self, name: &str) -> Option<&[f32]> {
        match input_of(name)? {
            "attention.wq" => Some(&self.attention),
            "attention.wo" => Some(&self.wo),
            "feed_forward.w1" => Some(&self.ffn),
            _ => Some(&self.w2),
        }
    }
}

/// The calibration windows of `tokens`: at most `limit` tokens in windows of the context T.
pub fn calibration_windows(tokens: &[u32], seq_len: usize, limit: usize) -> Result<Vec<&[u32]>, LmError> {
    if limit == 0 || limit > MAX_CALIB_TOKENS {
        return Err(LmError::Setting { name: "calib_tokens", message: format!("{limit} is outside 1–{MAX_CALIB_TOKENS}") });
    }
    if tokens.is_empty() {
        return Err(LmError::Tokens("the calibration text has no tokens".into()));
    }
    let n = tokens.len().min(limit);
    Ok(tokens[..n].chunks(seq_len.max(1)).collect())
}

/// `n` calibration tokens spread over a long text: ⌈n / T⌉ windows of T = `seq_len`
/// consecutive tokens (the last one shorter when T ∤ n), window w starting at
/// ⌊w · (len − T) / (W − 1)⌋, so that the calibration sees the whole text rather than its
/// first pages. [`calibration_windows`] cuts exactly these windows again. A text of at most
/// n tokens is returned whole.
pub fn spread_calibration(tokens: &[u32], seq_len: usize, n: usize) -> Vec<u32> {
    let t = seq_len.max(1);
    if tokens.len() <= n || tokens.len() < t {
        return tokens[..tokens.len().min(n)].to_vec();
    }
    let windows = n.div_ceil(t);
    let span = tokens.len() - t;
    let mut out = Vec::with_capacity(n);
    for w in 0..windows {
        let start = if windows == 1 { 0 } else { (w as u128 * span as u128 / (windows - 1) as u128) as usize };
        let len = t.min(n - out.len());
        out.extend_from_slice(&tokens[start..start + len]);
    }
    out
}

/// Bytes [`capture_block`] keeps for M tokens.
pub fn capture_bytes(model: &LmModel, m: usize) -> u128 {
    let c = &model.config;
    4 * m as u128 * (3 * c.dim as u128 + c.hidden_dim as u128)
}

struct Capture {
    layer: usize,
    inputs: BlockInputs,
}

impl Probe for Capture {
    fn linear(&mut self, layer: Option<usize>, name: &'static str, _m: usize, input: &[f32], _output: &[f32]) {
        if layer != Some(self.layer) {
            return;
        }
        let into = match name {
            "attention.wq" => &mut self.inputs.attention,
            "attention.wo" => &mut self.inputs.wo,
            "feed_forward.w1" => &mut self.inputs.ffn,
            "feed_forward.w2" => &mut self.inputs.w2,
            _ => return,
        };
        into.extend_from_slice(input);
    }
}

/// The inputs of block `layer`'s Linears when `model` runs over `windows` (each with a fresh
/// FP32 KV cache). Memory is checked against [`MAX_CAPTURE_BYTES`] before anything is kept.
pub fn capture_block(model: &LmModel, windows: &[&[u32]], layer: usize) -> Result<BlockInputs, LmError> {
    let c = &model.config;
    if layer >= c.n_layers {
        return Err(LmError::Setting { name: "layer", message: format!("{layer} is not a block of a {}-layer model", c.n_layers) });
    }
    let m: usize = windows.iter().map(|w| w.len()).sum();
    let bytes = capture_bytes(model, m);
    if bytes > MAX_CAPTURE_BYTES {
        return Err(LmError::TooLarge { what: format!("the calibration inputs of one block over {m} tokens"), bytes, limit: MAX_CAPTURE_BYTES });
    }
    let empty = BlockInputs { m, attention: Vec::new(), wo: Vec::new(), ffn: Vec::new(), w2: Vec::new() };
    let mut probe = Capture { layer, inputs: empty };
    probe.inputs.attention.reserve_exact(m * c.dim);
    probe.inputs.wo.reserve_exact(m * c.dim);
    probe.inputs.ffn.reserve_exact(m * c.dim);
    probe.inputs.w2.reserve_exact(m * c.hidden_dim);
    let mut cache = KvCache::new(c, KvFormat::F32)?;
    for w in windows {
        if w.is_empty() {
            continue;
        }
        cache.clear();
        model.forward(w, &mut cache, true, &mut probe)?;
    }
    Ok(probe.inputs)
}

/// max |X_j| and mean |X_j| of every column j of X [M, K] (SmoothQuant's and AWQ's statistics).
pub fn column_abs_stats(x: &[f32], k: usize) -> (Vec<f32>, Vec<f32>) {
    let (mut max, mut sum) = (vec![0f32; k], vec![0f64; k]);
    let rows = x.len() / k.max(1);
    for row in x.chunks_exact(k) {
        for j in 0..k {
            let a = row[j].abs();
            max[j] = max[j].max(a);
            sum[j] += a as f64;
        }
    }
    let mean = sum.iter().map(|&s| if rows == 0 { 0.0 } else { (s / rows as f64) as f32 }).collect();
    (max, mean)
}

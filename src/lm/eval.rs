//! Scoring a language model on text: perplexity, and a quantized model against FP32
//! (the figures llama.cpp's `perplexity --kl-divergence` reports, and the per-layer error).
//!
//! ```text
//! windows: tokens [w·T, w·T + T] for w = 0, 1, …: T inputs, T targets each, no overlap
//! NLL = −Σ log p(target) / count        perplexity = exp(NLL)        (nats per token)
//! KL  = mean over positions of Σ_v p32(v) · (log p32(v) − log pq(v))
//! top-1 same = share of positions where argmax p32 = argmax pq
//! RMS Δp = sqrt(mean (pq(target) − p32(target))²)
//! per layer: MSE, cosine and SQNR = 10·log10(Σ y32² / Σ (yq − y32)²) of every projection's output
//! ```

use serde::{Deserialize, Serialize};

use super::{KvCache, KvFormat, LmError, LmModel, NoProbe, Probe};
use super::forward::MAX_WORK_BYTES;
use crate::experiment::shard::{interleave, Shard};

/// Log-softmax of one row, in f64.
pub fn log_softmax(row: &[f32]) -> Vec<f64> {
    let lse = log_sum_exp(row);
    row.iter().map(|&z| z as f64 - lse).collect()
}

/// log Σ_v e^(z_v) of one row, in f64 (shifted by the maximum).
fn log_sum_exp(row: &[f32]) -> f64 {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &z| m.max(z)) as f64;
    row.iter().map(|&z| (z as f64 - max).exp()).sum::<f64>().ln() + max
}

/// log p(target) = z_target − log Σ e^z: [`log_softmax`]'s value at `target` without the row.
pub fn log_prob(row: &[f32], target: usize) -> f64 {
    row[target] as f64 - log_sum_exp(row)
}

fn argmax(row: &[f32]) -> usize {
    row.iter().enumerate().fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| if v > bv { (i, v) } else { (bi, bv) }).0
}

/// The windows of `tokens` (each T + 1 tokens); at least one is required.
fn windows(tokens: &[u32], t: usize) -> Result<Vec<&[u32]>, LmError> {
    if tokens.len() < 2 {
        return Err(LmError::Tokens("the evaluation text needs at least two tokens".into()));
    }
    let n = (tokens.len() - 1).div_ceil(t);
    Ok((0..n).map(|w| &tokens[w * t..(w * t + t + 1).min(tokens.len())]).collect())
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Perplexity {
    /// Mean negative log-likelihood, nats per token.
    pub nll: f64,
    pub perplexity: f64,
    pub tokens: usize,
}

/// Perplexity of `model` over `tokens`, with a KV cache of `kv` format.
pub fn perplexity(model: &LmModel, tokens: &[u32], kv: KvFormat, mut progress: impl FnMut(usize, usize)) -> Result<Perplexity, LmError> {
    let (t, v) = (model.config.seq_len, model.config.vocab_size);
    let wins = windows(tokens, t)?;
    let mut cache = KvCache::new(&model.config, kv)?;
    let (mut nll, mut count) = (0f64, 0usize);
    for (i, w) in wins.iter().enumerate() {
        cache.clear();
        model.forward_in_pieces(&w[..w.len() - 1], &mut cache, &mut NoProbe, |first, logits| {
            for (row, &target) in logits.chunks_exact(v).zip(&w[1 + first..]) {
                nll -= log_prob(row, target as usize);
                count += 1;
            }
            Ok(())
        })?;
        progress(i + 1, wins.len());
    }
    let nll = nll / count as f64;
    Ok(Perplexity { nll, perplexity: nll.exp(), tokens: count })
}

/// The error of one projection's output, quantized against FP32.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerError {
    /// `layers.{l}.{name}` or `output`.
    pub name: String,
    pub mse: f64,
    pub cosine: f64,
    pub sqnr_db: f64,
}

/// max |x| of every input channel of a Linear, over the evaluated positions (FP32 model).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChannelRanges {
    pub name: String,
    pub absmax: Vec<f32>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    pub fp32: Perplexity,
    pub quantized: Perplexity,
    /// (ppl_q − ppl_32) / ppl_32 · 100.
    pub delta_pct: f64,
    pub mean_kl: f64,
    pub top1_same: f64,
    pub rms_delta_p: f64,
    pub layers: Vec<LayerError>,
    pub channel_ranges: Vec<ChannelRanges>,
}

fn key(layer: Option<usize>, name: &str) -> String {
    match layer {
        Some(l) => format!("layers.{l}.{name}"),
        None => name.to_string(),
    }
}

/// Records every block Linear's output (with `outputs`) and its input channels' max |x| (with
/// `ranges`), per piece of a window. The head's output is the forward pass's logits: it is not
/// copied (at 128k tokens it is as large as the logits).
struct Record {
    outputs: Option<Vec<(String, Vec<f32>)>>,
    ranges: Option<Vec<ChannelRanges>>,
}

impl Probe for Record {
    fn linear(&mut self, layer: Option<usize>, name: &'static str, m: usize, input: &[f32], output: &[f32]) {
        let k = key(layer, name);
        if let Some(outputs) = self.outputs.as_mut().filter(|_| !is_head(layer, name)) {
            outputs.push((k.clone(), output.to_vec()));
        }
        let Some(ranges) = self.ranges.as_mut() else { return };
        let width = input.len() / m.max(1);
        let r = match ranges.iter().position(|r| r.name == k) {
            Some(i) => &mut ranges[i],
            None => {
                ranges.push(ChannelRanges { name: k, absmax: vec![0.0; width] });
                ranges.last_mut().expect("just pushed")
            }
        };
        for row in input.chunks_exact(width.max(1)) {
            for (a, &x) in r.absmax.iter_mut().zip(row) {
                *a = a.max(x.abs());
            }
        }
    }
}

/// The head: its output is the forward pass's logits.
fn is_head(layer: Option<usize>, name: &str) -> bool {
    layer.is_none() && name == "output"
}

/// Sums for one layer's error.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sums {
    signal: f64,
    noise: f64,
    dot: f64,
    q2: f64,
    n: usize,
}

impl Sums {
    fn add(&mut self, o: &Sums) {
        self.signal += o.signal;
        self.noise += o.noise;
        self.dot += o.dot;
        self.q2 += o.q2;
        self.n += o.n;
    }
}

/// What one window adds to a comparison. A comparison is the sum of its windows' scores taken
/// in window order ([`Comparison::from_windows`]), so windows scored by different workers add up
/// to the one-worker figures exactly.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowScore {
    /// −Σ log p(target), FP32 and quantized.
    pub nll32: f64,
    pub nllq: f64,
    /// Σ KL(p32 ‖ pq) over the positions.
    pub kl: f64,
    /// Positions where both models' top-1 tokens are the same.
    pub same: usize,
    /// Σ (pq(target) − p32(target))².
    pub dp2: f64,
    pub count: usize,
    /// Every projection's output error sums, in the order the forward pass meets them.
    pub layers: Vec<(String, Sums)>,
}

impl WindowScore {
    fn add(&mut self, w: &WindowScore) {
        self.nll32 += w.nll32;
        self.nllq += w.nllq;
        self.kl += w.kl;
        self.same += w.same;
        self.dp2 += w.dp2;
        self.count += w.count;
        for (name, s) in &w.layers {
            match self.layers.iter_mut().find(|(n, _)| n == name) {
                Some((_, t)) => t.add(s),
                None => self.layers.push((name.clone(), s.clone())),
            }
        }
    }
}

struct Compare<'a> {
    /// The block Linears' outputs, in the order the forward pass meets them.
    reference: &'a [(String, Vec<f32>)],
    /// The head's: the reference model's logits.
    head: &'a [f32],
    at: usize,
    sums: &'a mut Vec<(String, Sums)>,
}

/// The windows of `tokens` are numbered w = 0, 1, …; this is how many there are.
pub fn window_count(tokens: usize, seq_len: usize) -> usize {
    tokens.saturating_sub(1).div_ceil(seq_len.max(1))
}

impl Probe for Compare<'_> {
    fn linear(&mut self, layer: Option<usize>, name: &'static str, _m: usize, _input: &[f32], output: &[f32]) {
        let k = key(layer, name);
        let r = if is_head(layer, name) {
            self.head
        } else {
            let Some((rk, r)) = self.reference.get(self.at) else { return };
            self.at += 1;
            if *rk != k {
                return;
            }
            r
        };
        if r.len() != output.len() {
            return;
        }
        let s = match self.sums.iter_mut().find(|(n, _)| *n == k) {
            Some((_, s)) => s,
            None => {
                self.sums.push((k, Sums::default()));
                &mut self.sums.last_mut().expect("just pushed").1
            }
        };
        for (&a, &b) in r.iter().zip(output) {
            let (a, b) = (a as f64, b as f64);
            s.signal += a * a;
            s.noise += (b - a) * (b - a);
            s.dot += a * b;
            s.q2 += b * b;
        }
        s.n += output.len();
    }
}

/// Scores `quantized` against `fp32` over `tokens`: both perplexities, KL, top-1, RMS Δp,
/// every projection's output error and the FP32 activation ranges per input channel.
pub fn compare(fp32: &LmModel, quantized: &LmModel, tokens: &[u32], kv: KvFormat, mut progress: impl FnMut(usize, usize)) -> Result<Comparison, LmError> {
    compare_with(fp32, quantized, tokens, kv, |done, total, _| progress(done, total))
}

/// [`compare`], each projection's output held against `layers`' (when given) instead of
/// `fp32`'s: the FP32 weights a method rounded when it rescaled a projection's output rows. AWQ's
/// w3 → w2 group divides w3's rows by s (and w2's columns multiply by it), so the model computes
/// the same function while w3's own output is b / s: against FP32's b its "error" would be the
/// scaling.
pub fn compare_layers_against(
    fp32: &LmModel,
    layers: Option<&LmModel>,
    quantized: &LmModel,
    tokens: &[u32],
    kv: KvFormat,
    mut progress: impl FnMut(usize, usize),
) -> Result<Comparison, LmError> {
    let (scores, ranges) = score_windows(fp32, layers, quantized, tokens, kv, Shard::ALL, |done, total, _| progress(done, total))?;
    Ok(Comparison::from_windows(&scores, ranges))
}

/// Both perplexities over the windows scored so far (what a page can show while it waits).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SoFar {
    pub fp32: f64,
    pub quantized: f64,
    /// Predictions scored so far.
    pub tokens: usize,
}

/// [`compare`], with the perplexities so far after each window.
pub fn compare_with(
    fp32: &LmModel,
    quantized: &LmModel,
    tokens: &[u32],
    kv: KvFormat,
    progress: impl FnMut(usize, usize, SoFar),
) -> Result<Comparison, LmError> {
    let (scores, ranges) = score_windows(fp32, None, quantized, tokens, kv, Shard::ALL, progress)?;
    Ok(Comparison::from_windows(&scores, ranges))
}

/// The scores of `shard`'s windows (window w is shard w mod count's), in window order, and the
/// FP32 activation ranges over them; `progress` gets this shard's windows done, its windows in
/// all, and the perplexities over them so far. Each projection's output is held against
/// `layers`' when given (see [`compare_layers_against`]; one more forward pass per window), else
/// against `fp32`'s.
pub fn score_windows(
    fp32: &LmModel,
    layers: Option<&LmModel>,
    quantized: &LmModel,
    tokens: &[u32],
    kv: KvFormat,
    shard: Shard,
    mut progress: impl FnMut(usize, usize, SoFar),
) -> Result<(Vec<WindowScore>, Vec<ChannelRanges>), LmError> {
    if fp32.config != quantized.config || layers.is_some_and(|l| l.config != fp32.config) {
        return Err(LmError::Tokens("the two models have different shapes".into()));
    }
    let (t, v) = (fp32.config.seq_len, fp32.config.vocab_size);
    let wins = windows(tokens, t)?;
    let mine: Vec<&[u32]> = wins.iter().enumerate().filter(|(w, _)| shard.takes(*w)).map(|(_, w)| *w).collect();
    let mut c32 = KvCache::new(&fp32.config, KvFormat::F32)?;
    let mut cq = KvCache::new(&fp32.config, kv)?;
    let mut cl = match layers {
        Some(_) => Some(KvCache::new(&fp32.config, KvFormat::F32)?),
        None => None,
    };
    let mut scores = Vec::with_capacity(mine.len());
    let mut so_far = WindowScore::default();
    let mut ranges: Vec<ChannelRanges> = Vec::new();
    // A window longer than the working memory allows runs in pieces of rows, each through the
    // three models in turn (see LmModel::forward_in_pieces): the sums below add the same rows in
    // the same order either way. While the quantized model runs a piece, FP32's logits (and the
    // layer reference's) and one model's recorded block outputs are held beside its call: all
    // of it within one call's budget.
    let held = 4 * v as u128 * (1 + layers.is_some() as u128) + LmModel::block_outputs_bytes(&fp32.config);
    let rows = fp32.rows_within(MAX_WORK_BYTES, held).min(quantized.rows_within(MAX_WORK_BYTES, held));
    for (i, w) in mine.iter().enumerate() {
        let inputs = &w[..w.len() - 1];
        c32.clear();
        cq.clear();
        if let Some(cl) = cl.as_mut() {
            cl.clear();
        }
        let mut s = WindowScore::default();
        for (j, piece) in inputs.chunks(rows).enumerate() {
            // FP32's activation ranges always; the outputs of the model each projection is held
            // against (the layer reference's when given).
            let mut rec = Record { outputs: layers.is_none().then(Vec::new), ranges: Some(std::mem::take(&mut ranges)) };
            let l32 = fp32.forward(piece, &mut c32, false, &mut rec)?;
            ranges = rec.ranges.take().unwrap_or_default();
            let reference = match (layers, cl.as_mut()) {
                (Some(l), Some(cl)) => {
                    let mut r = Record { outputs: Some(Vec::new()), ranges: None };
                    let logits = l.forward(piece, cl, false, &mut r)?;
                    Some((r.outputs.unwrap_or_default(), logits))
                }
                _ => None,
            };
            let (outputs, head) = match &reference {
                Some((outputs, logits)) => (outputs.as_slice(), logits),
                None => (rec.outputs.as_deref().unwrap_or_default(), &l32),
            };
            let lq = quantized.forward(piece, &mut cq, false, &mut Compare { reference: outputs, head, at: 0, sums: &mut s.layers })?;
            for ((r32, rq), &target) in l32.chunks_exact(v).zip(lq.chunks_exact(v)).zip(&w[1 + j * rows..]) {
                let (a, b) = (log_softmax(r32), log_softmax(rq));
                s.nll32 -= a[target as usize];
                s.nllq -= b[target as usize];
                s.kl += a.iter().zip(&b).map(|(x, y)| x.exp() * (x - y)).sum::<f64>();
                s.same += usize::from(argmax(r32) == argmax(rq));
                let dp = b[target as usize].exp() - a[target as usize].exp();
                s.dp2 += dp * dp;
                s.count += 1;
            }
        }
        so_far.add(&s);
        scores.push(s);
        let n = so_far.count.max(1) as f64;
        progress(i + 1, mine.len(), SoFar { fp32: (so_far.nll32 / n).exp(), quantized: (so_far.nllq / n).exp(), tokens: so_far.count });
    }
    Ok((scores, ranges))
}

/// The scores of every window from its shards' (`parts[k]` from shard k of `parts.len()`), in
/// window order, for the `total` windows of one run.
pub fn merge_windows(parts: Vec<Vec<WindowScore>>, total: usize) -> Result<Vec<WindowScore>, String> {
    interleave(parts, total)
}

impl Comparison {
    /// The comparison of the windows' scores (in window order) and the FP32 activation ranges.
    pub fn from_windows(windows: &[WindowScore], channel_ranges: Vec<ChannelRanges>) -> Comparison {
        let mut t = WindowScore::default();
        for w in windows {
            t.add(w);
        }
        let n = t.count as f64;
        let fp = Perplexity { nll: t.nll32 / n, perplexity: (t.nll32 / n).exp(), tokens: t.count };
        let q = Perplexity { nll: t.nllq / n, perplexity: (t.nllq / n).exp(), tokens: t.count };
        let layers = t
            .layers
            .into_iter()
            .map(|(name, s)| LayerError {
                name,
                mse: s.noise / s.n.max(1) as f64,
                cosine: if s.signal > 0.0 && s.q2 > 0.0 { s.dot / (s.signal.sqrt() * s.q2.sqrt()) } else { 1.0 },
                sqnr_db: crate::metrics::sqnr_from_sums(s.signal, s.noise),
            })
            .collect();
        Comparison {
            delta_pct: (q.perplexity - fp.perplexity) / fp.perplexity * 100.0,
            fp32: fp,
            quantized: q,
            mean_kl: t.kl / n,
            top1_same: t.same as f64 / n,
            rms_delta_p: (t.dp2 / n).sqrt(),
            layers,
            channel_ranges,
        }
    }
}

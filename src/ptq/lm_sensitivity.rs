//! Mixed precision for a language model: how much each Linear alone hurts at the low bit width,
//! and which Linears can take it under a size budget or a KL target (Neural Compressor's
//! auto_tune, reduced to two widths and a greedy order).
//!
//! ```text
//! p32(t), pq(t) = next-token distributions of FP32 and of the quantized model at position t
//! KL(model) = mean over positions t of Σ_v p32(v) · (log p32(v) − log pq(v))      (as [`crate::lm::eval::compare`])
//! sensitivity(L) = KL(only L at the low bits, every other Linear FP32) − KL(every Linear FP32)
//!                  (the second term is 0 unless the KV cache is quantized)
//! saved(L) = bytes(L at high bits) − bytes(L at low bits)       (integers + scales (+ minimums))
//! greedy order: ascending sensitivity(L) / saved(L)
//! candidate p (p = 0 … n): the first p Linears of the order at the low bits, the rest at the high bits
//!   (p = 0 is uniform high, p = n uniform low); every candidate is quantized and evaluated (KL, perplexity)
//! uniform widths low + 1 … high − 1 are candidates too (a width without a kernel runs simulated,
//!   its bytes counted as packed)
//! size budget (bytes, or bits per weight of the searched Linears): of the candidates that fit,
//!   the one of least measured KL;   KL target: the smallest candidate whose measured KL ≤ target
//! Pareto front: candidates and the uniform widths low … high that no other beats on both size and
//!   perplexity (≤ on both, < on one)
//! ```
//!
//! The searched Linears are those RTN quantizes under the configuration (its skip list left in
//! FP32). Only RTN: the calibrated methods would quantize each candidate again with calibration.
//! The slice is short (1,024 predictions by default in the CLI): one evaluation per Linear, then one
//! per candidate, each a quantized forward pass over the slice against FP32 log-probabilities
//! computed once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::lm::{quantize_lm, LmMethod, LmQuantConfig, LmWeightFormat};
use crate::experiment::shard::Shard;
use crate::experiment::Progress;
use crate::lm::eval::log_softmax;
use crate::lm::{KvCache, KvFormat, LmError, LmModel, LmWeights, NoProbe};

/// Largest FP32 reference kept: positions × vocabulary ≤ 2^24 f64 log-probabilities (128 MiB).
pub const MAX_REFERENCE_VALUES: usize = 1 << 24;

/// Why a search stopped.
#[derive(Clone, Debug, PartialEq)]
pub enum SearchError {
    Lm(LmError),
    /// The progress callback said stop.
    Cancelled,
}

impl std::fmt::Display for SearchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SearchError::Lm(e) => write!(f, "{e}"),
            SearchError::Cancelled => write!(f, "cancelled"),
        }
    }
}

impl std::error::Error for SearchError {}

impl From<LmError> for SearchError {
    fn from(e: LmError) -> Self {
        SearchError::Lm(e)
    }
}

fn step(on: &mut dyn FnMut(&Progress) -> bool, stage: String, done: usize, total: usize) -> Result<(), SearchError> {
    if on(&Progress { stage, done, total, value: None }) {
        Ok(())
    } else {
        Err(SearchError::Cancelled)
    }
}

/// A model's score on the slice against FP32.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub mean_kl: f64,
    /// Mean negative log-likelihood (nats per token) and its exp.
    pub nll: f64,
    pub perplexity: f64,
}

/// The FP32 model's log-probabilities on a slice, computed once, and the score of any model of
/// the same shape against them (KL as [`crate::lm::eval::compare`] computes it, with the same
/// windows: T inputs and T targets each, no overlap).
pub struct KlReference {
    /// (inputs, targets, FP32 log-probabilities [positions, V]) per window.
    windows: Vec<(Vec<u32>, Vec<u32>, Vec<f64>)>,
    vocab: usize,
    kv: KvFormat,
    pub fp32: Score,
}

impl KlReference {
    /// FP32's log-probabilities over `tokens`; the scored models run with a KV cache of `kv`.
    pub fn new(fp32: &LmModel, tokens: &[u32], kv: KvFormat) -> Result<KlReference, LmError> {
        let (t, v) = (fp32.config.seq_len, fp32.config.vocab_size);
        if tokens.len() < 2 {
            return Err(LmError::Tokens("the evaluation text needs at least two tokens".into()));
        }
        if (tokens.len() - 1).saturating_mul(v) > MAX_REFERENCE_VALUES {
            return Err(LmError::TooLarge {
                what: format!("FP32 log-probabilities of {} positions × {v} tokens", tokens.len() - 1),
                bytes: 8 * (tokens.len() as u128 - 1) * v as u128,
                limit: 8 * MAX_REFERENCE_VALUES as u128,
            });
        }
        let mut cache = KvCache::new(&fp32.config, KvFormat::F32)?;
        let mut windows = Vec::new();
        let (mut nll, mut count) = (0f64, 0usize);
        for w in 0..(tokens.len() - 1).div_ceil(t) {
            let win = &tokens[w * t..(w * t + t + 1).min(tokens.len())];
            let (inputs, targets) = (&win[..win.len() - 1], &win[1..]);
            cache.clear();
            let mut logp = Vec::with_capacity(inputs.len() * v);
            fp32.forward_in_pieces(inputs, &mut cache, &mut NoProbe, |first, logits| {
                for (row, &target) in logits.chunks_exact(v).zip(&targets[first..]) {
                    let a = log_softmax(row);
                    nll -= a[target as usize];
                    count += 1;
                    logp.extend(a);
                }
                Ok(())
            })?;
            windows.push((inputs.to_vec(), targets.to_vec(), logp));
        }
        let nll = nll / count as f64;
        Ok(KlReference { windows, vocab: v, kv, fp32: Score { mean_kl: 0.0, nll, perplexity: nll.exp() } })
    }

    /// KL = mean Σ_v p32(v) · (log p32(v) − log pq(v)), NLL and perplexity of `model`.
    pub fn score(&self, model: &LmModel) -> Result<Score, LmError> {
        let v = self.vocab;
        if model.config.vocab_size != v {
            return Err(LmError::Tokens("the model and the reference have different vocabularies".into()));
        }
        let mut cache = KvCache::new(&model.config, self.kv)?;
        let (mut kl, mut nll, mut count) = (0f64, 0f64, 0usize);
        for (inputs, targets, logp) in &self.windows {
            cache.clear();
            model.forward_in_pieces(inputs, &mut cache, &mut NoProbe, |first, logits| {
                for ((row, a), &target) in logits.chunks_exact(v).zip(logp[first * v..].chunks_exact(v)).zip(&targets[first..]) {
                    let b = log_softmax(row);
                    nll -= b[target as usize];
                    kl += a.iter().zip(&b).map(|(x, y)| x.exp() * (x - y)).sum::<f64>();
                    count += 1;
                }
                Ok(())
            })?;
        }
        let n = count as f64;
        Ok(Score { mean_kl: kl / n, nll: nll / n, perplexity: (nll / n).exp() })
    }
}

/// What the search aims for.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchTarget {
    /// At most this many bits per weight over the searched Linears (integers, scales, minimums).
    BitsPerWeight(f64),
    /// At most this many bytes of the searched Linears.
    Bytes(usize),
    /// The fewest bytes whose measured mean KL is at most this.
    Kl(f64),
}

/// The two widths and the target.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchSettings {
    pub low_bits: u8,
    pub high_bits: u8,
    pub target: SearchTarget,
}

/// One Linear's sensitivity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerSensitivity {
    pub name: String,
    pub weights: usize,
    pub bytes_low: usize,
    pub bytes_high: usize,
    /// KL with only this Linear at the low bits.
    pub kl: f64,
    /// kl − KL of the all-FP32-weights model (see the module header).
    pub sensitivity: f64,
    /// sensitivity / (bytes_high − bytes_low): the greedy key.
    pub per_byte: f64,
}

/// One evaluated configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LmCandidate {
    pub label: String,
    /// Bits of every searched Linear.
    pub layer_bits: BTreeMap<String, u8>,
    /// Bytes of the searched Linears, and 8 · bytes / their weights.
    pub bytes: usize,
    pub bits_per_weight: f64,
    /// Bytes of the whole model (embedding, norms and skipped Linears included).
    pub model_bytes: usize,
    pub score: Score,
    pub on_front: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchReport {
    pub settings: SearchSettings,
    pub fp32: Score,
    /// KL of the model with every Linear FP32 (0 unless the KV cache is quantized).
    pub base_kl: f64,
    /// Every searched Linear, most sensitive first.
    pub sensitivity: Vec<LayerSensitivity>,
    /// The greedy order: the first p of it at the low bits make candidate p.
    pub order: Vec<String>,
    /// The greedy path (p = 0 … n), then the uniform widths between low and high.
    pub candidates: Vec<LmCandidate>,
    /// Index of the chosen candidate.
    pub chosen: usize,
    /// The chosen configuration: the settings with its `layer_bits`.
    pub config: LmQuantConfig,
    pub searched_weights: usize,
    /// Predictions every candidate was scored on.
    #[serde(default)]
    pub tokens: usize,
}

/// The Linears RTN quantizes under `cfg` (skipped ones excluded), in model order.
pub fn searched_linears(w: &LmWeights, cfg: &LmQuantConfig) -> Vec<(String, usize, usize)> {
    let c = &w.config;
    let mut v = vec![("tok_embeddings".to_string(), c.vocab_size, c.dim)];
    for (l, b) in w.layers.iter().enumerate() {
        v.extend(b.matrices(c).iter().map(|(name, _, n, k)| (format!("layers.{l}.{name}"), *n, *k)));
    }
    if !c.tied {
        v.push(("output".to_string(), c.vocab_size, c.dim));
    }
    v.retain(|(name, ..)| !cfg.is_skipped(name));
    v
}

/// `cfg` with only `name` quantized (at `bits`), every other Linear in FP32.
fn only(cfg: &LmQuantConfig, all: &[(String, usize, usize)], name: &str, bits: u8) -> LmQuantConfig {
    let mut skip: Vec<String> = all.iter().map(|(n, ..)| n.clone()).filter(|n| n != name).collect();
    skip.extend(cfg.skip.iter().cloned());
    LmQuantConfig { bits, skip, layer_bits: BTreeMap::new(), ..cfg.clone() }
}

/// `cfg` with these per-Linear bits.
pub fn with_bits(cfg: &LmQuantConfig, bits: &BTreeMap<String, u8>) -> LmQuantConfig {
    LmQuantConfig { layer_bits: bits.clone(), ..cfg.clone() }
}

/// `cfg` with these per-Linear bits written compactly: `bits` the most common width (on a tie the
/// higher) and `layer_bits` only the Linears at another width. Every Linear named in `bits` gets
/// the same width as under [`with_bits`]; so does every other Linear RTN quantizes, as long as
/// `bits` names all of them (a search's candidates do).
pub fn compact_bits(cfg: &LmQuantConfig, bits: &BTreeMap<String, u8>) -> LmQuantConfig {
    let mut count = [0usize; 9];
    for &b in bits.values() {
        count[usize::from(b.min(8))] += 1;
    }
    let Some(base) = (2..=8u8).max_by_key(|&b| count[usize::from(b)]).filter(|&b| count[usize::from(b)] > 0) else {
        return with_bits(cfg, bits);
    };
    let layer_bits = bits.iter().filter(|(_, &b)| b != base).map(|(n, &b)| (n.clone(), b)).collect();
    LmQuantConfig { bits: base, layer_bits, ..cfg.clone() }
}

/// Checks the settings of a search against the configuration (the page calls it before a search).
pub fn check_settings(cfg: &LmQuantConfig, s: &SearchSettings) -> Result<(), LmError> {
    let bad = |name, message: String| Err(LmError::Setting { name, message });
    // The search quantizes every candidate with plain RTN: say which setting is in the way.
    if cfg.weights != LmWeightFormat::Rtn {
        return bad("weights", format!("the mixed-precision search chooses RTN bit widths: set Weights to RTN (it is {})", cfg.weights.name()));
    }
    if cfg.method != LmMethod::Rtn {
        return bad("method", format!("the mixed-precision search quantizes with plain RTN: set Method to RTN (it is {})", cfg.method.name()));
    }
    if cfg.static_scales() {
        return bad("static_acts", "the mixed-precision search scores int8 activations with per-token scales: untick static scales".into());
    }
    if !(2..=8).contains(&s.low_bits) || !(2..=8).contains(&s.high_bits) || s.low_bits >= s.high_bits {
        // Named by the width out of 2–8 (the high one when only it is), else by the low one.
        let name = if (2..=8).contains(&s.low_bits) && !(2..=8).contains(&s.high_bits) { "high_bits" } else { "low_bits" };
        return bad(name, format!("low {} and high {} bits must be 2–8 with low < high", s.low_bits, s.high_bits));
    }
    match s.target {
        SearchTarget::BitsPerWeight(b) if !(b.is_finite() && b > 0.0) => bad("budget_bpw", format!("the size budget {} bits per weight is not a positive number", crate::decimal::short_text(b))),
        SearchTarget::Kl(k) if !(k.is_finite() && k >= 0.0) => bad("kl_target", format!("the KL target {} is not a non-negative number", crate::decimal::short_text(k))),
        _ => Ok(()),
    }
}

/// Bytes of each searched Linear in a quantized model (from its report), and the model's bytes.
fn sizes(w: &LmWeights, cfg: &LmQuantConfig) -> Result<(BTreeMap<String, usize>, LmModel), LmError> {
    let q = quantize_lm(w, cfg)?;
    Ok((q.layers.iter().map(|l| (l.name.clone(), l.bytes)).collect(), q.model))
}

/// What the search's stages share, the same in every worker: the settings, the searched
/// Linears' weights and predictions, and the FP32 reference's score.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchFrame {
    pub settings: SearchSettings,
    pub fp32: Score,
    /// KL of the model with every Linear FP32 (0 unless the KV cache is quantized).
    pub base_kl: f64,
    pub searched_weights: usize,
    /// Predictions every candidate is scored on.
    pub tokens: usize,
}

/// A search ready to run: its checks passed, the searched Linears' sizes at both widths and the
/// FP32 reference computed. Its two stages take a [`Shard`] of their items, so that a pool of
/// workers can share them; [`finish_search`] makes the report of their results.
pub struct SearchPlan<'a> {
    w: &'a LmWeights,
    cfg: &'a LmQuantConfig,
    all: Vec<(String, usize, usize)>,
    bytes_low: BTreeMap<String, usize>,
    bytes_high: BTreeMap<String, usize>,
    reference: KlReference,
    pub frame: SearchFrame,
}

impl<'a> SearchPlan<'a> {
    /// Checks the settings (a size budget that even every Linear at the low width misses is named
    /// here, before any evaluation) and computes FP32's log-probabilities on `tokens`.
    pub fn new(w: &'a LmWeights, cfg: &'a LmQuantConfig, settings: &SearchSettings, tokens: &[u32]) -> Result<SearchPlan<'a>, SearchError> {
        cfg.validate()?;
        check_settings(cfg, settings)?;
        let all = searched_linears(w, cfg);
        if all.is_empty() {
            return Err(LmError::Setting { name: "skip", message: "every Linear is in the skip list: nothing to search".into() }.into());
        }
        let (low, high) = (settings.low_bits, settings.high_bits);
        let fp32 = LmModel::from_weights(w)?;
        let reference = KlReference::new(&fp32, tokens, cfg.kv)?;
        let base_kl = reference.score(&fp32)?.mean_kl;
        let uniform = |b: u8| -> BTreeMap<String, u8> { all.iter().map(|(n, ..)| (n.clone(), b)).collect() };
        let (bytes_high, _) = sizes(w, &with_bits(cfg, &uniform(high)))?;
        let (bytes_low, _) = sizes(w, &with_bits(cfg, &uniform(low)))?;
        let searched_weights: usize = all.iter().map(|(_, n, k)| n * k).sum();
        let smallest: usize = all.iter().map(|(n, ..)| bytes_low[n]).sum();
        let unmeetable = match settings.target {
            SearchTarget::BitsPerWeight(b) => smallest as f64 * 8.0 > b * searched_weights as f64,
            SearchTarget::Bytes(b) => smallest > b,
            SearchTarget::Kl(_) => false,
        };
        if unmeetable {
            return Err(unmet_budget(low, smallest, searched_weights).into());
        }
        let frame = SearchFrame { settings: *settings, fp32: reference.fp32, base_kl, searched_weights, tokens: tokens.len() - 1 };
        Ok(SearchPlan { w, cfg, all, bytes_low, bytes_high, reference, frame })
    }

    /// Step 1, `shard`'s Linears (i mod count = index, in model order): each alone at the low
    /// bits, scored against FP32.
    pub fn sensitivities(&self, shard: Shard, on_progress: &mut dyn FnMut(&Progress) -> bool) -> Result<Vec<LayerSensitivity>, SearchError> {
        let low = self.frame.settings.low_bits;
        let mine: Vec<&(String, usize, usize)> = self.all.iter().enumerate().filter(|(i, _)| shard.takes(*i)).map(|(_, l)| l).collect();
        let mut sens = Vec::with_capacity(mine.len());
        for (i, (name, n, k)) in mine.iter().enumerate() {
            step(on_progress, format!("step 1 of 2, each Linear alone at W{low}: {name}"), i, mine.len())?;
            let q = quantize_lm(self.w, &only(self.cfg, &self.all, name, low))?;
            let kl = self.reference.score(&q.model)?.mean_kl;
            let (bh, bl) = (self.bytes_high[name], self.bytes_low[name]);
            let sensitivity = kl - self.frame.base_kl;
            sens.push(LayerSensitivity {
                name: name.clone(),
                weights: n * k,
                bytes_low: bl,
                bytes_high: bh,
                kl,
                sensitivity,
                per_byte: sensitivity / bh.saturating_sub(bl).max(1) as f64,
            });
        }
        Ok(sens)
    }

    /// Step 2, `shard`'s candidates (i mod count = index, in the order of [`candidate_bits`])
    /// of the greedy order that every Linear's sensitivity `sens` gives, each quantized and scored.
    pub fn candidates(&self, sens: &[LayerSensitivity], shard: Shard, on_progress: &mut dyn FnMut(&Progress) -> bool) -> Result<Vec<LmCandidate>, SearchError> {
        let mut names: Vec<&str> = sens.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        let mut want: Vec<&str> = self.all.iter().map(|(n, ..)| n.as_str()).collect();
        want.sort_unstable();
        if names != want {
            return Err(LmError::Setting { name: "search", message: format!("{} sensitivities for the {} searched Linears", sens.len(), self.all.len()) }.into());
        }
        let configs = candidate_bits(&self.frame.settings, &greedy_order(sens));
        let mine: Vec<&(String, BTreeMap<String, u8>)> = configs.iter().enumerate().filter(|(i, _)| shard.takes(*i)).map(|(_, c)| c).collect();
        let mut candidates = Vec::with_capacity(mine.len());
        for (i, (label, bits)) in mine.iter().enumerate() {
            step(on_progress, format!("step 2 of 2, candidates: {label}"), i, mine.len())?;
            let (layer_bytes, model) = sizes(self.w, &with_bits(self.cfg, bits))?;
            let bytes: usize = self.all.iter().map(|(n, ..)| layer_bytes[n]).sum();
            let score = self.reference.score(&model)?;
            candidates.push(LmCandidate {
                label: label.clone(),
                layer_bits: bits.clone(),
                bytes,
                bits_per_weight: bytes as f64 * 8.0 / self.frame.searched_weights as f64,
                model_bytes: model.weight_bytes(),
                score,
                on_front: false,
            });
        }
        step(on_progress, "done".into(), mine.len(), mine.len())?;
        Ok(candidates)
    }
}

/// The greedy order: ascending sensitivity per byte saved (ties by name).
pub fn greedy_order(sens: &[LayerSensitivity]) -> Vec<String> {
    let mut order: Vec<&LayerSensitivity> = sens.iter().collect();
    order.sort_by(|a, b| a.per_byte.total_cmp(&b.per_byte).then_with(|| a.name.cmp(&b.name)));
    order.into_iter().map(|s| s.name.clone()).collect()
}

/// The candidates of a greedy order: p = 0 … n (the first p at the low bits, the rest at the
/// high), then the uniform widths strictly between low and high.
pub fn candidate_bits(settings: &SearchSettings, order: &[String]) -> Vec<(String, BTreeMap<String, u8>)> {
    let (low, high) = (settings.low_bits, settings.high_bits);
    let uniform = |b: u8| -> BTreeMap<String, u8> { order.iter().map(|n| (n.clone(), b)).collect() };
    let mut configs = Vec::new();
    let mut bits = uniform(high);
    for p in 0..=order.len() {
        if p > 0 {
            bits.insert(order[p - 1].clone(), low);
        }
        configs.push((format!("{p} of {} at W{low}, the rest W{high}", order.len()), bits.clone()));
    }
    for b in low + 1..high {
        configs.push((format!("uniform W{b}"), uniform(b)));
    }
    configs
}

/// The report of a search from its stages' results: every Linear's sensitivity and every
/// candidate, in [`candidate_bits`]' order. Marks the Pareto front and makes the choice.
pub fn finish_search(cfg: &LmQuantConfig, frame: &SearchFrame, mut sensitivity: Vec<LayerSensitivity>, mut candidates: Vec<LmCandidate>) -> Result<SearchReport, SearchError> {
    let settings = &frame.settings;
    let (low, high, searched_weights) = (settings.low_bits, settings.high_bits, frame.searched_weights);
    let order = greedy_order(&sensitivity);
    let expected = candidate_bits(settings, &order);
    if candidates.len() != expected.len() || candidates.iter().zip(&expected).any(|(c, (label, bits))| &c.label != label || &c.layer_bits != bits) {
        return Err(LmError::Setting { name: "search", message: format!("{} candidates do not match the {} of the greedy order", candidates.len(), expected.len()) }.into());
    }
    mark_front(&mut candidates);
    // The choice, among every candidate evaluated: the greedy path (p = 0 … n) and the uniform
    // widths between (a uniform width can beat every two-width mix of its size).
    let path = &candidates[..=order.len()];
    let fits = |c: &LmCandidate| match settings.target {
        SearchTarget::BitsPerWeight(b) => c.bytes as f64 * 8.0 <= b * searched_weights as f64,
        SearchTarget::Bytes(b) => c.bytes <= b,
        SearchTarget::Kl(k) => c.score.mean_kl <= k,
    };
    let chosen = match settings.target {
        SearchTarget::Kl(_) => candidates.iter().enumerate().filter(|(_, c)| fits(c)).min_by_key(|(i, c)| (c.bytes, *i)).map(|(i, _)| i),
        _ => candidates.iter().enumerate().filter(|(_, c)| fits(c)).min_by(|a, b| a.1.score.mean_kl.total_cmp(&b.1.score.mean_kl)).map(|(i, _)| i),
    };
    let Some(chosen) = chosen else {
        // A budget was checked before the search (the last candidate is all at the low width).
        return Err(match settings.target {
            SearchTarget::Kl(k) => {
                LmError::Setting { name: "target", message: format!("no candidate reaches KL ≤ {}: all at W{high} gives {}", crate::decimal::short_text(k), crate::decimal::fixed(path[0].score.mean_kl, 6, false)) }
            }
            _ => unmet_budget(low, path[path.len() - 1].bytes, searched_weights),
        }
        .into());
    };
    sensitivity.sort_by(|a, b| b.sensitivity.total_cmp(&a.sensitivity).then_with(|| a.name.cmp(&b.name)));
    Ok(SearchReport {
        settings: *settings,
        fp32: frame.fp32,
        base_kl: frame.base_kl,
        sensitivity,
        order,
        config: with_bits(cfg, &candidates[chosen].layer_bits),
        candidates,
        chosen,
        searched_weights,
        tokens: frame.tokens,
    })
}

/// The sensitivity of every searched Linear, then the greedy search and every candidate evaluated,
/// in one thread. `tokens` is the evaluation slice; `on_progress` returns false to cancel.
pub fn search_mixed_precision(
    w: &LmWeights,
    cfg: &LmQuantConfig,
    settings: &SearchSettings,
    tokens: &[u32],
    on_progress: &mut dyn FnMut(&Progress) -> bool,
) -> Result<SearchReport, SearchError> {
    let plan = SearchPlan::new(w, cfg, settings, tokens)?;
    let sens = plan.sensitivities(Shard::ALL, on_progress)?;
    let candidates = plan.candidates(&sens, Shard::ALL, on_progress)?;
    finish_search(cfg, &plan.frame, sens, candidates)
}

/// The error of a size budget that even every searched Linear at the low width misses.
fn unmet_budget(low: u8, bytes: usize, weights: usize) -> LmError {
    let message = format!("the budget cannot be met: all at W{low} takes {bytes} bytes ({:.3} bits per weight)", bytes as f64 * 8.0 / weights as f64);
    LmError::Setting { name: "target", message }
}

/// Marks the candidates that no other beats on both size and perplexity.
pub fn mark_front(c: &mut [LmCandidate]) {
    let pts: Vec<(usize, f64)> = c.iter().map(|c| (c.bytes, c.score.perplexity)).collect();
    for (i, cand) in c.iter_mut().enumerate() {
        let (b, p) = pts[i];
        cand.on_front = !pts.iter().enumerate().any(|(j, &(bj, pj))| j != i && bj <= b && pj <= p && (bj < b || pj < p));
    }
}

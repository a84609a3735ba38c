//! Mixed-bit searches: which bits each layer gets.
//!
//! **MindSpore Lite's mixed-bit weight quantization** (`bit_num = 0`): for each layer, a binary
//! search finds the step s whose rounding error reaches the target relative error `init_scale`:
//!
//! ```text
//! ŵ = s · ⌊w / s + ½⌋                                    (zero point 0, no clamp)
//! err(s) = (1/C) Σ_c ‖w_c − ŵ_c‖ / ‖w_c‖                 mean over output channels c
//! s* : err(s*) ≈ init_scale                               (relative tolerance 1 %, at most 64 steps)
//! bits = min(the fewest signed bits that hold every ⌊w / s* + ½⌋, max_bits)
//! ```
//!
//! `max_bits` (`mixed_bit.max_bits`, 8 unless the user widens it, up to 16) caps the bits: a layer
//! that would need more keeps `max_bits` and misses its error target, so the search never spends
//! more bytes than uniform 8-bit on one layer unless asked to.
//!
//! The layer is then quantized at those bits with the experiment's scheme (symmetric weights
//! use the step max|w| / (2^(b−1) − 1) ≤ s*, so the error stays at or below the target).
//! Larger `init_scale` → larger steps → fewer bits. MindSpore Lite also applies a mean / variance
//! correction to ŵ inside err(s); qplay does not (its bias correction is a separate setting).
//!
//! **auto_tune** searches `init_scale` (bisection in log space over [10⁻⁴, 0.5], 16 steps) for the
//! largest value whose model output keeps a cosine similarity ≥ `target_cosine` (0.995) with FP32
//! on the calibration set.
//!
//! **Size budget**: start with every layer at 8 bits; while the model is larger than the budget,
//! lower by one bit the layer whose step costs the least output error per byte saved
//! ((1 − cosine) on the calibration set); each configuration on the way is a candidate.
//!
//! **Pareto front**: the candidates (uniform 2–max(8, max_bits) bits, the size-budget path, the
//! mixed-bit selections for several `init_scale`), each bit assignment once, evaluated on the test
//! images; a point is on the front when no other is at most as large and at least as accurate
//! (and strictly better in one of the two).
//!
//! **The proposal** is always on the front: when the search's own selection (MindSpore Lite's, or
//! the size-budget search's) is dominated, e.g. by uniform 8-bit, the report keeps it in
//! `searched` and proposes instead the smallest front candidate that dominates it (preferring one
//! whose calibration cosine is no lower), naming it in `replaced`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::progress::step;
use super::shard::Shard;
use super::run::{accuracy_of, predict_with, Fp32Baseline};
use super::spec::Experiment;
use super::ExperimentError;
use crate::data::Dataset;
use crate::metrics::cosine_similarity;
use crate::model::forward::Fp32Runner;
use crate::model::Model;
use crate::ptq::{quantizable_layers, quantize_model, PtqConfig, Scope};

/// The mean per-channel relative error of rounding w ([out, fan_in]) to the step s.
pub fn relative_error(w: &[f32], out: usize, s: f32) -> f64 {
    let fan_in = w.len() / out.max(1);
    let (mut total, mut counted) = (0.0f64, 0usize);
    for c in 0..out {
        let row = &w[c * fan_in..(c + 1) * fan_in];
        let (mut norm2, mut err2) = (0.0f64, 0.0f64);
        for &v in row {
            let q = (v / s + 0.5).floor(); // ⌊w / s + ½⌋
            let e = v as f64 - (q * s) as f64;
            norm2 += (v as f64) * (v as f64);
            err2 += e * e;
        }
        if norm2 > 1e-10 {
            total += (err2 / norm2).sqrt();
            counted += 1;
        }
    }
    if counted == 0 {
        0.0
    } else {
        total / counted as f64
    }
}

/// The step s whose relative error is about `target` (see the module header).
pub fn step_for_error(w: &[f32], out: usize, target: f64) -> f32 {
    let (lo_w, hi_w) = w.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let range = hi_w - lo_w;
    if range.is_nan() || range <= 1e-12 {
        return hi_w.abs().max(1e-6); // a constant weight: one level holds it
    }
    // Bracket: error grows with s; widen until lo is below and hi above the target.
    let (mut lo, mut hi) = (range * target as f32, range * target as f32);
    for _ in 0..64 {
        if relative_error(w, out, hi) >= target {
            break;
        }
        hi *= 2.0;
    }
    for _ in 0..64 {
        if relative_error(w, out, lo) <= target || lo < f32::MIN_POSITIVE * 1e6 {
            break;
        }
        lo /= 2.0;
    }
    let mut s = 0.5 * (lo + hi);
    for _ in 0..64 {
        let e = relative_error(w, out, s);
        if ((e - target) / target).abs() < 0.01 {
            break;
        }
        if e > target {
            hi = s;
        } else {
            lo = s;
        }
        s = 0.5 * (lo + hi);
    }
    s
}

/// The fewest signed bits (1–16) that hold ⌊w / s + ½⌋ for every w.
pub fn bits_for_step(w: &[f32], s: f32) -> u8 {
    let (qmin, qmax) = w.iter().fold((0f32, 0f32), |(a, b), &v| {
        let q = (v / s + 0.5).floor();
        (a.min(q), b.max(q))
    });
    (1..=16u8).find(|&b| qmin >= -(2f32.powi(b as i32 - 1)) && qmax <= 2f32.powi(b as i32 - 1) - 1.0).unwrap_or(16)
}

/// MindSpore Lite's per-layer bits for one `init_scale`, capped at `max_bits`.
pub fn mixed_bit_selection(model: &Model, cfg: &PtqConfig, init_scale: f32, max_bits: u8) -> BTreeMap<String, u8> {
    let mut bits = BTreeMap::new();
    for (i, name) in quantizable_layers(model) {
        if cfg.skip.contains(&name) {
            continue;
        }
        let (w, _, out, _) = model.layers[i].kind.weight().expect("quantizable layers have weights");
        let s = step_for_error(w, out, init_scale as f64);
        bits.insert(name, bits_for_step(w, s).min(max_bits));
    }
    bits
}

/// One configuration: its bits, size, output cosine on the calibration set, and accuracy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub label: String,
    pub bits: BTreeMap<String, u8>,
    pub bytes: usize,
    /// Cosine similarity of the model output with FP32's on the calibration set.
    pub cosine: f64,
    /// Test accuracy (filled for the Pareto front's candidates).
    pub accuracy: Option<f64>,
    pub on_front: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TuneStep {
    pub init_scale: f32,
    pub cosine: f64,
    pub bytes: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MixedBitReport {
    /// The proposed configuration: on the Pareto front (see the module header).
    pub selection: Candidate,
    /// The search's own selection (MindSpore Lite's, or the size-budget search's).
    pub searched: Candidate,
    /// Why `selection` differs from `searched`: the front candidate that dominates it.
    pub replaced: Option<String>,
    pub init_scale: f32,
    pub target_cosine: f64,
    pub size_budget: Option<usize>,
    pub auto_tune: Vec<TuneStep>,
    pub fp32_bytes: usize,
    pub uniform8: Candidate,
    /// Every candidate, with `on_front` marking the Pareto front.
    pub candidates: Vec<Candidate>,
    pub fp32_accuracy: f64,
    /// What happens to the activations while the weights' widths are searched (the experiment's
    /// mode: MindSpore Lite's bit_num = 0 is weight quantization, qplay's default mode is full).
    #[serde(default)]
    pub activations: String,
}

/// Evaluates a bit assignment on the calibration set: (bytes, cosine with FP32's output).
struct Scorer<'a> {
    model: &'a Model,
    cfg: &'a PtqConfig,
    calib: &'a [f32],
    fp32_out: Vec<f32>,
}

impl Scorer<'_> {
    fn config(&self, bits: &BTreeMap<String, u8>) -> PtqConfig {
        PtqConfig { layer_bits: bits.clone(), ..self.cfg.clone() }
    }

    fn score(&self, label: String, bits: &BTreeMap<String, u8>) -> Result<Candidate, ExperimentError> {
        let q = quantize_model(self.model, &self.config(bits), self.calib, Scope::All)?.model;
        let out = q.forward(self.calib)?;
        let cosine = cosine_similarity(&self.fp32_out, &out).map_err(ExperimentError::Quant)?;
        Ok(Candidate { label, bits: bits.clone(), bytes: q.bytes(), cosine, accuracy: None, on_front: false })
    }
}

fn uniform(model: &Model, cfg: &PtqConfig, b: u8) -> BTreeMap<String, u8> {
    quantizable_layers(model).into_iter().filter(|(_, n)| !cfg.skip.contains(n)).map(|(_, n)| (n, b)).collect()
}

/// Runs the mixed-bit search (task `mixed_bit`) or the size-budget search (task `size_budget`),
/// and the Pareto front of both.
pub fn run_mixed_bit(
    exp: &Experiment,
    model: &Model,
    calib: &[f32],
    eval: &Dataset,
    baseline: &Fp32Baseline,
    on_progress: &mut dyn FnMut(&super::Progress) -> bool,
) -> Result<MixedBitReport, ExperimentError> {
    run_mixed_bit_shard(exp, model, calib, eval, baseline, Shard::ALL, on_progress)
}

/// [`run_mixed_bit`], with the test accuracy of `shard`'s candidates only (the search, which
/// every shard runs, is cheap next to 10,000 images per candidate); the front and the proposal
/// wait for [`MixedBitReport::merge`], which makes the one-run report of all shards'.
pub fn run_mixed_bit_shard(
    exp: &Experiment,
    model: &Model,
    calib: &[f32],
    eval: &Dataset,
    baseline: &Fp32Baseline,
    shard: Shard,
    on_progress: &mut dyn FnMut(&super::Progress) -> bool,
) -> Result<MixedBitReport, ExperimentError> {
    exp.validate()?;
    let names: Vec<String> = quantizable_layers(model).into_iter().map(|(_, n)| n).collect();
    exp.ptq.validate_for(&names)?;
    let scorer = Scorer { model, cfg: &exp.ptq, calib, fp32_out: Fp32Runner::new(model.clone()).forward(calib)? };
    let mb = exp.mixed_bit;
    let mut candidates: Vec<Candidate> = Vec::new();

    // MindSpore Lite's selection, auto-tuned or at the given init_scale.
    let mut trace = Vec::new();
    let mut init_scale = mb.init_scale;
    if mb.auto_tune {
        let (mut lo, mut hi) = (1e-4f64.ln(), 0.5f64.ln());
        let mut best: Option<(f32, Candidate)> = None;
        for k in 0..16 {
            step(on_progress, "auto_tune: searching init_scale", k, 16)?;
            let s = ((lo + hi) / 2.0).exp() as f32;
            let c = scorer.score(format!("mixed init_scale={s:.4}"), &mixed_bit_selection(model, &exp.ptq, s, mb.max_bits))?;
            trace.push(TuneStep { init_scale: s, cosine: c.cosine, bytes: c.bytes });
            if c.cosine >= mb.target_cosine {
                lo = (s as f64).ln();
                best = Some((s, c));
            } else {
                hi = (s as f64).ln();
            }
        }
        let (s, c) = match best {
            Some(b) => b,
            None => {
                let s = 1e-4f32;
                (s, scorer.score(format!("mixed init_scale={s:.4}"), &mixed_bit_selection(model, &exp.ptq, s, mb.max_bits))?)
            }
        };
        init_scale = s;
        candidates.push(c);
    } else {
        candidates.push(scorer.score(format!("mixed init_scale={init_scale:.4}"), &mixed_bit_selection(model, &exp.ptq, init_scale, mb.max_bits))?);
    }
    let mixed = candidates[0].clone();

    // Uniform bits, and MindSpore Lite's selection at other init_scale; each bit assignment once.
    let uniform8 = scorer.score("uniform 8-bit".into(), &uniform(model, &exp.ptq, 8))?;
    for b in 2..=mb.max_bits.max(8) {
        let c = if b == 8 { uniform8.clone() } else { scorer.score(format!("uniform {b}-bit"), &uniform(model, &exp.ptq, b))? };
        push_new(&mut candidates, c);
    }
    for s in [0.005f32, 0.01, 0.05, 0.1] {
        let (label, bits) = (format!("mixed init_scale={s:.4}"), mixed_bit_selection(model, &exp.ptq, s, mb.max_bits));
        match candidates.iter_mut().find(|c| c.bits == bits) {
            Some(c) => also_named(c, &label),
            None => candidates.push(scorer.score(label, &bits)?),
        }
    }

    // The size-budget search's path (always run: its steps are good Pareto candidates).
    let budget = if mb.size_budget > 0 { mb.size_budget } else { 0 };
    let mut bits = uniform(model, &exp.ptq, 8);
    let mut current = uniform8.clone();
    let mut chosen_budget: Option<Candidate> = None;
    let mut steps = 0;
    while steps < 64 {
        step(on_progress, if budget > 0 { "size budget: lowering bits" } else { "front: lowering bits one layer at a time" }, steps, 64)?;
        if budget > 0 && current.bytes <= budget && chosen_budget.is_none() {
            chosen_budget = Some(current.clone());
            break;
        }
        // The cheapest step down, in error per byte saved.
        let mut best: Option<(f64, Candidate, BTreeMap<String, u8>)> = None;
        for name in bits.keys() {
            let b = bits[name];
            if b <= 1 {
                continue;
            }
            let mut trial = bits.clone();
            trial.insert(name.clone(), b - 1);
            let c = scorer.score(String::new(), &trial)?;
            let saved = current.bytes.saturating_sub(c.bytes).max(1) as f64;
            let cost = ((current.cosine - c.cosine).max(0.0) + 1e-12) / saved;
            if best.as_ref().is_none_or(|(k, _, _)| cost < *k) {
                best = Some((cost, c, trial));
            }
        }
        let Some((_, mut c, trial)) = best else { break };
        c.label = format!("size path: {}", trial.iter().map(|(n, b)| format!("{n}={b}")).collect::<Vec<_>>().join(" "));
        bits = trial;
        current = c.clone();
        push_new(&mut candidates, c);
        steps += 1;
        if budget == 0 && current.cosine < 0.9 {
            break; // far enough down for the front
        }
    }

    let searched = match exp.task {
        super::Task::SizeBudget => chosen_budget.ok_or_else(|| {
            crate::ptq::config::field_error(
                "mixed_bit.size_budget",
                format!("{budget} bytes cannot be reached: the smallest configuration found is {} bytes", current.bytes),
            )
        })?,
        _ => mixed,
    };

    // Accuracy of every candidate (this shard's), then the front.
    let classes = model.output().len();
    let total = shard.len_of(candidates.len());
    for (done, c) in candidates.iter_mut().enumerate().filter(|(k, _)| shard.takes(*k)).map(|(_, c)| c).enumerate() {
        step(on_progress, format!("evaluating {}", c.label), done, total)?;
        let q = quantize_model(model, &scorer.config(&c.bits), calib, Scope::All)?.model;
        c.accuracy = Some(accuracy_of(&predict_with(eval, classes, |x| Ok(q.forward(x)?))?, &eval.labels));
    }
    let report = MixedBitReport {
        selection: searched.clone(),
        searched,
        replaced: None,
        init_scale,
        target_cosine: mb.target_cosine,
        size_budget: (budget > 0).then_some(budget),
        auto_tune: trace,
        fp32_bytes: baseline.bytes,
        uniform8,
        candidates,
        fp32_accuracy: baseline.accuracy,
        activations: match exp.ptq.mode {
            crate::ptq::QuantMode::WeightOnly => "weight-only: the activations stay FP32".into(),
            crate::ptq::QuantMode::Full => format!("full quantization: the activations are quantized too ({}-bit, static ranges)", exp.ptq.act_bits),
            crate::ptq::QuantMode::Dynamic => format!("dynamic quantization: the activations are quantized as the model runs ({}-bit)", exp.ptq.act_bits),
        },
    };
    Ok(if shard == Shard::ALL { report.finish() } else { report })
}

impl MixedBitReport {
    /// The front, and `searched`, `uniform8` and the proposal as the evaluated candidates with
    /// their bits.
    fn finish(mut self) -> MixedBitReport {
        let candidates = &mut self.candidates;
        mark_front(candidates);
        let find = |c: &Candidate| candidates.iter().find(|d| d.bits == c.bits).cloned().unwrap_or_else(|| c.clone());
        self.searched = find(&self.searched);
        self.uniform8 = find(&self.uniform8);
        let selection = proposal(&self.searched, candidates);
        self.replaced = (selection.bits != self.searched.bits).then(|| {
            format!(
                "{} ({} bytes, accuracy {:.2} %) is dominated by {} ({} bytes, accuracy {:.2} %)",
                self.searched.label,
                self.searched.bytes,
                100.0 * self.searched.accuracy.unwrap_or(0.0),
                selection.label,
                selection.bytes,
                100.0 * selection.accuracy.unwrap_or(0.0)
            )
        });
        self.selection = selection;
        self
    }

    /// The report of one run from its shards' (`parts[k]` from shard k of `parts.len()`, which
    /// evaluated the candidates i with i mod `parts.len()` = k).
    pub fn merge(parts: Vec<MixedBitReport>) -> Result<MixedBitReport, String> {
        let count = parts.len();
        let mut merged = parts.first().ok_or("no shard reported")?.clone();
        let key = |r: &MixedBitReport| r.candidates.iter().map(|c| (c.label.clone(), c.bits.clone(), c.bytes)).collect::<Vec<_>>();
        for (k, p) in parts.iter().enumerate() {
            if key(p) != key(&merged) || p.searched.bits != merged.searched.bits || p.fp32_accuracy != merged.fp32_accuracy {
                return Err("the shards ran different models or settings".into());
            }
            for (i, c) in p.candidates.iter().enumerate() {
                let own = i % count == k;
                if c.accuracy.is_some() != own {
                    return Err(format!("shard {k} of {count} did not evaluate exactly its candidates"));
                }
                if own {
                    merged.candidates[i].accuracy = c.accuracy;
                }
            }
        }
        Ok(merged.finish())
    }
}

/// Adds `c` unless a candidate with the same bits is already there (it would score the same);
/// that one then also carries `c`'s name.
fn push_new(candidates: &mut Vec<Candidate>, c: Candidate) {
    match candidates.iter_mut().find(|d| d.bits == c.bits) {
        Some(d) => also_named(d, &c.label),
        None => candidates.push(c),
    }
}

/// "mixed init_scale=0.0200 = uniform 8-bit": one configuration reached two ways.
fn also_named(c: &mut Candidate, label: &str) {
    if !label.is_empty() && !c.label.split(" = ").any(|l| l == label) {
        c.label = format!("{} = {label}", c.label);
    }
}

/// Whether a (bytes, accuracy) point dominates b: no larger, no less accurate, better in one.
fn dominates(a: &Candidate, b: &Candidate) -> bool {
    let (aa, ab) = (a.accuracy.unwrap_or(0.0), b.accuracy.unwrap_or(0.0));
    a.bytes <= b.bytes && aa >= ab && (a.bytes < b.bytes || aa > ab)
}

/// The candidate to propose for the search's own `searched` (see the module header): itself when
/// it is on the front, else the smallest front candidate that dominates it, preferring one whose
/// calibration cosine is no lower.
pub fn proposal(searched: &Candidate, candidates: &[Candidate]) -> Candidate {
    if searched.on_front {
        return searched.clone();
    }
    let mut better: Vec<&Candidate> = candidates.iter().filter(|c| c.on_front && dominates(c, searched)).collect();
    better.sort_by_key(|c| (c.cosine < searched.cosine, c.bytes));
    better.first().map_or_else(|| searched.clone(), |c| (*c).clone())
}

/// Marks the candidates no other one beats on both size and accuracy.
pub fn mark_front(candidates: &mut [Candidate]) {
    let front: Vec<bool> = candidates.iter().map(|c| !candidates.iter().any(|d| dominates(d, c))).collect();
    for (c, on) in candidates.iter_mut().zip(front) {
        c.on_front = on;
    }
}

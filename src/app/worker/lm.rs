//! The worker's language-model jobs (the Language-model page): it fetches the built-in model
//! and the validation text once, keeps them (and the last quantized model) between jobs, and
//! runs the comparison against FP32 and the side-by-side generation, with progress.

use std::cell::RefCell;
use std::rc::Rc;

use super::protocol::{Event, LmGenView, LmLayerRow, LmRunView, LmToken, Outcome};
use super::runner::{fetch_bytes, now_ms, post, PROGRESS_EVERY_MS};
use crate::experiment::Progress;
use crate::lm::corpus::{gunzip_text, MODEL_FILE, VAL_FILE};
use crate::lm::eval::{compare, log_softmax};
use crate::lm::sample::{generate as sample_text, Generated, SampleConfig};
use crate::lm::{CharTokenizer, KvCache, KvFormat, LmModel, LmWeights, NoProbe};
use crate::ptq::lm::{quantize_lm, LmLayerReport, LmQuantConfig};

/// Most tokens one generation job produces (the context ends it sooner).
pub const MAX_NEW: usize = 4096;

/// The built-in model, its FP32 form and its tokenizer.
struct Loaded {
    weights: LmWeights,
    fp32: LmModel,
    tok: CharTokenizer,
}

struct Quantized {
    config: LmQuantConfig,
    model: Rc<LmModel>,
    layers: Rc<Vec<LmLayerReport>>,
}

#[derive(Default)]
struct Cache {
    model: Option<Rc<Loaded>>,
    val: Option<Rc<Vec<u32>>>,
    /// The last quantized model (a Generate after a Run reuses it).
    quantized: Option<Rc<Quantized>>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

async fn loaded(id: u32) -> Result<Rc<Loaded>, String> {
    if let Some(m) = CACHE.with_borrow(|c| c.model.clone()) {
        return Ok(m);
    }
    let bytes = fetch_bytes(id, &format!("models/{MODEL_FILE}"), "the Shakespeare model").await?;
    let weights = LmWeights::from_safetensors(&bytes).map_err(|e| format!("the Shakespeare model: {e}"))?;
    let alphabet = weights.alphabet.clone().ok_or("the model has no alphabet (metadata qplay.alphabet): it cannot read text")?;
    let tok = CharTokenizer::new(alphabet.chars().collect()).map_err(err)?;
    let fp32 = LmModel::from_weights(&weights).map_err(err)?;
    let m = Rc::new(Loaded { weights, fp32, tok });
    CACHE.with_borrow_mut(|c| c.model = Some(m.clone()));
    Ok(m)
}

async fn val_tokens(id: u32, tok: &CharTokenizer) -> Result<Rc<Vec<u32>>, String> {
    if let Some(v) = CACHE.with_borrow(|c| c.val.clone()) {
        return Ok(v);
    }
    let gz = fetch_bytes(id, &format!("data/{VAL_FILE}"), "the validation text").await?;
    let text = gunzip_text(&gz).map_err(|e| format!("the validation text: {e}"))?;
    let ids = Rc::new(tok.encode(&text).map_err(|e| format!("the validation text: {e}"))?);
    CACHE.with_borrow_mut(|c| c.val = Some(ids.clone()));
    Ok(ids)
}

fn quantized(m: &Loaded, cfg: &LmQuantConfig) -> Result<Rc<Quantized>, String> {
    if let Some(q) = CACHE.with_borrow(|c| c.quantized.clone()).filter(|q| q.config == *cfg) {
        return Ok(q);
    }
    let q = quantize_lm(&m.weights, cfg).map_err(err)?;
    let q = Rc::new(Quantized { config: cfg.clone(), model: Rc::new(q.model), layers: Rc::new(q.layers) });
    CACHE.with_borrow_mut(|c| c.quantized = Some(q.clone()));
    Ok(q)
}

fn progress(id: u32, stage: &str, done: usize, total: usize) {
    post(id, Event::Progress(Progress { stage: stage.into(), done, total, value: None }), None);
}

/// Bits per weight over every parameter but the norms (as `qplay lm eval` reports them).
fn bits_per_weight(m: &LmModel) -> f64 {
    let c = &m.config;
    let norms = (2 * c.n_layers + 1) * c.dim;
    let weights = (c.param_count() as f64 - norms as f64).max(1.0);
    (m.weight_bytes().saturating_sub(4 * norms) * 8) as f64 / weights
}

/// Quantizes and scores against FP32 on the first `tokens` validation tokens.
pub async fn run(id: u32, quant: LmQuantConfig, tokens: usize) -> Result<Outcome, String> {
    quant.validate().map_err(err)?;
    if tokens < 2 {
        return Err(format!("evaluation tokens: {tokens} is fewer than the 2 a prediction needs"));
    }
    let m = loaded(id).await?;
    let val = val_tokens(id, &m.tok).await?;
    let n = tokens.min(val.len());
    let t0 = now_ms();
    progress(id, "quantizing", 0, 1);
    let q = quantized(&m, &quant)?;
    let stage = format!("scoring {} predictions, FP32 and {} (windows)", n - 1, quant.label());
    let mut last = f64::NEG_INFINITY;
    let c = compare(&m.fp32, &q.model, &val[..n], quant.kv, |done, total| {
        let t = now_ms();
        if t - last >= PROGRESS_EVERY_MS || done >= total {
            last = t;
            progress(id, &stage, done, total);
        }
    })
    .map_err(err)?;
    let millis = now_ms() - t0;
    let layers = q
        .layers
        .iter()
        .map(|l| {
            let e = c.layers.iter().find(|e| e.name == l.name);
            LmLayerRow {
                name: l.name.clone(),
                format: l.format.clone(),
                engine: l.engine.clone(),
                bytes: l.bytes,
                weights: l.weights,
                note: l.note.clone(),
                sqnr_db: e.map(|e| e.sqnr_db).filter(|v| v.is_finite()),
                cosine: e.map(|e| e.cosine).filter(|v| v.is_finite()),
            }
        })
        .collect();
    let config = &m.weights.config;
    Ok(Outcome::LmRun(Box::new(LmRunView {
        label: quant.label(),
        tokens: c.quantized.tokens,
        fp32_ppl: c.fp32.perplexity,
        quant_ppl: c.quantized.perplexity,
        delta_pct: c.delta_pct,
        mean_kl: c.mean_kl,
        top1_same: c.top1_same,
        rms_delta_p: c.rms_delta_p,
        fp32_bytes: m.fp32.weight_bytes(),
        weight_bytes: q.model.weight_bytes(),
        bits_per_weight: bits_per_weight(&q.model),
        kv_bytes: u64::try_from(KvCache::bytes_for(config, quant.kv, config.seq_len)).unwrap_or(u64::MAX),
        layers,
        millis,
        quant,
    })))
}

fn token(tok: &CharTokenizer, g: &Generated, p_fp32: f64) -> LmToken {
    LmToken { id: g.token, text: tok.decode(&[g.token]), p_fp32, p_own: g.prob }
}

/// Generates one column (`to`: the job and the column), streaming its tokens (at most every
/// [`PROGRESS_EVERY_MS`]).
fn column(to: (u32, u8), tok: &CharTokenizer, model: &LmModel, prompt: &[u32], max_new: usize, kv: KvFormat, sample: &SampleConfig) -> Result<(Vec<Generated>, f64), String> {
    let (id, col) = to;
    let mut pending: Vec<LmToken> = Vec::new();
    let mut last = f64::NEG_INFINITY;
    let t0 = now_ms();
    let out = sample_text(model, prompt, max_new, kv, sample, |g| {
        pending.push(token(tok, g, g.prob));
        let t = now_ms();
        if t - last >= PROGRESS_EVERY_MS {
            last = t;
            post(id, Event::LmTokens { column: col, tokens: std::mem::take(&mut pending) }, None);
        }
        true
    })
    .map_err(err)?;
    if !pending.is_empty() {
        post(id, Event::LmTokens { column: col, tokens: pending }, None);
    }
    let secs = (now_ms() - t0) / 1e3;
    let tps = if secs > 0.0 { out.len() as f64 / secs } else { 0.0 };
    Ok((out, tps))
}

/// The probability the FP32 model gives each token of `generated` after `prompt` (one forward pass).
fn fp32_probs(fp32: &LmModel, prompt: &[u32], generated: &[Generated]) -> Result<Vec<f64>, String> {
    if generated.is_empty() {
        return Ok(Vec::new());
    }
    let seq: Vec<u32> = prompt.iter().copied().chain(generated.iter().map(|g| g.token)).collect();
    let mut cache = KvCache::new(&fp32.config, KvFormat::F32).map_err(err)?;
    let logits = fp32.forward(&seq[..seq.len() - 1], &mut cache, false, &mut NoProbe).map_err(err)?;
    let v = fp32.config.vocab_size;
    Ok(generated
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let row = prompt.len() - 1 + i;
            logits.get(row * v..(row + 1) * v).map_or(0.0, |r| log_softmax(r).get(g.token as usize).map_or(0.0, |l| l.exp()))
        })
        .collect())
}

/// FP32 and quantized generation from one prompt with one seed.
pub async fn generate(id: u32, quant: LmQuantConfig, sample: SampleConfig, prompt: String, max_new: usize) -> Result<Outcome, String> {
    quant.validate().map_err(err)?;
    sample.validate().map_err(err)?;
    if max_new == 0 || max_new > MAX_NEW {
        return Err(format!("max new tokens: {max_new} is outside 1–{MAX_NEW}"));
    }
    let m = loaded(id).await?;
    let ids = m.tok.encode(&prompt).map_err(|e| format!("the prompt: {e}"))?;
    progress(id, "quantizing", 0, 1);
    let q = quantized(&m, &quant)?;
    progress(id, "generating with FP32", 0, 2);
    let (g32, fp32_tps) = column((id, 0), &m.tok, &m.fp32, &ids, max_new, KvFormat::F32, &sample)?;
    progress(id, &format!("generating with {}", quant.label()), 1, 2);
    let (gq, quant_tps) = column((id, 1), &m.tok, &q.model, &ids, max_new, quant.kv, &sample)?;
    let p = fp32_probs(&m.fp32, &ids, &gq)?;
    Ok(Outcome::LmGenerate(Box::new(LmGenView {
        label: quant.label(),
        prompt,
        fp32: g32.iter().map(|g| token(&m.tok, g, g.prob)).collect(),
        quant: gq.iter().zip(p).map(|(g, p)| token(&m.tok, g, p)).collect(),
        fp32_tps,
        quant_tps,
    })))
}

//! The worker's language-model jobs (the Language-model page): it fetches the built-in model
//! and the validation text once, reads the user's own model files (GGUF, llama2.c, Hugging Face)
//! when the page sends them, keeps the models (and the last quantized model) between jobs, and
//! runs the comparison against FP32, the side-by-side generation and the exports, with progress.
//!
//! A user model's bytes arrive once, concatenated in one buffer; the readers take slices of it
//! (no copy per file), and the buffer is dropped as soon as the FP32 weights are read. A rejected
//! file leaves the models already held untouched.

use std::cell::RefCell;
use std::rc::Rc;

use super::protocol::{
    Event, LmActRange, LmAlphaSearch, LmExportFormat, LmFile, LmGenView, LmLayerRow, LmModelInfo, LmModelRef, LmRunView, LmShare, LmToken, Outcome, Request, SearchPart, SearchStage,
    LM_MODEL_MISSING,
};
use super::runner::{fetch_bytes, now_ms, post, PROGRESS_EVERY_MS};
use crate::experiment::Progress;
use crate::lm::corpus::{gunzip_text, BuiltinLm, TRAIN_FILE, VAL_FILE};
use crate::experiment::shard::Shard;
use crate::lm::eval::{score_windows, window_count, Comparison};
use crate::experiment::download_name::label_tag;
use crate::lm::import::{import_model, tokenizer_for, GgufWeightType, RawVocab};
use crate::lm::sample::{Generated, Generator, SampleConfig, Scorer};
use crate::lm::tokenizers::{TextStream, Tokenizer};
use crate::lm::{CharTokenizer, KvCache, KvFormat, LmError, LmModel, LmWeights};
use crate::ptq::lm::{LmLayerReport, LmQuantConfig, QuantizedLm};
use crate::ptq::lm_method::{quantize_with_method, MethodReport};
use crate::ptq::lm_sensitivity::{finish_search, SearchPlan, SearchSettings};
use crate::lm::inspect::{linear_named, projection_names, weight_view};
use crate::quant::ggml::GgmlType;

/// Most tokens one generation job produces (the context ends it sooner).
pub const MAX_NEW: usize = 4096;

/// A model, its FP32 form, its tokenizer and the validation text in its tokens.
struct Loaded {
    /// The built-in model it is, or the user's load key.
    id: LmModelRef,
    name: String,
    /// The name the user's files give the model (GGUF `general.name`, config.json `_name_or_path`).
    title: Option<String>,
    weights: LmWeights,
    fp32: LmModel,
    /// None when the user's files carry no vocabulary.
    tok: Option<Tokenizer>,
    /// The vocabulary as the files hold it (for the GGUF export).
    vocab: Option<RawVocab>,
    /// The validation text tokenized by `tok` (BOS first when the tokenizer has one), made once.
    val: RefCell<Option<Rc<Vec<u32>>>>,
    /// The training split tokenized by `tok` (calibration), made once.
    train: RefCell<Option<Rc<Vec<u32>>>>,
}

impl Loaded {
    fn tok(&self) -> Result<&Tokenizer, String> {
        self.tok.as_ref().ok_or_else(|| {
            format!("{} has no tokenizer qplay can use (the notes under the model say why): Run and Generate need one — drop tokenizer.bin (llama2.c) or a byte-level BPE tokenizer.json (Hugging Face) with the model", self.name)
        })
    }

    /// The prompt's ids, BOS first when the tokenizer has one.
    fn encode_prompt(&self, text: &str) -> Result<Vec<u32>, String> {
        self.tok()?.encode_document(text).map_err(|e| format!("the prompt: {e}"))
    }
}

struct Quantized {
    /// The model it was quantized from.
    source: LmModelRef,
    config: LmQuantConfig,
    model: Rc<LmModel>,
    layers: Rc<Vec<LmLayerReport>>,
    report: MethodReport,
    /// The FP32 weights that were rounded, when the method changed them first (AWQ,
    /// SmoothQuant, injected outliers); None: the model's own FP32 weights.
    rounded_from: Option<Rc<LmModel>>,
    /// How long the method took in this worker (GPTQ's and AWQ's searches included; the
    /// calibration text's download excluded), ms.
    millis: f64,
}

#[derive(Default)]
struct Cache {
    /// The built-in models fetched so far (each once).
    builtin: Vec<Rc<Loaded>>,
    /// The user's model (the last one that read without error).
    user: Option<Rc<Loaded>>,
    val_text: Option<Rc<String>>,
    /// The training split, for calibration (fetched when a calibrated method first runs).
    train_text: Option<Rc<String>>,
    /// The last quantized model (a Generate after a Run reuses it).
    quantized: Option<Rc<Quantized>>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Decoding tokens/s of the built-in model in FP32 and in the formats our kernels run
/// (`lm::bench::decode_speed`, as `scripts/bench_lm.sh` times them), for the Benchmark page.
pub(super) async fn builtin_decode_speed(id: u32, clock: &dyn Fn() -> f64) -> Result<Vec<crate::bench::Measured>, String> {
    const FORMATS: [&str; 6] = ["fp32", "w8_per_channel", "w8a8_per_channel", "q8_0", "w4_g32", "q4_0"];
    let m = builtin(id, BuiltinLm::Small).await?;
    let formats: Vec<_> = crate::lm::bench::bench_formats().into_iter().filter(|(l, _)| FORMATS.contains(l)).collect();
    Ok(crate::lm::bench::decode_speed_measured(clock, "shakespeare", &m.weights, &formats, 128, 7))
}

async fn builtin(id: u32, which: BuiltinLm) -> Result<Rc<Loaded>, String> {
    if let Some(m) = CACHE.with_borrow(|c| c.builtin.iter().find(|m| m.id == LmModelRef::Builtin(which)).cloned()) {
        return Ok(m);
    }
    let what = format!("the model {}", which.name());
    let bytes = fetch_bytes(id, &format!("models/{}", which.file()), &what).await?;
    let weights = LmWeights::from_safetensors(&bytes).map_err(|e| format!("{what}: {e}"))?;
    drop(bytes);
    let alphabet = weights.alphabet.clone().ok_or("the model has no alphabet (metadata qplay.alphabet): it cannot read text")?;
    let tok = Tokenizer::from(CharTokenizer::new(alphabet.chars().collect()).map_err(err)?);
    let fp32 = LmModel::from_weights(&weights).map_err(err)?;
    let m = Rc::new(Loaded {
        id: LmModelRef::Builtin(which),
        name: which.name().into(),
        title: None,
        weights,
        fp32,
        tok: Some(tok),
        vocab: None,
        val: RefCell::new(None),
        train: RefCell::new(None),
    });
    CACHE.with_borrow_mut(|c| c.builtin.push(m.clone()));
    Ok(m)
}

/// The model a job names: the built-in one (fetched once), or the user's, which must be held.
async fn loaded(id: u32, model: &LmModelRef) -> Result<Rc<Loaded>, String> {
    match model {
        LmModelRef::Builtin(which) => builtin(id, *which).await,
        LmModelRef::User { key } => {
            CACHE.with_borrow(|c| c.user.clone()).filter(|m| m.id == LmModelRef::User { key: *key }).ok_or_else(|| LM_MODEL_MISSING.to_string())
        }
    }
}

/// Trials (medians) of the speed of FP32 and the quantized model after a run.
const SPEED_TRIALS: usize = 5;

/// Reads the user's files (`bytes`: their contents one after the other) and, if they read,
/// keeps the model in place of the previous user model.
fn load(id: u32, key: u64, files: &[LmFile], bytes: Vec<u8>) -> Result<Outcome, String> {
    let total: usize = files.iter().map(|f| f.len).sum();
    if total != bytes.len() {
        return Err(format!("the model files' bytes did not arrive whole ({} of {total} bytes)", bytes.len()));
    }
    progress(id, "reading the model files", 0, 1);
    let mut at = 0;
    let parts: Vec<(String, &[u8])> = files
        .iter()
        .map(|f| {
            let part = &bytes[at..at + f.len];
            at += f.len;
            (f.name.clone(), part)
        })
        .collect();
    let base = |n: &str| crate::lm::import::shown_file_name(n);
    let shown: Vec<String> = files.iter().map(|f| base(&f.name)).collect();
    let all = crate::lm::import::listed(shown.iter().map(String::as_str));
    let imported = import_model(&parts).map_err(|e| format!("{all}: {e}"))?;
    // The files the model uses, fingerprinted for its links (an ignored file does not count).
    // A set: thousands of files dropped together are not compared with each other.
    let unused: std::collections::HashSet<&str> = imported.unused.iter().map(String::as_str).collect();
    let used: Vec<(&str, &[u8])> = parts.iter().filter(|(n, _)| !unused.contains(n.as_str())).map(|(n, b)| (n.as_str(), *b)).collect();
    let fingerprint = crate::lm::import::files_fingerprint(&used);
    drop(used);
    // The model owns its weights and vocabulary now: free the files (up to 1 GiB) before the
    // tokenizer is built from that vocabulary.
    drop(parts);
    drop(bytes);
    // The model is named by the files it uses (an ignored file has its note).
    let name = files.iter().filter(|f| !unused.contains(f.name.as_str())).map(|f| base(&f.name)).collect::<Vec<_>>().join(", ");
    let mut notes = imported.notes;
    let tok = match &imported.vocab {
        None => {
            notes.push("the files carry no vocabulary, so the model cannot read text: add its tokenizer (tokenizer.bin, tokenizer.json)".into());
            None
        }
        Some(v) => match tokenizer_for(&imported.weights, Some(v)) {
            // One that cannot spell plain English could never read the validation text: refused.
            Ok(t) => match t.check_reads_text() {
                Ok(()) => Some(t),
                Err(e) => return Err(format!("{name}: the tokenizer cannot read plain text ({:?}): {e}", crate::lm::tokenizers::PROBE_TEXT)),
            },
            // A tokenizer file that does not parse, or that is another model's (ids beyond the
            // vocabulary), is a bad file, refused like a bad model file (the model in use stays);
            // one that parses but qplay cannot run is a note.
            Err(e @ (LmError::Format(_) | LmError::Files(_))) => return Err(format!("{name}: the tokenizer: {e}")),
            Err(e) => {
                notes.push(format!("no tokenizer: {e}"));
                None
            }
        },
    };
    let vocab = imported.vocab;
    progress(id, "building the FP32 model", 0, 1);
    let fp32 = LmModel::from_weights(&imported.weights).map_err(|e| format!("{name}: {e}"))?;
    // Weights that overflow f32 at the first token are refused now, not at the first run.
    fp32.check_runs().map_err(|e| format!("{name}: {e}"))?;
    let c = &imported.weights.config;
    let info = LmModelInfo {
        key,
        name: name.clone(),
        format: imported.format.name(),
        params: u64::try_from(c.param_count()).unwrap_or(u64::MAX),
        dim: c.dim,
        n_layers: c.n_layers,
        n_heads: c.n_heads,
        n_kv_heads: c.n_kv_heads,
        hidden_dim: c.hidden_dim,
        vocab_size: c.vocab_size,
        seq_len: c.seq_len,
        tokenizer: tok.as_ref().map(|t| t.kind().to_string()),
        notes,
        dequantized: imported.dequantized.clone(),
        title: imported.title.clone(),
        fingerprint,
    };
    let m = Rc::new(Loaded { id: LmModelRef::User { key }, name, title: imported.title, weights: imported.weights, fp32, tok, vocab, val: RefCell::new(None), train: RefCell::new(None) });
    CACHE.with_borrow_mut(|c| {
        c.user = Some(m);
        c.quantized = c.quantized.take().filter(|q| matches!(q.source, LmModelRef::Builtin(_)));
    });
    Ok(Outcome::LmLoaded(Box::new(info)))
}

/// The validation text in the model's tokens (BOS first when its tokenizer has one).
async fn val_tokens(id: u32, m: &Loaded) -> Result<Rc<Vec<u32>>, String> {
    if let Some(v) = m.val.borrow().clone() {
        return Ok(v);
    }
    let tok = m.tok()?;
    let text = match CACHE.with_borrow(|c| c.val_text.clone()) {
        Some(t) => t,
        None => {
            let gz = fetch_bytes(id, &format!("data/{VAL_FILE}"), "the validation text").await?;
            let t = Rc::new(gunzip_text(&gz).map_err(|e| format!("the validation text: {e}"))?);
            CACHE.with_borrow_mut(|c| c.val_text = Some(t.clone()));
            t
        }
    };
    progress(id, &format!("tokenizing the validation text ({})", tok.kind()), 0, 1);
    let ids = Rc::new(tok.encode_document(&text).map_err(|e| format!("the validation text: {e}"))?);
    *m.val.borrow_mut() = Some(ids.clone());
    Ok(ids)
}

/// Calibration tokens for GPTQ / AWQ / SmoothQuant and static activation scales: the training
/// split (fetched and tokenized once per model), in the model's tokens; empty otherwise.
async fn calibration(id: u32, m: &Loaded, cfg: &LmQuantConfig) -> Result<Rc<Vec<u32>>, String> {
    if !cfg.calibrated() {
        return Ok(Rc::new(Vec::new()));
    }
    if let Some(t) = m.train.borrow().clone() {
        return Ok(t);
    }
    let text = match CACHE.with_borrow(|c| c.train_text.clone()) {
        Some(t) => t,
        None => {
            let gz = fetch_bytes(id, &format!("data/{TRAIN_FILE}"), "the training text (calibration)").await?;
            let t = Rc::new(gunzip_text(&gz).map_err(|e| format!("the training text: {e}"))?);
            CACHE.with_borrow_mut(|c| c.train_text = Some(t.clone()));
            t
        }
    };
    let tok = m.tok()?;
    progress(id, &format!("tokenizing the training text ({})", tok.kind()), 0, 1);
    let ids = Rc::new(tok.encode(&text).map_err(|e| format!("the training text: {e}"))?);
    *m.train.borrow_mut() = Some(ids.clone());
    Ok(ids)
}

async fn quantized(id: u32, m: &Loaded, cfg: &LmQuantConfig) -> Result<Rc<Quantized>, String> {
    if let Some(q) = CACHE.with_borrow(|c| c.quantized.clone()).filter(|q| q.config == *cfg && q.source == m.id) {
        return Ok(q);
    }
    let calib = calibration(id, m, cfg).await?;
    let stage = format!("quantizing with {}", cfg.method.name().to_uppercase());
    let mut last = f64::NEG_INFINITY;
    let t0 = now_ms();
    let r = quantize_with_method(&m.weights, cfg, &calib, &mut |done, total| {
        let t = now_ms();
        if t - last >= PROGRESS_EVERY_MS || done >= total {
            last = t;
            progress(id, &stage, done, total);
        }
    })
    .map_err(err)?;
    let millis = now_ms() - t0;
    let rounded_from = match &r.rounded {
        Some(w) => Some(Rc::new(LmModel::from_weights(w).map_err(err)?)),
        None => None,
    };
    let q = r.quantized;
    let q = Rc::new(Quantized {
        source: m.id,
        config: cfg.clone(),
        model: Rc::new(q.model),
        layers: Rc::new(q.layers),
        report: r.report,
        rounded_from,
        millis,
    });
    CACHE.with_borrow_mut(|c| c.quantized = Some(q.clone()));
    Ok(q)
}

/// Every language-model job; `bytes` are the user's files of an [`Request::LmLoad`].
pub async fn handle(id: u32, request: Request, bytes: Option<Vec<u8>>) -> Result<(Outcome, Option<Vec<u8>>), String> {
    match request {
        Request::LmRun { model, quant, tokens, shard } => run(id, &model, quant, tokens, shard).await.map(|o| (o, None)),
        Request::LmGenerate { model, quant, sample, prompt, max_new } => generate(id, &model, quant, sample, prompt, max_new).await.map(|o| (o, None)),
        Request::LmLoad { key, files } => load(id, key, &files, bytes.ok_or("the model files' bytes did not arrive")?).map(|o| (o, None)),
        Request::LmExport { model, quant, format } => export(id, &model, quant, format).await.map(|(o, b)| (o, Some(b))),
        Request::LmWeights { model, quant, layer, row } => weights(id, &model, quant, &layer, row).await.map(|o| (o, None)),
        Request::LmSearch { model, quant, settings, tokens, stage, shard } => search(id, &model, &quant, &settings, tokens, stage, shard).await.map(|o| (o, None)),
        _ => Err("not a language-model job".into()),
    }
}

/// A file name from the model's name ("tied_f32.gguf" → "tied_f32"; "config.json, model.safetensors" → "model").
fn stem(m: &Loaded) -> String {
    if let LmModelRef::Builtin(which) = m.id {
        return which.stem().into();
    }
    let s = crate::lm::import::model_stem(m.name.split(", ")).unwrap_or("model");
    let s: String = s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    if s.is_empty() { "model".into() } else { s }
}

/// The model written as GGUF (llama.cpp's types, from the FP32 weights) or as QDQ ONNX (the
/// quantized model of the settings).
async fn export(id: u32, model: &LmModelRef, quant: LmQuantConfig, format: LmExportFormat) -> Result<(Outcome, Vec<u8>), String> {
    let m = loaded(id, model).await?;
    let octet = "application/octet-stream".to_string();
    let gguf = |ty: GgufWeightType, tag: &str| -> Result<(Outcome, Vec<u8>), String> {
        progress(id, &format!("writing GGUF {tag}"), 0, 1);
        // general.name: the files' own name for the model, else the built-in's, else the file's.
        let name = m.title.clone().unwrap_or_else(|| if let LmModelRef::Builtin(which) = m.id { format!("qplay {}", which.name()) } else { stem(&m) });
        let b = crate::lm::import::write_gguf(&m.weights, &name, ty, m.vocab.as_ref()).map_err(err)?;
        Ok((Outcome::File { name: format!("{}-{}.gguf", stem(&m), tag.to_ascii_lowercase()), mime: octet.clone() }, b))
    };
    match format {
        LmExportFormat::GgufF16 => gguf(GgufWeightType::F16, "F16"),
        LmExportFormat::GgufQ8_0 => gguf(GgufWeightType::Block(GgmlType::Q8_0), "Q8_0"),
        LmExportFormat::GgufQ4_0 => gguf(GgufWeightType::Block(GgmlType::Q4_0), "Q4_0"),
        LmExportFormat::GgufQ4_1 => gguf(GgufWeightType::Block(GgmlType::Q4_1), "Q4_1"),
        LmExportFormat::QdqOnnx => {
            quant.validate().map_err(err)?;
            progress(id, "quantizing", 0, 1);
            let q = quantized(id, &m, &quant).await?;
            progress(id, "writing QDQ ONNX", 0, 1);
            let b = crate::formats::onnx_lm::write_lm_model_onnx(&q.model, &quant).map_err(err)?;
            let tag = label_tag(&quant.label());
            Ok((Outcome::File { name: format!("{}-{tag}-qdq.onnx", stem(&m)), mime: octet }, b))
        }
        LmExportFormat::PackedSafetensors => {
            quant.validate().map_err(err)?;
            progress(id, "quantizing", 0, 1);
            let q = quantized(id, &m, &quant).await?;
            progress(id, "writing the packed .safetensors", 0, 1);
            let packed = QuantizedLm { model: (*q.model).clone(), layers: (*q.layers).clone(), config: quant.clone() };
            let b = crate::formats::lm_safetensors::write_lm_safetensors(&packed, m.weights.alphabet.as_deref()).map_err(err)?;
            let tag = label_tag(&quant.label());
            Ok((Outcome::File { name: format!("{}-{tag}.safetensors", stem(&m)), mime: octet }, b))
        }
    }
}

/// One row of a projection in FP32 (the weights the method rounded) and quantized.
async fn weights(id: u32, model: &LmModelRef, quant: LmQuantConfig, layer: &str, row: usize) -> Result<Outcome, String> {
    quant.validate().map_err(err)?;
    let m = loaded(id, model).await?;
    let q = quantized(id, &m, &quant).await?;
    let fp32 = q.rounded_from.as_deref().unwrap_or(&m.fp32);
    Ok(Outcome::LmWeights(Box::new(weight_view(fp32, &q.model, layer, row).map_err(err)?)))
}

/// The activation ranges AWQ or SmoothQuant changed, before and after.
fn act_ranges(report: &MethodReport) -> Vec<LmActRange> {
    let mut out = Vec::new();
    if let Some(s) = &report.smooth {
        out.extend(s.inputs.iter().map(|i| LmActRange {
            input: i.norm.clone(),
            linears: i.linears.clone(),
            stat: "max |X_j|".into(),
            before: i.x_absmax_before.clone(),
            after: i.x_absmax_after.clone(),
            alpha_search: None,
        }));
    }
    if let Some(a) = &report.awq {
        out.extend(a.groups.iter().map(|g| LmActRange {
            input: g.prev.clone(),
            linears: g.linears.clone(),
            stat: "mean |X_j|".into(),
            before: g.x_mean_before.clone(),
            after: g.x_mean_after.clone(),
            alpha_search: Some(LmAlphaSearch {
                alphas: (0..g.losses.len()).map(|i| i as f32 / crate::ptq::awq::N_GRID as f32).collect(),
                losses: g.losses.clone(),
                chosen: g.index,
            }),
        }));
    }
    out
}

fn progress(id: u32, stage: &str, done: usize, total: usize) {
    post(id, Event::Progress(Progress { stage: stage.into(), done, total, value: None }), None);
}

/// The mixed-precision search (`crate::ptq::lm_sensitivity`) on the first `tokens` validation
/// tokens, each evaluation a step of the progress: all of it, or one stage for `shard`'s items
/// (the page merges the parts).
async fn search(id: u32, model: &LmModelRef, quant: &LmQuantConfig, settings: &SearchSettings, tokens: usize, stage: SearchStage, shard: Shard) -> Result<Outcome, String> {
    quant.validate().map_err(err)?;
    shard.validate()?;
    if tokens < 2 {
        return Err(format!("search tokens: {tokens} is fewer than the 2 a prediction needs"));
    }
    let m = loaded(id, model).await?;
    let val = val_tokens(id, &m).await?;
    let n = tokens.min(val.len());
    progress(id, "FP32 log-probabilities of the slice", 0, 1);
    let mut on = |p: &Progress| {
        progress(id, &p.stage, p.done, p.total);
        true
    };
    let plan = SearchPlan::new(&m.weights, quant, settings, &val[..n]).map_err(err)?;
    let frame = plan.frame;
    Ok(match stage {
        SearchStage::Whole => {
            let sens = plan.sensitivities(Shard::ALL, &mut on).map_err(err)?;
            let candidates = plan.candidates(&sens, Shard::ALL, &mut on).map_err(err)?;
            Outcome::LmSearch(Box::new(finish_search(quant, &frame, sens, candidates).map_err(err)?))
        }
        SearchStage::Sensitivities => {
            let sensitivities = plan.sensitivities(shard, &mut on).map_err(err)?;
            Outcome::LmSearchPart(Box::new(SearchPart { frame, sensitivities, candidates: vec![] }))
        }
        SearchStage::Candidates(sens) => {
            let candidates = plan.candidates(&sens, shard, &mut on).map_err(err)?;
            Outcome::LmSearchPart(Box::new(SearchPart { frame, sensitivities: vec![], candidates }))
        }
    })
}

/// Quantizes and scores against FP32 on the first `tokens` validation tokens (`shard`'s windows
/// of them: the view then carries their scores for `LmRunView::merge`).
async fn run(id: u32, model: &LmModelRef, quant: LmQuantConfig, tokens: usize, shard: Shard) -> Result<Outcome, String> {
    quant.validate().map_err(err)?;
    shard.validate()?;
    if tokens < 2 {
        return Err(format!("evaluation tokens: {tokens} is fewer than the 2 a prediction needs"));
    }
    let m = loaded(id, model).await?;
    let val = val_tokens(id, &m).await?;
    let n = tokens.min(val.len());
    if n < 2 {
        return Err(format!("the validation text is {n} tokens long for this tokenizer: too short to score"));
    }
    let t0 = now_ms();
    progress(id, "quantizing", 0, 1);
    let q = quantized(id, &m, &quant).await?;
    let stage = format!("scoring {} predictions, FP32 and {} (windows)", n - 1, quant.label());
    let mut last = f64::NEG_INFINITY;
    let label = quant.label();
    let layers = q.rounded_from.as_deref().filter(|_| q.report.rescales_outputs());
    let (windows, ranges) = score_windows(&m.fp32, layers, &q.model, &val[..n], quant.kv, shard, |done, total, so_far| {
        let t = now_ms();
        if t - last >= PROGRESS_EVERY_MS || done >= total {
            last = t;
            let stage = format!(
                "{stage} — perplexity after {} predictions: FP32 {:.4}, {label} {:.4}",
                so_far.tokens, so_far.fp32, so_far.quantized
            );
            progress(id, &stage, done, total);
        }
    })
    .map_err(err)?;
    let c = Comparison::from_windows(&windows, ranges);
    let millis = now_ms() - t0;
    // FP32 against the quantized model, tokens/s, as the GPT-J guide's table has them: timed once
    // per run, by the worker that scored the first window (the others may still be scoring).
    let speed = if shard.takes(0) {
        progress(id, "timing FP32 and the quantized model (decode, prefill)", 0, 1);
        let clock = || now_ms() / 1e3;
        crate::lm::bench::pair_speed(&clock, &m.fp32, &q.model, quant.kv, SPEED_TRIALS).ok()
    } else {
        None
    };
    let dims = &m.weights.config;
    let layers = q
        .layers
        .iter()
        .map(|l| LmLayerRow {
            name: l.name.clone(),
            // An embedding kept in f32 is a table, not a Linear: [vocabulary, dim].
            shape: linear_named(&q.model, &l.name)
                .map(|lin| [lin.n(), lin.k()])
                .or_else(|| (l.name == "tok_embeddings").then_some([dims.vocab_size, dims.dim]))
                .unwrap_or([0, 0]),
            format: l.format.clone(),
            engine: l.engine.clone(),
            bytes: l.bytes,
            weights: l.weights,
            note: l.note.clone(),
            sqnr_db: None,
            cosine: None,
        })
        .collect();
    let config = &m.weights.config;
    let mut view = LmRunView {
        model: m.name.clone(),
        label: quant.label(),
        tokens: 0,
        fp32_ppl: 0.0,
        quant_ppl: 0.0,
        delta_pct: 0.0,
        mean_kl: 0.0,
        top1_same: 0.0,
        rms_delta_p: 0.0,
        fp32_bytes: m.fp32.weight_bytes(),
        weight_bytes: q.model.weight_bytes(),
        bits_per_weight: q.model.bits_per_weight(),
        kv_bytes: u64::try_from(KvCache::bytes_for(config, quant.kv, config.seq_len)).unwrap_or(u64::MAX),
        layers,
        millis,
        quantize_millis: q.millis,
        projections: projection_names(&q.model),
        act_ranges: act_ranges(&q.report),
        speed,
        quant,
        share: None,
    };
    view.score(&c);
    if shard != Shard::ALL {
        view.share = Some(LmShare { windows, total: window_count(n, config.seq_len) });
    }
    Ok(Outcome::LmRun(Box::new(view)))
}

/// One column of the side-by-side text: its generator, the time spent in it, the tokens not
/// yet posted, and its ids (the prompt's first) with the text they have written.
struct Column<'m> {
    gen: Generator<'m>,
    millis: f64,
    out: Vec<LmToken>,
    pending: Vec<LmToken>,
    ids: Vec<u32>,
    text: TextStream,
}

impl<'m> Column<'m> {
    fn new(gen: Generator<'m>, tok: &Tokenizer, prompt: &[u32]) -> Self {
        Column { gen, millis: 0.0, out: Vec::new(), pending: Vec::new(), ids: prompt.to_vec(), text: TextStream::after(tok, prompt) }
    }

    /// The token `g` with its probability under FP32: its text is what it adds to the column's
    /// text (a SentencePiece "▁" is a space after the prompt; a character split over byte tokens
    /// is written whole by its last one).
    fn token(&mut self, tok: &Tokenizer, g: &Generated, p_fp32: f64, ends_text: bool) -> LmToken {
        self.ids.push(g.token);
        LmToken { id: g.token, text: self.text.next(tok, &self.ids), p_fp32, p_own: g.prob, ends_text }
    }

    /// One token, timed; None at the end of the context or after an end-of-text token.
    fn step(&mut self) -> Result<Option<Generated>, String> {
        let t0 = now_ms();
        let g = self.gen.step().map_err(err)?;
        self.millis += now_ms() - t0;
        Ok(g)
    }

    fn push(&mut self, t: LmToken) {
        self.pending.push(t.clone());
        self.out.push(t);
    }

    /// The text that waited for a character's last byte and never got it (U+FFFD), written
    /// by the column's last token.
    fn finish(&mut self, tok: &Tokenizer) {
        if let Some(last) = self.out.last_mut() {
            last.text.push_str(&self.text.rest(tok, &self.ids));
        }
    }

    fn tokens_per_s(&self) -> f64 {
        if self.millis > 0.0 { self.out.len() as f64 * 1e3 / self.millis } else { 0.0 }
    }
}

/// FP32 and quantized generation from one prompt with one seed.
async fn generate(id: u32, model: &LmModelRef, quant: LmQuantConfig, sample: SampleConfig, prompt: String, max_new: usize) -> Result<Outcome, String> {
    quant.validate().map_err(err)?;
    sample.validate().map_err(err)?;
    if max_new == 0 || max_new > MAX_NEW {
        return Err(format!("max new tokens: {max_new} is outside 1–{MAX_NEW}"));
    }
    let m = loaded(id, model).await?;
    let ids = m.encode_prompt(&prompt)?;
    if ids.is_empty() {
        return Err("the prompt is empty".into());
    }
    if ids.len() >= m.weights.config.seq_len {
        return Err(format!("the prompt is {} tokens: the model's context is {}", ids.len(), m.weights.config.seq_len));
    }
    let tok = m.tok()?;
    progress(id, "quantizing", 0, 1);
    let q = quantized(id, &m, &quant).await?;
    // The two models step in turn, so both columns stream together; a third pass of the FP32
    // model reads the quantized text to give each of its tokens the FP32 probability.
    let end_of_text = tok.end_of_text();
    let writable = tok.vocab_len();
    let mut fp32 = Column::new(Generator::new(&m.fp32, &ids, KvFormat::F32, &sample).map_err(err)?.stopping_at(&end_of_text).writing_only(writable), tok, &ids);
    let mut quantized =
        Column::new(Generator::new(&q.model, &ids, quant.kv, &sample).map_err(err)?.stopping_at(&end_of_text).writing_only(writable), tok, &ids);
    let mut scorer = Scorer::new(&m.fp32, &ids).map_err(err)?;
    let stage = format!("generating with FP32 and {}", quant.label());
    let mut last = f64::NEG_INFINITY;
    for i in 0..max_new {
        let a = fp32.step()?;
        let b = quantized.step()?;
        if let Some(g) = &a {
            let ends = fp32.gen.wrote_end_of_text();
            let t = fp32.token(tok, g, g.prob, ends);
            fp32.push(t);
        }
        if let Some(g) = &b {
            let p = scorer.score(g.token).map_err(err)?.unwrap_or(0.0);
            let ends = quantized.gen.wrote_end_of_text();
            let t = quantized.token(tok, g, p, ends);
            quantized.push(t);
        }
        let end = a.is_none() && b.is_none();
        let t = now_ms();
        if t - last >= PROGRESS_EVERY_MS || end || i + 1 == max_new {
            last = t;
            if !fp32.pending.is_empty() || !quantized.pending.is_empty() {
                let (a, b) = (std::mem::take(&mut fp32.pending), std::mem::take(&mut quantized.pending));
                post(id, Event::LmTokens { fp32: a, quant: b }, None);
            }
            progress(id, &stage, i + 1, max_new);
        }
        if end {
            break;
        }
    }
    fp32.finish(tok);
    quantized.finish(tok);
    Ok(Outcome::LmGenerate(Box::new(LmGenView {
        label: quant.label(),
        prompt,
        fp32_tps: fp32.tokens_per_s(),
        quant_tps: quantized.tokens_per_s(),
        fp32: fp32.out,
        quant: quantized.out,
    })))
}

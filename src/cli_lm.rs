//! `qplay lm`: language models on the command line.
//!
//! ```text
//! qplay lm train [--steps N --batch B --seed S …]        train the built-in Shakespeare model
//! qplay lm eval     [--model FILE…] [--tokens N | --all] [QUANT]  perplexity, and against FP32 when quantized
//! qplay lm quantize [QUANT] [--report DIR]                   the same, with the per-layer report as CSV / JSON
//! qplay lm generate --prompt TEXT [--max-new N] [SAMPLING] [QUANT]
//! qplay lm table    [--tokens N]                             the README's table: every format against FP32
//! qplay lm export   --format gguf|onnx|safetensors --out FILE [QUANT]
//!                                                            the quantized model as GGUF, QDQ ONNX or packed
//!                                                            integers + scales (src/formats/lm_safetensors.rs)
//! qplay lm search   --budget-bpw X | --budget-bytes N | --kl-target Y [--low-bits 4 --high-bits 8]
//!                   [--tokens N] [--out FILE.json|.csv] [QUANT]   mixed precision: per-layer sensitivity,
//!                                                            the greedy search and its Pareto front
//! QUANT: --weights f32|f16|bf16|rtn|q8_0|q4_0|q4_1 --bits B --group G --asym --narrow --int8-acts
//!        --kv f32|f16|int8 --skip NAME… --layer-bits NAME=B… (or --config FILE.toml with the same keys,
//!        or --ptq-config "PTQConfig(...)": Golden Stick's call, src/ptq/golden_stick.rs)
//!        --method rtn|gptq|awq|smoothquant --calib-tokens N --damp F --act-order --alpha A --awq-clip --awq-gptq
//!        --outliers N --outlier-scale S
//! --model: the built-in format (.safetensors with qplay metadata), or the user's own files: one
//!          .gguf; a llama2.c model.bin (+ tokenizer.bin); a Hugging Face config.json +
//!          model.safetensors (+ tokenizer.json)
//! ```
//!
//! Progress goes to stderr; results as JSON to stdout.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Subcommand};
use crate::cli_io::{read_file_up_to, read_text_up_to, MAX_CONFIG_BYTES};
use serde_json::json;

use qplay::lm::corpus::{gunzip_text, BuiltinLm, LARGE_MODEL_FILE, MODEL_FILE, TRAIN_FILE, VAL_FILE};
use qplay::lm::train::{train, TrainConfig};
use qplay::lm::eval::{compare_layers_against, perplexity};
use qplay::lm::sample::{Generator, SampleConfig};
use qplay::lm::import::{import_model, tokenizer_for, GgufWeightType, RawVocab, MAX_IMPORT_FILE_BYTES};
use qplay::lm::tokenizers::{TextStream, Tokenizer};
use qplay::lm::{CharTokenizer, KvFormat, LmConfig, LmError, LmModel, LmWeights};
use qplay::ptq::lm::{LmMethod, LmQuantConfig, LmWeightFormat};
use qplay::ptq::lm_method::{quantize_with_method, MethodResult};
use qplay::units::bytes_exact;

#[derive(Subcommand)]
pub enum LmCommand {
    /// Train the built-in model on the Shakespeare corpus (deterministic from the seed).
    Train(TrainArgs),
    /// Perplexity on the validation split; with quantization settings, against FP32.
    Eval(EvalArgs),
    /// Quantize and score against FP32, with the per-layer report (CSV / JSON).
    Quantize(EvalArgs),
    /// Generate text from a prompt (greedy, or seeded sampling).
    Generate(GenerateArgs),
    /// Every weight format against FP32 on the validation slice: the README's table.
    Table(TableArgs),
    /// Decoding tokens/s natively in every format (scripts/bench_lm.sh adds Node's figures).
    Bench(BenchArgs),
    /// Mixed precision: each Linear's sensitivity at the low bits, then per-layer bits that meet a
    /// size budget or a KL target (src/ptq/lm_sensitivity.rs), with every candidate evaluated.
    Search(SearchArgs),
    /// Write the quantized model as GGUF (f32 / f16 / q8_0 / q4_0 / q4_1), QDQ ONNX or packed safetensors.
    Export(ExportArgs),
}

#[derive(Args)]
pub struct ExportArgs {
    #[command(flatten)]
    m: ModelArgs,
    /// gguf (its block type from --weights: f32, f16, q8_0, q4_0, q4_1) or onnx (QuantizeLinear /
    /// DequantizeLinear in front of every MatMul, as the settings quantize it) or safetensors
    /// (packed integers, scales and minimums, described in the metadata).
    #[arg(long)]
    format: String,
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
pub struct SearchArgs {
    #[command(flatten)]
    m: ModelArgs,
    // Without a target, low / high bits or tokens: a --link's (`search_bpw` / `search_kl`,
    // `search_low`, `search_high`, `search_tokens`), else the page's defaults.
    /// Size budget: bits per weight of the searched Linears (integers, scales, minimums).
    #[arg(long, allow_negative_numbers = true, conflicts_with_all = ["budget_bytes", "kl_target"])]
    budget_bpw: Option<f64>,
    /// Size budget: bytes of the searched Linears.
    #[arg(long, allow_negative_numbers = true, conflicts_with = "kl_target")]
    budget_bytes: Option<usize>,
    /// The fewest bytes whose mean KL against FP32 is at most this.
    #[arg(long, allow_negative_numbers = true)]
    kl_target: Option<f64>,
    /// The width each Linear starts at, 2 to 8 [default: a --link's, else 4]
    #[arg(long, allow_negative_numbers = true, value_parser = clap::value_parser!(u8).range(2..=8))]
    low_bits: Option<u8>,
    /// The width a sensitive Linear is raised to, 2 to 8, above --low-bits [default: a --link's, else 8]
    #[arg(long, allow_negative_numbers = true, value_parser = clap::value_parser!(u8).range(2..=8))]
    high_bits: Option<u8>,
    /// Validation tokens of the slice [default: a --link's, else 1,025 = 1,024 predictions, 4 windows of 256].
    #[arg(long, allow_negative_numbers = true)]
    tokens: Option<usize>,
    /// Write the report here: .csv = the candidates (the front marked), otherwise JSON.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
pub struct BenchArgs {
    #[command(flatten)]
    m: ModelArgs,
    /// Tokens decoded per trial.
    #[arg(long, default_value_t = 256)]
    tokens: usize,
}

/// The model and the quantization settings, shared by every command.
#[derive(Args, Clone)]
pub struct ModelArgs {
    /// Where the assets are (data/, models/).
    #[arg(long, default_value = "www")]
    assets: PathBuf,
    /// The model's file(s) (default: the built-in model): qplay's .safetensors with LM metadata;
    /// one .gguf; a llama2.c model.bin (+ tokenizer.bin); a Hugging Face config.json +
    /// model.safetensors (+ tokenizer.json).
    #[arg(long, num_args = 1..)]
    model: Vec<PathBuf>,
    /// Which built-in model when --model is not given: small (1.2 M parameters) or large
    /// (3.2 M); default: a link's `builtin` key, else small.
    #[arg(long)]
    builtin: Option<String>,
    /// The settings as TOML (the keys of LmQuantConfig); flags given too override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The settings as MindSpore Golden Stick's `PTQConfig(...)` call, as its guides write it
    /// (`PTQConfig(weight_quant_dtype=msdtype.int8, act_quant_dtype=msdtype.int8,
    /// outliers_suppression=OutliersSuppressionType.SMOOTH)`), or a file holding it; what qplay
    /// does otherwise is said on stderr, and flags given too override it.
    #[arg(long)]
    ptq_config: Option<String>,
    /// The settings as a share link or its query (`weights=rtn&bits=4&group=32`, the same keys),
    /// read as the page reads it: a key it cannot use is skipped with a notice on stderr, and
    /// flags given too override the link. A whole address, a hash (`#/lm?…`) or the query alone.
    #[arg(long, value_parser = lm_link_query)]
    link: Option<String>,
    /// --link read once ([`ModelArgs::link_experiment`]).
    #[arg(skip)]
    link_read: std::cell::OnceCell<Option<(qplay::share::lm::LmExperiment, Vec<String>)>>,
    /// Weight format: f32, f16, bf16, rtn (integers of --bits in groups of --group), or
    /// llama.cpp's blocks q8_0, q4_0, q4_1 [default: f32; rtn when --bits is given].
    #[arg(long)]
    weights: Option<String>,
    /// Integer width of --weights rtn, 2 to 8.
    #[arg(long, allow_negative_numbers = true, value_parser = clap::value_parser!(u8).range(2..=8))]
    bits: Option<u8>,
    /// Values per group of --weights rtn (0 = per channel; else a multiple of 32 up to 4096).
    #[arg(long, allow_negative_numbers = true)]
    group: Option<usize>,
    /// Asymmetric RTN (a minimum per group).
    #[arg(long)]
    asym: bool,
    /// Narrow symmetric range ±(2^(b−1) − 1).
    #[arg(long)]
    narrow: bool,
    /// int8 activations per token (W8A8 / W4A8).
    #[arg(long)]
    int8_acts: bool,
    /// With --int8-acts: one static scale per Linear input, calibrated on the training split.
    #[arg(long)]
    static_acts: bool,
    /// KV cache format: f32, f16, int8.
    #[arg(long)]
    kv: Option<String>,
    /// Layers left in FP32 (replaces the default "output tok_embeddings"); "none" for none.
    #[arg(long, num_args = 1..)]
    skip: Option<Vec<String>>,
    /// Per-layer bits of RTN weights, NAME=B (NAME as in --skip); without --weights it means rtn.
    #[arg(long, num_args = 1..)]
    layer_bits: Vec<String>,
    /// rtn, gptq, awq or smoothquant.
    #[arg(long)]
    method: Option<String>,
    /// Calibration tokens (from the training split) for GPTQ / AWQ / SmoothQuant.
    #[arg(long, allow_negative_numbers = true)]
    calib_tokens: Option<usize>,
    /// GPTQ dampening, a fraction of H's mean diagonal.
    #[arg(long, allow_negative_numbers = true, value_parser = f32_in_range)]
    damp: Option<f32>,
    /// GPTQ: columns in order of decreasing H diagonal.
    #[arg(long)]
    act_order: bool,
    /// SmoothQuant's migration strength α.
    #[arg(long, allow_negative_numbers = true, value_parser = f32_in_range)]
    alpha: Option<f32>,
    /// AWQ: also search a clipping threshold per group.
    #[arg(long)]
    awq_clip: bool,
    /// AWQ: round the scaled weights with GPTQ (--damp, --act-order) instead of RTN.
    #[arg(long)]
    awq_gptq: bool,
    /// Outlier injection: channels scaled in every RMSNorm (0 = off).
    #[arg(long, allow_negative_numbers = true)]
    outliers: Option<usize>,
    /// Outlier injection: the factor of the scaled channels, 1 to 1000.
    #[arg(long, allow_negative_numbers = true, value_parser = f32_in_range)]
    outlier_scale: Option<f32>,
}

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    m: ModelArgs,
    /// Validation tokens to score; default: a --link's `tokens`, else the default slice (8,193
    /// tokens: for the built-in model 32 windows of 256 predictions; a model of another context
    /// reads them in windows of its own context, at most 2,048, so its perplexities compare only
    /// at the same context).
    #[arg(long, allow_negative_numbers = true)]
    tokens: Option<usize>,
    /// Score the whole validation split (not with --tokens, which it would override).
    #[arg(long, conflicts_with = "tokens")]
    all: bool,
    /// Write report.json and layers.csv here.
    #[arg(long)]
    report: Option<PathBuf>,
}

#[derive(Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    m: ModelArgs,
    // Each of these, when not given, is a --link's (`prompt`, `max_new`, `temperature`, …), else
    // the page's default.
    /// The text to continue (required unless a --link gives `prompt`).
    #[arg(long)]
    prompt: Option<String>,
    /// Tokens to write [default: a --link's, else 200].
    #[arg(long, allow_negative_numbers = true)]
    max_new: Option<usize>,
    /// 0 = greedy [default: a --link's, else 0.8].
    #[arg(long, allow_negative_numbers = true, value_parser = f32_in_range)]
    temperature: Option<f32>,
    /// [default: a --link's, else 40]
    #[arg(long, allow_negative_numbers = true)]
    top_k: Option<usize>,
    /// [default: a --link's, else 0.95]
    #[arg(long, allow_negative_numbers = true, value_parser = f32_in_range)]
    top_p: Option<f32>,
    /// [default: a --link's, else 42]
    #[arg(long, allow_negative_numbers = true)]
    seed: Option<u64>,
}

#[derive(Args)]
pub struct TableArgs {
    #[command(flatten)]
    m: ModelArgs,
    #[arg(long, default_value_t = DEFAULT_EVAL_TOKENS)]
    tokens: usize,
    /// Also write the table as CSV here.
    #[arg(long)]
    csv: Option<PathBuf>,
}

/// The default evaluation slice: 32 windows of 256 predictions.
pub const DEFAULT_EVAL_TOKENS: usize = 8193;

#[derive(Args)]
pub struct TrainArgs {
    /// Where the assets are (data/, models/).
    #[arg(long, default_value = "www")]
    assets: PathBuf,
    /// Output file (default: ASSETS/models/shakespeare.safetensors, or shakespeare-large.safetensors).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The built-in shape (dim 128, 6 layers) or the larger one (dim 256, 4 layers, hidden 768).
    #[arg(long, value_enum, default_value = "small")]
    size: ModelSize,
    #[arg(long, default_value_t = TrainConfig::default().seed)]
    seed: u64,
    #[arg(long, default_value_t = TrainConfig::default().steps)]
    steps: usize,
    #[arg(long, default_value_t = TrainConfig::default().batch)]
    batch: usize,
    #[arg(long, default_value_t = TrainConfig::default().threads)]
    threads: usize,
    #[arg(long, default_value_t = TrainConfig::default().lr, value_parser = f32_in_range)]
    lr: f32,
    #[arg(long, default_value_t = TrainConfig::default().eval_every)]
    eval_every: usize,
    /// The training log as CSV (step, lr, train loss, val loss, gradient norm).
    #[arg(long)]
    log: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelSize {
    Small,
    Large,
}

pub fn run(cmd: LmCommand) -> Result<(), String> {
    match cmd {
        LmCommand::Train(a) => run_train(a).map_err(|e| e.to_string()),
        LmCommand::Eval(a) => run_eval(a, false),
        LmCommand::Quantize(a) => run_eval(a, true),
        LmCommand::Generate(a) => run_generate(a),
        LmCommand::Table(a) => run_table(a),
        LmCommand::Bench(a) => run_bench(a),
        LmCommand::Search(a) => run_search(a),
        LmCommand::Export(a) => run_export(a),
    }
}

/// The query of a `--link`: the page's Copy link gives a whole address
/// (`http://…/#/lm?weights=rtn`, or `…/#/lm` at the defaults); a hash or the query alone also
/// do. Another page's link is refused, by its page (it was read as settings, or its path as a
/// key that is "not a setting").
fn lm_link_query(link: &str) -> Result<String, String> {
    use qplay::share::{query_of, Page};
    let Some((_, hash)) = link.split_once('#') else {
        return Ok(link.strip_prefix('?').unwrap_or(link).to_string());
    };
    // The pages' own reading of a hash: its page, and its query.
    if Page::from_hash(hash) != Page::Lm {
        let path = hash.split('?').next().unwrap_or("");
        return Err(format!("\"#{}\" is not the Language-model page's link (#/lm?…)", qplay::clip::clip(path, 40)));
    }
    Ok(query_of(hash).to_string())
}

/// Reads a gzip text file with its size checked first.
pub fn read_text(path: &Path) -> Result<String, String> {
    let bytes = read_file_up_to(path, 64 << 20)?;
    gunzip_text(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn run_train(a: TrainArgs) -> Result<(), Box<dyn std::error::Error>> {
    // Where the model goes, checked before the training (which takes half an hour), not after.
    let default_file = if a.size == ModelSize::Large { LARGE_MODEL_FILE } else { MODEL_FILE };
    let out = match &a.out {
        Some(o) => o.clone(),
        // Only into an assets folder given or found here: never into the one the binary was
        // built from, which holds the repository's built-in model.
        None if a.assets.join("models").is_dir() => a.assets.join("models").join(default_file),
        None => return Err(format!("--assets {}: no models/ folder here to write the model into; give --out FILE", a.assets.display()).into()),
    };
    crate::cli_io::prepare_out(&out)?;
    if let Some(log) = &a.log {
        crate::cli_io::prepare_out(log)?;
    }
    let data = crate::cli_io::assets_dir("--assets", &a.assets, crate::cli_io::ASSETS_HOLD)?.join("data");
    let train_text = read_text(&data.join(TRAIN_FILE))?;
    let val_text = read_text(&data.join(VAL_FILE))?;
    let tokenizer = CharTokenizer::from_text(&train_text);
    let config = if a.size == ModelSize::Large { LmConfig::shakespeare_large() } else { LmConfig::shakespeare() };
    if tokenizer.vocab_len() > config.vocab_size {
        return Err(format!("the corpus has {} characters for {} ids", tokenizer.vocab_len(), config.vocab_size).into());
    }
    let train_ids = tokenizer.encode(&train_text)?;
    let val_ids = tokenizer.encode(&val_text)?;
    let tc = TrainConfig {
        seed: a.seed,
        steps: a.steps,
        batch: a.batch,
        threads: a.threads,
        lr: a.lr,
        min_lr: a.lr / 10.0,
        eval_every: a.eval_every,
        ..TrainConfig::default()
    };
    let mut w = LmWeights::init(&config, tc.seed)?;
    w.alphabet = Some(tokenizer.alphabet());
    eprintln!(
        "training {} parameters on {} characters ({} validation), {} steps of {}×{} tokens",
        config.param_count(),
        train_ids.len(),
        val_ids.len(),
        tc.steps,
        tc.batch,
        config.seq_len
    );
    let start = Instant::now();
    let mut csv = String::from("step,lr,train_loss,val_loss,grad_norm\n");
    train(&mut w, &train_ids, &val_ids, &tc, |l| {
        let val = l.val_loss.map(|v| format!("{v:.5}")).unwrap_or_default();
        csv.push_str(&format!("{},{:.6e},{:.5},{},{:.4}\n", l.step, l.lr, l.train_loss, val, l.grad_norm));
        if l.step % 10 == 0 || l.val_loss.is_some() {
            eprintln!(
                "step {:5}  lr {:.2e}  loss {:.4}  {}  |g| {:.3}  {:.0} s",
                l.step,
                l.lr,
                l.train_loss,
                l.val_loss.map(|v| format!("val {v:.4}")).unwrap_or_default(),
                l.grad_norm,
                start.elapsed().as_secs_f64()
            );
        }
    })?;
    crate::cli_io::write_file(&out, &w.to_safetensors()?)?;
    if let Some(log) = &a.log {
        crate::cli_io::write_file(log, csv.as_bytes())?;
    }
    println!(
        "{}",
        json!({
            "model": out.display().to_string(),
            "parameters": config.param_count() as u64,
            "steps": tc.steps,
            "seconds": start.elapsed().as_secs_f64(),
        })
    );
    Ok(())
}

/// A path's file name without its extension ("models/tied_f32.gguf" → "tied_f32").
fn file_stem(path: &str) -> String {
    Path::new(path).file_stem().map_or_else(|| path.to_string(), |s| s.to_string_lossy().into_owned())
}

/// A model and its tokenizer, read from the command line's files.
pub struct Loaded {
    pub weights: LmWeights,
    /// The tokenizer, or why there is none: only the commands that read text need it (an RTN
    /// export or a kernel benchmark of a bare llama2.c model.bin do not).
    pub tokenizer: Result<Tokenizer, String>,
    /// The vocabulary as the files hold it (for the GGUF export).
    pub vocab: Option<RawVocab>,
    /// What the reference model is: "FP32", or the FP32 a quantized file dequantizes to.
    pub reference: String,
    /// The model's name (a GGUF export's `general.name`): the one its files give it, else the
    /// built-in's, else its weights file's stem.
    pub name: String,
}

impl Loaded {
    /// The tokenizer, for a command that reads text.
    fn tok(&self) -> Result<&Tokenizer, String> {
        self.tokenizer.as_ref().map_err(Clone::clone)
    }
}

impl ModelArgs {
    /// The assets folder: `--assets` as given, else (the default, a relative `www`) beside the
    /// binary or in the source tree it was built from, as `qplay run` finds it.
    fn assets(&self) -> Result<PathBuf, String> {
        crate::cli_io::assets_dir("--assets", &self.assets, crate::cli_io::ASSETS_HOLD)
    }

    /// The built-in model, a qplay .safetensors, or the user's own files (import_model).
    fn load(&self) -> Result<Loaded, String> {
        let paths = if self.model.is_empty() { vec![self.assets()?.join("models").join(self.builtin()?.file())] } else { self.model.clone() };
        // All the files together within the import's limit, checked before any is read.
        let mut total = 0u64;
        for p in &paths {
            total = total.saturating_add(std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?.len());
        }
        if total > MAX_IMPORT_FILE_BYTES {
            return Err(format!("the model's files hold {} together; the limit is {}", bytes_exact(total.into()), bytes_exact(MAX_IMPORT_FILE_BYTES.into())));
        }
        let mut left = MAX_IMPORT_FILE_BYTES;
        let mut files = Vec::with_capacity(paths.len());
        for p in &paths {
            let bytes = read_file_up_to(p, left)?;
            left -= bytes.len() as u64;
            files.push((p.display().to_string(), bytes));
        }
        let mut as_qplay = None;
        if let [(name, bytes)] = &files[..] {
            if name.ends_with(".safetensors") {
                match LmWeights::from_safetensors(bytes) {
                    Ok(w) => {
                        self.check_link_files(&files, &[]);
                        let tokenizer = tokenizer_for(&w, None).map_err(|e| format!("{name}: {e}"));
                        let name = match self.model.is_empty() {
                            true => format!("qplay {}", self.builtin()?.name()),
                            false => file_stem(name),
                        };
                        return Ok(Loaded { weights: w, tokenizer, vocab: None, reference: "FP32".into(), name });
                    }
                    Err(e) => as_qplay = Some(e),
                }
            }
        }
        let named: Vec<(String, &[u8])> = files.iter().map(|(n, b)| (n.clone(), b.as_slice())).collect();
        // A lone .safetensors is qplay's format or a Hugging Face model: when neither reads, both reasons.
        // (qplay's own packed export is neither, and its one reason says so.)
        let m = import_model(&named).map_err(|e| match &as_qplay {
            Some(q) if !qplay::lm::import::is_packed_export(&files[0].1) => format!("{}: as a qplay model: {q}; as a Hugging Face model: {e}", files[0].0),
            _ => e.to_string(),
        })?;
        self.check_link_files(&files, &m.unused);
        let title = m.title.as_ref().map_or(String::new(), |t| format!(" \"{t}\""));
        eprintln!("qplay: read {}{title} ({} parameters)", m.format.name(), m.weights.config.param_count());
        for n in &m.notes {
            eprintln!("qplay: {n}");
        }
        // As on the page: a tokenizer file that does not parse, or another model's, stops every command; a missing
        // one, or one qplay cannot run (a GGUF's "bert" vocabulary), waits for a command that
        // reads text, so that the model still exports.
        let tokenizer = match tokenizer_for(&m.weights, m.vocab.as_ref()) {
            Err(e @ (LmError::Format(_) | LmError::Files(_))) => return Err(e.to_string()),
            t => t.map_err(|e| e.to_string()),
        };
        let reference = match &m.dequantized {
            Some(types) => format!("FP32, dequantized from the file's {types}"),
            None => "FP32".to_string(),
        };
        let name = m.title.clone().unwrap_or_else(|| qplay::lm::import::model_stem(files.iter().map(|(n, _)| n.as_str())).unwrap_or("model").to_string());
        Ok(Loaded { weights: m.weights, tokenizer, vocab: m.vocab, reference, name })
    }

    /// A --link made with the user's own files carries their fingerprint (`files`): files of
    /// other contents are said on stderr, as the page says it (their figures may differ).
    fn check_link_files(&self, files: &[(String, Vec<u8>)], unused: &[String]) {
        let Some((e, _)) = self.link_experiment() else { return };
        if e.model_files.is_empty() || self.model.is_empty() {
            return;
        }
        let used: Vec<(&str, &[u8])> = files.iter().filter(|(n, _)| !unused.contains(n)).map(|(n, b)| (n.as_str(), b.as_slice())).collect();
        let given = qplay::lm::import::files_fingerprint(&used);
        if given != e.model_files {
            eprintln!("qplay: {}", qplay::lm::import::files_differ(&e.model_files, &given));
        }
    }

    /// The built-in model meant when no --model is given: --builtin, else the link's.
    fn builtin(&self) -> Result<BuiltinLm, String> {
        if let Some(b) = &self.builtin {
            return BuiltinLm::from_key(b).ok_or_else(|| format!("--builtin {b}: use small or large"));
        }
        let Some((e, _)) = self.link_experiment() else { return Ok(BuiltinLm::Small) };
        if !e.model.is_empty() {
            return Err(format!("the link was made with your own model \"{}\": give its files with --model", e.model));
        }
        Ok(e.builtin)
    }

    /// The experiment --link describes, and the notices of the keys it skipped.
    fn link_experiment(&self) -> Option<&(qplay::share::lm::LmExperiment, Vec<String>)> {
        self.link_read
            .get_or_init(|| {
                let link = self.link.as_deref()?;
                Some(qplay::share::lm::from_query(link))
            })
            .as_ref()
    }

    /// Calibration token ids for the calibrated methods: the training split, as the model's
    /// tokenizer reads it (empty for RTN).
    fn calibration(&self, cfg: &LmQuantConfig, l: &Loaded) -> Result<Vec<u32>, String> {
        if !cfg.calibrated() {
            return Ok(Vec::new());
        }
        let tok = l.tok()?;
        let text = read_text(&self.assets()?.join("data").join(TRAIN_FILE))?;
        tok.encode(&text).map_err(|e| e.to_string())
    }

    /// Quantizes as the settings say (the method included), with progress on stderr.
    fn quantize(&self, l: &Loaded, cfg: &LmQuantConfig) -> Result<MethodResult, String> {
        let calib = self.calibration(cfg, l)?;
        let start = Instant::now();
        let r = quantize_with_method(&l.weights, cfg, &calib, &mut |d, t| {
            if d == t || d % 8 == 0 {
                eprint!("\r  {} {d}/{t}", cfg.method.name());
                if d == t {
                    eprintln!();
                }
            }
        })
        .map_err(|e| e.to_string())?;
        if cfg.calibrated() {
            eprintln!("  {} took {:.2} s", cfg.method.name(), start.elapsed().as_secs_f64());
        }
        Ok(r)
    }

    /// The settings: the TOML file if any, then the flags.
    fn quant(&self) -> Result<LmQuantConfig, String> {
        self.quant_on(LmWeightFormat::F32)
    }

    /// The settings, with `plain` weights when neither a file, a link nor a flag names them
    /// (the search quantizes with RTN).
    fn quant_on(&self, plain: LmWeightFormat) -> Result<LmQuantConfig, String> {
        let mut c = match &self.config {
            Some(p) => {
                let text = read_text_up_to(p, MAX_CONFIG_BYTES)?;
                toml::from_str::<LmQuantConfig>(&text).map_err(|e| format!("{}: {}", p.display(), qplay::clip::clip_lines(&e.to_string(), 160)))?
            }
            None => LmQuantConfig { weights: plain, ..LmQuantConfig::default() },
        };
        if let Some(call) = &self.ptq_config {
            if self.config.is_some() || self.link.is_some() {
                return Err("--ptq-config gives the settings, as --config and --link do: use one".into());
            }
            // A call has a parenthesis; anything else names a file that holds one.
            let text = if call.contains('(') { call.clone() } else { read_text_up_to(Path::new(call), MAX_CONFIG_BYTES)? };
            let read = qplay::ptq::golden_stick::read_ptq_config(&text, &c).map_err(|e| format!("--ptq-config: {e}"))?;
            for n in &read.notes {
                eprintln!("qplay: PTQConfig: {n}");
            }
            c = read.quant;
        }
        if let Some((e, notices)) = self.link_experiment() {
            for n in notices {
                eprintln!("qplay: {n}");
            }
            if self.config.is_some() {
                return Err("--config and --link both give the settings: use one".into());
            }
            c = e.quant.clone();
        }
        if let Some(w) = &self.weights {
            c.weights = LmWeightFormat::parse(w).ok_or_else(|| {
                format!("--weights {w}: use one of {}", LmWeightFormat::ALL.map(|f| f.name()).join(", "))
            })?;
        }
        if let Some(b) = self.bits {
            c.bits = b;
        }
        // Widths alone (no --weights, config or link) mean RTN weights.
        if (self.bits.is_some() || !self.layer_bits.is_empty()) && self.weights.is_none() && self.config.is_none() && self.link.is_none() && self.ptq_config.is_none() {
            c.weights = LmWeightFormat::Rtn;
        }
        if let Some(g) = self.group {
            c.group = g;
        }
        // --bits, --group, --asym, --narrow and --layer-bits set RTN's grid: another format has
        // its own (q4_0: 4 bits in blocks of 32), and would silently ignore them.
        if c.weights != LmWeightFormat::Rtn {
            let given = [(self.bits.is_some(), "--bits"), (self.group.is_some(), "--group"), (self.asym, "--asym"), (self.narrow, "--narrow"), (!self.layer_bits.is_empty(), "--layer-bits")];
            if let Some(flag) = given.into_iter().find_map(|(given, f)| given.then_some(f)) {
                return Err(format!("{flag} sets the grid of --weights rtn; {} has its own", c.weights.name()));
            }
        }
        c.symmetric &= !self.asym;
        c.narrow |= self.narrow;
        c.int8_acts |= self.int8_acts;
        c.static_acts |= self.static_acts;
        if let Some(kv) = &self.kv {
            c.kv = KvFormat::parse(kv).ok_or_else(|| format!("--kv {kv}: use f32, f16 or int8"))?;
        }
        if let Some(skip) = &self.skip {
            c.skip = skip.iter().filter(|s| s.as_str() != "none").cloned().collect();
        }
        if let Some(m) = &self.method {
            c.method = LmMethod::parse(m).ok_or_else(|| format!("--method {m}: use one of {}", LmMethod::ALL.map(|m| m.name()).join(", ")))?;
        }
        if let Some(v) = self.calib_tokens {
            c.calib_tokens = v;
        }
        if let Some(v) = self.damp {
            c.damp = v;
        }
        c.act_order |= self.act_order;
        if let Some(v) = self.alpha {
            c.alpha = v;
        }
        c.awq_clip |= self.awq_clip;
        c.awq_gptq |= self.awq_gptq;
        if (self.awq_clip || self.awq_gptq) && c.method != LmMethod::Awq {
            let flag = if self.awq_clip { "--awq-clip" } else { "--awq-gptq" };
            return Err(format!("{flag} belongs to AWQ: add --method awq"));
        }
        if self.act_order && !c.gptq_rounds() {
            return Err("--act-order orders GPTQ's columns: add --method gptq, or --method awq --awq-gptq".into());
        }
        if let Some(v) = self.outliers {
            c.outliers = v;
        }
        if let Some(v) = self.outlier_scale {
            c.outlier_scale = v;
        }
        for lb in &self.layer_bits {
            let (name, b) = lb.split_once('=').ok_or_else(|| format!("--layer-bits {lb}: write NAME=BITS"))?;
            let b: u8 = b.parse().map_err(|_| format!("--layer-bits {lb}: {b} is not a number of bits"))?;
            c.layer_bits.insert(name.to_string(), b);
        }
        check_list_sizes(&c)?;
        if c.static_acts && !c.int8_acts {
            return Err("--static-acts (static_acts) sets the scales of int8 activations: add --int8-acts".into());
        }
        c.validate().map_err(|e| e.to_string())?;
        Ok(c)
    }
}

/// Most entries of a skip list or of per-layer bits from the command line or a TOML file: room for
/// every Linear of the largest model read (7 per block × 1,024 blocks, the embedding and the head),
/// so a search's choice fits, while each entry is matched against every Linear.
pub const MAX_LIST_ENTRIES: usize = 8192;
/// Longest name in those lists (characters).
pub const MAX_LIST_NAME: usize = 256;

fn check_list_sizes(c: &LmQuantConfig) -> Result<(), String> {
    for (what, names) in [("skip", c.skip.iter().collect::<Vec<_>>()), ("layer_bits", c.layer_bits.keys().collect())] {
        if names.len() > MAX_LIST_ENTRIES {
            return Err(format!("{what}: {} entries, more than the {MAX_LIST_ENTRIES} a model's Linears can need", names.len()));
        }
        if let Some(long) = names.iter().find(|n| n.chars().count() > MAX_LIST_NAME) {
            return Err(format!("{what}: a name of {} characters (at most {MAX_LIST_NAME}): {:?}…", long.chars().count(), long.chars().take(40).collect::<String>()));
        }
    }
    Ok(())
}

fn val_tokens(m: &ModelArgs, tok: &Tokenizer, n: Option<usize>) -> Result<Vec<u32>, String> {
    let text = read_text(&m.assets()?.join("data").join(VAL_FILE))?;
    // BOS first when the tokenizer has one, as the page reads it.
    let mut ids = tok.encode_document(&text).map_err(|e| e.to_string())?;
    if let Some(n) = n {
        if n < 2 {
            return Err(format!("--tokens {n}: at least 2 tokens are needed"));
        }
        if n > ids.len() {
            eprintln!("--tokens {n}: the validation text is {} tokens long for this tokenizer; scoring all of them", ids.len());
        }
        ids.truncate(n);
    }
    Ok(ids)
}

fn progress(done: usize, total: usize) {
    if done == total || done.is_multiple_of(8) {
        eprint!("\r  {done}/{total} windows");
        if done == total {
            eprintln!();
        }
    }
}

fn run_eval(a: EvalArgs, with_report: bool) -> Result<(), String> {
    let l = a.m.load()?;
    let (w, tok) = (&l.weights, l.tok()?);
    let cfg = a.m.quant()?;
    let tokens = a.tokens.or(a.m.link_experiment().map(|(e, _)| e.tokens)).unwrap_or(DEFAULT_EVAL_TOKENS);
    let ids = val_tokens(&a.m, tok, (!a.all).then_some(tokens))?;
    let fp32 = LmModel::from_weights(w).map_err(|e| e.to_string())?;
    let r = a.m.quantize(&l, &cfg)?;
    let q = &r.quantized;
    let start = Instant::now();
    let out = if cfg == LmQuantConfig::default() && !with_report {
        let p = perplexity(&fp32, &ids, KvFormat::F32, progress).map_err(|e| e.to_string())?;
        json!({ "model": l.reference, "perplexity": p, "bits_per_token": p.nll / std::f64::consts::LN_2,
                "weight_bytes": fp32.weight_bytes(), "seconds": start.elapsed().as_secs_f64() })
    } else {
        let layers = r.layer_reference().map(LmModel::from_weights).transpose().map_err(|e| e.to_string())?;
        let c = compare_layers_against(&fp32, layers.as_ref(), &q.model, &ids, cfg.kv, progress).map_err(|e| e.to_string())?;
        json!({ "config": cfg, "label": cfg.label(), "reference": l.reference, "comparison": c, "layers": q.layers, "method": r.report,
                "fp32_bytes": fp32.weight_bytes(), "weight_bytes": q.model.weight_bytes(),
                "bits_per_weight": q.model.bits_per_weight(),
                "kv_cache_bytes": qplay::lm::KvCache::bytes_for(&w.config, cfg.kv, w.config.seq_len) as u64,
                "seconds": start.elapsed().as_secs_f64() })
    };
    if let Some(dir) = &a.report {
        crate::cli_io::prepare_dir(dir)?;
        crate::cli_io::write_file(&dir.join("report.json"), serde_json::to_string_pretty(&out).expect("JSON").as_bytes())?;
        let mut csv = csv::Writer::from_writer(Vec::new());
        csv.write_record(["layer", "format", "engine", "bytes", "weights", "output_mse", "output_cosine", "output_sqnr_db", "note"])
            .map_err(|e| e.to_string())?;
        let errors = out["comparison"]["layers"].as_array().cloned().unwrap_or_default();
        for l in &q.layers {
            let e = errors.iter().find(|e| e["name"] == l.name.as_str());
            let f = |k: &str| e.and_then(|e| e[k].as_f64()).map(|v| format!("{v:.6e}")).unwrap_or_default();
            csv.write_record([
                l.name.clone(), l.format.clone(), l.engine.clone(), l.bytes.to_string(), l.weights.to_string(),
                f("mse"), f("cosine"), f("sqnr_db"), l.note.clone().unwrap_or_default(),
            ])
            .map_err(|e| e.to_string())?;
        }
        crate::cli_io::write_file(&dir.join("layers.csv"), &csv.into_inner().map_err(|e| e.to_string())?)?;
    }
    println!("{}", serde_json::to_string_pretty(&out).expect("JSON"));
    Ok(())
}

fn run_generate(a: GenerateArgs) -> Result<(), String> {
    let l = a.m.load()?;
    let tok = l.tok()?;
    let cfg = a.m.quant()?;
    let q = a.m.quantize(&l, &cfg)?.quantized;
    // What the flags leave out: the link's, else the defaults.
    let link = a.m.link_experiment().map(|(e, _)| e);
    let (sample, max_new) = link.as_ref().map_or((SampleConfig::default(), 200), |e| (e.sample.clone(), e.max_new));
    let text = a.prompt.clone().or(link.map(|e| e.prompt.clone())).ok_or("--prompt: give the text to continue (or a --link with prompt=)")?;
    let max_new = a.max_new.unwrap_or(max_new);
    let sc = SampleConfig {
        temperature: a.temperature.unwrap_or(sample.temperature),
        top_k: a.top_k.unwrap_or(sample.top_k),
        top_p: a.top_p.unwrap_or(sample.top_p),
        seed: a.seed.unwrap_or(sample.seed),
    };
    let prompt = tok.encode_document(&text).map_err(|e| e.to_string())?;
    let start = Instant::now();
    use std::io::Write;
    let end_of_text = tok.end_of_text();
    // The settings and the prompt's length are checked before anything is printed.
    let gen = Generator::new(&q.model, &prompt, cfg.kv, &sc).map_err(|e| e.to_string())?.stopping_at(&end_of_text).writing_only(tok.vocab_len());
    print!("{text}");
    // Each token's text as the whole decodes (a SentencePiece "▁" after the prompt is a space).
    let (mut ids, mut stream) = (prompt.clone(), TextStream::after(tok, &prompt));
    let out = gen
        .run(max_new, |g| {
            ids.push(g.token);
            print!("{}", stream.next(tok, &ids));
            let _ = std::io::stdout().flush();
            true
        })
        .map_err(|e| e.to_string())?;
    println!("{}", stream.rest(tok, &ids));
    let secs = start.elapsed().as_secs_f64();
    eprintln!("{} tokens in {secs:.3} s ({:.0} tokens/s, {})", out.len(), out.len() as f64 / secs, cfg.label());
    if out.len() < max_new {
        let ctx = q.model.config.seq_len;
        let why = match out.last() {
            Some(g) if end_of_text.contains(&g.token) => format!("the model wrote its end-of-text token ({})", g.token),
            _ => format!("the model's context of {ctx} tokens (prompt included) is full"),
        };
        eprintln!("stopped after {} of the {} tokens asked for: {why}", out.len(), max_new);
    }
    Ok(())
}

/// The configurations of the README's table.
pub fn table_configs() -> Vec<LmQuantConfig> {
    let rtn = |bits, group| LmQuantConfig { weights: LmWeightFormat::Rtn, bits, group, ..LmQuantConfig::default() };
    let mut v = vec![
        LmQuantConfig::default(),
        LmQuantConfig { weights: LmWeightFormat::F16, ..LmQuantConfig::default() },
        LmQuantConfig { weights: LmWeightFormat::Bf16, ..LmQuantConfig::default() },
        rtn(8, 0),
        rtn(8, 32),
        rtn(4, 0),
        rtn(4, 32),
        rtn(4, 64),
        rtn(4, 128),
        LmQuantConfig { symmetric: false, ..rtn(4, 32) },
        rtn(3, 32),
        rtn(2, 32),
        LmQuantConfig { weights: LmWeightFormat::Q8_0, ..LmQuantConfig::default() },
        LmQuantConfig { weights: LmWeightFormat::Q4_0, ..LmQuantConfig::default() },
        LmQuantConfig { weights: LmWeightFormat::Q4_1, ..LmQuantConfig::default() },
        LmQuantConfig { int8_acts: true, ..rtn(8, 0) },
        LmQuantConfig { int8_acts: true, ..rtn(4, 32) },
        LmQuantConfig { kv: KvFormat::Int8, ..LmQuantConfig::default() },
        LmQuantConfig { kv: KvFormat::Int8, ..rtn(8, 0) },
    ];
    v.push(LmQuantConfig { skip: vec![], ..rtn(8, 0) });
    // Part 2's methods at 8, 4 and 3 bits, against RTN's rows above.
    for method in [LmMethod::Gptq, LmMethod::Awq] {
        for (bits, group) in [(8, 0), (4, 32), (3, 32)] {
            v.push(LmQuantConfig { method, ..rtn(bits, group) });
        }
    }
    // SmoothQuant: int8 activations with injected outliers, naive and smoothed, with 8-, 4- and
    // 3-bit weights (and W8A8 smoothed without outliers).
    for (bits, group) in [(8, 0), (4, 32), (3, 32)] {
        let outliers = LmQuantConfig { int8_acts: true, outliers: 4, ..rtn(bits, group) };
        v.push(outliers.clone());
        v.push(LmQuantConfig { method: LmMethod::SmoothQuant, ..outliers });
    }
    v.push(LmQuantConfig { method: LmMethod::SmoothQuant, int8_acts: true, ..rtn(8, 0) });
    // Static activation scales (one per Linear input, calibrated): plain, then with the outliers
    // naive and smoothed.
    let stat = LmQuantConfig { int8_acts: true, static_acts: true, ..rtn(8, 0) };
    v.push(stat.clone());
    v.push(LmQuantConfig { outliers: 4, ..stat.clone() });
    v.push(LmQuantConfig { outliers: 4, method: LmMethod::SmoothQuant, ..stat });
    v
}

fn run_table(a: TableArgs) -> Result<(), String> {
    let l = a.m.load()?;
    let (w, tok) = (&l.weights, l.tok()?);
    let ids = val_tokens(&a.m, tok, Some(a.tokens))?;
    let fp32 = LmModel::from_weights(w).map_err(|e| e.to_string())?;
    let mut md = String::from(
        "| configuration | perplexity | Δ % | KL | same top-1 | RMS Δp | weights (kB) | bits/weight | KV cache (kB) | engine |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut csv = String::from("configuration,perplexity,delta_pct,kl,top1_same,rms_dp,weight_bytes,bits_per_weight,kv_bytes,engine\n");
    for cfg in table_configs() {
        // A row whose settings do not fit the model (a group that does not divide a row of the
        // user's model, a block format on rows not a multiple of 32) is named and left out.
        if let Err(e) = cfg.check_fits(&w.config) {
            eprintln!("{}: not in the table: {e}", cfg.label());
            continue;
        }
        let r = a.m.quantize(&l, &cfg)?;
        let q = &r.quantized;
        // Against the FP32 model the method started from (outlier injection changes its weights,
        // not its function).
        let reference = match &r.reference {
            Some(w) => LmModel::from_weights(w).map_err(|e| e.to_string())?,
            None => fp32.clone(),
        };
        let layers = r.layer_reference().map(LmModel::from_weights).transpose().map_err(|e| e.to_string())?;
        let c = compare_layers_against(&reference, layers.as_ref(), &q.model, &ids, cfg.kv, |_, _| {}).map_err(|e| e.to_string())?;
        let label = cfg.label();
        let engine = q.model.blocks[0].wq.engine();
        let kv = qplay::lm::KvCache::bytes_for(&w.config, cfg.kv, w.config.seq_len);
        let bpw = q.model.bits_per_weight();
        md.push_str(&format!(
            "| {label} | {:.4} | {:+.2} | {:.5} | {:.2} % | {:.4} | {:.1} | {:.2} | {:.0} | {engine} |\n",
            c.quantized.perplexity, c.delta_pct, c.mean_kl, c.top1_same * 100.0, c.rms_delta_p,
            q.model.weight_bytes() as f64 / 1000.0, bpw, kv as f64 / 1000.0
        ));
        csv.push_str(&format!(
            "{label},{:.6},{:.4},{:.6},{:.6},{:.6},{},{bpw:.4},{kv},{engine}\n",
            c.quantized.perplexity, c.delta_pct, c.mean_kl, c.top1_same, c.rms_delta_p, q.model.weight_bytes()
        ));
        eprintln!("{label}: ppl {:.4} ({:+.2} %)", c.quantized.perplexity, c.delta_pct);
    }
    if let Some(p) = &a.csv {
        crate::cli_io::write_file(p, csv.as_bytes())?;
    }
    println!("{md}");
    Ok(())
}

fn run_bench(a: BenchArgs) -> Result<(), String> {
    // Every format is timed: quantization settings would be silently unused.
    if a.m.quant()? != LmQuantConfig::default() {
        return Err("lm bench times every format (FP32, W8, W8A8, Q8_0, W4 g32, Q4_0, …) itself: leave out the quantization settings (--weights, --bits, --group, …)".into());
    }
    let w = a.m.load()?.weights;
    if a.tokens == 0 || a.tokens > w.config.seq_len {
        return Err(format!("--tokens {}: use 1 to the context length {}", a.tokens, w.config.seq_len));
    }
    let start = Instant::now();
    let clock = move || start.elapsed().as_secs_f64();
    let (formats, skipped) = qplay::lm::bench::applicable_formats(&w, &qplay::lm::bench::bench_formats());
    for why in &skipped {
        eprintln!("qplay: not timed: {why}");
    }
    if !formats.iter().any(|(label, _)| *label == "fp32") {
        return Err(format!("the FP32 model does not run, so nothing is timed ({})", skipped.join("; ")));
    }
    let mut lines = qplay::lm::bench::decode_speed(&clock, "model", &w, &formats, a.tokens, 5);
    lines.extend(qplay::lm::bench::linears_speed(&clock, "model", &w, &formats, a.tokens, 5));
    for l in &lines {
        println!("{}", l.to_line());
    }
    for r in qplay::lm::bench::ratios_to_fp32(&lines) {
        println!("{r}");
    }
    Ok(())
}

fn run_export(a: ExportArgs) -> Result<(), String> {
    crate::cli_io::prepare_out(&a.out)?;
    let l = a.m.load()?;
    let cfg = a.m.quant()?;
    let bytes = match a.format.as_str() {
        "gguf" => {
            let ty = match cfg.weights {
                LmWeightFormat::F32 => GgufWeightType::F32,
                LmWeightFormat::F16 => GgufWeightType::F16,
                LmWeightFormat::Q8_0 => GgufWeightType::Block(qplay::quant::ggml::GgmlType::Q8_0),
                LmWeightFormat::Q4_0 => GgufWeightType::Block(qplay::quant::ggml::GgmlType::Q4_0),
                LmWeightFormat::Q4_1 => GgufWeightType::Block(qplay::quant::ggml::GgmlType::Q4_1),
                other => return Err(format!("--format gguf: --weights {} has no GGUF block type (use f32, f16, q8_0, q4_0 or q4_1)", other.name())),
            };
            if cfg.method != LmMethod::Rtn || cfg.outliers > 0 {
                return Err("--format gguf writes llama.cpp's own round-to-nearest blocks: use --method rtn".into());
            }
            // A GGUF file holds every matrix at its one type and no run-time setting: a flag it
            // cannot carry is refused rather than named in a label the file contradicts.
            for (given, flag, why) in [
                (a.m.skip.is_some(), "--skip", "every matrix, the output and the embedding included, is written at the one type"),
                (!cfg.layer_bits.is_empty(), "--layer-bits", "every matrix is written at the one type"),
                (cfg.int8_acts, "--int8-acts", "activations are llama.cpp's to quantize at run time"),
                (cfg.kv != KvFormat::F32, "--kv", "the KV cache is llama.cpp's run-time setting (its --cache-type-k / -v)"),
            ] {
                if given {
                    return Err(format!("{flag}: a GGUF export cannot carry it: {why}"));
                }
            }
            match (&l.tokenizer, &l.vocab) {
                (Err(why), None) => eprintln!("qplay: the GGUF file has no tokenizer, which llama.cpp needs to load it ({why})"),
                (Err(why), Some(RawVocab::Tokens(_))) => {
                    eprintln!("qplay: the model's vocabulary is written as its file carries it, though qplay does not run it ({why})")
                }
                // A tokenizer.json qplay cannot read is refused by the writer, with the reason.
                _ => {}
            }
            qplay::lm::import::write_gguf(&l.weights, &l.name, ty, l.vocab.as_ref()).map_err(|e| e.to_string())?
        }
        "onnx" => {
            if cfg.kv != KvFormat::F32 {
                return Err(format!("--kv {}: the ONNX export has no KV cache (it scores whole windows at once); leave --kv out", cfg.kv.name()));
            }
            let r = a.m.quantize(&l, &cfg)?;
            qplay::formats::onnx_lm::write_lm_onnx(&r.quantized).map_err(|e| e.to_string())?
        }
        "safetensors" => {
            let r = a.m.quantize(&l, &cfg)?;
            qplay::formats::lm_safetensors::write_lm_safetensors(&r.quantized, l.weights.alphabet.as_deref()).map_err(|e| e.to_string())?
        }
        f => return Err(format!("--format {f}: use gguf, onnx or safetensors")),
    };
    crate::cli_io::write_file(&a.out, &bytes)?;
    // A GGUF file's matrices are all at its one type, the output and embedding included.
    let label = if a.format == "gguf" { LmQuantConfig { skip: Vec::new(), ..cfg.clone() }.label() } else { cfg.label() };
    println!("{}", json!({ "out": a.out.display().to_string(), "bytes": bytes.len(), "label": label }));
    Ok(())
}

fn run_search(a: SearchArgs) -> Result<(), String> {
    use qplay::ptq::lm_sensitivity::{search_mixed_precision, SearchSettings, SearchTarget};
    if !a.m.layer_bits.is_empty() {
        return Err("--layer-bits: the search chooses every Linear's width itself; leave --layer-bits out".into());
    }
    let l = a.m.load()?;
    let cfg = a.m.quant_on(LmWeightFormat::Rtn)?;
    if !cfg.layer_bits.is_empty() {
        eprintln!("qplay: the search chooses every Linear's width itself: the {} per-layer widths of the settings are not used", cfg.layer_bits.len());
    }
    let link = a.m.link_experiment().map(|(e, _)| e);
    let target = match (a.budget_bpw, a.budget_bytes, a.kl_target, &link) {
        (Some(b), None, None, _) => SearchTarget::BitsPerWeight(b),
        (None, Some(b), None, _) => SearchTarget::Bytes(b),
        (None, None, Some(k), _) => SearchTarget::Kl(k),
        (None, None, None, Some(e)) => e.search.target,
        _ => return Err("give one of --budget-bpw, --budget-bytes or --kl-target (or a --link)".into()),
    };
    let (low, high, tokens) = link.as_ref().map_or((4, 8, 1025), |e| (e.search.low_bits, e.search.high_bits, e.search_tokens));
    let settings = SearchSettings { low_bits: a.low_bits.unwrap_or(low), high_bits: a.high_bits.unwrap_or(high), target };
    let ids = val_tokens(&a.m, l.tok()?, Some(a.tokens.unwrap_or(tokens)))?;
    let start = Instant::now();
    let mut sensitivity_seconds = None;
    let r = search_mixed_precision(&l.weights, &cfg, &settings, &ids, &mut |p| {
        // The sensitivity pass ("step 1 of 2, …") ends at the first candidate ("step 2 of 2, …").
        if sensitivity_seconds.is_none() && p.stage.starts_with("step 2") {
            sensitivity_seconds = Some(start.elapsed().as_secs_f64());
        }
        // On a terminal the line is rewritten in place (\x1b[K clears its end); else one line each.
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            eprint!("\r  {} {}/{}\x1b[K", p.stage, p.done, p.total);
        } else {
            eprintln!("  {} {}/{}", p.stage, p.done, p.total);
        }
        true
    })
    .map_err(|e| e.to_string())?;
    let seconds = start.elapsed().as_secs_f64();
    eprintln!();
    eprintln!("FP32 perplexity {:.4} on {} predictions; {} Linears searched", r.fp32.perplexity, ids.len() - 1, r.sensitivity.len());
    eprintln!("{:<28} {:>12} {:>12} {:>10}", "layer (most sensitive first)", "KL alone", "sensitivity", "bytes saved");
    for s in &r.sensitivity {
        eprintln!("{:<28} {:>12.6} {:>12.6} {:>10}", s.name, s.kl, s.sensitivity, s.bytes_high - s.bytes_low);
    }
    eprintln!("{:<44} {:>10} {:>8} {:>10} {:>10} front", "candidate", "bytes", "bits/w", "KL", "perplexity");
    for (i, c) in r.candidates.iter().enumerate() {
        let mark = if i == r.chosen { " <- chosen" } else { "" };
        eprintln!(
            "{:<44} {:>10} {:>8.4} {:>10.6} {:>10.4} {}{mark}",
            c.label, c.bytes, c.bits_per_weight, c.score.mean_kl, c.score.perplexity, if c.on_front { "*" } else { "" }
        );
    }
    let chosen = &r.candidates[r.chosen];
    eprintln!(
        "chosen: {} ({} bytes, {:.4} bits per weight, KL {:.6}, perplexity {:.4}); sensitivity {:.2} s, total {seconds:.2} s",
        chosen.label, chosen.bytes, chosen.bits_per_weight, chosen.score.mean_kl, chosen.score.perplexity,
        sensitivity_seconds.unwrap_or(seconds)
    );
    let out = json!({ "report": r, "chosen_layer_bits": chosen.layer_bits, "tokens": ids.len(),
                      "sensitivity_seconds": sensitivity_seconds, "seconds": seconds });
    if let Some(p) = &a.out {
        let body = if p.extension().is_some_and(|e| e == "csv") {
            let mut csv = csv::Writer::from_writer(Vec::new());
            let fail = |e: csv::Error| e.to_string();
            csv.write_record(["label", "bytes", "bits_per_weight", "model_bytes", "mean_kl", "perplexity", "on_front", "chosen", "layer_bits"]).map_err(fail)?;
            for (i, c) in r.candidates.iter().enumerate() {
                let bits = c.layer_bits.iter().map(|(n, b)| format!("{n}={b}")).collect::<Vec<_>>().join(" ");
                csv.write_record([
                    c.label.clone(), c.bytes.to_string(), format!("{:.6}", c.bits_per_weight), c.model_bytes.to_string(),
                    format!("{:.8}", c.score.mean_kl), format!("{:.6}", c.score.perplexity), c.on_front.to_string(),
                    (i == r.chosen).to_string(), bits,
                ])
                .map_err(fail)?;
            }
            csv.into_inner().map_err(|e| e.to_string())?
        } else {
            serde_json::to_vec_pretty(&out).expect("JSON")
        };
        crate::cli_io::write_file(p, &body)?;
    }
    println!("{}", serde_json::to_string_pretty(&out).expect("JSON"));
    Ok(())
}

/// A number flag held in f32: one past f32's range (1e308 would read as ∞, a nonzero 1e-50 as 0)
/// is named with the value typed, before any setting's own range check sees it.
fn f32_in_range(text: &str) -> Result<f32, String> {
    let v: f64 = text.trim().parse().map_err(|_| format!("{text:?} is not a number"))?;
    if !v.is_finite() {
        return Err(format!("{text} is not a finite number"));
    }
    qplay::decimal::narrow_to_f32(v).ok_or_else(|| format!("{text} is {}, in which the setting is held", qplay::decimal::BEYOND_F32))
}

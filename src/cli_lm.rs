//! `qplay lm`: language models on the command line.
//!
//! ```text
//! qplay lm train [--steps N --batch B --seed S …]        train the built-in Shakespeare model
//! qplay lm eval  [--model FILE] [--tokens N | --all]    FP32 perplexity on the validation split
//! ```
//!
//! Progress goes to stderr; results as JSON to stdout.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Subcommand};
use serde_json::json;

use qplay::lm::corpus::{gunzip_text, MODEL_FILE, TRAIN_FILE, VAL_FILE};
use qplay::lm::train::{train, TrainConfig};
use qplay::lm::{CharTokenizer, LmConfig, LmWeights};

#[derive(Subcommand)]
pub enum LmCommand {
    /// Train the built-in model on the Shakespeare corpus (deterministic from the seed).
    Train(TrainArgs),
}

#[derive(Args)]
pub struct TrainArgs {
    /// Where the assets are (data/, models/).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/www"))]
    assets: PathBuf,
    /// Output file (default: ASSETS/models/shakespeare.safetensors).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, default_value_t = TrainConfig::default().seed)]
    seed: u64,
    #[arg(long, default_value_t = TrainConfig::default().steps)]
    steps: usize,
    #[arg(long, default_value_t = TrainConfig::default().batch)]
    batch: usize,
    #[arg(long, default_value_t = TrainConfig::default().threads)]
    threads: usize,
    #[arg(long, default_value_t = TrainConfig::default().lr)]
    lr: f32,
    #[arg(long, default_value_t = TrainConfig::default().eval_every)]
    eval_every: usize,
    /// The training log as CSV (step, lr, train loss, val loss, gradient norm).
    #[arg(long)]
    log: Option<PathBuf>,
}

pub fn run(cmd: LmCommand) -> Result<(), String> {
    match cmd {
        LmCommand::Train(a) => run_train(a).map_err(|e| e.to_string()),
    }
}

/// Reads a regular file of at most `limit` bytes, checking its size before reading.
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{}: not a regular file", path.display()));
    }
    if meta.len() > limit {
        return Err(format!("{}: the file is {} bytes; the limit is {limit} bytes", path.display(), meta.len()));
    }
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads a gzip text file with its size checked first.
pub fn read_text(path: &Path) -> Result<String, String> {
    let bytes = read_limited(path, 64 << 20)?;
    gunzip_text(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn run_train(a: TrainArgs) -> Result<(), Box<dyn std::error::Error>> {
    let train_text = read_text(&a.assets.join("data").join(TRAIN_FILE))?;
    let val_text = read_text(&a.assets.join("data").join(VAL_FILE))?;
    let tokenizer = CharTokenizer::from_text(&train_text);
    let config = LmConfig::shakespeare();
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
    let out = a.out.unwrap_or_else(|| a.assets.join("models").join(MODEL_FILE));
    std::fs::write(&out, w.to_safetensors()?)?;
    if let Some(log) = a.log {
        std::fs::write(log, csv)?;
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

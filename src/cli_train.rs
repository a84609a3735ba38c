//! `qplay train`: the pretrained FP32 baselines, made reproducibly by qplay's own trainer.
//!
//! ```text
//! qplay train --arch mlp --dataset fashion --out www/models/mlp-fashion.safetensors
//! ```
//!
//! Deterministic: the same flags give the same weights bit for bit (see `qplay::train::fit`).
//! Progress goes to stderr; a JSON summary (accuracy on the test split) to stdout.

use std::path::PathBuf;
use std::time::Instant;

use clap::ValueEnum;
use serde_json::json;

use qplay::data::{read_qds, Dataset};
use qplay::formats::safetensors::write_model;
use qplay::model::zoo::{lab_mlp, small_cnn};
use qplay::train::fit::{accuracy, fit, FitConfig};
use qplay::train::net::Net;
use qplay::train::optim::Optimizer;

#[derive(Clone, Copy, ValueEnum)]
pub enum ArchArg {
    /// The lab's MLP 784-128-64-10.
    Mlp,
    /// A small CNN: conv 1→8, pool, conv 8→16, pool, linear 784→10.
    Cnn,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DatasetArg {
    Fashion,
    Mnist,
}

impl DatasetArg {
    pub fn name(self) -> &'static str {
        match self {
            DatasetArg::Fashion => "fashion",
            DatasetArg::Mnist => "mnist",
        }
    }
}

#[derive(clap::Args)]
pub struct TrainArgs {
    #[arg(long, value_enum)]
    arch: ArchArg,
    #[arg(long, value_enum)]
    dataset: DatasetArg,
    #[arg(long, default_value_t = 8)]
    epochs: usize,
    /// Images per batch, 1–4096 (QAT's limits).
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Adam's learning rate, in (0, 1).
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    /// Seeds the initial weights and the batch order.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where the embedded datasets are.
    #[arg(long, default_value = "www/data")]
    data_dir: PathBuf,
    /// The .safetensors file to write (`qplay convert` makes an .onnx of it).
    #[arg(long)]
    out: PathBuf,
}

/// Reads `<dir>/<name>-<split>.qds.gz`.
pub fn load_dataset(dir: &std::path::Path, name: &str, split: &str) -> Result<Dataset, String> {
    let path = dir.join(format!("{name}-{split}.qds.gz"));
    let bytes = crate::cli_io::read_file(&path)?;
    read_qds(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn train(a: &TrainArgs) -> Result<(), String> {
    // The limits of QAT's settings (`Experiment::validate`), checked before anything is read.
    if !(a.lr > 0.0 && a.lr < 1.0) {
        return Err(format!("--lr {}: outside (0, 1)", a.lr));
    }
    if a.batch == 0 || a.batch > 4096 {
        return Err(format!("--batch {}: outside 1–4096", a.batch));
    }
    if !a.out.extension().is_some_and(|e| e.eq_ignore_ascii_case("safetensors")) {
        return Err(format!("--out {}: train writes a .safetensors file (qplay convert makes an .onnx of it)", a.out.display()));
    }
    let data_dir = crate::cli_io::assets_dir("--data-dir", &a.data_dir, "the datasets (the repository's www/data)")?;
    let train = load_dataset(&data_dir, a.dataset.name(), "train")?;
    let test = load_dataset(&data_dir, a.dataset.name(), "test")?;
    let model = match a.arch {
        ArchArg::Mlp => lab_mlp(a.seed),
        ArchArg::Cnn => small_cnn(a.seed).map_err(|e| e.to_string())?,
    };
    let mut net = Net::new(model).map_err(|e| e.to_string())?;
    let cfg = FitConfig { epochs: a.epochs, batch: a.batch, optimizer: Optimizer::adam(a.lr), seed: a.seed, report_every: 100 };
    let t0 = Instant::now();
    fit(&mut net, &train, &cfg, &mut |p| {
        eprintln!("epoch {}/{} batch {}/{} loss {:.4} ({:.0} s)", p.epoch + 1, p.epochs, p.batch, p.batches, p.loss, t0.elapsed().as_secs_f64());
        true
    });
    let acc = accuracy(&mut net, &test);
    let bytes = write_model(&net.model).map_err(|e| e.to_string())?;
    crate::cli_io::write_file(&a.out, &bytes)?;
    let summary = json!({
        "out": a.out.display().to_string(),
        "dataset": a.dataset.name(),
        "train_images": train.len(),
        "test_images": test.len(),
        "epochs": a.epochs,
        "batch": a.batch,
        "lr": a.lr,
        "seed": a.seed,
        "test_accuracy": acc,
        "bytes": bytes.len(),
        "seconds": t0.elapsed().as_secs_f64(),
    });
    println!("{}", serde_json::to_string_pretty(&summary).expect("json"));
    Ok(())
}

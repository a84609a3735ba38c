//! `qplay run`: any experiment, sweep or search, headless.
//!
//! ```text
//! qplay run experiment.toml [--out DIR]              an experiment description (TOML)
//! qplay run config.ini --model mlp-fashion [--out DIR]   MindSpore Lite's converter config (INI)
//! qplay run --set ptq.weight_bits=4 --set ptq.act_calibration.method=kl   the defaults plus settings
//! ```
//!
//! `--set KEY=VALUE` takes the dotted keys of the TOML and the share link (`ptq.weight_bits`,
//! `ptq.granularity.kind`, `task`, `seed`, …), each range-checked the same way; a key that is
//! unknown or a value that is invalid is an error that names it.
//!
//! The report goes to stdout as JSON. With `--out DIR` (or the INI's `debug_info_save_path`)
//! it is also written as `report.json` beside CSV files: `statistics.csv` and `quant_params.csv`
//! (MindSpore Lite's debug reports), `layers.csv` (with the engine of each layer and why the
//! simulation ran it, when it did), a PTQ run's `predictions.npy` (the quantized
//! class of every evaluation image, from the engine the report names), and the task's own table (`layerwise.csv`,
//! `sweep.csv`, `candidates.csv`, `qat.csv`). Progress goes to stderr.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli_io::MAX_CONFIG_BYTES;
use crate::cli_train::load_dataset;
use qplay::clip::clip_lines;
use qplay::data::Dataset;
use qplay::experiment::debug_rounds::write_debug_info;
use qplay::experiment::ini::from_ini;
use qplay::experiment::layerwise::run_layerwise;
use qplay::experiment::mixed_bit::run_mixed_bit;
use qplay::experiment::qat::run_qat;
use qplay::experiment::run::{calibration_images, eval_set, fp32_baseline, run_ptq_exec, PtqReport};
use qplay::experiment::speed::{model_speed, ModelSpeed};
use qplay::experiment::spec::{BUILTIN_MODELS, FILE_MODEL};
use qplay::experiment::shard::Shard;
use qplay::experiment::sweep::run_sweep;
use qplay::experiment::{Experiment, Progress, Task};
use qplay::formats::safetensors::read_model;
use qplay::model::{Model, DEFAULT_MAX_PARAMS};
use qplay::report::{distribution_csv, quant_param_csv};

/// The modes of `--set ptq.mode=…` and the engine [`qplay::ptq::executable`] gives each layer.
const MODES_HELP: &str = "\
Modes (--set ptq.mode=MODE) and the engine that runs each quantized layer:
  full         static activations: `int8`, the integer-only network, when every layer has weights of at most
               8 bits, symmetric, per tensor or per channel, signed 8-bit activations and no SmoothQuant;
               else every layer `simulated` (fake-quant), with the reason
  dynamic      ptq.dynamic_strategy=ALWC (the default) with 8-bit activations: `int8 dynamic`, the int8
               GEMM with each batch's (s, Z); ACWL or other activation bits: `simulated`, with the reason
  weight_only  ptq.weight_bits=1, 2, 4 or 8: `weight-only W<bits>`, packed weights dequantized row by row;
               other bits: `simulated`, with the reason
The report names each layer's engine and, for a simulated one, why (report.layers[].engine in the JSON,
the engine and fallback columns of layers.csv, and stderr).";

#[derive(clap::Args)]
#[command(after_help = MODES_HELP)]
pub struct RunArgs {
    /// An experiment description (.toml) or a MindSpore Lite config (.ini / .cfg); default: the
    /// default experiment.
    config: Option<PathBuf>,
    /// A setting as KEY=VALUE with the TOML's dotted key (e.g. ptq.weight_bits=4); repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE", allow_hyphen_values = true)]
    set: Vec<String>,
    /// A built-in model (mlp-fashion, mlp-mnist, cnn-fashion); overrides the file's.
    #[arg(long)]
    model: Option<String>,
    /// A model file (.safetensors or .onnx) instead of a built-in one.
    #[arg(long, conflicts_with = "model")]
    model_file: Option<PathBuf>,
    /// The dataset (fashion, mnist); defaults to the built-in model's own.
    #[arg(long)]
    dataset: Option<String>,
    /// Where the assets are (models/, data/).
    #[arg(long, default_value = "www")]
    assets: PathBuf,
    /// Also write report.json and the CSV tables here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// After a PTQ run, time FP32 against the quantized model (latency at batch 1, throughput
    /// at batch 100, fewer for a slow model) and print them beside the accuracies, as Neural Compressor's benchmark
    /// does; with --out, also benchmark.csv. Timings differ from run to run: report.json holds
    /// none of them.
    #[arg(long)]
    benchmark: bool,
}

fn load_model(exp: &Experiment, args: &RunArgs) -> Result<Model, String> {
    if let Some(p) = &args.model_file {
        // A .safetensors or an .onnx file, as the Model page reads them, and refused as it
        // refuses one that cannot run on the datasets (not at the first batch, unnamed).
        let model = crate::cli_io::load_model_file(p, None)?;
        qplay::experiment::run::fits_the_datasets(&model).map_err(|e| format!("{}: {e}", p.display()))?;
        return Ok(model);
    }
    let file = BUILTIN_MODELS.iter().find(|(n, _, _)| *n == exp.model).map(|(_, _, f)| *f).ok_or_else(|| format!("model: unknown model \"{}\"", exp.model))?;
    let path = crate::cli_io::assets_dir("--assets", &args.assets, crate::cli_io::ASSETS_HOLD)?.join("models").join(file);
    let bytes = crate::cli_io::read_file(&path)?;
    read_model(&bytes, None, DEFAULT_MAX_PARAMS).map_err(|e| format!("{}: {e}", path.display()))
}

fn csv_of<T: Serialize>(rows: &[T]) -> Result<String, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r).map_err(|e| e.to_string())?;
    }
    String::from_utf8(w.into_inner().map_err(|e| e.to_string())?).map_err(|e| e.to_string())
}

fn write(dir: &Path, name: &str, text: &str) -> Result<(), String> {
    crate::cli_io::write_file(&dir.join(name), text.as_bytes())
}

/// The description with `KEY=VALUE` settings on top, through the share link's decoder (so every
/// key is range-checked as it is in a link); any notice is an error.
fn apply_sets(exp: Experiment, sets: &[String]) -> Result<Experiment, String> {
    if sets.is_empty() {
        return Ok(exp);
    }
    let mut pairs = Vec::new();
    for s in sets {
        let (k, v) = s.split_once('=').ok_or_else(|| format!("--set {s}: write KEY=VALUE"))?;
        let enc = |x: &str| form_urlencoded::byte_serialize(x.as_bytes()).collect::<String>();
        pairs.push(format!("{}={}", enc(k.trim()), enc(v.trim())));
    }
    let base = qplay::share::experiment::to_query(&exp);
    let query = if base.is_empty() { pairs.join("&") } else { format!("{base}&{}", pairs.join("&")) };
    let (out, notices) = qplay::share::experiment::from_query(&query);
    if let Some(n) = notices.first() {
        // The decoder speaks of a link that drops what it cannot take; here the run stops.
        let n = n.strip_prefix("Ignored ").unwrap_or(n).replacen(" in the link", "", 1);
        return Err(format!("--set: {n}"));
    }
    Ok(out)
}

pub fn run(args: &RunArgs) -> Result<(), String> {
    let text = match &args.config {
        Some(p) => crate::cli_io::read_text_up_to(p, MAX_CONFIG_BYTES)?,
        None => String::new(),
    };
    let ext = args.config.as_ref().and_then(|c| c.extension()).and_then(|e| e.to_str()).unwrap_or("");
    let mut base = Experiment::default();
    if let Some(m) = &args.model {
        base.model = m.clone();
    }
    let (mut exp, mut ini) = if ext == "ini" || ext == "cfg" {
        let c = from_ini(&text, base).map_err(|e| clip_lines(&e.to_string(), 160))?;
        (c.experiment.clone(), Some(c))
    } else {
        (Experiment::from_toml(&text).map_err(|e| clip_lines(&e.to_string(), 160))?, None)
    };
    if let Some(m) = &args.model {
        exp.model = m.clone();
    }
    if args.model_file.is_some() {
        exp.model = FILE_MODEL.into();
    }
    exp = apply_sets(exp, &args.set)?;
    if args.model_file.is_some() {
        exp.model = FILE_MODEL.into();
    }
    exp.dataset = args.dataset.clone().or_else(|| Experiment::builtin_dataset(&exp.model).map(String::from)).unwrap_or(exp.dataset);
    exp.validate().map_err(|e| e.to_string())?;
    let model = load_model(&exp, args)?;
    let mut notes = Vec::new();
    if let Some(c) = &mut ini {
        c.experiment = exp.clone();
        let added = c.apply_thresholds(&model);
        if !added.is_empty() {
            notes.push(format!("min_quant_weight_size / min_quant_weight_channel skip: {}", added.join(", ")));
        }
        notes.extend(c.notes.clone());
        exp = c.experiment.clone();
    }
    let data_dir = crate::cli_io::assets_dir("--assets", &args.assets, crate::cli_io::ASSETS_HOLD)?.join("data");
    let train: Dataset = load_dataset(&data_dir, &exp.dataset, "train")?;
    let test = load_dataset(&data_dir, &exp.dataset, "test")?;
    let calib = calibration_images(&exp, &train);
    let eval = eval_set(&exp, &test);
    let baseline = fp32_baseline(&model, &eval).map_err(|e| e.to_string())?;
    let mut progress = |p: &Progress| {
        match p.value {
            Some(v) => eprintln!("[{}/{}] {} ({v:.4})", p.done, p.total, p.stage),
            None => eprintln!("[{}/{}] {}", p.done, p.total, p.stage),
        }
        true
    };
    let out_dir = args.out.clone().or_else(|| ini.as_ref().and_then(|c| c.debug_info_save_path.as_ref().map(PathBuf::from)));
    if let Some(d) = &out_dir {
        crate::cli_io::prepare_dir(d)?;
    }
    if args.benchmark && exp.task != Task::Ptq {
        return Err(format!("--benchmark times a PTQ run's two models; the task is {}", exp.task.name()));
    }
    let e = |err: qplay::experiment::ExperimentError| err.to_string();
    let report = match exp.task {
        Task::Ptq => {
            let (mut r, exec) = run_ptq_exec(&exp, &model, &calib, &eval, &baseline, Shard::ALL).map_err(e)?;
            r.notes.extend(notes.clone());
            eprintln!(
                "FP32 {:.2} %  quantized {:.2} % ({})  agreement {:.2} %  {} → {} bytes ({:.2}×)",
                100.0 * r.fp32_accuracy, 100.0 * r.accuracy, r.engine, 100.0 * r.agreement, r.fp32_bytes, r.bytes, r.compression
            );
            for l in &r.layers {
                match l.engine.reason() {
                    // Static layers run in one integer-only network, all or none: a layer
                    // simulated for another layer's reason says so.
                    Some(why) if why.layer() != Some(l.name.as_str()) => {
                        eprintln!("layer {}: {} (with the whole integer-only network, which runs all static layers or none: {why})", l.name, l.engine.name())
                    }
                    Some(why) => eprintln!("layer {}: {} ({why})", l.name, l.engine.name()),
                    None => eprintln!("layer {}: {}", l.name, l.engine.name()),
                }
            }
            for n in &r.notes {
                eprintln!("note: {n}");
            }
            if args.benchmark {
                let t0 = std::time::Instant::now();
                let s = model_speed(&|| t0.elapsed().as_secs_f64(), &model, &exec, &eval).map_err(e)?;
                let rows = benchmark_rows(&r, &s);
                for row in &rows {
                    eprintln!("{row}");
                }
                if let Some(d) = &out_dir {
                    write(d, "benchmark.csv", &csv_of(&rows)?)?;
                }
            }
            if let Some(d) = &out_dir {
                write(d, "statistics.csv", &distribution_csv(&r.statistics).map_err(|x| x.to_string())?)?;
                write(d, "quant_params.csv", &quant_param_csv(&r.quant_params).map_err(|x| x.to_string())?)?;
                if ini.is_some() {
                    // MindSpore Lite's debug files under its own names: one report per
                    // calibration round, the output summary, quant_param.csv.
                    write_debug_info(&exec.quant, &calib, &mut |name, text| write(d, name, text)).map_err(e)?;
                }
                let rows: Vec<_> = r
                    .layers
                    .iter()
                    .map(|l| {
                        serde_json::json!({
                            "layer": l.name, "kind": l.kind, "bits": l.bits, "granularity": l.granularity, "params": l.params,
                            "engine": l.engine.name(), "fallback": l.engine.reason().map(|r| r.to_string()),
                            "fp32_bytes": l.fp32_bytes, "bytes": l.bytes,
                            "weight_mse": l.weight.mse, "weight_cosine": l.weight.cosine, "weight_sqnr_db": l.weight.sqnr_db,
                            "output_mse": l.output.mse, "output_cosine": l.output.cosine, "output_sqnr_db": l.output.sqnr_db,
                        })
                    })
                    .collect();
                write(d, "layers.csv", &json_rows_csv(&rows))?;
                // The quantized predictions (the engine's that the report names), one per evaluation image.
                let pred: Vec<i32> = r.predictions.iter().map(|&p| p as i32).collect();
                let npy = qplay::formats::npy::write_npy_int(&pred, &[pred.len()], 0, 255);
                crate::cli_io::write_file(&d.join("predictions.npy"), &npy)?;
            }
            serde_json::to_value(&r)
        }
        Task::Layerwise => {
            let r = run_layerwise(&exp, &model, &calib, &eval, &baseline, &mut progress).map_err(e)?;
            for p in &r.points {
                eprintln!("{:>12}  MSE layer by layer {:.6}  all at once {:.6}  sequential {:.6}", p.name, p.mse(qplay::experiment::layerwise::Mode::LayerByLayer), p.mse(qplay::experiment::layerwise::Mode::AllAtOnce), p.mse(qplay::experiment::layerwise::Mode::Sequential));
            }
            if let Some(d) = &out_dir {
                let rows: Vec<_> = r
                    .points
                    .iter()
                    .flat_map(|p| p.modes.iter().map(move |m| serde_json::json!({"point": p.name, "layer": p.layer, "mode": m.mode.name(), "mse": m.metrics.mse, "cosine": m.metrics.cosine, "sqnr_db": m.metrics.sqnr_db})))
                    .collect();
                write(d, "layerwise.csv", &json_rows_csv(&rows))?;
            }
            serde_json::to_value(&r)
        }
        Task::Sweep => {
            let r = run_sweep(&exp, &model, &calib, &eval, &baseline, Shard::ALL, &mut progress).map_err(e)?;
            if let Some(d) = &out_dir {
                let rows: Vec<_> = r.cells.iter().map(|c| serde_json::json!({"bits": c.bits, "granularity": c.granularity.name(), "calibration": c.calibration.name(), "accuracy": c.accuracy, "output_sqnr_db": c.output_sqnr_db, "weight_sqnr_db": c.weight_sqnr_db, "bytes": c.bytes})).collect();
                write(d, "sweep.csv", &json_rows_csv(&rows))?;
            }
            serde_json::to_value(&r)
        }
        Task::MixedBit | Task::SizeBudget => {
            let r = run_mixed_bit(&exp, &model, &calib, &eval, &baseline, &mut progress).map_err(e)?;
            eprintln!(
                "proposed {:?}: {} bytes (uniform 8-bit {}), cosine {:.5} (target {}), accuracy {:.2} %",
                r.selection.bits, r.selection.bytes, r.uniform8.bytes, r.selection.cosine, r.target_cosine, 100.0 * r.selection.accuracy.unwrap_or(0.0)
            );
            if let Some(why) = &r.replaced {
                eprintln!("  (the search's own selection is not on the Pareto front: {why})");
            }
            if let Some(d) = &out_dir {
                let rows: Vec<_> = r.candidates.iter().map(|c| serde_json::json!({"label": c.label, "bytes": c.bytes, "cosine": c.cosine, "accuracy": c.accuracy, "on_front": c.on_front})).collect();
                write(d, "candidates.csv", &json_rows_csv(&rows))?;
            }
            serde_json::to_value(&r)
        }
        Task::Qat => {
            let o = run_qat(&exp, &model, &calib, &train, &eval, &baseline, &mut progress).map_err(e)?;
            for row in &o.report.table {
                eprintln!("{:>5}  {:>8} bytes  {:.2} %", row.model, row.bytes, 100.0 * row.accuracy);
            }
            for n in &o.report.notes {
                eprintln!("note: {n}");
            }
            notes.extend(o.report.notes.iter().cloned());
            if let Some(d) = &out_dir {
                write(d, "qat.csv", &csv_of(&o.report.table)?)?;
            }
            serde_json::to_value(&o.report)
        }
    }
    .map_err(|x| x.to_string())?;
    let full = serde_json::json!({ "experiment": exp, "notes": notes, "report": report });
    let text = serde_json::to_string_pretty(&full).map_err(|x| x.to_string())?;
    if let Some(d) = &out_dir {
        write(d, "report.json", &text)?;
        write(d, "experiment.toml", &exp.to_toml())?;
    }
    println!("{text}");
    Ok(())
}

/// One model's results in `qplay run --benchmark`, as Neural Compressor's GPT-J benchmark prints
/// them for the original and the converted model.
#[derive(Serialize)]
struct BenchmarkRow {
    model: &'static str,
    engine: String,
    accuracy: f64,
    bytes: usize,
    latency_ms: f64,
    throughput_batch: usize,
    throughput_images_per_s: f64,
}

impl std::fmt::Display for BenchmarkRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): accuracy {:.2} %, latency (batch 1) {:.4} ms, throughput (batch {}) {:.0} images/s",
            self.model,
            self.engine,
            100.0 * self.accuracy,
            self.latency_ms,
            self.throughput_batch,
            self.throughput_images_per_s
        )
    }
}

/// FP32's row and the quantized model's, from the run's report and their timing.
fn benchmark_rows(r: &PtqReport, s: &ModelSpeed) -> [BenchmarkRow; 2] {
    let engine = if s.simulated { format!("{}, the simulation's time", r.engine) } else { r.engine.clone() };
    [
        BenchmarkRow { model: "FP32", engine: "fp32".into(), accuracy: r.fp32_accuracy, bytes: r.fp32_bytes, latency_ms: s.latency_ms[0], throughput_batch: s.batch, throughput_images_per_s: s.throughput[0] },
        BenchmarkRow { model: "quantized", engine, accuracy: r.accuracy, bytes: r.bytes, latency_ms: s.latency_ms[1], throughput_batch: s.batch, throughput_images_per_s: s.throughput[1] },
    ]
}

/// Rows of flat JSON objects as CSV, columns in the first row's key order.
fn json_rows_csv(rows: &[serde_json::Value]) -> String {
    let Some(first) = rows.first().and_then(|r| r.as_object()) else { return String::new() };
    let keys: Vec<&String> = first.keys().collect();
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(keys.iter().map(|k| k.as_str()));
    for r in rows {
        let rec: Vec<String> = keys.iter().map(|k| match &r[k.as_str()] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::new(),
            v => v.to_string(),
        }).collect();
        let _ = w.write_record(&rec);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

//! `qplay convert` and `qplay export`: models in and out of files.
//!
//! ```text
//! qplay convert IN OUT [--arch SIDECAR.json]
//!     an FP32 model between .onnx and .safetensors (either way, or to the same format)
//! qplay export --model MODEL --format FORMAT --out FILE [quantization flags] [--predictions FILE.npy]
//!     MODEL: a built-in (lab-mlp, small-cnn: seeded random weights; mlp-fashion, mlp-mnist,
//!            cnn-fashion: the pretrained baselines under ASSETS/models/) or a model file
//!     FORMAT: onnx (FP32), safetensors (FP32), qdq-onnx, safetensors-quant
//! ```
//!
//! Quantized formats calibrate on the first `--calib` training images of the dataset (default
//! 256, as the PTQ tests do) with the settings given by the flags (defaults: full W8A8,
//! per-channel symmetric weights, MinMax). With `--predictions`, qplay's own predicted class for
//! every test image (FP32 for the FP32 formats, the fake-quant simulation for the quantized ones)
//! is written as a `.npy` and the accuracy is reported: scripts/check_onnxruntime.py compares them
//! with ONNX Runtime's. A JSON summary goes to stdout.

use std::path::{Path, PathBuf};

use clap::ValueEnum;
use serde_json::json;

use qplay::data::{read_qds, Dataset};
use qplay::formats::npy::write_npy_int;
use qplay::formats::onnx::{write_onnx, write_qdq_onnx};
use qplay::formats::quantized::write_quantized;
use qplay::formats::safetensors::write_model;
use qplay::model::forward::Fp32Runner;
use qplay::model::{zoo, Model};
use qplay::ptq::{quantize_model, PtqConfig, QuantMode, Scope, WeightGranularity};
use qplay::ptq::config::DynamicMode;
use qplay::units::bytes_exact;

#[derive(clap::Args)]
pub struct ConvertArgs {
    /// The model to read: .onnx or .safetensors (a PyTorch state_dict or a qplay model).
    input: PathBuf,
    /// The file to write: .onnx or .safetensors.
    output: PathBuf,
    /// An architecture sidecar (JSON) for a .safetensors state_dict whose layers cannot be inferred.
    #[arg(long)]
    arch: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// FP32 ONNX (opset 13, dynamic batch).
    Onnx,
    /// FP32 .safetensors with the architecture in its metadata.
    Safetensors,
    /// Quantized ONNX with QuantizeLinear / DequantizeLinear (opset 21), for ONNX Runtime.
    QdqOnnx,
    /// Quantized .safetensors: packed integer weights and every parameter (see formats/quantized.rs).
    SafetensorsQuant,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ModeArg {
    Full,
    WeightOnly,
    Dynamic,
}

#[derive(Clone, Copy, ValueEnum)]
#[allow(clippy::enum_variant_names)] // the names are the flag values
pub enum GranularityArg {
    PerTensor,
    PerChannel,
    PerGroup,
}

/// The defaults of `--group-size` and `--calib` (an FP32 export refuses any other value).
const DEFAULT_GROUP_SIZE: usize = 32;
const DEFAULT_CALIB: usize = 256;

#[derive(clap::Args)]
pub struct ExportArgs {
    /// lab-mlp, small-cnn (seeded random weights), mlp-fashion, mlp-mnist, cnn-fashion (pretrained), or a model file.
    #[arg(long)]
    model: String,
    #[arg(long, value_enum)]
    format: ExportFormat,
    /// The file to write.
    #[arg(long)]
    out: PathBuf,
    /// Seed of the random weights of lab-mlp and small-cnn.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Quantization mode.
    #[arg(long, value_enum, default_value = "full")]
    mode: ModeArg,
    /// Weight bits, 1 to 16.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u8).range(1..=16))]
    weight_bits: u8,
    /// Activation bits, 1 to 16 (full and dynamic modes).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u8).range(1..=16))]
    act_bits: u8,
    #[arg(long, value_enum, default_value = "per-channel")]
    granularity: GranularityArg,
    /// Group size of per-group weights.
    #[arg(long, default_value_t = DEFAULT_GROUP_SIZE)]
    group_size: usize,
    /// Asymmetric weights (a zero point per slice) instead of symmetric ones.
    #[arg(long)]
    asymmetric: bool,
    /// Symmetric weights on the narrow range (int8: [−127, 127]) instead of the full range [−128, 127].
    #[arg(long)]
    narrow_range: bool,
    /// Dynamic mode's strategy: activations per layer and weights per channel (alwc), or the reverse (acwl).
    #[arg(long, default_value = "alwc")]
    dynamic_strategy: String,
    /// SmoothQuant's migration strength α in [0, 1].
    #[arg(long, allow_negative_numbers = true)]
    smooth_quant: Option<f32>,
    /// Add each layer's mean output error on the calibration set back to its bias.
    #[arg(long)]
    bias_correction: bool,
    /// Calibration images (the first N of the training split).
    #[arg(long, default_value_t = DEFAULT_CALIB)]
    calib: usize,
    /// Activation calibration: min_max, moving_average_min_max, percentile, removal_outlier, kl, mse.
    #[arg(long, default_value = "min_max")]
    act_calibration: String,
    /// The calibration's setting (percentile, ratio, momentum, KL bins or MSE steps); default: its own.
    #[arg(long, allow_negative_numbers = true)]
    act_calibration_param: Option<f64>,
    /// The dataset: fashion or mnist (default: mnist for mlp-mnist, else fashion).
    #[arg(long)]
    dataset: Option<String>,
    /// Where the assets are (models/, data/).
    #[arg(long, default_value = "www")]
    assets: PathBuf,
    /// Write qplay's predicted class for every test image here (.npy) and report the accuracy.
    #[arg(long)]
    predictions: Option<PathBuf>,
}

/// The largest file the CLI reads (512 MiB): a model is at most 16 Mi parameters (64 MB in
/// f32), a dataset or a tensor far less. Checked from the file's metadata before reading, and
/// again while reading (a file that grows, or stdin).
pub const MAX_FILE_BYTES: u64 = 512 << 20;

/// The largest settings file read (`run`'s TOML / MindSpore Lite INI, `lm --config`): 1 MiB, a
/// page of settings, checked before parsing (a 150 MB TOML took 3.7 GB to be refused).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The bytes of a regular file of at most [`MAX_FILE_BYTES`]; a directory, a device such as
/// /dev/zero, a FIFO or a larger file is refused before anything is read.
pub fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    read_file_up_to(path, MAX_FILE_BYTES)
}

/// The bytes of a regular file of at most `limit` bytes, its size checked from its metadata
/// before reading and again while reading (the size a file reports can be wrong: /proc files
/// report 0, and a file may grow).
pub fn read_file_up_to(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    let at = |e: String| format!("{}: {e}", path.display());
    let meta = std::fs::metadata(path).map_err(|e| at(e.to_string()))?;
    if !meta.is_file() {
        return Err(at("not a regular file (a directory, a device or a pipe cannot be read)".into()));
    }
    if meta.len() > limit {
        return Err(at(format!("the file is {}; the limit is {}", bytes_exact(meta.len().into()), bytes_exact(limit.into()))));
    }
    let file = std::fs::File::open(path).map_err(|e| at(e.to_string()))?;
    read_up_to(file, limit).map_err(at)
}

/// At most [`MAX_FILE_BYTES`] from a reader (stdin).
pub fn read_limited(r: impl std::io::Read) -> Result<Vec<u8>, String> {
    read_up_to(r, MAX_FILE_BYTES)
}

fn read_up_to(r: impl std::io::Read, limit: u64) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(r, limit.saturating_add(1)), &mut bytes).map_err(|e| e.to_string())?;
    if bytes.len() as u64 > limit {
        return Err(format!("it holds more than the limit of {}", bytes_exact(limit.into())));
    }
    Ok(bytes)
}

/// A text file of at most [`MAX_FILE_BYTES`], as UTF-8.
pub fn read_text(path: &Path) -> Result<String, String> {
    read_text_up_to(path, MAX_FILE_BYTES)
}

/// A text file of at most `limit` bytes, as UTF-8 (a settings file).
pub fn read_text_up_to(path: &Path, limit: u64) -> Result<String, String> {
    String::from_utf8(read_file_up_to(path, limit)?)
        .map_err(|e| format!("{}: not UTF-8 text (byte {} is not; is this a binary file?)", path.display(), e.utf8_error().valid_up_to()))
}

/// The assets folder (models/, data/): `given` when it exists. The default, a relative `www`,
/// is also looked for beside the executable (and two levels up, from `target/<profile>/`) and
/// in the source tree the binary was built from, so the CLI works outside the repository.
/// What the assets folder of `--assets` holds, for the message when it is not found.
pub const ASSETS_HOLD: &str = "models/ and data/ (the repository's www/)";

pub fn assets_dir(flag: &str, given: &Path, holds: &str) -> Result<PathBuf, String> {
    if given.is_dir() {
        return Ok(given.to_path_buf());
    }
    let mut tried = vec![given.to_path_buf()];
    if given.is_relative() {
        let exe_dir = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf));
        if let Some(d) = exe_dir {
            tried.push(d.join(given));
            tried.push(d.join("../..").join(given));
        }
        tried.push(Path::new(env!("CARGO_MANIFEST_DIR")).join(given));
    }
    if let Some(found) = tried.iter().skip(1).find(|p| p.is_dir()) {
        return Ok(found.clone());
    }
    let list: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
    Err(format!("{flag} {}: no such folder (tried {}): give the folder that holds {holds}", given.display(), list.join(", ")))
}

fn extension(path: &Path) -> String {
    path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase()
}

/// An FP32 model from a .onnx or .safetensors file.
pub(crate) fn load_model_file(path: &Path, sidecar: Option<&str>) -> Result<Model, String> {
    let bytes = read_file(path)?;
    // The page's reader: the same formats, limits and messages.
    qplay::formats::files::read_model_file(&path.display().to_string(), &bytes, sidecar)
}

/// Bytes of an FP32 model in the format of `path`'s extension.
fn model_bytes(model: &Model, path: &Path) -> Result<Vec<u8>, String> {
    let bytes = match extension(path).as_str() {
        "onnx" => write_onnx(model),
        "safetensors" => write_model(model),
        other => return Err(format!("{}: unknown model format \".{other}\" (use .onnx or .safetensors)", path.display())),
    };
    bytes.map_err(|e| e.to_string())
}

/// Makes `path`'s directory and checks that `path` is a regular file or nothing yet, before any
/// long work is done for it: the file is written beside it and renamed over it, which would
/// replace a device (`/dev/full` became a 1.3 MB file), a pipe or a symbolic link by a file.
pub fn prepare_out(path: &Path) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Err(format!("{}: is a directory; give a file name", path.display())),
        Ok(m) if !m.file_type().is_file() => Err(format!(
            "{}: not a regular file (a device, a pipe or a symbolic link), which writing would replace: give the path of a file",
            path.display()
        )),
        _ => Ok(()),
    }
}

/// Makes the folder `dir` for a command's report files, or names what is in its place.
pub fn prepare_dir(dir: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if !m.is_dir() => Err(format!("{}: not a folder; give a folder for the report files", dir.display())),
        _ => std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display())),
    }
}

/// Writes `bytes` to `path` whole or not at all: into a temporary file beside it, renamed over
/// `path` once written, so a full disk or a quota leaves neither a partial file nor a damaged
/// old one.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    prepare_out(path)?;
    let name = path.file_name().ok_or_else(|| format!("{}: not a file name", path.display()))?;
    let part = path.with_file_name(format!(".{}.qplay-part", name.to_string_lossy()));
    let written = std::fs::write(&part, bytes).and_then(|()| std::fs::rename(&part, path));
    written.map_err(|e| {
        let _ = std::fs::remove_file(&part);
        format!("{}: {e}", path.display())
    })
}

pub fn convert(a: &ConvertArgs) -> Result<(), String> {
    let sidecar = a.arch.as_deref().map(read_text).transpose()?;
    let model = load_model_file(&a.input, sidecar.as_deref())?;
    let bytes = model_bytes(&model, &a.output)?;
    write_file(&a.output, &bytes)?;
    let layers: Vec<String> = model.layers.iter().map(|l| format!("{} {}", l.kind.name(), l.name)).collect();
    let summary = json!({ "input": a.input, "output": a.output, "bytes": bytes.len(), "params": model.params(), "layers": layers });
    println!("{}", serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?);
    Ok(())
}

/// The built-in models: (name, pretrained file under ASSETS/models/, dataset).
const PRETRAINED: [(&str, &str, &str); 3] =
    [("mlp-fashion", "mlp-fashion.safetensors", "fashion"), ("mlp-mnist", "mlp-mnist.safetensors", "mnist"), ("cnn-fashion", "cnn-fashion.safetensors", "fashion")];

fn load_model(a: &ExportArgs) -> Result<(Model, &'static str), String> {
    match a.model.as_str() {
        "lab-mlp" => Ok((zoo::lab_mlp(a.seed), "fashion")),
        "small-cnn" => Ok((zoo::small_cnn(a.seed).map_err(|e| e.to_string())?, "fashion")),
        name => match PRETRAINED.iter().find(|(n, _, _)| *n == name) {
            Some((_, file, data)) => Ok((load_model_file(&assets_dir("--assets", &a.assets, ASSETS_HOLD)?.join("models").join(file), None)?, data)),
            None if Path::new(name).exists() => Ok((load_model_file(Path::new(name), None)?, "fashion")),
            None => Err(format!("--model {name}: not a built-in model (lab-mlp, small-cnn, mlp-fashion, mlp-mnist, cnn-fashion) nor a file")),
        },
    }
}

fn dataset(a: &ExportArgs, default: &str, split: &str) -> Result<Dataset, String> {
    let name = a.dataset.as_deref().unwrap_or(default);
    if name != "fashion" && name != "mnist" {
        return Err(format!("--dataset {name}: use fashion or mnist"));
    }
    let path = assets_dir("--assets", &a.assets, ASSETS_HOLD)?.join("data").join(format!("{name}-{split}.qds.gz"));
    read_qds(&read_file(&path)?).map_err(|e| format!("{}: {e}", path.display()))
}

fn config(a: &ExportArgs) -> Result<PtqConfig, String> {
    let cfg = PtqConfig {
        mode: match a.mode {
            ModeArg::Full => QuantMode::Full,
            ModeArg::WeightOnly => QuantMode::WeightOnly,
            ModeArg::Dynamic => QuantMode::Dynamic,
        },
        weight_bits: a.weight_bits,
        act_bits: a.act_bits,
        granularity: match a.granularity {
            GranularityArg::PerTensor => WeightGranularity::PerTensor,
            GranularityArg::PerChannel => WeightGranularity::PerChannel,
            GranularityArg::PerGroup => WeightGranularity::PerGroup { group_size: a.group_size },
        },
        weight_symmetric: !a.asymmetric,
        narrow_range: a.narrow_range,
        dynamic_strategy: match a.dynamic_strategy.as_str() {
            "alwc" | "ALWC" => DynamicMode::Alwc,
            "acwl" | "ACWL" => DynamicMode::Acwl,
            s => return Err(format!("--dynamic-strategy {s}: use alwc or acwl")),
        },
        smooth_quant: a.smooth_quant,
        bias_correction: a.bias_correction,
        act_calibration: {
            use qplay::quant::calibration::{Calibration, CalibrationKind};
            let kind = CalibrationKind::from_name(&a.act_calibration).ok_or_else(|| {
                format!("--act-calibration {}: use one of {}", a.act_calibration, CalibrationKind::ALL.map(|k| k.name()).join(", "))
            })?;
            let c = Calibration::default_for(kind);
            let c = match a.act_calibration_param {
                Some(x) if kind == CalibrationKind::MinMax => return Err(format!("--act-calibration-param {x}: min_max has no setting")),
                // Validated there, with the value as given.
                Some(x) => qplay::share::with_calibration_param(c, x).map_err(|e| format!("--act-calibration-param: {e}"))?,
                None => c,
            };
            c
        },
        ..PtqConfig::default()
    };
    cfg.validate().map_err(|e| e.to_string())?;
    Ok(cfg)
}

pub fn export(a: &ExportArgs) -> Result<(), String> {
    let quantized = matches!(a.format, ExportFormat::QdqOnnx | ExportFormat::SafetensorsQuant);
    if !quantized {
        // A quantization setting changed from its default would be ignored by an FP32 export.
        let set = [
            ("--mode", !matches!(a.mode, ModeArg::Full)),
            ("--weight-bits", a.weight_bits != 8),
            ("--act-bits", a.act_bits != 8),
            ("--granularity", !matches!(a.granularity, GranularityArg::PerChannel)),
            ("--group-size", a.group_size != DEFAULT_GROUP_SIZE),
            ("--asymmetric", a.asymmetric),
            ("--narrow-range", a.narrow_range),
            ("--dynamic-strategy", a.dynamic_strategy != "alwc"),
            ("--smooth-quant", a.smooth_quant.is_some()),
            ("--bias-correction", a.bias_correction),
            ("--calib", a.calib != DEFAULT_CALIB),
            ("--act-calibration", a.act_calibration != "min_max"),
            ("--act-calibration-param", a.act_calibration_param.is_some()),
        ];
        if let Some((flag, _)) = set.iter().find(|(_, given)| *given) {
            return Err(format!("{flag} is a setting of the quantized formats (qdq-onnx, safetensors-quant); this format writes the FP32 model"));
        }
    }
    let (model, default_data) = load_model(a)?;
    // Calibration and predictions read the datasets' images: a model that cannot take them is
    // named now, as the Model page names it.
    if quantized || a.predictions.is_some() {
        qplay::experiment::run::fits_the_datasets(&model).map_err(|e| format!("--model {}: {e}", a.model))?;
    }
    let mut notes = Vec::new();
    let mut summary = json!({ "model": a.model, "format": a.format.to_possible_value().map(|v| v.get_name().to_string()), "out": a.out });
    let (bytes, qmodel) = if quantized {
        let cfg = config(a)?;
        let train = dataset(a, default_data, "train")?;
        if a.calib == 0 || a.calib > qplay::experiment::spec::MAX_CALIB {
            return Err(format!("--calib {}: use 1 to {} calibration images", a.calib, qplay::experiment::spec::MAX_CALIB));
        }
        let calib = train.images_f32(0, a.calib);
        let q = quantize_model(&model, &cfg, &calib, Scope::All).map_err(|e| e.to_string())?;
        notes.extend(q.notes);
        let bytes = match a.format {
            ExportFormat::QdqOnnx => {
                let e = write_qdq_onnx(&q.model).map_err(|e| e.to_string())?;
                notes.extend(e.notes);
                e.bytes
            }
            _ => write_quantized(&q.model).map_err(|e| e.to_string())?,
        };
        summary["config"] = serde_json::to_value(&cfg).map_err(|e| e.to_string())?;
        (bytes, Some(q.model))
    } else {
        let path = a.out.with_extension(if a.format == ExportFormat::Onnx { "onnx" } else { "safetensors" });
        (model_bytes(&model, &path)?, None)
    };
    write_file(&a.out, &bytes)?;
    summary["bytes"] = json!(bytes.len());
    summary["notes"] = json!(notes);
    if let Some(pred_path) = &a.predictions {
        let test = dataset(a, default_data, "test")?;
        let classes = model.output().len();
        // The runs' own prediction loop, with its check of one output per class of the dataset.
        let fp32 = Fp32Runner::new(model.clone());
        let pred: Vec<i32> = qplay::experiment::run::predict_with(&test, classes, |x| {
            Ok(match &qmodel {
                Some(q) => q.forward(x)?,
                None => fp32.forward(x)?,
            })
        })
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(i32::from)
        .collect();
        let correct = pred.iter().zip(&test.labels).filter(|(p, l)| **p == **l as i32).count();
        write_file(pred_path, &write_npy_int(&pred, &[pred.len()], 0, classes as i32 - 1))?;
        summary["test_images"] = json!(test.len());
        summary["accuracy"] = json!(correct as f64 / test.len().max(1) as f64);
        summary["predictions"] = json!(pred_path);
    }
    println!("{}", serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?);
    Ok(())
}

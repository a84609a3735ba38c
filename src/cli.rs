//! The native command-line tool.
//!
//! ```text
//! qplay tensor [INPUT] [OPTIONS]     quantize a tensor (.npy, or a text list) with every setting
//! qplay train --arch … --dataset …   train a pretrained baseline (see cli_train.rs)
//! qplay run FILE [--model …]          run an experiment (TOML) or a MindSpore Lite config (INI)
//! qplay convert IN OUT / qplay export  models between .onnx and .safetensors, quantized exports (cli_io.rs)
//! ```
//!
//! The report (parameters per slice, metrics, the MindSpore Lite statistics
//! and parameter reports, FP16 / BF16 baselines) goes to stdout as JSON;
//! with `--out DIR`, the integers and the dequantized tensor are written as
//! `.npy` beside `report.json`, `statistics.csv` and `quant_params.csv`.
//! Output is exact and stable: the same input and flags give the same bytes.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;

use qplay::formats::npy::{read_npy, write_npy_f32, write_npy_int};
use qplay::formats::files::largest_tensor;
use qplay::metrics::{quant_error_metrics_by, try_error_metrics};
use qplay::parse::parse_numbers;
use qplay::quant::calibration::Calibration;
use qplay::quant::{bf16_round_trip, fp16_round_trip, quantize_granular, quantize_with_manual_range, Granularity};
use qplay::quant::{Method, Rounding, Scheme};
use qplay::report::{self, TensorLabel};

#[derive(Parser)]
#[command(name = "qplay", version, about = "qplay: the quantization playground, on the command line")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Quantize a tensor and report its parameters and errors.
    Tensor(TensorArgs),
    /// Train a built-in architecture on an embedded dataset (the pretrained baselines).
    Train(crate::cli_train::TrainArgs),
    /// Run an experiment, sweep or search (TOML description or MindSpore Lite INI config).
    Run(crate::cli_run::RunArgs),
    /// Convert an FP32 model between .onnx and .safetensors.
    Convert(crate::cli_io::ConvertArgs),
    /// Export a model: FP32 ONNX / .safetensors, or quantized as QDQ ONNX / .safetensors.
    Export(crate::cli_io::ExportArgs),
    /// Language models: train, evaluate, quantize, generate, benchmark.
    #[command(subcommand)]
    Lm(crate::cli_lm::LmCommand),
}

#[derive(Clone, Copy, ValueEnum)]
enum MethodArg {
    Normal,
    Clip,
}

#[derive(Clone, Copy, ValueEnum)]
enum RoundingArg {
    HalfEven,
    HalfAway,
    Floor,
    Stochastic,
}

#[derive(Clone, Copy, ValueEnum)]
#[allow(clippy::enum_variant_names)] // the names are the flag values
enum GranularityArg {
    PerTensor,
    PerChannel,
    PerGroup,
}

#[derive(Clone, Copy, ValueEnum)]
enum CalibrationArg {
    MinMax,
    MovingAverage,
    Percentile,
    RemovalOutlier,
    Kl,
    Mse,
}

#[derive(clap::Args)]
struct TensorArgs {
    /// A .npy file (any float, integer or bool dtype, any shape), a .npz or .safetensors file (its
    /// largest tensor, or --tensor), or a text file of numbers; "-" reads stdin (.npy or text).
    input: Option<PathBuf>,
    /// Which tensor of a .npz or .safetensors INPUT (default: the largest, as the page opens it).
    #[arg(long)]
    tensor: Option<String>,
    /// The numbers themselves (commas, spaces or new lines), instead of INPUT; may start with a minus.
    #[arg(long, conflicts_with = "input", allow_hyphen_values = true)]
    values: Option<String>,
    /// Shape of the input, e.g. 4,16: text as pasted otherwise (rows of equal length become 2-D);
    /// a file's own shape is replaced (the count of values must match).
    #[arg(long, value_delimiter = ',')]
    shape: Option<Vec<usize>>,
    /// Integer width, 1 to 16.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u8).range(1..=16))]
    bits: u8,
    /// The lab's method: normal maps [α, β] onto [qmin, qmax]; clip onto twice that range.
    #[arg(long, value_enum, default_value = "normal")]
    method: MethodArg,
    /// Unsigned integers [0, 2^bits − 1] (default signed).
    #[arg(long)]
    unsigned: bool,
    /// Symmetric: Z = 0 (signed), s = max(|α|, |β|) / ((βq − αq) / 2).
    #[arg(long)]
    symmetric: bool,
    /// Narrow range: drop the lowest level (int8: [−127, 127]).
    #[arg(long)]
    narrow_range: bool,
    #[arg(long, value_enum, default_value = "half-even")]
    rounding: RoundingArg,
    /// Seed of stochastic rounding.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, value_enum, default_value = "per-tensor")]
    granularity: GranularityArg,
    /// Axis of per-channel / per-group quantization.
    #[arg(long, default_value_t = 0)]
    axis: usize,
    /// Group size of per-group quantization (must divide the axis).
    #[arg(long, allow_negative_numbers = true)]
    group_size: Option<usize>,
    #[arg(long, value_enum, default_value = "min-max")]
    calibration: CalibrationArg,
    /// Percentile calibration: the percentage of values kept, in (0, 100].
    #[arg(long, allow_negative_numbers = true)]
    percentile: Option<f32>,
    /// RemovalOutlier calibration: the fraction dropped from each tail, in [0, 0.5).
    #[arg(long, allow_negative_numbers = true)]
    ratio: Option<f32>,
    /// KL calibration: histogram bins.
    #[arg(long, allow_negative_numbers = true)]
    bins: Option<usize>,
    /// MSE calibration: grid steps.
    #[arg(long, allow_negative_numbers = true)]
    steps: Option<usize>,
    /// Moving-average calibration: averaging constant in (0, 1].
    #[arg(long, allow_negative_numbers = true)]
    momentum: Option<f32>,
    /// Moving-average calibration: values per batch.
    #[arg(long, allow_negative_numbers = true)]
    batch: Option<usize>,
    /// A float range α,β set by hand (per-tensor only), instead of calibration: `--range -1.5,2`.
    #[arg(long, allow_hyphen_values = true)]
    range: Option<String>,
    /// Replace NaN and ±Inf by 0 (and count them) instead of failing.
    #[arg(long)]
    ignore_nonfinite: bool,
    /// Write q.npy, dequant.npy, report.json, statistics.csv and quant_params.csv here (the JSON
    /// on stdout lists q and r' only for tensors of up to 1,024 values, and the parameters of the
    /// first 1,024 slices; quant_params.csv has every slice's).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Tensors up to this many values also list q and r' in the JSON report, which lists the
/// parameters of this many slices at most (a per-channel million-row tensor's would be 700 MB of
/// JSON; `quant_params.csv` under `--out` has them all).
const MAX_INLINE: usize = 1024;

/// The most error evaluations (values × steps) an MSE calibration runs.
const MAX_MSE_WORK: u64 = 1 << 30;

/// Runs the command line as the OS gives it: an argument that is not UTF-8 (a legal file name
/// on Linux) is a path where the flag takes one, else clap's message, never a panic.
pub fn run_os(args: Vec<std::ffi::OsString>) -> i32 {
    let cli = match Cli::try_parse_from(std::iter::once(std::ffi::OsString::from("qplay")).chain(args)) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let result = match cli.command {
        Command::Tensor(a) => tensor(&a),
        Command::Train(a) => crate::cli_train::train(&a),
        Command::Run(a) => crate::cli_run::run(&a),
        Command::Convert(a) => crate::cli_io::convert(&a),
        Command::Export(a) => crate::cli_io::export(&a),
        Command::Lm(c) => crate::cli_lm::run(c),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("qplay: {e}");
            1
        }
    }
}

/// The tensor named `wanted` of a .npz or .safetensors file (the message lists the names when it
/// is not there), else the one the Tensor page opens on: the largest with some values, all finite
/// unless `keep_nonfinite`, the first of equals.
fn tensor_of_file(path: &std::path::Path, bytes: &[u8], wanted: Option<&str>, keep_nonfinite: bool) -> Result<(String, qplay::formats::Tensor), String> {
    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let mut file = qplay::formats::files::read_tensor_file(&name, bytes)?;
    let list = &file.tensors;
    let i = match wanted {
        Some(w) => list.iter().position(|(n, _)| n == w).ok_or_else(|| file.missing(&name, w))?,
        None => {
            let fits = |t: &qplay::formats::Tensor| !t.values.is_empty() && (keep_nonfinite || t.values.iter().all(|v| v.is_finite()));
            let i = largest_tensor(list, |i| fits(&list[i].1)).ok_or_else(|| {
                let why = if list.iter().all(|(_, t)| t.values.is_empty()) { "every tensor is empty" } else { "every tensor with values holds NaN or ±∞ (--ignore-nonfinite reads them as 0)" };
                let unread = file.note().map(|n| format!("; {n}")).unwrap_or_default();
                format!("{name}: {why}{unread}")
            })?;
            if let Some(note) = file.note() {
                eprintln!("qplay: {name}: {note}");
            }
            i
        }
    };
    Ok(file.tensors.swap_remove(i))
}

/// The values, their shape and the tensor's name for the reports: a file's member, else the
/// file's stem, else "x" for `--values`.
fn read_input(a: &TensorArgs) -> Result<(Vec<f32>, Vec<usize>, String), String> {
    let stem = |p: &std::path::Path| p.file_stem().map_or_else(|| "x".to_string(), |s| s.to_string_lossy().into_owned());
    let (values, shape, name) = if let Some(text) = &a.values {
        let (v, s) = parse_numbers_lenient(text, a.ignore_nonfinite)?;
        (v, s, "x".to_string())
    } else {
        let path = a.input.as_ref().ok_or("give an INPUT file or --values")?;
        let bytes = if path.as_os_str() == "-" {
            crate::cli_io::read_limited(std::io::stdin()).map_err(|e| format!("stdin: {e}"))?
        } else {
            crate::cli_io::read_file(path)?
        };
        let archive = ["npz", "safetensors"].iter().any(|e| path.extension().is_some_and(|x| x.eq_ignore_ascii_case(e)));
        if archive {
            let (name, t) = tensor_of_file(path, &bytes, a.tensor.as_deref(), a.ignore_nonfinite)?;
            (t.values, t.shape, name)
        } else if a.tensor.is_some() {
            return Err(format!("--tensor picks a tensor of a .npz or .safetensors file; {} holds one", path.display()));
        } else if path.extension().is_some_and(|x| x.eq_ignore_ascii_case("npy")) && !bytes.starts_with(b"\x93NUMPY") {
            return Err(format!("{}: not a .npy file: it does not start with NumPy's magic bytes \\x93NUMPY", path.display()));
        } else if bytes.starts_with(b"\x93NUMPY") {
            let t = read_npy(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
            (t.values, t.shape, stem(path))
        } else {
            let text = String::from_utf8(bytes).map_err(|_| format!("{}: neither .npy nor text", path.display()))?;
            let p = parse_numbers_lenient(&text, a.ignore_nonfinite).map_err(|e| format!("{}: {e}", path.display()))?;
            (p.0, p.1, stem(path))
        }
    };
    let shape = match &a.shape {
        Some(s) => {
            let n = s.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
            if n != Some(values.len()) {
                let held = n.map_or("more values than can be counted".to_string(), |n| format!("{n} values"));
                return Err(format!("--shape {s:?} holds {held}, the input has {}", values.len()));
            }
            s.clone()
        }
        None => shape,
    };
    Ok((values, shape, name))
}

/// Text input, within the page's limits (`formats::text`: 32 MiB, 2^20 values); with `ignore`,
/// NaN / Inf tokens are kept (and replaced later) rather than rejected.
fn parse_numbers_lenient(text: &str, ignore: bool) -> Result<(Vec<f32>, Vec<usize>), String> {
    use qplay::formats::text::MAX_TEXT_BYTES;
    if text.len() > MAX_TEXT_BYTES {
        return Err(qplay::formats::FormatError::TooLarge { bytes: text.len(), limit: MAX_TEXT_BYTES }.to_string());
    }
    if !ignore {
        let p = parse_numbers(text).map_err(|e| e.to_string())?;
        return Ok((p.values, p.shape));
    }
    let mut values = Vec::new();
    for (i, tok) in text.split(|c: char| c == ',' || c == ';' || c == '[' || c == ']' || c.is_whitespace()).filter(|t| !t.is_empty()).enumerate() {
        if i == qplay::parse::MAX_VALUES {
            return Err(qplay::parse::ParseError::TooMany { limit: qplay::parse::MAX_VALUES }.to_string());
        }
        values.push(tok.parse::<f32>().map_err(|_| format!("value #{} \"{tok}\" is not a number", i + 1))?);
    }
    let n = values.len();
    Ok((values, vec![n]))
}

fn tensor(a: &TensorArgs) -> Result<(), String> {
    check_flags_apply(a)?;
    let (mut x, shape, name) = read_input(a)?;
    let mut replaced = 0usize;
    if a.ignore_nonfinite {
        for v in x.iter_mut().filter(|v| !v.is_finite()) {
            *v = 0.0;
            replaced += 1;
        }
    }
    let scheme = Scheme {
        bits: a.bits,
        signed: !a.unsigned,
        symmetric: a.symmetric,
        narrow_range: a.narrow_range,
        method: match a.method {
            MethodArg::Normal => Method::Normal,
            MethodArg::Clip => Method::Clip,
        },
        rounding: match a.rounding {
            RoundingArg::HalfEven => Rounding::HalfEven,
            RoundingArg::HalfAway => Rounding::HalfAway,
            RoundingArg::Floor => Rounding::Floor,
            RoundingArg::Stochastic => Rounding::Stochastic { seed: a.seed },
        },
    };
    let calibration = calibration(a);
    // The one limit of each setting (Calibration::validate), named by its flag.
    calibration.validate().map_err(|e| {
        let flag = match calibration {
            Calibration::MovingAverageMinMax { .. } if e.to_string().starts_with("batch") => "--batch",
            Calibration::MovingAverageMinMax { .. } => "--momentum",
            Calibration::Percentile { .. } => "--percentile",
            Calibration::RemovalOutlier { .. } => "--ratio",
            Calibration::Kl { .. } => "--bins",
            Calibration::Mse { .. } => "--steps",
            Calibration::MinMax => "--calibration",
        };
        format!("{flag}: {e}")
    })?;
    // The MSE search computes the error of every value at each step: bound the product, so that
    // a large tensor with many steps cannot run for minutes (10^9 evaluations take about 20 s).
    if let (Calibration::Mse { steps }, None) = (&calibration, &a.range) {
        let work = (*steps as u64).saturating_mul(x.len() as u64);
        if work > MAX_MSE_WORK {
            return Err(format!("--steps {steps}: {} values × {steps} steps is {work} error evaluations, more than {MAX_MSE_WORK}: give at most {} steps", x.len(), MAX_MSE_WORK / (x.len() as u64).max(1)));
        }
    }
    let range = a.range.as_deref().map(parse_range).transpose()?;
    let granularity = match a.granularity {
        GranularityArg::PerTensor => Granularity::PerTensor,
        GranularityArg::PerChannel => Granularity::PerChannel { axis: a.axis },
        GranularityArg::PerGroup => Granularity::PerGroup {
            axis: a.axis,
            group_size: a.group_size.ok_or("--granularity per-group needs --group-size")?,
        },
    };
    let label = TensorLabel::weight("input", "Tensor", &name);
    let g = match range {
        Some((lo, hi)) if granularity != Granularity::PerTensor => {
            return Err(format!("--range {lo},{hi} sets one range: use it with --granularity per-tensor"));
        }
        Some((lo, hi)) => quantize_with_manual_range(&x, &shape, &scheme, lo, hi).map_err(|e| format!("--range: {e}"))?,
        None => quantize_granular(&x, &shape, &scheme, granularity, &calibration).map_err(|e| e.to_string())?,
    };
    let metrics = quant_error_metrics_by(&x, &g.dequant, |i| g.params_of(i)).map_err(|e| e.to_string())?;
    let fp16 = try_error_metrics(&x, &fp16_round_trip(&x)).map_err(|e| e.to_string())?;
    let bf16 = try_error_metrics(&x, &bf16_round_trip(&x)).map_err(|e| e.to_string())?;
    let stats = report::distribution_report_granular(&label, &x, &g).map_err(|e| e.to_string())?;
    let params = report::quant_param_report_granular(&label, &x, &g).map_err(|e| e.to_string())?;
    let slices: Vec<_> = g
        .slices
        .iter()
        .take(MAX_INLINE)
        .map(|s| json!({ "params": s.params, "guard": s.guard }))
        .collect();
    let out = json!({
        "input": { "shape": shape, "elements": x.len(), "nonfinite_replaced": replaced },
        "scheme": scheme,
        "granularity": granularity,
        "calibration": if a.range.is_some() { json!("manual_range") } else { json!(calibration) },
        "slices_total": g.slices.len(),
        "slices": slices,
        "metrics": metrics,
        "baselines": { "fp16": fp16, "bf16": bf16 },
        "statistics": stats,
        // The integers and dequantized values themselves, for tensors small enough to read (else see --out).
        "q": (x.len() <= MAX_INLINE).then_some(&g.q),
        "dequant": (x.len() <= MAX_INLINE).then_some(&g.dequant),
        "quant_params": &params[..params.len().min(MAX_INLINE)],
    });
    let text = serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?;
    println!("{text}");
    if let Some(dir) = &a.out {
        crate::cli_io::prepare_dir(dir)?;
        let (qmin, qmax) = scheme.clamp_range();
        let write = |name: &str, bytes: &[u8]| crate::cli_io::write_file(&dir.join(name), bytes);
        write("q.npy", &write_npy_int(&g.q, &shape, qmin, qmax))?;
        write("dequant.npy", &write_npy_f32(&g.dequant, &shape))?;
        write("report.json", text.as_bytes())?;
        write("statistics.csv", report::distribution_csv(&stats).map_err(|e| e.to_string())?.as_bytes())?;
        write("quant_params.csv", report::quant_param_csv(&params).map_err(|e| e.to_string())?.as_bytes())?;
    }
    Ok(())
}

/// `α,β`: two finite numbers, α ≤ β.
fn parse_range(text: &str) -> Result<(f32, f32), String> {
    let bad = |why: &str| format!("--range {text}: {why}");
    let (a, b) = text.split_once(',').ok_or_else(|| bad("give two numbers α,β, e.g. --range -1.5,2"))?;
    let num = |t: &str| t.trim().parse::<f32>().ok().filter(|v| v.is_finite()).ok_or_else(|| bad(&format!("\"{}\" is not a finite number", t.trim())));
    let (a, b) = (num(a)?, num(b)?);
    if a > b {
        return Err(bad("α must not exceed β"));
    }
    Ok((a, b))
}

/// A flag the other flags make meaningless is refused, naming both, rather than ignored.
fn check_flags_apply(a: &TensorArgs) -> Result<(), String> {
    let c = a.calibration;
    let calibrator_flags = [
        ("--percentile", a.percentile.is_some(), matches!(c, CalibrationArg::Percentile), "--calibration percentile"),
        ("--ratio", a.ratio.is_some(), matches!(c, CalibrationArg::RemovalOutlier), "--calibration removal-outlier"),
        ("--bins", a.bins.is_some(), matches!(c, CalibrationArg::Kl), "--calibration kl"),
        ("--steps", a.steps.is_some(), matches!(c, CalibrationArg::Mse), "--calibration mse"),
        ("--momentum", a.momentum.is_some(), matches!(c, CalibrationArg::MovingAverage), "--calibration moving-average"),
        ("--batch", a.batch.is_some(), matches!(c, CalibrationArg::MovingAverage), "--calibration moving-average"),
    ];
    for (flag, given, applies, needs) in calibrator_flags {
        if given && !applies {
            return Err(format!("{flag} is a setting of {needs}, not of the calibration chosen"));
        }
    }
    if a.range.is_some() && !matches!(c, CalibrationArg::MinMax) {
        return Err("--range sets α and β by hand: no calibration runs, so --calibration does not apply".into());
    }
    let per_tensor = matches!(a.granularity, GranularityArg::PerTensor);
    if a.group_size.is_some() && !matches!(a.granularity, GranularityArg::PerGroup) {
        return Err("--group-size is a setting of --granularity per-group".into());
    }
    if a.axis != 0 && per_tensor {
        return Err("--axis is a setting of --granularity per-channel or per-group".into());
    }
    if a.seed != 0 && !matches!(a.rounding, RoundingArg::Stochastic) {
        return Err("--seed seeds --rounding stochastic, which is not chosen".into());
    }
    Ok(())
}

fn calibration(a: &TensorArgs) -> Calibration {
    use qplay::quant::calibration::CalibrationKind as K;
    let kind = match a.calibration {
        CalibrationArg::MinMax => K::MinMax,
        CalibrationArg::MovingAverage => K::MovingAverageMinMax,
        CalibrationArg::Percentile => K::Percentile,
        CalibrationArg::RemovalOutlier => K::RemovalOutlier,
        CalibrationArg::Kl => K::Kl,
        CalibrationArg::Mse => K::Mse,
    };
    match Calibration::default_for(kind) {
        Calibration::MovingAverageMinMax { momentum, batch } => Calibration::MovingAverageMinMax {
            momentum: a.momentum.unwrap_or(momentum),
            batch: a.batch.unwrap_or(batch),
        },
        Calibration::Percentile { percentile } => Calibration::Percentile { percentile: a.percentile.unwrap_or(percentile) },
        Calibration::RemovalOutlier { ratio } => Calibration::RemovalOutlier { ratio: a.ratio.unwrap_or(ratio) },
        Calibration::Kl { bins } => Calibration::Kl { bins: a.bins.unwrap_or(bins) },
        Calibration::Mse { steps } => Calibration::Mse { steps: a.steps.unwrap_or(steps) },
        c => c,
    }
}

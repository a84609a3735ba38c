//! Running one PTQ experiment and reporting everything about it: accuracy
//! against FP32, agreement, the confusion matrix, size, per-layer errors of the
//! weights and of the outputs, the MindSpore Lite reports, and where the
//! quantize / dequantize nodes sit.
//!
//! Accuracy is measured on the first `eval_size` test images (all when 0).
//! Per-layer output errors are measured on the first [`ANALYSIS_IMAGES`] of them.
//! Quantized predictions come from the engines [`crate::ptq::engine`] chose for the model's
//! layers (integer-only int8, dynamic int8, weight-only, or the simulation, each with its reason);
//! the simulation's accuracy is reported beside them.

use serde::{Deserialize, Serialize};

use super::shard::{interleave_batches, Shard};
use super::spec::Experiment;
use super::ExperimentError;
use crate::data::Dataset;
use crate::metrics::{try_error_metrics, ErrorMetrics};
use crate::model::forward::Fp32Runner;
use crate::model::{argmax_rows, Layer, LayerKind, Model};
use crate::ptq::engine::{executable, Engine, ExecModel, FallbackReason};
use crate::ptq::qmodel::{fp32_bytes, ActParams, InputQuant, QuantLayer, QuantModel};
use crate::quant::QParams;
use crate::report::{distribution_report_granular, distribution_rows, quant_param_report_granular, DistributionRow, InOutFlag, QuantParamRow, TensorLabel, TensorTypeFlag};

/// Test images used for the per-layer output errors and distributions.
pub const ANALYSIS_IMAGES: usize = 500;

/// Images per forward pass when evaluating: the engines' batch, so that a dynamic range (the
/// batch's own) is the same in the simulation and on the kernels.
pub const EVAL_BATCH: usize = crate::ptq::engine::PREDICT_BATCH;

pub fn accuracy_of(pred: &[u8], labels: &[u8]) -> f64 {
    if labels.is_empty() {
        return 0.0;
    }
    pred.iter().zip(labels).filter(|(p, l)| p == l).count() as f64 / labels.len() as f64
}

/// The calibration images: the training split's first `calib_size` (class-balanced, as the
/// split interleaves classes) when the seed is 0, else a seeded sample without replacement.
pub fn calibration_images(exp: &Experiment, train: &Dataset) -> Vec<f32> {
    let n = exp.calib_size.min(train.len());
    if exp.seed == 0 {
        return train.images_f32(0, n);
    }
    use rand::seq::index::sample;
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(exp.seed);
    let mut picked = sample(&mut rng, train.len(), n).into_vec();
    picked.sort_unstable();
    let mut out = Vec::with_capacity(n * train.image_len());
    for i in picked {
        out.extend(train.images_f32(i, 1));
    }
    out
}

/// The evaluation images: the test split's first `eval_size` (all when 0).
pub fn eval_set(exp: &Experiment, test: &Dataset) -> Dataset {
    if exp.eval_size == 0 {
        test.clone()
    } else {
        test.take(exp.eval_size)
    }
}

/// Whether a model can run on the datasets qplay ships (28 × 28 images of 10 classes), said
/// when it is loaded rather than at its first run.
pub fn fits_the_datasets(model: &Model) -> Result<(), String> {
    let (pixels, classes) = (crate::data::IMAGE_SIDE * crate::data::IMAGE_SIDE, crate::data::CLASSES);
    let (takes, gives) = (model.input.len(), model.output().len());
    if takes != pixels {
        return Err(format!("the model takes {takes} values per sample, but MNIST's and Fashion-MNIST's images have {pixels} (28 × 28): choose a model for 28 × 28 images"));
    }
    if gives != classes {
        return Err(format!("the model has {gives} outputs, but MNIST and Fashion-MNIST have {classes} classes: a classifier of these datasets has one output per class"));
    }
    Ok(())
}

/// Predictions of any batch function over a dataset, [`EVAL_BATCH`] images at a time.
pub fn predict_with(
    data: &Dataset,
    classes: usize,
    mut forward: impl FnMut(&[f32]) -> Result<Vec<f32>, ExperimentError>,
) -> Result<Vec<u8>, ExperimentError> {
    // One output per class: more would size a classes² confusion matrix from the model, and
    // argmax indices past 255 would wrap in the u8 predictions.
    if classes != data.classes {
        return Err(crate::ptq::config::field_error(
            "model",
            format!("the model has {classes} outputs, but the images have {} classes: a classifier of this dataset has one output per class", data.classes),
        )
        .into());
    }
    let mut pred = Vec::with_capacity(data.len());
    for start in (0..data.len()).step_by(EVAL_BATCH) {
        let n = EVAL_BATCH.min(data.len() - start);
        pred.extend(argmax_rows(&forward(&data.images_f32(start, n))?, classes));
    }
    Ok(pred)
}

/// The FP32 model's predictions on the evaluation set (computed once, reused by every run).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fp32Baseline {
    pub predictions: Vec<u8>,
    pub accuracy: f64,
    pub bytes: usize,
}

pub fn fp32_baseline(model: &Model, eval: &Dataset) -> Result<Fp32Baseline, ExperimentError> {
    let runner = Fp32Runner::new(model.clone());
    let classes = model.output().len();
    let predictions = predict_with(eval, classes, |x| Ok(runner.forward(x)?))?;
    Ok(Fp32Baseline { accuracy: accuracy_of(&predictions, &eval.labels), predictions, bytes: fp32_bytes(model) })
}

/// A quantized model's predictions: on its engines when any layer runs on a kernel, and the simulation's.
pub struct Predictions {
    pub simulated: Vec<u8>,
    /// `None` when every quantized layer is simulated.
    pub kernels: Option<Vec<u8>>,
}

pub fn predict_quantized(exec: &ExecModel, eval: &Dataset) -> Result<Predictions, ExperimentError> {
    let classes = exec.quant.fp32.output().len();
    let simulated = predict_with(eval, classes, |x| Ok(exec.quant.forward(x)?))?;
    let kernels = if exec.on_kernels() { Some(exec.predict(eval)?) } else { None };
    Ok(Predictions { simulated, kernels })
}

/// Errors of one layer: its weight, and its output on the analysis images.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerReport {
    pub index: usize,
    pub name: String,
    pub kind: String,
    pub bits: u8,
    pub granularity: String,
    pub weight_shape: Vec<usize>,
    pub params: usize,
    /// Bytes of this layer: FP32, and quantized.
    pub fp32_bytes: usize,
    pub bytes: usize,
    /// The weight (after any smoothing) against its dequantized values.
    pub weight: ErrorMetrics,
    /// The layer's output in the quantized model against the FP32 model's, on the analysis images.
    pub output: ErrorMetrics,
    /// The input's static (s, Z), when static.
    pub input_params: Option<QParams>,
    /// "float", "static", "dynamic ALWC" or "dynamic ACWL".
    pub input: String,
    /// What ran this layer, and why the simulation when it did.
    pub engine: Engine,
    /// Mean |Δbias| that bias correction added.
    pub bias_correction_mean_abs: f64,
}

/// One node of the QDQ view: the graph as an ONNX QDQ model would hold it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QdqNode {
    /// QuantizeLinear, DequantizeLinear, or the layer's own kind.
    pub op: String,
    /// The tensor or layer it applies to.
    pub target: String,
    pub detail: String,
}

/// Every model layer's output error (the lab's per-layer MSE, including ReLUs and pools).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputError {
    pub index: usize,
    pub name: String,
    pub kind: String,
    pub metrics: ErrorMetrics,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PtqReport {
    pub fp32_accuracy: f64,
    /// The quantized model's accuracy: the integer engine's when it ran, else the simulation's.
    pub accuracy: f64,
    pub simulated_accuracy: f64,
    /// The accuracy on the engines, when any layer ran on a kernel.
    pub kernel_accuracy: Option<f64>,
    /// Share of the evaluation images where the engines and the simulation predict the same class.
    pub kernel_agreement: Option<f64>,
    /// Why layers ran in the simulation, each reason once (see each layer's `engine`).
    pub fallback: Option<String>,
    /// The engine of the quantized layers: "int8", "int8 dynamic", "weight-only W4", "simulated",
    /// or "mixed (…)" when they differ. `accuracy`, `agreement` and `confusion` use its predictions.
    pub engine: String,
    /// Fraction of evaluation images where the quantized model predicts what FP32 predicts.
    pub agreement: f64,
    /// confusion[true][predicted], over the evaluation set.
    pub confusion: Vec<Vec<u32>>,
    pub eval_images: usize,
    pub calib_images: usize,
    pub fp32_bytes: usize,
    pub bytes: usize,
    /// fp32_bytes / bytes
    pub compression: f64,
    pub layers: Vec<LayerReport>,
    pub outputs: Vec<OutputError>,
    /// MindSpore Lite's data-distribution report for every quantized tensor.
    pub statistics: Vec<DistributionRow>,
    /// MindSpore Lite's quantization-parameter report for every quantized tensor.
    pub quant_params: Vec<QuantParamRow>,
    pub qdq: Vec<QdqNode>,
    pub notes: Vec<String>,
    /// Results that look wrong (see [`suspicious`]); also listed in `notes`, so the page shows them.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Indices into the evaluation set of the first images where FP32 and quantized disagree (at most 64).
    pub disagreements: Vec<usize>,
    /// The quantized predictions of the evaluation set.
    #[serde(skip)]
    pub predictions: Vec<u8>,
    /// A shard's report only (see [`run_ptq_shard`]): what [`PtqReport::merge`] needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<Box<PtqShare>>,
}

/// What a shard of a PTQ run predicted on its batches of the evaluation set, and the inputs of
/// the checks that depend on the predictions of all of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PtqShare {
    pub labels: Vec<u8>,
    /// FP32's, the simulation's and (when any layer ran on a kernel) the engines' predictions.
    pub fp32: Vec<u8>,
    pub simulated: Vec<u8>,
    pub kernels: Option<Vec<u8>>,
    /// Each layer's [`dominance`] and its input's clip ratio (see [`suspicious`]).
    pub dominated: Vec<(String, f64)>,
    pub clipped: Vec<(String, f64)>,
    /// The report's notes without the warnings.
    pub notes: Vec<String>,
}

/// Agreement with FP32 below which a metric that says "almost no error" is suspicious.
pub const SUSPICIOUS_AGREEMENT: f64 = 0.99;

/// Share of an activation's calibration-time values clipped by its static range above which the
/// range is called degenerate.
pub const SUSPICIOUS_CLIP: f64 = 0.05;

/// The SQNR a b-bit grid can plausibly give a tensor that uses it, plus a margin:
/// 6.02·b + 1.76 dB for a full-scale uniform signal, + 20 dB. A weight or output above it is
/// not measuring the grid's error but one extreme value that dominates Σ x² (a weight of 1e30
/// gives hundreds of dB while every other weight rounds to 0).
pub fn plausible_sqnr_db(bits: u8) -> f64 {
    6.02 * bits as f64 + 1.76 + 20.0
}

/// Share of Σ w² held by a layer's largest weight above which its weight metrics measure that one
/// value, not the layer.
pub const SUSPICIOUS_DOMINANCE: f64 = 0.5;

/// max w² / Σ w² (in f64): how much of a tensor's energy its largest value holds.
pub fn dominance(w: &[f32]) -> f64 {
    let (sum, max) = w.iter().fold((0.0f64, 0.0f64), |(s, m), &v| {
        let v2 = v as f64 * v as f64;
        (s + v2, m.max(v2))
    });
    if sum > 0.0 { max / sum } else { 0.0 }
}

/// Warnings for a result that looks wrong, when fewer than [`SUSPICIOUS_AGREEMENT`] of the
/// predictions agree with FP32: a layer whose weight metrics are dominated by one value
/// (`dominated`: layer name and [`dominance`], above [`SUSPICIOUS_DOMINANCE`]; one weight of 1e30
/// gives cosine 1.0 while every other weight rounds to 0), or whose weight or output SQNR is beyond
/// what its bits can give ([`plausible_sqnr_db`]). Whatever the agreement: a static activation
/// range that clips more than [`SUSPICIOUS_CLIP`] of the values it was calibrated on (`clipped`),
/// which a sound calibrator does not do.
pub fn suspicious(layers: &[LayerReport], agreement: f64, dominated: &[(String, f64)], clipped: &[(String, f64)]) -> Vec<String> {
    let mut out = Vec::new();
    if agreement < SUSPICIOUS_AGREEMENT {
        for (name, share) in dominated {
            let Some(l) = layers.iter().find(|l| &l.name == name).filter(|_| *share > SUSPICIOUS_DOMINANCE) else { continue };
            out.push(format!(
                "Suspicious result: layer {name}'s weight metrics (SQNR {:.0} dB, cosine {:.6}) say almost no error, but one \
                 weight holds {:.2} % of Σ w², so they measure that weight alone; only {:.2} % of predictions agree with FP32.",
                l.weight.sqnr_db, l.weight.cosine, 100.0 * share, 100.0 * agreement
            ));
        }
        for l in layers {
            let limit = plausible_sqnr_db(l.bits.max(1));
            for (what, m) in [("weight", &l.weight), ("output", &l.output)] {
                if m.sqnr_db > limit && !out.iter().any(|w| w.contains(&format!("layer {}'s {what}", l.name))) {
                    out.push(format!(
                        "Suspicious result: layer {}'s {what} SQNR of {:.0} dB (cosine {:.6}) says almost no error, more than {}-bit \
                         quantization can give, yet only {:.2} % of predictions agree with FP32: a few extreme values \
                         dominate the metric (largest |error| {:.3e}).",
                        l.name, m.sqnr_db, m.cosine, l.bits, 100.0 * agreement, m.max_abs
                    ));
                }
            }
        }
    }
    for (name, share) in clipped {
        if *share > SUSPICIOUS_CLIP {
            out.push(format!(
                "Suspicious result: the static range of {name}'s input clips {:.1} % of the values it was calibrated on: \
                 the calibrator's range looks degenerate (e.g. moving-average MinMax over one batch).",
                100.0 * share
            ));
        }
    }
    out
}

pub fn confusion(pred: &[u8], labels: &[u8], classes: usize) -> Vec<Vec<u32>> {
    let mut m = vec![vec![0u32; classes]; classes];
    for (&p, &l) in pred.iter().zip(labels) {
        if (l as usize) < classes && (p as usize) < classes {
            m[l as usize][p as usize] += 1;
        }
    }
    m
}

/// Runs a PTQ experiment on a model, its calibration images and its evaluation set.
pub fn run_ptq(exp: &Experiment, model: &Model, calib: &[f32], eval: &Dataset, baseline: &Fp32Baseline) -> Result<PtqReport, ExperimentError> {
    run_ptq_shard(exp, model, calib, eval, baseline, Shard::ALL)
}

/// [`run_ptq`], predicting only `shard`'s batches of [`EVAL_BATCH`] images (the rest of the
/// report is the whole run's). A shard's report carries its [`PtqShare`]; [`PtqReport::merge`]
/// makes the one-run report of all shards'.
pub fn run_ptq_shard(exp: &Experiment, model: &Model, calib: &[f32], eval: &Dataset, baseline: &Fp32Baseline, shard: Shard) -> Result<PtqReport, ExperimentError> {
    Ok(run_ptq_exec(exp, model, calib, eval, baseline, shard)?.0)
}

/// [`run_ptq_shard`], also giving the executable model it ran (to time it afterwards).
pub fn run_ptq_exec(exp: &Experiment, model: &Model, calib: &[f32], eval: &Dataset, baseline: &Fp32Baseline, shard: Shard) -> Result<(PtqReport, ExecModel), ExperimentError> {
    exp.validate()?;
    let exec = executable(model, &exp.ptq, calib)?;
    let report = report_quantized_shard(&exec, model, calib.len() / model.input.len().max(1), eval, baseline, shard)?;
    Ok((report, exec))
}

/// The FP32 weight a quantized layer's integers stand for: w, or w · s under SmoothQuant (s
/// per input channel, each covering `fan_in / s.len()` weights of a row).
pub fn effective_weight(ql: &QuantLayer, layer: &Layer) -> Vec<f32> {
    let (w, _, _, _) = layer.kind.weight().expect("quantized layers have weights");
    match &ql.smooth {
        Some(s) => {
            let fan_in = w.len() / ql.weight_shape[0];
            let per = fan_in / s.len();
            w.iter().enumerate().map(|(i, v)| v * s[(i % fan_in) / per]).collect()
        }
        None => w.to_vec(),
    }
}

/// The engine summary of a model: the one engine of all its quantized layers, or "mixed (…)".
pub fn engine_summary(exec: &ExecModel) -> String {
    let mut names: Vec<String> = Vec::new();
    for (_, e) in exec.layer_engines() {
        if !names.contains(&e.name()) {
            names.push(e.name());
        }
    }
    match names.len() {
        0 => "fp32".into(),
        1 => names.remove(0),
        _ => format!("mixed ({})", names.join(", ")),
    }
}

/// MindSpore Lite's `quant_param.csv` rows of a quantized model: each quantized layer's weight
/// (a row per channel or group), its static input's (s, Z), and the model output's when it is
/// quantized.
pub fn quant_param_rows(qm: &QuantModel) -> Result<Vec<QuantParamRow>, ExperimentError> {
    let model = &qm.fp32;
    let mut rows = Vec::new();
    let activation = |node: &str, kind: &str, tensor: String, elements_num: usize, dims: String, a: &ActParams| QuantParamRow {
        node_name: node.to_string(),
        node_type: kind.to_string(),
        tensor_name: tensor,
        channel: None,
        elements_num,
        dims,
        scale: a.params.scale,
        zero_point: a.params.zero_point,
        bits: a.scheme.bits,
        correction_var: 1.0,
        correction_mean: 0.0,
    };
    for ql in qm.quantized() {
        let layer = &model.layers[ql.index];
        let kind = layer.kind.name();
        let label = TensorLabel::weight(&ql.name, kind, &format!("{}.weight", ql.name));
        rows.extend(quant_param_report_granular(&label, &effective_weight(ql, layer), &ql.weight).map_err(ExperimentError::Quant)?);
        if let InputQuant::Static(act) = ql.input {
            let shape = model.shapes[ql.index];
            let dims = format!("[{}]", shape.to_string().trim_matches(|c| c == '[' || c == ']').replace(", ", " "));
            rows.push(activation(&ql.name, kind, format!("{}.input", ql.name), shape.len(), dims, &act));
        }
    }
    if let Some(o) = qm.output {
        let last = &model.layers[model.layers.len() - 1];
        let n = model.output().len();
        rows.push(activation(&last.name, last.kind.name(), format!("{}.output", last.name), n, format!("[{n}]"), &o));
    }
    Ok(rows)
}

/// The full report of an already quantized model on its engines.
pub fn report_quantized(exec: &ExecModel, model: &Model, calib_images: usize, eval: &Dataset, baseline: &Fp32Baseline) -> Result<PtqReport, ExperimentError> {
    report_quantized_shard(exec, model, calib_images, eval, baseline, Shard::ALL)
}

/// [`report_quantized`] with the predictions of `shard`'s batches only.
pub fn report_quantized_shard(exec: &ExecModel, model: &Model, calib_images: usize, eval: &Dataset, baseline: &Fp32Baseline, shard: Shard) -> Result<PtqReport, ExperimentError> {
    let qm = &exec.quant;
    let classes = model.output().len();
    let ranges = shard.batches(eval.len(), EVAL_BATCH);
    let mine = if shard == Shard::ALL { eval.clone() } else { eval.select(&ranges) };
    let pred = predict_quantized(exec, &mine)?;
    let fp32_mine: Vec<u8> = ranges.iter().flat_map(|r| baseline.predictions.get(r.clone()).unwrap_or(&[]).iter().copied()).collect();
    let mut notes = exec.notes.clone();
    let mut reasons: Vec<&FallbackReason> = Vec::new();
    for r in exec.layer_engines().filter_map(|(_, e)| e.reason()) {
        if !reasons.contains(&r) {
            reasons.push(r);
        }
    }
    for r in &reasons {
        if let FallbackReason::Accumulator { .. } = r {
            // Not a limitation of the settings but of the integer arithmetic: say so where it is seen.
            notes.push(format!("The integer engine was not used: {r}; the simulation ran instead."));
        }
    }
    let fallback = (!reasons.is_empty()).then(|| reasons.iter().map(|r| r.to_string()).collect::<Vec<_>>().join("; "));
    let engine = engine_summary(exec);

    // Per-layer outputs on the analysis images.
    let n = ANALYSIS_IMAGES.min(eval.len());
    let x = eval.images_f32(0, n);
    let fp32_out = layer_outputs(|each| Ok(Fp32Runner::new(model.clone()).run(&x, each)?), model.layers.len())?;
    let q_out = layer_outputs(|each| Ok(qm.run(&x, each)?), model.layers.len())?;
    let mut outputs = Vec::new();
    for (i, l) in model.layers.iter().enumerate() {
        outputs.push(OutputError { index: i, name: l.name.clone(), kind: l.kind.name().into(), metrics: try_error_metrics(&fp32_out[i], &q_out[i]).map_err(ExperimentError::Quant)? });
    }

    // The FP32 input of layer i: the model's input, or layer i − 1's output.
    let fp32_in = |i: usize| if i == 0 { &x } else { &fp32_out[i - 1] };

    let mut layers = Vec::new();
    let mut statistics = Vec::new();
    let mut clipped: Vec<(String, f64)> = Vec::new();
    let mut dominated: Vec<(String, f64)> = Vec::new();
    for ql in qm.quantized() {
        let layer = &model.layers[ql.index];
        let w_eff = effective_weight(ql, layer);
        dominated.push((ql.name.clone(), dominance(&w_eff)));
        let kind = layer.kind.name().to_string();
        let label = TensorLabel::weight(&ql.name, &kind, &format!("{}.weight", ql.name));
        statistics.extend(distribution_report_granular(&label, &w_eff, &ql.weight).map_err(ExperimentError::Quant)?);
        let (input, input_params) = match ql.input {
            InputQuant::Float => ("float".to_string(), None),
            InputQuant::Static(a) => ("static".to_string(), Some(a.params)),
            InputQuant::Dynamic { strategy, .. } => (format!("dynamic {}", strategy.name()), None),
        };
        if let Some(a) = input_params {
            let xin = fp32_in(ql.index);
            let shape = model.shapes[ql.index];
            // The activation as the quantized model would quantize this FP32 input (smoothed first,
            // x̃ = x / s, when SmoothQuant is on)...
            let mut smoothed = xin.clone();
            crate::ptq::qmodel::smooth_input(ql, shape, &mut smoothed);
            let mut xq = smoothed.clone();
            crate::ptq::qmodel::fake_quant_input(ql, shape, n, &mut xq);
            // ... and compared in the input's own units: Dequant = q̃·s against Origin = x, the
            // clip ratio of x̃ against the grid it was calibrated for.
            crate::ptq::qmodel::unsmooth_input(ql, shape, &mut xq);
            let alabel = TensorLabel {
                node_name: ql.name.clone(),
                node_type: kind.clone(),
                tensor_name: format!("{}.input", ql.name),
                in_out: InOutFlag::Input,
                tensor_type: TensorTypeFlag::Activation,
            };
            let clip = crate::metrics::clip_ratio(&smoothed, &a);
            clipped.push((ql.name.clone(), clip));
            statistics.extend(distribution_rows(&alabel, xin, &xq, clip).map_err(ExperimentError::Quant)?);
        }
        layers.push(LayerReport {
            index: ql.index,
            name: ql.name.clone(),
            kind,
            bits: ql.bits(),
            granularity: match ql.weight.layout.granularity {
                crate::quant::Granularity::PerTensor => "per_tensor".into(),
                crate::quant::Granularity::PerChannel { .. } => "per_channel".into(),
                crate::quant::Granularity::PerGroup { group_size, .. } => format!("per_group({group_size})"),
            },
            weight_shape: ql.weight_shape.clone(),
            params: layer.kind.params(),
            fp32_bytes: 4 * layer.kind.params(),
            bytes: ql.bytes(),
            weight: try_error_metrics(&w_eff, &ql.weight.dequant).map_err(ExperimentError::Quant)?,
            output: outputs[ql.index].metrics,
            input_params,
            input,
            engine: exec.engines[ql.index].clone().expect("every quantized layer has an engine"),
            bias_correction_mean_abs: ql.bias_delta.iter().map(|d| d.abs() as f64).sum::<f64>() / ql.bias_delta.len().max(1) as f64,
        });
    }
    if let Some(o) = qm.output {
        let last = model.layers.len() - 1;
        let lname = &model.layers[last].name;
        let label = TensorLabel {
            node_name: lname.clone(),
            node_type: model.layers[last].kind.name().into(),
            tensor_name: format!("{lname}.output"),
            in_out: InOutFlag::Output,
            tensor_type: TensorTypeFlag::Activation,
        };
        statistics.extend(distribution_rows(&label, &fp32_out[last], &q_out[last], crate::metrics::clip_ratio(&fp32_out[last], &o.params)).map_err(ExperimentError::Quant)?);
    }
    let quant_params = quant_param_rows(qm)?;
    let bytes = qm.bytes();
    let share = PtqShare { labels: mine.labels, fp32: fp32_mine, simulated: pred.simulated, kernels: pred.kernels, dominated, clipped, notes };
    let mut report = PtqReport {
        fp32_accuracy: baseline.accuracy,
        accuracy: 0.0,
        simulated_accuracy: 0.0,
        kernel_accuracy: None,
        kernel_agreement: None,
        fallback,
        engine,
        agreement: 0.0,
        confusion: Vec::new(),
        eval_images: eval.len(),
        calib_images,
        fp32_bytes: baseline.bytes,
        bytes,
        compression: baseline.bytes as f64 / bytes.max(1) as f64,
        layers,
        outputs,
        statistics,
        quant_params,
        qdq: qdq_view(qm),
        notes: Vec::new(),
        warnings: Vec::new(),
        disagreements: Vec::new(),
        predictions: Vec::new(),
        share: None,
    };
    report.score(&share, classes, |i| global_index(&ranges, i));
    if shard != Shard::ALL {
        report.share = Some(Box::new(share));
    }
    Ok(report)
}

/// The index in the evaluation set of the i-th image of a shard's `ranges`.
fn global_index(ranges: &[std::ops::Range<usize>], mut i: usize) -> usize {
    for r in ranges {
        if i < r.len() {
            return r.start + i;
        }
        i -= r.len();
    }
    i
}

impl PtqReport {
    /// The figures that come from the predictions: the accuracies, the agreements, the
    /// confusion matrix, the first disagreements (as indices of the evaluation set, through
    /// `index`) and the warnings that depend on the agreement.
    fn score(&mut self, s: &PtqShare, classes: usize, index: impl Fn(usize) -> usize) {
        let used = s.kernels.clone().unwrap_or_else(|| s.simulated.clone());
        let same = used.iter().zip(&s.fp32).filter(|(a, b)| a == b).count();
        self.simulated_accuracy = accuracy_of(&s.simulated, &s.labels);
        self.kernel_accuracy = s.kernels.as_ref().map(|p| accuracy_of(p, &s.labels));
        self.kernel_agreement = s.kernels.as_ref().map(|p| p.iter().zip(&s.simulated).filter(|(a, b)| a == b).count() as f64 / p.len().max(1) as f64);
        self.agreement = same as f64 / used.len().max(1) as f64;
        self.accuracy = accuracy_of(&used, &s.labels);
        self.confusion = confusion(&used, &s.labels, classes);
        self.disagreements = used.iter().zip(&s.fp32).enumerate().filter(|(_, (a, b))| a != b).map(|(i, _)| index(i)).take(64).collect();
        self.warnings = suspicious(&self.layers, self.agreement, &s.dominated, &s.clipped);
        self.notes = s.notes.iter().chain(&self.warnings).cloned().collect();
        self.predictions = used;
    }

    /// The report of one run from its shards' (`parts[k]` from shard k of `parts.len()`, each
    /// with its share): the predictions put back in the evaluation set's order and scored as
    /// one run scores them, so every figure is the one-run figure.
    pub fn merge(mut parts: Vec<PtqReport>) -> Result<PtqReport, String> {
        if parts.len() == 1 && parts[0].share.is_none() {
            return Ok(parts.remove(0)); // one shard: the whole run
        }
        let n = parts.first().ok_or("no shard reported")?.eval_images;
        let mut shares = Vec::with_capacity(parts.len());
        let mut first: Option<PtqReport> = None;
        for mut p in parts {
            let share = p.share.take().ok_or("a shard's report came without its predictions")?;
            if let (Some(f), Some(s0)) = (&first, shares.first()) {
                let s0: &PtqShare = s0;
                let names = |r: &PtqReport| r.layers.iter().map(|l| (l.name.clone(), l.bits, l.bytes)).collect::<Vec<_>>();
                if p.eval_images != n || names(&p) != names(f) || p.bytes != f.bytes || p.fp32_accuracy != f.fp32_accuracy || share.dominated != s0.dominated {
                    return Err("the shards ran different models or settings".into());
                }
            }
            shares.push(*share);
            first.get_or_insert(p);
        }
        let mut report = first.ok_or("no shard reported")?;
        let classes = report.confusion.len();
        let has_kernels = shares[0].kernels.is_some();
        if shares.iter().any(|s| s.kernels.is_some() != has_kernels) {
            return Err("the shards ran different engines".into());
        }
        let column = |f: &dyn Fn(&PtqShare) -> Vec<u8>, shares: &[PtqShare]| interleave_batches(shares.iter().map(f).collect(), n, EVAL_BATCH);
        let kernels = if has_kernels { Some(column(&|s| s.kernels.clone().unwrap_or_default(), &shares)?) } else { None };
        let first_share = &shares[0];
        let all = PtqShare {
            labels: column(&|s| s.labels.clone(), &shares)?,
            fp32: column(&|s| s.fp32.clone(), &shares)?,
            simulated: column(&|s| s.simulated.clone(), &shares)?,
            kernels,
            dominated: first_share.dominated.clone(),
            clipped: first_share.clipped.clone(),
            notes: first_share.notes.clone(),
        };
        report.score(&all, classes, |i| i);
        Ok(report)
    }
}

/// Every layer's output for one batch.
pub fn layer_outputs(
    run: impl FnOnce(&mut dyn FnMut(usize, &[f32])) -> Result<(), ExperimentError>,
    layers: usize,
) -> Result<Vec<Vec<f32>>, ExperimentError> {
    let mut out = vec![Vec::new(); layers];
    run(&mut |i, y| out[i] = y.to_vec())?;
    Ok(out)
}

/// Where the quantize / dequantize nodes sit, as a QDQ graph would hold them.
pub fn qdq_view(qm: &QuantModel) -> Vec<QdqNode> {
    let mut nodes = Vec::new();
    let node = |op: &str, target: &str, detail: String| QdqNode { op: op.into(), target: target.into(), detail };
    for (i, l) in qm.fp32.layers.iter().enumerate() {
        let input = if i == 0 { "input".to_string() } else { format!("{}.output", qm.fp32.layers[i - 1].name) };
        if let Some(ql) = &qm.layers[i] {
            if let Some(s) = &ql.smooth {
                nodes.push(node("Mul", &input, format!("SmoothQuant: × 1/s over {} channels", s.len())));
            }
            match ql.input {
                InputQuant::Static(a) => {
                    nodes.push(node("QuantizeLinear", &input, format!("s = {:.6}, Z = {}, int{}", a.params.scale, a.params.zero_point, a.scheme.bits)));
                    nodes.push(node("DequantizeLinear", &input, "back to float".into()));
                }
                InputQuant::Dynamic { strategy, scheme } => {
                    nodes.push(node("DynamicQuantizeLinear", &input, format!("{}: s, Z from each batch, int{}", strategy.name(), scheme.bits)));
                }
                InputQuant::Float => {}
            }
            let g = match ql.weight.layout.granularity {
                crate::quant::Granularity::PerTensor => "per tensor".to_string(),
                crate::quant::Granularity::PerChannel { .. } => format!("per channel ({} scales)", ql.weight.slices.len()),
                crate::quant::Granularity::PerGroup { group_size, .. } => format!("per group of {group_size} ({} scales)", ql.weight.slices.len()),
            };
            nodes.push(node("DequantizeLinear", &format!("{}.weight", ql.name), format!("int{} weight, {g}", ql.bits())));
        }
        let op = match l.kind {
            LayerKind::Linear(_) => "Gemm",
            LayerKind::Conv2d(_) => "Conv",
            LayerKind::Relu => "Relu",
            LayerKind::MaxPool2d(_) => "MaxPool",
            LayerKind::AvgPool2d(_) => "AveragePool",
            LayerKind::Flatten => "Flatten",
            LayerKind::Softmax => "Softmax",
            LayerKind::BatchNorm(_) => "BatchNormalization",
        };
        let detail = if qm.layers[i].is_some() { "float compute on dequantized values".into() } else if matches!(l.kind, LayerKind::Linear(_) | LayerKind::Conv2d(_)) { "FP32 (not quantized)".into() } else { String::new() };
        nodes.push(node(op, &l.name, detail));
    }
    if let Some(o) = qm.output {
        let last = format!("{}.output", qm.fp32.layers.last().map_or("model", |l| l.name.as_str()));
        nodes.push(node("QuantizeLinear", &last, format!("s = {:.6}, Z = {}, int{}", o.params.scale, o.params.zero_point, o.scheme.bits)));
        nodes.push(node("DequantizeLinear", &last, "back to float".into()));
    }
    nodes
}

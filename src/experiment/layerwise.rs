//! The lab's comparison: quantizing layer by layer against all layers at the
//! same time, with the per-layer MSE and the output distributions of both, and
//! a sensitivity ranking.
//!
//! The measurement points are the lab's: the quantized input of every quantized
//! layer (for the MLP: the image, `nn1.relu`, `nn2.relu`) and the quantized
//! output (the logits). At each point the tensor is compared with the FP32
//! model's on the analysis images:
//!
//! ```text
//! MSE(point) = (1/n) Σ (x_fp32 − x_mode)²        over the n values of the point on the analysis images
//! ```
//!
//! Modes:
//! - `layer_by_layer`: only the layer that owns the point is quantized (calibrated on FP32
//!   activations), the others stay FP32, so each error is seen alone;
//! - `all_at_once`: every layer quantized, every range calibrated on FP32 activations in one pass;
//!   errors propagate from layer to layer;
//! - `sequential`: every layer quantized, layer i calibrated on the activations of the model
//!   whose earlier layers are already quantized.
//!
//! Sensitivity: the test accuracy when only layer i is quantized, ranked by the drop from FP32.

use serde::{Deserialize, Serialize};

use super::progress::step;
use super::run::{accuracy_of, predict_with, Fp32Baseline, ANALYSIS_IMAGES};
use super::shard::{interleave, Shard};
use super::spec::Experiment;
use super::ExperimentError;
use crate::data::Dataset;
use crate::metrics::{try_error_metrics, ErrorMetrics};
use crate::model::forward::Fp32Runner;
use crate::model::Model;
use crate::ptq::qmodel::{quantize_input, QuantModel};
use crate::ptq::{quantizable_layers, quantize_model_with, Flow, Scope};
use crate::stats::{histogram, Histogram};

/// Bins of the distribution histograms.
pub const HIST_BINS: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    LayerByLayer,
    AllAtOnce,
    Sequential,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::LayerByLayer, Mode::AllAtOnce, Mode::Sequential];

    pub fn name(self) -> &'static str {
        match self {
            Mode::LayerByLayer => "layer_by_layer",
            Mode::AllAtOnce => "all_at_once",
            Mode::Sequential => "sequential",
        }
    }
}

/// One mode at one point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModeAtPoint {
    pub mode: Mode,
    pub metrics: ErrorMetrics,
    pub histogram: Histogram,
}

/// One measurement point: a quantized tensor of the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// E.g. "input", "nn1.relu", "output".
    pub name: String,
    /// The quantized layer that owns the point (the one quantized in `layer_by_layer`).
    pub layer: String,
    pub fp32_histogram: Histogram,
    pub modes: Vec<ModeAtPoint>,
}

impl Point {
    pub fn mse(&self, mode: Mode) -> f64 {
        self.modes.iter().find(|m| m.mode == mode).map_or(f64::NAN, |m| m.metrics.mse)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sensitivity {
    pub layer: String,
    pub index: usize,
    /// Test accuracy with only this layer quantized.
    pub accuracy: f64,
    /// FP32 accuracy − `accuracy`.
    pub drop: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerwiseReport {
    pub points: Vec<Point>,
    pub fp32_accuracy: f64,
    pub all_at_once_accuracy: f64,
    pub sequential_accuracy: f64,
    /// Ranked by drop, largest first.
    pub sensitivity: Vec<Sensitivity>,
    pub analysis_images: usize,
    /// A shard's report only: the accuracies it measured, its items in order (item 0 is all
    /// layers at once, 1 sequential, 2 + k layer k alone); the other figures wait for
    /// [`LayerwiseReport::merge`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<Vec<f64>>,
}

impl LayerwiseReport {
    /// The accuracies of the items (see `share`) in place, and the sensitivity ranked.
    fn finish(&mut self, accuracies: &[f64]) {
        self.all_at_once_accuracy = accuracies[0];
        self.sequential_accuracy = accuracies[1];
        // Layer k is the k-th quantized layer in model order.
        self.sensitivity.sort_by_key(|s| s.index);
        for (s, &acc) in self.sensitivity.iter_mut().zip(&accuracies[2..]) {
            s.accuracy = acc;
            s.drop = self.fp32_accuracy - acc;
        }
        self.sensitivity.sort_by(|a, b| b.drop.total_cmp(&a.drop).then(a.index.cmp(&b.index)));
    }

    /// The report of one run from its shards' (`parts[k]` from shard k of `parts.len()`).
    pub fn merge(mut parts: Vec<LayerwiseReport>) -> Result<LayerwiseReport, String> {
        if parts.len() == 1 && parts[0].share.is_none() {
            return Ok(parts.remove(0)); // one shard: the whole run
        }
        let mut first = parts.first().ok_or("no shard reported")?.clone();
        let layers = |r: &LayerwiseReport| {
            let mut l: Vec<(usize, String)> = r.sensitivity.iter().map(|s| (s.index, s.layer.clone())).collect();
            l.sort();
            l
        };
        if parts.iter().any(|p| layers(p) != layers(&first) || p.fp32_accuracy != first.fp32_accuracy || p.analysis_images != first.analysis_images) {
            return Err("the shards ran different models or settings".into());
        }
        let shares = parts.into_iter().map(|p| p.share.ok_or("a shard's report came without its accuracies")).collect::<Result<Vec<_>, _>>()?;
        let accuracies = interleave(shares, first.sensitivity.len() + 2)?;
        first.share = None;
        first.finish(&accuracies);
        Ok(first)
    }
}

/// The name of the point at layer i's input: the layer that produces it, or "input" when only
/// a Flatten (or nothing) stands between it and the model's input.
fn point_name(model: &Model, i: usize) -> String {
    if model.layers[..i].iter().all(|l| matches!(l.kind, crate::model::LayerKind::Flatten)) {
        "input".into()
    } else {
        model.layers[i - 1].name.clone()
    }
}

/// The tensors at the measurement points of one model on a batch, in point order.
fn point_values(qm: Option<&QuantModel>, fp32: &Model, x: &[f32], quantized: &[usize]) -> Result<Vec<Vec<f32>>, ExperimentError> {
    let last = fp32.layers.len() - 1;
    let mut inputs: Vec<Vec<f32>> = vec![Vec::new(); fp32.layers.len()];
    let mut output = Vec::new();
    match qm {
        Some(qm) => qm.run_with_inputs(x, &mut |i, v| inputs[i] = v.to_vec(), &mut |i, y| {
            if i == last {
                output = y.to_vec();
            }
        })?,
        None => Fp32Runner::new(fp32.clone()).run_hooked(
            x,
            &mut |i, _, v| {
                if quantized.contains(&i) {
                    inputs[i] = v.to_vec();
                }
            },
            &mut |i, y| {
                if i == last {
                    output = y.to_vec();
                }
            },
        )?,
    }
    let mut values: Vec<Vec<f32>> = quantized.iter().map(|&i| std::mem::take(&mut inputs[i])).collect();
    values.push(output);
    Ok(values)
}

/// Runs the comparison on the experiment's PTQ settings.
pub fn run_layerwise(
    exp: &Experiment,
    model: &Model,
    calib: &[f32],
    eval: &Dataset,
    baseline: &Fp32Baseline,
    on_progress: &mut dyn FnMut(&super::Progress) -> bool,
) -> Result<LayerwiseReport, ExperimentError> {
    run_layerwise_shard(exp, model, calib, eval, baseline, Shard::ALL, on_progress)
}

/// [`run_layerwise`], measuring the accuracies of `shard`'s items only (every other figure is
/// the whole run's); [`LayerwiseReport::merge`] makes the one-run report of all shards'.
pub fn run_layerwise_shard(
    exp: &Experiment,
    model: &Model,
    calib: &[f32],
    eval: &Dataset,
    baseline: &Fp32Baseline,
    shard: Shard,
    on_progress: &mut dyn FnMut(&super::Progress) -> bool,
) -> Result<LayerwiseReport, ExperimentError> {
    exp.validate()?;
    let layers: Vec<(usize, String)> = quantizable_layers(model).into_iter().filter(|(_, n)| !exp.ptq.skip.contains(n)).collect();
    if layers.is_empty() {
        return Err(crate::ptq::config::field_error("skip", "every layer is skipped: nothing to compare").into());
    }
    let indices: Vec<usize> = layers.iter().map(|(i, _)| *i).collect();
    let total = layers.len() + 3;
    let n = ANALYSIS_IMAGES.min(eval.len());
    let x = eval.images_f32(0, n);
    let classes = model.output().len();
    let fp32_points = point_values(None, model, &x, &indices)?;

    // The two all-layer models.
    step(on_progress, "all layers at once", 0, total)?;
    let all = quantize_model_with(model, &exp.ptq, calib, Scope::All, Flow::AllAtOnce)?.model;
    step(on_progress, "sequential calibration", 1, total)?;
    let seq = quantize_model_with(model, &exp.ptq, calib, Scope::All, Flow::Sequential)?.model;
    let all_points = point_values(Some(&all), model, &x, &indices)?;
    let seq_points = point_values(Some(&seq), model, &x, &indices)?;
    step(on_progress, "evaluating", 2, total)?;
    // The accuracy of item i (0: all at once, 1: sequential, 2 + k: layer k alone), when it is this shard's.
    let accuracy = |i: usize, q: &QuantModel| -> Result<Option<f64>, ExperimentError> {
        if !shard.takes(i) {
            return Ok(None);
        }
        Ok(Some(accuracy_of(&predict_with(eval, classes, |b| Ok(q.forward(b)?))?, &eval.labels)))
    };
    let mut accuracies: Vec<Option<f64>> = vec![accuracy(0, &all)?, accuracy(1, &seq)?];

    // Layer by layer: point p is owned by quantized layer p (the output point by the last layer).
    let mut lbl_points: Vec<Vec<f32>> = Vec::new();
    let mut sensitivity = Vec::new();
    for (k, (i, name)) in layers.iter().enumerate() {
        step(on_progress, format!("{name} alone"), 3 + k, total)?;
        let alone = quantize_model_with(model, &exp.ptq, calib, Scope::Only(*i), Flow::AllAtOnce)?.model;
        let ql = alone.layers[*i].as_ref().expect("the one quantized layer");
        // Its input point: the FP32 input, quantized as the layer quantizes it.
        let mut xin = fp32_points[k].clone();
        quantize_input(ql, model.shapes[*i], n, &mut xin);
        lbl_points.push(xin);
        if k + 1 == layers.len() {
            lbl_points.push(point_values(Some(&alone), model, &x, &indices)?.pop().expect("the output point"));
        }
        accuracies.push(accuracy(2 + k, &alone)?);
        // Filled in by `finish` (0 until then: a NaN would not survive JSON on its way to the page).
        sensitivity.push(Sensitivity { layer: name.clone(), index: *i, accuracy: 0.0, drop: 0.0 });
    }
    step(on_progress, "done", total, total)?;

    let mut points = Vec::new();
    let names: Vec<String> = layers
        .iter()
        .map(|&(i, _)| point_name(model, i))
        .chain(std::iter::once("output".to_string()))
        .collect();
    for (p, name) in names.iter().enumerate() {
        let owner = layers[p.min(layers.len() - 1)].1.clone();
        let reference = &fp32_points[p];
        let per_mode = [(Mode::LayerByLayer, &lbl_points[p]), (Mode::AllAtOnce, &all_points[p]), (Mode::Sequential, &seq_points[p])];
        // Shared edges: the range of every mode's values.
        let (lo, hi) = per_mode
            .iter()
            .map(|(_, v)| *v)
            .chain(std::iter::once(reference))
            .flat_map(|v| v.iter())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v as f64), b.max(v as f64)));
        let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 0.0) };
        let mut modes = Vec::new();
        for (mode, values) in per_mode {
            modes.push(ModeAtPoint { mode, metrics: try_error_metrics(reference, values).map_err(ExperimentError::Quant)?, histogram: histogram(values, lo, hi, HIST_BINS) });
        }
        points.push(Point { name: name.clone(), layer: owner, fp32_histogram: histogram(reference, lo, hi, HIST_BINS), modes });
    }
    let mut report = LayerwiseReport {
        points,
        fp32_accuracy: baseline.accuracy,
        all_at_once_accuracy: 0.0,
        sequential_accuracy: 0.0,
        sensitivity,
        analysis_images: n,
        share: None,
    };
    if shard == Shard::ALL {
        report.finish(&accuracies.into_iter().map(|a| a.unwrap_or(0.0)).collect::<Vec<_>>());
    } else {
        report.share = Some(accuracies.into_iter().flatten().collect());
    }
    Ok(report)
}

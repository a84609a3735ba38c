//! Sweeps: accuracy and SQNR against bits, per-tensor against per-channel,
//! for each calibration method, in one run.
//!
//! Each cell quantizes the model with the experiment's PTQ settings, except:
//! - `weight_bits` = b, and in full / dynamic mode `act_bits` = b too (W b A b);
//! - the weight granularity;
//! - the calibration method, at its default setting: for the activations in full mode,
//!   for the weights in weight-only and dynamic modes (which calibrate no activation).
//!
//! Measured per cell: test accuracy, the output SQNR (logits against FP32's on the analysis
//! images, dB), the mean weight SQNR over the quantized layers (dB), and the size in bytes.

use serde::{Deserialize, Serialize};

use super::progress::step;
use super::run::{accuracy_of, predict_with, Fp32Baseline, ANALYSIS_IMAGES};
use super::shard::{interleave, Shard};
use super::spec::{Experiment, SweepSettings};
use super::ExperimentError;
use crate::data::Dataset;
use crate::metrics::try_error_metrics;
use crate::model::forward::Fp32Runner;
use crate::model::Model;
use crate::ptq::{quantize_model, PtqConfig, QuantMode, Scope, WeightGranularity};
use crate::quant::calibration::{Calibration, CalibrationKind};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepCell {
    pub bits: u8,
    pub granularity: WeightGranularity,
    pub calibration: CalibrationKind,
    pub accuracy: f64,
    pub output_sqnr_db: f64,
    /// Mean over the quantized layers (none when every layer is smoothed).
    pub weight_sqnr_db: Option<f64>,
    pub bytes: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepReport {
    pub fp32_accuracy: f64,
    pub fp32_bytes: usize,
    pub mode: QuantMode,
    pub cells: Vec<SweepCell>,
}

pub fn run_sweep(
    exp: &Experiment,
    model: &Model,
    calib: &[f32],
    eval: &Dataset,
    baseline: &Fp32Baseline,
    shard: Shard,
    on_progress: &mut dyn FnMut(&super::Progress) -> bool,
) -> Result<SweepReport, ExperimentError> {
    exp.validate()?;
    let s = &exp.sweep;
    let total = shard.len_of(s.cells());
    let n = ANALYSIS_IMAGES.min(eval.len());
    let x = eval.images_f32(0, n);
    let fp32_out = Fp32Runner::new(model.clone()).forward(&x)?;
    let classes = model.output().len();
    let mut cells = Vec::with_capacity(total);
    let mut done = 0;
    // Every cell's number in one run's order, whichever shard computes it.
    let mut item = 0;
    for &granularity in &s.granularities {
        for &calibration in &s.calibrations {
            for &bits in &s.bits {
                item += 1;
                if !shard.takes(item - 1) {
                    continue;
                }
                step(on_progress, format!("{bits} bits, {}, {}", granularity.name(), calibration.name()), done, total)?;
                let c = Calibration::default_for(calibration);
                let mut cfg = PtqConfig { weight_bits: bits, granularity, layer_bits: Default::default(), ..exp.ptq.clone() };
                match cfg.mode {
                    QuantMode::Full => {
                        cfg.act_bits = bits;
                        cfg.act_calibration = c;
                    }
                    QuantMode::Dynamic => {
                        cfg.act_bits = bits;
                        cfg.weight_calibration = c;
                    }
                    QuantMode::WeightOnly => cfg.weight_calibration = c,
                }
                let q = quantize_model(model, &cfg, calib, Scope::All)?.model;
                let pred = predict_with(eval, classes, |b| Ok(q.forward(b)?))?;
                let out = q.forward(&x)?;
                let output_sqnr_db = try_error_metrics(&fp32_out, &out).map_err(ExperimentError::Quant)?.sqnr_db;
                let mut wsum = 0.0;
                let mut count = 0;
                for ql in q.quantized() {
                    let (w, _, _, _) = model.layers[ql.index].kind.weight().expect("quantized layers have weights");
                    if ql.smooth.is_none() {
                        wsum += try_error_metrics(w, &ql.weight.dequant).map_err(ExperimentError::Quant)?.sqnr_db;
                        count += 1;
                    }
                }
                cells.push(SweepCell {
                    bits,
                    granularity,
                    calibration,
                    accuracy: accuracy_of(&pred, &eval.labels),
                    output_sqnr_db,
                    weight_sqnr_db: (count > 0).then(|| wsum / count as f64),
                    bytes: q.bytes(),
                });
                done += 1;
            }
        }
    }
    step(on_progress, "done", total, total)?;
    Ok(SweepReport { fp32_accuracy: baseline.accuracy, fp32_bytes: baseline.bytes, mode: exp.ptq.mode, cells })
}

impl SweepReport {
    /// The report of one run of `settings` from the reports of its shards (`parts[k]` from
    /// shard k of `parts.len()`): the same cells in the same order.
    pub fn merge(parts: Vec<SweepReport>, settings: &SweepSettings) -> Result<SweepReport, String> {
        let first = parts.first().ok_or("no shard reported")?;
        let (fp32_accuracy, fp32_bytes, mode) = (first.fp32_accuracy, first.fp32_bytes, first.mode);
        if parts.iter().any(|p| p.fp32_accuracy != fp32_accuracy || p.fp32_bytes != fp32_bytes || p.mode != mode) {
            return Err("the shards ran different models or settings".into());
        }
        let total = settings.cells();
        let cells = interleave(parts.into_iter().map(|p| p.cells).collect(), total)?;
        Ok(SweepReport { fp32_accuracy, fp32_bytes, mode, cells })
    }
}

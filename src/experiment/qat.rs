//! Quantization-aware training from the FP32 baseline, and the lab's table:
//! FP32 / PTQ / QAT size and accuracy.
//!
//! QAT fake-quantizes the weights (on the grid the PTQ deploys: the experiment's symmetry, narrow
//! range, and one range per output channel or per tensor; per-group trains per channel) and the
//! input of every Linear / Conv2d and the logits (asymmetric, ranges from an exponential moving
//! average of each batch's min / max), at `weight_bits` / `act_bits` of the experiment, on its
//! grid (the lab's normal or clip method), and trains through them with the straight-through
//! estimator (`qplay::train::net`). The ranges start from the calibration images. The deployed
//! model is the PTQ of the fine-tuned weights with the activation ranges training learned. PTQ is
//! the same model quantized without training, with
//! the same bits and the experiment's other PTQ settings.

use serde::{Deserialize, Serialize};

use super::run::{accuracy_of, predict_with, Fp32Baseline};
use super::spec::Experiment;
use super::{ExperimentError, Progress};
use crate::data::Dataset;
use crate::model::Model;
use crate::ptq::qmodel::QuantModel;
use crate::ptq::build::quantize_model_with_ranges;
use crate::ptq::{quantize_model, Scope};
use crate::train::fit::{fit, FitConfig, FitOutcome};
use crate::train::net::{Net, QatConfig};
use crate::train::optim::Optimizer;

/// One row of the lab's table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableRow {
    /// "FP32", "PTQ" or "QAT".
    pub model: String,
    pub bytes: usize,
    pub accuracy: f64,
}

/// A point of the training curves.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Epochs done, as a fraction (1.5 = halfway through the second).
    pub epoch: f64,
    pub loss: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QatReport {
    pub table: Vec<TableRow>,
    pub weight_bits: u8,
    pub act_bits: u8,
    pub epochs: usize,
    pub train_images: usize,
    /// Mean training loss every few batches.
    pub loss: Vec<CurvePoint>,
    /// Test accuracy (fake-quant) before training (epoch 0) and after each epoch.
    pub accuracy: Vec<(usize, f64)>,
    /// The fine-tuned weights re-quantized by PTQ (MinMax ranges on the calibration images),
    /// the model one would deploy: its accuracy.
    pub deployed_accuracy: f64,
    /// What the run noticed (training that made the model worse).
    #[serde(default)]
    pub notes: Vec<String>,
}

/// A note when training made the model worse: test accuracy more than 5 points below where QAT
/// started, with the largest training loss seen. The usual cause is a learning rate too large
/// (the loss jumps in the first batches and the model ends up predicting one class).
pub fn divergence_note(loss: &[CurvePoint], accuracy: &[(usize, f64)], lr: f32) -> Option<String> {
    let (&(_, before), &(_, after)) = (accuracy.first()?, accuracy.last()?);
    if after >= before - 0.05 {
        return None;
    }
    // NaN wins the fold: a loss that was not finite is the one to report.
    let peak = loss.iter().map(|c| c.loss).fold(None, |m: Option<f64>, l| match m {
        Some(m) if m.is_nan() || l <= m => Some(m),
        _ => Some(l),
    });
    let peak = match peak {
        Some(l) if !l.is_finite() => "; the training loss was not finite".to_string(),
        Some(l) if l.abs() >= 1000.0 => format!("; the training loss reached {l:.0}"),
        Some(l) => format!("; the training loss reached {l:.3}"),
        None => String::new(),
    };
    Some(format!(
        "Training made the model worse: test accuracy fell from {:.2} % to {:.2} %{peak}. A learning rate too large is the usual cause (qat.lr = {}; 1e-4 to 1e-3 is usual).",
        100.0 * before,
        100.0 * after,
        crate::decimal::short_text(lr)
    ))
}

/// The fine-tuned FP32 weights, for export.
pub struct QatOutcome {
    pub report: QatReport,
    pub model: Model,
    pub deployed: QuantModel,
}

pub fn run_qat(
    exp: &Experiment,
    model: &Model,
    calib: &[f32],
    train: &Dataset,
    eval: &Dataset,
    baseline: &Fp32Baseline,
    on_progress: &mut dyn FnMut(&Progress) -> bool,
) -> Result<QatOutcome, ExperimentError> {
    exp.validate()?;
    let classes = model.output().len();
    let (wb, ab) = (exp.ptq.weight_bits, exp.ptq.act_bits);
    // PTQ at the same bits.
    let ptq = quantize_model(model, &exp.ptq, calib, Scope::All)?.model;
    let ptq_acc = accuracy_of(&predict_with(eval, classes, |x| Ok(ptq.forward(x)?))?, &eval.labels);

    let mut net = Net::new(model.clone())?;
    // Trained on the experiment's grid (normal or clip), as its PTQ and its deployment are.
    net.qat = Some(QatConfig::for_ptq(&exp.ptq));
    net.logits(calib, true); // the ranges start from the calibration images
    let eval_net = |net: &mut Net| -> Result<f64, ExperimentError> { Ok(accuracy_of(&predict_with(eval, classes, |x| Ok(net.logits(x, false)))?, &eval.labels)) };
    let mut accuracy = vec![(0, eval_net(&mut net)?)];
    let data = if exp.qat.train_size > 0 { train.take(exp.qat.train_size) } else { train.clone() };
    let cfg = FitConfig { epochs: 1, batch: exp.qat.batch, optimizer: Optimizer::adam(exp.qat.lr), seed: exp.seed, report_every: 20 };
    let batches = data.len().div_ceil(cfg.batch.max(1));
    let mut loss = Vec::new();
    for epoch in 0..exp.qat.epochs {
        // One epoch at a time, with the epoch folded into the seed, so the curves can show test accuracy per epoch.
        let ecfg = FitConfig { seed: exp.seed.wrapping_add(epoch as u64 * 7919), ..cfg };
        let outcome = fit(&mut net, &data, &ecfg, &mut |p| {
            let e = epoch as f64 + p.batch as f64 / batches as f64;
            loss.push(CurvePoint { epoch: e, loss: p.loss as f64 });
            on_progress(&Progress {
                stage: format!("QAT epoch {}/{}", epoch + 1, exp.qat.epochs),
                done: epoch * batches + p.batch,
                total: exp.qat.epochs * batches,
                value: Some(p.loss as f64),
            })
        });
        if outcome == FitOutcome::Cancelled {
            return Err(ExperimentError::Cancelled);
        }
        accuracy.push((epoch + 1, eval_net(&mut net)?));
    }
    let qat_acc = accuracy.last().map_or(0.0, |a| a.1);
    net.qat = None;
    let tuned = net.model.clone();
    // Deployed with the activation ranges it was trained with, not ranges calibrated anew: on the
    // clip grid a range a little narrower moves which values saturate, and a W4 clip model that
    // reached 62 % as trained fell back to 10 % when its ranges were recalibrated.
    let deployed = quantize_model_with_ranges(&tuned, &exp.ptq, calib, &net.act_ranges)?.model;
    let deployed_accuracy = accuracy_of(&predict_with(eval, classes, |x| Ok(deployed.forward(x)?))?, &eval.labels);
    let bytes = ptq.bytes();
    let report = QatReport {
        table: vec![
            TableRow { model: "FP32".into(), bytes: baseline.bytes, accuracy: baseline.accuracy },
            TableRow { model: "PTQ".into(), bytes, accuracy: ptq_acc },
            TableRow { model: "QAT".into(), bytes: deployed.bytes(), accuracy: qat_acc },
        ],
        weight_bits: wb,
        act_bits: ab,
        epochs: exp.qat.epochs,
        train_images: data.len(),
        notes: divergence_note(&loss, &accuracy, exp.qat.lr).into_iter().collect(),
        loss,
        accuracy,
        deployed_accuracy,
    };
    Ok(QatOutcome { report, model: tuned, deployed })
}

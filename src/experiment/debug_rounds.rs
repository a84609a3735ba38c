//! MindSpore Lite's quantization debug mode (`debug_info_save_path`), round by round: "for full
//! quantization, N data distribution statistics reports will be generated according to the
//! number of correction datasets provided, that is, one report will be generated for each round;
//! for weighting, only one" — `report_<round>.csv` — and `output_summary.csv`, the cosine
//! similarity of the network's output in each round.
//!
//! Round r runs calibration image r through the FP32 model and the quantized one (its
//! simulation, the reference every engine is checked against) and reports, for every quantized
//! layer (see [`crate::report`] for the columns):
//!
//! ```text
//! weight   Origin: w (SmoothQuant: w · s)        Dequant: ŵ                       (the same every round)
//! input    Origin: the FP32 model's input        Dequant: the quantized model's input after its
//!                                                 QuantizeLinear / DequantizeLinear (÷ s undone)
//!          Clip: the share of the quantized model's (smoothed) input beyond the static grid
//! output   Origin: the FP32 model's output       Dequant: the quantized model's output
//! ```
//!
//! so each Dequant row carries the error of every layer before it, as in MindSpore Lite's
//! quantized graph ("filter InOutFlag == Output && DataTypeFlag == Dequant … the closer
//! CosineSimilarity is to 1 the smaller the loss"). The run's `statistics.csv` isolates each
//! layer instead (its input rows quantize the FP32 input) over the evaluation images.

use serde::{Deserialize, Serialize};

use super::run::{effective_weight, quant_param_rows};
use super::ExperimentError;
use crate::metrics::{clip_ratio, cosine_similarity};
use crate::model::forward::Fp32Runner;
use crate::ptq::qmodel::{smooth_input, unsmooth_input};
use crate::ptq::{InputQuant, QuantModel};
use crate::report::{to_csv, distribution_csv, distribution_report_granular, distribution_rows, quant_param_csv, DistributionRow, InOutFlag, TensorLabel, TensorTypeFlag};

/// One row of `output_summary.csv` (MindSpore Lite's columns: Round, TensorName, CosineSimilarity).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OutputSummaryRow {
    pub round: usize,
    pub tensor_name: String,
    pub cosine_similarity: f64,
}

/// The debug reports of one quantized model: `rounds[r]` is `report_<r>.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct DebugReports {
    pub rounds: Vec<Vec<DistributionRow>>,
    /// Empty when the model quantizes no activation (weight and dynamic quantization run no
    /// calibration rounds).
    pub summary: Vec<OutputSummaryRow>,
}

fn activation(node: &str, kind: &str, tensor: String, in_out: InOutFlag) -> TensorLabel {
    TensorLabel { node_name: node.into(), node_type: kind.into(), tensor_name: tensor, in_out, tensor_type: TensorTypeFlag::Activation }
}

/// [`DebugReports`] of `qm` with one round per image of `calib` ([N, input]) when it quantizes
/// activations statically (full quantization), else one report of its weights.
pub fn debug_reports(qm: &QuantModel, calib: &[f32]) -> Result<DebugReports, ExperimentError> {
    let mut rounds = Vec::new();
    let summary = debug_rounds(qm, calib, &mut |_, rows| {
        rounds.push(rows.to_vec());
        Ok(())
    })?;
    Ok(DebugReports { rounds, summary })
}

/// Where [`debug_rounds`] hands each round's rows: `(round, rows)`.
pub type RoundSink<'a> = dyn FnMut(usize, &[DistributionRow]) -> Result<(), ExperimentError> + 'a;

/// The rounds of [`debug_reports`] one at a time: `each(round, rows)` as each is made (so that
/// 8,192 calibration rounds are never held at once); returns the output summary.
pub fn debug_rounds(
    qm: &QuantModel,
    calib: &[f32],
    each: &mut RoundSink,
) -> Result<Vec<OutputSummaryRow>, ExperimentError> {
    let model = &qm.fp32;
    let q = |e| ExperimentError::Quant(e);
    let mut weights = Vec::new();
    for ql in qm.quantized() {
        let layer = &model.layers[ql.index];
        let kind = layer.kind.name();
        let label = TensorLabel::weight(&ql.name, kind, &format!("{}.weight", ql.name));
        weights.extend(distribution_report_granular(&label, &effective_weight(ql, layer), &ql.weight).map_err(q)?);
    }
    let calibrated = qm.quantized().any(|ql| matches!(ql.input, InputQuant::Static(_)));
    if !calibrated {
        each(0, &weights)?;
        return Ok(Vec::new());
    }
    let p = model.input.len();
    if p == 0 || !calib.len().is_multiple_of(p) {
        return Err(crate::ptq::config::field_error("calib_size", format!("{} calibration values are not whole images of {p}", calib.len())).into());
    }
    let fp32 = Fp32Runner::new(model.clone());
    let layers = model.layers.len();
    let last = layers - 1;
    let mut summary = Vec::new();
    for (round, x) in calib.chunks_exact(p).enumerate() {
        let (mut fp32_out, mut q_out, mut q_in) = (vec![Vec::new(); layers], vec![Vec::new(); layers], vec![Vec::new(); layers]);
        fp32.run(x, &mut |i, y| fp32_out[i] = y.to_vec())?;
        qm.run_with_inputs(x, &mut |i, x_hat| q_in[i] = x_hat.to_vec(), &mut |i, y| q_out[i] = y.to_vec())?;
        let mut rows = weights.clone();
        for ql in qm.quantized() {
            let (i, shape, kind) = (ql.index, model.shapes[ql.index], model.layers[ql.index].kind.name());
            if !matches!(ql.input, InputQuant::Float) {
                let mut dequant = q_in[i].clone();
                unsmooth_input(ql, shape, &mut dequant);
                let clip = match ql.input {
                    InputQuant::Static(a) => {
                        let mut before = input_of(x, &q_out, i).to_vec();
                        smooth_input(ql, shape, &mut before);
                        clip_ratio(&before, &a.params)
                    }
                    // A dynamic range is the tensor's own: nothing is clipped.
                    _ => 0.0,
                };
                let label = activation(&ql.name, kind, format!("{}.input", ql.name), InOutFlag::Input);
                rows.extend(distribution_rows(&label, input_of(x, &fp32_out, i), &dequant, clip).map_err(q)?);
            }
            let clip = match qm.output {
                Some(o) if i == last => clip_ratio(&fp32_out[i], &o.params),
                _ => 0.0,
            };
            let label = activation(&ql.name, kind, format!("{}.output", ql.name), InOutFlag::Output);
            rows.extend(distribution_rows(&label, &fp32_out[i], &q_out[i], clip).map_err(q)?);
        }
        let name = format!("{}.output", model.layers[last].name);
        summary.push(OutputSummaryRow { round, tensor_name: name, cosine_similarity: cosine_similarity(&fp32_out[last], &q_out[last]).map_err(q)? });
        each(round, &rows)?;
    }
    Ok(summary)
}

/// MindSpore Lite's debug folder (`debug_info_save_path`), each file given to `put(name, CSV
/// text)` as it is made: one `report_<round>.csv` per calibration image (one report of the
/// weights when no activation is calibrated), `output_summary.csv` when there are rounds, and
/// `quant_param.csv`.
pub fn write_debug_info(qm: &QuantModel, calib: &[f32], put: &mut dyn FnMut(&str, &str) -> Result<(), String>) -> Result<(), ExperimentError> {
    let csv = |e| ExperimentError::Quant(e);
    let summary = debug_rounds(qm, calib, &mut |round, rows| put(&format!("report_{round}.csv"), &distribution_csv(rows).map_err(csv)?).map_err(ExperimentError::Write))?;
    if !summary.is_empty() {
        put("output_summary.csv", &to_csv(&summary, &["Round", "TensorName", "CosineSimilarity"]).map_err(csv)?).map_err(ExperimentError::Write)?;
    }
    put("quant_param.csv", &quant_param_csv(&quant_param_rows(qm)?).map_err(csv)?).map_err(ExperimentError::Write)
}

/// Layer i's input: the image x, or layer i − 1's output.
fn input_of<'a>(x: &'a [f32], outputs: &'a [Vec<f32>], i: usize) -> &'a [f32] {
    if i == 0 { x } else { &outputs[i - 1] }
}

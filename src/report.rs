//! MindSpore Lite's quantization debug reports, per tensor: the data-distribution
//! statistics (`report_*.csv`) and the quantization parameters (`quant_param.csv`),
//! as serde rows with CSV and JSON export.
//!
//! Distribution report, two rows per tensor (`DataTypeFlag` Origin: the float
//! tensor; Dequant: its reconstruction r'). CSV columns, in this order (the
//! names are MindSpore Lite's, `MAX` included):
//!
//! ```text
//! NodeName, NodeType, TensorName, InOutFlag, DataTypeFlag, TensorTypeFlag,
//! Min, Q1, Median, Q3, MAX, Mean, Var, Sparsity, Clip, CosineSimilarity
//! ```
//!
//! - Min … Var: [`crate::stats::Summary`] of that row's data (NumPy-linear quantiles,
//!   population variance); Sparsity: fraction of exact zeros.
//! - Clip: fraction of the original values outside the clamp limits
//!   [(qmin − Z)·s, (qmax − Z)·s] of their slice; 0 on the Origin row.
//! - CosineSimilarity: cos(x, r'); 1 on the Origin row.
//!
//! Quantization-parameter report, one row per tensor (per-tensor) or per slice
//! (per-channel, per-group). CSV columns, in this order:
//!
//! ```text
//! NodeName, NodeType, TensorName, Channel, ElementsNum, Dims, Scale, ZeroPoint, Bits,
//! CorrectionVar, CorrectionMean
//! ```
//!
//! - Channel: the slice number (channel, or group for per-group; see
//!   [`crate::quant::granularity`]), empty for a per-tensor row.
//! - ElementsNum: the elements the row's parameters cover; Dims: the whole tensor's
//!   shape, written `[d0 d1 …]` (spaces, so the CSV field needs no quoting).
//! - CorrectionVar, CorrectionMean: the bias-correction pair of MindSpore Lite's
//!   weight quantizer, the affine map that gives r' the slice's own mean and spread:
//!   ```text
//!   CorrectionVar  = std(x) / std(r')          (1 when std(r') = 0)
//!   CorrectionMean = mean(x) − mean(r') · CorrectionVar
//!   corrected r''  = r' · CorrectionVar + CorrectionMean
//!   ```
//!
//! [`DISTRIBUTION_COLUMNS`] and [`QUANT_PARAM_COLUMNS`] are the headers; the CSV
//! always starts with them, even with no rows. Floats are written in their
//! shortest round-trip form. JSON is an array of objects with the same keys.

use serde::{Deserialize, Serialize};

use crate::metrics::{clip_ratio, cosine_similarity, is_clipped};
use crate::quant::granularity::{GranularQuantized, Granularity};
use crate::quant::{QuantError, Quantized, Scheme};
use crate::stats::{mean_var, summarize};

pub const DISTRIBUTION_COLUMNS: [&str; 16] = [
    "NodeName",
    "NodeType",
    "TensorName",
    "InOutFlag",
    "DataTypeFlag",
    "TensorTypeFlag",
    "Min",
    "Q1",
    "Median",
    "Q3",
    "MAX",
    "Mean",
    "Var",
    "Sparsity",
    "Clip",
    "CosineSimilarity",
];

pub const QUANT_PARAM_COLUMNS: [&str; 11] = [
    "NodeName",
    "NodeType",
    "TensorName",
    "Channel",
    "ElementsNum",
    "Dims",
    "Scale",
    "ZeroPoint",
    "Bits",
    "CorrectionVar",
    "CorrectionMean",
];

/// Whether the tensor is a node's input or output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InOutFlag {
    Input,
    Output,
}

/// Origin: the float model's tensor; Dequant: the quantized model's, dequantized.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DataTypeFlag {
    Origin,
    Dequant,
}

/// Activation (computed at run time) or Weight (a constant).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TensorTypeFlag {
    Activation,
    Weight,
}

/// Who a tensor belongs to, for the first report columns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorLabel {
    pub node_name: String,
    pub node_type: String,
    pub tensor_name: String,
    pub in_out: InOutFlag,
    pub tensor_type: TensorTypeFlag,
}

impl TensorLabel {
    /// A weight tensor that is an input of its node (the usual case for a playground tensor).
    pub fn weight(node_name: &str, node_type: &str, tensor_name: &str) -> TensorLabel {
        TensorLabel {
            node_name: node_name.to_string(),
            node_type: node_type.to_string(),
            tensor_name: tensor_name.to_string(),
            in_out: InOutFlag::Input,
            tensor_type: TensorTypeFlag::Weight,
        }
    }
}

/// One row of the data-distribution report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DistributionRow {
    pub node_name: String,
    pub node_type: String,
    pub tensor_name: String,
    pub in_out_flag: InOutFlag,
    pub data_type_flag: DataTypeFlag,
    pub tensor_type_flag: TensorTypeFlag,
    pub min: f64,
    #[serde(rename = "Q1")]
    pub q1: f64,
    pub median: f64,
    #[serde(rename = "Q3")]
    pub q3: f64,
    #[serde(rename = "MAX")]
    pub max: f64,
    pub mean: f64,
    pub var: f64,
    pub sparsity: f64,
    pub clip: f64,
    pub cosine_similarity: f64,
}

/// One row of the quantization-parameter report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QuantParamRow {
    pub node_name: String,
    pub node_type: String,
    pub tensor_name: String,
    pub channel: Option<usize>,
    pub elements_num: usize,
    pub dims: String,
    pub scale: f32,
    pub zero_point: i32,
    pub bits: u8,
    pub correction_var: f64,
    pub correction_mean: f64,
}

/// The Origin and Dequant rows of a tensor x and its reconstruction, with a clip ratio
/// computed by the caller (it depends on the parameters of each element's slice).
pub fn distribution_rows(
    label: &TensorLabel,
    x: &[f32],
    dequant: &[f32],
    clip: f64,
) -> Result<[DistributionRow; 2], QuantError> {
    let cosine = cosine_similarity(x, dequant)?; // also checks equal lengths
    let row = |data: &[f32], flag: DataTypeFlag, clip: f64, cosine: f64| -> Result<DistributionRow, QuantError> {
        let s = summarize(data)?;
        Ok(DistributionRow {
            node_name: label.node_name.clone(),
            node_type: label.node_type.clone(),
            tensor_name: label.tensor_name.clone(),
            in_out_flag: label.in_out,
            data_type_flag: flag,
            tensor_type_flag: label.tensor_type,
            min: s.min,
            q1: s.q1,
            median: s.median,
            q3: s.q3,
            max: s.max,
            mean: s.mean,
            var: s.var,
            sparsity: s.sparsity,
            clip,
            cosine_similarity: cosine,
        })
    };
    Ok([row(x, DataTypeFlag::Origin, 0.0, 1.0)?, row(dequant, DataTypeFlag::Dequant, clip, cosine)?])
}

/// Distribution rows of a per-tensor quantization.
pub fn distribution_report(label: &TensorLabel, x: &[f32], q: &Quantized) -> Result<[DistributionRow; 2], QuantError> {
    distribution_rows(label, x, &q.dequant, clip_ratio(x, &q.params))
}

/// Distribution rows of a per-channel / per-group quantization (clip against each slice's limits).
pub fn distribution_report_granular(
    label: &TensorLabel,
    x: &[f32],
    g: &GranularQuantized,
) -> Result<[DistributionRow; 2], QuantError> {
    if x.len() != g.dequant.len() {
        return Err(QuantError::LengthMismatch { left: x.len(), right: g.dequant.len() });
    }
    let clipped = x.iter().enumerate().filter(|&(i, &v)| is_clipped(v, g.params_of(i))).count();
    let clip = if x.is_empty() { 0.0 } else { clipped as f64 / x.len() as f64 };
    distribution_rows(label, x, &g.dequant, clip)
}

/// `[d0 d1 …]`
fn dims_text(shape: &[usize]) -> String {
    let inner: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", inner.join(" "))
}

/// (CorrectionVar, CorrectionMean) of a slice and its reconstruction (see the module header).
pub fn bias_correction(x: &[f32], dequant: &[f32]) -> Result<(f64, f64), QuantError> {
    if x.len() != dequant.len() {
        return Err(QuantError::LengthMismatch { left: x.len(), right: dequant.len() });
    }
    if x.is_empty() {
        return Err(QuantError::Empty);
    }
    let (mean_x, var_x) = mean_var(x);
    let (mean_d, var_d) = mean_var(dequant);
    // var_corr = std(x) / std(r'); a constant r' has no spread to rescale, so 1.
    let var_corr = if var_d > 0.0 { (var_x / var_d).sqrt() } else { 1.0 };
    // mean_corr = mean(x) − mean(r')·var_corr
    Ok((var_corr, mean_x - mean_d * var_corr))
}

/// The one row of a per-tensor quantization of x, of `shape`.
pub fn quant_param_report(
    label: &TensorLabel,
    shape: &[usize],
    scheme: &Scheme,
    x: &[f32],
    q: &Quantized,
) -> Result<Vec<QuantParamRow>, QuantError> {
    let (correction_var, correction_mean) = bias_correction(x, &q.dequant)?;
    Ok(vec![QuantParamRow {
        node_name: label.node_name.clone(),
        node_type: label.node_type.clone(),
        tensor_name: label.tensor_name.clone(),
        channel: None,
        elements_num: x.len(),
        dims: dims_text(shape),
        scale: q.params.scale,
        zero_point: q.params.zero_point,
        bits: scheme.bits,
        correction_var,
        correction_mean,
    }])
}

/// One row per slice of a granular quantization (one row, Channel empty, for per-tensor).
pub fn quant_param_report_granular(
    label: &TensorLabel,
    x: &[f32],
    g: &GranularQuantized,
) -> Result<Vec<QuantParamRow>, QuantError> {
    if x.len() != g.dequant.len() {
        return Err(QuantError::LengthMismatch { left: x.len(), right: g.dequant.len() });
    }
    let per_tensor = g.layout.granularity == Granularity::PerTensor;
    let (mut xs, mut ds) = (Vec::new(), Vec::new());
    let mut rows = Vec::with_capacity(g.slices.len());
    for (k, slice) in g.slices.iter().enumerate() {
        g.layout.gather(x, k, &mut xs);
        g.layout.gather(&g.dequant, k, &mut ds);
        let (correction_var, correction_mean) = bias_correction(&xs, &ds)?;
        rows.push(QuantParamRow {
            node_name: label.node_name.clone(),
            node_type: label.node_type.clone(),
            tensor_name: label.tensor_name.clone(),
            channel: if per_tensor { None } else { Some(k) },
            elements_num: xs.len(),
            dims: dims_text(&g.layout.shape),
            scale: slice.params.scale,
            zero_point: slice.params.zero_point,
            bits: g.scheme.bits,
            correction_var,
            correction_mean,
        });
    }
    Ok(rows)
}

fn csv_error(e: impl std::fmt::Display) -> QuantError {
    QuantError::Export { format: "csv", message: e.to_string() }
}

/// Rows as CSV: the header `columns` first (always, even with no rows), then one line per row.
pub(crate) fn to_csv<T: Serialize>(rows: &[T], columns: &[&str]) -> Result<String, QuantError> {
    let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    w.write_record(columns).map_err(csv_error)?;
    for row in rows {
        w.serialize(row).map_err(csv_error)?;
    }
    let bytes = w.into_inner().map_err(csv_error)?;
    String::from_utf8(bytes).map_err(csv_error)
}

/// The distribution report as CSV, with [`DISTRIBUTION_COLUMNS`] as the header.
pub fn distribution_csv(rows: &[DistributionRow]) -> Result<String, QuantError> {
    to_csv(rows, &DISTRIBUTION_COLUMNS)
}

/// The quantization-parameter report as CSV, with [`QUANT_PARAM_COLUMNS`] as the header.
pub fn quant_param_csv(rows: &[QuantParamRow]) -> Result<String, QuantError> {
    to_csv(rows, &QUANT_PARAM_COLUMNS)
}

/// Any report as pretty-printed JSON (an array of objects keyed by the CSV column names).
pub fn to_json<T: Serialize>(rows: &[T]) -> Result<String, QuantError> {
    serde_json::to_string_pretty(rows).map_err(|e| QuantError::Export { format: "json", message: e.to_string() })
}

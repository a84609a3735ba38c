//! A look inside one projection of a quantized language model: one row of its weights in FP32
//! and as the quantized model holds them, the integer grid of every group of that row and
//! where the groups start, and the histogram of the whole matrix before and after.
//!
//! ```text
//! group g of row r covers columns [g·G, (g+1)·G)
//! its grid:  level(u) = s_{r,g} · (u − o) (+ m_{r,g} when the format has a minimum),  u = 0 … 2^b − 1
//!            (8-bit: the signed integers −128 … 127, o = 0)
//! ```
//!
//! Simulated formats (bit widths without a kernel) and float formats hold values, not integers:
//! their rows carry no grid, and the view says so.

use serde::{Deserialize, Serialize};

use super::{Embedding, LmError, LmLinear, LmModel};
use crate::stats::histogram;

/// Bins of the histograms.
pub const BINS: usize = 80;

/// The integer grid of one group of the row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupGrid {
    /// First column of the group.
    pub start: usize,
    pub len: usize,
    /// s: the step between two levels (negative when the largest-magnitude value of the
    /// group is negative: llama.cpp's Q4_0 convention, d = max / −8).
    pub scale: f32,
    /// The representable values, lowest first (2^b of them).
    pub levels: Vec<f32>,
}

/// One projection seen from inside.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeightView {
    pub name: String,
    /// The quantized model's format of this projection ("w4 g32 sym", "f32", …).
    pub format: String,
    pub n: usize,
    pub k: usize,
    pub row: usize,
    /// Row `row` of the FP32 weights [K].
    pub fp32: Vec<f32>,
    /// The same row as the quantized model multiplies with (dequantized) [K].
    pub quantized: Vec<f32>,
    /// Bits of the stored integers; None for float and simulated formats.
    pub bits: Option<u8>,
    /// Values per group (K for per-channel); None without integers.
    pub group: Option<usize>,
    /// The grid of every group of the row (empty without integers).
    pub grids: Vec<GroupGrid>,
    /// Histograms over [lo, hi] of every FP32 weight and every quantized weight of the matrix.
    pub lo: f64,
    pub hi: f64,
    pub fp32_counts: Vec<f64>,
    pub quantized_counts: Vec<f64>,
    /// Why there is no grid, when there is none.
    pub note: Option<String>,
}

/// The projections of a model by name, as the layer table names them.
pub fn projection_names(model: &LmModel) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    if matches!(model.embedding, Embedding::Linear(_)) {
        names.push("tok_embeddings".into());
    }
    for (l, b) in model.blocks.iter().enumerate() {
        names.extend(b.linears().iter().map(|(n, _)| format!("layers.{l}.{n}")));
    }
    names.push("output".into());
    names
}

/// The Linear called `name` ("layers.{l}.attention.wq", "output", "tok_embeddings").
pub fn linear_named<'m>(model: &'m LmModel, name: &str) -> Option<&'m LmLinear> {
    match name {
        "output" => Some(&model.output),
        "tok_embeddings" => match &model.embedding {
            Embedding::Linear(l) => Some(l),
            Embedding::F32(_) => None,
        },
        _ => {
            let rest = name.strip_prefix("layers.")?;
            let (l, proj) = rest.split_once('.')?;
            let block = model.blocks.get(l.parse::<usize>().ok()?)?;
            block.linears().into_iter().find(|(n, _)| *n == proj).map(|(_, lin)| lin)
        }
    }
}

/// Every row of `lin`, dequantized, one after the other; `n · k` was checked by the model.
fn all_rows(lin: &LmLinear) -> Result<Vec<f32>, LmError> {
    let (n, k) = (lin.n(), lin.k());
    let mut out = vec![0.0f32; n * k];
    for (r, row) in out.chunks_exact_mut(k).enumerate() {
        lin.row(r, row)?;
    }
    Ok(out)
}

/// The view of projection `name`, row `row`, comparing `fp32` with `quantized` (two models of the
/// same shape; the FP32 one is the reference the method started from).
pub fn weight_view(fp32: &LmModel, quantized: &LmModel, name: &str, row: usize) -> Result<WeightView, LmError> {
    let unknown = || LmError::Setting { name: "projection", message: format!("{name:?} is not a projection of this model") };
    let (a, b) = (linear_named(fp32, name).ok_or_else(unknown)?, linear_named(quantized, name).ok_or_else(unknown)?);
    let (n, k) = (b.n(), b.k());
    if (a.n(), a.k()) != (n, k) {
        return Err(LmError::Setting { name: "projection", message: format!("{name}: the FP32 model is [{}, {}], the quantized one [{n}, {k}]", a.n(), a.k()) });
    }
    if row >= n {
        return Err(LmError::Setting { name: "row", message: format!("{row} is outside 0–{} for {name} [{n}, {k}]", n - 1) });
    }
    let (wa, wb) = (all_rows(a)?, all_rows(b)?);
    let finite = wa.iter().chain(&wb).copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v as f64), hi.max(v as f64)));
    let (lo, hi) = if lo.is_finite() && hi > lo { (lo, hi) } else if lo.is_finite() { (lo - 0.5, lo + 0.5) } else { (-1.0, 1.0) };
    let (mut grids, mut bits, mut group, mut note) = (Vec::new(), None, None, None);
    match b {
        LmLinear::Grouped { w, .. } => {
            bits = Some(w.bits);
            group = Some(w.group);
            let groups = w.groups();
            // Stored integers: 8-bit i8 (o = 0, u − o = −128 … 127); 4-bit u − o, u = 0 … 15.
            let ints: Vec<i32> = if w.bits == 8 { (-128..=127).collect() } else { (0..16).map(|u| u - w.offset as i32).collect() };
            for g in 0..groups {
                let s = w.scale[row * groups + g];
                let m = w.min.as_ref().map_or(0.0, |m| m[row * groups + g]);
                let mut levels: Vec<f32> = ints.iter().map(|&i| s * i as f32 + m).collect();
                levels.sort_by(f32::total_cmp);
                grids.push(GroupGrid { start: g * w.group, len: w.group, scale: s, levels });
            }
        }
        LmLinear::Float { format, .. } if format == "f32" || format == "f16" || format == "bf16" => {
            note = Some(format!("{name} is held as {format} values: no integer grid"));
        }
        LmLinear::Float { format, .. } => {
            note = Some(format!("{name} is simulated ({format}: fake-quantized values on the f32 GEMM): the grid is not stored"));
        }
    }
    Ok(WeightView {
        name: name.to_string(),
        format: b.format().to_string(),
        n,
        k,
        row,
        fp32: wa[row * k..(row + 1) * k].to_vec(),
        quantized: wb[row * k..(row + 1) * k].to_vec(),
        bits,
        group,
        grids,
        lo,
        hi,
        fp32_counts: histogram(&wa, lo, hi, BINS).counts,
        quantized_counts: histogram(&wb, lo, hi, BINS).counts,
        note,
    })
}

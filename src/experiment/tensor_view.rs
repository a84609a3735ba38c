//! Everything the Tensor page shows, derived from its settings and the tensor: the values
//! and their shape, the integers, the dequantized values, each slice's parameters, the error
//! metrics (and FP16 / BF16 round trips), and every calibrator on the same values. Plain
//! data, no web crate: the page calls [`TensorView::derive`], the tests call it natively.
//!
//! Large tensors and slow calibrators go to the worker instead ([`TensorView::work`] above
//! [`INLINE_WORK`]): it runs [`TensorView::derive_with`], which reports progress and can be
//! cancelled, and sends the view back as [`TensorViewParts`]: the figures and the charts
//! ([`TensorCharts`], already binned) and the first [`SHOWN_SLICES`] slices' parameters as JSON,
//! and of the values only the first [`SHOWN_VALUES`] the page's table shows, as bytes. Receiving
//! and drawing the view of 4 M values then costs the page's thread what it costs for a few hundred.

use std::rc::Rc;

use serde::{Deserialize, Serialize};

use super::progress::Progress;
use super::tensor_charts::TensorCharts;
use crate::formats::files::largest_tensor;
use crate::formats::Tensor;
use crate::generate::generate;
use crate::metrics::{quant_error_metrics_by, try_error_metrics, ErrorMetrics, QuantErrorMetrics};
use crate::parse::parse_numbers;
use crate::quant::calibration::{compare, Calibration, CalibrationOutcome};
use crate::quant::granularity::{SliceLayout, SliceParams};
use crate::quant::{bf16_round_trip, fp16_round_trip, min_max, quantize_granular, quantize_with_manual_range, Granularity, QuantError};
use crate::share::TensorSettings;

/// Above this many values the side-by-side calibrator chart is skipped (it runs six searches).
pub const MAX_COMPARE: usize = 1 << 16;

/// Values the page's table lists (the first ones); a view from the worker carries only these.
pub const SHOWN_VALUES: usize = 512;

/// Slices (channels, groups) the page's table lists; a view from the worker carries only these.
pub const SHOWN_SLICES: usize = 256;

/// Largest loaded tensor the page quantizes (the CLI takes any size).
pub const MAX_PAGE_VALUES: usize = 1 << 22;

/// Above this much [`TensorView::work`] the page hands the tensor to the worker, so that typing
/// never waits for it. Measured natively (release, 2026-12-04, `measure_tensor_view_work` in
/// tests/suite/experiment.rs) one unit of work took 3.1–6.7 ns across per-tensor, per-channel and
/// per-group views and every calibrator at the sizes the page keeps (MSE counted twice: per
/// tensor and in small groups one m · steps unit took 10–12 ns), and the page in
/// Chromium takes about twice the native time (a view of 1 Mi values per tensor: 1.15e7 units,
/// 67 ms natively, 121–128 ms of the page's thread). 5e6 units is then about 12–42 ms natively:
/// the page keeps its own example (8 values with the six calibrators side by side, 4.2e6 units,
/// 10 ms natively) and tensors up to about 450,000 values per tensor (11 units per value).
pub const INLINE_WORK: f64 = 5e6;

/// Units of [`TensorView::work`] that one slice (channel, group) costs beyond its values.
const PER_SLICE: f64 = 25.0;

/// Everything the page shows, derived from the settings.
#[derive(Debug, PartialEq)]
pub struct TensorView {
    /// How many values the tensor has.
    pub values: usize,
    /// The values x, their integers q and their reconstructions r′: all of them when derived
    /// here, the first [`SHOWN_VALUES`] in a view from the worker ([`TensorView::from_parts`]).
    pub x: Rc<Vec<f32>>,
    pub shape: Vec<usize>,
    pub q: Rc<Vec<i32>>,
    pub dequant: Rc<Vec<f32>>,
    /// How many slices quantized the tensor (one per channel or group; one per tensor).
    pub slice_count: usize,
    /// Each slice's parameters: all of them when derived here, the first [`SHOWN_SLICES`] in a
    /// view from the worker; never empty.
    pub slices: Rc<Vec<SliceParams>>,
    /// Which slice holds each value.
    pub layout: Rc<SliceLayout>,
    pub data_min: f32,
    pub data_max: f32,
    pub metrics: QuantErrorMetrics,
    pub fp16: ErrorMetrics,
    pub bf16: ErrorMetrics,
    /// Every calibrator on the whole tensor, or why not.
    pub outcomes: Result<Rc<Vec<CalibrationOutcome>>, String>,
    /// Values outside the first slice's [α, β] (all of them under one slice).
    pub outside_range: usize,
    /// What the charts draw.
    pub charts: Rc<TensorCharts>,
}

/// Whether the page can show a file's tensor: some values, all finite, at most
/// [`MAX_PAGE_VALUES`]; else why not, naming the tensor. A file none of whose tensors passes is
/// refused whole, and the tensor shown before stays.
pub fn page_can_take(name: &str, t: &Tensor) -> Result<(), String> {
    // A name from a file, shown safe to read (no control or right-to-left characters).
    let name = crate::clip::clip(name, 120);
    // The count its shape holds: a tensor of more than the page takes reaches the page by its
    // shape alone (`crate::formats::pack_tensors`).
    if t.count() > MAX_PAGE_VALUES {
        return Err(format!("{name} has {} values; the page takes up to {MAX_PAGE_VALUES} (the qplay tensor command takes any size)", t.count()));
    }
    if t.values.is_empty() {
        return Err(format!("{name} is empty (shape {:?}): the page needs at least one value", t.shape));
    }
    crate::quant::check_finite(&t.values).map_err(|e| format!("{name}: {e}"))
}

/// Which of a file's tensors the page opens on (the largest it can show, as
/// [`largest_tensor`] picks) and why it cannot show each of the others it cannot; or, when it
/// can show none, why: the reasons of the three largest, then how many more.
pub fn page_choice(tensors: &[(String, Tensor)]) -> Result<(usize, Vec<Option<String>>), String> {
    let cannot_show: Vec<Option<String>> = tensors.iter().map(|(n, t)| page_can_take(n, t).err()).collect();
    if let Some(chosen) = largest_tensor(tensors, |i| cannot_show[i].is_none()) {
        return Ok((chosen, cannot_show));
    }
    let mut largest_first: Vec<usize> = (0..tensors.len()).collect();
    largest_first.sort_by_key(|&i| std::cmp::Reverse(tensors[i].1.count()));
    let mut whys: Vec<String> = largest_first.iter().take(3).filter_map(|&i| cannot_show[i].clone()).collect();
    if tensors.len() > 3 {
        whys.push(format!("and {} more tensors the page cannot show", tensors.len() - 3));
    }
    Err(match whys.is_empty() {
        true => "the file holds no tensor".into(),
        false => whys.join("; "),
    })
}

/// The values and their shape: a generated tensor first, then a loaded one (`(name, tensor)`),
/// then the text box.
fn input(s: &TensorSettings, loaded: Option<(&str, &Tensor)>) -> Result<(Vec<f32>, Vec<usize>), String> {
    if let (Some((name, t)), None) = (loaded, s.generator) {
        page_can_take(name, t)?;
        // An N-D tensor is seen as [d0, d1·…·dn]: rows are channels along axis 0.
        let shape = match t.shape.len() {
            0 => vec![t.values.len()],
            1 => t.shape.clone(),
            _ => vec![t.shape[0], t.values.len() / t.shape[0].max(1)],
        };
        return Ok((t.values.clone(), shape));
    }
    match s.generator {
        Some(g) => {
            let shape = vec![g.rows, g.cols];
            Ok((generate(&g.distribution, &shape, s.seed).map_err(|e| e.to_string())?, shape))
        }
        None => parse_numbers(&s.text).map(|p| (p.values, p.shape)).map_err(|e| e.to_string()),
    }
}

impl TensorView {
    /// Quantizes the page's tensor as `s` says; an error names what is wrong with the input.
    pub fn derive(s: &TensorSettings, loaded: Option<(&str, &Tensor)>) -> Result<TensorView, String> {
        TensorView::derive_with(s, loaded, &mut |_| true)
    }

    /// [`TensorView::derive`], reporting each step to `on_progress`, which returns false to stop
    /// (the result is then `Err("cancelled")`).
    pub fn derive_with(s: &TensorSettings, loaded: Option<(&str, &Tensor)>, on_progress: &mut dyn FnMut(&Progress) -> bool) -> Result<TensorView, String> {
        let compares = 6;
        let total = 4 + compares;
        let mut step = |stage: &str, done: usize| -> Result<(), String> {
            if on_progress(&Progress { stage: stage.into(), done, total, value: None }) {
                Ok(())
            } else {
                Err("cancelled".into())
            }
        };
        step("reading the values", 0)?;
        let (x, shape) = input(s, loaded)?;
        let (data_min, data_max) = min_max(&x).map_err(|e| e.to_string())?;
        let scheme = s.scheme();
        step(&format!("quantizing {} values", x.len()), 1)?;
        let g = match (s.range, s.granularity) {
            (Some((a, b)), Granularity::PerTensor) => quantize_with_manual_range(&x, &shape, &scheme, a, b),
            _ => quantize_granular(&x, &shape, &scheme, s.granularity, &s.calibration),
        }
        .map_err(|e| e.to_string())?;
        step("error metrics", 2)?;
        let metrics = quant_error_metrics_by(&x, &g.dequant, |i| g.params_of(i)).map_err(|e| e.to_string())?;
        let fp16 = try_error_metrics(&x, &fp16_round_trip(&x)).map_err(|e| e.to_string())?;
        let bf16 = try_error_metrics(&x, &bf16_round_trip(&x)).map_err(|e| e.to_string())?;
        // Every method at its default setting, except the chosen one at the user's setting.
        let calibrations: Vec<Calibration> = Calibration::all_defaults()
            .into_iter()
            .map(|c| if c.kind() == s.calibration.kind() { s.calibration } else { c })
            .collect();
        let outcomes = if x.len() <= MAX_COMPARE {
            let mut all: Result<Vec<CalibrationOutcome>, QuantError> = Ok(Vec::with_capacity(calibrations.len()));
            for (i, c) in calibrations.iter().enumerate() {
                step(&format!("calibrator {} of {}: {}", i + 1, calibrations.len(), c.kind().name()), 3 + i.min(compares - 1))?;
                all = all.and_then(|mut v| {
                    v.extend(compare(&x, &scheme, std::slice::from_ref(c))?);
                    Ok(v)
                });
                if all.is_err() {
                    break;
                }
            }
            all.map(Rc::new).map_err(|e| e.to_string())
        } else {
            Err(format!("The side-by-side chart runs up to {MAX_COMPARE} values."))
        };
        step("chart data", 3 + compares)?;
        let first = g.slices.first().map(|s| s.params);
        let outside_range = first.map_or(0, |p| x.iter().filter(|&&v| v < p.alpha || v > p.beta).count());
        let charts = TensorCharts::of(&x, &g, outcomes.as_ref().ok().map(|o| o.as_slice()));
        step("done", total)?;
        Ok(TensorView {
            values: x.len(),
            x: Rc::new(x),
            shape,
            q: Rc::new(g.q),
            dequant: Rc::new(g.dequant),
            slice_count: g.slices.len(),
            slices: Rc::new(g.slices),
            layout: Rc::new(g.layout),
            data_min,
            data_max,
            metrics,
            fp16,
            bf16,
            outcomes,
            outside_range,
            charts: Rc::new(charts),
        })
    }

    /// A rough count of the arithmetic [`TensorView::derive`] does for these settings (one unit
    /// is about one value visited once), without generating or quantizing anything: the page
    /// computes it on every edit to choose between itself and the worker. `values` is the
    /// tensor the settings apply to, a loaded one or the typed text the caller parsed once;
    /// None (text that does not parse) counts as small: `derive` reports its error at once.
    pub fn work(s: &TensorSettings, values: Option<(&str, &Tensor)>) -> f64 {
        let (n, rows) = match (values, s.generator) {
            // Refused at once by `input` (more than the page takes): nothing to compute or send.
            (Some((_, t)), None) if t.count() > MAX_PAGE_VALUES => return 0.0,
            (Some((_, t)), None) => (t.values.len(), t.shape.first().copied().unwrap_or(1)),
            (_, Some(g)) => (g.rows.saturating_mul(g.cols), g.rows),
            (None, None) => (0, 1),
        };
        let n = n as f64;
        let slices = match s.granularity {
            Granularity::PerTensor => 1.0,
            Granularity::PerChannel { .. } => (rows as f64).clamp(1.0, n.max(1.0)),
            Granularity::PerGroup { group_size, .. } => (n / group_size.max(1) as f64).max(1.0),
        };
        // One calibrator on m values.
        let calibrate = |c: &Calibration, m: f64| -> f64 {
            match *c {
                Calibration::MinMax | Calibration::MovingAverageMinMax { .. } => m,
                Calibration::Percentile { .. } | Calibration::RemovalOutlier { .. } => m * m.max(2.0).log2(),
                Calibration::Kl { bins } => m + (bins as f64).powi(2),
                // Twice m · steps: per tensor and in small groups one unit of m · steps took 10–12 ns.
                Calibration::Mse { steps } => 2.0 * m * steps as f64,
            }
        };
        let chosen = slices * calibrate(&s.calibration, n / slices);
        let side_by_side = if n as usize <= MAX_COMPARE {
            Calibration::all_defaults().iter().map(|c| if c.kind() == s.calibration.kind() { calibrate(&s.calibration, n) } else { calibrate(c, n) }).sum()
        } else {
            0.0
        };
        // Quantizing, the metrics and the FP16 / BF16 round trips visit every value about ten times;
        // each slice costs about 25 units of its own (its parameters, its row of the tables and
        // its bar of the strip: measured, groups of 4 took 9.1 ns per unit of the other terms
        // against 5.9 ns per channel, 2026-12-04).
        10.0 * n + PER_SLICE * slices + chosen + side_by_side
    }

    /// The view as it travels from the worker: everything but the values as JSON, and the first
    /// [`SHOWN_VALUES`] of x, q and r′ as little-endian bytes (12 per value).
    pub fn to_parts(&self) -> (TensorViewParts, Vec<u8>) {
        let shown = self.x.len().min(self.q.len()).min(self.dequant.len()).min(SHOWN_VALUES);
        let mut bytes = Vec::with_capacity(12 * shown);
        bytes.extend(self.x[..shown].iter().flat_map(|v| v.to_le_bytes()));
        bytes.extend(self.q[..shown].iter().flat_map(|v| v.to_le_bytes()));
        bytes.extend(self.dequant[..shown].iter().flat_map(|v| v.to_le_bytes()));
        let parts = TensorViewParts {
            values: self.values,
            shown,
            shape: self.shape.clone(),
            slice_count: self.slice_count,
            slices: self.slices[..self.slices.len().min(SHOWN_SLICES)].to_vec(),
            layout: (*self.layout).clone(),
            data_min: self.data_min,
            data_max: self.data_max,
            metrics: self.metrics,
            fp16: self.fp16,
            bf16: self.bf16,
            outcomes: self.outcomes.as_ref().map(|o| (**o).clone()).map_err(Clone::clone),
            outside_range: self.outside_range,
            charts: (*self.charts).clone(),
        };
        (parts, bytes)
    }

    /// The view from [`TensorView::to_parts`] (with the first values only); an error when the
    /// bytes do not hold the values the parts announce.
    pub fn from_parts(parts: TensorViewParts, bytes: &[u8]) -> Result<TensorView, String> {
        let (n, shown) = (parts.values, parts.shown);
        if n > MAX_PAGE_VALUES || shown != n.min(SHOWN_VALUES) || bytes.len() != 12 * shown {
            return Err(format!("the worker's tensor view announced {shown} of {n} values but sent {} bytes", bytes.len()));
        }
        if parts.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) != Some(n) || parts.layout.shape != parts.shape {
            return Err(format!("the worker's tensor view has shape {:?} for {n} values", parts.shape));
        }
        let k = parts.slice_count;
        if k == 0 || parts.layout.group_size == 0 || k != parts.layout.num_slices() || parts.slices.len() != k.min(SHOWN_SLICES) {
            return Err(format!("the worker's tensor view announced {k} slices and sent {}", parts.slices.len()));
        }
        let word = |i: usize| -> [u8; 4] { [bytes[4 * i], bytes[4 * i + 1], bytes[4 * i + 2], bytes[4 * i + 3]] };
        let x = (0..shown).map(|i| f32::from_le_bytes(word(i))).collect();
        let q = (shown..2 * shown).map(|i| i32::from_le_bytes(word(i))).collect();
        let dequant = (2 * shown..3 * shown).map(|i| f32::from_le_bytes(word(i))).collect();
        Ok(TensorView {
            values: n,
            x: Rc::new(x),
            shape: parts.shape,
            q: Rc::new(q),
            dequant: Rc::new(dequant),
            slice_count: k,
            slices: Rc::new(parts.slices),
            layout: Rc::new(parts.layout),
            data_min: parts.data_min,
            data_max: parts.data_max,
            metrics: parts.metrics,
            fp16: parts.fp16,
            bf16: parts.bf16,
            outcomes: parts.outcomes.map(Rc::new),
            outside_range: parts.outside_range,
            charts: Rc::new(parts.charts),
        })
    }
}

/// A [`TensorView`] without its values, as JSON from the worker (see [`TensorView::to_parts`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TensorViewParts {
    /// Values in the tensor.
    pub values: usize,
    /// Values sent (the first ones): min(values, [`SHOWN_VALUES`]).
    pub shown: usize,
    pub shape: Vec<usize>,
    /// Slices in all, and the first of them (min(slice_count, [`SHOWN_SLICES`])).
    pub slice_count: usize,
    pub slices: Vec<SliceParams>,
    pub layout: SliceLayout,
    pub data_min: f32,
    pub data_max: f32,
    pub metrics: QuantErrorMetrics,
    pub fp16: ErrorMetrics,
    pub bf16: ErrorMetrics,
    pub outcomes: Result<Vec<CalibrationOutcome>, String>,
    pub outside_range: usize,
    pub charts: TensorCharts,
}

//! Everything the Tensor page shows, derived from its settings and the tensor: the values
//! and their shape, the integers, the dequantized values, each slice's parameters, the error
//! metrics (and FP16 / BF16 round trips), and every calibrator on the same values. Plain
//! data, no web crate: the page calls [`TensorView::derive`], the tests call it natively.

use std::rc::Rc;

use crate::formats::Tensor;
use crate::generate::generate;
use crate::metrics::{quant_error_metrics_by, try_error_metrics, ErrorMetrics, QuantErrorMetrics};
use crate::parse::parse_numbers;
use crate::quant::calibration::{compare, Calibration, CalibrationOutcome};
use crate::quant::granularity::{SliceLayout, SliceParams};
use crate::quant::{bf16_round_trip, fp16_round_trip, min_max, quantize_granular, quantize_with_manual_range, Granularity};
use crate::share::TensorSettings;

/// Above this many values the side-by-side calibrator chart is skipped (it runs six searches).
pub const MAX_COMPARE: usize = 1 << 16;

/// Largest loaded tensor the page quantizes (the CLI takes any size).
pub const MAX_PAGE_VALUES: usize = 1 << 22;

/// Everything the page shows, derived from the settings.
#[derive(Debug, PartialEq)]
pub struct TensorView {
    pub x: Rc<Vec<f32>>,
    pub shape: Vec<usize>,
    pub q: Rc<Vec<i32>>,
    pub dequant: Rc<Vec<f32>>,
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
}

/// The values and their shape: a generated tensor first, then a loaded one (`(name, tensor)`),
/// then the text box.
fn input(s: &TensorSettings, loaded: Option<(&str, &Tensor)>) -> Result<(Vec<f32>, Vec<usize>), String> {
    if let (Some((name, t)), None) = (loaded, s.generator) {
        if t.values.len() > MAX_PAGE_VALUES {
            return Err(format!("{name} has {} values; the page takes up to {MAX_PAGE_VALUES} (the qplay tensor command takes any size)", t.values.len()));
        }
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
        let (x, shape) = input(s, loaded)?;
        let (data_min, data_max) = min_max(&x).map_err(|e| e.to_string())?;
        let scheme = s.scheme();
        let g = match (s.range, s.granularity) {
            (Some((a, b)), Granularity::PerTensor) => quantize_with_manual_range(&x, &shape, &scheme, a, b),
            _ => quantize_granular(&x, &shape, &scheme, s.granularity, &s.calibration),
        }
        .map_err(|e| e.to_string())?;
        let metrics = quant_error_metrics_by(&x, &g.dequant, |i| g.params_of(i)).map_err(|e| e.to_string())?;
        let fp16 = try_error_metrics(&x, &fp16_round_trip(&x)).map_err(|e| e.to_string())?;
        let bf16 = try_error_metrics(&x, &bf16_round_trip(&x)).map_err(|e| e.to_string())?;
        // Every method at its default setting, except the chosen one at the user's setting.
        let calibrations: Vec<Calibration> = Calibration::all_defaults()
            .into_iter()
            .map(|c| if c.kind() == s.calibration.kind() { s.calibration } else { c })
            .collect();
        let outcomes = if x.len() <= MAX_COMPARE {
            compare(&x, &scheme, &calibrations).map(Rc::new).map_err(|e| e.to_string())
        } else {
            Err(format!("The side-by-side chart runs up to {MAX_COMPARE} values."))
        };
        Ok(TensorView {
            x: Rc::new(x),
            shape,
            q: Rc::new(g.q),
            dequant: Rc::new(g.dequant),
            slices: Rc::new(g.slices),
            layout: Rc::new(g.layout),
            data_min,
            data_max,
            metrics,
            fp16,
            bf16,
            outcomes,
        })
    }
}

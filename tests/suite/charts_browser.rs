//! Every chart drawn in headless Chromium, with realistic data and with odd data
//! (empty lists, one point, NaN / ±∞ metrics, all-equal values, 16 bits in a sweep):
//! no error, no panic, and ink (non-white pixels) where the chart must be, read back
//! with getImageData. Plus the Pareto chart's picking, and the generic component's
//! PNG button and keyboard pick list.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use js_sys::{Array, Function, Reflect, Uint8ClampedArray};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::wasm_bindgen_test;
use web_sys::{HtmlCanvasElement, HtmlSelectElement};

use qplay::app::charts::{self, LayerMetric, Sample, SweepMetric};
use qplay::app::components::plot_canvas::{Plot, PlotCanvas, PlotCanvasProps};
use qplay::experiment::layerwise::{LayerwiseReport, Mode, ModeAtPoint, Point};
use qplay::experiment::mixed_bit::{Candidate, MixedBitReport};
use qplay::experiment::qat::{CurvePoint, QatReport, TableRow};
use qplay::experiment::run::LayerReport;
use qplay::experiment::sweep::{SweepCell, SweepReport};
use qplay::experiment::tensor_charts::{calibrators_histogram, error_histogram, grid_histogram, scatter_sample, slice_strip};
use qplay::metrics::ErrorMetrics;
use qplay::ptq::{QuantMode, WeightGranularity};
use qplay::quant::calibration::{compare_all, CalibrationKind};
use qplay::quant::{quantize_granular, Calibration, Granularity, Method, Scheme};
use qplay::stats::{histogram, Histogram};

// ---------------------------------------------------------------- helpers

fn canvas(w: u32, h: u32) -> HtmlCanvasElement {
    let document = gloo::utils::document();
    let c: HtmlCanvasElement = document.create_element("canvas").unwrap().dyn_into().unwrap();
    c.set_width(w);
    c.set_height(h);
    // Block, as in the app: plotters measures text in a span appended to <body>, which must
    // start on a line of its own (beside an inline canvas it would wrap and measure tall).
    c.set_attribute("style", "display: block").unwrap();
    document.body().unwrap().append_child(&c).unwrap();
    c
}

/// Non-white pixels in the rectangle [x0, x1) × [y0, y1) (canvas pixels).
fn ink(c: &HtmlCanvasElement, x0: u32, y0: u32, x1: u32, y1: u32) -> usize {
    let ctx = c.get_context("2d").unwrap().unwrap();
    let get: Function = Reflect::get(&ctx, &"getImageData".into()).unwrap().dyn_into().unwrap();
    let args = Array::of4(&x0.into(), &y0.into(), &(x1 - x0).into(), &(y1 - y0).into());
    let image = get.apply(&ctx, &args).unwrap();
    let data: Uint8ClampedArray = Reflect::get(&image, &"data".into()).unwrap().dyn_into().unwrap();
    data.to_vec().chunks_exact(4).filter(|p| p[3] > 0 && (p[0] < 235 || p[1] < 235 || p[2] < 235)).count()
}

fn ink_all(c: &HtmlCanvasElement) -> usize {
    ink(c, 0, 0, c.width(), c.height())
}

/// Ink in the middle half of the canvas: where the plot area is.
fn ink_middle(c: &HtmlCanvasElement) -> usize {
    let (w, h) = (c.width(), c.height());
    ink(c, w / 4, h / 4, 3 * w / 4, 3 * h / 4)
}

/// A chart that drew: no error, ink overall and in the plot area.
fn assert_drawn(c: &HtmlCanvasElement, what: &str, result: Result<(), String>) {
    assert_eq!(result, Ok(()), "{what}");
    assert!(ink_all(c) > 500, "{what}: too little ink ({})", ink_all(c));
    assert!(ink_middle(c) > 50, "{what}: nothing in the plot area ({})", ink_middle(c));
}

/// A chart that had nothing to draw: no error, and its title and message written.
fn assert_message(c: &HtmlCanvasElement, what: &str, result: Result<(), String>) {
    assert_eq!(result, Ok(()), "{what}");
    let (w, h) = (c.width(), c.height());
    assert!(ink(c, 0, h / 2 - 12, w, h / 2 + 12) > 20, "{what}: no message in the middle");
}

fn metrics(mse: f64, cosine: f64, sqnr_db: f64) -> ErrorMetrics {
    ErrorMetrics { n: 1000, mse, rmse: mse.sqrt(), mae: mse.sqrt() * 0.8, max_abs: mse.sqrt() * 4.0, sqnr_db, cosine, kl_divergence: 0.01, overflowed: 0 }
}

/// A deterministic bell-ish tensor of n values.
fn tensor(n: usize) -> Vec<f32> {
    (0..n).map(|i| ((i as f32 * 0.37).sin() + (i as f32 * 0.11).cos() * 0.5) * (1.0 + (i % 7) as f32 * 0.1)).collect()
}

fn point(name: &str, scale: f64) -> Point {
    let x = tensor(2000);
    let shifted: Vec<f32> = x.iter().map(|v| v * 1.02 + 0.01).collect();
    let h = |v: &[f32]| histogram(v, -3.0, 3.0, 64);
    Point {
        name: name.into(),
        layer: format!("{name}.layer"),
        fp32_histogram: h(&x),
        modes: vec![
            ModeAtPoint { mode: Mode::LayerByLayer, metrics: metrics(1e-4 * scale, 0.9999, 38.0), histogram: h(&x) },
            ModeAtPoint { mode: Mode::AllAtOnce, metrics: metrics(3e-3 * scale, 0.998, 25.0), histogram: h(&shifted) },
            ModeAtPoint { mode: Mode::Sequential, metrics: metrics(1e-3 * scale, 0.999, 30.0), histogram: h(&shifted) },
        ],
    }
}

fn layerwise(points: Vec<Point>) -> LayerwiseReport {
    LayerwiseReport { points, fp32_accuracy: 0.88, all_at_once_accuracy: 0.87, sequential_accuracy: 0.875, sensitivity: vec![], share: None, analysis_images: 500 }
}

fn layer(name: &str, weight: ErrorMetrics, output: ErrorMetrics) -> LayerReport {
    LayerReport {
        index: 0,
        name: name.into(),
        kind: "Linear".into(),
        bits: 8,
        granularity: "per_channel".into(),
        weight_shape: vec![128, 784],
        params: 100_480,
        fp32_bytes: 401_920,
        bytes: 100_992,
        weight,
        output,
        input_params: None,
        input: "static".into(),
        engine: qplay::ptq::Engine::Int8Static,
        bias_correction_mean_abs: 0.0,
    }
}

fn sweep(bits: &[u8], grans: &[WeightGranularity], calibs: &[CalibrationKind]) -> SweepReport {
    let mut cells = Vec::new();
    for &granularity in grans {
        for &calibration in calibs {
            for &b in bits {
                let bonus = if granularity == WeightGranularity::PerChannel { 0.03 } else { 0.0 };
                let ci = CalibrationKind::ALL.iter().position(|&k| k == calibration).unwrap_or(0) as f64;
                let accuracy = (0.88 - (0.6 + 0.05 * ci) * (-(b as f64 - 1.0)).exp2() + bonus).min(0.88);
                cells.push(SweepCell {
                    bits: b,
                    granularity,
                    calibration,
                    accuracy,
                    output_sqnr_db: 6.02 * b as f64 - 4.0 + ci,
                    weight_sqnr_db: Some(6.02 * b as f64 + 1.0),
                    bytes: 100_000 * b as usize / 8,
                });
            }
        }
    }
    SweepReport { fp32_accuracy: 0.88, fp32_bytes: 400_000, mode: QuantMode::Full, cells }
}

fn candidate(label: &str, bytes: usize, accuracy: Option<f64>, on_front: bool) -> Candidate {
    let mut bits = BTreeMap::new();
    bits.insert("fc1".to_string(), (bytes / 10_000) as u8);
    bits.insert("fc2".to_string(), 8);
    Candidate { label: label.into(), bits, bytes, cosine: 0.99, accuracy, on_front }
}

fn mixed(candidates: Vec<Candidate>, selection: usize, uniform8: usize) -> MixedBitReport {
    MixedBitReport {
        selection: candidates.get(selection).cloned().unwrap_or_else(|| candidate("none", 0, None, false)),
        searched: candidates.get(selection).cloned().unwrap_or_else(|| candidate("none", 0, None, false)),
        replaced: None,
        init_scale: 0.02,
        target_cosine: 0.995,
        size_budget: None,
        auto_tune: vec![],
        fp32_bytes: 400_000,
        uniform8: candidates.get(uniform8).cloned().unwrap_or_else(|| candidate("none", 0, None, false)),
        candidates,
        fp32_accuracy: 0.9,
        activations: "weight-only: the activations stay FP32".into(),
    }
}

fn realistic_candidates() -> Vec<Candidate> {
    vec![
        candidate("uniform 2-bit", 25_000, Some(0.30), true),
        candidate("uniform 3-bit", 37_500, Some(0.62), true),
        candidate("uniform 4-bit", 50_000, Some(0.84), true),
        candidate("mixed init_scale=0.0200", 56_000, Some(0.87), true),
        candidate("size path: fc1=5 fc2=6", 60_000, Some(0.86), false),
        candidate("uniform 6-bit", 75_000, Some(0.885), true),
        candidate("uniform 8-bit", 100_000, Some(0.89), true),
        candidate("mixed init_scale=0.1000", 45_000, Some(0.70), false),
    ]
}

fn qat(loss: Vec<CurvePoint>, accuracy: Vec<(usize, f64)>) -> QatReport {
    QatReport {
        table: vec![
            TableRow { model: "FP32".into(), bytes: 400_000, accuracy: 0.88 },
            TableRow { model: "PTQ".into(), bytes: 100_000, accuracy: 0.80 },
            TableRow { model: "QAT".into(), bytes: 100_000, accuracy: 0.86 },
        ],
        weight_bits: 4,
        act_bits: 8,
        epochs: 3,
        train_images: 6000,
        loss,
        accuracy,
        deployed_accuracy: 0.855,
        notes: vec![],
    }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------- the Tensor page's charts

#[wasm_bindgen_test]
fn tensor_charts_per_tensor_and_per_channel() {
    let x = tensor(512);
    let scheme = Scheme::lab(Method::Normal, 8);
    for g in [Granularity::PerTensor, Granularity::PerChannel { axis: 0 }, Granularity::PerGroup { axis: 1, group_size: 16 }] {
        let q = quantize_granular(&x, &[8, 64], &scheme, g, &Calibration::MinMax).unwrap();
        let c = canvas(720, 320);
        assert_drawn(&c, "histogram", charts::draw_histogram(&c, &grid_histogram(&x, &q.slices[0].params), &q.slices[0].params, "values"));
        let c = canvas(560, 420);
        assert_drawn(&c, "scatter", charts::draw_scatter(&c, &scatter_sample(&x, &q.dequant)));
        let c = canvas(560, 420);
        let scale_of = |i: usize| q.params_of(i).scale;
        assert_drawn(&c, "error histogram", charts::draw_error_histogram(&c, &error_histogram(&x, &q.dequant, scale_of)));
        if q.slices.len() > 1 {
            let scales: Vec<f32> = q.slices.iter().map(|s| s.params.scale).collect();
            let zeros: Vec<i32> = q.slices.iter().map(|s| s.params.zero_point).collect();
            let c = canvas(720, 400);
            assert_drawn(&c, "channel strip", charts::draw_channel_strip(&c, &slice_strip(&scales, &zeros), "channel"));
        }
    }
    let outcomes = compare_all(&x, &scheme).unwrap();
    let c = canvas(720, 320);
    assert_drawn(&c, "calibrators", charts::draw_calibrators(&c, &calibrators_histogram(&x, &outcomes), &outcomes));
}

#[wasm_bindgen_test]
fn tensor_charts_on_odd_data() {
    let p = quantize_granular(&[1.0], &[1], &Scheme::lab(Method::Normal, 8), Granularity::PerTensor, &Calibration::MinMax).unwrap().slices[0].params;
    // Empty.
    let c = canvas(560, 420);
    assert_message(&c, "empty scatter", charts::draw_scatter(&c, &scatter_sample(&[], &[])));
    let c = canvas(560, 420);
    assert_message(&c, "empty error histogram", charts::draw_error_histogram(&c, &error_histogram(&[], &[], |_| 0.1)));
    let c = canvas(720, 320);
    assert_message(&c, "empty histogram", charts::draw_histogram(&c, &grid_histogram(&[], &p), &p, "values"));
    let c = canvas(720, 340);
    assert_message(&c, "empty strip", charts::draw_channel_strip(&c, &slice_strip(&[], &[]), "channel"));
    let c = canvas(720, 340);
    assert_message(&c, "one-slice strip", charts::draw_channel_strip(&c, &slice_strip(&[0.1], &[3]), "group"));
    // One point, all equal.
    let c = canvas(560, 420);
    assert_drawn(&c, "one-point scatter", charts::draw_scatter(&c, &scatter_sample(&[0.5], &[0.5])));
    let c = canvas(560, 420);
    assert_drawn(&c, "all-equal scatter", charts::draw_scatter(&c, &scatter_sample(&[2.0; 50], &[2.0; 50])));
    let c = canvas(560, 420);
    assert_drawn(&c, "zero errors", charts::draw_error_histogram(&c, &error_histogram(&[2.0; 50], &[2.0; 50], |_| 0.0)));
    let c = canvas(720, 320);
    assert_drawn(&c, "all-equal histogram", charts::draw_histogram(&c, &grid_histogram(&[1.0; 20], &p), &p, "constant"));
    let c = canvas(720, 340);
    assert_drawn(&c, "all-equal strip", charts::draw_channel_strip(&c, &slice_strip(&[0.1, 0.1, 0.1], &[0, 0, 0]), "channel"));
    // NaN and ±∞ (never from the page, which rejects them, but the charts must not care).
    let x = [1.0, f32::NAN, -2.0, f32::INFINITY, 0.5, f32::NEG_INFINITY];
    let d = [1.0, 0.0, -2.0, 3.0, f32::NAN, 0.0];
    let c = canvas(560, 420);
    assert_drawn(&c, "NaN scatter", charts::draw_scatter(&c, &scatter_sample(&x, &d)));
    let c = canvas(560, 420);
    assert_drawn(&c, "NaN errors", charts::draw_error_histogram(&c, &error_histogram(&x, &d, |i| if i == 2 { f32::NAN } else { 0.1 })));
    let c = canvas(720, 320);
    assert_drawn(&c, "NaN histogram", charts::draw_histogram(&c, &grid_histogram(&x, &p), &p, "with NaN"));
    let c = canvas(720, 340);
    assert_drawn(&c, "NaN strip", charts::draw_channel_strip(&c, &slice_strip(&[0.1, f32::NAN, f32::INFINITY, 0.2], &[0, -3, 5, 127]), "channel"));
    // A million slices: 1,024 bars, each the smallest and largest of 1,024 slices.
    let scales: Vec<f32> = (0..1 << 20).map(|i| 0.01 + (i % 977) as f32 * 1e-4).collect();
    let zeros: Vec<i32> = (0..1 << 20).map(|i| (i % 9) - 4).collect();
    let c = canvas(720, 400);
    assert_drawn(&c, "a million slices", charts::draw_channel_strip(&c, &slice_strip(&scales, &zeros), "group"));
    let c = canvas(560, 420);
    assert_message(&c, "only NaN", charts::draw_scatter(&c, &scatter_sample(&[f32::NAN; 4], &[f32::NAN; 4])));
    // Mismatched lengths compare the common prefix.
    let c = canvas(560, 420);
    assert_drawn(&c, "short dequant", charts::draw_scatter(&c, &scatter_sample(&[1.0, 2.0, 3.0], &[1.0])));
    // A canvas too small is an error, never a panic.
    let c = canvas(10, 10);
    assert!(charts::draw_scatter(&c, &scatter_sample(&[1.0], &[1.0])).is_err());
}

// ---------------------------------------------------------------- per-layer bars, distributions

#[wasm_bindgen_test]
fn layerwise_bars_for_every_metric() {
    let report = layerwise(vec![point("input", 0.1), point("nn1.relu", 1.0), point("nn2.relu", 3.0), point("output", 50.0)]);
    for metric in LayerMetric::ALL {
        let c = canvas(720, 380);
        assert_drawn(&c, metric.name(), charts::draw_layerwise(&c, &report, metric));
    }
    let layers = vec![layer("fc1", metrics(1e-6, 0.99999, 45.0), metrics(1e-3, 0.999, 30.0)), layer("fc2", metrics(2e-6, 0.9999, 40.0), metrics(5e-2, 0.99, 20.0))];
    for metric in LayerMetric::ALL {
        let c = canvas(720, 380);
        assert_drawn(&c, metric.name(), charts::draw_ptq_layers(&c, &layers, metric));
    }
}

#[wasm_bindgen_test]
fn layerwise_bars_on_odd_data() {
    for metric in LayerMetric::ALL {
        let c = canvas(720, 380);
        assert_message(&c, "no points", charts::draw_layerwise(&c, &layerwise(vec![]), metric));
        let c = canvas(720, 380);
        assert_message(&c, "no layers", charts::draw_ptq_layers(&c, &[], metric));
        // One point.
        let c = canvas(720, 380);
        assert_drawn(&c, "one point", charts::draw_layerwise(&c, &layerwise(vec![point("output", 1.0)]), metric));
        // NaN / ±∞ / exact 0 / all equal.
        let odd = vec![
            layer("a", metrics(f64::NAN, f64::NAN, f64::NAN), metrics(f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY)),
            layer("b", metrics(0.0, 1.0, 100.0), metrics(1e-3, 0.5, -3.0)),
            layer("c", metrics(1e-3, 1.0, 30.0), metrics(1e-3, 1.0, 30.0)),
        ];
        let c = canvas(720, 380);
        assert_drawn(&c, "NaN metrics", charts::draw_ptq_layers(&c, &odd, metric));
        let equal = vec![layer("a", metrics(1e-3, 1.0, 30.0), metrics(1e-3, 1.0, 30.0)), layer("b", metrics(1e-3, 1.0, 30.0), metrics(1e-3, 1.0, 30.0))];
        let c = canvas(720, 380);
        assert_drawn(&c, "all equal", charts::draw_ptq_layers(&c, &equal, metric));
        let nan = vec![layer("a", metrics(f64::NAN, f64::NAN, f64::NAN), metrics(f64::NAN, f64::NAN, f64::NAN))];
        let c = canvas(720, 380);
        assert_message(&c, "only NaN", charts::draw_ptq_layers(&c, &nan, metric));
        // A point missing a mode.
        let mut p = point("x", 1.0);
        p.modes.truncate(1);
        let c = canvas(720, 380);
        assert_drawn(&c, "missing mode", charts::draw_layerwise(&c, &layerwise(vec![p]), metric));
    }
}

#[wasm_bindgen_test]
fn distributions_linear_and_log() {
    for log in [false, true] {
        let c = canvas(720, 340);
        assert_drawn(&c, "distributions", charts::draw_distributions(&c, &point("nn1.relu", 1.0), log));
        // A ReLU spike at 0.
        let mut p = point("nn1.relu", 1.0);
        p.fp32_histogram.counts[32] = 1e6;
        let c = canvas(720, 340);
        assert_drawn(&c, "spike", charts::draw_distributions(&c, &p, log));
        // Empty histograms, zero-width range, NaN edges and counts.
        let mut p = point("output", 1.0);
        p.fp32_histogram = Histogram::new(0.0, 0.0, 64);
        p.modes.clear();
        let c = canvas(720, 340);
        assert_message(&c, "empty", charts::draw_distributions(&c, &p, log));
        let mut p = point("output", 1.0);
        p.fp32_histogram = Histogram { lo: 1.0, hi: 1.0, counts: vec![0.0, 50.0] };
        p.modes[0].histogram = Histogram { lo: f64::NAN, hi: 1.0, counts: vec![1.0] };
        p.modes[1].histogram.counts[3] = f64::NAN;
        p.modes[2].histogram = Histogram { lo: 1.0, hi: 1.0, counts: vec![f64::INFINITY, 5.0] };
        let c = canvas(720, 340);
        assert_eq!(charts::draw_distributions(&c, &p, log), Ok(()));
        assert!(ink_all(&c) > 300);
    }
}

// ---------------------------------------------------------------- sweeps

#[wasm_bindgen_test]
fn sweep_lines_for_every_metric() {
    let grans = [WeightGranularity::PerTensor, WeightGranularity::PerChannel];
    let report = sweep(&[2, 3, 4, 5, 6, 7, 8, 16], &grans, &CalibrationKind::ALL);
    for metric in SweepMetric::ALL {
        let c = canvas(720, 420);
        assert_drawn(&c, metric.name(), charts::draw_sweep(&c, &report, metric));
    }
    let mut group = sweep(&[4, 8], &[WeightGranularity::PerGroup { group_size: 32 }], &[CalibrationKind::MinMax]);
    group.mode = QuantMode::WeightOnly;
    let c = canvas(720, 420);
    assert_drawn(&c, "per-group", charts::draw_sweep(&c, &group, SweepMetric::Accuracy));
}

#[wasm_bindgen_test]
fn sweep_on_odd_data() {
    for metric in SweepMetric::ALL {
        let c = canvas(720, 420);
        assert_message(&c, "no cells", charts::draw_sweep(&c, &sweep(&[], &[], &[]), metric));
        // Only 16 bits; one cell.
        let c = canvas(720, 420);
        assert_drawn(&c, "16 bits", charts::draw_sweep(&c, &sweep(&[16], &[WeightGranularity::PerTensor], &[CalibrationKind::Kl]), metric));
        // NaN / ∞ / None and all equal.
        let mut r = sweep(&[2, 8, 16], &[WeightGranularity::PerTensor, WeightGranularity::PerChannel], &[CalibrationKind::MinMax]);
        r.cells[0].accuracy = f64::NAN;
        r.cells[1].output_sqnr_db = f64::INFINITY;
        r.cells[2].weight_sqnr_db = None;
        r.cells[3].output_sqnr_db = f64::NAN;
        let c = canvas(720, 420);
        assert_drawn(&c, "NaN cells", charts::draw_sweep(&c, &r, metric));
        for cell in &mut r.cells {
            cell.accuracy = 0.5;
            cell.output_sqnr_db = 20.0;
            cell.weight_sqnr_db = Some(20.0);
        }
        r.fp32_accuracy = 0.5;
        let c = canvas(720, 420);
        assert_drawn(&c, "all equal", charts::draw_sweep(&c, &r, metric));
    }
    let mut r = sweep(&[4], &[WeightGranularity::PerTensor], &[CalibrationKind::MinMax]);
    r.cells[0].weight_sqnr_db = None;
    r.fp32_accuracy = f64::NAN;
    let c = canvas(720, 420);
    assert_message(&c, "no weight SQNR", charts::draw_sweep(&c, &r, SweepMetric::WeightSqnr));
}

// ---------------------------------------------------------------- Pareto

#[wasm_bindgen_test]
fn pareto_front_returns_pickable_points() {
    let report = mixed(realistic_candidates(), 3, 6);
    let c = canvas(720, 420);
    let points = charts::draw_pareto(&c, &report, None).unwrap();
    assert_eq!(points.len(), report.candidates.len());
    assert!(ink_middle(&c) > 50);
    let (w, h) = (c.width() as i32, c.height() as i32);
    for p in points.iter().flatten() {
        assert!((0..w).contains(&p.0) && (0..h).contains(&p.1), "{p:?} outside the canvas");
    }
    // Larger size → further right; higher accuracy → higher up.
    let (small, large) = (points[0].unwrap(), points[6].unwrap());
    assert!(small.0 < large.0 && small.1 > large.1);
    // A click near a point picks it; far from all picks nothing.
    let (x, y) = points[2].unwrap();
    assert_eq!(charts::nearest_point(&points, x as f64 + 5.0, y as f64 - 4.0, charts::PICK_RADIUS_PX), Some(2));
    assert_eq!(charts::nearest_point(&points, -100.0, -100.0, charts::PICK_RADIUS_PX), None);
    // Another selection draws too.
    let c = canvas(720, 420);
    assert!(charts::draw_pareto(&c, &report, Some(5)).is_ok());
}

#[wasm_bindgen_test]
fn pareto_on_odd_data() {
    let c = canvas(720, 420);
    let points = charts::draw_pareto(&c, &mixed(vec![], 0, 0), None).unwrap();
    assert!(points.is_empty());
    assert!(ink(&c, 0, 200, 720, 220) > 20, "no message");
    // One point.
    let c = canvas(720, 420);
    let points = charts::draw_pareto(&c, &mixed(vec![candidate("only", 50_000, Some(0.8), true)], 0, 0), Some(0)).unwrap();
    assert!(points[0].is_some());
    assert!(ink_middle(&c) > 50);
    // Missing / NaN accuracies are skipped; an out-of-range selection is ignored; all equal.
    let odd = vec![
        candidate("a", 50_000, None, false),
        candidate("b", 50_000, Some(f64::NAN), true),
        candidate("c", 50_000, Some(0.8), true),
        candidate("d", 50_000, Some(0.8), true),
    ];
    let c = canvas(720, 420);
    let points = charts::draw_pareto(&c, &mixed(odd, 9, 9), Some(99)).unwrap();
    assert_eq!(points.iter().map(Option::is_some).collect::<Vec<_>>(), [false, false, true, true]);
    // Nothing with an accuracy.
    let c = canvas(720, 420);
    let points = charts::draw_pareto(&c, &mixed(vec![candidate("a", 1, None, false)], 0, 0), None).unwrap();
    assert_eq!(points, [None]);
}

// ---------------------------------------------------------------- confusion, samples, QAT

#[wasm_bindgen_test]
fn confusion_matrix_fashion_and_mnist() {
    let m: Vec<Vec<u32>> = (0..10).map(|i| (0..10).map(|j| if i == j { 900 } else { ((i * 7 + j * 3) % 23) as u32 }).collect()).collect();
    let c = canvas(620, 560);
    assert_drawn(&c, "fashion", charts::draw_confusion(&c, &m, &names(&charts::FASHION_MNIST_CLASSES), "int8"));
    let c = canvas(620, 560);
    assert_drawn(&c, "mnist", charts::draw_confusion(&c, &m, &names(&charts::MNIST_CLASSES), "int8"));
    // Odd: empty, all zero, ragged, one class, missing names.
    let c = canvas(620, 560);
    assert_message(&c, "empty", charts::draw_confusion(&c, &[], &[], "int8"));
    let c = canvas(620, 560);
    assert_message(&c, "zeros", charts::draw_confusion(&c, &vec![vec![0; 10]; 10], &[], "int8"));
    let c = canvas(620, 560);
    assert_drawn(&c, "ragged", charts::draw_confusion(&c, &[vec![5, 1], vec![2], vec![0, 0, 9]], &names(&["a"]), "int8"));
    let c = canvas(620, 560);
    assert_drawn(&c, "one class", charts::draw_confusion(&c, &[vec![42]], &names(&["only"]), "simulated"));
    let c = canvas(620, 560);
    assert_drawn(&c, "all equal", charts::draw_confusion(&c, &vec![vec![7; 10]; 10], &names(&charts::FASHION_MNIST_CLASSES), "int8"));
}

fn digit(k: usize) -> Vec<u8> {
    (0..784).map(|i| if (i / 28 + i % 28 + k).is_multiple_of(5) && (4..24).contains(&(i % 28)) { 255 } else { 0 }).collect()
}

#[wasm_bindgen_test]
fn sample_grid_marks_disagreements() {
    let samples: Vec<Sample> = (0..12).map(|k| (digit(k), (k % 10) as u8, (k % 10) as u8, if k % 4 == 1 { ((k + 3) % 10) as u8 } else { (k % 10) as u8 })).collect();
    let c = canvas(720, charts::samples_height(samples.len(), 720));
    assert_drawn(&c, "samples", charts::draw_samples(&c, &samples, &names(&charts::FASHION_MNIST_CLASSES), "int8"));
    // Sample 1 disagrees: its frame is vermillion.
    let vermillion = |x0: u32, y0: u32| {
        let ctx = c.get_context("2d").unwrap().unwrap();
        let get: Function = Reflect::get(&ctx, &"getImageData".into()).unwrap().dyn_into().unwrap();
        let image = get.apply(&ctx, &Array::of4(&x0.into(), &y0.into(), &120.into(), &4.into())).unwrap();
        let data: Uint8ClampedArray = Reflect::get(&image, &"data".into()).unwrap().dyn_into().unwrap();
        data.to_vec().chunks_exact(4).filter(|p| p[0] > 180 && (70..120).contains(&p[1]) && p[2] < 40).count()
    };
    assert!(vermillion(124, 56) > 50, "the disagreeing tile has a vermillion frame");
    assert!(vermillion(0, 56) < 5, "an agreeing tile has none");
    // Odd: empty, one, not square, more than fit.
    let c = canvas(720, charts::samples_height(0, 720));
    assert_message(&c, "empty", charts::draw_samples(&c, &[], &[], "int8"));
    let c = canvas(720, charts::samples_height(1, 720));
    assert_eq!(charts::draw_samples(&c, &[(digit(0), 3, 3, 4)], &[], "int4"), Ok(()));
    let c = canvas(720, charts::samples_height(2, 720));
    assert_eq!(charts::draw_samples(&c, &[(vec![1, 2, 3], 0, 0, 0), (vec![], 11, 12, 13)], &names(&charts::MNIST_CLASSES), "int8"), Ok(()));
    let c = canvas(720, 300);
    assert_eq!(charts::draw_samples(&c, &samples, &[], "int8"), Ok(()));
    assert!(ink_all(&c) > 500);
}

#[wasm_bindgen_test]
fn qat_curves() {
    let loss: Vec<CurvePoint> = (0..60).map(|i| CurvePoint { epoch: i as f64 / 20.0, loss: 0.9 * (-(i as f64) / 25.0).exp() + 0.3 }).collect();
    let c = canvas(720, 480);
    assert_drawn(&c, "qat", charts::draw_qat(&c, &qat(loss.clone(), vec![(0, 0.80), (1, 0.84), (2, 0.855), (3, 0.86)])));
    // Both panels have ink.
    assert!(ink(&c, 100, 60, 700, 200) > 50, "loss panel");
    assert!(ink(&c, 100, 300, 700, 440) > 50, "accuracy panel");
    // Odd: empty, one point, NaN, all equal.
    let c = canvas(720, 480);
    assert_message(&c, "empty", charts::draw_qat(&c, &qat(vec![], vec![])));
    let c = canvas(720, 480);
    assert_eq!(charts::draw_qat(&c, &qat(vec![CurvePoint { epoch: 0.5, loss: 1.0 }], vec![(0, 0.8)])), Ok(()));
    assert!(ink_all(&c) > 500);
    let nan = vec![CurvePoint { epoch: f64::NAN, loss: 1.0 }, CurvePoint { epoch: 1.0, loss: f64::INFINITY }, CurvePoint { epoch: 2.0, loss: 0.5 }];
    let c = canvas(720, 480);
    assert_eq!(charts::draw_qat(&c, &qat(nan, vec![(0, f64::NAN), (1, 0.8)])), Ok(()));
    let flat: Vec<CurvePoint> = (0..10).map(|i| CurvePoint { epoch: i as f64 / 3.0, loss: 0.7 }).collect();
    let mut r = qat(flat, vec![(0, 0.8), (1, 0.8)]);
    r.table.clear();
    r.deployed_accuracy = f64::NAN;
    let c = canvas(720, 480);
    assert_drawn(&c, "flat", charts::draw_qat(&c, &r));
    // Loss only / accuracy only.
    let c = canvas(720, 480);
    assert_eq!(charts::draw_qat(&c, &qat(loss, vec![])), Ok(()));
    let c = canvas(720, 480);
    assert_eq!(charts::draw_qat(&c, &qat(vec![], vec![(0, 0.5), (3, 0.9)])), Ok(()));
}

#[wasm_bindgen_test]
fn value_formatting() {
    assert_eq!(charts::fmt_value(0.12345678), "0.1235");
    assert_eq!(charts::fmt_value(1.5e-7), "1.5e-7");
    assert_eq!(charts::fmt_value(-0.0), "0");
    assert_eq!(charts::fmt_value(f64::NAN), "NaN");
    assert_eq!(charts::fmt_value(42.0), "42");
    assert_eq!(charts::fmt_tick(0.25, 0.05), "0.25");
    assert_eq!(charts::fmt_tick(20000.0, 10000.0), "20000");
    assert_eq!(charts::fmt_tick(800000.0, 200000.0), "8e5");
    assert_eq!(charts::fmt_tick(1.5e6, 5e5), "1.5e6");
}

// ---------------------------------------------------------------- the component

/// Lets Yew render and run its effects.
async fn settle() {
    gloo::timers::future::TimeoutFuture::new(50).await;
}

#[wasm_bindgen_test]
async fn plot_canvas_has_a_png_button_and_a_keyboard_pick_list() {
    let document = gloo::utils::document();
    let root = document.create_element("div").unwrap();
    document.body().unwrap().append_child(&root).unwrap();
    let picked = Rc::new(RefCell::new(Vec::<usize>::new()));
    let on_pick = {
        let picked = picked.clone();
        yew::Callback::from(move |i: usize| picked.borrow_mut().push(i))
    };
    let pareto = |on_pick, pickable| PlotCanvasProps {
        plot: Plot::Pareto { report: Rc::new(mixed(realistic_candidates(), 3, 6)), applied: None },
        label: "Pareto front".into(),
        testid: "pareto".into(),
        on_pick,
        pickable,
        class: Default::default(),
    };
    let app = yew::Renderer::<PlotCanvas>::with_root_and_props(root.clone(), pareto(on_pick, true)).render();
    settle().await;
    let canvas: HtmlCanvasElement = root.query_selector("canvas[data-testid=pareto]").unwrap().expect("the canvas keeps its test id").dyn_into().unwrap();
    assert!(ink_middle(&canvas) > 50, "drawn by the component");
    let button = root.query_selector("button.chart-png").unwrap().expect("a PNG button");
    assert_eq!(button.get_attribute("aria-label").as_deref(), Some("Download the mixed-bit Pareto front as PNG"));
    assert!(root.query_selector(".error").unwrap().is_none(), "no error");
    // The list holds the front (6 points) and fires the callback.
    let select: HtmlSelectElement = root.query_selector("select[data-testid=pareto-pick]").unwrap().expect("a pick list").dyn_into().unwrap();
    assert_eq!(root.query_selector_all("select option").unwrap().length(), 1 + 6);
    // Nothing is applied yet: no candidate shows as chosen, and only the proposal (candidate 3,
    // 56.0 kB = 56,000 bytes) says "proposed".
    assert_eq!(select.value(), "");
    let options = root.query_selector_all("select option").unwrap();
    let texts: Vec<String> = (0..options.length()).map(|k| options.item(k).unwrap().text_content().unwrap_or_default()).collect();
    assert_eq!(texts.iter().filter(|t| t.contains("(proposed)")).count(), 1, "{texts:?}");
    assert!(texts.iter().any(|t| t.starts_with("56.0 kB") && t.ends_with("(proposed)")), "{texts:?}");
    select.set_value("5");
    select.dispatch_event(&web_sys::Event::new("change").unwrap()).unwrap();
    settle().await;
    assert_eq!(*picked.borrow(), vec![5]);
    app.destroy();
    // Not pickable (a teacher's lock): the chart is drawn, with no list to apply a point from.
    let app = yew::Renderer::<PlotCanvas>::with_root_and_props(root.clone(), pareto(Default::default(), false)).render();
    settle().await;
    let canvas: HtmlCanvasElement = root.query_selector("canvas[data-testid=pareto]").unwrap().expect("the canvas").dyn_into().unwrap();
    assert!(ink_middle(&canvas) > 50, "drawn");
    assert!(root.query_selector("select").unwrap().is_none(), "no pick list");
    assert!(root.query_selector("figure.pickable").unwrap().is_none());
    app.destroy();
}

// ---------------------------------------------------------------- the Language-model page

fn lm_layers(shift: f64) -> Vec<(String, Option<f64>)> {
    let mut v: Vec<(String, Option<f64>)> = (0..6)
        .flat_map(|l| ["wq", "wk", "wv", "wo", "w1", "w3", "w2"].map(move |p| (l, p)))
        .map(|(l, p)| {
            let kind = if ["w1", "w3", "w2"].contains(&p) { "feed_forward" } else { "attention" };
            (format!("layers.{l}.{kind}.{p}"), Some(28.0 - 1.5 * l as f64 + shift * (l as f64 - 2.5)))
        })
        .collect();
    v.push(("output".into(), None));
    v
}

/// A run's SQNR heat map and its change against another run: drawn, and the change is
/// run − base where both have a figure, summarised by count and median.
#[wasm_bindgen_test]
fn lm_heatmap_sqnr_and_change() {
    use charts::lm_heatmap::{draw_lm_heatmap, sqnr_change, summarize_change, ChangeSummary, HeatValues};
    let (run, base) = (lm_layers(0.4), lm_layers(0.0));
    let c = canvas(900, 360);
    assert_drawn(&c, "SQNR", draw_lm_heatmap(&c, &run, HeatValues::Sqnr, "W4 g32 GPTQ"));
    let change = sqnr_change(&run, &base);
    assert_eq!(change.len(), 43);
    // Block l changes by 0.4 · (l − 2.5): blocks 0–2 worse, 3–5 better; the output head is FP32 in both.
    assert_eq!(change[0].0, "layers.0.attention.wq");
    assert!(change[0].1.is_some_and(|d| (d + 1.0).abs() < 1e-12), "{:?}", change[0]);
    assert_eq!(change[42], ("output".to_string(), None));
    let sum = summarize_change(&change);
    assert_eq!((sum.compared, sum.better, sum.worse), (42, 21, 21));
    assert!(sum.median.is_some_and(|m| m.abs() < 1e-9), "the median of ±0.2 in the middle: {:?}", sum.median);
    let c = canvas(900, 360);
    assert_drawn(&c, "change", draw_lm_heatmap(&c, &change, HeatValues::Change, "1: GPTQ against 2: RTN"));
    // Odd data: a Linear missing from the baseline, NaN and ±∞ figures, nothing in common.
    let mut odd = base.clone();
    odd.remove(3);
    odd[0].1 = Some(f64::NAN);
    odd[1].1 = Some(f64::INFINITY);
    let change = sqnr_change(&run, &odd);
    assert_eq!((change[0].1, change[1].1, change[3].1), (None, None, None));
    assert_eq!(summarize_change(&change).compared, 39);
    let none: Vec<(String, Option<f64>)> = run.iter().map(|(n, _)| (n.clone(), None)).collect();
    let change = sqnr_change(&run, &none);
    assert_eq!(summarize_change(&change), ChangeSummary { compared: 0, better: 0, worse: 0, median: None });
    for (what, values) in [("all FP32, SQNR", HeatValues::Sqnr), ("nothing in common", HeatValues::Change)] {
        let c = canvas(900, 360);
        assert_eq!(draw_lm_heatmap(&c, &change, values, what), Ok(()), "{what}");
    }
    let c = canvas(900, 360);
    assert_message(&c, "no Linear", draw_lm_heatmap(&c, &[], HeatValues::Change, "empty"));
    // The canvas's height follows the rows: 28 px each for up to 20 (6 blocks and the head: 276),
    // then shrinking to 12 px, so that a 40-block model (once "41 rows do not fit") is drawn.
    use charts::lm_heatmap::heatmap_height;
    assert_eq!(heatmap_height(&run), 80 + 7 * 28);
    let deep: Vec<(String, Option<f64>)> =
        (0..40).flat_map(|l| ["wq", "w2"].map(|p| (format!("layers.{l}.attention.{p}"), Some(20.0)))).chain([("output".to_string(), None)]).collect();
    let h = heatmap_height(&deep);
    assert_eq!(h, 80 + 41 * 13);
    let c = canvas(900, h);
    assert_drawn(&c, "40 blocks", draw_lm_heatmap(&c, &deep, HeatValues::Sqnr, "a deep model"));
}

/// AWQ's α search for one group: drawn, relative to α = 0; a zero or NaN loss at α = 0 is a
/// message, NaN losses elsewhere are skipped.
#[wasm_bindgen_test]
fn lm_awq_alpha_search() {
    use charts::lm_awq::{chosen_point, draw_alpha_search, relative_losses};
    use qplay::app::worker::protocol::{LmActRange, LmAlphaSearch};
    let alphas: Vec<f32> = (0..20).map(|i| i as f32 / 20.0).collect();
    let losses: Vec<f64> = alphas.iter().map(|&a| 2e-4 * (1.0 + 3.0 * (a as f64 - 0.3).powi(2) - 0.27)).collect();
    let chosen = 6;
    let search = LmAlphaSearch { alphas: alphas.clone(), losses: losses.clone(), chosen };
    let range = LmActRange {
        input: "layers.0.feed_forward.w3".into(),
        linears: vec!["layers.0.feed_forward.w2".into()],
        stat: "mean |X_j|".into(),
        before: vec![1.0; 384],
        after: vec![1.0; 384],
        alpha_search: Some(search.clone()),
    };
    let rel = relative_losses(&search).unwrap();
    assert_eq!(rel.len(), 20);
    assert_eq!(rel[0], (0.0, 1.0));
    assert!((rel[chosen].1 - losses[chosen] / losses[0]).abs() < 1e-15 && rel[chosen].1 < 1.0);
    assert_eq!(chosen_point(&search), Some(rel[chosen]));
    let c = canvas(900, 360);
    assert_drawn(&c, "α search", draw_alpha_search(&c, &range, &search));
    for (what, first) in [("zero loss at α = 0", 0.0), ("NaN loss at α = 0", f64::NAN)] {
        let mut s = search.clone();
        s.losses[0] = first;
        assert_eq!(relative_losses(&s), None);
        assert_eq!(chosen_point(&s), None, "{what}");
        let c = canvas(900, 360);
        assert_message(&c, what, draw_alpha_search(&c, &range, &s));
    }
    let mut s = search.clone();
    s.losses[3] = f64::NAN;
    s.losses[4] = f64::INFINITY;
    s.chosen = 99;
    assert_eq!(relative_losses(&s).unwrap().len(), 18);
    assert_eq!(chosen_point(&s), None, "chosen index off the grid");
    s.chosen = 4;
    assert_eq!(chosen_point(&s), None, "chosen α with an infinite loss");
    s.chosen = 99;
    let c = canvas(900, 360);
    assert_drawn(&c, "NaN and ∞ losses, a chosen index off the grid", draw_alpha_search(&c, &range, &s));
    let empty = LmAlphaSearch { alphas: vec![], losses: vec![], chosen: 0 };
    let c = canvas(900, 360);
    assert_message(&c, "no grid", draw_alpha_search(&c, &range, &empty));
}

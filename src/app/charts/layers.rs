//! Per-layer errors as grouped bars: one group per measurement point (or layer),
//! one bar per calibration mode (or per weight / output), for one metric.
//!
//! ```text
//! MSE = (1/n) Σ (x − x')²      (log scale: it spans decades from layer to layer)
//! cosine = Σ x·x' / (‖x‖·‖x'‖)  SQNR = 10·log10(Σ x² / Σ (x − x')²) dB
//! ```

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use web_sys::HtmlCanvasElement;

use super::{err, finite_range, fmt_value, frame, legend::Legend, no_data, open, padded, with_skipped, Axis, BLUE, ChartResult, GREEN, ORANGE};
use crate::experiment::layerwise::{LayerwiseReport, Mode};
use crate::experiment::run::LayerReport;
use crate::metrics::ErrorMetrics;

/// Which error the bars show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerMetric {
    /// Mean squared error, on a log scale.
    Mse,
    /// Cosine similarity (1 = same direction).
    Cosine,
    /// Signal-to-quantization-noise ratio, dB.
    SqnrDb,
}

impl LayerMetric {
    pub const ALL: [LayerMetric; 3] = [LayerMetric::Mse, LayerMetric::Cosine, LayerMetric::SqnrDb];

    /// A short name for selectors and titles.
    pub fn name(self) -> &'static str {
        match self {
            LayerMetric::Mse => "MSE",
            LayerMetric::Cosine => "cosine similarity",
            LayerMetric::SqnrDb => "SQNR",
        }
    }

    pub fn of(self, m: &ErrorMetrics) -> f64 {
        match self {
            LayerMetric::Mse => m.mse,
            LayerMetric::Cosine => m.cosine,
            LayerMetric::SqnrDb => m.sqnr_db,
        }
    }

    fn axis_desc(self) -> &'static str {
        match self {
            LayerMetric::Mse => "MSE (squared float units, log scale)",
            LayerMetric::Cosine => "cosine similarity (1 = identical direction)",
            LayerMetric::SqnrDb => "SQNR (dB, higher is better)",
        }
    }
}

/// One bar per category.
struct Series {
    name: String,
    color: RGBColor,
    values: Vec<f64>,
}

/// Grouped bars of `series` over `categories`, on the metric's axis.
fn grouped_bars(canvas: &HtmlCanvasElement, title: &str, categories: Vec<String>, x_desc: &str, series: &[Series], metric: LayerMetric) -> ChartResult {
    let root = open(canvas)?;
    let all = || series.iter().flat_map(|s| s.values.iter().copied());
    let skipped = all().filter(|v| !v.is_finite() || (metric == LayerMetric::Mse && *v < 0.0)).count();
    let zeros = if metric == LayerMetric::Mse { all().filter(|v| *v == 0.0).count() } else { 0 };
    let mut title = with_skipped(title, skipped);
    if zeros > 0 {
        title = format!("{title}; {zeros} exact 0 at the axis floor");
    }
    if categories.is_empty() || series.is_empty() {
        return no_data(&root, &title, "no data");
    }
    // Plotted values (log10 for MSE) and the axis.
    let plotted = |v: f64| -> Option<f64> {
        match metric {
            LayerMetric::Mse if v > 0.0 && v.is_finite() => Some(v.log10()),
            LayerMetric::Mse => None,
            _ => v.is_finite().then_some(v),
        }
    };
    let range = finite_range(all().filter_map(plotted));
    let (y_axis, base) = match metric {
        LayerMetric::Mse => {
            let (a, b) = range.unwrap_or((-3.0, 0.0));
            let (lo, hi) = ((a - 0.5).floor(), (b + 0.2).ceil().max((a - 0.5).floor() + 1.0));
            // Room above the tallest bar for the legend.
            (Axis::log10(lo, hi + 0.3 * (hi - lo), metric.axis_desc()), lo)
        }
        LayerMetric::Cosine => {
            let (a, b) = range.unwrap_or((0.0, 1.0));
            let (lo, hi) = padded(a, b.max(1.0), 0.08);
            let hi = hi.min(1.0 + (hi - lo) * 0.05);
            (Axis::linear(lo, hi + 0.35 * (hi - lo), metric.axis_desc()), lo)
        }
        LayerMetric::SqnrDb => {
            let (a, b) = range.unwrap_or((0.0, 1.0));
            let (lo, hi) = padded(a.min(0.0), b.max(0.0), 0.05);
            let lo = if a >= 0.0 { 0.0 } else { lo };
            (Axis::linear(lo, hi + 0.3 * (hi - lo), metric.axis_desc()), 0.0)
        }
    };
    if range.is_none() {
        return no_data(&root, &title, "no finite values to draw");
    }
    let n = categories.len();
    let m = series.len();
    let mut chart = frame(&root, &title, &Axis::categories(categories, x_desc), &y_axis, 64, series.len())?;
    let mut keys = Legend::default();
    let slot = 0.8 / m as f64;
    let show_values = n * m <= 24;
    let value_font = ("sans-serif", 10).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Bottom));
    for (k, s) in series.iter().enumerate() {
        let color = s.color;
        let bars: Vec<(f64, f64, f64)> = s
            .values
            .iter()
            .enumerate()
            .filter_map(|(i, &v)| {
                let x0 = i as f64 - 0.4 + k as f64 * slot + slot * 0.05;
                let y = match (metric, plotted(v)) {
                    (_, Some(y)) => y,
                    (LayerMetric::Mse, None) if v == 0.0 => base,
                    _ => return None,
                };
                Some((x0, y, v))
            })
            .collect();
        chart
            .draw_series(bars.iter().map(|&(x0, y, _)| Rectangle::new([(x0, base), (x0 + slot * 0.9, y)], color.filled())))
            .map_err(err)?;
        keys.add(s.name.clone(), move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
        if show_values {
            let font = value_font.clone();
            chart
                .draw_series(bars.iter().map(|&(x0, y, v)| {
                    let text = if metric == LayerMetric::SqnrDb { format!("{v:.1}") } else { fmt_value(v) };
                    Text::new(text, (x0 + slot * 0.45, y.max(base)), font.clone())
                }))
                .map_err(err)?;
        }
    }
    keys.draw(&root, &chart)?;
    root.present().map_err(err)
}

/// The lab's comparison: one group per measurement point, one bar per calibration mode
/// (layer by layer, all at once, sequential), for `metric`.
pub fn draw_layerwise(canvas: &HtmlCanvasElement, report: &LayerwiseReport, metric: LayerMetric) -> ChartResult {
    let categories: Vec<String> = report.points.iter().map(|p| p.name.clone()).collect();
    let colors = [BLUE, ORANGE, GREEN];
    let series: Vec<Series> = Mode::ALL
        .iter()
        .zip(colors)
        .map(|(&mode, color)| {
            let name = match mode {
                Mode::LayerByLayer => "layer by layer (each alone)".to_string(),
                Mode::AllAtOnce => format!("all at once (accuracy {:.2} %)", report.all_at_once_accuracy * 100.0),
                Mode::Sequential => format!("sequential (accuracy {:.2} %)", report.sequential_accuracy * 100.0),
            };
            let values = report
                .points
                .iter()
                .map(|p| p.modes.iter().find(|m| m.mode == mode).map_or(f64::NAN, |m| metric.of(&m.metrics)))
                .collect();
            Series { name, color, values }
        })
        .collect();
    let scale = if metric == LayerMetric::Mse { " (log scale)" } else { "" };
    let title = format!("{} at each point, by calibration mode{scale}", metric.name());
    grouped_bars(canvas, &title, categories, "measurement point (quantized tensor)", &series, metric)
}

/// One PTQ run: for each quantized layer, the weight's error (w against its dequantized
/// values) beside the layer output's (against the FP32 model's, on the analysis images).
pub fn draw_ptq_layers(canvas: &HtmlCanvasElement, layers: &[LayerReport], metric: LayerMetric) -> ChartResult {
    let categories: Vec<String> = layers.iter().map(|l| format!("{} ({}b)", l.name, l.bits)).collect();
    let series = [
        Series { name: "weight vs dequantized weight".into(), color: BLUE, values: layers.iter().map(|l| metric.of(&l.weight)).collect() },
        Series { name: "output vs FP32 output".into(), color: ORANGE, values: layers.iter().map(|l| metric.of(&l.output)).collect() },
    ];
    let scale = if metric == LayerMetric::Mse { " (log scale)" } else { "" };
    let title = format!("Per-layer {}: weights and outputs{scale}", metric.name());
    grouped_bars(canvas, &title, categories, "quantized layer (weight bits)", &series, metric)
}

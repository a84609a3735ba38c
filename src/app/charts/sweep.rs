//! A sweep's results against bits: one line per (granularity, calibration).
//!
//! Encoding: colour = calibration method (Okabe–Ito, in `CalibrationKind::ALL` order),
//! dash and marker = granularity (solid ● per-tensor, dashed ▲ per-channel, dotted ✕
//! per-group), so the legend lists each once instead of every combination. Bits are
//! categories in the sweep's order (2 … 8 and 16 are not evenly spaced on any useful
//! scale), and the lines of different granularities are nudged apart so their markers
//! do not hide each other.

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use web_sys::HtmlCanvasElement;

use super::{at_least, err, finite_range, frame, legend::Legend, no_data, open, padded, with_skipped, Axis, ChartResult, GREY, SERIES};
use crate::experiment::sweep::{SweepCell, SweepReport};
use crate::ptq::{QuantMode, WeightGranularity};
use crate::quant::calibration::CalibrationKind;

/// Which result the lines show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SweepMetric {
    /// Test accuracy, %, with the FP32 model's as a reference line.
    Accuracy,
    /// The logits' SQNR against FP32's on the analysis images, dB.
    OutputSqnr,
    /// The mean SQNR of the quantized weights, dB.
    WeightSqnr,
}

impl SweepMetric {
    pub const ALL: [SweepMetric; 3] = [SweepMetric::Accuracy, SweepMetric::OutputSqnr, SweepMetric::WeightSqnr];

    pub fn name(self) -> &'static str {
        match self {
            SweepMetric::Accuracy => "accuracy",
            SweepMetric::OutputSqnr => "output SQNR",
            SweepMetric::WeightSqnr => "weight SQNR",
        }
    }

    fn of(self, c: &SweepCell) -> f64 {
        match self {
            SweepMetric::Accuracy => c.accuracy * 100.0,
            SweepMetric::OutputSqnr => c.output_sqnr_db,
            SweepMetric::WeightSqnr => c.weight_sqnr_db.unwrap_or(f64::NAN),
        }
    }

    fn axis_desc(self) -> &'static str {
        match self {
            SweepMetric::Accuracy => "test accuracy (%)",
            SweepMetric::OutputSqnr => "output SQNR (dB, logits vs FP32)",
            SweepMetric::WeightSqnr => "mean weight SQNR (dB)",
        }
    }
}

fn granularity_label(g: WeightGranularity) -> String {
    match g {
        WeightGranularity::PerTensor => "per-tensor".into(),
        WeightGranularity::PerChannel => "per-channel".into(),
        WeightGranularity::PerGroup { group_size } => format!("per-group ({group_size})"),
    }
}

/// Line style k (the k-th granularity of the sweep): a dash pattern (on, off; off 0 = solid).
const DASHES: [(u32, u32); 3] = [(1, 0), (8, 5), (2, 4)];

/// A marker of style k at a data point, or (for the legend) at a pixel.
fn marker<C>(k: usize, at: C, color: RGBColor) -> DynElement<'static, super::Surface, C>
where
    C: Clone + 'static,
{
    match k % 3 {
        0 => Circle::new(at, 4, color.filled()).into_dyn(),
        1 => TriangleMarker::new(at, 6, color.filled()).into_dyn(),
        _ => Cross::new(at, 4, color.stroke_width(2)).into_dyn(),
    }
}

/// `metric` against bits for every (granularity, calibration) of the sweep.
pub fn draw_sweep(canvas: &HtmlCanvasElement, report: &SweepReport, metric: SweepMetric) -> ChartResult {
    let root = open(canvas)?;
    let bits_desc = match report.mode {
        QuantMode::WeightOnly => "weight bits (activations FP32)",
        QuantMode::Full => "bits (weights and activations, W b A b)",
        QuantMode::Dynamic => "bits (weights; activations quantized per batch)",
    };
    // Categories and series, in the order the sweep ran them.
    let mut bits: Vec<u8> = Vec::new();
    let mut grans: Vec<WeightGranularity> = Vec::new();
    let mut calibs: Vec<CalibrationKind> = Vec::new();
    for c in &report.cells {
        if !bits.contains(&c.bits) {
            bits.push(c.bits);
        }
        if !grans.contains(&c.granularity) {
            grans.push(c.granularity);
        }
        if !calibs.contains(&c.calibration) {
            calibs.push(c.calibration);
        }
    }
    let skipped = report.cells.iter().filter(|c| !metric.of(c).is_finite()).count();
    let title = with_skipped(&format!("Test {} against bits ({} mode)", metric.name(), report.mode.name().replace('_', "-")), skipped);
    let fp32 = (metric == SweepMetric::Accuracy && report.fp32_accuracy.is_finite()).then_some(report.fp32_accuracy * 100.0);
    let Some((lo, hi)) = finite_range(report.cells.iter().map(|c| metric.of(c)).chain(fp32)) else {
        return no_data(&root, &title, if report.cells.is_empty() { "no data" } else { "no finite values to draw" });
    };
    let (lo, hi) = at_least(lo, hi, if metric == SweepMetric::Accuracy { 2.0 } else { 1.0 });
    let (lo, hi) = padded(lo, hi, 0.08);
    let (lo, hi) = if metric == SweepMetric::Accuracy { (lo.max(0.0), hi.min(101.0).max(lo.max(0.0) + 1.0)) } else { (lo, hi) };
    let names: Vec<String> = bits.iter().map(|b| b.to_string()).collect();
    let mut chart = frame(&root, &title, &Axis::categories(names, bits_desc), &Axis::linear(lo, hi, metric.axis_desc()), 56, fp32.is_some() as usize + calibs.len() + grans.len())?;
    let mut keys = Legend::default();

    if let Some(f) = fp32 {
        let style = GREY.stroke_width(2);
        chart
            .draw_series(DashedLineSeries::new([(-0.5, f), (bits.len() as f64 - 0.5, f)], 10, 6, style))
            .map_err(err)?;
        keys.add(format!("FP32: {f:.2} %"), move |(x, y)| DashedPathElement::new([(x, y), (x + 18, y)], 5, 3, style));
    }
    let nudge = |g: usize| if grans.len() > 1 { (g as f64 - (grans.len() - 1) as f64 / 2.0) * 0.08 } else { 0.0 };
    for (gi, &g) in grans.iter().enumerate() {
        for &cal in &calibs {
            let color = SERIES[CalibrationKind::ALL.iter().position(|&k| k == cal).unwrap_or(0) % SERIES.len()];
            let mut pts: Vec<(f64, f64)> = report
                .cells
                .iter()
                .filter(|c| c.granularity == g && c.calibration == cal)
                .filter_map(|c| {
                    let v = metric.of(c);
                    let i = bits.iter().position(|&b| b == c.bits)?;
                    v.is_finite().then_some((i as f64 + nudge(gi), v))
                })
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            let style = color.stroke_width(2);
            let (on, off) = DASHES[gi % DASHES.len()];
            if off == 0 {
                chart.draw_series(LineSeries::new(pts.clone(), style)).map_err(err)?;
            } else {
                chart.draw_series(DashedLineSeries::new(pts.clone(), on, off, style)).map_err(err)?;
            }
            chart.draw_series(pts.iter().map(|&p| marker(gi, p, color))).map_err(err)?;
        }
    }
    // The legend: each calibration once (colour), each granularity once (dash and marker).
    for &cal in &calibs {
        let color = SERIES[CalibrationKind::ALL.iter().position(|&k| k == cal).unwrap_or(0) % SERIES.len()];
        keys.add(cal.name().replace('_', " "), move |(x, y)| Rectangle::new([(x, y - 4), (x + 18, y + 4)], color.filled()));
    }
    if grans.len() > 1 || calibs.len() == 1 {
        for (gi, &g) in grans.iter().enumerate() {
            let (on, off) = DASHES[gi % DASHES.len()];
            let style = BLACK.stroke_width(2);
            keys.add(granularity_label(g), move |(x, y)| {
                let line = if off == 0 {
                    PathElement::new([(x, y), (x + 18, y)], style).into_dyn()
                } else {
                    DashedPathElement::new([(x, y), (x + 18, y)], on.min(5), off.min(3), style).into_dyn()
                };
                EmptyElement::at((0, 0)) + line + marker(gi, (x + 9, y), BLACK)
            });
        }
    }
    keys.draw(&root, &chart)?;
    root.present().map_err(err)
}

//! The Tensor page's histograms: the FP32 values with one quantization grid
//! and its clamp limits, and with every calibrator's clip range.

use plotters::prelude::*;
use web_sys::HtmlCanvasElement;

use super::{err, frame, legend::Legend, no_data, open, with_skipped, Axis, BLUE, Chart, ChartResult, GREY, SERIES, VERMILLION};
use crate::experiment::tensor_charts::ValueHistogram;
use crate::quant::calibration::CalibrationOutcome;
use crate::quant::QParams;

/// Most grid lines drawn; a finer grid is shown every k-th level.
const MAX_GRID_LINES: usize = 64;

/// A histogram binned by [`crate::experiment::tensor_charts`] on a fresh canvas;
/// `extra(chart, legend, top)` draws on top; `legend_rows` counts the legend's entries (the bars' one included).
fn histogram_chart(
    canvas: &HtmlCanvasElement,
    caption: &str,
    values: &ValueHistogram,
    legend_rows: usize,
    extra: impl FnOnce(&mut Chart, &mut Legend, f64) -> ChartResult,
) -> ChartResult {
    let root = open(canvas)?;
    let caption = with_skipped(caption, values.skipped);
    let Some(h) = values.bins.as_ref().filter(|h| h.lo.is_finite() && h.hi.is_finite() && h.hi > h.lo) else {
        return no_data(&root, &caption, "no data");
    };
    let top = h.counts.iter().copied().fold(1.0, f64::max) * 1.08;
    let (lo, hi) = (h.lo, h.hi);
    let mut chart = frame(&root, &caption, &Axis::linear(lo, hi, "value (float)"), &Axis::integer(0.0, top, "count (values)"), 52, legend_rows)?;
    let mut keys = Legend::default();
    let w = h.width();
    chart
        .draw_series(h.counts.iter().enumerate().filter(|(_, &c)| c > 0.0).map(|(i, &c)| {
            let x0 = lo + i as f64 * w;
            Rectangle::new([(x0, 0.0), (x0 + w, c)], BLUE.mix(0.35).filled())
        }))
        .map_err(err)?;
        keys.add("FP32 values", |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], BLUE.mix(0.35).filled()));
    extra(&mut chart, &mut keys, top)?;
    keys.draw(&root, &chart)?;
    root.present().map_err(err)
}

fn vline(chart: &mut Chart, x: f32, top: f64, style: ShapeStyle) -> ChartResult {
    chart.draw_series(LineSeries::new([(x as f64, 0.0), (x as f64, top)], style)).map_err(err)?;
    Ok(())
}

/// Histogram of the FP32 values ([`crate::experiment::tensor_charts::grid_histogram`]) with the
/// quantization grid (thin grey lines at r' = (q − Z)·s) and the clamp limits (vermillion) of `p`.
pub fn draw_histogram(canvas: &HtmlCanvasElement, values: &ValueHistogram, p: &QParams, caption: &str) -> ChartResult {
    let (clamp_lo, clamp_hi) = p.clamp_limits();
    histogram_chart(canvas, caption, values, 3, |chart, keys, top| {
        for g in p.grid_values(MAX_GRID_LINES) {
            vline(chart, g, top, GREY.mix(0.6).stroke_width(1))?;
        }
        chart
            .draw_series(LineSeries::new([(clamp_lo as f64, 0.0), (clamp_lo as f64, top)], VERMILLION.stroke_width(3)))
            .map_err(err)?;
        keys.add("clamp limits (qmin, qmax)", |(x, y)| PathElement::new([(x, y), (x + 14, y)], VERMILLION.stroke_width(3)));
        vline(chart, clamp_hi, top, VERMILLION.stroke_width(3))?;
        chart
            .draw_series(LineSeries::new(std::iter::empty::<(f64, f64)>(), GREY.stroke_width(1)))
            .map_err(err)?;
        keys.add("grid levels r' = (q − Z)·s", |(x, y)| PathElement::new([(x, y), (x + 14, y)], GREY.stroke_width(1)));
        Ok(())
    })
}

/// Histogram of the values ([`crate::experiment::tensor_charts::calibrators_histogram`]) with
/// every calibrator's clamp limits, each labelled with the SQNR it gives.
pub fn draw_calibrators(canvas: &HtmlCanvasElement, values: &ValueHistogram, outcomes: &[CalibrationOutcome]) -> ChartResult {
    histogram_chart(canvas, "Every calibrator's clip range on the whole tensor (one range per tensor)", values, 1 + outcomes.len(), |chart, keys, top| {
        for (i, o) in outcomes.iter().enumerate() {
            let color = SERIES[i % SERIES.len()];
            // Stagger heights a little so coinciding lines stay visible.
            let h = top * (1.0 - 0.04 * i as f64);
            let style = color.stroke_width(2);
            chart
                .draw_series(LineSeries::new([(o.clamp_lo as f64, 0.0), (o.clamp_lo as f64, h)], style))
                .map_err(err)?;
            keys.add(format!("{}: SQNR {:.1} dB", o.name.replace('_', " "), o.sqnr_db), move |(x, y)| PathElement::new([(x, y), (x + 14, y)], color.stroke_width(2)));
            chart.draw_series(LineSeries::new([(o.clamp_hi as f64, 0.0), (o.clamp_hi as f64, h)], style)).map_err(err)?;
        }
        Ok(())
    })
}

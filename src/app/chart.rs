//! Charts drawn with plotters on a `<canvas>`.
//!
//! Colours are the Okabe–Ito palette, which stays distinct under the common
//! forms of colour blindness.

use plotters::coord::types::RangedCoordf32;
use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use web_sys::HtmlCanvasElement;

use crate::quant::calibration::CalibrationOutcome;
use crate::quant::QParams;
use crate::stats::histogram;

pub const BLUE: RGBColor = RGBColor(0, 114, 178);
pub const ORANGE: RGBColor = RGBColor(230, 159, 0);
pub const GREEN: RGBColor = RGBColor(0, 158, 115);
pub const VERMILLION: RGBColor = RGBColor(213, 94, 0);
pub const PURPLE: RGBColor = RGBColor(204, 121, 167);
pub const SKY: RGBColor = RGBColor(86, 180, 233);
pub const GREY: RGBColor = RGBColor(150, 150, 150);
/// One colour per calibrator, in [`crate::quant::calibration::CalibrationKind::ALL`] order.
pub const SERIES: [RGBColor; 6] = [BLUE, ORANGE, GREEN, VERMILLION, PURPLE, BLACK];

/// Most grid lines drawn; a finer grid is shown every k-th level.
const MAX_GRID_LINES: usize = 64;

type Chart<'a> = ChartContext<'a, CanvasBackend, Cartesian2d<RangedCoordf32, RangedCoordf32>>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// A histogram of x over [lo, hi] with padding, on a fresh canvas; `extra` draws on top.
fn histogram_chart(
    canvas: HtmlCanvasElement,
    caption: &str,
    x: &[f32],
    lo: f32,
    hi: f32,
    extra: impl FnOnce(&mut Chart, f32) -> Result<(), String>,
) -> Result<(), String> {
    let backend = CanvasBackend::with_canvas_object(canvas).ok_or("no 2-D canvas context")?;
    let root = backend.into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    if x.is_empty() {
        return Ok(());
    }
    let pad = ((hi - lo) * 0.05).max(1e-6);
    let (lo, hi) = (lo - pad, hi + pad);
    // Bins: about √n, between 8 and 80.
    let bins = ((x.len() as f32).sqrt().ceil() as usize).clamp(8, 80);
    let h = histogram(x, lo as f64, hi as f64, bins);
    let top = h.counts.iter().copied().fold(1.0, f64::max) as f32 * 1.2;
    let mut chart = ChartBuilder::on(&root)
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .caption(caption, ("sans-serif", 15))
        .build_cartesian_2d(lo..hi, 0f32..top)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("value (float)")
        .y_desc("count")
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(err)?;
    let w = h.width() as f32;
    chart
        .draw_series(h.counts.iter().enumerate().map(|(i, &c)| {
            let x0 = lo + i as f32 * w;
            Rectangle::new([(x0, 0.0), (x0 + w, c as f32)], BLUE.mix(0.35).filled())
        }))
        .map_err(err)?
        .label("FP32 values")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], BLUE.mix(0.35).filled()));
    extra(&mut chart, top)?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 12))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

fn vline(chart: &mut Chart, x: f32, top: f32, style: ShapeStyle) -> Result<(), String> {
    chart.draw_series(LineSeries::new([(x, 0.0), (x, top)], style)).map_err(err)?;
    Ok(())
}

/// Histogram of the FP32 values with the quantization grid (thin grey lines
/// at r' = (q − Z)·s) and the clamp limits (vermillion) of `p`.
pub fn draw_histogram(canvas: HtmlCanvasElement, x: &[f32], p: &QParams, caption: &str) -> Result<(), String> {
    let (clamp_lo, clamp_hi) = p.clamp_limits();
    let data_lo = x.iter().copied().fold(f32::INFINITY, f32::min);
    let data_hi = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lo = data_lo.min(clamp_lo).min(p.alpha);
    let hi = data_hi.max(clamp_hi).max(p.beta);
    histogram_chart(canvas, caption, x, lo, hi, |chart, top| {
        for g in p.grid_values(MAX_GRID_LINES) {
            vline(chart, g, top, GREY.mix(0.6).stroke_width(1))?;
        }
        chart
            .draw_series(LineSeries::new([(clamp_lo, 0.0), (clamp_lo, top)], VERMILLION.stroke_width(3)))
            .map_err(err)?
            .label("clamp limits (qmin, qmax)")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], VERMILLION.stroke_width(3)));
        vline(chart, clamp_hi, top, VERMILLION.stroke_width(3))?;
        chart
            .draw_series(LineSeries::new(std::iter::empty::<(f32, f32)>(), GREY.stroke_width(1)))
            .map_err(err)?
            .label("grid levels r' = (q − Z)·s")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], GREY.stroke_width(1)));
        Ok(())
    })
}

/// Histogram of the values with every calibrator's clamp limits, each
/// labelled with the SQNR it gives.
pub fn draw_calibrators(canvas: HtmlCanvasElement, x: &[f32], outcomes: &[CalibrationOutcome]) -> Result<(), String> {
    let data_lo = x.iter().copied().fold(f32::INFINITY, f32::min);
    let data_hi = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lo = outcomes.iter().map(|o| o.clamp_lo).fold(data_lo, f32::min);
    let hi = outcomes.iter().map(|o| o.clamp_hi).fold(data_hi, f32::max);
    histogram_chart(canvas, "Every calibrator's clip range on the same values", x, lo, hi, |chart, top| {
        for (i, o) in outcomes.iter().enumerate() {
            let color = SERIES[i % SERIES.len()];
            // Stagger heights a little so coinciding lines stay visible.
            let h = top * (1.0 - 0.06 * i as f32);
            let style = color.stroke_width(2);
            chart
                .draw_series(LineSeries::new([(o.clamp_lo, 0.0), (o.clamp_lo, h)], style))
                .map_err(err)?
                .label(format!("{}: SQNR {:.1} dB", o.name.replace('_', " "), o.sqnr_db))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], color.stroke_width(2)));
            chart.draw_series(LineSeries::new([(o.clamp_hi, 0.0), (o.clamp_hi, h)], style)).map_err(err)?;
        }
        Ok(())
    })
}

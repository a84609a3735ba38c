//! Charts drawn with plotters on a `<canvas>`.
//!
//! Colours are the Okabe–Ito palette, which stays distinct under the common
//! forms of colour blindness.

use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use web_sys::HtmlCanvasElement;

use crate::quant::QParams;

pub const BLUE: RGBColor = RGBColor(0, 114, 178);
pub const ORANGE: RGBColor = RGBColor(230, 159, 0);
pub const VERMILLION: RGBColor = RGBColor(213, 94, 0);
pub const GREY: RGBColor = RGBColor(150, 150, 150);

/// Most grid lines drawn; a finer grid is shown every k-th level.
const MAX_GRID_LINES: usize = 64;

/// Histogram of the FP32 values with the quantization grid (thin grey
/// lines at r' = (q − Z)·s) and the clamp limits (vermillion) overlaid.
pub fn draw_histogram(canvas: HtmlCanvasElement, x: &[f32], p: &QParams) -> Result<(), String> {
    let backend = CanvasBackend::with_canvas_object(canvas).ok_or("no 2-D canvas context")?;
    let root = backend.into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    if x.is_empty() {
        return Ok(());
    }
    let (clamp_lo, clamp_hi) = p.clamp_limits();
    let data_lo = x.iter().copied().fold(f32::INFINITY, f32::min);
    let data_hi = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lo = data_lo.min(clamp_lo).min(p.alpha);
    let hi = data_hi.max(clamp_hi).max(p.beta);
    let pad = ((hi - lo) * 0.05).max(1e-6);
    let (lo, hi) = (lo - pad, hi + pad);

    // Bins: about √n, between 8 and 64, over the padded range.
    let bins = ((x.len() as f32).sqrt().ceil() as usize).clamp(8, 64);
    let width = (hi - lo) / bins as f32;
    let mut counts = vec![0u32; bins];
    for &v in x {
        let b = (((v - lo) / width) as usize).min(bins - 1);
        counts[b] += 1;
    }
    let top = *counts.iter().max().unwrap_or(&1) as f32 * 1.15;

    let mut chart = ChartBuilder::on(&root)
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(44)
        .caption("FP32 values, quantization grid and clamp limits", ("sans-serif", 15))
        .build_cartesian_2d(lo..hi, 0f32..top.max(1.0))
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("value (float)")
        .y_desc("count")
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(|e| e.to_string())?;

    for g in p.grid_values(MAX_GRID_LINES) {
        chart
            .draw_series(LineSeries::new([(g, 0.0), (g, top)], GREY.mix(0.5).stroke_width(1)))
            .map_err(|e| e.to_string())?;
    }
    chart
        .draw_series(counts.iter().enumerate().map(|(i, &c)| {
            let x0 = lo + i as f32 * width;
            Rectangle::new([(x0, 0.0), (x0 + width, c as f32)], BLUE.mix(0.75).filled())
        }))
        .map_err(|e| e.to_string())?
        .label("FP32 values")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], BLUE.mix(0.75).filled()));
    for (i, c) in [clamp_lo, clamp_hi].into_iter().enumerate() {
        let s = chart
            .draw_series(LineSeries::new([(c, 0.0), (c, top)], VERMILLION.stroke_width(3)))
            .map_err(|e| e.to_string())?;
        if i == 0 {
            s.label("clamp limits (qmin, qmax)")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], VERMILLION.stroke_width(3)));
        }
    }
    chart
        .draw_series(LineSeries::new([(lo, -1.0), (lo, -1.0)], GREY.stroke_width(1)))
        .map_err(|e| e.to_string())?
        .label("grid levels r' = (q − Z)·s")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], GREY.stroke_width(1)));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 12))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

//! The Tensor page's error charts: every value against its reconstruction, the
//! distribution of the error r' − x against the rounding bound ±s/2, and the scale
//! and zero point of each channel (or group).
//!
//! ```text
//! r' = (q − Z_k) · s_k        e = r' − x        |e| ≤ s_k / 2 unless x was clamped
//! ```

use plotters::prelude::*;
use web_sys::HtmlCanvasElement;

use super::{finite_range, fmt_value, frame, legend::Legend, no_data, open, padded, with_skipped, 
    err, Axis, BLUE,
    ORANGE, ChartResult, VERMILLION,
};
use crate::stats::histogram;

/// Most points drawn in the scatter; beyond it every k-th value is shown.
const MAX_SCATTER_POINTS: usize = 20_000;

/// FP32 values x against their dequantized values r', with the line y = x (no error).
/// Clamped values show as flat runs at the clamp limits; rounding as steps around the line.
pub fn draw_scatter(canvas: &HtmlCanvasElement, x: &[f32], dequant: &[f32]) -> ChartResult {
    let root = open(canvas)?;
    let n = x.len().min(dequant.len());
    let pairs: Vec<(f64, f64)> = x[..n]
        .iter()
        .zip(&dequant[..n])
        .map(|(&a, &b)| (a as f64, b as f64))
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .collect();
    let mut title = with_skipped("FP32 against dequantized values", n - pairs.len());
    let Some((lo, hi)) = finite_range(pairs.iter().flat_map(|&(a, b)| [a, b])) else {
        return no_data(&root, &title, "no data");
    };
    let every = pairs.len().div_ceil(MAX_SCATTER_POINTS).max(1);
    if every > 1 {
        title = format!("{title}, every {every}th of {} values", pairs.len());
    }
    let (lo, hi) = padded(lo, hi, 0.05);
    let mut chart = frame(
        &root,
        &title,
        &Axis::linear(lo, hi, "FP32 value x (float)"),
        &Axis::linear(lo, hi, "dequantized r' = (q − Z)·s (float)"),
        64,
        2,
    )?;
    let mut keys = Legend::default();
    chart
        .draw_series(DashedLineSeries::new([(lo, lo), (hi, hi)], 6, 4, BLACK.mix(0.6).stroke_width(1)))
        .map_err(err)?;
    keys.add("y = x (no error)", |(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK.mix(0.6).stroke_width(1)));
    let radius = if pairs.len() > 2000 { 2 } else { 3 };
    chart
        .draw_series(pairs.iter().step_by(every).map(|&p| Circle::new(p, radius, BLUE.mix(0.55).filled())))
        .map_err(err)?;
    keys.add("values (x, r')", |(x, y)| Circle::new((x + 8, y), 3, BLUE.mix(0.55).filled()));
    keys.draw(&root, &chart)?;
    root.present().map_err(err)
}

/// Histogram of the error e = r' − x, with the rounding bound ±s/2 marked.
///
/// `scale_of(i)` is the scale of the slice that holds value i. With one slice the bound is
/// two lines at ±s/2; with several, the band between the smallest and the largest ±s/2 is
/// shaded, and the title counts the values beyond their *own* slice's s/2 (the clamped ones).
pub fn draw_error_histogram(canvas: &HtmlCanvasElement, x: &[f32], dequant: &[f32], scale_of: impl Fn(usize) -> f32) -> ChartResult {
    let root = open(canvas)?;
    let n = x.len().min(dequant.len());
    let mut errors = Vec::with_capacity(n);
    let (mut s_min, mut s_max) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut beyond = 0usize;
    for i in 0..n {
        let e = dequant[i] as f64 - x[i] as f64;
        let s = scale_of(i) as f64;
        if !e.is_finite() {
            continue;
        }
        errors.push(e as f32);
        if s.is_finite() && s > 0.0 {
            s_min = s_min.min(s);
            s_max = s_max.max(s);
            // A little slack: r' is computed in f32, so an exact half step can land just past it.
            if e.abs() > s / 2.0 * (1.0 + 1e-4) + 1e-12 {
                beyond += 1;
            }
        }
    }
    let mut title = with_skipped("Error r' − x", n - errors.len());
    if s_min.is_finite() {
        title = match beyond {
            0 => format!("{title}: every value within its own ±s/2"),
            1 => format!("{title}: 1 value beyond its own ±s/2 (clamped)"),
            b => format!("{title}: {b} values beyond their own ±s/2 (clamped)"),
        };
    }
    let Some((e_lo, e_hi)) = finite_range(errors.iter().map(|&e| e as f64)) else {
        return no_data(&root, &title, "no data");
    };
    // Symmetric around 0, wide enough for the errors and for the bound.
    let half = if s_max.is_finite() { s_max / 2.0 } else { 0.0 };
    let m = e_lo.abs().max(e_hi.abs()).max(half);
    let m = if m > 0.0 { m * 1.1 } else { 1e-6 };
    let (lo, hi) = (-m, m);
    let bins = ((errors.len() as f64).sqrt().ceil() as usize).clamp(8, 80);
    let h = histogram(&errors, lo, hi, bins);
    let top = h.counts.iter().copied().fold(1.0, f64::max) * 1.3; // room for the legend
    let mut chart = frame(&root, &title, &Axis::linear(lo, hi, "error r' − x (float)"), &Axis::integer(0.0, top, "count (values)"), 56, 3)?;
    let mut keys = Legend::default();
    let w = h.width();
    chart
        .draw_series(h.counts.iter().enumerate().filter(|(_, &c)| c > 0.0).map(|(i, &c)| {
            let x0 = lo + i as f64 * w;
            Rectangle::new([(x0, 0.0), (x0 + w, c)], BLUE.mix(0.45).filled())
        }))
        .map_err(err)?;
        keys.add(format!("errors of {} values", errors.len()), |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], BLUE.mix(0.45).filled()));
    if s_min.is_finite() {
        let (a, b) = (s_min / 2.0, s_max / 2.0);
        if b > a * (1.0 + 1e-6) {
            for sign in [-1.0, 1.0] {
                let (p, q) = (sign * a, sign * b);
                chart
                    .draw_series([Rectangle::new([(p.min(q), 0.0), (p.max(q), top)], ORANGE.mix(0.2).filled())])
                    .map_err(err)?;
            }
            chart
                .draw_series([Rectangle::new([(-a, 0.0), (-a, 0.0)], ORANGE.mix(0.2).filled())])
                .map_err(err)?;
            keys.add(format!("±s/2 across slices: {} … {}", fmt_value(a), fmt_value(b)), |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], ORANGE.mix(0.35).filled()));
        }
        let style = VERMILLION.stroke_width(2);
        chart
            .draw_series(DashedLineSeries::new([(-b, 0.0), (-b, top)], 6, 4, style))
            .map_err(err)?;
        keys.add(if b > a * (1.0 + 1e-6) { format!("±largest s/2 = ±{}", fmt_value(b)) } else { format!("±s/2 = ±{}", fmt_value(b)) }, move |(x, y)| PathElement::new([(x, y), (x + 16, y)], style));
        chart.draw_series(DashedLineSeries::new([(b, 0.0), (b, top)], 6, 4, style)).map_err(err)?;
    }
    keys.draw(&root, &chart)?;
    root.present().map_err(err)
}

/// The scale s and the zero point Z of each slice (channel or group), as two panels of bars
/// over the slice index. `unit` names a slice ("channel", "group").
pub fn draw_channel_strip(canvas: &HtmlCanvasElement, scales: &[f32], zero_points: &[i32], unit: &str) -> ChartResult {
    let root = open(canvas)?;
    let n = scales.len().min(zero_points.len());
    let title = format!("Scale and zero point of each {unit} ({n} {unit}s)");
    if n == 0 {
        return no_data(&root, &title, "no data");
    }
    if n == 1 {
        return no_data(&root, &title, &format!("one {unit} only: s = {}, Z = {}", fmt_value(scales[0] as f64), zero_points[0]));
    }
    let skipped = scales[..n].iter().filter(|s| !s.is_finite()).count();
    let title = with_skipped(&title, skipped);
    let (_, h) = root.dim_in_pixel();
    let (top, bottom) = root.split_vertically(h / 2 + 10);
    let x_desc = format!("{unit} index (slice number)");
    let xr = (-0.5, n as f64 - 0.5);
    let bar = |i: usize| (i as f64 - 0.4, i as f64 + 0.4);
    let s_max = finite_range(scales[..n].iter().map(|&s| s as f64)).map_or(1.0, |(_, b)| if b > 0.0 { b } else { 1.0 });
    let mut chart = frame(&top, &title, &Axis::integer(xr.0, xr.1, x_desc.as_str()), &Axis::linear(0.0, s_max * 1.15, "scale s (float)"), 64, 0)?;
    chart
        .draw_series(scales[..n].iter().enumerate().filter(|(_, s)| s.is_finite()).map(|(i, &s)| {
            let (a, b) = bar(i);
            Rectangle::new([(a, 0.0), (b, (s as f64).max(0.0))], BLUE.filled())
        }))
        .map_err(err)?;
    let (z_lo, z_hi) = zero_points[..n].iter().fold((0i64, 0i64), |(a, b), &z| (a.min(z as i64), b.max(z as i64)));
    let (z_lo, z_hi) = if z_lo == z_hi { (z_lo as f64 - 1.0, z_hi as f64 + 1.0) } else { padded(z_lo as f64, z_hi as f64, 0.1) };
    let z_axis = Axis::integer(z_lo, z_hi, "Z (integer)");
    let mut chart = frame(&bottom, "", &Axis::integer(xr.0, xr.1, x_desc.as_str()), &z_axis, 64, 0)?;
    chart
        .draw_series(zero_points[..n].iter().enumerate().map(|(i, &z)| {
            let (a, b) = bar(i);
            Rectangle::new([(a, 0.0), (b, z as f64)], ORANGE.filled())
        }))
        .map_err(err)?;
    chart.draw_series(LineSeries::new([(xr.0, 0.0), (xr.1, 0.0)], BLACK.mix(0.5).stroke_width(1))).map_err(err)?;
    root.present().map_err(err)
}

//! The Tensor page's error charts: every value against its reconstruction, the
//! distribution of the error r' − x against the rounding bound ±s/2, and the scale
//! and zero point of each channel (or group).
//!
//! ```text
//! r' = (q − Z_k) · s_k        e = r' − x        |e| ≤ s_k / 2 unless x was clamped
//! ```

use std::collections::HashSet;

use plotters::prelude::*;
use web_sys::HtmlCanvasElement;

use super::{finite_range, fmt_value, frame, legend::Legend, no_data, open, padded, with_skipped, 
    err, Axis, BLUE,
    ORANGE, ChartResult, VERMILLION,
};
use crate::experiment::tensor_charts::{ErrorHistogram, ScatterSample, SliceStrip};

/// FP32 values x against their dequantized values r' ([`crate::experiment::tensor_charts::scatter_sample`]),
/// with the line y = x (no error). Clamped values show as flat runs at the clamp limits; rounding
/// as steps around the line.
pub fn draw_scatter(canvas: &HtmlCanvasElement, sample: &ScatterSample) -> ChartResult {
    let root = open(canvas)?;
    let mut title = with_skipped("FP32 against dequantized values", sample.skipped);
    let pairs = || sample.points.iter().map(|&(a, b)| (a as f64, b as f64)).filter(|(a, b)| a.is_finite() && b.is_finite());
    let Some((lo, hi)) = finite_range(pairs().flat_map(|(a, b)| [a, b])) else {
        return no_data(&root, &title, "no data");
    };
    if sample.every > 1 {
        title = format!("{title}, every {}th of {} values", sample.every, sample.finite);
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
    let radius = if sample.points.len() > 2000 { 2 } else { 3 };
    // Pairs that land on the same pixel draw one circle: each circle is several calls into the
    // canvas, and 20,000 of them held the page's thread for tens of milliseconds.
    let mut drawn = HashSet::new();
    let pixels: Vec<(f64, f64)> = pairs().filter(|p| drawn.insert(chart.backend_coord(p))).collect();
    chart.draw_series(pixels.into_iter().map(|p| Circle::new(p, radius, BLUE.mix(0.55).filled()))).map_err(err)?;
    keys.add("values (x, r')", |(x, y)| Circle::new((x + 8, y), 3, BLUE.mix(0.55).filled()));
    keys.draw(&root, &chart)?;
    root.present().map_err(err)
}

/// Histogram of the error e = r' − x ([`crate::experiment::tensor_charts::error_histogram`]),
/// with the rounding bound ±s/2 marked.
///
/// With one slice the bound is two lines at ±s/2; with several, the band between the smallest
/// and the largest ±s/2 is shaded, and the title counts the values beyond their *own* slice's
/// s/2 (the clamped ones).
pub fn draw_error_histogram(canvas: &HtmlCanvasElement, errors: &ErrorHistogram) -> ChartResult {
    let root = open(canvas)?;
    let mut title = with_skipped("Error r' − x", errors.skipped);
    if errors.half_step.is_some() {
        title = match errors.beyond {
            0 => format!("{title}: every value within its own ±s/2"),
            1 => format!("{title}: 1 value beyond its own ±s/2 (clamped)"),
            b => format!("{title}: {b} values beyond their own ±s/2 (clamped)"),
        };
    }
    let Some(h) = errors.bins.as_ref().filter(|h| h.lo.is_finite() && h.hi.is_finite() && h.hi > h.lo) else {
        return no_data(&root, &title, "no data");
    };
    let (lo, hi) = (h.lo, h.hi);
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
        keys.add(format!("errors of {} values", errors.count), |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], BLUE.mix(0.45).filled()));
    if let Some((a, b)) = errors.half_step {
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
/// over the slice index ([`crate::experiment::tensor_charts::slice_strip`]). `unit` names a slice
/// ("channel", "group"). Past [`crate::experiment::tensor_charts::MAX_STRIP_BARS`] slices a bar
/// spans a run of them: the light part reaches the run's largest s, the dark part its smallest,
/// and the Z bar spans the run's smallest to largest Z.
pub fn draw_channel_strip(canvas: &HtmlCanvasElement, strip: &SliceStrip, unit: &str) -> ChartResult {
    let root = open(canvas)?;
    let n = strip.slices;
    let mut title = format!("Scale and zero point of each {unit} ({n} {unit}s)");
    if n == 0 || strip.scales.is_empty() {
        return no_data(&root, &title, "no data");
    }
    if n == 1 {
        let s = strip.scales[0].map_or(f64::NAN, |(s, _)| s as f64);
        return no_data(&root, &title, &format!("one {unit} only: s = {}, Z = {}", fmt_value(s), strip.zero_points[0].0));
    }
    let k = strip.per_bar.max(1);
    if k > 1 {
        title = format!("{title}: each bar {k} {unit}s, smallest and largest");
    }
    let title = with_skipped(&title, strip.skipped);
    let (_, h) = root.dim_in_pixel();
    let (top, bottom) = root.split_vertically(h / 2 + 10);
    let x_desc = format!("{unit} index (slice number)");
    let xr = (-0.5, n as f64 - 0.5);
    // Bar b covers slices [b·k, (b+1)·k); one slice takes 80 % of its place.
    let bar = |b: usize| {
        let first = (b * k) as f64;
        let last = (((b + 1) * k).min(n) - 1) as f64;
        (first - 0.4, last + 0.4)
    };
    let s_max = finite_range(strip.scales.iter().flatten().map(|&(_, s)| s as f64)).map_or(1.0, |(_, b)| if b > 0.0 { b } else { 1.0 });
    let mut chart = frame(&top, &title, &Axis::integer(xr.0, xr.1, x_desc.as_str()), &Axis::linear(0.0, s_max * 1.15, "scale s (float)"), 64, 0)?;
    let bars = || strip.scales.iter().enumerate().filter_map(|(b, s)| s.map(|s| (b, s)));
    if k > 1 {
        chart
            .draw_series(bars().map(|(b, (_, hi))| {
                let (x0, x1) = bar(b);
                Rectangle::new([(x0, 0.0), (x1, (hi as f64).max(0.0))], BLUE.mix(0.35).filled())
            }))
            .map_err(err)?;
    }
    chart
        .draw_series(bars().map(|(b, (lo, _))| {
            let (x0, x1) = bar(b);
            Rectangle::new([(x0, 0.0), (x1, (lo as f64).max(0.0))], BLUE.filled())
        }))
        .map_err(err)?;
    let (z_lo, z_hi) = strip.zero_points.iter().fold((0i64, 0i64), |(a, b), &(lo, hi)| (a.min(lo as i64), b.max(hi as i64)));
    let (z_lo, z_hi) = if z_lo == z_hi { (z_lo as f64 - 1.0, z_hi as f64 + 1.0) } else { padded(z_lo as f64, z_hi as f64, 0.1) };
    let z_axis = Axis::integer(z_lo, z_hi, "Z (integer)");
    let mut chart = frame(&bottom, "", &Axis::integer(xr.0, xr.1, x_desc.as_str()), &z_axis, 64, 0)?;
    chart
        .draw_series(strip.zero_points.iter().enumerate().map(|(b, &(lo, hi))| {
            let (x0, x1) = bar(b);
            // One slice: from 0 to Z. A run: from its smallest to its largest Z (at least from 0 when they agree).
            let (y0, y1) = if lo == hi { (0.0, lo as f64) } else { (lo as f64, hi as f64) };
            Rectangle::new([(x0, y0), (x1, y1)], ORANGE.filled())
        }))
        .map_err(err)?;
    chart.draw_series(LineSeries::new([(xr.0, 0.0), (xr.1, 0.0)], BLACK.mix(0.5).stroke_width(1))).map_err(err)?;
    root.present().map_err(err)
}

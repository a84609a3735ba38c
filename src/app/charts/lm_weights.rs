//! Inside one projection of a language model ([`WeightView`]):
//! - one row of weights against the input channel: FP32 as dots, the quantized value as a
//!   short bar, the group boundaries as dashed vertical lines, and every level of each group's
//!   integer grid as a faint horizontal segment over that group (all 16 levels of a 4-bit grid;
//!   an 8-bit grid's 256 levels are drawn only where they are at least 3 pixels apart);
//! - the histogram of the whole matrix, FP32 against quantized, as two step lines (the
//!   quantized weights pile up on the grid levels).
//!
//! And the per-channel activation statistic of one smoothed input before and after AWQ's or
//! SmoothQuant's scaling (log scale: the outlier channels stand far above the rest).

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use web_sys::HtmlCanvasElement;

use super::{err, finite_range, frame, legend::Legend, no_data, open, padded, Axis, BLUE, ChartResult, GREY, ORANGE, VERMILLION};
use crate::app::worker::protocol::LmActRange;
use crate::lm::inspect::WeightView;

/// Fewest pixels between two grid levels drawn.
const MIN_LEVEL_GAP_PX: f64 = 3.0;

/// The channels one row chart shows: four groups (128 channels when per channel).
pub fn channel_window(v: &WeightView) -> usize {
    match v.group {
        Some(g) if g < v.k => (4 * g).min(v.k),
        _ => 128.min(v.k),
    }
}

/// Row `v.row`, channels [from, from + [`channel_window`]).
pub fn draw_weight_row(canvas: &HtmlCanvasElement, v: &WeightView, from: usize) -> ChartResult {
    let root = open(canvas)?;
    let from = from.min(v.k.saturating_sub(1));
    let to = (from + channel_window(v)).min(v.k);
    let title = format!("{} row {} ({}): channels {from}–{}", v.name, v.row, v.format, to.saturating_sub(1));
    let vals = v.fp32[from..to].iter().chain(&v.quantized[from..to]).map(|&x| x as f64);
    let Some((lo, hi)) = finite_range(vals) else {
        return no_data(&root, &title, "no finite weight in this row");
    };
    let (lo, hi) = padded(lo, hi, 0.08);
    let mut chart = frame(&root, &title, &Axis::integer(from as f64 - 0.5, to as f64 - 0.5, "input channel j"), &Axis::linear(lo, hi, "weight value"), 60, 4)?;
    let mut keys = Legend::default();
    // Grid levels, group by group: faint segments across the group's columns.
    let px_per_unit = chart.plotting_area().dim_in_pixel().1 as f64 / (hi - lo);
    let mut drew_grid = false;
    for g in v.grids.iter().filter(|g| g.start < to && g.start + g.len > from) {
        let step = g.scale.abs() as f64;
        if step * px_per_unit < MIN_LEVEL_GAP_PX {
            // Too fine to draw level by level: the grid's two ends only.
            let ends = [g.levels.first(), g.levels.last()];
            for l in ends.into_iter().flatten() {
                let (x0, x1) = (g.start.max(from) as f64 - 0.5, (g.start + g.len).min(to) as f64 - 0.5);
                chart.draw_series(LineSeries::new([(x0, *l as f64), (x1, *l as f64)], GREY.mix(0.8).stroke_width(1))).map_err(err)?;
            }
        } else {
            let (x0, x1) = (g.start.max(from) as f64 - 0.5, (g.start + g.len).min(to) as f64 - 0.5);
            chart
                .draw_series(g.levels.iter().filter(|l| (lo..=hi).contains(&(**l as f64))).map(|&l| {
                    PathElement::new([(x0, l as f64), (x1, l as f64)], GREY.mix(0.45).stroke_width(1))
                }))
                .map_err(err)?;
        }
        drew_grid = true;
    }
    if drew_grid {
        let bits = v.bits.unwrap_or(0);
        chart
            .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())
            .map_err(err)?;
        keys.add(format!("{bits}-bit grid of each group (s·(u − o) + m)"), |(x, y)| PathElement::new([(x, y), (x + 18, y)], GREY.stroke_width(1)));
    }
    // Group boundaries.
    if let Some(group) = v.group.filter(|&g| g < v.k) {
        let style = BLACK.mix(0.6).stroke_width(1);
        let mut first = true;
        for b in (group..v.k).step_by(group).filter(|&b| b > from && b < to) {
            let x = b as f64 - 0.5;
            chart.draw_series(DashedLineSeries::new([(x, lo), (x, hi)], 5, 4, style)).map_err(err)?;
            if first {
            keys.add(format!("group boundary (every {group} channels)"), move |(x, y)| DashedPathElement::new([(x, y), (x + 18, y)], 4, 3, style));
                first = false;
            }
        }
    }
    chart
        .draw_series(v.fp32.iter().enumerate().take(to).skip(from).filter(|(_, x)| x.is_finite()).map(|(j, &x)| Circle::new((j as f64, x as f64), 3, BLUE.filled())))
        .map_err(err)?;
    keys.add("FP32 weight", |(x, y)| Circle::new((x + 9, y), 3, BLUE.filled()));
    chart
        .draw_series(v.quantized.iter().enumerate().take(to).skip(from).filter(|(_, x)| x.is_finite()).map(|(j, &x)| {
            PathElement::new([(j as f64 - 0.4, x as f64), (j as f64 + 0.4, x as f64)], VERMILLION.stroke_width(2))
        }))
        .map_err(err)?;
        keys.add("quantized (dequantized) weight", |(x, y)| PathElement::new([(x, y), (x + 18, y)], VERMILLION.stroke_width(2)));
    keys.draw(&root, &chart)?;
    root.present().map_err(err)
}

/// Step line through the bins of a histogram over [lo, hi].
fn steps(counts: &[f64], lo: f64, hi: f64) -> Vec<(f64, f64)> {
    let w = (hi - lo) / counts.len().max(1) as f64;
    let mut out = Vec::with_capacity(2 * counts.len() + 2);
    out.push((lo, 0.0));
    for (i, &c) in counts.iter().enumerate() {
        let x0 = lo + i as f64 * w;
        out.push((x0, c));
        out.push((x0 + w, c));
    }
    out.push((hi, 0.0));
    out
}

pub fn draw_weight_histogram(canvas: &HtmlCanvasElement, v: &WeightView) -> ChartResult {
    let root = open(canvas)?;
    let title = format!("{} [{} × {}]: every weight, FP32 against quantized", v.name, v.n, v.k);
    let top = v.fp32_counts.iter().chain(&v.quantized_counts).copied().fold(0.0, f64::max);
    if !(top > 0.0 && v.hi > v.lo) {
        return no_data(&root, &title, "no finite weight");
    }
    let mut chart = frame(&root, &title, &Axis::linear(v.lo, v.hi, "weight value"), &Axis::integer(0.0, top * 1.25, "count (weights per bin)"), 60, 2)?;
    let mut keys = Legend::default();
    chart
        .draw_series(LineSeries::new(steps(&v.fp32_counts, v.lo, v.hi), BLUE.stroke_width(2)))
        .map_err(err)?;
    keys.add("FP32", |(x, y)| PathElement::new([(x, y), (x + 18, y)], BLUE.stroke_width(2)));
    let dashed = VERMILLION.stroke_width(2);
    chart
        .draw_series(DashedLineSeries::new(steps(&v.quantized_counts, v.lo, v.hi), 6, 3, dashed))
        .map_err(err)?;
    keys.add(format!("quantized ({})", v.format), move |(x, y)| DashedPathElement::new([(x, y), (x + 18, y)], 4, 3, dashed));
    keys.draw(&root, &chart)?;
    root.present().map_err(err)
}

pub fn draw_act_ranges(canvas: &HtmlCanvasElement, r: &LmActRange, method: &str) -> ChartResult {
    let root = open(canvas)?;
    let title = format!("{}: {} per channel before and after {method}", r.input, r.stat);
    let pos = |v: &f32| v.is_finite() && *v > 0.0;
    let logs = r.before.iter().chain(&r.after).filter(|v| pos(v)).map(|&v| (v as f64).log10());
    let Some((lo, hi)) = finite_range(logs) else {
        return no_data(&root, &title, "no positive value");
    };
    let (lo, hi) = (lo.floor(), hi.ceil().max(lo.floor() + 1.0));
    let n = r.before.len().max(r.after.len()) as f64;
    let mut chart = frame(&root, &title, &Axis::integer(-0.5, n - 0.5, "input channel j"), &Axis::log10(lo, hi + 0.6, &r.stat), 60, 2)?;
    let mut keys = Legend::default();
    let series = |xs: &[f32]| -> Vec<(f64, f64)> { xs.iter().enumerate().filter(|(_, v)| pos(v)).map(|(j, &v)| (j as f64, (v as f64).log10())).collect() };
    chart
        .draw_series(series(&r.before).into_iter().map(|p| TriangleMarker::new(p, 3, ORANGE.filled())))
        .map_err(err)?;
    keys.add("before", |(x, y)| TriangleMarker::new((x + 9, y), 4, ORANGE.filled()));
    chart
        .draw_series(series(&r.after).into_iter().map(|p| Circle::new(p, 2, BLUE.filled())))
        .map_err(err)?;
    keys.add(format!("after ÷ s_j ({method})"), |(x, y)| Circle::new((x + 9, y), 3, BLUE.filled()));
    keys.draw(&root, &chart)?;
    root.present().map_err(err)
}

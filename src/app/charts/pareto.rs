//! The mixed-bit search's candidates: size against accuracy, the Pareto front
//! as a step line, the search's proposal, the candidate the user applied (if any) and uniform
//! 8-bit marked. The legend says only what is true: "proposed" until the user applies a point,
//! "applied" for the point whose bits ran.
//!
//! A candidate is on the front when no other is both smaller and at least as accurate;
//! sorted by size, the front's accuracy rises, and the step line reads "the best accuracy
//! reachable within this size". The drawing returns where each candidate landed in canvas
//! pixels, so a click can pick the nearest one ([`nearest_point`]).

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use web_sys::HtmlCanvasElement;

use super::{at_least, err, finite_range, frame, legend::Legend, no_data, open, padded, with_skipped, Axis, BLUE, ChartResult, GREEN, GREY, ORANGE, VERMILLION};
use crate::experiment::mixed_bit::{Candidate, MixedBitReport};
use crate::units::{kb_value, kilobytes};

/// A click picks the nearest candidate within this many displayed pixels.
pub const PICK_RADIUS_PX: f64 = 12.0;

/// (size in kB = 1,000 bytes, accuracy in %) of a candidate, when both are finite.
fn xy(c: &Candidate) -> Option<(f64, f64)> {
    let (x, y) = (kb_value(c.bytes), c.accuracy? * 100.0);
    (x.is_finite() && y.is_finite()).then_some((x, y))
}

/// The index of the search's proposal among the candidates (the candidate with its bits).
pub fn proposed_index(report: &MixedBitReport) -> Option<usize> {
    report.candidates.iter().position(|c| *c == report.selection).or_else(|| report.candidates.iter().position(|c| c.bits == report.selection.bits))
}

/// Draws every candidate (x = size in kB, y = test accuracy in %), the front as a step line,
/// the proposal, the applied candidate (`applied`, an index into `report.candidates`: the one
/// whose bits the user ran) and uniform 8-bit. Returns each candidate's position in canvas pixels
/// (`None` for a candidate without a finite accuracy, which is not drawn).
pub fn draw_pareto(canvas: &HtmlCanvasElement, report: &MixedBitReport, applied: Option<usize>) -> ChartResult<Vec<Option<(i32, i32)>>> {
    let root = open(canvas)?;
    let points: Vec<Option<(f64, f64)>> = report.candidates.iter().map(xy).collect();
    let skipped = points.iter().filter(|p| p.is_none()).count();
    let title = with_skipped("Mixed-bit candidates: size against accuracy", skipped);
    let fp32 = report.fp32_accuracy * 100.0;
    let fp32 = fp32.is_finite().then_some(fp32);
    let Some((x_lo, x_hi)) = finite_range(points.iter().flatten().map(|p| p.0)) else {
        no_data(&root, &title, "no candidate with an accuracy")?;
        return Ok(vec![None; report.candidates.len()]);
    };
    let (y_lo, y_hi) = finite_range(points.iter().flatten().map(|p| p.1).chain(fp32)).unwrap_or((0.0, 100.0));
    let (x_lo, x_hi) = padded(x_lo, x_hi, 0.08);
    let (y_lo, y_hi) = at_least(y_lo, y_hi, 2.0);
    let (y_lo, y_hi) = padded(y_lo, y_hi, 0.08);
    let (x_lo, y_lo, y_hi) = (x_lo.max(0.0), y_lo.max(0.0), y_hi.min(101.0).max(y_lo.max(0.0) + 1.0));
    // Room at the bottom right for the legend.
    let y_lo = (y_lo - (y_hi - y_lo) * 0.25).max(0.0);
    let mut chart = frame(&root, &title, &Axis::linear(x_lo, x_hi, "model size (kB = 1,000 bytes)"), &Axis::linear(y_lo, y_hi, "test accuracy (%)"), 56, 6)?;
    let mut keys = Legend::default();

    if let Some(f) = fp32 {
        let style = GREY.stroke_width(2);
        chart
            .draw_series(DashedLineSeries::new([(x_lo, f), (x_hi, f)], 10, 6, style))
            .map_err(err)?;
        keys.add(format!("FP32: {f:.2} % at {}", kilobytes(report.fp32_bytes)), move |(x, y)| DashedPathElement::new([(x, y), (x + 18, y)], 5, 3, style));
    }
    // Every candidate: hollow grey circles.
    chart
        .draw_series(points.iter().flatten().map(|&p| Circle::new(p, 4, GREY.stroke_width(1))))
        .map_err(err)?;
    keys.add("candidate", |(x, y)| Circle::new((x + 9, y), 4, GREY.stroke_width(1)));
    // The front, sorted by size, as a post-step line, with filled points.
    let mut front: Vec<(f64, f64)> = report.candidates.iter().zip(&points).filter(|(c, _)| c.on_front).filter_map(|(_, p)| *p).collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut step = Vec::with_capacity(front.len() * 2);
    for (i, &(x, y)) in front.iter().enumerate() {
        if i > 0 {
            step.push((x, front[i - 1].1));
        }
        step.push((x, y));
    }
    chart.draw_series(LineSeries::new(step, BLUE.stroke_width(2))).map_err(err)?;
    chart
        .draw_series(front.iter().map(|&p| Circle::new(p, 5, BLUE.filled())))
        .map_err(err)?;
    keys.add("Pareto front", |(x, y)| EmptyElement::at((x, y)) + PathElement::new([(0, 0), (18, 0)], BLUE.stroke_width(2)) + Circle::new((9, 0), 4, BLUE.filled()));
    // Uniform 8-bit: an orange square.
    let u8_index = report.candidates.iter().position(|c| *c == report.uniform8).or_else(|| report.candidates.iter().position(|c| c.bits == report.uniform8.bits));
    if let Some(p) = u8_index.and_then(|i| points[i]) {
        let mark = |p: (i32, i32)| Rectangle::new([(p.0 - 6, p.1 - 6), (p.0 + 6, p.1 + 6)], ORANGE.stroke_width(3));
        let at = chart.backend_coord(&p);
        root.draw(&mark(at)).map_err(err)?;
        keys.add("uniform 8-bit", move |(x, y)| mark((x + 9, y)));
    }
    // The proposal: a vermillion ring; the applied candidate: a green ring around it, larger.
    // Each is labelled beside its point; one point can be both.
    let applied = applied.filter(|&i| i < report.candidates.len());
    let proposed = proposed_index(report);
    let (w, _) = root.dim_in_pixel();
    let label_at = |i: usize, text: &str, colour: RGBColor, dy: i32| -> ChartResult {
        let Some(p) = points[i] else { return Ok(()) };
        let at = chart.backend_coord(&p);
        let right = at.0 > w as i32 * 2 / 3;
        let anchor = if right { HPos::Right } else { HPos::Left };
        let dx = if right { -16 } else { 16 };
        let label = report.candidates[i].label.clone();
        let label = if label.chars().count() > 40 { format!("{}…", label.chars().take(39).collect::<String>()) } else { label };
        let style = ("sans-serif", 12).into_font().color(&colour).pos(Pos::new(anchor, VPos::Bottom));
        root.draw(&Text::new(format!("{text}: {label}"), (at.0 + dx, at.1 - 8 + dy), style)).map_err(err)
    };
    if let Some(i) = proposed.filter(|&i| points[i].is_some()) {
        let at = chart.backend_coord(&points[i].expect("filtered"));
        root.draw(&Circle::new(at, 10, VERMILLION.stroke_width(3))).map_err(err)?;
        let text = if applied == Some(i) { "proposed, applied" } else { "proposed" };
        label_at(i, text, VERMILLION, 0)?;
    }
    if let Some(i) = applied.filter(|&i| points[i].is_some() && proposed != Some(i)) {
        label_at(i, "applied", GREEN, 16)?;
    }
    if let Some(i) = applied.filter(|&i| points[i].is_some()) {
        let at = chart.backend_coord(&points[i].expect("filtered"));
        root.draw(&Circle::new(at, 14, GREEN.stroke_width(3))).map_err(err)?;
    }
    if proposed.is_some_and(|i| points[i].is_some()) {
    keys.add("proposed by the search", |(x, y)| Circle::new((x + 9, y), 7, VERMILLION.stroke_width(3)));
    }
    if applied.is_some_and(|i| points[i].is_some()) {
    keys.add("applied (its PTQ run is below)", |(x, y)| Circle::new((x + 9, y), 8, GREEN.stroke_width(3)));
    }
    keys.draw(&root, &chart)?;
    let pixels = points.iter().map(|p| p.map(|p| chart.backend_coord(&p))).collect();
    root.present().map_err(err)?;
    Ok(pixels)
}

/// The index of the point nearest (x, y) within `radius` (all in canvas pixels), if any.
pub fn nearest_point(points: &[Option<(i32, i32)>], x: f64, y: f64, radius: f64) -> Option<usize> {
    points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.map(|(px, py)| (i, (px as f64 - x).hypot(py as f64 - y))))
        .filter(|&(_, d)| d <= radius)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i)
}

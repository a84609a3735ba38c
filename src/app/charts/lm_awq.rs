//! AWQ's α search for one scaled group: the output error of the group's Linears rounded after
//! scaling, for every α of the grid, relative to α = 0 (s = 1, plain RTN), with the α AWQ chose.
//!
//! ```text
//! s_j = x̄_j^α (normalised),  loss(α) = mean (F_Q(W·diag(s))·diag(s)⁻¹(X) − F_W(X))²
//! plotted: loss(α) / loss(0)   (1 = RTN; below 1 the scaling helps)
//! ```

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use web_sys::HtmlCanvasElement;

use super::{err, finite_range, frame, legend::Legend, no_data, open, padded, Axis, ChartResult, BLUE, GREY, VERMILLION};
use crate::app::worker::protocol::{LmActRange, LmAlphaSearch};

/// loss(α_i) / loss(0) for the finite points; None when loss(0) is not a positive number.
pub fn relative_losses(s: &LmAlphaSearch) -> Option<Vec<(f64, f64)>> {
    let base = *s.losses.first()?;
    if !(base.is_finite() && base > 0.0) {
        return None;
    }
    Some(s.alphas.iter().zip(&s.losses).filter(|(a, l)| a.is_finite() && l.is_finite()).map(|(&a, &l)| (a as f64, l / base)).collect())
}

/// The chosen α's point (α, loss(α*) / loss(0)); None when loss(0) is not a positive number,
/// the chosen index is off the grid or its loss is not finite.
pub fn chosen_point(s: &LmAlphaSearch) -> Option<(f64, f64)> {
    let (&a, &l, &base) = (s.alphas.get(s.chosen)?, s.losses.get(s.chosen)?, s.losses.first()?);
    let ratio = l / base;
    (base.is_finite() && base > 0.0 && ratio.is_finite()).then_some((a as f64, ratio))
}

pub fn draw_alpha_search(canvas: &HtmlCanvasElement, r: &LmActRange, s: &LmAlphaSearch) -> ChartResult {
    let root = open(canvas)?;
    let title = format!("{}: AWQ's α search (output error relative to RTN)", r.input);
    let Some(points) = relative_losses(s).filter(|p| !p.is_empty()) else {
        return no_data(&root, &title, "RTN's output error is zero here: nothing to reduce");
    };
    let (lo, hi) = finite_range(points.iter().map(|p| p.1).chain([1.0])).unwrap_or((0.0, 1.0));
    let (lo, hi) = padded(lo, hi, 0.08);
    let mut chart = frame(&root, &title, &Axis::linear(0.0, 1.0, "α  (s_j = mean|X_j|^α, normalised)"), &Axis::linear(lo, hi, "loss(α) ÷ loss(0)"), 64, 3)?;
    let mut keys = Legend::default();
    let rtn = GREY.stroke_width(1);
    chart.draw_series(DashedLineSeries::new([(0.0, 1.0), (1.0, 1.0)], 8, 5, rtn)).map_err(err)?;
    keys.add("α = 0: plain RTN", move |(x, y)| DashedPathElement::new([(x, y), (x + 18, y)], 4, 3, rtn));
    chart.draw_series(LineSeries::new(points.clone(), BLUE.stroke_width(2))).map_err(err)?;
    chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, BLUE.filled()))).map_err(err)?;
    // The Linears without their block's prefix ("attention.wq, attention.wk, attention.wv").
    let short: Vec<&str> = r.linears.iter().map(|l| l.strip_prefix("layers.").and_then(|t| t.split_once('.')).map_or(l.as_str(), |(_, t)| t)).collect();
    keys.add(format!("loss(α): the module's output error with {} scaled and rounded", short.join(", ")), |(x, y)| Circle::new((x + 9, y), 3, BLUE.filled()));
    if let Some(at) = chosen_point(s) {
        chart.draw_series([TriangleMarker::new(at, 8, VERMILLION.filled())]).map_err(err)?;
        keys.add(format!("chosen: α = {:.2}, {:+.1} % against RTN", at.0, (at.1 - 1.0) * 100.0), |(x, y)| TriangleMarker::new((x + 9, y), 6, VERMILLION.filled()));
    }
    keys.draw(&root, &chart)?;
    root.present().map_err(err)
}

//! Output distributions at one measurement point: the FP32 histogram and each
//! calibration mode's, as step lines over the same bin edges.

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use web_sys::HtmlCanvasElement;

use super::{err, finite_range, frame, legend::Legend, no_data, open, padded, step_path, Axis, BLUE, ChartResult, GREEN, ORANGE};
use crate::experiment::layerwise::{Mode, Point};
use crate::stats::Histogram;

/// FP32 (grey, filled) and every mode's histogram (coloured step lines, each with its own
/// dash) at `point`. `log_counts` plots log10(count), for a spike (ReLU's zeros) that would
/// flatten everything else; empty bins then sit on the axis floor.
pub fn draw_distributions(canvas: &HtmlCanvasElement, point: &Point, log_counts: bool) -> ChartResult {
    let root = open(canvas)?;
    let scale = if log_counts { ", log counts" } else { "" };
    let title = format!("Distribution at {} (quantized by {}){scale}", point.name, point.layer);
    let mut hists: Vec<(&Histogram, String)> = vec![(&point.fp32_histogram, "FP32".to_string())];
    for m in &point.modes {
        hists.push((&m.histogram, m.mode.name().replace('_', " ")));
    }
    let usable = |h: &Histogram| h.lo.is_finite() && h.hi.is_finite() && h.hi >= h.lo && h.counts.iter().any(|c| c.is_finite() && *c > 0.0);
    let shown: Vec<&(&Histogram, String)> = hists.iter().filter(|(h, _)| usable(h)).collect();
    let dropped = hists.len() - shown.len();
    let title = if dropped > 0 { format!("{title} ({dropped} empty or invalid histogram{} not shown)", if dropped == 1 { "" } else { "s" }) } else { title };
    let Some((lo, hi)) = finite_range(shown.iter().flat_map(|(h, _)| [h.lo, h.hi])) else {
        return no_data(&root, &title, "no data");
    };
    // A zero-width range (a constant tensor): one bin around the value.
    let widen = |h: &Histogram| if h.hi > h.lo { (h.lo, h.hi) } else { padded(h.lo, h.hi, 0.0) };
    let (lo, hi) = if hi > lo { (lo, hi) } else { padded(lo, hi, 0.0) };
    let max = shown.iter().flat_map(|(h, _)| h.counts.iter().copied()).filter(|c| c.is_finite()).fold(1.0, f64::max);
    let (y_axis, floor, y): (Axis, f64, Box<dyn Fn(f64) -> f64>) = if log_counts {
        let top = max.log10().ceil().max(1.0);
        (Axis::log10(-0.3, top + 0.4, "count (log scale)"), -0.3, Box::new(|c: f64| if c > 0.0 { c.log10() } else { -0.3 }))
    } else {
        (Axis::integer(0.0, max * 1.08, "count (values in the bin)"), 0.0, Box::new(|c: f64| c))
    };
    let mut chart = frame(&root, &title, &Axis::linear(lo, hi, format!("value at {} (float)", point.name)), &y_axis, 64, hists.len())?;
    let mut keys = Legend::default();
    for (mode, (h, name)) in hists.iter().enumerate() {
        if !usable(h) {
            continue;
        }
        let (a, b) = widen(h);
        let path = step_path(a, b, &h.counts, floor, &y);
        let label = name.clone();
        if mode == 0 {
            let fill = BLACK.mix(0.12);
            chart.draw_series([Polygon::new(path.clone(), fill.filled())]).map_err(err)?;
            chart
                .draw_series(LineSeries::new(path, BLACK.mix(0.7).stroke_width(2)))
                .map_err(err)?;
            keys.add(label, |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], BLACK.mix(0.25).filled()));
            continue;
        }
        let which = point.modes.get(mode - 1).map(|m| m.mode);
        let (color, dash) = match which {
            Some(Mode::LayerByLayer) => (BLUE, (12, 0)),
            Some(Mode::AllAtOnce) => (ORANGE, (8, 4)),
            _ => (GREEN, (3, 3)),
        };
        let style = color.stroke_width(2);
        if dash.1 == 0 {
            chart.draw_series(LineSeries::new(path, style)).map_err(err)?;
        } else {
            chart.draw_series(DashedLineSeries::new(path, dash.0, dash.1, style)).map_err(err)?;
        }
        keys.add(label, move |(x, y)| {
            if dash.1 == 0 {
                PathElement::new([(x, y), (x + 16, y)], style).into_dyn()
            } else {
                DashedPathElement::new([(x, y), (x + 16, y)], dash.0.min(5), dash.1.min(3), style).into_dyn()
            }
        });
    }
    keys.draw(&root, &chart)?;
    root.present().map_err(err)
}

//! Perplexity against bits per weight for every run of the Language-model page's session: one
//! point per run (a marker shape per model, so colour is not the only cue), the FP32 perplexity
//! of each model as a dashed line at 32 bits, and the runs that no other run of the same model
//! beats on both axes (fewer bits and lower perplexity) joined as the Pareto front. The drawing
//! returns where each run landed in canvas pixels, so a click applies that run's settings.

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use web_sys::HtmlCanvasElement;

use super::{err, finite_range, frame, legend::Legend, no_data, open, padded, with_skipped, Axis, ChartResult, GREY, ORANGE, SERIES};

/// One run: its model's name, bits per weight, quantized and FP32 perplexity.
#[derive(Clone, Debug, PartialEq)]
pub struct LmPoint {
    pub model: String,
    pub bits: f64,
    pub ppl: f64,
    pub fp32_ppl: f64,
}

/// Whether run `i` is on its model's front: no run of the same model has bits ≤ and ppl ≤ with
/// one of them strictly smaller.
pub fn on_front(points: &[LmPoint], i: usize) -> bool {
    let p = &points[i];
    !points.iter().any(|q| q.model == p.model && q.bits <= p.bits && q.ppl <= p.ppl && (q.bits < p.bits || q.ppl < p.ppl))
}

pub fn draw_lm_pareto(canvas: &HtmlCanvasElement, points: &[LmPoint], selected: Option<usize>, title: &str) -> ChartResult<Vec<Option<(i32, i32)>>> {
    let root = open(canvas)?;
    let ok = |p: &LmPoint| p.bits.is_finite() && p.ppl.is_finite() && p.ppl > 0.0;
    let skipped = points.iter().filter(|p| !ok(p)).count();
    let title = with_skipped(title, skipped);
    let Some((_, b_hi)) = finite_range(points.iter().filter(|p| ok(p)).map(|p| p.bits)) else {
        no_data(&root, &title, "no run yet: press Run")?;
        return Ok(vec![None; points.len()]);
    };
    let (y_lo, y_hi) = finite_range(points.iter().filter(|p| ok(p)).flat_map(|p| [p.ppl, p.fp32_ppl])).unwrap_or((1.0, 2.0));
    let (y_lo, y_hi) = padded(y_lo, y_hi, 0.08);
    // From 0 (no storage) to just past the widest run: the FP32 line's 32 bits only when a run
    // stores that many.
    let x_hi = (b_hi * 1.08).max(b_hi + 0.5).ceil();
    let mut models: Vec<&str> = Vec::new();
    for p in points {
        if !models.contains(&p.model.as_str()) {
            models.push(&p.model);
        }
    }
    let mut chart = frame(&root, &title, &Axis::linear(0.0, x_hi, "stored bits per weight"), &Axis::linear(y_lo, y_hi, "perplexity (lower is better)"), 64, models.len() * 2)?;
    let mut keys = Legend::default();
    for (m, model) in models.iter().enumerate() {
        let color = SERIES[m % SERIES.len()];
        let mine: Vec<usize> = (0..points.len()).filter(|&i| points[i].model == *model && ok(&points[i])).collect();
        if let Some(&i) = mine.first() {
            let f = points[i].fp32_ppl;
            if f.is_finite() {
                let style = GREY.stroke_width(1);
                chart
                    .draw_series(DashedLineSeries::new([(0.0, f), (x_hi, f)], 8, 5, style))
                    .map_err(err)?;
                keys.add(format!("FP32 {model}: {f:.3}"), move |(x, y)| DashedPathElement::new([(x, y), (x + 18, y)], 4, 3, style));
            }
        }
        let mut front: Vec<(f64, f64)> = mine.iter().filter(|&&i| on_front(points, i)).map(|&i| (points[i].bits, points[i].ppl)).collect();
        front.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart.draw_series(LineSeries::new(front, color.stroke_width(1))).map_err(err)?;
        let xy: Vec<(f64, f64)> = mine.iter().map(|&i| (points[i].bits, points[i].ppl)).collect();
        let name = if model.chars().count() > 30 { format!("{}…", model.chars().take(29).collect::<String>()) } else { model.to_string() };
        if m % 2 == 0 {
            chart
                .draw_series(xy.iter().map(|&p| Circle::new(p, 5, color.filled())))
                .map_err(err)?;
            keys.add(name, move |(x, y)| Circle::new((x + 9, y), 5, color.filled()));
        } else {
            chart
                .draw_series(xy.iter().map(|&p| TriangleMarker::new(p, 6, color.filled())))
                .map_err(err)?;
            keys.add(name, move |(x, y)| TriangleMarker::new((x + 9, y), 6, color.filled()));
        }
    }
    if let Some(p) = selected.and_then(|i| points.get(i)).filter(|p| ok(p)) {
        let at = chart.backend_coord(&(p.bits, p.ppl));
        root.draw(&Circle::new(at, 10, ORANGE.stroke_width(3))).map_err(err)?;
    }
    keys.draw(&root, &chart)?;
    let pixels = points.iter().map(|p| ok(p).then(|| chart.backend_coord(&(p.bits, p.ppl)))).collect();
    root.present().map_err(err)?;
    Ok(pixels)
}

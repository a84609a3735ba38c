//! The Benchmark page's chart: int8 GEMM against f32 GEMM for every shape as bars, with the
//! bound the two instruction ceilings allow as a dashed line (a bar far above it is noise).

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use web_sys::HtmlCanvasElement;

use super::{err, frame, legend::Legend, no_data, open, Axis, BLUE, ChartResult, VERMILLION};

/// `cases`: (shape, int8/f32); `bound`: the ceilings' ratio, when measured.
pub fn draw_ratio_bars(canvas: &HtmlCanvasElement, cases: &[(String, f64)], bound: Option<f64>) -> ChartResult {
    let root = open(canvas)?;
    let title = "int8 GEMM against f32 GEMM, each shape M×K×N (same run)";
    let ok: Vec<&(String, f64)> = cases.iter().filter(|c| c.1.is_finite() && c.1 > 0.0).collect();
    if ok.is_empty() {
        return no_data(&root, title, "no ratio yet: run the benchmark");
    }
    let top = ok.iter().map(|c| c.1).chain(bound).fold(1.0, f64::max) * 1.25;
    let names: Vec<String> = ok.iter().map(|c| c.0.clone()).collect();
    let mut chart = frame(&root, title, &Axis::categories(names, "shape M×K×N"), &Axis::linear(0.0, top, "speed-up (int8 / f32)"), 52, 2 + bound.is_some() as usize)?;
    let mut keys = Legend::default();
    chart
        .draw_series(ok.iter().enumerate().map(|(i, c)| Rectangle::new([(i as f64 - 0.35, 0.0), (i as f64 + 0.35, c.1)], BLUE.mix(0.7).filled())))
        .map_err(err)?;
    keys.add("int8 / f32", |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], BLUE.mix(0.7).filled()));
    let n = ok.len() as f64;
    let one = BLACK.mix(0.5).stroke_width(1);
    chart.draw_series(LineSeries::new([(-0.5, 1.0), (n - 0.5, 1.0)], one)).map_err(err)?;
    keys.add("1× (as fast)", move |(x, y)| PathElement::new([(x, y), (x + 18, y)], one));
    if let Some(b) = bound.filter(|b| b.is_finite()) {
        let style = VERMILLION.stroke_width(2);
        chart
            .draw_series(DashedLineSeries::new([(-0.5, b), (n - 0.5, b)], 8, 5, style))
            .map_err(err)?;
        keys.add(format!("ceilings' ratio {b:.2}×"), move |(x, y)| DashedPathElement::new([(x, y), (x + 18, y)], 4, 3, style));
    }
    keys.draw(&root, &chart)?;
    root.present().map_err(err)
}

//! Quantization-aware training: the training loss (top panel) and the test
//! accuracy after each epoch (bottom panel) over the same epoch axis, with the
//! FP32 and PTQ accuracies as reference lines and the deployed model's accuracy.

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use web_sys::HtmlCanvasElement;

use super::{at_least, err, finite_range, frame, legend::Legend, no_data, open, padded, with_skipped, Area, Axis, BLUE, ChartResult, GREEN, GREY, ORANGE, VERMILLION};
use crate::experiment::qat::QatReport;

/// Loss and accuracy curves of a QAT run, in two panels sharing x = epochs.
pub fn draw_qat(canvas: &HtmlCanvasElement, report: &QatReport) -> ChartResult {
    let root = open(canvas)?;
    let loss: Vec<(f64, f64)> = report.loss.iter().map(|p| (p.epoch, p.loss)).filter(|(e, l)| e.is_finite() && l.is_finite()).collect();
    let acc: Vec<(f64, f64)> = report.accuracy.iter().map(|&(e, a)| (e as f64, a * 100.0)).filter(|(_, a)| a.is_finite()).collect();
    let skipped = report.loss.len() - loss.len() + report.accuracy.len() - acc.len();
    let title = with_skipped(&format!("QAT at W{} A{}: training loss and test accuracy", report.weight_bits, report.act_bits), skipped);
    if loss.is_empty() && acc.is_empty() {
        return no_data(&root, &title, "no data");
    }
    let x_hi = loss.iter().chain(&acc).map(|p| p.0).fold(report.epochs as f64, f64::max).max(1.0);
    let (_, h) = root.dim_in_pixel();
    let (top, bottom) = root.split_vertically(h / 2);
    draw_loss(&top, &title, &loss, x_hi)?;
    draw_accuracy(&bottom, report, &acc, x_hi)?;
    root.present().map_err(err)
}

fn draw_loss(area: &Area, title: &str, loss: &[(f64, f64)], x_hi: f64) -> ChartResult {
    let Some((lo, hi)) = finite_range(loss.iter().map(|p| p.1)) else {
        return no_data(area, title, "no loss recorded");
    };
    let (lo, hi) = padded(lo, hi, 0.08);
    let mut chart = frame(area, title, &Axis::linear(0.0, x_hi, "epoch"), &Axis::linear(lo.max(0.0), hi, "training loss (cross-entropy, nats)"), 56, 1)?;
    let mut keys = Legend::default();
    chart
        .draw_series(LineSeries::new(loss.iter().copied(), BLUE.stroke_width(2)))
        .map_err(err)?;
    keys.add("mean training loss every few batches", |(x, y)| PathElement::new([(x, y), (x + 18, y)], BLUE.stroke_width(2)));
    if loss.len() <= 60 {
        chart.draw_series(loss.iter().map(|&p| Circle::new(p, 2, BLUE.filled()))).map_err(err)?;
    }
    keys.draw(area, &chart)
}

fn draw_accuracy(area: &Area, report: &QatReport, acc: &[(f64, f64)], x_hi: f64) -> ChartResult {
    let row = |name: &str| report.table.iter().find(|r| r.model == name).map(|r| r.accuracy * 100.0).filter(|a| a.is_finite());
    let (fp32, ptq) = (row("FP32"), row("PTQ"));
    let deployed = Some(report.deployed_accuracy * 100.0).filter(|a| a.is_finite());
    let Some((lo, hi)) = finite_range(acc.iter().map(|p| p.1).chain(fp32).chain(ptq).chain(deployed)) else {
        return no_data(area, "", "no accuracy recorded");
    };
    let (lo, hi) = at_least(lo, hi, 2.0);
    let (lo, hi) = padded(lo, hi, 0.1);
    let (lo, hi) = (lo.max(0.0), hi.min(101.0).max(lo.max(0.0) + 1.0));
    let mut chart = frame(area, "", &Axis::linear(0.0, x_hi, "epoch"), &Axis::linear(lo, hi, "test accuracy (%)"), 56, 4)?;
    let mut keys = Legend::default();
    for (value, name, color, dash) in [(fp32, "FP32", GREY, (10, 6)), (ptq, "PTQ (no training)", VERMILLION, (4, 4))] {
        if let Some(v) = value {
            let style = color.stroke_width(2);
            chart
                .draw_series(DashedLineSeries::new([(0.0, v), (x_hi, v)], dash.0, dash.1, style))
                .map_err(err)?;
            keys.add(format!("{name}: {v:.2} %"), move |(x, y)| DashedPathElement::new([(x, y), (x + 18, y)], dash.0.min(5), dash.1.min(3), style));
        }
    }
    chart
        .draw_series(LineSeries::new(acc.iter().copied(), ORANGE.stroke_width(2)))
        .map_err(err)?;
    keys.add("QAT, fake-quant, after each epoch", |(x, y)| EmptyElement::at((x, y)) + PathElement::new([(0, 0), (18, 0)], ORANGE.stroke_width(2)) + Circle::new((9, 0), 4, ORANGE.filled()));
    chart.draw_series(acc.iter().map(|&p| Circle::new(p, 4, ORANGE.filled()))).map_err(err)?;
    if let Some(d) = deployed {
        let at = (acc.last().map_or(x_hi, |p| p.0), d);
        chart
            .draw_series([TriangleMarker::new(at, 7, GREEN.filled())])
            .map_err(err)?;
        keys.add(format!("deployed (re-quantized by PTQ): {d:.2} %"), |(x, y)| TriangleMarker::new((x + 9, y), 6, GREEN.filled()));
    }
    keys.draw(area, &chart)
}

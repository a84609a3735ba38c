//! The Language-model page's per-layer error as a heat map: rows = transformer blocks (and the
//! output head), columns = the projections of a block (wq wk wv wo w1 w2 w3), each cell the
//! SQNR of that Linear's output against FP32 over the scored text,
//!
//! ```text
//! SQNR = 10·log10(Σ y32² / Σ (yq − y32)²)  dB       (lm::eval::compare's LayerError)
//! ```
//!
//! written in the cell. The shade runs from white (the run's best SQNR) to Okabe–Ito vermillion
//! (its worst): one hue, so it reads for every kind of colour vision, and the numbers carry it
//! anyway. A cell with no figure (an FP32 layer: no error) is hatched grey with "FP32".
//!
//! Against another run of the same model the cells hold the change instead,
//!
//! ```text
//! ΔSQNR = SQNR_run − SQNR_baseline  dB      (> 0: the run's output is closer to FP32's)
//! ```
//!
//! on a diverging scale: blue where the run is better, vermillion where it is worse, white at 0,
//! both ends at the largest |Δ|, with the sign written in the cell. A Linear without a figure in
//! either run (FP32 there) has no change: "—".

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use web_sys::HtmlCanvasElement;

use super::{err, no_data, open, text, title_text, ChartResult, BLUE, GREY, VERMILLION};

/// The columns: a block's projections in the order the forward pass uses them.
pub const PROJECTIONS: [&str; 7] = ["wq", "wk", "wv", "wo", "w1", "w3", "w2"];

/// (block, projection) of a Linear named `layers.{l}.{attention|feed_forward}.{p}`; `None` for
/// others (`output`, `tok_embeddings`).
pub fn cell_of(name: &str) -> Option<(usize, usize)> {
    let rest = name.strip_prefix("layers.")?;
    let (l, rest) = rest.split_once('.')?;
    let p = rest.rsplit('.').next()?;
    Some((l.parse().ok()?, PROJECTIONS.iter().position(|&q| q == p)?))
}

/// White (t = 0) to `to` (t = 1).
fn mix_white(to: RGBColor, t: f64) -> RGBColor {
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let mix = |b: u8| (255.0 + (b as f64 - 255.0) * t).round() as u8;
    RGBColor(mix(to.0), mix(to.1), mix(to.2))
}

/// White (t = 0) to vermillion (t = 1).
fn shade(t: f64) -> RGBColor {
    mix_white(VERMILLION, t)
}

/// Vermillion (t = −1) through white (0) to blue (t = 1).
fn diverging(t: f64) -> RGBColor {
    if t >= 0.0 {
        mix_white(BLUE, t)
    } else {
        mix_white(VERMILLION, -t)
    }
}

/// SQNR_run − SQNR_base (dB) of every Linear of `run`, where both runs have a figure for it.
pub fn sqnr_change(run: &[(String, Option<f64>)], base: &[(String, Option<f64>)]) -> Vec<(String, Option<f64>)> {
    run.iter()
        .map(|(name, a)| {
            let b = base.iter().find(|(n, _)| n == name).and_then(|(_, b)| *b);
            (name.clone(), a.zip(b).map(|(a, b)| a - b).filter(|d| d.is_finite()))
        })
        .collect()
}

/// How a run compares with another, Linear by Linear.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeSummary {
    /// Linears with a figure in both runs.
    pub compared: usize,
    /// Of those, where the run's SQNR is higher / lower.
    pub better: usize,
    pub worse: usize,
    /// The median change (dB).
    pub median: Option<f64>,
}

pub fn summarize_change(change: &[(String, Option<f64>)]) -> ChangeSummary {
    let mut d: Vec<f64> = change.iter().filter_map(|(_, d)| *d).collect();
    d.sort_by(f64::total_cmp);
    let median = match d.len() {
        0 => None,
        n if n % 2 == 1 => Some(d[n / 2]),
        n => Some((d[n / 2 - 1] + d[n / 2]) / 2.0),
    };
    ChangeSummary { compared: d.len(), better: d.iter().filter(|&&v| v > 0.0).count(), worse: d.iter().filter(|&&v| v < 0.0).count(), median }
}

/// What the cells hold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum HeatValues {
    /// One run's SQNR (dB).
    Sqnr,
    /// The change in SQNR against another run (dB).
    Change,
}

/// `layers`: (name, figure in dB when there is one) of every Linear, its SQNR or its change
/// against another run ([`sqnr_change`]) as `values` says; `label` names the run (or the pair).
/// How many blocks the map draws (at most 256).
fn blocks_of(layers: &[(String, Option<f64>)]) -> usize {
    layers.iter().filter_map(|(n, _)| cell_of(n)).map(|(l, _)| l + 1).max().unwrap_or(0).min(256)
}

/// The canvas height for `layers`: 80 px of title and labels, and a row per block and the head,
/// 28 px each while 20 rows fit in 560 px, then shrinking to 12 px (a 2-block model is not
/// stretched over the page; a 40-block one still fits).
pub fn heatmap_height(layers: &[(String, Option<f64>)]) -> u32 {
    let rows = blocks_of(layers) as u32 + u32::from(layers.iter().any(|(n, _)| n == "output"));
    80 + rows.max(1) * (560 / rows.max(1)).clamp(12, 28)
}

pub fn draw_lm_heatmap(canvas: &HtmlCanvasElement, layers: &[(String, Option<f64>)], values: HeatValues, label: &str) -> ChartResult {
    let root = open(canvas)?;
    let title = match values {
        HeatValues::Sqnr => format!("Output SQNR per projection (dB) — {label}"),
        HeatValues::Change => format!("Change in output SQNR per projection (dB) — {label}"),
    };
    let blocks = blocks_of(layers);
    let head = layers.iter().find(|(n, _)| n == "output").map(|(_, s)| *s);
    if blocks == 0 {
        return no_data(&root, &title, "no per-layer figures");
    }
    let mut grid = vec![vec![None::<Option<f64>>; PROJECTIONS.len()]; blocks];
    for (n, s) in layers {
        if let Some((l, p)) = cell_of(n) {
            if l < blocks {
                grid[l][p] = Some(*s);
            }
        }
    }
    let finite = grid.iter().flatten().flatten().flatten().copied().chain(head.flatten()).filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    // The change's scale: ± the largest |Δ| (at least 0.1 dB, so that noise stays pale).
    let reach = if lo.is_finite() { lo.abs().max(hi.abs()).max(0.1) } else { 1.0 };
    let rows = blocks + usize::from(head.is_some());
    let (w, h) = root.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    let (left, top, right, bottom) = (84, 40, 150, 40);
    let cw = (w - left - right) / PROJECTIONS.len() as i32;
    let ch = ((h - top - bottom) / rows.max(1) as i32).min(40);
    if cw < 20 || ch < 8 {
        return no_data(&root, &title, &format!("{rows} rows do not fit on this canvas"));
    }
    title_text(&root, &title)?;
    let font = if ch >= 22 { 12 } else { 9 };
    let cell = |x0: i32, y0: i32, v: Option<Option<f64>>, width: i32| -> ChartResult {
        let rect = [(x0, y0), (x0 + width - 1, y0 + ch - 1)];
        match v {
            Some(Some(s)) if s.is_finite() => {
                let (fill, strong, figure) = match values {
                    HeatValues::Sqnr => {
                        let t = if hi > lo { (hi - s) / (hi - lo) } else { 0.5 };
                        (shade(t), t > 0.6, format!("{s:.1}"))
                    }
                    HeatValues::Change => (diverging(s / reach), (s / reach).abs() > 0.6, format!("{s:+.1}")),
                };
                root.draw(&Rectangle::new(rect, fill.filled())).map_err(err)?;
                let ink = if strong { WHITE } else { BLACK };
                text(&root, &figure, (x0 + width / 2, y0 + ch / 2), font, &ink, HPos::Center, VPos::Center)
            }
            Some(_) => {
                root.draw(&Rectangle::new(rect, GREY.mix(0.25).filled())).map_err(err)?;
                let word = if values == HeatValues::Sqnr { "FP32" } else { "—" };
                text(&root, word, (x0 + width / 2, y0 + ch / 2), font, &RGBColor(90, 90, 90), HPos::Center, VPos::Center)
            }
            None => root.draw(&Rectangle::new(rect, WHITE.filled())).map_err(err),
        }
    };
    for (j, p) in PROJECTIONS.iter().enumerate() {
        text(&root, p, (left + j as i32 * cw + cw / 2, top - 4), 12, &BLACK, HPos::Center, VPos::Bottom)?;
    }
    for (l, row) in grid.iter().enumerate() {
        let y0 = top + l as i32 * ch;
        text(&root, &format!("block {l}"), (left - 6, y0 + ch / 2), 12, &BLACK, HPos::Right, VPos::Center)?;
        for (j, v) in row.iter().enumerate() {
            cell(left + j as i32 * cw, y0, *v, cw)?;
        }
    }
    if let Some(s) = head {
        let y0 = top + blocks as i32 * ch;
        text(&root, "output head", (left - 6, y0 + ch / 2), 12, &BLACK, HPos::Right, VPos::Center)?;
        cell(left, y0, Some(s), cw * PROJECTIONS.len() as i32)?;
    }
    text(&root, "projection (attention: wq wk wv wo; SwiGLU: w1 w3 w2)", (left + cw * PROJECTIONS.len() as i32 / 2, top + rows as i32 * ch + 8), 12, &BLACK, HPos::Center, VPos::Top)?;
    // The colour scale.
    let (sx, sy, sh) = (w - right + 24, top, (rows as i32 * ch).max(60));
    for k in 0..sh {
        let t = k as f64 / (sh - 1).max(1) as f64;
        let fill = match values {
            HeatValues::Sqnr => shade(t),
            HeatValues::Change => diverging(1.0 - 2.0 * t),
        };
        root.draw(&Rectangle::new([(sx, sy + k), (sx + 16, sy + k + 1)], fill.filled())).map_err(err)?;
    }
    root.draw(&Rectangle::new([(sx, sy), (sx + 16, sy + sh)], BLACK.mix(0.4))).map_err(err)?;
    match values {
        HeatValues::Sqnr if lo.is_finite() => {
            text(&root, &format!("{hi:.1} dB (least error)"), (sx + 22, sy), 11, &BLACK, HPos::Left, VPos::Top)?;
            text(&root, &format!("{lo:.1} dB (most)"), (sx + 22, sy + sh), 11, &BLACK, HPos::Left, VPos::Bottom)?;
        }
        HeatValues::Change => {
            text(&root, &format!("+{reach:.1} dB (run better)"), (sx + 22, sy), 11, &BLACK, HPos::Left, VPos::Top)?;
            text(&root, "0", (sx + 22, sy + sh / 2), 11, &BLACK, HPos::Left, VPos::Center)?;
            text(&root, &format!("−{reach:.1} dB (worse)"), (sx + 22, sy + sh), 11, &BLACK, HPos::Left, VPos::Bottom)?;
        }
        _ => {}
    }
    root.present().map_err(err)
}

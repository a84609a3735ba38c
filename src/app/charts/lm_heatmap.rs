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

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use web_sys::HtmlCanvasElement;

use super::{err, no_data, open, text, ChartResult, GREY, TITLE_FONT, VERMILLION};

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

/// White (t = 0) to vermillion (t = 1).
fn shade(t: f64) -> RGBColor {
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * t).round() as u8;
    RGBColor(mix(255, VERMILLION.0), mix(255, VERMILLION.1), mix(255, VERMILLION.2))
}

/// `layers`: (name, SQNR in dB when measured) of every Linear; `label` names the run.
pub fn draw_lm_heatmap(canvas: &HtmlCanvasElement, layers: &[(String, Option<f64>)], label: &str) -> ChartResult {
    let root = open(canvas)?;
    let title = format!("Output SQNR per projection (dB) — {label}");
    let blocks = layers.iter().filter_map(|(n, _)| cell_of(n)).map(|(l, _)| l + 1).max().unwrap_or(0).min(256);
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
    let rows = blocks + usize::from(head.is_some());
    let (w, h) = root.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    let (left, top, right, bottom) = (84, 40, 150, 40);
    let cw = (w - left - right) / PROJECTIONS.len() as i32;
    let ch = ((h - top - bottom) / rows.max(1) as i32).min(40);
    if cw < 20 || ch < 8 {
        return no_data(&root, &title, &format!("{rows} rows do not fit on this canvas"));
    }
    text(&root, &title, (w / 2, 8), TITLE_FONT.1, &BLACK, HPos::Center, VPos::Top)?;
    let font = if ch >= 22 { 12 } else { 9 };
    let cell = |x0: i32, y0: i32, v: Option<Option<f64>>, width: i32| -> ChartResult {
        let rect = [(x0, y0), (x0 + width - 1, y0 + ch - 1)];
        match v {
            Some(Some(s)) if s.is_finite() => {
                let t = if hi > lo { (hi - s) / (hi - lo) } else { 0.5 };
                root.draw(&Rectangle::new(rect, shade(t).filled())).map_err(err)?;
                let ink = if t > 0.6 { WHITE } else { BLACK };
                text(&root, &format!("{s:.1}"), (x0 + width / 2, y0 + ch / 2), font, &ink, HPos::Center, VPos::Center)
            }
            Some(_) => {
                root.draw(&Rectangle::new(rect, GREY.mix(0.25).filled())).map_err(err)?;
                text(&root, "FP32", (x0 + width / 2, y0 + ch / 2), font, &RGBColor(90, 90, 90), HPos::Center, VPos::Center)
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
        root.draw(&Rectangle::new([(sx, sy + k), (sx + 16, sy + k + 1)], shade(t).filled())).map_err(err)?;
    }
    root.draw(&Rectangle::new([(sx, sy), (sx + 16, sy + sh)], BLACK.mix(0.4))).map_err(err)?;
    if lo.is_finite() {
        text(&root, &format!("{hi:.1} dB (least error)"), (sx + 22, sy), 11, &BLACK, HPos::Left, VPos::Top)?;
        text(&root, &format!("{lo:.1} dB (most)"), (sx + 22, sy + sh), 11, &BLACK, HPos::Left, VPos::Bottom)?;
    }
    root.present().map_err(err)
}

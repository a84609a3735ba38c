//! The confusion matrix as a heatmap: rows = true class, columns = predicted
//! class, each cell's count written in it, its shade = the count's share of the
//! row (so the diagonal reads as each class's recall, whatever the class sizes).
//! One hue (white → blue) keeps it readable for every kind of colour vision.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use web_sys::HtmlCanvasElement;

use super::{err, no_data, open, text, title_text, ChartResult, BLUE};

/// Fashion-MNIST's classes, in label order.
pub const FASHION_MNIST_CLASSES: [&str; 10] = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];
/// MNIST's classes: the digits.
pub const MNIST_CLASSES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// White (0) to Okabe–Ito blue (1).
fn shade(t: f64) -> RGBColor {
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * t).round() as u8;
    RGBColor(mix(255, BLUE.0), mix(255, BLUE.1), mix(255, BLUE.2))
}

/// `matrix[true][predicted]` with `classes` naming the labels (a missing name shows the
/// label number; a short row counts as zeros). `model` names the predictions on the x axis
/// ("int8", "simulated").
pub fn draw_confusion(canvas: &HtmlCanvasElement, matrix: &[Vec<u32>], classes: &[String], model: &str) -> ChartResult {
    let root = open(canvas)?;
    let n = matrix.len().max(matrix.iter().map(Vec::len).max().unwrap_or(0));
    let total: u64 = matrix.iter().flatten().map(|&c| c as u64).sum();
    let correct: u64 = (0..matrix.len()).map(|i| matrix[i].get(i).copied().unwrap_or(0) as u64).sum();
    let title = if total > 0 {
        format!("Confusion matrix ({total} images, {:.2} % on the diagonal)", correct as f64 * 100.0 / total as f64)
    } else {
        "Confusion matrix".to_string()
    };
    if n == 0 || total == 0 {
        return no_data(&root, &title, "no data");
    }
    let name = |i: usize| classes.get(i).cloned().unwrap_or_else(|| i.to_string());
    let longest = (0..n).map(|i| name(i).chars().count()).max().unwrap_or(1) as i32;
    let (w, h) = root.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    // Room for the title, the row names (left), the column names (rotated, below), the axis
    // titles and the colour scale (right).
    let label_px = (longest * 7 + 8).clamp(16, 110);
    // A narrow canvas (a phone's card) leaves out the colour scale (the counts and the outlined
    // diagonal carry the matrix) so that the cells keep room for their counts and names.
    let narrow = w < 480;
    let (left, top, right, bottom) = (label_px + 26, 40, if narrow { 12 } else { 84 }, label_px + 34);
    let cell = ((w - left - right) / n as i32).min((h - top - bottom) / n as i32);
    if cell < 4 {
        return no_data(&root, &title, &format!("{n} classes do not fit on this canvas"));
    }
    let grid = cell * n as i32;
    title_text(&root, &title)?;
    let font = if cell >= 36 { 12 } else if cell >= 24 { 10 } else { 8 };
    for i in 0..n {
        let row: u64 = matrix.get(i).map_or(0, |r| r.iter().map(|&c| c as u64).sum());
        for j in 0..n {
            let count = matrix.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0);
            let share = if row > 0 { count as f64 / row as f64 } else { 0.0 };
            let (x0, y0) = (left + j as i32 * cell, top + i as i32 * cell);
            root.draw(&Rectangle::new([(x0, y0), (x0 + cell, y0 + cell)], shade(share).filled())).map_err(err)?;
            root.draw(&Rectangle::new([(x0, y0), (x0 + cell, y0 + cell)], BLACK.mix(0.12).stroke_width(1))).map_err(err)?;
            if cell >= 16 {
                let ink = if share > 0.5 { WHITE } else { BLACK };
                text(&root, &count.to_string(), (x0 + cell / 2, y0 + cell / 2), font, &ink, HPos::Center, VPos::Center)?;
            }
        }
        // The diagonal outlined, so "correct" does not rely on the shade alone.
        let d = left + i as i32 * cell;
        let y = top + i as i32 * cell;
        root.draw(&Rectangle::new([(d, y), (d + cell, y + cell)], BLACK.mix(0.6).stroke_width(2))).map_err(err)?;
        // Names no taller than a cell, so that neighbours never print over each other.
        let name_font = (cell - 2).clamp(8, 12) as u32;
        text(&root, &name(i), (left - 6, top + i as i32 * cell + cell / 2), name_font, &BLACK, HPos::Right, VPos::Center)?;
        let style = ("sans-serif", name_font).into_font().color(&BLACK).transform(FontTransform::Rotate270).pos(plotters::style::text_anchor::Pos::new(HPos::Right, VPos::Center));
        root.draw(&Text::new(name(i), (left + i as i32 * cell + cell / 2, top + grid + 6), style)).map_err(err)?;
    }
    // Axis titles.
    let below = (top + grid + label_px + 20).min(h - 6);
    text(&root, &format!("predicted class ({model})"), (left + grid / 2, below), 13, &BLACK, HPos::Center, VPos::Bottom)?;
    let style = ("sans-serif", 13).into_font().color(&BLACK).transform(FontTransform::Rotate270).pos(plotters::style::text_anchor::Pos::new(HPos::Center, VPos::Top));
    root.draw(&Text::new("true class", (4, top + grid / 2), style)).map_err(err)?;
    if narrow {
        return root.present().map_err(err);
    }
    // The colour scale: share of the row.
    let (sx, sy, sh) = (left + grid + 18, top + 32, (grid.min(220) - 32).max(20));
    for k in 0..sh.max(1) {
        let t = 1.0 - k as f64 / sh.max(1) as f64;
        root.draw(&Rectangle::new([(sx, sy + k), (sx + 14, sy + k + 1)], shade(t).filled())).map_err(err)?;
    }
    root.draw(&Rectangle::new([(sx, sy), (sx + 14, sy + sh)], BLACK.mix(0.4).stroke_width(1))).map_err(err)?;
    text(&root, "share of", (sx - 4, top), 11, &BLACK, HPos::Left, VPos::Top)?;
    text(&root, "true class", (sx - 4, top + 13), 11, &BLACK, HPos::Left, VPos::Top)?;
    text(&root, "100 %", (sx + 18, sy), 11, &BLACK, HPos::Left, VPos::Center)?;
    text(&root, "50 %", (sx + 18, sy + sh / 2), 11, &BLACK, HPos::Left, VPos::Center)?;
    text(&root, "0 %", (sx + 18, sy + sh), 11, &BLACK, HPos::Left, VPos::Center)?;
    text(&root, "▢ diagonal", (sx - 4, sy + sh + 14), 11, &BLACK, HPos::Left, VPos::Top)?;
    text(&root, "= correct", (sx - 4, sy + sh + 28), 11, &BLACK, HPos::Left, VPos::Top)?;
    root.present().map_err(err)
}

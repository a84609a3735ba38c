//! A grid of sample images with their true label, the FP32 prediction and the
//! quantized prediction. Where FP32 and the quantized model disagree the tile is
//! outlined in vermillion *and* marked with ✗ (colour alone is not enough), as the
//! legend says. Drawn on the canvas's 2-D context directly (a rectangle per run of
//! equal pixels), without plotters.

use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

use super::ChartResult;

/// One sample: 28 × 28 pixels (row-major, 0 = background, 255 = ink), the true label,
/// the FP32 prediction, the quantized prediction.
pub type Sample = (Vec<u8>, u8, u8, u8);

/// Tile size and image magnification (px).
const TILE_W: u32 = 124;
const TILE_H: u32 = 138;
const ZOOM: u32 = 3;
/// Room above the tiles for the title and the legend.
const HEADER: u32 = 56;
const VERMILLION: &str = "rgb(213, 94, 0)";

/// The canvas height that shows `n` samples at `width` px.
pub fn samples_height(n: usize, width: u32) -> u32 {
    let cols = (width / TILE_W).max(1) as usize;
    header(width) + n.div_ceil(cols).max(1) as u32 * TILE_H + 8
}

/// Below this width the legend's two entries stand on two lines (a phone's card).
const ONE_LINE_LEGEND: u32 = 560;

/// Room above the tiles: the title and the legend, on one line or two.
fn header(width: u32) -> u32 {
    if width < ONE_LINE_LEGEND { HEADER + 20 } else { HEADER }
}

/// The 2-D context of a canvas, scaled to its logical size and cleared to white, with that size.
fn context(canvas: &HtmlCanvasElement) -> ChartResult<(CanvasRenderingContext2d, (u32, u32))> {
    let (ctx, (w, h)) = super::surface::scaled_context(canvas)?;
    if w < 64 || h < 64 {
        return Err(format!("the canvas is too small ({w} × {h} px)"));
    }
    ctx.set_fill_style_str("#fff");
    ctx.fill_rect(0.0, 0.0, w as f64, h as f64);
    Ok((ctx, (w, h)))
}

fn write(ctx: &CanvasRenderingContext2d, s: &str, x: f64, y: f64, font: &str, color: &str, align: &str) -> ChartResult {
    ctx.set_font(font);
    ctx.set_fill_style_str(color);
    ctx.set_text_align(align);
    ctx.set_text_baseline("top");
    ctx.fill_text(s, x, y).map_err(|e| format!("{e:?}"))
}

fn text_width(ctx: &CanvasRenderingContext2d, s: &str, font: &str) -> f64 {
    ctx.set_font(font);
    ctx.measure_text(s).map_or(0.0, |m| m.width())
}

/// How [`write_fit`] sets a text: `weight` ("" or "bold "), the largest and smallest size in px, `align`.
struct Fit<'a> {
    weight: &'a str,
    px: (u32, u32),
    align: &'a str,
}

/// `write` within `max_w` px: at the largest size that fits, down to the smallest, then
/// condensed to the width (a long model name such as "weight-only W4" under a 124 px tile, or
/// the legend on a phone's card).
fn write_fit(ctx: &CanvasRenderingContext2d, s: &str, x: f64, y: f64, max_w: f64, fit: Fit, color: &str) -> ChartResult {
    let font = |px: u32| format!("{}{px}px sans-serif", fit.weight);
    let px = (fit.px.1..=fit.px.0).rev().find(|&px| text_width(ctx, s, &font(px)) <= max_w).unwrap_or(fit.px.1);
    ctx.set_font(&font(px));
    ctx.set_fill_style_str(color);
    ctx.set_text_align(fit.align);
    ctx.set_text_baseline("top");
    ctx.fill_text_with_max_width(s, x, y, max_w.max(1.0)).map_err(|e| format!("{e:?}"))
}

/// Draws the samples in rows of as many tiles as the canvas width holds; the tiles that do
/// not fit its height are left out (the title says how many are shown). `classes` names the
/// labels (a missing name shows the number); `quant` names the quantized model ("int8").
pub fn draw_samples(canvas: &HtmlCanvasElement, samples: &[Sample], classes: &[String], quant: &str) -> ChartResult {
    let (ctx, (w, h)) = context(canvas)?;
    let name = |k: u8| classes.get(k as usize).cloned().unwrap_or_else(|| k.to_string());
    let cols = (w / TILE_W).max(1) as usize;
    let top = header(w);
    let rows_fit = (h.saturating_sub(top) / TILE_H) as usize;
    let shown = samples.len().min(cols * rows_fit);
    let disagree = samples.iter().filter(|s| s.2 != s.3).count();
    let mut title = format!("Sample images: FP32 and {quant} predictions ({disagree} of {} disagree)", samples.len());
    if shown < samples.len() {
        title = format!("{title}, first {shown} shown");
    }
    let cx = w as f64 / 2.0;
    // The title at 15 px, smaller where the canvas is narrower (down to 10 px), never cut at both ends.
    write_fit(&ctx, &title, cx, 8.0, w as f64 - 16.0, Fit { weight: "", px: (15, 10), align: "center" }, "#000")?;
    if samples.is_empty() {
        return write(&ctx, "no samples", cx, h as f64 / 2.0, "14px sans-serif", "#5a5a5a", "center");
    }
    // The legend: a grey frame = agree, a vermillion frame with ✗ = disagree.
    let ly = 32.0;
    ctx.set_line_width(1.0);
    ctx.set_stroke_style_str("#999");
    ctx.stroke_rect(12.0, ly, 14.0, 14.0);
    let agree = format!("FP32 and {quant} agree (grey frame)");
    let legend = |weight| Fit { weight, px: (12, 9), align: "left" };
    write_fit(&ctx, &agree, 32.0, ly + 1.0, w as f64 - 40.0, legend(""), "#000")?;
    ctx.set_line_width(3.0);
    ctx.set_stroke_style_str(VERMILLION);
    // The second entry after the first one's text (as long as the model's name makes it).
    let (x2, y2) = if w < ONE_LINE_LEGEND { (12.0, ly + 20.0) } else { ((32.0 + text_width(&ctx, &agree, "12px sans-serif") + 24.0).max(250.0), ly) };
    ctx.stroke_rect(x2, y2, 14.0, 14.0);
    write_fit(&ctx, &format!("✗ FP32 and {quant} disagree (vermillion frame)"), x2 + 20.0, y2 + 1.0, w as f64 - x2 - 28.0, legend("bold "), VERMILLION)?;

    for (k, (pixels, label, fp32, q)) in samples.iter().take(shown).enumerate() {
        let (x0, y0) = (((k % cols) as u32 * TILE_W) as f64 + 4.0, (top + (k / cols) as u32 * TILE_H) as f64);
        let img = (28 * ZOOM) as f64;
        let ix = x0 + (TILE_W as f64 - 8.0 - img) / 2.0;
        let iy = y0 + 6.0;
        draw_image(&ctx, pixels, ix, iy, img)?;
        let differ = fp32 != q;
        let tx = x0 + (TILE_W as f64 - 8.0) / 2.0;
        let text_w = TILE_W as f64 - 16.0;
        let caption = |weight| Fit { weight, px: (11, 9), align: "center" };
        write_fit(&ctx, &format!("label: {}", name(*label)), tx, iy + img + 4.0, text_w, caption(""), "#5b6475")?;
        write_fit(&ctx, &format!("fp32: {}", name(*fp32)), tx, iy + img + 18.0, text_w, caption(""), "#000")?;
        let (weight, color) = if differ { ("bold ", VERMILLION) } else { ("", "#000") };
        write_fit(&ctx, &format!("{quant}: {}", name(*q)), tx, iy + img + 32.0, text_w, caption(weight), color)?;
        if differ {
            ctx.set_line_width(3.0);
            ctx.set_stroke_style_str(VERMILLION);
            ctx.stroke_rect(x0 + 1.5, y0 + 1.5, TILE_W as f64 - 11.0, TILE_H as f64 - 7.0);
            write(&ctx, "✗", x0 + TILE_W as f64 - 12.0, y0 + 4.0, "bold 16px sans-serif", VERMILLION, "right")?;
        } else {
            ctx.set_line_width(1.0);
            ctx.set_stroke_style_str("#bbb");
            ctx.stroke_rect(x0 + 1.5, y0 + 1.5, TILE_W as f64 - 11.0, TILE_H as f64 - 7.0);
        }
    }
    Ok(())
}

/// A square grey-scale image (ink dark on white), `size` px wide; anything not square is
/// drawn as a "?" box.
fn draw_image(ctx: &CanvasRenderingContext2d, pixels: &[u8], x: f64, y: f64, size: f64) -> ChartResult {
    let side = (pixels.len() as f64).sqrt().round() as usize;
    ctx.set_line_width(1.0);
    ctx.set_stroke_style_str("#ddd");
    ctx.stroke_rect(x - 0.5, y - 0.5, size + 1.0, size + 1.0);
    if side == 0 || side * side != pixels.len() {
        return write(ctx, "?", x + size / 2.0, y + size / 2.0 - 8.0, "16px sans-serif", "#999", "center");
    }
    let px = size / side as f64;
    for (r, row) in pixels.chunks_exact(side).enumerate() {
        let mut c = 0;
        while c < side {
            let v = row[c];
            let mut end = c + 1;
            while end < side && row[end] == v {
                end += 1;
            }
            if v > 0 {
                let g = 255 - v;
                ctx.set_fill_style_str(&format!("rgb({g},{g},{g})"));
                ctx.fill_rect(x + c as f64 * px, y + r as f64 * px, (end - c) as f64 * px, px);
            }
            c = end;
        }
    }
    Ok(())
}

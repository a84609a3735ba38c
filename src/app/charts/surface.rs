//! A canvas drawn at the screen's device pixel ratio: the chart is laid out in CSS pixels
//! (its *logical* size) and the canvas holds `ratio` × as many device pixels, so lines and
//! text stay sharp on HiDPI screens.
//!
//! [`fit`] sizes a canvas: `width`/`height` attributes = logical × ratio, CSS size = logical,
//! and the logical size kept in `data-logical-width` / `data-logical-height`. [`Surface`] is the
//! plotters backend that draws on it: it reports the logical size to plotters and scales the
//! 2-D context by the ratio. A canvas that [`fit`] never saw is drawn 1 : 1.

use plotters::prelude::DrawingBackend;
use plotters_backend::{BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind};
use plotters_canvas::CanvasBackend;
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

/// Ratios beyond this are drawn at this one (a 4× canvas of a wide chart is ~30 MB).
const MAX_RATIO: f64 = 3.0;

/// The screen's device pixel ratio, in [1, 3] (1 when the browser does not say).
pub fn device_ratio() -> f64 {
    let r = web_sys::window().map_or(1.0, |w| w.device_pixel_ratio());
    if r.is_finite() {
        r.clamp(1.0, MAX_RATIO)
    } else {
        1.0
    }
}

/// Sizes `canvas` for a chart of `width` × `height` CSS pixels at the device pixel ratio.
pub fn fit(canvas: &HtmlCanvasElement, width: u32, height: u32) {
    let ratio = device_ratio();
    let device = |v: u32| (v as f64 * ratio).round() as u32;
    // Setting a canvas's width clears it, even to the same value: only when it changes.
    if canvas.width() != device(width) {
        canvas.set_width(device(width));
    }
    if canvas.height() != device(height) {
        canvas.set_height(device(height));
    }
    let _ = canvas.set_attribute("data-logical-width", &width.to_string());
    let _ = canvas.set_attribute("data-logical-height", &height.to_string());
    let _ = canvas.style().set_property("width", &format!("{width}px"));
    let _ = canvas.style().set_property("aspect-ratio", &format!("{width} / {height}"));
}

/// The size the chart is laid out at (CSS px): what [`fit`] set, else the canvas's own size.
pub fn logical_size(canvas: &HtmlCanvasElement) -> (u32, u32) {
    let attr = |name: &str| canvas.get_attribute(name).and_then(|v| v.parse::<u32>().ok()).filter(|&v| v > 0);
    match (attr("data-logical-width"), attr("data-logical-height")) {
        (Some(w), Some(h)) => (w, h),
        _ => (canvas.width(), canvas.height()),
    }
}

/// The canvas's 2-D context, scaled so that one unit is one logical pixel, with the logical size.
pub fn scaled_context(canvas: &HtmlCanvasElement) -> Result<(CanvasRenderingContext2d, (u32, u32)), String> {
    let ctx = canvas
        .get_context("2d")
        .map_err(|e| format!("{e:?}"))?
        .ok_or("no 2-D canvas context")?
        .dyn_into::<CanvasRenderingContext2d>()
        .map_err(|_| "no 2-D canvas context".to_string())?;
    let (w, h) = logical_size(canvas);
    // device px per logical px, the same on both axes by construction of `fit`.
    let ratio = canvas.width() as f64 / w.max(1) as f64;
    ctx.set_transform(ratio, 0.0, 0.0, ratio, 0.0, 0.0).map_err(|e| format!("{e:?}"))?;
    Ok((ctx, (w, h)))
}

/// plotters' canvas backend on a [`fit`] canvas: every call goes to [`CanvasBackend`], whose
/// context is scaled by [`scaled_context`]; only the size it reports is the logical one.
pub struct Surface {
    inner: CanvasBackend,
    size: (u32, u32),
}

impl Surface {
    pub fn new(canvas: &HtmlCanvasElement) -> Result<Surface, String> {
        let (_, size) = scaled_context(canvas)?;
        let inner = CanvasBackend::with_canvas_object(canvas.clone()).ok_or("no 2-D canvas context")?;
        Ok(Surface { inner, size })
    }
}

type Error = <CanvasBackend as DrawingBackend>::ErrorType;
type Drawn = Result<(), DrawingErrorKind<Error>>;

impl DrawingBackend for Surface {
    type ErrorType = Error;

    fn get_size(&self) -> (u32, u32) {
        self.size
    }
    fn ensure_prepared(&mut self) -> Drawn {
        self.inner.ensure_prepared()
    }
    fn present(&mut self) -> Drawn {
        self.inner.present()
    }
    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Drawn {
        self.inner.draw_pixel(point, color)
    }
    fn draw_line<S: BackendStyle>(&mut self, from: BackendCoord, to: BackendCoord, style: &S) -> Drawn {
        self.inner.draw_line(from, to, style)
    }
    fn draw_rect<S: BackendStyle>(&mut self, upper_left: BackendCoord, bottom_right: BackendCoord, style: &S, fill: bool) -> Drawn {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }
    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(&mut self, path: I, style: &S) -> Drawn {
        self.inner.draw_path(path, style)
    }
    fn draw_circle<S: BackendStyle>(&mut self, center: BackendCoord, radius: u32, style: &S, fill: bool) -> Drawn {
        self.inner.draw_circle(center, radius, style, fill)
    }
    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(&mut self, vert: I, style: &S) -> Drawn {
        self.inner.fill_polygon(vert, style)
    }
    fn draw_text<T: BackendTextStyle>(&mut self, text: &str, style: &T, pos: BackendCoord) -> Drawn {
        self.inner.draw_text(text, style, pos)
    }
    fn estimate_text_size<T: BackendTextStyle>(&self, text: &str, style: &T) -> Result<(u32, u32), DrawingErrorKind<Error>> {
        self.inner.estimate_text_size(text, style)
    }
    fn blit_bitmap(&mut self, pos: BackendCoord, size: (u32, u32), src: &[u8]) -> Drawn {
        self.inner.blit_bitmap(pos, size, src)
    }
}

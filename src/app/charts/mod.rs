//! Charts drawn with plotters on a `<canvas>`: plain functions from data to
//! pixels, with no Yew inside (the one component that shows any of them is
//! [`crate::app::components::plot_canvas`]).
//!
//! Every chart promises:
//! - a title, a label with its unit on every axis, and a legend where there are series;
//! - colours from the Okabe–Ito palette, which stays distinct under the common forms of
//!   colour blindness, and a second cue (dash, marker, symbol) wherever colour carries meaning;
//! - never to panic on odd data (a panic in wasm kills the page): NaN / ±∞ values are skipped
//!   and counted in the title, empty data draws "no data", a zero range is widened.
//!
//! One file per chart kind:
//!
//! | file | chart | data |
//! | --- | --- | --- |
//! | [`histogram`] | values with the grid and clamp limits; every calibrator's range | the Tensor page |
//! | [`tensor`] | FP32 against dequantized; the error r' − x; scale and Z per slice | the Tensor page |
//! | [`layers`] | per-layer MSE / cosine / SQNR as grouped bars | [`LayerwiseReport`], [`PtqReport::layers`] |
//! | [`distributions`] | FP32 and each mode's output histogram as step lines | [`Point`] |
//! | [`sweep`] | accuracy or SQNR against bits | [`SweepReport`] |
//! | [`pareto`] | size against accuracy, the Pareto front, click to pick | [`MixedBitReport`] |
//! | [`confusion`] | the confusion matrix as a heatmap | [`PtqReport::confusion`] |
//! | [`samples`] | sample images with FP32 and quantized predictions | pixels and predictions |
//! | [`qat`] | QAT loss and accuracy against epochs | [`QatReport`] |
//! | [`lm_heatmap`], [`lm_pareto`] | a language model's per-layer SQNR; perplexity against bits per weight | the Language-model page |
//! | [`lm_weights`] | one row of a projection on its group grids; the weight histogram; activation ranges | the Language-model page |
//! | [`lm_awq`] | AWQ's output error against α for one scaled group, relative to RTN | the Language-model page |
//!
//! [`LayerwiseReport`]: crate::experiment::layerwise::LayerwiseReport
//! [`PtqReport::layers`]: crate::experiment::run::PtqReport::layers
//! [`PtqReport::confusion`]: crate::experiment::run::PtqReport::confusion
//! [`Point`]: crate::experiment::layerwise::Point
//! [`SweepReport`]: crate::experiment::sweep::SweepReport
//! [`MixedBitReport`]: crate::experiment::mixed_bit::MixedBitReport
//! [`QatReport`]: crate::experiment::qat::QatReport

pub mod bench;
pub mod confusion;
pub mod distributions;
pub mod histogram;
pub mod layers;
pub mod legend;
pub mod lm_awq;
pub mod lm_heatmap;
pub mod lm_pareto;
pub mod lm_weights;
pub mod pareto;
pub mod qat;
pub mod samples;
pub mod surface;
pub mod sweep;
pub mod tensor;

pub use confusion::{draw_confusion, FASHION_MNIST_CLASSES, MNIST_CLASSES};
pub use distributions::draw_distributions;
pub use histogram::{draw_calibrators, draw_histogram};
pub use layers::{draw_layerwise, draw_ptq_layers, LayerMetric};
pub use pareto::{draw_pareto, nearest_point, PICK_RADIUS_PX};
pub use qat::draw_qat;
pub use samples::{draw_samples, samples_height, Sample};
pub use surface::{fit, logical_size, Surface};
pub use sweep::{draw_sweep, SweepMetric};
pub use tensor::{draw_channel_strip, draw_error_histogram, draw_scatter};

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use web_sys::HtmlCanvasElement;

// Okabe–Ito.
pub const BLUE: RGBColor = RGBColor(0, 114, 178);
pub const ORANGE: RGBColor = RGBColor(230, 159, 0);
pub const GREEN: RGBColor = RGBColor(0, 158, 115);
pub const VERMILLION: RGBColor = RGBColor(213, 94, 0);
pub const PURPLE: RGBColor = RGBColor(204, 121, 167);
pub const SKY: RGBColor = RGBColor(86, 180, 233);
pub const YELLOW: RGBColor = RGBColor(240, 228, 66);
pub const GREY: RGBColor = RGBColor(150, 150, 150);
/// One colour per calibrator, in [`crate::quant::calibration::CalibrationKind::ALL`] order.
pub const SERIES: [RGBColor; 6] = [BLUE, ORANGE, GREEN, VERMILLION, PURPLE, BLACK];

/// What a drawing function returns: `Err` carries a message for the page (never a panic).
pub type ChartResult<T = ()> = Result<T, String>;

pub(crate) const TITLE_FONT: (&str, u32) = ("sans-serif", 15);
pub(crate) const LABEL_FONT: (&str, u32) = ("sans-serif", 12);
pub(crate) const DESC_FONT: (&str, u32) = ("sans-serif", 13);

/// A whole canvas as a plotters drawing area.
pub(crate) type Area = DrawingArea<Surface, Shift>;
/// The one coordinate system of the plotters charts: f64 × f64 with the ticks chosen here.
pub(crate) type Coord = Cartesian2d<Ticked, Ticked>;

/// A linear f64 axis over [lo, hi] (hi > lo) whose ticks are given (plotters' own choice
/// cannot do categories or 10ᵏ labels). Mapping never overflows: a NaN or a value far
/// outside lands at a finite pixel.
pub(crate) struct Ticked {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let t = (*v - self.lo) / (self.hi - self.lo);
        let px = limit.0 as f64 + t * (limit.1 - limit.0) as f64;
        if px.is_nan() {
            limit.0
        } else {
            px.clamp(-1e6, 1e6).round() as i32
        }
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Bold lines only (the light ones would be plotters' own choice).
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}
pub(crate) type Chart<'a> = ChartContext<'a, Surface, Coord>;

pub(crate) fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The canvas as a drawing area, cleared to white.
pub(crate) fn open(canvas: &HtmlCanvasElement) -> ChartResult<Area> {
    let (w, h) = logical_size(canvas);
    if w < 64 || h < 64 {
        return Err(format!("the canvas is too small ({w} × {h} px)"));
    }
    let backend = Surface::new(canvas)?;
    let root = backend.into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    Ok(root)
}

/// A text at a pixel position of `area`, anchored by (h, v).
pub(crate) fn text(area: &Area, s: &str, (x, y): (i32, i32), size: u32, color: &RGBColor, h: HPos, v: VPos) -> ChartResult {
    let style = ("sans-serif", size).into_font().color(color).pos(Pos::new(h, v));
    area.draw(&Text::new(s.to_string(), (x, y), style)).map_err(err)
}

/// The title as it fits the area's width, and its font size: 15 px, down to 10 px where the title
/// is wider (a phone's card is about 340 px), cut with "…" only when even 10 px is too wide, so
/// that a centred title is never clipped at both ends. The canvas's aria-label holds it whole.
pub(crate) fn fitted_title(area: &Area, title: &str) -> (String, u32) {
    let room = area.dim_in_pixel().0.saturating_sub(20);
    let width = |t: &str, size: u32| area.estimate_text_size(t, &(TITLE_FONT.0, size).into_font().into()).map(|(w, _)| w).ok();
    for size in (10..=TITLE_FONT.1).rev() {
        match width(title, size) {
            Some(w) if w > room => continue,
            // Measured to fit, or not measurable (then drawn as it is).
            _ => return (title.to_string(), size),
        }
    }
    let chars: Vec<char> = title.chars().collect();
    let mut keep = chars.len();
    while keep > 1 {
        let cut: String = chars[..keep].iter().collect::<String>() + "…";
        match width(&cut, 10) {
            Some(w) if w > room => keep = (keep * room as usize / w.max(1) as usize).min(keep - 1),
            _ => return (cut, 10),
        }
    }
    ("…".into(), 10)
}

/// A title centred at the top of `area`, fitted to its width ([`fitted_title`]).
pub(crate) fn title_text(area: &Area, title: &str) -> ChartResult {
    let (t, size) = fitted_title(area, title);
    text(area, &t, (area.dim_in_pixel().0 as i32 / 2, 8), size, &BLACK, HPos::Center, VPos::Top)
}

/// The title and a centred message instead of a chart ("no data", "one slice only", …).
pub(crate) fn no_data(area: &Area, title: &str, message: &str) -> ChartResult {
    let (w, h) = area.dim_in_pixel();
    title_text(area, title)?;
    text(area, message, (w as i32 / 2, h as i32 / 2), 14, &RGBColor(90, 90, 90), HPos::Center, VPos::Center)?;
    area.present().map_err(err)
}

/// `title`, plus how many values were skipped because they were NaN or ±∞.
pub(crate) fn with_skipped(title: &str, skipped: usize) -> String {
    match skipped {
        0 => title.to_string(),
        1 => format!("{title} (1 NaN/∞ value skipped)"),
        n => format!("{title} ({n} NaN/∞ values skipped)"),
    }
}

/// (min, max) of the finite values, or `None` when there is none.
pub(crate) fn finite_range(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| Some(acc.map_or((v, v), |(lo, hi): (f64, f64)| (lo.min(v), hi.max(v)))))
}

/// [lo, hi] widened by `frac` of its width on each side; a zero (or invalid) width becomes
/// a small interval around the value, so an axis always has room.
pub(crate) fn padded(lo: f64, hi: f64, frac: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    let (lo, hi) = (lo.min(hi), lo.max(hi));
    let w = hi - lo;
    // A width lost in the rounding of the values themselves counts as zero.
    if w <= lo.abs().max(hi.abs()) * 1e-9 || w < f64::MIN_POSITIVE * 1e6 {
        // 10 % of the value itself (1e-30 stays on an axis of its size); ±1e-6 about 0.
        let m = lo.abs().max(hi.abs());
        let d = if m > 0.0 { m * 0.1 } else { 1e-6 };
        return (lo - d, hi + d);
    }
    (lo - w * frac, hi + w * frac)
}

/// [lo, hi] widened about its centre to at least `span` (a near-constant series stays
/// readable instead of magnifying its rounding noise).
pub(crate) fn at_least(lo: f64, hi: f64, span: f64) -> (f64, f64) {
    if hi - lo >= span {
        return (lo, hi);
    }
    let mid = (lo + hi) / 2.0;
    (mid - span / 2.0, mid + span / 2.0)
}

/// A round step (1, 2, 2.5 or 5 × 10ᵏ) giving about `target` ticks over `range`.
pub(crate) fn nice_step(range: f64, target: usize) -> f64 {
    let raw = range / target.max(1) as f64;
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let nice = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 2.5 {
        2.5
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// Round tick positions inside [lo, hi], and their step.
pub(crate) fn linear_ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, f64) {
    if !(lo.is_finite() && hi.is_finite() && hi > lo) {
        return (vec![lo], 1.0);
    }
    let step = nice_step(hi - lo, target);
    let mut ticks = Vec::new();
    let mut k = (lo / step).ceil();
    while ticks.len() < 64 {
        let t = k * step;
        if t > hi + step * 1e-9 {
            break;
        }
        ticks.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        k += 1.0;
    }
    if ticks.is_empty() {
        ticks.push(lo);
    }
    (ticks, step)
}

/// A tick label with as many decimals as the step needs (scientific when tiny or huge).
pub fn fmt_tick(v: f64, step: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    // Six digits and more crowd the y axis's description (a histogram of 4 M values counts to 800000).
    if v.abs() >= 1e5 || step < 1e-6 {
        return fmt_sci(v);
    }
    let decimals = (0..=6usize).find(|&d| {
        let scaled = step * 10f64.powi(d as i32);
        (scaled - scaled.round()).abs() < 1e-6 * scaled.max(1.0)
    });
    format!("{v:.*}", decimals.unwrap_or(6))
}

/// 1.5e-3 style, without trailing zeros.
pub(crate) fn fmt_sci(v: f64) -> String {
    let s = format!("{v:.2e}");
    match s.split_once('e') {
        Some((m, e)) => {
            let m = if m.contains('.') { m.trim_end_matches('0').trim_end_matches('.') } else { m };
            format!("{m}e{e}")
        }
        None => s,
    }
}

/// A value for a legend or a cell: 4 significant digits, scientific when tiny or huge.
pub fn fmt_value(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() { "NaN".into() } else if v > 0.0 { "∞".into() } else { "−∞".into() };
    }
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e5).contains(&a) {
        fmt_sci(v)
    } else {
        let s = format!("{v:.4}");
        let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
        if s == "-0" { "0".into() } else { s }
    }
}

/// 10ᵏ with superscript digits.
pub(crate) fn pow10_label(k: i32) -> String {
    const SUP: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
    let mut s = String::from("10");
    if k < 0 {
        s.push('⁻');
    }
    for c in k.unsigned_abs().to_string().chars() {
        s.push(SUP[c.to_digit(10).unwrap_or(0) as usize]);
    }
    s
}

/// How an axis places and labels its ticks.
pub(crate) enum Scale {
    /// Round numbers.
    Linear,
    /// Whole numbers only (indices, zero points).
    Integer,
    /// The plotted value is log10 of the data: ticks at whole exponents, labelled 10ᵏ.
    Log10,
    /// Categories 0..n at whole positions (lo = −0.5, hi = n − 0.5), labelled by name.
    Categories(Vec<String>),
}

/// One axis: its range (in plotted units), its description with the unit, its ticks.
pub(crate) struct Axis {
    pub lo: f64,
    pub hi: f64,
    pub desc: String,
    pub scale: Scale,
}

impl Axis {
    pub fn linear(lo: f64, hi: f64, desc: impl Into<String>) -> Axis {
        Axis { lo, hi, desc: desc.into(), scale: Scale::Linear }
    }

    pub fn integer(lo: f64, hi: f64, desc: impl Into<String>) -> Axis {
        Axis { lo, hi, desc: desc.into(), scale: Scale::Integer }
    }

    pub fn log10(lo: f64, hi: f64, desc: impl Into<String>) -> Axis {
        Axis { lo, hi, desc: desc.into(), scale: Scale::Log10 }
    }

    pub fn categories(names: Vec<String>, desc: impl Into<String>) -> Axis {
        Axis { lo: -0.5, hi: names.len().max(1) as f64 - 0.5, desc: desc.into(), scale: Scale::Categories(names) }
    }

    /// Tick positions and the step between them.
    fn ticks(&self, target: usize) -> (Vec<f64>, f64) {
        match &self.scale {
            Scale::Linear => linear_ticks(self.lo, self.hi, target),
            Scale::Integer => {
                if !(self.lo.is_finite() && self.hi.is_finite() && self.hi > self.lo) {
                    return (vec![self.lo.round()], 1.0);
                }
                let step = nice_step(self.hi - self.lo, target).max(1.0).ceil();
                let mut ticks = Vec::new();
                let mut t = (self.lo / step).ceil() * step;
                while t <= self.hi && ticks.len() < 64 {
                    ticks.push(t);
                    t += step;
                }
                (ticks, step)
            }
            Scale::Log10 => {
                let (a, b) = (self.lo.ceil() as i64, self.hi.floor() as i64);
                let every = ((b - a) / 8 + 1).max(1);
                let ticks: Vec<f64> = (a..=b).filter(|k| (k - a) % every == 0).map(|k| k as f64).collect();
                (ticks, every as f64)
            }
            Scale::Categories(names) => {
                // Every category while they fit; else every k-th.
                let every = names.len().div_ceil(24).max(1);
                ((0..names.len()).step_by(every).map(|i| i as f64).collect(), 1.0)
            }
        }
    }

    fn label(&self, v: f64, step: f64) -> String {
        match &self.scale {
            Scale::Linear | Scale::Integer => fmt_tick(v, step),
            Scale::Log10 => pow10_label(v.round() as i32),
            Scale::Categories(names) => {
                let i = v.round();
                if i < 0.0 {
                    return String::new();
                }
                let name = names.get(i as usize).map_or("", String::as_str);
                // Long names are cut when many categories share the axis.
                let max = if names.len() > 8 { 10 } else { 18 };
                if name.chars().count() > max {
                    format!("{}…", name.chars().take(max - 1).collect::<String>())
                } else {
                    name.to_string()
                }
            }
        }
    }
}

/// Height of the x tick labels and the x axis description under the plot (px).
pub(crate) const X_LABEL_AREA: u32 = 40;
/// Height of one legend entry, and the legend box's padding (px).
pub(crate) const LEGEND_ROW: u32 = 16;
const LEGEND_PAD: u32 = 14;

/// A chart on `area` with a title, both axes described and labelled, and a light grid
/// across the y ticks. `y_label_width` is the room (px) for the y tick labels; `legend_rows`
/// the number of legend entries, drawn by [`legend::Legend`] in a band under the x axis so that the
/// legend never covers data (a larger count only leaves blank room).
pub(crate) fn frame<'a>(area: &'a Area, title: &str, x: &Axis, y: &Axis, y_label_width: u32, legend_rows: usize) -> ChartResult<Chart<'a>> {
    let (xt, xs) = x.ticks(8);
    let (yt, ys) = y.ticks(6);
    let (xlo, xhi) = if x.hi > x.lo { (x.lo, x.hi) } else { padded(x.lo, x.hi, 0.0) };
    let (ylo, yhi) = if y.hi > y.lo { (y.lo, y.hi) } else { padded(y.lo, y.hi, 0.0) };
    let mut builder = ChartBuilder::on(area);
    let legend_band = if legend_rows == 0 { 0 } else { legend_rows as u32 * LEGEND_ROW + LEGEND_PAD };
    builder.margin(10).margin_right(18).margin_bottom(10 + legend_band).x_label_area_size(X_LABEL_AREA).y_label_area_size(y_label_width);
    if !title.is_empty() {
        let (t, size) = fitted_title(area, title);
        builder.caption(t, (TITLE_FONT.0, size));
    }
    let mut chart = builder.build_cartesian_2d(Ticked { lo: xlo, hi: xhi, ticks: xt }, Ticked { lo: ylo, hi: yhi, ticks: yt }).map_err(err)?;
    let xf = |v: &f64| x.label(*v, xs);
    let yf = |v: &f64| y.label(*v, ys);
    let mut mesh = chart.configure_mesh();
    mesh.bold_line_style(BLACK.mix(0.08))
        .x_desc(x.desc.as_str())
        .y_desc(y.desc.as_str())
        .axis_desc_style(DESC_FONT)
        .label_style(LABEL_FONT)
        .x_label_formatter(&xf)
        .y_label_formatter(&yf);
    if matches!(x.scale, Scale::Categories(_)) {
        mesh.disable_x_mesh();
    }
    mesh.draw().map_err(err)?;
    Ok(chart)
}

/// A step line through a histogram: up and down at each edge, flat over each bin, from the
/// baseline at lo to the baseline at hi. `y(count)` maps a count to the plotted value.
pub(crate) fn step_path(lo: f64, hi: f64, counts: &[f64], baseline: f64, y: impl Fn(f64) -> f64) -> Vec<(f64, f64)> {
    let n = counts.len().max(1);
    let w = (hi - lo) / n as f64;
    let mut path = Vec::with_capacity(2 * counts.len() + 2);
    path.push((lo, baseline));
    for (i, &c) in counts.iter().enumerate() {
        let c = if c.is_finite() { y(c) } else { baseline };
        path.push((lo + i as f64 * w, c));
        path.push((lo + (i + 1) as f64 * w, c));
    }
    path.push((hi, baseline));
    path
}

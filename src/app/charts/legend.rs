//! The legend of a chart, drawn in the band under its x axis that [`super::frame`] keeps, so
//! that it never covers data. plotters' own series labels are clipped to the plotting area,
//! so the entries are collected here instead: a label and a mark drawn at a point.

use plotters::element::{DynElement, IntoDynElement};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::{err, text, Area, Chart, ChartResult, Surface, LABEL_FONT, LEGEND_ROW, X_LABEL_AREA};

/// A mark of the legend, drawn with its left end at the given point (backend pixels).
type Mark = Box<dyn Fn((i32, i32)) -> DynElement<'static, Surface, (i32, i32)>>;

/// The entries of one chart's legend, in the order they were added.
#[derive(Default)]
pub(crate) struct Legend {
    entries: Vec<(String, Mark)>,
}

impl Legend {
    /// Adds an entry: `mark((x, y))` draws the swatch with its left end at x, centred on y.
    pub fn add<E>(&mut self, label: impl Into<String>, mark: impl Fn((i32, i32)) -> E + 'static)
    where
        E: IntoDynElement<'static, Surface, (i32, i32)>,
    {
        self.entries.push((label.into(), Box::new(move |p| mark(p).into_dyn())));
    }

    /// Draws the entries one per row under `chart`'s x axis, on `area` (the area the chart was
    /// framed on, which holds the band).
    pub fn draw(&self, area: &Area, chart: &Chart) -> ChartResult {
        let (xs, ys) = chart.plotting_area().get_pixel_range();
        let (bx, by) = area.get_base_pixel();
        let x0 = xs.start - bx;
        let first = ys.end - by + X_LABEL_AREA as i32 + 4 + LEGEND_ROW as i32 / 2;
        for (i, (label, mark)) in self.entries.iter().enumerate() {
            let y = first + i as i32 * LEGEND_ROW as i32;
            area.draw(&mark((x0, y))).map_err(err)?;
            text(area, label, (x0 + 26, y), LABEL_FONT.1, &BLACK, HPos::Left, VPos::Center)?;
        }
        Ok(())
    }
}

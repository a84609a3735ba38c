//! The Language-model page's charts: the per-layer output SQNR of a run as a heat map
//! (block × projection) and perplexity against bits per weight for every run of the session,
//! where a click on a point puts that run's settings back in the form. Each chart is a canvas
//! drawn by [`crate::app::charts::lm_heatmap`] / [`crate::app::charts::lm_pareto`] with a PNG button,
//! as [`super::plot_canvas`] does for the other pages.

use std::rc::Rc;

use web_sys::HtmlCanvasElement;
use yew::prelude::*;

use super::plot_canvas::{chart_width, use_figure_width};
use crate::app::charts::{fit, LEGEND_ROW};
use crate::app::charts::lm_heatmap::draw_lm_heatmap;
use crate::app::charts::lm_pareto::{draw_lm_pareto, LmPoint};
use crate::app::charts::PICK_RADIUS_PX;
use crate::app::download::download_url;
use crate::app::state::lm::LmRow;

#[derive(Properties, PartialEq)]
pub struct LmChartsProps {
    pub rows: Vec<Rc<LmRow>>,
    /// Applies a row's settings (its key).
    pub on_apply: Callback<u32>,
}

/// Downloads the canvas behind `canvas` as a PNG file.
pub fn png(canvas: &NodeRef, file: &str) -> Result<(), String> {
    let c = canvas.cast::<HtmlCanvasElement>().ok_or("no canvas")?;
    let url = c.to_data_url().map_err(|e| format!("{e:?}"))?;
    download_url(file, &url)
}

fn model_name(r: &LmRow) -> String {
    if r.view.model.is_empty() { "Shakespeare (built-in)".into() } else { r.view.model.clone() }
}

#[function_component(LmCharts)]
pub fn lm_charts(props: &LmChartsProps) -> Html {
    let heat = use_node_ref();
    let pareto = use_node_ref();
    let error = use_state(|| None::<String>);
    let outer = use_node_ref();
    let width = chart_width(use_figure_width(&outer));
    // Where each run landed on the Pareto chart (canvas pixels).
    let landed = use_mut_ref(Vec::<Option<(i32, i32)>>::new);
    {
        let (heat, pareto, error, landed) = (heat.clone(), pareto.clone(), error.clone(), landed.clone());
        use_effect_with((props.rows.clone(), width), move |(rows, width)| {
            let mut problem = None;
            if let (Some(c), Some(last)) = (heat.cast::<HtmlCanvasElement>(), rows.last()) {
                fit(&c, *width, 360);
                let layers: Vec<(String, Option<f64>)> = last.view.layers.iter().map(|l| (l.name.clone(), l.sqnr_db)).collect();
                if let Err(e) = draw_lm_heatmap(&c, &layers, &format!("{} · {}", model_name(last), last.view.label)) {
                    problem = Some(e);
                }
            }
            if let Some(c) = pareto.cast::<HtmlCanvasElement>() {
                // The plot plus a legend of two entries per model.
                let models = rows.iter().map(|r| model_name(r)).collect::<std::collections::BTreeSet<_>>().len() as u32;
                fit(&c, *width, 400 + 2 * LEGEND_ROW * models);
                let points: Vec<LmPoint> = rows
                    .iter()
                    .map(|r| LmPoint { model: model_name(r), bits: r.view.bits_per_weight, ppl: r.view.quant_ppl, fp32_ppl: r.view.fp32_ppl })
                    .collect();
                match draw_lm_pareto(&c, &points, points.len().checked_sub(1), "Perplexity against bits per weight, every run of this session") {
                    Ok(p) => *landed.borrow_mut() = p,
                    Err(e) => problem = Some(e),
                }
            }
            if *error != problem {
                error.set(problem);
            }
        });
    }
    if props.rows.is_empty() {
        return html! {};
    }
    let on_png = |canvas: &NodeRef, file: &'static str| {
        let (canvas, error) = (canvas.clone(), error.clone());
        Callback::from(move |_: MouseEvent| {
            if let Err(e) = png(&canvas, file) {
                error.set(Some(format!("the PNG could not be saved: {e}")));
            }
        })
    };
    let onclick = {
        let (pareto, landed, rows, on_apply) = (pareto.clone(), landed.clone(), props.rows.clone(), props.on_apply.clone());
        Callback::from(move |e: MouseEvent| {
            let Some(c) = pareto.cast::<HtmlCanvasElement>() else { return };
            let (dw, dh) = (c.client_width() as f64, c.client_height() as f64);
            if dw <= 0.0 || dh <= 0.0 {
                return;
            }
            let (lw, lh) = crate::app::charts::logical_size(&c);
            let (sx, sy) = (lw as f64 / dw, lh as f64 / dh);
            let hit = crate::app::charts::nearest_point(&landed.borrow(), e.offset_x() as f64 * sx, e.offset_y() as f64 * sy, PICK_RADIUS_PX * sx.max(sy));
            if let Some(r) = hit.and_then(|i| rows.get(i)) {
                on_apply.emit(r.key);
            }
        })
    };
    html! {
        <div class="lm-charts" ref={outer}>
            <figure class="chart">
                <div class="chart-tools">
                    <button type="button" class="chart-png" onclick={on_png(&heat, "qplay-lm-heatmap.png")} title="Download the heat map as PNG">{"PNG"}</button>
                </div>
                <div class="chart-body">
                    <canvas ref={heat} data-testid="lm-heatmap" role="img"
                        aria-label="Output SQNR of every projection of the last run, block by block"></canvas>
                </div>
            </figure>
            <figure class="chart pickable">
                <div class="chart-tools">
                    <button type="button" class="chart-png" onclick={on_png(&pareto, "qplay-lm-pareto.png")} title="Download the chart as PNG">{"PNG"}</button>
                </div>
                <div class="chart-body">
                    <canvas ref={pareto} {onclick} data-testid="lm-pareto" role="img"
                        aria-label="Perplexity against bits per weight for every run; click a point to use its settings"></canvas>
                    <p class="hint">{"Click a point to put that run's settings back in the form."}</p>
                </div>
            </figure>
            if let Some(e) = &*error { <p class="error">{ format!("A chart could not be drawn: {e}") }</p> }
        </div>
    }
}

//! The Language-model page's charts: the per-layer output SQNR of a run as a heat map
//! (block × projection; the last run, or any run of the table, alone or as its change against
//! another run of the same model) and perplexity against bits per weight for every run of the session,
//! where a click on a point puts that run's settings back in the form. Each chart is a canvas
//! drawn by [`crate::app::charts::lm_heatmap`] / [`crate::app::charts::lm_pareto`] with a PNG button,
//! as [`super::plot_canvas`] does for the other pages.

use std::rc::Rc;

use web_sys::HtmlCanvasElement;
use yew::prelude::*;

use super::plot_canvas::{chart_width, use_figure_width};
use crate::app::charts::{fit, LEGEND_ROW};
use crate::app::charts::lm_heatmap::{draw_lm_heatmap, heatmap_height, sqnr_change, summarize_change, HeatValues};
use crate::app::charts::lm_pareto::{draw_lm_pareto, LmPoint};
use crate::app::charts::PICK_RADIUS_PX;
use crate::app::download::download_url;
use crate::app::state::lm::LmRow;
use crate::ptq::lm::LmWeightFormat;

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

/// (name, SQNR) of every Linear of a run.
fn sqnr_of(r: &LmRow) -> Vec<(String, Option<f64>)> {
    r.view.layers.iter().map(|l| (l.name.clone(), l.sqnr_db)).collect()
}

/// A run as the heat map's selects name it: its row number in the table and its label.
fn run_name(rows: &[Rc<LmRow>], r: &LmRow) -> String {
    let i = rows.iter().position(|x| x.key == r.key).map_or(0, |i| i + 1);
    format!("{i}: {}", r.view.label)
}

/// Whether a row rounds its weights (an F32 row's projections are FP32's own: nothing to map).
fn rounds_weights(r: &LmRow) -> bool {
    r.exp.quant.weights != LmWeightFormat::F32
}

/// The heat map's run among the rows it can map (the chosen key, else the last) and its
/// baseline (the chosen key, if it is another run of the same model).
fn heat_pair(mapped: &[Rc<LmRow>], run: Option<u32>, base: Option<u32>) -> Option<(Rc<LmRow>, Option<Rc<LmRow>>)> {
    let r = run.and_then(|k| mapped.iter().find(|x| x.key == k)).or_else(|| mapped.last())?.clone();
    let b = base.and_then(|k| mapped.iter().find(|x| x.key == k && x.key != r.key && model_name(x) == model_name(&r))).cloned();
    Some((r, b))
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
    // The heat map's run and baseline, by row key (None: the last run; no baseline).
    let heat_run = use_state(|| None::<u32>);
    let heat_base = use_state(|| None::<u32>);
    // The rows the heat map can show: those that round their weights.
    let mapped: Vec<Rc<LmRow>> = props.rows.iter().filter(|r| rounds_weights(r)).cloned().collect();
    let pair = heat_pair(&mapped, *heat_run, *heat_base);
    // SQNR_run − SQNR_base per projection, when there is a baseline: drawn and summarised.
    let change: Option<Rc<Vec<(String, Option<f64>)>>> = pair.as_ref().and_then(|(run, base)| base.as_ref().map(|b| Rc::new(sqnr_change(&sqnr_of(run), &sqnr_of(b)))));
    {
        let (heat, pareto, error, landed, change) = (heat.clone(), pareto.clone(), error.clone(), landed.clone(), change.clone());
        use_effect_with((props.rows.clone(), width, pair.clone()), move |(rows, width, pair)| {
            let mut problem = None;
            if let (Some(c), Some((run, base))) = (heat.cast::<HtmlCanvasElement>(), pair) {
                fit(&c, *width, heatmap_height(&sqnr_of(run)));
                // `change` was computed in the same render as `pair`, so it belongs to this pair.
                let drawn = match (base, &change) {
                    (Some(b), Some(change)) => draw_lm_heatmap(&c, change, HeatValues::Change, &format!("run {} against run {}", run_name(rows, run), run_name(rows, b))),
                    _ => draw_lm_heatmap(&c, &sqnr_of(run), HeatValues::Sqnr, &format!("{} · {}", model_name(run), run.view.label)),
                };
                if let Err(e) = drawn {
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
    let pick = |state: &UseStateHandle<Option<u32>>| {
        let state = state.clone();
        Callback::from(move |e: Event| state.set(crate::app::components::form_controls::select_value(&e).parse().ok()))
    };
    let heat_controls = pair.as_ref().map_or(html! {}, |(run, base)| {
        let rows = &props.rows;
        let bases: Vec<&Rc<LmRow>> = mapped.iter().filter(|x| x.key != run.key && model_name(x) == model_name(run)).collect();
        let latest = mapped.last();
        let summary = base.as_ref().zip(change.as_ref()).map(|(b, change)| {
            let c = summarize_change(change);
            match c.median {
                Some(m) => format!(
                    "Run {} has the higher output SQNR in {} of {} projections and the lower in {} (median change {m:+.2} dB) against run {}.",
                    run_name(rows, run), c.better, c.compared, c.worse, run_name(rows, b)
                ),
                None => format!("Runs {} and {} have no quantized projection in common.", run_name(rows, run), run_name(rows, b)),
            }
        });
        html! {
            <div class="row">
                <label title="The run whose per-projection output SQNR the heat map shows (a row of the table)">{"Heat map of run "}
                    <select onchange={pick(&heat_run)} data-testid="lm-heatmap-run">
                        <option value="" selected={heat_run.is_none()}>{ format!("the latest ({})", latest.map_or(String::new(), |r| run_name(rows, r))) }</option>
                        { for mapped.iter().map(|r| html! { <option value={r.key.to_string()} selected={*heat_run == Some(r.key)}>{ run_name(rows, r) }</option> }) }
                    </select>
                </label>
                <label title="Another run of the same model: the cells then show how many dB of SQNR the run gains (blue) or loses (vermillion) against it">{" against "}
                    <select onchange={pick(&heat_base)} data-testid="lm-heatmap-base">
                        <option value="" selected={base.is_none()}>{"FP32 only (its SQNR)"}</option>
                        { for bases.iter().map(|r| html! {
                            <option value={r.key.to_string()} selected={base.as_ref().is_some_and(|b| b.key == r.key)}>{ format!("run {}", run_name(rows, r)) }</option>
                        }) }
                    </select>
                </label>
                if let Some(s) = summary { <p class="hint" data-testid="lm-heatmap-summary">{ s }</p> }
            </div>
        }
    });
    html! {
        <div class="lm-charts" ref={outer}>
            { heat_controls }
            if pair.is_some() {
                <figure class="chart">
                    <div class="chart-tools">
                        <button type="button" class="chart-png" onclick={on_png(&heat, "qplay-lm-heatmap.png")} title="Download the heat map as PNG">{"PNG"}</button>
                    </div>
                    <div class="chart-body">
                        <canvas ref={heat} data-testid="lm-heatmap" role="img"
                            aria-label="Output SQNR of every projection of the chosen run (or its change against another run), block by block"></canvas>
                    </div>
                    <figcaption class="hint" data-testid="lm-heatmap-caption">{ "Each cell: the SQNR of that projection's output in the quantized model \
                        against the FP32 model's on the same text, so it holds the error of every layer before it too; a projection kept in FP32 \
                        (the output head by default) shows that upstream error alone." }</figcaption>
                </figure>
            } else {
                <p class="hint" data-testid="lm-heatmap-none">{"The heat map shows the projections' output SQNR of a run that rounds its weights: an F32 row rounds none."}</p>
            }
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

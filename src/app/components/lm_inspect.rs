//! Inside the last run of the Language-model page: the weights of a chosen projection (one row
//! with its group grids and boundaries, and the histogram of the matrix; computed in the worker
//! when the user presses Show) and the per-channel activation ranges before and after AWQ's or
//! SmoothQuant's scaling (they come with the run).

use std::rc::Rc;

use web_sys::{HtmlCanvasElement, HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use super::plot_canvas::{chart_width, use_figure_width};
use crate::app::charts::{fit, LEGEND_ROW};
use crate::app::charts::lm_awq::{chosen_point, draw_alpha_search};
use crate::app::charts::lm_weights::{channel_window, draw_act_ranges, draw_weight_histogram, draw_weight_row};
use super::lm_charts::png;
use crate::app::state::lm::LmRow;
use crate::app::worker::protocol::LmActRange;
use crate::lm::inspect::WeightView;

#[derive(Properties, PartialEq)]
pub struct LmInspectProps {
    /// The last run (its projections and activation ranges).
    pub last: Rc<LmRow>,
    /// The weight view the worker computed, if any.
    pub weights: Option<Rc<WeightView>>,
    pub busy: bool,
    /// Asks the worker for (projection, row) of the current settings.
    pub on_show: Callback<(String, usize)>,
}

/// A canvas with its PNG button.
fn figure(canvas: &NodeRef, file: &'static str, testid: &'static str, label: String, error: &UseStateHandle<Option<String>>) -> Html {
    let onclick = {
        let (canvas, error) = (canvas.clone(), error.clone());
        Callback::from(move |_: MouseEvent| {
            if let Err(e) = png(&canvas, file) {
                error.set(Some(format!("the PNG could not be saved: {e}")));
            }
        })
    };
    html! {
        <figure class="chart">
            <div class="chart-tools">
                <button type="button" class="chart-png" {onclick} title="Download the chart as PNG">{"PNG"}</button>
            </div>
            <div class="chart-body">
                <canvas ref={canvas.clone()} data-testid={testid} role="img" aria-label={label}></canvas>
            </div>
        </figure>
    }
}

#[function_component(LmInspect)]
pub fn lm_inspect(props: &LmInspectProps) -> Html {
    let row_canvas = use_node_ref();
    let hist_canvas = use_node_ref();
    let act_canvas = use_node_ref();
    let alpha_canvas = use_node_ref();
    let error = use_state(|| None::<String>);
    let outer = use_node_ref();
    let width = chart_width(use_figure_width(&outer));
    let projections = &props.last.view.projections;
    let default_layer = projections.iter().find(|p| p.ends_with("attention.wq")).or(projections.first()).cloned().unwrap_or_default();
    let layer = use_state(|| default_layer.clone());
    let row = use_state(|| 0usize);
    // The first channel of the row chart's window.
    let from = use_state(|| 0usize);
    // The choice of input for the activation chart: the one whose largest value shrank most.
    let acts = &props.last.view.act_ranges;
    let biggest = acts
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let max = |v: &[f32]| v.iter().copied().filter(|x| x.is_finite()).fold(0.0f32, f32::max);
            (i, max(&r.before) / max(&r.after).max(f32::MIN_POSITIVE))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(0, |(i, _)| i);
    let act = use_state(|| None::<usize>);
    let act_i = act.filter(|&i| i < acts.len()).unwrap_or(biggest);
    let method = props.last.exp.quant.method.title();
    {
        let (row_canvas, hist_canvas, error) = (row_canvas.clone(), hist_canvas.clone(), error.clone());
        use_effect_with((props.weights.clone(), *from, width), move |(w, from, width)| {
            if let Some(w) = w {
                // Heights: the plot plus its legend (4 and 2 entries).
                let drawn = [
                    row_canvas.cast::<HtmlCanvasElement>().map(|c| {
                        fit(&c, *width, 380 + 4 * LEGEND_ROW);
                        draw_weight_row(&c, w, *from)
                    }),
                    hist_canvas.cast::<HtmlCanvasElement>().map(|c| {
                        fit(&c, *width, 320 + 2 * LEGEND_ROW);
                        draw_weight_histogram(&c, w)
                    }),
                ];
                if let Some(Err(e)) = drawn.into_iter().flatten().find(|r| r.is_err()) {
                    error.set(Some(e));
                }
            }
        });
    }
    {
        let (act_canvas, alpha_canvas, error, last) = (act_canvas.clone(), alpha_canvas.clone(), error.clone(), props.last.clone());
        use_effect_with((last.key, act_i, width), move |(_, i, width)| {
            if let (Some(c), Some(r)) = (act_canvas.cast::<HtmlCanvasElement>(), last.view.act_ranges.get(*i)) {
                fit(&c, *width, 340 + 2 * LEGEND_ROW);
                if let Err(e) = draw_act_ranges(&c, r, last.exp.quant.method.title()) {
                    error.set(Some(e));
                }
                if let (Some(c), Some(s)) = (alpha_canvas.cast::<HtmlCanvasElement>(), &r.alpha_search) {
                    fit(&c, *width, 300 + 3 * LEGEND_ROW);
                    if let Err(e) = draw_alpha_search(&c, r, s) {
                        error.set(Some(e));
                    }
                }
            }
        });
    }
    let valid_layer = projections.contains(&*layer);
    let layer_now = if valid_layer { (*layer).clone() } else { default_layer.clone() };
    let on_layer = {
        let layer = layer.clone();
        Callback::from(move |e: Event| {
            if let Some(s) = e.target_dyn_into::<HtmlSelectElement>() {
                layer.set(s.value());
            }
        })
    };
    let on_row = {
        let row = row.clone();
        Callback::from(move |e: Event| {
            if let Some(i) = e.target_dyn_into::<HtmlInputElement>() {
                row.set(i.value().trim().parse().unwrap_or(0));
            }
        })
    };
    let on_show = {
        let (on_show, layer_now, row) = (props.on_show.clone(), layer_now.clone(), row.clone());
        Callback::from(move |_: MouseEvent| on_show.emit((layer_now.clone(), *row)))
    };
    let on_act = {
        let act = act.clone();
        Callback::from(move |e: Event| {
            if let Some(s) = e.target_dyn_into::<HtmlSelectElement>() {
                act.set(s.value().parse().ok());
            }
        })
    };
    let w = props.weights.as_ref();
    let on_from = {
        let from = from.clone();
        Callback::from(move |e: Event| {
            if let Some(s) = e.target_dyn_into::<HtmlSelectElement>() {
                from.set(s.value().parse().unwrap_or(0));
            }
        })
    };
    let windows: Vec<usize> = w.map_or(Vec::new(), |w| (0..w.k).step_by(channel_window(w).max(1)).collect());
    html! {
        <div class="lm-inspect" ref={outer}>
            <h3>{"Inside a projection"}</h3>
            <div class="row">
                <label title="The projection whose weights are drawn (the quantized model of the current settings)">{"Projection "}
                    <select onchange={on_layer} data-testid="inspect-layer" disabled={props.busy}>
                        { for projections.iter().map(|p| html! { <option value={p.clone()} selected={*p == layer_now}>{ p.clone() }</option> }) }
                    </select>
                </label>
                <label title="Which output row (output feature n) of the weight matrix W [N, K] to draw">{"Row "}
                    <input type="number" min="0" value={row.to_string()} onchange={on_row} data-testid="inspect-row" disabled={props.busy} />
                </label>
                <button onclick={on_show} disabled={props.busy || projections.is_empty()} data-testid="inspect-show"
                    title="Quantize with the current settings (or reuse the last model) and draw this projection's weights">{"Show weights"}</button>
            </div>
            if let Some(w) = w {
                <p class="hint" data-testid="inspect-summary">{
                    match (&w.note, w.bits, w.group) {
                        (Some(n), _, _) => n.clone(),
                        (None, Some(b), Some(g)) => format!(
                            "{}: {} groups of {g} per row, each with its own {b}-bit grid (step s from {:.3e} to {:.3e} in this row).",
                            w.format,
                            w.grids.len(),
                            w.grids.iter().map(|g| g.scale.abs()).fold(f32::INFINITY, f32::min),
                            w.grids.iter().map(|g| g.scale.abs()).fold(0.0f32, f32::max),
                        ),
                        _ => w.format.clone(),
                    }
                }</p>
                <label title="The input channels the row chart shows: four groups at a time (128 channels when per channel)">{"Channels "}
                    <select onchange={on_from} data-testid="inspect-channels">
                        { for windows.iter().map(|&a| {
                            let b = (a + channel_window(w)).min(w.k) - 1;
                            html! { <option value={a.to_string()} selected={a == *from}>{ format!("{a}–{b}") }</option> }
                        }) }
                    </select>
                </label>
                { figure(&row_canvas, "qplay-lm-weights-row.png", "lm-weights-row", format!("Row {} of {}: FP32 and quantized weights with the grid of each group", w.row, w.name), &error) }
                { figure(&hist_canvas, "qplay-lm-weights-hist.png", "lm-weights-hist", format!("Histogram of every weight of {}, FP32 and quantized", w.name), &error) }
            } else {
                <p class="hint">{"Choose a projection and press Show weights: one row against its integer grid, group by group, and the histogram of the whole matrix."}</p>
            }
            <h3>{"Activation ranges per channel"}</h3>
            if acts.is_empty() {
                <p class="hint" data-testid="act-ranges-none">{ format!(
                    "{method} does not rescale activations. Run AWQ or SmoothQuant (with outlier injection to see the effect large models show) to compare every channel's range before and after."
                ) }</p>
            } else {
                <label title="The input whose channels are drawn: s was folded into the operation named, and the Linears listed read the input">{"Input "}
                    <select onchange={on_act} data-testid="act-input">
                        { for acts.iter().enumerate().map(|(i, r)| html! {
                            <option value={i.to_string()} selected={i == act_i}>{ format!("{} → {}", r.input, r.linears.join(", ")) }</option>
                        }) }
                    </select>
                </label>
                { figure(&act_canvas, "qplay-lm-act-ranges.png", "lm-act-ranges", "Per-channel activation statistic before and after the scaling".to_string(), &error) }
                if acts.get(act_i).is_some_and(|r| r.alpha_search.is_some()) {
                    <div class="lm-awq-search" data-testid="lm-awq-search">
                        { figure(&alpha_canvas, "qplay-lm-awq-alpha.png", "lm-awq-alpha", "AWQ's output error against α for this group, relative to RTN".to_string(), &error) }
                        { alpha_table(acts) }
                    </div>
                }
            }
            if let Some(e) = &*error { <p class="error">{ format!("A chart could not be drawn: {e}") }</p> }
        </div>
    }
}

/// Every AWQ group's chosen α and its output error against RTN's (α = 0), with a summary line.
fn alpha_table(acts: &[LmActRange]) -> Html {
    // (group, α, loss(0), loss(α*), change %)
    let rows: Vec<(&LmActRange, f32, f64, f64, Option<f64>)> = acts
        .iter()
        .filter_map(|r| {
            let s = r.alpha_search.as_ref()?;
            let (a, l0, l) = (*s.alphas.get(s.chosen)?, *s.losses.first()?, *s.losses.get(s.chosen)?);
            let change = chosen_point(s).map(|(_, ratio)| (ratio - 1.0) * 100.0);
            Some((r, a, l0, l, change))
        })
        .collect();
    let mut changes: Vec<f64> = rows.iter().filter_map(|r| r.4).collect();
    changes.sort_by(f64::total_cmp);
    let scaled = rows.iter().filter(|r| r.1 > 0.0).count();
    let summary = match (changes.first(), changes.last()) {
        (Some(lo), Some(hi)) => format!(
            "AWQ chose α > 0 in {scaled} of {} groups; their output error against RTN's: median {:+.1} %, from {lo:+.1} % to {hi:+.1} %",
            rows.len(),
            changes[changes.len() / 2]
        ),
        _ => format!("AWQ chose α > 0 in {scaled} of {} groups", rows.len()),
    };
    html! {
        <details class="lm-awq-alphas" data-testid="lm-awq-alphas">
            <summary data-testid="lm-awq-alpha-summary">{ summary }</summary>
            <table class="report">
                <thead><tr>
                    <th title="The operation s is folded into, and the Linears whose inputs it scales">{"group"}</th>
                    <th class="num" title="The α of least output error on the grid 0, 0.05, …, 0.95 (0 = RTN)">{"α"}</th>
                    <th class="num" title="Mean squared error of the module's output with plain RTN (α = 0)">{"error at α = 0 (RTN)"}</th>
                    <th class="num" title="The same at the chosen α">{"error at α"}</th>
                    <th class="num" title="loss(α) ÷ loss(0) − 1">{"change"}</th>
                </tr></thead>
                <tbody>
                    { for rows.iter().map(|(r, a, l0, l, change)| html! {
                        <tr data-testid="lm-awq-alpha-row">
                            <td>{ format!("{} → {}", r.input, r.linears.join(", ")) }</td>
                            <td class="num">{ format!("{a:.2}") }</td>
                            <td class="num">{ format!("{l0:.3e}") }</td>
                            <td class="num">{ format!("{l:.3e}") }</td>
                            <td class="num">{ change.map_or("—".into(), |c| format!("{c:+.1} %")) }</td>
                        </tr>
                    }) }
                </tbody>
            </table>
        </details>
    }
}

//! The Language-model page's mixed-precision search (`crate::ptq::lm_sensitivity`, as `qplay lm
//! search`): two widths and a target (bits per weight, or a KL divergence), run in the worker;
//! then every candidate on a chart of perplexity against bits per weight (the greedy path and the
//! uniform widths, the chosen one ringed), the Linears by sensitivity, and "Use" to put a
//! candidate's per-layer widths in the form. A click on a point uses that candidate.

use std::rc::Rc;

use yew::prelude::*;

use super::form_controls::Controls;
use super::lm_charts::png;
use super::lm_controls::LmEdit;
use super::plot_canvas::{chart_width, use_figure_width};
use crate::app::charts::lm_pareto::{draw_lm_pareto, LmPoint};
use crate::app::charts::{fit, logical_size, nearest_point, LEGEND_ROW, PICK_RADIUS_PX};
use crate::ptq::lm_sensitivity::{SearchReport, SearchTarget};
use crate::share::lm::{LmExperiment, MAX_SEARCH_TOKENS};
use crate::share::view::View;

#[derive(Properties, PartialEq)]
pub struct LmSearchProps {
    pub exp: LmExperiment,
    pub view: View,
    pub report: Option<Rc<SearchReport>>,
    pub on_edit: Callback<LmEdit>,
    /// Starts the search (the page checks the settings).
    pub on_search: Callback<MouseEvent>,
    /// Why the search cannot start now, if it cannot.
    pub blocked: Option<String>,
    /// Puts candidate i's widths in the form.
    pub on_use: Callback<usize>,
    /// Per candidate, why "Use" is refused (the link locks a setting it would change), if it is.
    pub use_locked: Vec<Option<String>>,
}

const TIP_LOW: &str = "The narrow width the search gives the Linears that tolerate it (RTN, the page's group size and symmetry).";
const TIP_HIGH: &str = "The wide width every other Linear keeps (RTN too); the uniform widths between the two are scored as well, for comparison.";
const TIP_TARGET: &str = "Bits per weight: of the candidates that fit (integers, scales and minimums of the searched Linears ÷ their weights), the one of least KL. KL: the smallest candidate whose mean KL divergence from FP32 is at most the target.";
const TIP_TOKENS: &str = "Validation tokens each candidate is scored on (FP32's log-probabilities are computed once). The search evaluates every Linear alone at the low width, then every candidate: about 2·(Linears) + 4 evaluations.";

fn target_kind(t: &SearchTarget) -> &'static str {
    match t {
        SearchTarget::Kl(_) => "kl",
        _ => "bpw",
    }
}

fn target_value(t: &SearchTarget) -> f64 {
    match *t {
        SearchTarget::BitsPerWeight(b) => b,
        SearchTarget::Kl(k) => k,
        SearchTarget::Bytes(b) => b as f64,
    }
}

/// "6 bits per weight" / "KL ≤ 0.002".
fn target_text(t: &SearchTarget) -> String {
    match *t {
        SearchTarget::BitsPerWeight(b) => format!("at most {b} bits per weight"),
        SearchTarget::Kl(k) => format!("mean KL at most {k}"),
        SearchTarget::Bytes(b) => format!("at most {b} bytes"),
    }
}

#[function_component(LmSearch)]
pub fn lm_search(props: &LmSearchProps) -> Html {
    let s = &props.exp.search;
    let view = &props.view;
    let off = view.is_locked("search");
    let c = Controls::new(view, props.on_edit.clone(), "lm-");
    // A width select: W`lo` … W`hi`, written into the search's low or high width.
    let width = |key: &'static str, label: &str, tip: &str, value: u8, (lo, hi): (u8, u8), high: bool| {
        let options = (lo..=hi).map(|b| (b.to_string(), format!("W{b}"))).collect();
        let set = Rc::new(move |x: &mut LmExperiment, v: &str| {
            if let Ok(b) = v.parse::<u8>() {
                *(if high { &mut x.search.high_bits } else { &mut x.search.low_bits }) = b;
            }
        });
        c.select(key, label, tip, value.to_string(), options, off, set)
    };
    let low = width("search_low", "Low width", TIP_LOW, s.low_bits, (2, 7), false);
    let high = width("search_high", "High width", TIP_HIGH, s.high_bits, (3, 8), true);
    let kind = c.select(
        "search_target",
        "Target",
        TIP_TARGET,
        target_kind(&s.target).into(),
        vec![("bpw".into(), "bits per weight ≤".into()), ("kl".into(), "mean KL ≤".into())],
        off,
        Rc::new(|x: &mut LmExperiment, v: &str| {
            x.search.target = match (v, x.search.target) {
                ("kl", SearchTarget::Kl(k)) => SearchTarget::Kl(k),
                ("kl", _) => SearchTarget::Kl(0.002),
                (_, SearchTarget::BitsPerWeight(b)) => SearchTarget::BitsPerWeight(b),
                _ => SearchTarget::BitsPerWeight(6.0),
            }
        }),
    );
    let (min, max, step) = match s.target {
        SearchTarget::Kl(_) => ("0", "10", "0.0005"),
        _ => ("0.5", "32", "0.25"),
    };
    let value = c.number_unless(
        "search_value",
        "at",
        TIP_TARGET,
        target_value(&s.target).to_string(),
        [min, max, step],
        off,
        Rc::new(|x: &mut LmExperiment, v: f64| {
            x.search.target = match x.search.target {
                SearchTarget::Kl(_) => SearchTarget::Kl(v),
                _ => SearchTarget::BitsPerWeight(v),
            }
        }),
    );
    let max_tokens = MAX_SEARCH_TOKENS.to_string();
    let tokens = c.number_unless(
        "search_tokens",
        "Tokens",
        TIP_TOKENS,
        props.exp.search_tokens.to_string(),
        ["2", &max_tokens, "1"],
        off,
        // The box gives a value in [2, MAX_SEARCH_TOKENS]; a fraction rounds like the other boxes'.
        Rc::new(|x: &mut LmExperiment, v: f64| x.search_tokens = v.round().clamp(2.0, MAX_SEARCH_TOKENS as f64) as usize),
    );
    html! {
        <div class="lm-search" data-testid="lm-search">
            <p class="hint">
                {"Which Linears can go to the low width? Each is quantized alone and its KL divergence from FP32 measured; then the Linears go low one by one, least KL per byte saved first, and every step is scored (RTN only; as "}
                <code>{"qplay lm search"}</code>{")."}
            </p>
            <div class="controls">{ low }{ high }{ kind }{ value }{ tokens }</div>
            <div class="run">
                <button onclick={props.on_search.clone()} disabled={props.blocked.is_some() || off} data-testid="lm-search-run"
                    title="Run the search in the worker (about two evaluations per Linear)">{"Search"}</button>
                // Why Search waits, as a hint: nothing has gone wrong (a fresh page's Weights are f32).
                if let Some(why) = &props.blocked { <span class="hint" data-testid="lm-search-blocked">{ waits(why) }</span> }
            </div>
            if let Some(r) = &props.report {
                <SearchResult report={r.clone()} on_use={props.on_use.clone()} use_locked={props.use_locked.clone()} />
            }
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct SearchResultProps {
    report: Rc<SearchReport>,
    on_use: Callback<usize>,
    use_locked: Vec<Option<String>>,
}

#[function_component(SearchResult)]
fn search_result(props: &SearchResultProps) -> Html {
    let r = &props.report;
    let canvas = use_node_ref();
    let outer = use_node_ref();
    let width = chart_width(use_figure_width(&outer));
    let error = use_state(|| None::<String>);
    let landed = use_mut_ref(Vec::<Option<(i32, i32)>>::new);
    let n = r.order.len();
    // The greedy path (candidates 0 … n) and the uniform widths, as two series of the chart.
    let points: Vec<LmPoint> = r
        .candidates
        .iter()
        .enumerate()
        .map(|(i, c)| LmPoint {
            model: if i <= n { format!("W{} / W{} mix", r.settings.low_bits, r.settings.high_bits) } else { "uniform width".into() },
            bits: c.bits_per_weight,
            ppl: c.score.perplexity,
            // One FP32 line (drawn with the first series).
            fp32_ppl: if i <= n { r.fp32.perplexity } else { f64::NAN },
        })
        .collect();
    {
        let (canvas, error, landed, points, chosen) = (canvas.clone(), error.clone(), landed.clone(), points.clone(), r.chosen);
        use_effect_with((r.clone(), width), move |(_, width)| {
            let mut problem = None;
            if let Some(c) = canvas.cast::<web_sys::HtmlCanvasElement>() {
                fit(&c, *width, 400 + 4 * LEGEND_ROW);
                match draw_lm_pareto(&c, &points, Some(chosen), "Every candidate of the search: perplexity against bits per weight") {
                    Ok(p) => *landed.borrow_mut() = p,
                    Err(e) => problem = Some(e),
                }
            }
            if *error != problem {
                error.set(problem);
            }
        });
    }
    let onclick = {
        let (canvas, landed, on_use, locked) = (canvas.clone(), landed.clone(), props.on_use.clone(), props.use_locked.clone());
        Callback::from(move |e: MouseEvent| {
            let Some(c) = canvas.cast::<web_sys::HtmlCanvasElement>() else { return };
            let (dw, dh) = (c.client_width() as f64, c.client_height() as f64);
            if dw <= 0.0 || dh <= 0.0 {
                return;
            }
            let (lw, lh) = logical_size(&c);
            let (sx, sy) = (lw as f64 / dw, lh as f64 / dh);
            let hit = nearest_point(&landed.borrow(), e.offset_x() as f64 * sx, e.offset_y() as f64 * sy, PICK_RADIUS_PX * sx.max(sy));
            // A locked candidate stays out of the form (the reducer would refuse it with a notice too).
            if let Some(i) = hit.filter(|&i| locked.get(i).is_none_or(|l| l.is_none())) {
                on_use.emit(i);
            }
        })
    };
    let on_png = {
        let (canvas, error) = (canvas.clone(), error.clone());
        Callback::from(move |_: MouseEvent| {
            if let Err(e) = png(&canvas, "qplay-lm-search.png") {
                error.set(Some(format!("the PNG could not be saved: {e}")));
            }
        })
    };
    let chosen = &r.candidates[r.chosen];
    let low_count = chosen.layer_bits.values().filter(|&&b| b == r.settings.low_bits).count();
    // A uniform width (one of those between, or either end of the path) is said as one.
    let first = chosen.layer_bits.values().next().copied();
    let widths = match first.filter(|&b| chosen.layer_bits.values().all(|&x| x == b)) {
        Some(b) => format!("all {} Linears at W{b}", chosen.layer_bits.len()),
        None => format!("{low_count} of {} Linears at W{}, the rest at W{}", chosen.layer_bits.len(), r.settings.low_bits, r.settings.high_bits),
    };
    let use_button = |i: usize, text: &str, what: &str| {
        let on_use = props.on_use.clone();
        let locked = props.use_locked.get(i).cloned().flatten();
        let disabled = locked.is_some();
        let title = locked.unwrap_or_else(|| "Put these widths in the form (Bits and Per-layer bits), then Run".into());
        html! {
            <button onclick={Callback::from(move |_: MouseEvent| on_use.emit(i))} {disabled} {title}
                aria-label={format!("{text}: the widths of {what}")} data-testid={format!("lm-search-use-{i}")}>{ text.to_string() }</button>
        }
    };
    let max_kl = r.sensitivity.first().map_or(0.0, |s| s.sensitivity).max(f64::MIN_POSITIVE);
    html! {
        <div class="lm-search-result" ref={outer}>
            <p data-testid="lm-search-summary">
                { format!(
                    "Target {}: {widths}: {:.3} bits per weight, perplexity {:.4} (FP32 {:.4}), KL {:.5}, scored on {} predictions. ",
                    target_text(&r.settings.target),
                    chosen.bits_per_weight,
                    chosen.score.perplexity,
                    r.fp32.perplexity,
                    chosen.score.mean_kl,
                    r.tokens,
                ) }
                { use_button(r.chosen, "Use these widths", &chosen.label) }
            </p>
            <figure class="chart pickable">
                <div class="chart-tools">
                    <button type="button" class="chart-png" onclick={on_png} title="Download the chart as PNG">{"PNG"}</button>
                </div>
                <div class="chart-body">
                    <canvas ref={canvas} {onclick} data-testid="lm-search-chart" role="img"
                        aria-label="Perplexity against bits per weight for every candidate of the search; click a point to use its widths"></canvas>
                    <p class="hint">{"Ringed: the chosen candidate. Click a point to put its widths in the form. On a short slice perplexity is noisy (a model can score below FP32); the KL divergence in the table is the steadier measure, and the one the search ranks by."}</p>
                </div>
            </figure>
            if let Some(e) = &*error { <p class="error">{ format!("The chart could not be drawn: {e}") }</p> }
            <details>
                <summary>{ format!("Every candidate ({})", r.candidates.len()) }</summary>
                <table class="lm-search-candidates" data-testid="lm-search-candidates">
                    <thead><tr><th>{"candidate"}</th><th>{"bits / weight"}</th><th>{"bytes"}</th><th>{"perplexity"}</th><th>{"KL"}</th><th>{"front"}</th><th></th></tr></thead>
                    <tbody>
                        { for r.candidates.iter().enumerate().map(|(i, c)| html! {
                            <tr class={classes!((i == r.chosen).then_some("chosen"))}>
                                <td>{ c.label.clone() }</td>
                                <td class="num">{ format!("{:.3}", c.bits_per_weight) }</td>
                                <td class="num">{ c.bytes.to_string() }</td>
                                <td class="num">{ format!("{:.4}", c.score.perplexity) }</td>
                                <td class="num">{ format!("{:.5}", c.score.mean_kl) }</td>
                                <td>{ if c.on_front { "●" } else { "" } }</td>
                                <td>{ use_button(i, "Use", &c.label) }</td>
                            </tr>
                        }) }
                    </tbody>
                </table>
            </details>
            <details>
                <summary>{ format!("Sensitivity of each Linear alone at W{} (most sensitive first)", r.settings.low_bits) }</summary>
                <table class="lm-search-sensitivity" data-testid="lm-search-sensitivity">
                    <thead><tr><th>{"Linear"}</th><th>{"KL alone"}</th><th>{"bytes saved"}</th><th>{"chosen"}</th></tr></thead>
                    <tbody>
                        { for r.sensitivity.iter().map(|l| {
                            let share = (l.sensitivity / max_kl).clamp(0.0, 1.0) * 100.0;
                            html! {
                                <tr>
                                    <td><code>{ l.name.clone() }</code></td>
                                    <td class="num bar-cell">
                                        <span class="bar" style={format!("width:{share:.1}%")}></span>
                                        <span>{ format!("{:.6}", l.kl) }</span>
                                    </td>
                                    <td class="num">{ l.bytes_high.saturating_sub(l.bytes_low).to_string() }</td>
                                    <td>{ chosen.layer_bits.get(&l.name).map_or(String::new(), |b| format!("W{b}")) }</td>
                                </tr>
                            }
                        }) }
                    </tbody>
                </table>
            </details>
        </div>
    }
}

/// Why Search is off, as a sentence: "Search waits: the mixed-precision search chooses RTN bit
/// widths: set Weights to RTN (it is f32)."
fn waits(why: &str) -> String {
    format!("Search waits: {why}.")
}

//! The one component that shows any chart of [`crate::app::charts`]: a canvas
//! redrawn when its [`Plot`] changes, a "PNG" button that downloads it, and, for
//! the Pareto chart, picking a candidate by click or from a list.

use std::rc::Rc;

use wasm_bindgen::{JsCast, JsValue};
use web_sys::{HtmlCanvasElement, HtmlElement, HtmlSelectElement};
use yew::prelude::*;

use crate::app::charts::{self, ChartResult, LayerMetric, Sample, SweepMetric};
use crate::experiment::layerwise::{LayerwiseReport, Point};
use crate::experiment::mixed_bit::MixedBitReport;
use crate::experiment::qat::QatReport;
use crate::experiment::run::LayerReport;
use crate::experiment::sweep::SweepReport;
use crate::quant::calibration::CalibrationOutcome;
use crate::experiment::tensor_charts::{ErrorHistogram, ScatterSample, SliceStrip, ValueHistogram};
use crate::quant::QParams;
use crate::units::kilobytes;

/// What to draw: one variant per chart, holding its data.
#[derive(Clone, PartialEq)]
pub enum Plot {
    /// The values (binned) with one grid and its clamp limits.
    Grid { values: ValueHistogram, params: QParams, caption: String },
    /// The values (binned) with every calibrator's range.
    Calibrators { values: ValueHistogram, outcomes: Rc<Vec<CalibrationOutcome>> },
    /// FP32 values against their dequantized values (a sample of them), with y = x.
    Scatter { sample: ScatterSample },
    /// The error r' − x (binned) with ±s/2 of each value's own slice.
    ErrorHistogram { errors: ErrorHistogram },
    /// Scale and zero point of each slice; `unit` names a slice ("channel", "group").
    ChannelStrip { strip: SliceStrip, unit: AttrValue },
    /// The lab's comparison: one metric at every point, the calibration modes side by side.
    Layerwise { report: Rc<LayerwiseReport>, metric: LayerMetric },
    /// One PTQ run's per-layer weight and output errors.
    PtqLayers { layers: Rc<Vec<LayerReport>>, metric: LayerMetric },
    /// FP32 and every mode's histogram at one point.
    Distributions { point: Rc<Point>, log_counts: bool },
    /// Accuracy or SQNR against bits.
    Sweep { report: Rc<SweepReport>, metric: SweepMetric },
    /// The mixed-bit candidates and their Pareto front, the search's proposal, and `applied` (an
    /// index into the candidates): the one whose bits the user applied and ran. Points are picked
    /// with `on_pick`.
    Pareto { report: Rc<MixedBitReport>, applied: Option<usize> },
    /// `matrix[true][predicted]`; `model` names the predictions ("int8").
    Confusion { matrix: Rc<Vec<Vec<u32>>>, classes: Rc<Vec<String>>, model: AttrValue },
    /// Sample images with FP32 and quantized predictions; `quant` names the quantized model.
    Samples { samples: Rc<Vec<Sample>>, classes: Rc<Vec<String>>, quant: AttrValue },
    /// QAT loss and accuracy curves.
    Qat { report: Rc<QatReport> },
}

/// Width (CSS px) of a chart before its container is measured, and the range it may take.
const FIRST_WIDTH: u32 = 720;
const MIN_WIDTH: u32 = 280;
const MAX_WIDTH: u32 = 1100;
/// Room the Pareto chart's pick list takes beside the canvas on a wide figure (px).
const PICK_LIST: u32 = 332;

impl Plot {
    /// The chart's title, for the download button's accessible label.
    pub fn title(&self) -> String {
        match self {
            Plot::Grid { caption, .. } => caption.clone(),
            Plot::Calibrators { .. } => "every calibrator's clip range".into(),
            Plot::Scatter { .. } => "FP32 against dequantized values".into(),
            Plot::ErrorHistogram { .. } => "the error histogram".into(),
            Plot::ChannelStrip { unit, .. } => format!("the scale and zero point of each {unit}"),
            Plot::Layerwise { metric, .. } => format!("the per-point {} by calibration mode", metric.name()),
            Plot::PtqLayers { metric, .. } => format!("the per-layer {} of weights and outputs", metric.name()),
            Plot::Distributions { point, .. } => format!("the distributions at {}", point.name),
            Plot::Sweep { metric, .. } => format!("the {} against bits", metric.name()),
            Plot::Pareto { .. } => "the mixed-bit Pareto front".into(),
            Plot::Confusion { .. } => "the confusion matrix".into(),
            Plot::Samples { .. } => "the sample predictions".into(),
            Plot::Qat { .. } => "the QAT curves".into(),
        }
    }

    /// The chart's size (width, height) in CSS px when its figure is `figure` px wide: as wide
    /// as the figure (within [MIN_WIDTH, MAX_WIDTH]), as tall as its kind needs plus its legend.
    pub fn size(&self, figure: u32) -> (u32, u32) {
        let w = chart_width(figure);
        let legend = |rows: usize| rows as u32 * charts::LEGEND_ROW;
        match self {
            Plot::Grid { .. } => (w, 300 + legend(3)),
            Plot::Calibrators { outcomes, .. } => (w, 300 + legend(1 + outcomes.len())),
            Plot::Scatter { .. } => (w, (w * 3 / 4).clamp(300, 440) + legend(2)),
            Plot::ErrorHistogram { .. } => (w, (w * 3 / 4).clamp(300, 440) + legend(3)),
            Plot::ChannelStrip { .. } => (w, 400),
            Plot::Distributions { point, .. } => (w, 320 + legend(1 + point.modes.len())),
            Plot::Layerwise { .. } => (w, 360 + legend(3)),
            Plot::PtqLayers { .. } => (w, 360 + legend(2)),
            Plot::Sweep { report, .. } => {
                let distinct = |key: &dyn Fn(&crate::experiment::sweep::SweepCell) -> String| {
                    report.cells.iter().map(key).collect::<std::collections::BTreeSet<_>>().len()
                };
                let rows = 1 + distinct(&|c| format!("{:?}", c.calibration)) + distinct(&|c| format!("{:?}", c.granularity));
                (w, 400 + legend(rows))
            }
            Plot::Pareto { .. } => {
                let w = if figure > 900 { chart_width(figure - PICK_LIST) } else { w };
                (w, 400 + legend(6))
            }
            // On a phone, taller than wide: the names below the grid take their room from its height.
            Plot::Confusion { .. } if w < 480 => (w, w + 130),
            Plot::Confusion { .. } => (w.min(620), w.min(620) * 9 / 10),
            Plot::Samples { samples, .. } => (w, charts::samples_height(samples.len(), w)),
            Plot::Qat { .. } => (w, 480 + legend(5)),
        }
    }

    /// Draws on `canvas`; for the Pareto chart, returns where each candidate landed.
    pub fn draw(&self, canvas: &HtmlCanvasElement) -> ChartResult<Vec<Option<(i32, i32)>>> {
        let none = |r: ChartResult| r.map(|_| Vec::new());
        match self {
            Plot::Grid { values, params, caption } => none(charts::draw_histogram(canvas, values, params, caption)),
            Plot::Calibrators { values, outcomes } => none(charts::draw_calibrators(canvas, values, outcomes)),
            Plot::Scatter { sample } => none(charts::draw_scatter(canvas, sample)),
            Plot::ErrorHistogram { errors } => none(charts::draw_error_histogram(canvas, errors)),
            Plot::ChannelStrip { strip, unit } => none(charts::draw_channel_strip(canvas, strip, unit)),
            Plot::Layerwise { report, metric } => none(charts::draw_layerwise(canvas, report, *metric)),
            Plot::PtqLayers { layers, metric } => none(charts::draw_ptq_layers(canvas, layers, *metric)),
            Plot::Distributions { point, log_counts } => none(charts::draw_distributions(canvas, point, *log_counts)),
            Plot::Sweep { report, metric } => none(charts::draw_sweep(canvas, report, *metric)),
            Plot::Pareto { report, applied } => charts::draw_pareto(canvas, report, *applied),
            Plot::Confusion { matrix, classes, model } => none(charts::draw_confusion(canvas, matrix, classes, model)),
            Plot::Samples { samples, classes, quant } => none(charts::draw_samples(canvas, samples, classes, quant)),
            Plot::Qat { report } => none(charts::draw_qat(canvas, report)),
        }
    }
}

#[derive(Properties, PartialEq)]
pub struct PlotCanvasProps {
    pub plot: Plot,
    /// The canvas's accessible label: what the chart shows.
    pub label: AttrValue,
    /// `data-testid` of the canvas; also names the downloaded file (`qplay-<testid>.png`).
    pub testid: AttrValue,
    /// The Pareto chart: fires with a candidate's index when it is clicked or chosen in the list.
    #[prop_or_default]
    pub on_pick: Callback<usize>,
    /// The Pareto chart: whether a point can be picked (a teacher's lock makes it a picture).
    #[prop_or(true)]
    pub pickable: bool,
    /// Extra classes on the `<figure>` (e.g. `half` for a chart beside another).
    #[prop_or_default]
    pub class: Classes,
}

#[function_component(PlotCanvas)]
pub fn plot_canvas(props: &PlotCanvasProps) -> Html {
    let canvas = use_node_ref();
    let figure = use_node_ref();
    let error = use_state(|| None::<String>);
    let figure_width = use_figure_width(&figure);
    // Where the Pareto chart drew each candidate (canvas pixels).
    let points = use_mut_ref(Vec::<Option<(i32, i32)>>::new);
    {
        let (canvas, error, points) = (canvas.clone(), error.clone(), points.clone());
        use_effect_with((props.plot.clone(), figure_width), move |(plot, figure_width)| {
            if let Some(c) = canvas.cast::<HtmlCanvasElement>() {
                let (w, h) = plot.size(*figure_width);
                charts::fit(&c, w, h);
                let result = match plot.draw(&c) {
                    Ok(p) => {
                        *points.borrow_mut() = p;
                        None
                    }
                    Err(e) => Some(e),
                };
                if *error != result {
                    error.set(result);
                }
            }
        });
    }
    let title = props.plot.title();
    let on_png = {
        let (canvas, error) = (canvas.clone(), error.clone());
        let file = format!("qplay-{}.png", props.testid);
        Callback::from(move |_: MouseEvent| {
            if let Some(c) = canvas.cast::<HtmlCanvasElement>() {
                if let Err(e) = download_png(&c, &file) {
                    error.set(Some(format!("the PNG could not be saved: {e:?}")));
                }
            }
        })
    };
    let pareto = match &props.plot {
        Plot::Pareto { report, applied } if props.pickable => Some((report.clone(), applied.filter(|&i| i < report.candidates.len()))),
        _ => None,
    };
    let onclick = pareto.is_some().then(|| {
        let (canvas, points, on_pick) = (canvas.clone(), points.clone(), props.on_pick.clone());
        Callback::from(move |e: MouseEvent| {
            if let Some(c) = canvas.cast::<HtmlCanvasElement>() {
                if let Some(i) = pick_at(&c, &points.borrow(), e.offset_x(), e.offset_y()) {
                    on_pick.emit(i);
                }
            }
        })
    });
    let classes = classes!("chart", pareto.is_some().then_some("pickable"), props.class.clone());
    html! {
        <figure class={classes} ref={figure}>
            <div class="chart-tools">
                <button type="button" class="chart-png" onclick={on_png}
                    aria-label={format!("Download {title} as PNG")} title={format!("Download {title} as PNG")}>{"PNG"}</button>
            </div>
            <div class="chart-body">
                <canvas ref={canvas} {onclick}
                    data-testid={props.testid.clone()} aria-label={props.label.clone()} role="img"></canvas>
                if let Some((report, applied)) = pareto {
                    { pick_list(&report, applied, &props.testid, &props.on_pick) }
                }
            </div>
            if let Some(e) = &*error { <p class="error">{ format!("The chart could not be drawn: {e}") }</p> }
        </figure>
    }
}

/// The candidate under a click at (x, y) in displayed pixels (`offsetX/Y`): mapped to the
/// chart's logical pixels with its logical size against its displayed size.
fn pick_at(c: &HtmlCanvasElement, points: &[Option<(i32, i32)>], x: i32, y: i32) -> Option<usize> {
    let (dw, dh) = (c.client_width() as f64, c.client_height() as f64);
    if dw <= 0.0 || dh <= 0.0 {
        return None;
    }
    let (lw, lh) = charts::logical_size(c);
    let (sx, sy) = (lw as f64 / dw, lh as f64 / dh);
    charts::nearest_point(points, x as f64 * sx, y as f64 * sy, charts::PICK_RADIUS_PX * sx.max(sy))
}

/// The front's candidates as a list, for the keyboard: choosing one fires `on_pick`. The applied
/// candidate shows as chosen; the proposal is marked "proposed" in its line.
fn pick_list(report: &MixedBitReport, applied: Option<usize>, testid: &str, on_pick: &Callback<usize>) -> Html {
    let proposed = charts::pareto::proposed_index(report);
    let mut front: Vec<usize> = (0..report.candidates.len()).filter(|&i| report.candidates[i].on_front).collect();
    front.sort_by_key(|&i| report.candidates[i].bytes);
    let id = format!("{testid}-pick");
    let onchange = {
        let on_pick = on_pick.clone();
        Callback::from(move |e: Event| {
            if let Ok(i) = e.target_unchecked_into::<HtmlSelectElement>().value().parse::<usize>() {
                on_pick.emit(i);
            }
        })
    };
    let on_front = applied.is_some_and(|s| front.contains(&s));
    html! {
        <div class="chart-pick">
            <label for={id.clone()}>{"Apply a point of the front"}</label>
            <select id={id.clone()} data-testid={id} {onchange}>
                <option value="" selected={!on_front} disabled=true>{"choose a candidate…"}</option>
                { for front.iter().map(|&i| {
                    let c = &report.candidates[i];
                    let acc = c.accuracy.map_or("accuracy ?".to_string(), |a| format!("{:.2} %", a * 100.0));
                    html! {
                        <option value={i.to_string()} selected={applied == Some(i)}>
                            { format!("{} · {acc} · {}{}", kilobytes(c.bytes), c.label, if proposed == Some(i) { " (proposed)" } else { "" }) }
                        </option>
                    }
                }) }
            </select>
            <p class="hint">{"Or click a point on the chart."}</p>
        </div>
    }
}

/// A chart's width (CSS px) in a figure `figure` px wide: the figure's, within [MIN_WIDTH, MAX_WIDTH].
pub fn chart_width(figure: u32) -> u32 {
    figure.clamp(MIN_WIDTH, MAX_WIDTH)
}

/// The width (CSS px) of the element `figure` refers to, measured after each render and
/// again whenever the window is resized (a change under 8 px is ignored, so a scroll bar
/// appearing does not redraw every chart).
#[hook]
pub fn use_figure_width(figure: &NodeRef) -> u32 {
    let width = use_state_eq(|| FIRST_WIDTH);
    {
        let (figure, width) = (figure.clone(), width.clone());
        use_effect(move || {
            let measure = {
                let (figure, width) = (figure.clone(), width.clone());
                move || {
                    if let Some(el) = figure.cast::<HtmlElement>() {
                        let w = el.client_width().max(0) as u32;
                        if w > 0 && w.abs_diff(*width) >= 8 {
                            width.set(w);
                        }
                    }
                }
            };
            measure();
            let listener = gloo::events::EventListener::new(&gloo::utils::window(), "resize", move |_| measure());
            move || drop(listener)
        });
    }
    *width
}

/// Saves the canvas as a PNG through a temporary `<a download>`.
fn download_png(canvas: &HtmlCanvasElement, file: &str) -> Result<(), JsValue> {
    let url = canvas.to_data_url()?;
    let document = gloo::utils::document();
    let a = document.create_element("a")?;
    a.set_attribute("href", &url)?;
    a.set_attribute("download", file)?;
    a.set_attribute("hidden", "")?;
    let body = document.body().ok_or("no <body>")?;
    body.append_child(&a)?;
    if let Some(a) = a.dyn_ref::<HtmlElement>() {
        a.click();
    }
    body.remove_child(&a)?;
    Ok(())
}

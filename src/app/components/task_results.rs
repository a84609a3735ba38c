//! The results of the longer tasks: the lab's layer-by-layer comparison, a
//! sweep, a mixed-bit search (whose Pareto front applies a point when it is
//! picked), and QAT with its curves and the lab's FP32 / PTQ / QAT table.

use std::rc::Rc;

use yew::prelude::*;

use super::plot_canvas::{Plot, PlotCanvas};
use crate::app::charts::{LayerMetric, SweepMetric};
use super::ptq_result::{pct, points};
use crate::app::download::download_text;
use crate::experiment::layerwise::{LayerwiseReport, Mode};
use crate::experiment::mixed_bit::MixedBitReport;
use crate::experiment::qat::QatReport;
use crate::experiment::sweep::SweepReport;
use crate::units::kilobytes;

fn json_button<T: serde::Serialize>(name: String, value: &T, testid: &'static str) -> Html {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    let onclick = Callback::from(move |_: MouseEvent| {
        let _ = download_text(&name, "application/json", &text);
    });
    html! { <button {onclick} data-testid={testid}>{"report.json"}</button> }
}

#[derive(Properties, PartialEq)]
pub struct LayerwiseResultProps {
    pub report: Rc<LayerwiseReport>,
    pub stem: AttrValue,
}

#[function_component(LayerwiseResult)]
pub fn layerwise_result(props: &LayerwiseResultProps) -> Html {
    let r = &props.report;
    let point = use_state(|| r.points.len().saturating_sub(1));
    let metric = use_state(|| LayerMetric::Mse);
    let on_point = {
        let point = point.clone();
        Callback::from(move |e: Event| point.set(e.target_unchecked_into::<web_sys::HtmlSelectElement>().value().parse().unwrap_or(0)))
    };
    let on_metric = {
        let metric = metric.clone();
        Callback::from(move |e: Event| {
            metric.set(match e.target_unchecked_into::<web_sys::HtmlSelectElement>().value().as_str() {
                "cosine" => LayerMetric::Cosine,
                "sqnr" => LayerMetric::SqnrDb,
                _ => LayerMetric::Mse,
            })
        })
    };
    let p = (*point).min(r.points.len().saturating_sub(1));
    html! {
        <div class="results" data-testid="layerwise-result">
            <section>
                <h2>{"Layer by layer against all layers at the same time"}</h2>
                <p class="hint">{ "At each of the lab's points (the quantized input of every layer, and the output) the tensor is compared with the FP32 model's, \
                    on the first test images. Layer by layer: only the layer that owns the point is quantized. All at once: every layer is quantized, \
                    every range calibrated on FP32 activations, so errors propagate. Sequential: every layer is quantized, each calibrated on the \
                    output of the layers already quantized before it." }</p>
                <label>{"metric "}
                    <select onchange={on_metric} data-testid="layerwise-metric">
                        <option value="mse" selected={*metric == LayerMetric::Mse}>{"MSE"}</option>
                        <option value="cosine" selected={*metric == LayerMetric::Cosine}>{"cosine similarity"}</option>
                        <option value="sqnr" selected={*metric == LayerMetric::SqnrDb}>{"SQNR (dB)"}</option>
                    </select>
                </label>
                <PlotCanvas plot={Plot::Layerwise { report: r.clone(), metric: *metric }} testid="layerwise-chart"
                    label="Per-point error for layer by layer, all at once and sequential calibration" />
                <table data-testid="layerwise-table">
                    <thead><tr><th>{"point"}</th><th class="num">{"MSE layer by layer"}</th><th class="num">{"MSE all at once"}</th><th class="num">{"MSE sequential"}</th></tr></thead>
                    <tbody>{ for r.points.iter().map(|pt| html! {
                        <tr><td>{ pt.name.clone() }</td>
                            <td class="num">{ format!("{:.4e}", pt.mse(Mode::LayerByLayer)) }</td>
                            <td class="num">{ format!("{:.4e}", pt.mse(Mode::AllAtOnce)) }</td>
                            <td class="num">{ format!("{:.4e}", pt.mse(Mode::Sequential)) }</td></tr>
                    }) }</tbody>
                </table>
                <p>{ format!("Test accuracy: FP32 {}, all at once {}, sequential {}.", pct(r.fp32_accuracy), pct(r.all_at_once_accuracy), pct(r.sequential_accuracy)) }</p>
            </section>
            <section>
                <h2>{"Output distributions"}</h2>
                <label>{"point "}
                    <select onchange={on_point} data-testid="layerwise-point">
                        { for r.points.iter().enumerate().map(|(i, pt)| html! { <option value={i.to_string()} selected={i == p}>{ pt.name.clone() }</option> }) }
                    </select>
                </label>
                if let Some(pt) = r.points.get(p) {
                    <PlotCanvas plot={Plot::Distributions { point: Rc::new(pt.clone()), log_counts: false }} testid="distribution-chart"
                        label="The FP32 distribution at this point against each mode's" />
                }
            </section>
            <section>
                <h2>{"Sensitivity: the accuracy drop when only one layer is quantized"}</h2>
                <ol data-testid="sensitivity">{ for r.sensitivity.iter().map(|s| html! {
                    <li>{ format!("{}: {} ({})", s.layer, pct(s.accuracy), points(-s.drop)) }</li>
                }) }</ol>
                { json_button(format!("{}.json", props.stem), &**r, "dl-layerwise-json") }
            </section>
        </div>
    }
}

#[derive(Properties, PartialEq)]
pub struct SweepResultProps {
    pub report: Rc<SweepReport>,
    pub stem: AttrValue,
}

#[function_component(SweepResult)]
pub fn sweep_result(props: &SweepResultProps) -> Html {
    let r = &props.report;
    html! {
        <div class="results" data-testid="sweep-result">
            <section>
                <h2>{"Accuracy against bits"}</h2>
                <PlotCanvas plot={Plot::Sweep { report: r.clone(), metric: SweepMetric::Accuracy }} testid="sweep-chart"
                    label="Test accuracy against bits, per tensor against per channel, for each calibration method" />
                <PlotCanvas plot={Plot::Sweep { report: r.clone(), metric: SweepMetric::OutputSqnr }} testid="sweep-sqnr-chart"
                    label="Output SQNR against bits" />
                <details><summary>{ format!("every cell ({})", r.cells.len()) }</summary>
                    <div class="scroll"><table data-testid="sweep-table">
                        <thead><tr><th>{"bits"}</th><th>{"granularity"}</th><th>{"calibration"}</th><th class="num">{"accuracy"}</th>
                            <th class="num">{"output SQNR"}</th><th class="num">{"size"}</th></tr></thead>
                        <tbody>{ for r.cells.iter().map(|c| html! {
                            <tr><td>{ c.bits }</td><td>{ c.granularity.name() }</td><td>{ c.calibration.name() }</td>
                                <td class="num">{ pct(c.accuracy) }</td><td class="num">{ format!("{:.1} dB", c.output_sqnr_db) }</td>
                                <td class="num">{ kilobytes(c.bytes) }</td></tr>
                        }) }</tbody>
                    </table></div>
                </details>
                { json_button(format!("{}.json", props.stem), &**r, "dl-sweep-json") }
            </section>
        </div>
    }
}

#[derive(Properties, PartialEq)]
pub struct MixedBitResultProps {
    pub report: Rc<MixedBitReport>,
    pub stem: AttrValue,
    /// Apply a candidate's bits (index into `report.candidates`).
    pub on_apply: Callback<usize>,
    /// The candidate whose bits the user applied and ran (index into `report.candidates`).
    #[prop_or_default]
    pub applied: Option<usize>,
    /// Why applying a candidate is refused (the link locks what it would change).
    #[prop_or_default]
    pub apply_locked: Option<AttrValue>,
}

#[function_component(MixedBitResult)]
pub fn mixed_bit_result(props: &MixedBitResultProps) -> Html {
    let r = &props.report;
    let s = &r.selection;
    html! {
        <div class="results" data-testid="mixed-bit-result">
            <section>
                <h2>{"Mixed-bit proposal"}</h2>
                <p data-testid="selection">{ format!(
                    "Proposed ({}): {} → {} (uniform 8-bit: {}, FP32: {}), output cosine {:.5} on the calibration images (target {}), test accuracy {}; {}. {}",
                    s.label,
                    s.bits.iter().map(|(n, b)| format!("{n}: {b} bits")).collect::<Vec<_>>().join(", "),
                    kilobytes(s.bytes), kilobytes(r.uniform8.bytes), kilobytes(r.fp32_bytes),
                    s.cosine, r.target_cosine, s.accuracy.map(pct).unwrap_or_default(), r.activations,
                    if props.applied.is_some() { "A point of the chart is applied: its PTQ run is below." } else { "Not applied yet: pick it (or another point of the front) to run PTQ with its bits." }) }</p>
                if r.replaced.is_some() {
                    <p class="hint" data-testid="selection-replaced">{ format!(
                        "The search's own selection, {} ({}, test accuracy {}), is not on the Pareto front: {} is no larger and at least as accurate, so it is proposed instead.",
                        r.searched.label, kilobytes(r.searched.bytes), r.searched.accuracy.map(pct).unwrap_or_default(), s.label) }</p>
                }
                <p class="hint">{"Sizes in kB: 1 kB = 1,000 bytes."}</p>
                if !r.auto_tune.is_empty() {
                    <p class="hint">{ format!("auto_tune chose init_scale = {:.4} after {} trials.", r.init_scale, r.auto_tune.len()) }</p>
                }
                if let Some(why) = &props.apply_locked {
                    <h2>{"Size against accuracy"}</h2>
                    <p class="hint" data-testid="apply-locked">{ format!("Applying a point is locked: {why}.") }</p>
                    <PlotCanvas plot={Plot::Pareto { report: r.clone(), applied: props.applied }} testid="pareto-chart" pickable={false}
                        label="Every candidate's size against its test accuracy; the Pareto front is connected." />
                } else {
                    <h2>{"Size against accuracy: pick a point to apply it"}</h2>
                    <PlotCanvas plot={Plot::Pareto { report: r.clone(), applied: props.applied }} testid="pareto-chart" on_pick={props.on_apply.clone()}
                        label="Every candidate's size against its test accuracy; the Pareto front is connected. Click a point to apply its bits." />
                }
                { json_button(format!("{}.json", props.stem), &**r, "dl-mixed-json") }
            </section>
        </div>
    }
}

#[derive(Properties, PartialEq)]
pub struct QatResultProps {
    pub report: Rc<QatReport>,
    pub stem: AttrValue,
}

/// The lab's table: FP32 / PTQ / QAT size and accuracy.
/// The lab's FP32 / PTQ / QAT table. The QAT row's accuracy is the fine-tuned model with
/// fake quantization (as it trained); a row below gives the model that is deployed (those
/// weights quantized again by PTQ), whose size both rows show.
pub fn qat_table(r: &QatReport) -> Html {
    let label = |model: &str| if model == "QAT" { "QAT (fake-quant, as trained)".to_string() } else { model.to_string() };
    let deployed = r.table.iter().find(|row| row.model == "QAT").map(|row| html! {
        <tr><td>{"QAT deployed (re-quantized by PTQ)"}</td><td class="num">{ format!("{:.6} MB", row.bytes as f64 / 1e6) }</td>
            <td class="num" data-testid="table-qat-deployed">{ pct(r.deployed_accuracy) }</td></tr>
    });
    html! {
        <table class="lab-table" data-testid="qat-table">
            <thead><tr><th>{"model"}</th><th class="num">{"size"}</th><th class="num">{"accuracy"}</th></tr></thead>
            <tbody>
                { for r.table.iter().map(|row| html! {
                    <tr><td>{ label(&row.model) }</td><td class="num">{ format!("{:.6} MB", row.bytes as f64 / 1e6) }</td>
                        <td class="num" data-testid={format!("table-{}", row.model.to_lowercase())}>{ pct(row.accuracy) }</td></tr>
                }) }
                { deployed.unwrap_or_default() }
            </tbody>
        </table>
    }
}

#[function_component(QatResult)]
pub fn qat_result(props: &QatResultProps) -> Html {
    let r = &props.report;
    html! {
        <div class="results" data-testid="qat-result">
            <section>
                <h2>{ format!("QAT at W{}A{}: {} epoch(s) over {} images", r.weight_bits, r.act_bits, r.epochs, r.train_images) }</h2>
                { qat_table(r) }
                { for r.notes.iter().map(|n| html! { <p class="note" data-testid="qat-note">{ n.clone() }</p> }) }
                <PlotCanvas plot={Plot::Qat { report: r.clone() }} testid="qat-chart"
                    label="Training loss and test accuracy during QAT" />
                { json_button(format!("{}.json", props.stem), &**r, "dl-qat-json") }
            </section>
        </div>
    }
}

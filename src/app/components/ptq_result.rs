//! A PTQ run's results: FP32 against quantized accuracy, agreement, size and
//! compression; per-layer errors of the weights and outputs; the confusion
//! matrix; sample images with both predictions; where the quantize /
//! dequantize nodes sit; MindSpore Lite's reports; and the downloads.

use yew::prelude::*;

use super::plot_canvas::{Plot, PlotCanvas};
use crate::app::download::download_text;
use crate::app::worker::protocol::{ExportFormat, PtqView};
use crate::report::{distribution_csv, quant_param_csv, to_json};
use crate::units::kilobytes;

#[derive(Properties, PartialEq)]
pub struct PtqResultProps {
    pub view: std::rc::Rc<PtqView>,
    /// Whether the run's settings read calibration images (dynamic and weight-only PTQ without
    /// bias correction read none, though the report counts the set it was given).
    pub reads_calibration: bool,
    /// Class names of the dataset, for the confusion matrix and the samples.
    pub classes: Vec<String>,
    /// The results are of other settings than the ones shown now.
    #[prop_or_default]
    pub stale: bool,
    pub on_export: Callback<ExportFormat>,
    /// A file name stem for downloads, e.g. "mlp-fashion-w8a8".
    pub stem: AttrValue,
    #[prop_or_default]
    pub busy: bool,
}

pub fn pct(x: f64) -> String {
    format!("{:.2} %", 100.0 * x)
}

/// A change of accuracy `change` (a fraction) in percentage points, signed: "+0.12 points";
/// no change, or one that rounds to none, is "+0.00 points", not "-0.00".
pub fn points(change: f64) -> String {
    // Rounded first, then + 0.0, which turns −0 into +0 (IEEE 754: −0 + +0 = +0).
    format!("{:+.2} points", (100.0 * change * 100.0).round() / 100.0 + 0.0)
}

/// Time per image, in milliseconds from 1 ms up, else in microseconds.
fn latency(ms: f64) -> String {
    match ms {
        m if m >= 10.0 => format!("{m:.1} ms"),
        m if m >= 1.0 => format!("{m:.2} ms"),
        m => format!("{:.1} µs", m * 1e3),
    }
}

fn throughput(per_s: f64) -> String {
    format!("{} images/s", crate::units::grouped(per_s.round() as u128))
}

/// How many times faster (or slower) the quantized model is.
fn speedup(x: f64) -> String {
    match x {
        x if x <= 0.0 || !x.is_finite() => "—".into(),
        x if x >= 1.0 => format!("{x:.2}× faster"),
        x => format!("{:.2}× slower", 1.0 / x),
    }
}

fn fmt_db(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.1} dB")
    } else {
        "—".into()
    }
}

#[function_component(PtqResult)]
pub fn ptq_result(props: &PtqResultProps) -> Html {
    let v = &props.view;
    let r = &v.report;
    let error = use_state(|| None::<String>);
    let dl = |name: String, mime: &'static str, text: Result<String, String>| {
        let error = error.clone();
        Callback::from(move |_: MouseEvent| match text.clone().and_then(|t| download_text(&name, mime, &t)) {
            Ok(()) => error.set(None),
            Err(e) => error.set(Some(e)),
        })
    };
    let stem = props.stem.to_string();
    let stats_csv = distribution_csv(&r.statistics).map_err(|e| e.to_string());
    let params_csv = quant_param_csv(&r.quant_params).map_err(|e| e.to_string());
    let stats_json = to_json(&r.statistics).map_err(|e| e.to_string());
    let params_json = to_json(&r.quant_params).map_err(|e| e.to_string());
    let report_json = serde_json::to_string_pretty(r).map_err(|e| e.to_string());
    let export = |f: ExportFormat| props.on_export.reform(move |_: MouseEvent| f);
    let drop = r.fp32_accuracy - r.accuracy;
    let engine = match r.engine.as_str() {
        "int8" => "integer-only int8 kernels (WebAssembly SIMD)".to_string(),
        "simulated" => format!("simulation (fake-quant){}", r.fallback.as_ref().map(|w| format!(": {w}")).unwrap_or_default()),
        e => format!("{e} kernels{}", r.fallback.as_ref().map(|w| format!("; simulated: {w}")).unwrap_or_default()),
    };
    html! {
        <div class={classes!("results", props.stale.then_some("stale"))} data-testid="ptq-result">
            if props.stale {
                <p class="hint" data-testid="stale">{"These results are of earlier settings: run again to update them."}</p>
            }
            <section class="summary" aria-label="Summary">
                <h2>{"FP32 against quantized"}</h2>
                <table class="summary-table">
                    <thead><tr><th></th><th class="num">{"accuracy"}</th><th class="num">{"size"}</th>
                        if let Some(s) = &v.speed {
                            <th class="num" tabindex="0" title="time per image at batch size 1, the median of interleaved trials in the worker after the run">{"latency (batch 1)"}</th>
                            <th class="num" tabindex="0" title="images per second at this batch size, the median of interleaved trials in the worker after the run">{ format!("throughput (batch {})", s.batch) }</th>
                        }
                    </tr></thead>
                    <tbody>
                        <tr><td>{"FP32"}</td><td class="num" data-testid="fp32-accuracy">{ pct(r.fp32_accuracy) }</td>
                            <td class="num">{ kilobytes(r.fp32_bytes) }</td>
                            if let Some(s) = &v.speed {
                                <td class="num" data-testid="fp32-latency">{ latency(s.latency_ms[0]) }</td>
                                <td class="num" data-testid="fp32-throughput">{ throughput(s.throughput[0]) }</td>
                            }
                        </tr>
                        <tr><td>{"quantized"}</td><td class="num" data-testid="quant-accuracy">{ pct(r.accuracy) }</td>
                            <td class="num" data-testid="quant-size">{ format!("{} ({:.2}× smaller)", kilobytes(r.bytes), r.compression) }</td>
                            if let Some(s) = &v.speed {
                                <td class="num" data-testid="quant-latency">{ format!("{} ({})", latency(s.latency_ms[1]), speedup(s.latency_speedup())) }</td>
                                <td class="num" data-testid="quant-throughput">{ format!("{} ({})", throughput(s.throughput[1]), speedup(s.throughput_speedup())) }</td>
                            }
                        </tr>
                    </tbody>
                </table>
                if v.speed.is_some_and(|s| s.simulated) {
                    <p class="hint" data-testid="speed-simulated">{"Every quantized layer ran on the simulation (float arithmetic plus rounding), so its times are the simulation's, not an integer model's."}</p>
                }
                <dl class="facts">
                    <dt>{"accuracy change"}</dt><dd data-testid="accuracy-drop">{ points(-drop) }</dd>
                    <dt tabindex="0" title="images where the quantized model predicts what the FP32 model predicts">{"agreement with FP32"}</dt>
                    <dd data-testid="agreement">{ pct(r.agreement) }</dd>
                    <dt>{"inference"}</dt><dd data-testid="engine">{ engine }</dd>
                    if let Some(a) = r.kernel_accuracy {
                        <dt tabindex="0" title="the same parameters run as float fake-quantization">{"simulated accuracy"}</dt>
                        <dd data-testid="sim-accuracy">{ format!("{} (kernels {})", pct(r.simulated_accuracy), pct(a)) }</dd>
                    }
                    <dt>{"test / calibration images"}</dt>
                    <dd data-testid="images">{ match props.reads_calibration {
                        true => format!("{} / {}", r.eval_images, r.calib_images),
                        // Dynamic and weight-only PTQ without bias correction read none.
                        false => format!("{} / none (these settings read no calibration images)", r.eval_images),
                    } }</dd>
                    <dt>{"time (calibrate, quantize, evaluate)"}</dt><dd data-testid="millis">{ format!("{:.0} ms", v.millis) }</dd>
                </dl>
                if !r.notes.is_empty() {
                    <ul class="notes">{ for r.notes.iter().map(|n| html! { <li>{ n.clone() }</li> }) }</ul>
                }
            </section>
            <section aria-label="Per-layer errors">
                <h2>{"Per-layer errors"}</h2>
                <PlotCanvas plot={Plot::PtqLayers { layers: std::rc::Rc::new(r.layers.clone()), metric: crate::app::charts::LayerMetric::SqnrDb }} testid="per-layer-chart"
                    label="Per-layer MSE, cosine and SQNR of the weights and the outputs" />
                <table class="layers" data-testid="per-layer-table">
                    <thead><tr><th>{"layer"}</th><th>{"bits"}</th><th>{"granularity"}</th><th>{"input"}</th>
                        <th class="num">{"weight SQNR"}</th><th class="num">{"weight cos"}</th>
                        <th class="num">{"output MSE"}</th><th class="num">{"output cos"}</th><th class="num">{"output SQNR"}</th><th class="num">{"size"}</th></tr></thead>
                    <tbody>{ for r.layers.iter().map(|l| html! {
                        <tr>
                            <td>{ l.name.clone() }</td><td>{ l.bits }</td><td>{ l.granularity.clone() }</td><td>{ l.input.clone() }</td>
                            <td class="num">{ fmt_db(l.weight.sqnr_db) }</td><td class="num">{ format!("{:.5}", l.weight.cosine) }</td>
                            <td class="num">{ format!("{:.3e}", l.output.mse) }</td><td class="num">{ format!("{:.5}", l.output.cosine) }</td>
                            <td class="num">{ fmt_db(l.output.sqnr_db) }</td>
                            <td class="num">{ format!("{} → {}", kilobytes(l.fp32_bytes), kilobytes(l.bytes)) }</td>
                        </tr>
                    }) }</tbody>
                </table>
            </section>
            <section aria-label="Confusion matrix">
                <h2>{"Confusion matrix (quantized)"}</h2>
                <PlotCanvas plot={Plot::Confusion { matrix: std::rc::Rc::new(r.confusion.clone()), classes: std::rc::Rc::new(props.classes.clone()), model: AttrValue::from(r.engine.clone()) }}
                    testid="confusion-chart" label="Confusion matrix of the quantized model: true class against predicted class" />
            </section>
            <section aria-label="Sample images">
                <h2>{"Sample images: FP32 and quantized predictions"}</h2>
                <PlotCanvas plot={Plot::Samples { samples: std::rc::Rc::new(v.samples.iter().map(|s| (s.pixels.clone(), s.label, s.fp32, s.quantized)).collect()), classes: std::rc::Rc::new(props.classes.clone()), quant: AttrValue::from(r.engine.clone()) }}
                    testid="samples-chart" label="The first test images and the first disagreements, with the FP32 and the quantized prediction" />
            </section>
            <section aria-label="QDQ view">
                <h2 tabindex="0" title="where QuantizeLinear / DequantizeLinear nodes sit, as in an ONNX QDQ model (Intel Neural Compressor's view)">{"Where the quantize / dequantize nodes sit"}</h2>
                <ol class="qdq" data-testid="qdq-view">{ for r.qdq.iter().map(|n| html! {
                    <li class={classes!(n.op.contains("Quantize").then_some("qdq-node"))}>
                        <code>{ n.op.clone() }</code>{" "}<span class="target">{ n.target.clone() }</span>
                        if !n.detail.is_empty() { <span class="hint">{ format!(" — {}", n.detail) }</span> }
                    </li>
                }) }</ol>
            </section>
            <section aria-label="Reports and downloads">
                <h2>{"Reports and downloads"}</h2>
                <div class="downloads">
                    <button onclick={dl(format!("{stem}-statistics.csv"), "text/csv", stats_csv)} data-testid="dl-stats-csv">{"statistics.csv"}</button>
                    <button onclick={dl(format!("{stem}-statistics.json"), "application/json", stats_json)}>{"statistics.json"}</button>
                    <button onclick={dl(format!("{stem}-quant_params.csv"), "text/csv", params_csv)} data-testid="dl-params-csv">{"quant_params.csv"}</button>
                    <button onclick={dl(format!("{stem}-quant_params.json"), "application/json", params_json)}>{"quant_params.json"}</button>
                    <button onclick={dl(format!("{stem}-report.json"), "application/json", report_json)} data-testid="dl-report-json">{"report.json"}</button>
                    <button onclick={export(ExportFormat::QuantizedSafetensors)} disabled={props.busy} data-testid="dl-safetensors"
                        title="the integer weights (packed below 8 bits), their scales and zero points, and the activation parameters">{"quantized .safetensors"}</button>
                    <button onclick={export(ExportFormat::QdqOnnx)} disabled={props.busy} data-testid="dl-onnx"
                        title="an ONNX model with QuantizeLinear / DequantizeLinear nodes that ONNX Runtime runs">{"QDQ .onnx"}</button>
                    <button onclick={export(ExportFormat::DebugInfo)} disabled={props.busy} data-testid="dl-debug-info"
                        title="MindSpore Lite's debug folder (debug_info_save_path) as a .zip: report_<round>.csv for each calibration image (each quantized layer's weight, input and output against FP32: min, Q1, median, Q3, max, mean, var, sparsity, clip, cosine), output_summary.csv (the output's cosine per round) and quant_param.csv">{"debug_info .zip"}</button>
                </div>
                if let Some(e) = &*error { <p class="error" role="alert">{ e.clone() }</p> }
                <details>
                    <summary>{ format!("MindSpore Lite statistics report ({} rows)", r.statistics.len()) }</summary>
                    <div class="scroll"><table class="report" data-testid="statistics-table">
                        <thead><tr><th>{"node"}</th><th>{"tensor"}</th><th>{"data"}</th><th class="num">{"min"}</th><th class="num">{"Q1"}</th>
                            <th class="num">{"median"}</th><th class="num">{"Q3"}</th><th class="num">{"max"}</th><th class="num">{"mean"}</th>
                            <th class="num">{"var"}</th><th class="num">{"sparsity"}</th><th class="num">{"clip"}</th><th class="num">{"cosine"}</th></tr></thead>
                        <tbody>{ for r.statistics.iter().map(|s| html! {
                            <tr><td>{ s.node_name.clone() }</td><td>{ s.tensor_name.clone() }</td><td>{ format!("{:?}", s.data_type_flag) }</td>
                                <td class="num">{ format!("{:.4}", s.min) }</td><td class="num">{ format!("{:.4}", s.q1) }</td>
                                <td class="num">{ format!("{:.4}", s.median) }</td><td class="num">{ format!("{:.4}", s.q3) }</td>
                                <td class="num">{ format!("{:.4}", s.max) }</td><td class="num">{ format!("{:.4}", s.mean) }</td>
                                <td class="num">{ format!("{:.4e}", s.var) }</td><td class="num">{ format!("{:.3}", s.sparsity) }</td>
                                <td class="num">{ format!("{:.4}", s.clip) }</td><td class="num">{ format!("{:.5}", s.cosine_similarity) }</td></tr>
                        }) }</tbody>
                    </table></div>
                </details>
                <details>
                    <summary>{ format!("Quantization parameters ({} rows)", r.quant_params.len()) }</summary>
                    <div class="scroll"><table class="report">
                        <thead><tr><th>{"node"}</th><th>{"tensor"}</th><th>{"channel"}</th><th class="num">{"elements"}</th><th>{"dims"}</th>
                            <th class="num">{"scale"}</th><th class="num">{"zero point"}</th><th class="num">{"bits"}</th></tr></thead>
                        <tbody>{ for r.quant_params.iter().map(|p| html! {
                            <tr><td>{ p.node_name.clone() }</td><td>{ p.tensor_name.clone() }</td>
                                <td>{ p.channel.map(|c| c.to_string()).unwrap_or_default() }</td><td class="num">{ p.elements_num }</td>
                                <td>{ p.dims.clone() }</td><td class="num">{ format!("{:.6e}", p.scale) }</td>
                                <td class="num">{ p.zero_point }</td><td class="num">{ p.bits }</td></tr>
                        }) }</tbody>
                    </table></div>
                </details>
            </section>
        </div>
    }
}

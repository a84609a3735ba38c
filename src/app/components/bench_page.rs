//! The Benchmark page: int8 SIMD against FP32 in this browser, with the same
//! code as `scripts/bench.sh` (`crate::bench`), timed with `performance.now()`
//! in the worker, so the page stays responsive; each case's lines appear as it
//! ends, and Cancel stops the run.

use web_sys::HtmlCanvasElement;
use yew::prelude::*;

use super::plot_canvas::{chart_width, use_figure_width};
use crate::app::charts::{fit, LEGEND_ROW};
use super::job_status::progress;
use super::worker_scaling::WorkerScaling;
use crate::app::charts::bench::draw_ratio_bars;
use crate::bench_summary::{headline, parse_ratio, spread};
use crate::app::state::bench::BenchState;
use crate::app::state::job::{self, JobState};
use crate::app::worker::host::SharedWorker;
use crate::app::worker::protocol::Request;

/// What the page can tell about this browser and CPU.
fn environment() -> Vec<(String, String)> {
    let nav = gloo::utils::window().navigator();
    let cross_origin_isolated = js_sys::Reflect::get(&gloo::utils::window(), &"crossOriginIsolated".into()).ok().and_then(|v| v.as_bool()).unwrap_or(false);
    vec![
        ("Browser".into(), nav.user_agent().unwrap_or_default()),
        ("Logical CPU cores".into(), nav.hardware_concurrency().to_string()),
        (
            "WebAssembly SIMD (simd128)".into(),
            "supported: this page is the simd128 build, which would not have loaded otherwise".into(),
        ),
        (
            "Threads".into(),
            format!(
                "each kernel runs on one Web Worker thread; work that splits (a PTQ run, a sweep, the layer-by-layer analysis, the mixed-bit search, a perplexity) is shared among a pool of min(cores, 8) workers, each with its own copy of the model (cross-origin isolated: {}, so shared-memory threads would {}be possible)",
                if cross_origin_isolated { "yes" } else { "no" },
                if cross_origin_isolated { "" } else { "not " }
            ),
        ),
        (
            "Relaxed SIMD".into(),
            "not used: the default build sticks to baseline simd128, which every current browser runs the same way".into(),
        ),
    ]
}

#[function_component(BenchPage)]
pub fn bench_page() -> Html {
    let worker = use_context::<SharedWorker>().expect("the app provides the worker");
    let bench = use_context::<UseReducerHandle<BenchState>>().expect("the app provides the Benchmark page's state");
    // The page takes no settings: keys in its link are named, once, until dismissed.
    let notices = use_state(|| crate::share::bench_notices(&crate::app::url::read_hash()));
    let on_dismiss = {
        let notices = notices.clone();
        Callback::from(move |_: ()| {
            notices.set(Vec::new());
            crate::app::url::replace_hash("#/bench");
        })
    };
    let running = bench.job.is_running();
    let run = {
        let (bench, worker) = (bench.clone(), worker.clone());
        Callback::from(move |_: MouseEvent| {
            if !bench.job.is_running() {
                job::run(&worker, Request::Bench, None, (), bench.dispatcher().to_callback());
            }
        })
    };
    let on_cancel = worker.canceller(bench.job.running_id());
    let (rows, ratios) = (&bench.rows, &bench.ratios);
    let parsed: Vec<_> = ratios.iter().filter_map(|l| parse_ratio(l)).collect();
    let summary = headline(&parsed);
    let canvas = use_node_ref();
    let outer = use_node_ref();
    let width = chart_width(use_figure_width(&outer));
    {
        let canvas = canvas.clone();
        use_effect_with((parsed.clone(), width), move |(parsed, width)| {
            let cases: Vec<(String, f64)> = parsed.iter().filter(|r| r.suite == "gemm" && r.what == "int8/f32").map(|r| (r.case.clone(), r.value)).collect();
            let bound = spread(&parsed.iter().filter(|r| r.suite == "ceiling").map(|r| r.value).collect::<Vec<_>>()).map(|s| s.0);
            if let Some(c) = canvas.cast::<HtmlCanvasElement>() {
                if !cases.is_empty() {
                    // The plot plus a legend of up to three entries.
                    fit(&c, *width, 320 + 3 * LEGEND_ROW);
                    let _ = draw_ratio_bars(&c, &cases, bound);
                }
            }
        });
    }
    html! {
        <div class="bench-page" ref={outer}>
            <super::notices::Notices notices={(*notices).clone()} {on_dismiss} />
            <section aria-label="Benchmark">
                <h2>{"int8 SIMD against FP32, in your browser"}</h2>
                <p class="hint">{"GOPS = 2·M·K·N / t. Each figure is the median of timed trials, in the worker thread; the page stays responsive. Then a full W8A8 PTQ run of the Fashion-MNIST MLP (calibrate on 256 images, quantize, predict 10,000 on the int8 kernels), and the Model page's whole report; last, the built-in language model decoding 128 tokens one at a time with its KV cache in FP32, W8, W8A8, Q8_0, W4 g32 and Q4_0 on our int8 / int4 kernels (tokens/s, medians of 7 interleaved trials)."}</p>
                <button class="primary" onclick={run} data-testid="run-bench" disabled={running}>{"Run the benchmark"}</button>
                { match &bench.job {
                    JobState::Running(job) => progress(job, on_cancel),
                    JobState::Idle if bench.done => html! { <span class="copy-status" role="status" data-testid="bench-status">{"Done."}</span> },
                    JobState::Idle => html! {},
                    JobState::Failed { message, .. } => html! { <p class="error" role="alert" data-testid="bench-status">{ message.clone() }</p> },
                    JobState::Cancelled { .. } => html! { <p class="error" role="alert" data-testid="bench-status">{"Cancelled."}</p> },
                } }
                if !summary.is_empty() {
                    <div class="headline" data-testid="bench-headline">
                        { for summary.iter().map(|s| html! { <p>{ s.clone() }</p> }) }
                    </div>
                }
                if parsed.iter().any(|r| r.suite == "gemm") {
                    <figure class="chart">
                        <canvas ref={canvas} role="img" data-testid="bench-chart"
                            aria-label="int8 GEMM against f32 GEMM for every shape, with the ceilings' ratio"></canvas>
                    </figure>
                }
                <details>
                <summary>{ format!("Every measurement ({} lines) and every ratio", rows.len()) }</summary>
                <table data-testid="bench-table">
                    <thead><tr>
                        <th scope="col">{"suite"}</th><th scope="col">{"case"}</th><th scope="col">{"kernel"}</th>
                        <th scope="col">{"median time"}</th><th scope="col">{"rate"}</th>
                    </tr></thead>
                    <tbody>
                        { for rows.iter().map(|l| html! {
                            <tr data-suite={l.suite.clone()} data-kernel={l.kernel.clone()} title={l.line.clone()}>
                                <td>{ l.suite.clone() }</td><td>{ l.case.clone() }</td><td>{ l.kernel.clone() }</td>
                                <td>{ format!("{:.3} ms", l.median_s * 1e3) }</td>
                                <td class="rate">{ if l.unit == "GOPS" { format!("{:.1} GOPS", l.rate) } else { format!("{:.3e} {}", l.rate, l.unit) } }</td>
                            </tr>
                        }) }
                    </tbody>
                </table>
                if !ratios.is_empty() {
                    <ul class="ratios" data-testid="bench-ratios">{ for ratios.iter().map(|r| html! { <li>{ r.clone() }</li> }) }</ul>
                }
                </details>
            </section>
            <WorkerScaling />
            <section aria-label="This browser">
                <h2>{"This browser and CPU"}</h2>
                <dl class="env">
                    { for environment().into_iter().map(|(k, v)| html! { <><dt>{ k }</dt><dd>{ v }</dd></> }) }
                </dl>
            </section>
        </div>
    }
}

//! The Benchmark page: int8 SIMD against FP32 in this browser, with the same
//! code as `scripts/bench.sh` (`crate::bench`), timed with `performance.now()`.
//! Cases run one at a time, yielding to the browser between them so each
//! line appears as it is measured.

use yew::prelude::*;

use crate::bench::{self, BenchLine};

fn now_s() -> f64 {
    gloo::utils::window().performance().map_or(0.0, |p| p.now() / 1e3)
}

#[derive(Clone, PartialEq)]
enum Status {
    Idle,
    Running(&'static str),
    Done,
}

/// What the page can tell about this browser and CPU.
fn environment() -> Vec<(String, String)> {
    let nav = gloo::utils::window().navigator();
    vec![
        ("Browser".into(), nav.user_agent().unwrap_or_default()),
        ("Logical CPU cores".into(), nav.hardware_concurrency().to_string()),
        (
            "WebAssembly SIMD (simd128)".into(),
            "supported: this page is the simd128 build, which would not have loaded otherwise".into(),
        ),
        ("Threads".into(), "one: the kernels run on the page's own thread".into()),
        (
            "Relaxed SIMD".into(),
            "not used: the default build sticks to baseline simd128, which every current browser runs the same way".into(),
        ),
    ]
}

#[function_component(BenchPage)]
pub fn bench_page() -> Html {
    let lines = use_state(Vec::<BenchLine>::new);
    let status = use_state(|| Status::Idle);
    let run = {
        let (lines, status) = (lines.clone(), status.clone());
        Callback::from(move |_: MouseEvent| {
            if matches!(*status, Status::Running(_)) {
                return;
            }
            let (lines, status) = (lines.clone(), status.clone());
            lines.set(Vec::new());
            yew::platform::spawn_local(async move {
                let mut all: Vec<BenchLine> = Vec::new();
                type Case = (&'static str, fn(&dyn Fn() -> f64) -> Vec<BenchLine>);
                let cases: [Case; 4] = [
                    ("quantize kernels", |c| bench::quant_kernels(c, 1 << 18)),
                    ("int8 GEMM", bench::gemm_i8),
                    ("f32 GEMM", bench::gemm_f32),
                    ("MLP over 10,000 images", |c| bench::mlp_end_to_end(c, 10_000)),
                ];
                for (name, case) in cases {
                    status.set(Status::Running(name));
                    // Let the browser paint the status before the page's thread is busy.
                    gloo::timers::future::TimeoutFuture::new(30).await;
                    all.extend(case(&now_s));
                    lines.set(all.clone());
                }
                status.set(Status::Done);
            });
        })
    };
    let ratios: Vec<String> = bench::ratios(&lines).into_iter().chain(bench::int8_vs_f32(&lines)).collect();
    html! {
        <div class="bench-page">
            <section aria-label="Benchmark">
                <h2>{"int8 SIMD against FP32, in your browser"}</h2>
                <p class="hint">{"GOPS = 2·M·K·N / t. Each figure is the median of 11 timed trials. The page is busy while a case runs."}</p>
                <button onclick={run} data-testid="run-bench" disabled={matches!(*status, Status::Running(_))}>{"Run the benchmark"}</button>
                { match &*status {
                    Status::Running(name) => html! { <span class="copy-status" role="status" data-testid="bench-status">{ format!("Running: {name}…") }</span> },
                    Status::Done => html! { <span class="copy-status" role="status" data-testid="bench-status">{"Done."}</span> },
                    Status::Idle => html! {},
                } }
                <table data-testid="bench-table">
                    <thead><tr>
                        <th scope="col">{"suite"}</th><th scope="col">{"case"}</th><th scope="col">{"kernel"}</th>
                        <th scope="col">{"median time"}</th><th scope="col">{"rate"}</th>
                    </tr></thead>
                    <tbody>
                        { for lines.iter().map(|l| html! {
                            <tr data-suite={l.suite} data-kernel={l.kernel}>
                                <td>{ l.suite }</td><td>{ l.case.clone() }</td><td>{ l.kernel }</td>
                                <td>{ format!("{:.3} ms", l.median_s * 1e3) }</td>
                                <td class="rate">{ if l.unit == "GOPS" { format!("{:.1} GOPS", l.rate) } else { format!("{:.3e} {}", l.rate, l.unit) } }</td>
                            </tr>
                        }) }
                    </tbody>
                </table>
                if !ratios.is_empty() {
                    <ul class="ratios" data-testid="bench-ratios">{ for ratios.iter().map(|r| html! { <li>{ r.clone() }</li> }) }</ul>
                }
            </section>
            <section aria-label="This browser">
                <h2>{"This browser and CPU"}</h2>
                <dl class="env">
                    { for environment().into_iter().map(|(k, v)| html! { <><dt>{ k }</dt><dd>{ v }</dd></> }) }
                </dl>
            </section>
        </div>
    }
}

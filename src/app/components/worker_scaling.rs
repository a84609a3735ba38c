//! The Benchmark page's worker scaling: the same job on 1, 2, 4 … workers of the pool, each
//! count's median time, its speed-up against one worker, and whether its merged report is the
//! one-worker report, cell for cell (`crate::app::state::scaling`).

use yew::prelude::*;

use super::job_status::JobStatus;
use crate::app::state::job::JobState;
use crate::app::state::scaling::{ScalingAction, ScalingState, Trial, Workload, ROUNDS, WORKLOADS};
use crate::app::worker::host::SharedWorker;
use crate::app::worker::protocol::ModelSource;

use crate::app::state::experiment_job;

fn now_ms() -> f64 {
    gloo::utils::window().performance().map_or(0.0, |p| p.now())
}

/// Sends one trial: the workload's job shared among `workers` workers.
fn send(worker: &SharedWorker, state: &UseReducerHandle<ScalingState>, workers: usize, warmup: bool) {
    let exp = state.workload.experiment();
    let model = ModelSource::Builtin(exp.model.clone());
    let d = state.dispatcher();
    let updates = Callback::from(move |u| d.dispatch(ScalingAction::Job(u, now_ms())));
    experiment_job::run(worker, &exp, &model, None, workers, Trial { workers, warmup, started_ms: now_ms() }, updates);
}

/// Starts the plan's next trial when nothing runs (its Started takes it off the plan). The app
/// keeps it mounted on every page, so that a plan goes on while another page is shown.
#[function_component(ScalingRunner)]
pub fn scaling_runner() -> Html {
    let worker = use_context::<SharedWorker>().expect("the app provides the worker");
    let state = use_context::<UseReducerHandle<ScalingState>>().expect("the app provides the worker-scaling state");
    let (s, w) = (state.clone(), worker.clone());
    use_effect_with((state.job.is_running(), state.plan.clone()), move |(running, plan)| {
        if !*running {
            if let Some(&(workers, warmup)) = plan.front() {
                send(&w, &s, workers, warmup);
            }
        }
    });
    html! {}
}

#[function_component(WorkerScaling)]
pub fn worker_scaling() -> Html {
    let worker = use_context::<SharedWorker>().expect("the app provides the worker");
    let state = use_context::<UseReducerHandle<ScalingState>>().expect("the app provides the worker-scaling state");
    let pool = worker.0.size();
    let start = {
        let d = state.dispatcher();
        Callback::from(move |_: MouseEvent| d.dispatch(ScalingAction::Start { pool }))
    };
    let on_workload = {
        let d = state.dispatcher();
        Callback::from(move |e: Event| {
            let v = e.target_unchecked_into::<web_sys::HtmlSelectElement>().value();
            d.dispatch(ScalingAction::SetWorkload(Workload::from_name(&v).unwrap_or(Workload::Quick)));
        })
    };
    let on_cancel = worker.canceller(state.job.running_id());
    let running = state.running();
    let rows = state.rows();
    html! {
        <section aria-label="Workers" data-testid="scaling">
            <h2>{"Every core: one job shared among workers"}</h2>
            <p class="hint">{ format!(
                "The Model page shares a job among a pool of min(cores, 8) Web Workers — {pool} in this browser — each with its own copy of the model: a sweep's cells, a PTQ run's batches of test images, the layer-by-layer models, the mixed-bit candidates (and the Language-model page a text's windows). \
                 It merges the parts in one run's order. Here the same job runs on 1, 2, 4 … workers: an untimed warm-up loads everything into every worker, then {ROUNDS} rounds time each count from this page (messages included). \
                 The last column compares each merged report with the one-worker report, figure for figure."
            ) }</p>
            <div class="settings">
                <label>{"Job "}
                    <select onchange={on_workload} disabled={running} data-testid="scaling-workload">
                        { for WORKLOADS.into_iter().map(|w| html! {
                            <option value={w.name()} selected={state.workload == w}>{ w.label() }</option>
                        }) }
                    </select>
                </label>
                <button onclick={start} disabled={running} data-testid="scaling-run">{ format!("Time it on 1 to {pool} workers") }</button>
            </div>
            { match &state.job {
                JobState::Running(job) => {
                    let (stage, done, total, value) = job.stage();
                    let what = if job.kind.warmup { format!("warm-up on {} workers: {stage}", job.kind.workers) } else { format!("{} workers: {stage}", job.kind.workers) };
                    html! { <JobStatus stage={what} {done} {total} {value} loading={job.loading.clone()} {on_cancel} /> }
                }
                JobState::Failed { message, .. } => html! { <p class="error" role="alert" data-testid="scaling-error">{ format!("The measurement stopped: {message}") }</p> },
                JobState::Cancelled { .. } => html! { <p class="hint" role="status" data-testid="scaling-error">{"Cancelled."}</p> },
                JobState::Idle => html! {},
            } }
            if !rows.is_empty() {
                <table data-testid="scaling-table">
                    <thead><tr>
                        <th scope="col">{"workers"}</th><th scope="col">{"median time"}</th><th scope="col">{"trials"}</th>
                        <th scope="col">{"speed-up"}</th><th scope="col">{"same report as 1 worker"}</th>
                    </tr></thead>
                    <tbody>
                        { for rows.iter().map(|r| html! {
                            <tr data-testid="scaling-row" data-workers={r.workers.to_string()}>
                                <td>{ r.workers }</td>
                                <td>{ format!("{:.0} ms", r.median_ms) }</td>
                                <td>{ state.times.get(&r.workers).map_or(0, Vec::len) }</td>
                                <td data-testid="scaling-speedup">{ r.speedup.map_or("—".to_string(), |s| format!("{s:.2}×")) }</td>
                                <td data-testid="scaling-identical">{ if r.identical { "identical" } else { "DIFFERENT" } }</td>
                            </tr>
                        }) }
                    </tbody>
                </table>
            }
        </section>
    }
}

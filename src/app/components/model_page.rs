//! The Model page: choose a built-in model or drop a file, set the experiment,
//! run it in the worker (progress, Cancel), and see its results. A PTQ run
//! that finishes fast enough re-runs by itself as settings change.

use std::rc::Rc;

use gloo::timers::callback::Timeout;
use yew::prelude::*;

use super::experiment_form::ExperimentForm;
use super::job_status::job_line;
use super::model_source::ModelSource;
use super::notices::Notices;
use super::share_link::ShareLink;
use super::teacher_note::TeacherNote;
use super::ptq_result::PtqResult;
use super::task_results::{LayerwiseResult, MixedBitResult, QatResult, SweepResult};
use crate::app::state::job::{self, JobState};
use crate::app::state::model::{ModelAction, ModelJob, ModelRead, ModelState};
use crate::app::url;
use crate::app::worker::host::SharedWorker;
use crate::app::worker::FileBytes;
use crate::app::state::experiment_job;
use crate::app::worker::protocol::{ExportFormat, ModelSource as Source, Request};
use crate::experiment::shard;
use crate::experiment::download_name::download_stem;
use crate::experiment::spec::{builtin_architecture, FILE_MODEL};
use crate::experiment::{Experiment, Task};
use crate::model::ModelOutline;
use crate::ptq::config::PtqConfig;
use crate::share::{query_of, Page};


pub type ModelHandle = UseReducerHandle<ModelState>;

pub const FASHION_CLASSES: [&str; 10] = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// The class names of a dataset.
pub fn class_names(dataset: &str) -> Vec<String> {
    if dataset == "fashion" {
        FASHION_CLASSES.iter().map(|s| s.to_string()).collect()
    } else {
        (0..10).map(|d| d.to_string()).collect()
    }
}

/// Where the worker gets the experiment's model: a built-in name, or the loaded file.
fn model_source(state: &ModelState, exp: &Experiment) -> (Source, Option<FileBytes>) {
    match (&state.file, exp.model == FILE_MODEL) {
        (Some(f), true) => (Source::File { name: f.name.clone(), sidecar: f.sidecar.clone() }, Some(f.file.clone())),
        _ => (Source::Builtin(exp.model.clone()), None),
    }
}

/// Runs the experiment's task in the worker; the page's reducer follows the job.
/// Every task but QAT is shared among the pool's workers (a PTQ run's evaluation batches, the
/// layer-by-layer models, a sweep's cells, the mixed-bit candidates: see `experiment::shard`);
/// the merged report is the one-worker report, figure for figure.
fn submit(worker: &SharedWorker, state: &ModelHandle, exp: Experiment) {
    let (source, file) = model_source(state, &exp);
    let kind = ModelJob { exp: Rc::new(exp.clone()) };
    let updates = state.dispatcher().to_callback().reform(ModelAction::Job);
    let layers = match (&state.file, exp.model == FILE_MODEL) {
        (Some(f), true) => f.outline.quantizable().len(),
        _ => builtin_architecture(&exp.model).quantizable().len(),
    };
    let workers = worker.0.size().min(shard::items(&exp, layers));
    experiment_job::run(worker, &exp, &source, file.as_ref(), workers, kind, updates);
}

#[function_component(ModelPage)]
pub fn model_page() -> Html {
    let state = use_context::<ModelHandle>().expect("the app provides the Model page's state");
    let worker = use_context::<SharedWorker>().expect("the app provides the worker");

    {
        let d = state.dispatcher();
        url::use_page_link(Page::Model, state.to_hash(), Callback::from(move |hash: String| d.dispatch(ModelAction::FromQuery(query_of(&hash).to_string()))));
    }
    // Live re-run: a PTQ run that computed in under `LIVE_RERUN_MS` follows the settings. A change
    // waits 200 ms for the next one (debounce); a live run still in flight is cancelled and replaced.
    {
        // The state as of the latest render: the timer fires 200 ms after the render that set it,
        // when the job in flight (or the loaded file) may have changed.
        let latest = use_mut_ref(|| state.clone());
        *latest.borrow_mut() = state.clone();
        let worker2 = worker.clone();
        let timer = use_mut_ref(|| None::<Timeout>);
        // The settings and the file they run on: another file with the same settings runs too.
        let file = state.file.as_ref().map(|f| Rc::as_ptr(f) as usize);
        use_effect_with((state.exp.clone(), file), move |(exp, _)| {
            // Whether `s` should re-run `exp` live: a fast earlier result of other settings (or
            // of the file this one replaced), and nothing in flight but a PTQ run (a sweep, a
            // search or QAT is never replaced).
            let follows = |s: &ModelState, exp: &Experiment| {
                let fast = match &s.results.ptq {
                    Some(r) => s.results.ptq_is_fast() && r.exp != *exp,
                    None => s.follow_file && exp.model == FILE_MODEL,
                };
                let ptq_in_flight = s.job.running().is_some_and(|j| j.kind.exp.task == Task::Ptq);
                s.exp == *exp && exp.task == Task::Ptq && fast && (s.running_job().is_none() || ptq_in_flight) && exp.validate().is_ok()
            };
            if follows(&latest.borrow(), exp) {
                let (latest, w, e) = (latest.clone(), worker2.clone(), exp.clone());
                *timer.borrow_mut() = Some(Timeout::new(200, move || {
                    let s = latest.borrow().clone();
                    if !follows(&s, &e) {
                        return;
                    }
                    if let Some(id) = s.running_job() {
                        w.0.cancel(id);
                    }
                    submit(&w, &s, e)
                }));
            }
        });
    }

    let builtin = use_memo(state.exp.model.clone(), |name| Rc::new(builtin_architecture(name)));
    let model: Rc<ModelOutline> = match (&state.file, state.exp.model == FILE_MODEL) {
        (Some(f), true) => f.outline.clone(),
        _ => (*builtin).clone(),
    };
    let layers: Rc<Vec<(String, String)>> =
        Rc::new(model.layers.iter().filter(|l| l.weight.is_some()).map(|l| (l.name.clone(), l.kind.clone())).collect());
    let on_edit = {
        let d = state.dispatcher();
        Callback::from(move |f: Rc<dyn Fn(&mut Experiment)>| d.dispatch(ModelAction::Edit(f)))
    };
    let on_builtin = {
        let d = state.dispatcher();
        Callback::from(move |name: String| d.dispatch(ModelAction::UseBuiltin(name)))
    };
    // The worker reads the file (and keeps the model for the runs); the page gets its
    // architecture and keeps the file (a snapshot of it), which travels with every run.
    let on_file = {
        let (d, worker) = (state.dispatcher(), worker.clone());
        Callback::from(move |r: Result<(String, FileBytes), String>| match r {
            Ok((name, file)) => {
                let request = Request::ReadModel { model: Source::File { name: name.clone(), sidecar: None } };
                let kind = ModelRead { name, file: file.clone() };
                job::run(&worker, request, Some(&file), kind, d.to_callback().reform(ModelAction::Read));
            }
            Err(e) => d.dispatch(ModelAction::FileError(e)),
        })
    };
    let on_run = {
        let (state, worker) = (state.clone(), worker.clone());
        Callback::from(move |_: MouseEvent| {
            if state.running_job().is_none() {
                submit(&worker, &state, state.exp.clone());
            }
        })
    };
    let on_cancel = worker.canceller(state.running_job());
    let on_export = {
        let (state, worker) = (state.clone(), worker.clone());
        Callback::from(move |format: ExportFormat| {
            let exp = state.exp.clone();
            let (source, file) = model_source(&state, &exp);
            let request = Request::Export { exp, model: source, format };
            job::run(&worker, request, file.as_ref(), format, state.dispatcher().to_callback().reform(ModelAction::Export));
        })
    };
    // Picking a point of the mixed-bit chart applies its bits and runs PTQ with them at once;
    // the chart stays, with the run's result below it.
    let on_apply = {
        let (state, worker, d) = (state.clone(), worker.clone(), state.dispatcher());
        Callback::from(move |i: usize| {
            if state.view.is_locked("ptq.layer_bits") {
                return;
            }
            if let Some(c) = state.results.mixed_bit.as_ref().and_then(|r| r.report.candidates.get(i)) {
                let bits = c.bits.clone();
                let mut run = state.exp.clone();
                run.ptq.layer_bits = bits.clone();
                run.task = Task::Ptq;
                d.dispatch(ModelAction::edit(move |e| e.ptq.layer_bits = bits.clone()));
                if let Some(id) = state.running_job() {
                    worker.0.cancel(id);
                }
                submit(&worker, &state, run);
            }
        })
    };
    let on_dismiss = {
        let d = state.dispatcher();
        Callback::from(move |_| d.dispatch(ModelAction::DismissNotices))
    };
    let link = url::link_for(&state.to_hash());
    let layer_names: Vec<String> = layers.iter().map(|(n, _)| n.clone()).collect();
    let stem = |exp: &Experiment| -> AttrValue { download_stem(exp, &layer_names).into() };
    let busy = state.running_job().is_some();
    let valid = model_check(&state.exp, &layers);
    let classes = class_names(&state.exp.dataset);
    let results = &state.results;
    let result = match state.exp.task {
        Task::Ptq => results.ptq.as_ref().map(|r| html! {
            <PtqResult view={Rc::new(r.report.clone())} classes={classes.clone()} stale={r.exp != state.exp}
                reads_calibration={r.exp.ptq.reads_calibration()} on_export={on_export.clone()} stem={stem(&r.exp)} {busy} />
        }),
        Task::Layerwise => results.layerwise.as_ref().map(|r| marked(r.exp != state.exp, html! { <LayerwiseResult report={Rc::new(r.report.clone())} stem={stem(&r.exp)} /> })),
        Task::Sweep => results.sweep.as_ref().map(|r| marked(r.exp != state.exp, html! { <SweepResult report={Rc::new(r.report.clone())} stem={stem(&r.exp)} /> })),
        Task::MixedBit | Task::SizeBudget => {
            // The picked point's PTQ run, when it ran with the bits now set.
            let picked = results.ptq.as_ref().filter(|p| p.exp.ptq == state.exp.ptq && p.exp.model == state.exp.model && !state.exp.ptq.layer_bits.is_empty());
            // The candidate whose bits that run used: "applied" on the chart only then.
            let applied = picked.and_then(|_| results.mixed_bit.as_ref()?.report.candidates.iter().position(|c| c.bits == state.exp.ptq.layer_bits));
            // A point's bits are per-layer widths: refused where the link locks them or the width.
            let apply_locked = state.view.is_locked("ptq.layer_bits").then(|| {
                let fixed = |k: &str| state.view.locked.contains(k) || state.view.hidden.contains(k);
                let key = if fixed("ptq.layer_bits") { "ptq.layer_bits" } else if fixed("ptq.weight_bits") { "ptq.weight_bits" } else { "all" };
                AttrValue::from(format!("the link you opened fixes {key}"))
            });
            // The search chooses the per-layer bits (a point applied sets them): any other
            // setting changed since makes it a result of earlier settings.
            let searched_other = |e: &Experiment| Experiment { ptq: PtqConfig { layer_bits: state.exp.ptq.layer_bits.clone(), ..e.ptq.clone() }, ..e.clone() } != state.exp;
            results.mixed_bit.as_ref().map(|r| html! {
                <>
                    { marked(searched_other(&r.exp), html! {
                        <MixedBitResult report={Rc::new(r.report.clone())} stem={stem(&r.exp)} on_apply={on_apply.clone()} {applied}
                        apply_locked={apply_locked.clone()} />
                    }) }
                    if let Some(p) = picked {
                        <PtqResult view={Rc::new(p.report.clone())} classes={classes.clone()} stale=false
                            reads_calibration={p.exp.ptq.reads_calibration()} on_export={on_export.clone()} stem={stem(&p.exp)} {busy} />
                    }
                </>
            })
        }
        Task::Qat => results.qat.as_ref().map(|r| marked(r.exp != state.exp, html! { <QatResult report={Rc::new(r.report.clone())} stem={stem(&r.exp)} /> })),
    };
    html! {
        <div class="model-page">
            <Notices notices={state.notices.clone()} {on_dismiss} />
            <TeacherNote view={state.view.clone()} />
            <ModelSource model_name={state.exp.model.clone()} model={model.clone()} file={state.file.clone()} file_error={state.file_error.clone()}
                reading={state.reading.running().map(|j| AttrValue::from(j.reading_file(&j.kind.name)))}
                on_cancel_reading={worker.canceller(state.reading.running().map(|j| j.id))}
                cancelled={match &state.reading { JobState::Cancelled { kind } => Some(AttrValue::from(kind.name.clone())), _ => None }}
                ptq={state.exp.ptq.clone()} {on_builtin} {on_file} locked={state.view.is_locked("model")} hidden={state.view.is_hidden("model")} {busy} />
            <section class="experiment" aria-label="Experiment">
                <h2>{"Experiment"}</h2>
                <ExperimentForm exp={state.exp.clone()} layers={layers.clone()} view={state.view.clone()} {on_edit} />
                <div class="run">
                    <button class="primary" onclick={on_run} disabled={busy || valid.is_err()} data-testid="run"
                        title="Calibrate, quantize and evaluate in the worker">{ format!("Run {}", task_label(state.exp.task)) }</button>
                    if let Err(e) = &valid { <span class="error-inline" role="status" data-testid="invalid">{ e.clone() }</span> }
                    <ShareLink {link} what="the same model and experiment" />
                </div>
                { job_line(&state.job, "run", on_cancel) }
                { match (&state.export, &state.exported) {
                    (JobState::Running(_), _) => html! { <p class="hint" role="status" data-testid="export-status">{ "Writing the file…" }</p> },
                    (JobState::Failed { message, .. }, _) => html! { <p class="error" role="alert" data-testid="export-status">{ format!("The export failed: {message}") }</p> },
                    (JobState::Cancelled { .. }, _) => html! { <p class="hint" role="status" data-testid="export-status">{ "The export was cancelled." }</p> },
                    (JobState::Idle, Some(name)) => html! { <p class="hint" role="status" data-testid="export-status">{ format!("Downloaded {name}.") }</p> },
                    (JobState::Idle, None) => html! {},
                } }
            </section>
            { result.unwrap_or_else(|| html! { <p class="hint results-empty">{ "Press Run: results appear here." }</p> }) }
        </div>
    }
}

fn task_label(t: Task) -> &'static str {
    match t {
        Task::Ptq => "PTQ",
        Task::Layerwise => "the comparison",
        Task::Sweep => "the sweep",
        Task::MixedBit => "the mixed-bit search",
        Task::SizeBudget => "the size-budget search",
        Task::Qat => "QAT",
    }
}

/// Whether the experiment can run on this model; the error names the field.
fn model_check(exp: &Experiment, layers: &[(String, String)]) -> Result<(), String> {
    exp.validate().map_err(|e| e.to_string())?;
    // QAT trains every layer at the one width ptq.weight_bits: per-layer bits or skipped layers
    // would show a PTQ row that is not what QAT trained, so it refuses them with the reason.
    if exp.task == Task::Qat && (!exp.ptq.layer_bits.is_empty() || !exp.ptq.skip.is_empty()) {
        return Err(format!(
            "QAT trains every layer at one weight width ({} bits here), but this experiment sets per-layer bits or skips layers ({}): clear them in the layer table to run QAT, or run PTQ to measure them.",
            exp.ptq.weight_bits,
            exp.ptq.layer_bits.iter().map(|(n, b)| format!("{n}: {b} bits")).chain(exp.ptq.skip.iter().map(|n| format!("{n}: skipped"))).collect::<Vec<_>>().join(", ")
        ));
    }
    let names: Vec<String> = layers.iter().map(|(n, _)| n.clone()).collect();
    exp.ptq.validate_for(&names).map_err(|e| format!("ptq.{e}"))
}

/// The note over a result of other settings than the ones shown (the PTQ result has its own).
fn stale_note() -> Html {
    html! { <p class="hint" role="status" data-testid="stale">{"These results are of earlier settings: run again to update them."}</p> }
}

/// A task's result, marked and dimmed when it is of other settings than the ones shown.
fn marked(stale: bool, result: Html) -> Html {
    if !stale {
        return result;
    }
    html! { <div class="stale-result">{ stale_note() }{ result }</div> }
}

//! The Language-model page: quantize the built-in Shakespeare model in the worker, score it
//! against FP32 (a comparison table that grows with each run), and watch both models write
//! from one prompt with one seed.

use std::cell::Cell;
use std::rc::Rc;

use yew::prelude::*;

use super::job_status::JobStatus;
use super::lm_controls::{LmControls, LmEdit};
use super::lm_generation::LmGeneration;
use super::lm_table::LmTable;
use super::notices::Notices;
use crate::app::state::lm::{LmAction, LmJob, LmState, LmStatus};
use crate::app::url;
use crate::app::worker::host::{SharedWorker, CANCELLED};
use crate::app::worker::protocol::{Event as JobEvent, Request};
use crate::share::lm::LmExperiment;
use crate::share::view::View;
use crate::share::{query_of, Page};

pub type LmHandle = UseReducerHandle<LmState>;

/// Sends a job to the worker and routes its events to the page's reducer.
fn submit(worker: &SharedWorker, state: &LmHandle, kind: LmJob) {
    let exp = state.exp.clone();
    let request = match kind {
        LmJob::Run => Request::LmRun { quant: exp.quant.clone(), tokens: exp.tokens },
        LmJob::Generate => Request::LmGenerate { quant: exp.quant.clone(), sample: exp.sample.clone(), prompt: exp.prompt.clone(), max_new: exp.max_new },
    };
    let d = state.dispatcher();
    let cell = Rc::new(Cell::new(0u32));
    let job_of = cell.clone();
    let exp2 = exp.clone();
    let job = worker.0.submit(request, None, move |event, _| {
        let job = job_of.get();
        match event {
            JobEvent::Loading { what, done, total } => d.dispatch(LmAction::Loading { job, what, done, total }),
            JobEvent::Progress(p) => d.dispatch(LmAction::Progress { job, progress: p }),
            JobEvent::LmTokens { column, tokens } => d.dispatch(LmAction::Tokens { job, column, tokens }),
            JobEvent::BenchLines { .. } => {}
            JobEvent::Done(outcome) => d.dispatch(LmAction::Finished { job, exp: Box::new(exp2.clone()), outcome: Box::new(outcome) }),
            JobEvent::Failed(m) if m == CANCELLED => d.dispatch(LmAction::Cancelled),
            JobEvent::Failed(message) => d.dispatch(LmAction::Failed { job, message }),
        }
    });
    cell.set(job);
    state.dispatch(LmAction::Started { job, kind, label: exp.quant.label() });
}

/// Whether the settings can run; the error names the setting.
fn check(exp: &LmExperiment) -> Result<(), String> {
    exp.quant.validate().map_err(|e| e.to_string())?;
    exp.sample.validate().map_err(|e| e.to_string())?;
    if exp.prompt.is_empty() {
        return Err("the prompt is empty".into());
    }
    Ok(())
}

#[function_component(LmPage)]
pub fn lm_page() -> Html {
    let state = use_context::<LmHandle>().expect("the app provides the Language-model page's state");
    let worker = use_context::<SharedWorker>().expect("the app provides the worker");
    {
        let d = state.dispatcher();
        url::use_page_link(Page::Lm, state.to_hash(), Callback::from(move |hash: String| d.dispatch(LmAction::FromQuery(query_of(&hash).to_string()))));
    }
    let on_edit = {
        let d = state.dispatcher();
        Callback::from(move |f: LmEdit| d.dispatch(LmAction::Edit(f)))
    };
    let start = |kind: LmJob| {
        let (state, worker) = (state.clone(), worker.clone());
        Callback::from(move |_: MouseEvent| {
            if state.running_job().is_none() && check(&state.exp).is_ok() {
                submit(&worker, &state, kind);
            }
        })
    };
    let on_cancel = {
        let worker = worker.clone();
        Callback::from(move |_: ()| worker.0.cancel_all())
    };
    let on_remove = {
        let d = state.dispatcher();
        Callback::from(move |key: u32| d.dispatch(LmAction::RemoveRow(key)))
    };
    let on_apply = {
        let (state, d) = (state.clone(), state.dispatcher());
        Callback::from(move |key: u32| {
            if let Some(r) = state.rows.iter().find(|r| r.key == key) {
                let (quant, tokens) = (r.exp.quant.clone(), r.exp.tokens);
                d.dispatch(LmAction::edit(move |e| {
                    e.quant = quant.clone();
                    e.tokens = tokens;
                }));
            }
        })
    };
    let on_dismiss = {
        let d = state.dispatcher();
        Callback::from(move |_| d.dispatch(LmAction::DismissNotices))
    };
    let busy = state.running_job().is_some();
    let valid = check(&state.exp);
    let link = url::link_for(&state.to_hash());
    let view: View = state.view.clone();
    html! {
        <div class="model-page lm-page">
            <Notices notices={state.notices.clone()} {on_dismiss} />
            <section class="lm-model" aria-label="Model">
                <h2>{"Language model"}</h2>
                <p class="notes">
                    {"The built-in model: a Llama-style decoder trained here on Shakespeare, one token per character — 1,214,080 parameters, dim 128, 6 layers, 4 heads (2 key/value heads), SwiGLU 384, context 256. "}
                    {"It loads with the worker (4.9 MB) the first time you press Run or Generate; the validation text is Henry V, Macbeth, The Rape of Lucrece and Twelfth Night, unseen in training."}
                </p>
            </section>
            <section class="experiment" aria-label="Settings">
                <h2>{"Settings"}</h2>
                <LmControls exp={state.exp.clone()} view={view} {on_edit} />
                <div class="run">
                    <button class="primary" onclick={start(LmJob::Run)} disabled={busy || valid.is_err()} data-testid="lm-run"
                        title="Quantize in the worker and score both models on the validation text: a new row in the table">{"Run"}</button>
                    <button onclick={start(LmJob::Generate)} disabled={busy || valid.is_err()} data-testid="lm-generate"
                        title="Both models continue the prompt with the same seed, side by side">{"Generate"}</button>
                    if let Err(e) = &valid { <span class="error-inline" data-testid="invalid">{ e.clone() }</span> }
                    <div class="share">
                        <input class="link" readonly=true value={link} aria-label="Share link" data-testid="share-link" />
                    </div>
                </div>
                { match &state.status {
                    LmStatus::Running { stage, done, total, .. } => html! {
                        <JobStatus stage={stage.clone()} done={*done} total={*total} loading={state.loading.clone()} {on_cancel} />
                    },
                    LmStatus::Failed(m) => html! { <p class="error" role="alert" data-testid="run-error">{ format!("The job failed: {m}") }</p> },
                    LmStatus::Cancelled => html! { <p class="hint" data-testid="cancelled">{"Cancelled."}</p> },
                    LmStatus::Idle => html! {},
                } }
            </section>
            <section aria-label="Comparison">
                <h2>{"FP32 against quantized"}</h2>
                <LmTable rows={state.rows.clone()} {on_remove} {on_apply} />
            </section>
            <section aria-label="Generation">
                <h2>{"Side-by-side generation"}</h2>
                { match &state.generation {
                    Some(g) => html! { <LmGeneration generation={g.clone()} /> },
                    None => html! { <p class="hint">{"Press Generate: both models continue the prompt with the same seed."}</p> },
                } }
            </section>
        </div>
    }
}

//! The Language-model page: quantize the built-in Shakespeare model in the worker, score it
//! against FP32 (a comparison table that grows with each run), and watch both models write
//! from one prompt with one seed.

use std::rc::Rc;

use yew::prelude::*;

use super::job_status::job_line;
use super::lm_charts::LmCharts;
use super::lm_inspect::LmInspect;
use super::lm_controls::{LmControls, LmEdit};
use super::lm_qdq_graph::LmQdqGraph;
use super::lm_ptq_config::LmPtqConfig;
use super::lm_generation::LmGeneration;
use super::lm_search::LmSearch;
use super::lm_table::LmTable;
use super::notices::Notices;
use super::share_link::ShareLink;
use super::teacher_note::TeacherNote;
use super::lm_downloads::LmDownloads;
use super::lm_model_drop::{DroppedFiles, LmModelDrop};
use super::lm_model_info::LmModelPanel;
use crate::app::state::experiment_job;
use crate::app::state::job::{self, Change, JobState, JobUpdate};
use crate::app::state::lm::{LmAction, LmJob, LmState, LmTask, ModelChoice, UserModel};
use crate::app::url;
use crate::app::worker::host::SharedWorker;
use crate::app::worker::FileBytes;
use crate::app::worker::protocol::{Event as JobEvent, LmExportFormat, LmFile, LmModelRef, LmRunView, Outcome, Request, SearchPart, SearchStage};
use crate::experiment::shard::{interleave, Shard};
use crate::lm::{LmConfig, LmError};
use crate::ptq::lm::{linear_inputs, LmQuantConfig};
use crate::ptq::lm_sensitivity::{check_settings, finish_search};
use crate::share::lm::{search_problem, LmExperiment};
use crate::share::view::View;
use crate::share::{query_of, Page};

pub type LmHandle = UseReducerHandle<LmState>;
type Dispatcher = UseReducerDispatcher<LmState>;

/// A job of the page (and of the Lab's language-model track), with what it needs to run again
/// in a fresh worker.
#[derive(Clone)]
pub struct Submit {
    worker: SharedWorker,
    d: Dispatcher,
    exp: LmExperiment,
    /// The user's model when the job uses it.
    user: Option<Rc<UserModel>>,
    kind: LmJob,
    /// The projection and row of a [`LmJob::Weights`].
    inspect: (String, usize),
}

impl Submit {
    pub fn of(worker: &SharedWorker, state: &LmHandle, kind: LmJob) -> Submit {
        let user = state.user_model.clone().filter(|_| state.use_user);
        Submit { worker: worker.clone(), d: state.dispatcher(), exp: state.exp.clone(), user, kind, inspect: (String::new(), 0) }
    }

    /// A run of `exp` on the built-in model it names, whatever the page has chosen.
    pub fn builtin_run(worker: &SharedWorker, state: &LmHandle, exp: LmExperiment) -> Submit {
        Submit { exp, user: None, ..Submit::of(worker, state, LmJob::Run) }
    }

    fn model(&self) -> LmModelRef {
        self.user.as_ref().map_or(LmModelRef::Builtin(self.exp.builtin), |u| LmModelRef::User { key: u.info.key })
    }

    fn task(&self) -> LmTask {
        LmTask { kind: self.kind, exp: Rc::new(self.exp.clone()), files: None }
    }

    /// Updates go to the page's reducer, except [`JobEvent::LmModelMissing`]: the worker no
    /// longer holds the user's model (a fresh one after Cancel or a crash), so the files go to
    /// it again before the job repeats.
    fn updates(&self) -> Callback<JobUpdate<LmTask>> {
        let (d, again) = (self.d.clone(), self.clone());
        Callback::from(move |u: JobUpdate<LmTask>| match u.change {
            Change::Event(JobEvent::LmModelMissing) if again.user.is_some() => again.clone().reload_then_send(),
            _ => d.dispatch(LmAction::Job(u)),
        })
    }

    /// Sends the job.
    pub fn send(self) {
        let exp = &self.exp;
        let (quant, model) = (exp.quant.clone(), self.model());
        let request = match self.kind {
            // The built-in model's windows are shared among the pool's workers (each loads it
            // itself); the user's model lives in one worker.
            LmJob::Run if self.user.is_none() && self.worker.0.size() > 1 => {
                let count = self.worker.0.size();
                let parts = (0..count).map(|index| Request::LmRun { model, quant: quant.clone(), tokens: exp.tokens, shard: Shard { index, count } }).collect();
                job::run_split(&self.worker, parts, None, self.task(), merge_runs, self.updates());
                return;
            }
            LmJob::Run => Request::LmRun { model, quant, tokens: exp.tokens, shard: Shard::ALL },
            LmJob::Generate => Request::LmGenerate { model, quant, sample: exp.sample.clone(), prompt: exp.prompt.clone(), max_new: exp.max_new },
            LmJob::Export(format) => Request::LmExport { model, quant, format },
            LmJob::Weights => Request::LmWeights { model, quant, layer: self.inspect.0.clone(), row: self.inspect.1 },
            // The built-in model's search is shared among the pool in two stages: every
            // Linear's sensitivity, then the candidates of the greedy order they give.
            LmJob::Search if self.user.is_none() && self.worker.0.size() > 1 => {
                let count = self.worker.0.size();
                let (settings, tokens) = (exp.search, exp.search_tokens);
                let part = move |quant: &LmQuantConfig, stage: SearchStage, index| Request::LmSearch {
                    model,
                    quant: quant.clone(),
                    settings,
                    tokens,
                    stage,
                    shard: Shard { index, count },
                };
                let parts = (0..count).map(|k| part(&quant, SearchStage::Sensitivities, k)).collect();
                let merge_sensitivities: job::MergeFn = Box::new(move |outcomes| {
                    let parts = search_parts(outcomes)?;
                    let sens = interleave(parts.iter().map(|p| p.sensitivities.clone()).collect(), parts.iter().map(|p| p.sensitivities.len()).sum())?;
                    let next = (0..count).map(|k| part(&quant, SearchStage::Candidates(sens.clone()), k)).collect();
                    let quant = quant.clone();
                    let merge_candidates: job::MergeFn = Box::new(move |outcomes| {
                        let parts = search_parts(outcomes)?;
                        let n = parts.iter().map(|p| p.candidates.len()).sum();
                        let candidates = interleave(parts.iter().map(|p| p.candidates.clone()).collect(), n)?;
                        Ok(match finish_search(&quant, &parts[0].frame, sens.clone(), candidates) {
                            Ok(report) => job::Merged::Done(Outcome::LmSearch(Box::new(report))),
                            Err(e) => job::Merged::Failed(e.to_string()),
                        })
                    });
                    Ok(job::Merged::Next(next, merge_candidates))
                });
                job::run_stages(&self.worker, parts, None, self.task(), merge_sensitivities, self.updates());
                return;
            }
            LmJob::Search => Request::LmSearch { model, quant, settings: exp.search, tokens: exp.search_tokens, stage: SearchStage::Whole, shard: Shard::ALL },
            LmJob::Load => return,
        };
        job::run(&self.worker, request, None, self.task(), self.updates());
    }

    /// Sends the user's files to the worker again, then the job (the page shows the job as
    /// running all along; a failure to read the files again fails the job).
    fn reload_then_send(self) {
        let Some(user) = self.user.clone() else { return };
        let request = Request::LmLoad { key: user.info.key, files: user.files.clone() };
        let (d, next) = (self.d.clone(), self.clone());
        let updates = Callback::from(move |u: JobUpdate<LmTask>| match u.change {
            Change::Event(JobEvent::Done(_)) => next.clone().send(),
            _ => d.dispatch(LmAction::Job(u)),
        });
        job::run(&self.worker, request, Some(&user.bytes), self.task(), updates);
    }
}

/// The run of the built-in model from its shards' (in shard order).
fn merge_runs(parts: Vec<Outcome>) -> Result<Outcome, String> {
    let views = experiment_job::reports(parts, |o| if let Outcome::LmRun(v) = o { Some(*v) } else { None })?;
    Ok(Outcome::LmRun(Box::new(LmRunView::merge(views)?)))
}

/// The parts of one stage of a shared search; every worker must have searched the same frame.
fn search_parts(outcomes: Vec<Outcome>) -> Result<Vec<SearchPart>, String> {
    let parts = experiment_job::reports(outcomes, |o| if let Outcome::LmSearchPart(p) = o { Some(*p) } else { None })?;
    match parts.first() {
        Some(first) if parts.iter().all(|p| p.frame == first.frame) => Ok(parts),
        Some(_) => Err("the workers searched different settings".into()),
        None => Err("no worker reported".into()),
    }
}

/// Sends the user's files to the worker; the model replaces the previous one only if it reads.
fn load_files(worker: &SharedWorker, state: &LmHandle, files: Vec<LmFile>, bytes: FileBytes) {
    let request = Request::LmLoad { key: state.next_load_key, files: files.clone() };
    let task = LmTask { kind: LmJob::Load, exp: Rc::new(state.exp.clone()), files: Some((files, bytes.clone())) };
    job::run(worker, request, Some(&bytes), task, state.dispatcher().to_callback().reform(LmAction::Job));
}

/// Whether the settings can run; the error names the setting (or the model a link names).
fn check(state: &LmState) -> Result<(), String> {
    if let Some(name) = state.model_missing() {
        return Err(format!("this experiment used your own model \"{name}\": drop the same files above to reproduce it, or use the built-in model"));
    }
    let exp = &state.exp;
    exp.quant.validate().map_err(|e| e.to_string())?;
    // The model in use: its shape decides which names and group sizes fit, and it needs a
    // tokenizer to read the validation text and the prompt.
    if let Some(i) = state.user_model.as_ref().filter(|_| state.use_user).map(|u| &u.info) {
        if i.tokenizer.is_none() {
            return Err(format!("{} has no tokenizer qplay can use (the notes under the model say why): drop its tokenizer.bin / tokenizer.json with the model", i.name));
        }
    }
    exp.quant.check_fits(&model_config(state)).map_err(|e| e.to_string())?;
    Ok(())
}

/// The shape of the model in use (the user's or the built-in one).
fn model_config(state: &LmState) -> LmConfig {
    match state.user_model.as_ref().filter(|_| state.use_user) {
        Some(u) => {
            let i = &u.info;
            LmConfig { dim: i.dim, n_layers: i.n_layers, n_heads: i.n_heads, n_kv_heads: i.n_kv_heads, hidden_dim: i.hidden_dim, ..state.exp.builtin.config() }
        }
        None => state.exp.builtin.config(),
    }
}

/// Why the model in use cannot be written in llama.cpp's blocks of 32 (a Linear's rows are not
/// whole blocks), for the GGUF Q8_0 / Q4_0 / Q4_1 buttons.
fn blocks_refused(state: &LmState) -> Option<AttrValue> {
    let (name, k) = linear_inputs(&model_config(state)).into_iter().find(|(_, k)| !k.is_multiple_of(crate::quant::ggml::QK))?;
    Some(format!("{name} has rows of {k} values, not whole blocks of 32: llama.cpp's block formats cannot hold it (llama.cpp's quantizer refuses it too)").into())
}

/// Whether `kind` can run now: [`check`], and for generation its own settings and a prompt
/// (a run scores the validation text and needs neither).
fn check_job(state: &LmState, kind: LmJob) -> Result<(), String> {
    check(state)?;
    if kind == LmJob::Generate {
        state.exp.sample.validate().map_err(|e| e.to_string())?;
        if state.exp.prompt.is_empty() {
            return Err("the prompt is empty: Generate needs text to continue".into());
        }
        // The built-in models read a token per character, so a prompt that fills their context is
        // known here (a user's model's tokens are counted in the worker, which says the same).
        let builtin = state.user_model.is_none() || !state.use_user;
        let (chars, context) = (state.exp.prompt.chars().count(), state.exp.builtin.config().seq_len);
        if builtin && chars >= context {
            return Err(format!(
                "the prompt is {chars} characters: the built-in model reads one token per character and its context is {context}, \
                 so Generate needs a prompt of at most {} characters",
                context - 1
            ));
        }
    }
    Ok(())
}

/// Whether the mixed-precision search can run now; the error says why not.
fn check_search(state: &LmState) -> Result<(), String> {
    if state.running_job().is_some() {
        return Err("a job is running".into());
    }
    check(state)?;
    // The search's own checks are sentences that name the control in the way; the rest
    // (the model, the quantization settings) keep their "setting …:" prefix.
    check_settings(&state.exp.quant, &state.exp.search).map_err(|e| match e {
        LmError::Setting { message, .. } => message,
        e => e.to_string(),
    })?;
    match search_problem(&state.exp) {
        Some(why) => Err(why),
        None => Ok(()),
    }
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
            if state.running_job().is_none() && check_job(&state, kind).is_ok() {
                Submit::of(&worker, &state, kind).send();
            }
        })
    };
    let on_cancel = worker.canceller(state.running_job());
    let on_remove = {
        let d = state.dispatcher();
        Callback::from(move |key: u32| d.dispatch(LmAction::RemoveRow(key)))
    };
    let on_apply = {
        let d = state.dispatcher();
        Callback::from(move |key: u32| d.dispatch(LmAction::ApplyRow(key)))
    };
    // Rows whose "Use" would change a setting the link locks, with those settings.
    let locked_rows: Vec<(u32, String)> =
        state.rows.iter().filter_map(|r| Some(state.locked_by_row(r.key)).filter(|l| !l.is_empty()).map(|l| (r.key, l.join(", ")))).collect();
    let on_files = {
        let (state, worker) = (state.clone(), worker.clone());
        Callback::from(move |r: Result<DroppedFiles, String>| match r {
            Ok((files, bytes)) if state.running_job().is_none() => load_files(&worker, &state, files, bytes),
            Ok(_) => state.dispatch(LmAction::ModelRejected("a job is running: wait for it or cancel it".into())),
            Err(message) => state.dispatch(LmAction::ModelRejected(message)),
        })
    };
    let on_choose = {
        let d = state.dispatcher();
        Callback::from(move |choice: ModelChoice| d.dispatch(LmAction::ChooseModel(choice)))
    };
    let on_export = {
        let (state, worker) = (state.clone(), worker.clone());
        Callback::from(move |format: LmExportFormat| {
            if state.running_job().is_none() && state.exp.quant.validate().is_ok() {
                Submit::of(&worker, &state, LmJob::Export(format)).send();
            }
        })
    };
    let on_show_weights = {
        let (state, worker) = (state.clone(), worker.clone());
        Callback::from(move |(layer, row): (String, usize)| {
            if state.running_job().is_none() && state.exp.quant.validate().is_ok() {
                Submit { inspect: (layer, row), ..Submit::of(&worker, &state, LmJob::Weights) }.send();
            }
        })
    };
    let on_search = {
        let (state, worker) = (state.clone(), worker.clone());
        Callback::from(move |_: MouseEvent| {
            if check_search(&state).is_ok() {
                Submit::of(&worker, &state, LmJob::Search).send();
            }
        })
    };
    let on_use_candidate = {
        let d = state.dispatcher();
        Callback::from(move |i: usize| d.dispatch(LmAction::UseCandidate(i)))
    };
    // "Use" of a candidate changes the widths (`bits`, `layer_bits`) and any setting edited since
    // the search: refused, per candidate, when the link locks one of them.
    let search_use_locked = {
        let state = state.clone();
        use_memo((state.search.clone(), state.exp.clone(), state.view.clone()), move |(search, ..)| {
            search.as_ref().map_or_else(Vec::new, |r| {
                (0..r.candidates.len())
                    .map(|i| match state.with_candidate(i) {
                        Some(Ok(next)) => Some(state.locked_changes(&next)).filter(|l| !l.is_empty()).map(|l| format!("set by the link (hidden or locked): {}", l.join(", "))),
                        Some(Err(why)) => Some(why),
                        None => None,
                    })
                    .collect::<Vec<Option<String>>>()
            })
        })
    };
    // The search's progress, failure or cancellation shows under the search.
    let search_running = match &state.job {
        JobState::Running(j) => j.kind.kind == LmJob::Search,
        JobState::Failed { kind, .. } | JobState::Cancelled { kind } => kind.kind == LmJob::Search,
        JobState::Idle => false,
    };
    let on_dismiss = {
        let d = state.dispatcher();
        Callback::from(move |_| d.dispatch(LmAction::DismissNotices))
    };
    let busy = state.running_job().is_some();
    let n_layers = state.user_model.as_ref().filter(|_| state.use_user).map_or(state.exp.builtin.config().n_layers, |u| u.info.n_layers);
    let valid = check(&state);
    let valid_generate = check_job(&state, LmJob::Generate);
    let failed_earlier = match &state.job {
        JobState::Failed { kind, message } if *kind.exp != state.exp => Some(message.clone()),
        _ => None,
    };
    let link = url::link_for(&state.to_hash());
    let view: View = state.view.clone();
    let model_locked = view.is_locked("model");
    let builtin = state.exp.builtin;
    html! {
        <div class="model-page lm-page">
            <Notices notices={state.notices.clone()} {on_dismiss} />
            <TeacherNote view={state.view.clone()} />
            <section class="lm-model" aria-label="Model">
                <h2>{"Language model"}</h2>
                if !view.is_hidden("model") {
                    <LmModelPanel user={state.user_model.clone()} use_user={state.use_user} builtin={state.exp.builtin} on_choose={on_choose.clone()} disabled={busy || model_locked} />
                    <LmModelDrop {on_files} disabled={busy} locked={model_locked} />
                } else {
                    // The card still says which model the page runs.
                    <p data-testid="lm-model-fixed">{ format!("{} — set by the link you opened.",
                        state.user_model.as_ref().filter(|_| state.use_user).map_or_else(|| state.exp.builtin.name().to_string(), |u| u.info.name.clone())) }</p>
                }
                if let Some(name) = state.model_missing() {
                    <p class="notice" role="status" data-testid="lm-model-missing">
                        { format!("This link was made with your own model \"{name}\". Files never travel in a link: drop the same files here to reproduce its numbers. ") }
                        <button onclick={on_choose.reform(move |_| ModelChoice::Builtin(builtin))} disabled={busy} data-testid="lm-link-use-builtin">{"Use the built-in model instead"}</button>
                    </p>
                }
                if let Some(e) = &state.model_error {
                    <p class="error" role="alert" data-testid="lm-model-error">{ format!("{e} — the model in use did not change.") }</p>
                }
            </section>
            <section class="experiment" aria-label="Settings">
                <h2>{"Settings"}</h2>
                <LmControls exp={state.exp.clone()} view={view.clone()} on_edit={on_edit.clone()} />
                <div class="run">
                    <button class="primary" onclick={start(LmJob::Run)} disabled={busy || valid.is_err()} data-testid="lm-run"
                        title="Quantize in the worker and score both models on the validation text: a new row in the table">{"Run"}</button>
                    <button onclick={start(LmJob::Generate)} disabled={busy || valid_generate.is_err()} data-testid="lm-generate"
                        title="Both models continue the prompt with the same seed, side by side">{"Generate"}</button>
                    if let Err(e) = valid.as_ref().and(valid_generate.as_ref()) { <span class="error-inline" role="status" data-testid="invalid">{ e.clone() }</span> }
                    <ShareLink {link} what="the same model and settings" />
                </div>
                if !search_running {
                    // A failure of earlier settings (the prompt or a setting edited since) is said
                    // as such: it may not hold for the settings shown.
                    if let Some(message) = failed_earlier {
                        <p class="hint" role="status" data-testid="run-error-earlier">{ format!("The last job failed with earlier settings: {message}") }</p>
                    } else {
                        { job_line(&state.job, "job", on_cancel.clone()) }
                    }
                }
                <LmPtqConfig exp={state.exp.clone()} model={model_config(&state)} view={view.clone()} on_edit={on_edit.clone()} disabled={busy || view.fixes_all()} />
            </section>
            <section aria-label="Comparison">
                <h2>{"FP32 against quantized"}</h2>
                <LmTable rows={state.rows.clone()} {on_remove} on_apply={on_apply.clone()} {locked_rows} />
                <LmDownloads rows={state.rows.clone()} {on_export} disabled={busy || state.exp.quant.validate().is_err()} blocks_refused={blocks_refused(&state)} />
            </section>
            if !state.rows.is_empty() {
                <section aria-label="Charts">
                    <h2>{"Charts"}</h2>
                    <LmCharts rows={state.rows.clone()} on_apply={on_apply.clone()} />
                    if let Some(last) = state.rows.last() {
                        <LmInspect last={last.clone()} weights={state.weights.clone()} busy={busy} on_show={on_show_weights} />
                    }
                </section>
            }
            if !view.is_hidden("search") {
                <section aria-label="Mixed precision">
                    <h2>{"Mixed precision: which Linears can take fewer bits"}</h2>
                    <LmSearch exp={state.exp.clone()} view={view.clone()} report={state.search.clone()} on_edit={on_edit.clone()}
                        {on_search} blocked={check_search(&state).err()} on_use={on_use_candidate} use_locked={(*search_use_locked).clone()} />
                    if search_running { { job_line(&state.job, "search", on_cancel.clone()) } }
                </section>
            }
            <section aria-label="QDQ graph">
                <h2>{"Where the Q/DQ nodes sit"}</h2>
                <LmQdqGraph quant={state.exp.quant.clone()} n_layers={n_layers} />
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

//! The Language-model page's state: the experiment (what the link holds, [`crate::share::lm`]),
//! the teacher's view, the job running in the worker, the comparison table (a row per run,
//! kept until removed), the last side-by-side generation and the user's own model (its files are
//! kept here, so that a fresh worker after Cancel can read them again).

use std::rc::Rc;

use yew::Reducible;

use crate::lm::corpus::BuiltinLm;
use crate::lm::inspect::WeightView;
use crate::app::state::job::{Applied, JobState, JobUpdate};
use crate::app::worker::protocol::{Event, LmExportFormat, LmFile, LmModelInfo, LmRunView, LmToken, Outcome};
use crate::app::worker::FileBytes;
use crate::ptq::lm_sensitivity::{compact_bits, SearchReport};
use crate::share::lm::{LmExperiment, MAX_LAYER_BITS};
use crate::share::view::{join_query, split_view, View};
use crate::share::{page_hash, Page};

/// Most rows the comparison table keeps (the oldest goes first).
pub const MAX_ROWS: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LmJob {
    Run,
    Generate,
    /// Reading the user's model files.
    Load,
    Export(LmExportFormat),
    /// One projection's weights (the weight view).
    Weights,
    /// The mixed-precision search.
    Search,
}

/// The user's model: what the worker read, and the files to send again to a fresh worker.
#[derive(Clone, Debug, PartialEq)]
pub struct UserModel {
    pub info: LmModelInfo,
    pub files: Vec<LmFile>,
    /// The files' contents one after the other (a snapshot, compared by identity).
    pub bytes: FileBytes,
}

/// What a Language-model job is for: its kind, the settings it runs (a table row keeps them),
/// and for a load the user's files (kept with the model once it reads).
#[derive(Clone, Debug, PartialEq)]
pub struct LmTask {
    pub kind: LmJob,
    pub exp: Rc<LmExperiment>,
    pub files: Option<(Vec<LmFile>, FileBytes)>,
}

/// One row of the comparison table.
#[derive(Debug, PartialEq)]
pub struct LmRow {
    /// Numbers rows for removal (stable while others come and go).
    pub key: u32,
    pub exp: LmExperiment,
    pub view: LmRunView,
}

/// The side-by-side generation: streamed tokens, then the final two columns.
#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    pub label: String,
    pub prompt: String,
    pub fp32: Vec<LmToken>,
    pub quant: Vec<LmToken>,
    /// The job ended and `quant`'s FP32 probabilities are known.
    pub done: bool,
    pub fp32_tps: f64,
    pub quant_tps: f64,
    /// How many tokens each model was asked to write (the context or an end-of-text token can
    /// stop it sooner).
    pub asked: usize,
}

impl Generation {
    /// The first position where the two columns differ, if any (only within both lengths).
    pub fn divergence(&self) -> Option<usize> {
        self.fp32.iter().zip(&self.quant).position(|(a, b)| a.id != b.id)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct LmState {
    pub exp: LmExperiment,
    pub view: View,
    pub notices: Vec<String>,
    pub job: JobState<LmTask>,
    pub rows: Vec<Rc<LmRow>>,
    pub next_key: u32,
    pub generation: Option<Rc<Generation>>,
    /// The user's model, once one has read without error.
    pub user_model: Option<Rc<UserModel>>,
    /// Whether jobs use the user's model (else the built-in one).
    pub use_user: bool,
    /// Why the last dropped files were rejected (the previous model stays).
    pub model_error: Option<String>,
    /// The key of the next model load.
    pub next_load_key: u64,
    /// The last weight view the worker drew.
    pub weights: Option<Rc<WeightView>>,
    /// The last mixed-precision search (its report keeps the settings it searched under).
    pub search: Option<Rc<SearchReport>>,
}

impl Default for LmState {
    fn default() -> LmState {
        LmState {
            exp: LmExperiment::default(),
            view: View::default(),
            notices: Vec::new(),
            job: JobState::Idle,
            rows: Vec::new(),
            next_key: 1,
            generation: None,
            user_model: None,
            use_user: false,
            model_error: None,
            next_load_key: 1,
            weights: None,
            search: None,
        }
    }
}

/// A model the page can use.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ModelChoice {
    Builtin(BuiltinLm),
    /// The user's model (when one is held).
    User,
}

pub enum LmAction {
    Edit(Rc<dyn Fn(&mut LmExperiment)>),
    FromQuery(String),
    /// A job in the worker (runs, generations, exports, weight views, model loads).
    Job(JobUpdate<LmTask>),
    RemoveRow(u32),
    /// Put a row's quantization settings (and its token count) back in the form, unless the
    /// teacher's link locks one of the settings that would change.
    ApplyRow(u32),
    /// Put search candidate `i`'s per-layer bits (under the settings the search ran with) in the
    /// form, unless the link locks a setting that would change.
    UseCandidate(usize),
    DismissNotices,
    /// The page rejected the dropped files before the worker saw them; the previous model stays.
    ModelRejected(String),
    /// Use the user's model or a built-in one.
    ChooseModel(ModelChoice),
}

impl LmAction {
    pub fn edit(f: impl Fn(&mut LmExperiment) + 'static) -> LmAction {
        LmAction::Edit(Rc::new(f))
    }
}

impl LmState {
    /// The experiment with row `key`'s settings applied (what "Use" puts in the form): its
    /// quantization, tokens and model.
    fn applied(&self, key: u32) -> Option<LmExperiment> {
        let r = self.rows.iter().find(|r| r.key == key)?;
        Some(LmExperiment { quant: r.exp.quant.clone(), tokens: r.exp.tokens, model: r.exp.model.clone(), builtin: r.exp.builtin, ..self.exp.clone() })
    }

    /// The locked settings that changing the experiment to `next` would change.
    pub fn locked_changes(&self, next: &LmExperiment) -> Vec<String> {
        crate::share::lm::locked_changes(&self.view, &self.exp, next)
    }

    /// `exp` into `next`'s form, unless the link locks a setting it changes: then a notice says
    /// which, and that `what` was not put in the form.
    fn put_in_form(&self, next: &mut LmState, exp: LmExperiment, what: &str) {
        let locked = self.locked_changes(&exp);
        if locked.is_empty() {
            next.exp = exp;
        } else {
            next.notices.push(format!("set by the link (hidden or locked): {}; {what} were not put in the form", locked.join(", ")));
        }
    }

    /// The experiment with search candidate `i` applied: the search's settings with its widths
    /// written compactly (the most common one as `bits`), or why it cannot go in a link.
    pub fn with_candidate(&self, i: usize) -> Option<Result<LmExperiment, String>> {
        let r = self.search.as_ref()?;
        let c = r.candidates.get(i)?;
        let quant = compact_bits(&r.config, &c.layer_bits);
        if quant.layer_bits.len() > MAX_LAYER_BITS {
            return Some(Err(format!(
                "\"{}\" needs {} per-layer widths and a link holds at most {MAX_LAYER_BITS}: run qplay lm search --out f.json and pass its chosen_layer_bits to qplay lm … --config as a [layer_bits] table",
                c.label,
                quant.layer_bits.len()
            )));
        }
        Some(Ok(LmExperiment { quant, ..self.exp.clone() }))
    }

    /// The locked settings that applying row `key` would change (empty: it may be applied).
    pub fn locked_by_row(&self, key: u32) -> Vec<String> {
        self.applied(key).map_or_else(Vec::new, |next| self.locked_changes(&next))
    }

    /// The state a link opens: its experiment, hidden / locked controls and notices.
    pub fn from_query(query: &str) -> LmState {
        let (mut view, rest) = split_view(query);
        let (exp, mut notices) = crate::share::lm::from_query(&rest);
        notices.extend(view.keep_known(crate::share::view::LM_VIEW_KEYS));
        LmState { exp, view, notices, ..LmState::default() }
    }

    pub fn to_hash(&self) -> String {
        page_hash(Page::Lm, &join_query(&crate::share::lm::to_query(&self.exp), &self.view))
    }

    pub fn running_job(&self) -> Option<u32> {
        self.job.running_id()
    }

    /// Puts in use the model the experiment names (`exp.model`, else `exp.builtin`): the user's
    /// own when `exp.model` is the one held, else none until its files are dropped
    /// ([`Self::model_missing`] says so), as from a link or a results row. What was drawn or
    /// searched on the model in use `before` goes when the model changes: its Linears may not
    /// exist on this one.
    fn use_named_model(&mut self, before: &LmState) {
        self.use_user = self.user_model.as_ref().is_some_and(|m| m.info.name == self.exp.model);
        let model = |s: &LmState| (s.use_user, s.exp.builtin, s.exp.model.clone());
        if model(self) != model(before) {
            self.weights = None;
            self.search = None;
        }
    }

    /// The model the experiment names when it is not the one in use: a link made with the
    /// user's own files, opened where those files are not loaded.
    pub fn model_missing(&self) -> Option<&str> {
        let held = self.user_model.as_ref().filter(|_| self.use_user).map(|m| m.info.name.as_str());
        (!self.exp.model.is_empty() && held != Some(self.exp.model.as_str())).then_some(self.exp.model.as_str())
    }
}

impl Reducible for LmState {
    type Action = LmAction;

    fn reduce(self: Rc<Self>, action: LmAction) -> Rc<Self> {
        let mut next = (*self).clone();
        match action {
            LmAction::Edit(edit) => edit(&mut next.exp),
            LmAction::FromQuery(query) => {
                let read = LmState::from_query(&query);
                if read.exp != next.exp {
                    next.exp = read.exp;
                    next.use_named_model(&self);
                }
                // The page's own link coming back keeps the notices of the link it was opened
                // with; any other link replaces them (an empty list when it reads cleanly).
                if query != crate::share::query_of(&self.to_hash()) {
                    next.notices = read.notices;
                }
                next.view = read.view;
            }
            LmAction::Job(update) => match next.job.apply(update) {
                Applied::Started(task) if task.kind == LmJob::Generate => {
                    next.generation = Some(Rc::new(Generation {
                        label: task.exp.quant.label(),
                        prompt: task.exp.prompt.clone(),
                        fp32: Vec::new(),
                        quant: Vec::new(),
                        done: false,
                        fp32_tps: 0.0,
                        quant_tps: 0.0,
                        asked: task.exp.max_new,
                    }));
                }
                // A new search replaces the last one's result: a failed or cancelled one must not
                // leave a result of other settings (and its Use button) above its message.
                Applied::Started(task) if task.kind == LmJob::Search => next.search = None,
                Applied::Streamed(Event::LmTokens { fp32, quant }) => {
                    if let Some(g) = next.generation.as_mut() {
                        let g = Rc::make_mut(g);
                        g.fp32.extend(fp32);
                        g.quant.extend(quant);
                    }
                }
                Applied::Finished(task, outcome) => match outcome {
                    Outcome::LmRun(view) => {
                        let key = next.next_key;
                        next.next_key = next.next_key.wrapping_add(1);
                        next.rows.push(Rc::new(LmRow { key, exp: (*task.exp).clone(), view: *view }));
                        if next.rows.len() > MAX_ROWS {
                            next.rows.remove(0);
                        }
                    }
                    Outcome::LmGenerate(g) => {
                        let g = *g;
                        let asked = task.exp.max_new;
                        next.generation = Some(Rc::new(Generation {
                            label: g.label,
                            prompt: g.prompt,
                            fp32: g.fp32,
                            quant: g.quant,
                            done: true,
                            fp32_tps: g.fp32_tps,
                            quant_tps: g.quant_tps,
                            asked,
                        }));
                    }
                    Outcome::LmWeights(w) => next.weights = Some(Rc::new(*w)),
                    Outcome::LmSearch(r) => next.search = Some(Rc::new(*r)),
                    // The worker read the user's files: the model replaces the previous user
                    // model and is chosen.
                    Outcome::LmLoaded(info) => match task.files {
                        Some((files, bytes)) => {
                            next.next_load_key = next.next_load_key.max(info.key).wrapping_add(1);
                            // A link's fingerprint of other files of the same names: said, then
                            // the experiment is of these files.
                            if next.exp.model == info.name && !next.exp.model_files.is_empty() && next.exp.model_files != info.fingerprint {
                                next.notices.push(format!("The files dropped: {}. The link now names these files.", crate::lm::import::files_differ(&next.exp.model_files, &info.fingerprint)));
                            }
                            next.exp.model = info.name.clone();
                            next.exp.model_files = info.fingerprint.clone();
                            next.user_model = Some(Rc::new(UserModel { info: *info, files, bytes }));
                            next.use_user = true;
                            next.weights = None;
                            next.search = None;
                            next.model_error = None;
                        }
                        None => {}
                    },
                    _ => {}
                },
                _ => {
                    // A load the worker refused: the previous model stays, and the drop area says why.
                    if let JobState::Failed { kind: LmTask { kind: LmJob::Load, .. }, message } = &next.job {
                        next.model_error = Some(message.clone());
                        next.next_load_key = next.next_load_key.wrapping_add(1);
                        next.job = JobState::Idle;
                    }
                }
            },
            LmAction::RemoveRow(key) => next.rows.retain(|r| r.key != key),
            LmAction::ApplyRow(key) => {
                if let Some(exp) = self.applied(key) {
                    self.put_in_form(&mut next, exp, "that row's settings");
                    next.use_named_model(&self);
                }
            }
            LmAction::UseCandidate(i) => match self.with_candidate(i) {
                Some(Ok(exp)) => self.put_in_form(&mut next, exp, "the search's widths"),
                Some(Err(why)) => next.notices.push(why),
                None => {}
            },
            LmAction::DismissNotices => next.notices.clear(),
            LmAction::ModelRejected(message) => next.model_error = Some(message),
            LmAction::ChooseModel(choice) => {
                match choice {
                    ModelChoice::Builtin(b) => {
                        next.exp.builtin = b;
                        next.exp.model = String::new();
                    }
                    ModelChoice::User => {
                        if let Some(m) = &next.user_model {
                            next.exp.model = m.info.name.clone();
                        }
                    }
                }
                next.use_named_model(&self);
            }
        }
        Rc::new(next)
    }
}

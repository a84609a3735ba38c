//! The Model page's state: the experiment (what the link holds), the model
//! file the user loaded, the job running in the worker, and the last result of
//! each task. Results are kept with the experiment that made them, so a
//! changed setting never wipes a long result: the page marks it as stale.

use std::collections::BTreeMap;
use std::rc::Rc;

use yew::Reducible;

use crate::app::state::job::{Applied, JobState, JobUpdate};
use crate::app::worker::protocol::{ExportFormat, Outcome, PtqView};
use crate::experiment::layerwise::LayerwiseReport;
use crate::experiment::mixed_bit::MixedBitReport;
use crate::experiment::qat::QatReport;
use crate::experiment::spec::FILE_MODEL;
use crate::experiment::sweep::SweepReport;
use crate::experiment::Experiment;
use crate::app::worker::FileBytes;
use crate::model::ModelOutline;
use crate::share::view::{join_query, split_view, View};
use crate::share::{page_hash, Page};

/// A model file the user loaded (it stays loaded until another one reads): a snapshot of its
/// bytes, which travels with every run, and the architecture the worker read from them.
#[derive(Debug, PartialEq, Eq)]
pub struct LoadedModel {
    pub name: String,
    pub file: FileBytes,
    pub sidecar: Option<String>,
    pub outline: Rc<ModelOutline>,
}

/// The per-layer settings of a link made on a model file (`model=file`), opened before that file
/// is loaded: they name the file's layers, not the built-in model's shown meanwhile, so they wait
/// for the file and are checked against its layers then.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingLayers {
    pub skip: Vec<String>,
    pub layer_bits: BTreeMap<String, u8>,
}

/// The notice of a link made on a model file, opened before that file is loaded.
const FILE_LINK_NOTICE: &str = "The link names a model file, which cannot travel in a link: showing the built-in MLP; load the file to use it";

/// A dropped model file the worker is reading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelRead {
    pub name: String,
    pub file: FileBytes,
}

/// What a Model-page job is for: the experiment it runs (its result is kept with it).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelJob {
    pub exp: Rc<Experiment>,
}

/// A result and the experiment it came from.
#[derive(Debug, PartialEq)]
pub struct Done<T> {
    pub exp: Experiment,
    pub report: T,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Results {
    pub ptq: Option<Rc<Done<PtqView>>>,
    pub layerwise: Option<Rc<Done<LayerwiseReport>>>,
    pub sweep: Option<Rc<Done<SweepReport>>>,
    pub mixed_bit: Option<Rc<Done<MixedBitReport>>>,
    pub qat: Option<Rc<Done<QatReport>>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ModelState {
    pub exp: Experiment,
    pub view: View,
    /// Messages about a link that could not be read in full, and other one-off notes.
    pub notices: Vec<String>,
    pub file: Option<Rc<LoadedModel>>,
    /// Why the last file could not be read (the previous model stays).
    pub file_error: Option<String>,
    /// The worker reading a dropped file.
    pub reading: JobState<ModelRead>,
    pub job: JobState<ModelJob>,
    /// The export of the quantized model, a job of its own (a run and an export can overlap).
    pub export: JobState<ExportFormat>,
    /// The name of the last file the export wrote.
    pub exported: Option<String>,
    pub results: Results,
    /// The file read last replaced a file whose PTQ result was fast ([`LIVE_RERUN_MS`]): its
    /// model runs by itself, as a file read after a built-in model's fast result does (that
    /// result stays, of other settings, until the run replaces it; another file's goes at once).
    pub follow_file: bool,
    /// A file link's per-layer settings, waiting for its file.
    pub pending_layers: Option<PendingLayers>,
}

/// A PTQ run that took less than this re-runs by itself when a setting changes (ms): about
/// 2 s, so that a busy machine still follows the settings live.
pub const LIVE_RERUN_MS: f64 = 2000.0;

impl Results {
    /// Whether the PTQ result (if any) was fast enough to follow the settings live.
    pub fn ptq_is_fast(&self) -> bool {
        self.ptq.as_ref().is_some_and(|r| r.report.millis < LIVE_RERUN_MS)
    }
}

impl Default for ModelState {
    fn default() -> ModelState {
        ModelState {
            exp: Experiment::default(),
            view: View::default(),
            notices: Vec::new(),
            file: None,
            file_error: None,
            reading: JobState::Idle,
            job: JobState::Idle,
            export: JobState::Idle,
            exported: None,
            results: Results::default(),
            follow_file: false,
            pending_layers: None,
        }
    }
}

pub enum ModelAction {
    /// Any change to the experiment (a control's edit).
    Edit(Rc<dyn Fn(&mut Experiment)>),
    /// Settings read from the link's query.
    FromQuery(String),
    /// A file the page could not hand to the worker.
    FileError(String),
    /// The worker's job reading a dropped file: the model's architecture, or why not.
    Read(JobUpdate<ModelRead>),
    /// Back to the built-in model.
    UseBuiltin(String),
    /// The run's job in the worker.
    Job(JobUpdate<ModelJob>),
    /// The export's job in the worker.
    Export(JobUpdate<ExportFormat>),
    DismissNotices,
}

impl ModelAction {
    pub fn edit(f: impl Fn(&mut Experiment) + 'static) -> ModelAction {
        ModelAction::Edit(Rc::new(f))
    }
}

impl ModelState {
    /// The state a link opens: its experiment, hidden / locked controls and notices. A link that
    /// names a model file opens on `file`, the one this tab has loaded (Back to a run on it), if
    /// any; else on the built-in MLP, with a notice.
    pub fn from_query(query: &str, file: Option<&LoadedModel>) -> ModelState {
        let (mut view, rest) = split_view(query);
        let (mut exp, mut notices) = crate::share::experiment::from_query(&rest);
        notices.extend(view.keep_known(crate::share::view::MODEL_VIEW_KEYS));
        if crate::share::experiment::too_long(&rest) {
            notices.extend(crate::share::view::set_aside(&mut view));
        }
        let mut pending_layers = None;
        let layers = match file {
            Some(f) if exp.model == FILE_MODEL => f.outline.quantizable(),
            _ => {
                if exp.model == FILE_MODEL {
                    let pending = PendingLayers { skip: std::mem::take(&mut exp.ptq.skip), layer_bits: std::mem::take(&mut exp.ptq.layer_bits) };
                    let waits = !pending.skip.is_empty() || !pending.layer_bits.is_empty();
                    notices.push(match waits {
                        true => format!("{FILE_LINK_NOTICE}; its per-layer settings (ptq.skip, ptq.layer_bits) wait for it."),
                        false => format!("{FILE_LINK_NOTICE}."),
                    });
                    pending_layers = Some(pending).filter(|_| waits);
                    exp.model = Experiment::default().model;
                }
                crate::experiment::spec::builtin_architecture(&exp.model).quantizable()
            }
        };
        notices.extend(crate::share::experiment::drop_unknown_layers(&mut exp, &layers));
        ModelState { exp, view, notices, pending_layers, ..ModelState::default() }
    }

    /// The link of this state: the experiment, and the teacher's view.
    pub fn to_hash(&self) -> String {
        page_hash(Page::Model, &join_query(&crate::share::experiment::to_query(&self.exp), &self.view))
    }

    /// The job running now, if any.
    pub fn running_job(&self) -> Option<u32> {
        self.job.running_id()
    }
}

impl Reducible for ModelState {
    type Action = ModelAction;

    fn reduce(self: Rc<Self>, action: ModelAction) -> Rc<Self> {
        let mut next = (*self).clone();
        match action {
            ModelAction::Edit(edit) => {
                edit(&mut next.exp);
                // A built-in model brings its own dataset.
                if let Some(d) = Experiment::builtin_dataset(&next.exp.model) {
                    next.exp.dataset = d.to_string();
                }
                next.exp.fit_sizes_to_dataset();
            }
            ModelAction::FromQuery(query) => {
                let read = ModelState::from_query(&query, self.file.as_deref());
                if crate::share::experiment::to_query(&read.exp) != crate::share::experiment::to_query(&next.exp) {
                    next.exp = read.exp;
                }
                // The page's own link coming back keeps the notices of the link it was opened
                // with; any other link replaces them (an empty list when it reads cleanly).
                if query != crate::share::query_of(&self.to_hash()) {
                    next.notices = read.notices;
                    next.pending_layers = read.pending_layers;
                }
                next.view = read.view;
            }
            ModelAction::Read(update) => match next.reading.apply(update) {
                Applied::Finished(ModelRead { name, file }, Outcome::Model(outline)) => {
                    // Results of another file read as those of this one (both are `model = "file"`,
                    // so they would not even be marked stale): they go.
                    next.follow_file = next.exp.model == FILE_MODEL && next.results.ptq_is_fast();
                    if next.exp.model == FILE_MODEL {
                        next.results = Results::default();
                    }
                    next.file = Some(Rc::new(LoadedModel { name, file, sidecar: None, outline: Rc::new(*outline) }));
                    next.file_error = None;
                    next.exp.model = FILE_MODEL.into();
                    next.exp.ptq.skip.clear();
                    next.exp.ptq.layer_bits.clear();
                    // A file link's per-layer settings apply to the first file read after it,
                    // as far as its layers go; the notice that they wait is answered.
                    if let Some(p) = next.pending_layers.take() {
                        next.exp.ptq.skip = p.skip;
                        next.exp.ptq.layer_bits = p.layer_bits;
                        let layers = next.file.as_ref().map(|f| f.outline.quantizable()).unwrap_or_default();
                        next.notices.retain(|n| !n.starts_with(FILE_LINK_NOTICE));
                        next.notices.extend(crate::share::experiment::drop_unknown_layers(&mut next.exp, &layers));
                    }
                }
                Applied::Finished(ModelRead { name, .. }, _) => next.file_error = Some(format!("{name}: the worker answered something other than the model")),
                // A new file's reading: the message about the one before goes.
                Applied::Started(_) => next.file_error = None,
                // A Cancel is the user's own choice, not a failure: the page says so from
                // `reading` itself, as a note.
                _ => {
                    if let JobState::Failed { message, .. } = &next.reading {
                        next.file_error = Some(message.clone());
                    }
                }
            },
            ModelAction::FileError(message) => next.file_error = Some(message),
            ModelAction::UseBuiltin(name) => {
                next.pending_layers = None;
                next.exp.model = name;
                if let Some(d) = Experiment::builtin_dataset(&next.exp.model) {
                    next.exp.dataset = d.to_string();
                }
                next.exp.fit_sizes_to_dataset();
                next.exp.ptq.skip.clear();
                next.exp.ptq.layer_bits.clear();
            }
            ModelAction::Job(update) => match next.job.apply(update) {
                Applied::Finished(ModelJob { exp }, outcome) => {
                    let exp = (*exp).clone();
                    match outcome {
                        Outcome::Ptq(r) => next.results.ptq = Some(Rc::new(Done { exp, report: *r })),
                        Outcome::Layerwise(r) => next.results.layerwise = Some(Rc::new(Done { exp, report: *r })),
                        Outcome::Sweep(r) => next.results.sweep = Some(Rc::new(Done { exp, report: *r })),
                        Outcome::MixedBit(r) => next.results.mixed_bit = Some(Rc::new(Done { exp, report: *r })),
                        Outcome::Qat(r) => next.results.qat = Some(Rc::new(Done { exp, report: *r })),
                        _ => {}
                    }
                }
                Applied::Nothing | Applied::Started(_) | Applied::Streamed(_) => {}
            },
            ModelAction::Export(update) => match next.export.apply(update) {
                Applied::Started(_) => next.exported = None,
                Applied::Finished(_, Outcome::File { name, .. }) => next.exported = Some(name),
                _ => {}
            },
            ModelAction::DismissNotices => next.notices.clear(),
        }
        Rc::new(next)
    }
}

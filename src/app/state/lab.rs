//! The Lab walkthrough's state: the lab's settings (as an experiment, so the
//! link holds them the same way as the Model page's), and each step's result.
//!
//! The lab quantizes the MLP per tensor, asymmetric, with its "normal" (or
//! "clip") method, weights and activations at 8 bits.

use std::rc::Rc;

use yew::Reducible;

use crate::app::worker::protocol::{Outcome, PtqView};
use crate::experiment::layerwise::LayerwiseReport;
use crate::experiment::qat::QatReport;
use crate::app::state::job::{Applied, JobState, JobUpdate};
use crate::experiment::{Experiment, Task};
use crate::ptq::{PtqConfig, WeightGranularity};
use crate::share::view::{join_query, split_view, View};
use crate::share::{page_hash, query_of, Page};

/// The lab's steps, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    Fp32,
    NormalVsClip,
    Ptq,
    Layerwise,
    Qat,
    Table,
}

impl Step {
    pub const ALL: [Step; 6] = [Step::Fp32, Step::NormalVsClip, Step::Ptq, Step::Layerwise, Step::Qat, Step::Table];
}

/// The lab's experiment: the MLP on `dataset`, per-tensor asymmetric W8A8 with the lab's method.
pub fn lab_experiment() -> Experiment {
    Experiment {
        model: "mlp-fashion".into(),
        dataset: "fashion".into(),
        task: Task::Ptq,
        ptq: PtqConfig { granularity: WeightGranularity::PerTensor, weight_symmetric: false, ..PtqConfig::default() },
        ..Experiment::default()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct LabState {
    pub exp: Experiment,
    pub view: View,
    pub notices: Vec<String>,
    pub ptq: Option<Rc<PtqView>>,
    pub layerwise: Option<Rc<LayerwiseReport>>,
    pub qat: Option<Rc<QatReport>>,
    /// The step's job in the worker (its kind is the task it runs).
    pub job: JobState<Task>,
    /// "Run every step" was pressed: the next steps start when one finishes.
    pub run_all: bool,
    /// Counts changes of `exp`: a job reports under the number it started with, and a result
    /// of settings that have changed since (a link opened mid-run) is dropped.
    pub settings: u64,
}

impl Default for LabState {
    fn default() -> LabState {
        LabState {
            exp: lab_experiment(),
            view: View::default(),
            notices: Vec::new(),
            ptq: None,
            layerwise: None,
            qat: None,
            job: JobState::Idle,
            run_all: false,
            settings: 0,
        }
    }
}

pub enum LabAction {
    Edit(Rc<dyn Fn(&mut Experiment)>),
    FromQuery(String),
    /// An update of the job started under `settings` number `.0`.
    Job(u64, JobUpdate<Task>),
    RunAll(bool),
    DismissNotices,
}

impl LabAction {
    pub fn edit(f: impl Fn(&mut Experiment) + 'static) -> LabAction {
        LabAction::Edit(Rc::new(f))
    }
}

impl LabState {
    pub fn from_query(query: &str) -> LabState {
        let (mut view, rest) = split_view(query);
        // Keys the link leaves out keep the lab's own settings (per tensor, asymmetric).
        let (mut exp, mut notices) = crate::share::experiment::from_query_on(&rest, &lab_experiment());
        // The Lab runs the handout's MLP on the chosen dataset, step by step: a link's model or
        // task would be dropped by every step, so it is dropped here, and said.
        let (mlp, base) = (format!("mlp-{}", exp.dataset), lab_experiment());
        if exp.model != mlp && exp.model != base.model {
            notices.push(format!("Ignored model in the link: the Lab runs the handout's MLP ({mlp}; dataset=mnist for mlp-mnist); the Model page runs \"{}\".", exp.model));
            exp.model = base.model;
        }
        if exp.task != Task::Ptq {
            notices.push(format!("Ignored task in the link: the Lab runs its steps in order (PTQ, layer by layer, QAT); the Model page runs \"{}\" on its own.", exp.task.name()));
            exp.task = Task::Ptq;
        }
        let layers = crate::experiment::spec::builtin_architecture(&exp.model).quantizable();
        notices.extend(crate::share::experiment::drop_unknown_layers(&mut exp, &layers));
        notices.extend(view.keep_known(crate::share::view::LAB_VIEW_KEYS));
        if crate::share::experiment::too_long(&rest) {
            notices.extend(crate::share::view::set_aside(&mut view));
        }
        LabState { exp, view, notices, ..LabState::default() }
    }

    /// The link of this state: the lab's settings, and the teacher's view.
    pub fn to_hash(&self) -> String {
        page_hash(Page::Lab, &join_query(&crate::share::experiment::to_query_on(&self.exp, &lab_experiment()), &self.view))
    }

    /// The experiment of a task, from the lab's settings.
    pub fn task_experiment(&self, task: Task) -> Experiment {
        let mut e = self.exp.clone();
        e.task = task;
        e.model = format!("mlp-{}", e.dataset);
        e
    }

    /// Results of other settings no longer describe this lab, and "Run every step" stops.
    fn settings_changed(&mut self) {
        self.settings += 1;
        self.ptq = None;
        self.layerwise = None;
        self.qat = None;
        self.run_all = false;
    }

    /// The next task "Run every step" still has to do.
    pub fn next_missing(&self) -> Option<Task> {
        if self.ptq.is_none() {
            Some(Task::Ptq)
        } else if self.layerwise.is_none() {
            Some(Task::Layerwise)
        } else if self.qat.is_none() {
            Some(Task::Qat)
        } else {
            None
        }
    }
}

impl Reducible for LabState {
    type Action = LabAction;

    fn reduce(self: Rc<Self>, action: LabAction) -> Rc<Self> {
        let mut next = (*self).clone();
        match action {
            LabAction::Edit(f) => {
                f(&mut next.exp);
                next.exp.model = format!("mlp-{}", next.exp.dataset);
                next.exp.fit_sizes_to_dataset();
                next.settings_changed();
            }
            LabAction::FromQuery(q) => {
                let read = LabState::from_query(&q);
                if read.exp != next.exp {
                    next.settings_changed();
                    next.exp = read.exp;
                }
                // The page's own link coming back keeps the notices of the link it was opened
                // with; any other link replaces them (an empty list when it reads cleanly).
                if q != query_of(&self.to_hash()) {
                    next.notices = read.notices;
                }
                next.view = read.view;
            }
            LabAction::Job(settings, update) => match next.job.apply(update) {
                // A run of earlier settings ends, but its result does not describe this lab.
                Applied::Finished(..) if settings != next.settings => next.run_all = false,
                Applied::Finished(_, outcome) => {
                    match outcome {
                        Outcome::Ptq(r) => next.ptq = Some(Rc::new(*r)),
                        Outcome::Layerwise(r) => next.layerwise = Some(Rc::new(*r)),
                        Outcome::Qat(r) => next.qat = Some(Rc::new(*r)),
                        _ => {}
                    }
                    if next.next_missing().is_none() {
                        next.run_all = false;
                    }
                }
                // A failed or cancelled step stops "Run every step".
                _ if matches!(next.job, JobState::Failed { .. } | JobState::Cancelled { .. }) => next.run_all = false,
                _ => {}
            },
            LabAction::RunAll(on) => next.run_all = on,
            LabAction::DismissNotices => next.notices.clear(),
        }
        Rc::new(next)
    }
}

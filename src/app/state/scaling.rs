//! The Benchmark page's worker scaling: one job (a sweep of the built-in Fashion-MNIST MLP, a
//! PTQ run of the CNN, the mixed-bit search), run on 1, 2, 4 … workers of the pool and timed
//! from the page (the time a user waits, messages included), with every merged report compared
//! to the one-worker report. An untimed warm-up on
//! every worker comes first (it loads the wasm, the model, the images and the FP32 baseline into
//! each), then rounds of one trial per worker count; the table gives each count's median.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

use yew::Reducible;

use crate::app::state::job::{Applied, JobState, JobUpdate};
use crate::app::worker::protocol::Outcome;
use crate::experiment::spec::SweepSettings;
use crate::experiment::{Experiment, Task};
use crate::ptq::WeightGranularity;
use crate::quant::calibration::CalibrationKind;
use crate::stats::quantile_sorted;

/// Timed trials per worker count.
pub const ROUNDS: usize = 3;

/// The job that is timed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Bits 2–8 × per-tensor / per-channel × min-max, on 2,000 test images: 14 cells.
    Quick,
    /// Bits 2–8 × per-tensor / per-channel × min-max, KL and MSE, on the 10,000 test images: 42 cells.
    Full,
    /// W8A8 PTQ of the Fashion-MNIST CNN on the integer engine, evaluated on 10,000 images (20 batches).
    PtqCnn,
    /// The mixed-bit search of the MLP, every candidate evaluated on the 10,000 images.
    MixedBit,
}

/// Every workload, in the order the page lists them.
pub const WORKLOADS: [Workload; 4] = [Workload::Quick, Workload::Full, Workload::PtqCnn, Workload::MixedBit];

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Quick => "quick",
            Workload::Full => "full",
            Workload::PtqCnn => "ptq-cnn",
            Workload::MixedBit => "mixed-bit",
        }
    }

    pub fn from_name(s: &str) -> Option<Workload> {
        WORKLOADS.into_iter().find(|w| w.name() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Workload::Quick => "sweep: bits 2–8 × per-tensor / per-channel × min-max, 2,000 images (14 cells)",
            Workload::Full => "sweep: bits 2–8 × per-tensor / per-channel × min-max / KL / MSE, 10,000 images (42 cells)",
            Workload::PtqCnn => "PTQ of the CNN, W8A8 on the integer engine, 10,000 images (20 batches)",
            Workload::MixedBit => "mixed-bit search of the MLP, each candidate on 10,000 images",
        }
    }

    /// The experiment each trial runs.
    pub fn experiment(self) -> Experiment {
        match self {
            Workload::PtqCnn => return Experiment { model: "cnn-fashion".into(), task: Task::Ptq, ..Experiment::default() },
            Workload::MixedBit => return Experiment { task: Task::MixedBit, ..Experiment::default() },
            Workload::Quick | Workload::Full => {}
        }
        let calibrations = match self {
            Workload::Full => vec![CalibrationKind::MinMax, CalibrationKind::Kl, CalibrationKind::Mse],
            _ => vec![CalibrationKind::MinMax],
        };
        Experiment {
            task: Task::Sweep,
            eval_size: if self == Workload::Quick { 2000 } else { 0 },
            sweep: SweepSettings { bits: (2..=8).collect(), granularities: vec![WeightGranularity::PerTensor, WeightGranularity::PerChannel], calibrations },
            ..Experiment::default()
        }
    }
}

/// One run of the sweep.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Trial {
    pub workers: usize,
    /// Loads everything into every worker; not timed.
    pub warmup: bool,
    /// `performance.now()` when it was sent (ms).
    pub started_ms: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ScalingState {
    pub workload: Workload,
    pub job: JobState<Trial>,
    /// The trials still to run, in order: (workers, warm-up).
    pub plan: VecDeque<(usize, bool)>,
    /// The timed trials' times (ms) per worker count.
    pub times: BTreeMap<usize, Vec<f64>>,
    /// The one-worker report every other run is compared to (as JSON, its timings left out).
    pub reference: Option<Rc<String>>,
    /// Worker counts whose report differed from the one-worker report.
    pub differs: BTreeSet<usize>,
}

impl Default for ScalingState {
    fn default() -> ScalingState {
        ScalingState { workload: Workload::Quick, job: JobState::Idle, plan: VecDeque::new(), times: BTreeMap::new(), reference: None, differs: BTreeSet::new() }
    }
}

/// One row of the result: workers, median time (ms), speed-up against one worker, same report.
#[derive(Clone, Debug, PartialEq)]
pub struct ScalingRow {
    pub workers: usize,
    pub median_ms: f64,
    pub speedup: Option<f64>,
    pub identical: bool,
}

pub enum ScalingAction {
    SetWorkload(Workload),
    /// Plans a measurement on a pool of this many workers: 1, 2, 4 … and the pool's size.
    Start { pool: usize },
    /// A trial's job, with `performance.now()` when the update arrived.
    Job(JobUpdate<Trial>, f64),
}

/// The worker counts measured on a pool of `pool`: powers of two, and the pool's size.
pub fn counts(pool: usize) -> Vec<usize> {
    let mut c: Vec<usize> = std::iter::successors(Some(1usize), |n| n.checked_mul(2)).take_while(|&n| n < pool).collect();
    c.push(pool.max(1));
    c
}

/// A trial's report as JSON, without its timing, to compare with the one-worker report.
fn report_json(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Sweep(r) => serde_json::to_string(r).ok(),
        Outcome::Ptq(v) => serde_json::to_string(&v.report).ok(),
        Outcome::MixedBit(r) => serde_json::to_string(r).ok(),
        _ => None,
    }
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    quantile_sorted(&v, 0.5)
}

impl ScalingState {
    pub fn running(&self) -> bool {
        self.job.is_running() || !self.plan.is_empty()
    }

    /// The table so far.
    pub fn rows(&self) -> Vec<ScalingRow> {
        let one = self.times.get(&1).map(|t| median(t));
        self.times
            .iter()
            .map(|(&workers, t)| {
                let median_ms = median(t);
                ScalingRow { workers, median_ms, speedup: one.map(|o| o / median_ms), identical: !self.differs.contains(&workers) }
            })
            .collect()
    }
}

impl Reducible for ScalingState {
    type Action = ScalingAction;

    fn reduce(self: Rc<Self>, action: ScalingAction) -> Rc<Self> {
        let mut next = (*self).clone();
        match action {
            ScalingAction::SetWorkload(w) => {
                if !next.running() {
                    next = ScalingState { workload: w, ..ScalingState::default() };
                }
            }
            ScalingAction::Start { pool } => {
                let counts = counts(pool);
                next = ScalingState { workload: next.workload, ..ScalingState::default() };
                next.plan.push_back((pool, true));
                for _ in 0..ROUNDS {
                    next.plan.extend(counts.iter().map(|&n| (n, false)));
                }
            }
            ScalingAction::Job(update, now_ms) => match next.job.apply(update) {
                Applied::Started(_) => {
                    next.plan.pop_front();
                }
                Applied::Finished(trial, outcome) => match report_json(&outcome) {
                    Some(report) if !trial.warmup => {
                        next.times.entry(trial.workers).or_default().push(now_ms - trial.started_ms);
                        match &next.reference {
                            None if trial.workers == 1 => next.reference = Some(Rc::new(report)),
                            Some(r) if **r != report => {
                                next.differs.insert(trial.workers);
                            }
                            _ => {}
                        }
                    }
                    Some(_) => {}
                    None => next.job = JobState::Failed { kind: trial, message: "a worker answered something other than the workload's report".into() },
                },
                _ => {}
            },
        }
        // A failed or cancelled trial ends the measurement.
        if matches!(next.job, JobState::Failed { .. } | JobState::Cancelled { .. }) {
            next.plan.clear();
        }
        Rc::new(next)
    }
}

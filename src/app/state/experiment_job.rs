//! An experiment as one job on the pool of workers: every task but QAT is split into shards
//! (a PTQ run's batches of test images, the layer-by-layer models, a sweep's cells, the mixed-bit
//! candidates: `crate::experiment::shard`), one per worker, and the shards' reports are merged
//! into the one-run report, figure for figure.

use yew::Callback;

use super::job::{self, JobUpdate};
use crate::app::worker::host::SharedWorker;
use crate::app::worker::FileBytes;
use crate::app::worker::protocol::{ModelSource, Outcome, PtqView, Request};
use crate::experiment::layerwise::LayerwiseReport;
use crate::experiment::mixed_bit::MixedBitReport;
use crate::experiment::shard::Shard;
use crate::experiment::spec::SweepSettings;
use crate::experiment::sweep::SweepReport;
use crate::experiment::{Experiment, Task};

/// Runs `exp` as one job shared among `workers` workers of the pool (a shard each; one worker,
/// or QAT: the whole job on the first), merged into the one-run report. Returns the job's id.
pub fn run<K: 'static>(
    worker: &SharedWorker,
    exp: &Experiment,
    source: &ModelSource,
    file: Option<&FileBytes>,
    workers: usize,
    kind: K,
    updates: Callback<JobUpdate<K>>,
) -> u32 {
    if workers <= 1 || exp.task == Task::Qat {
        return job::run(worker, Request::Run { exp: exp.clone(), model: source.clone(), shard: Shard::ALL }, file, kind, updates);
    }
    let parts = (0..workers).map(|index| Request::Run { exp: exp.clone(), model: source.clone(), shard: Shard { index, count: workers } }).collect();
    let settings = exp.sweep.clone();
    job::run_split(worker, parts, file, kind, move |parts| merge(parts, &settings), updates)
}

/// The parts' reports of one kind (`pick` returns None for any other outcome).
pub fn reports<T>(parts: Vec<Outcome>, pick: impl Fn(Outcome) -> Option<T>) -> Result<Vec<T>, String> {
    parts.into_iter().map(|o| pick(o).ok_or_else(|| "the workers answered different tasks".to_string())).collect()
}

/// The outcome of one run from its shards' (in shard order), all of one task.
fn merge(parts: Vec<Outcome>, sweep: &SweepSettings) -> Result<Outcome, String> {
    match parts.first() {
        Some(Outcome::Sweep(_)) => {
            let r = reports(parts, |o| if let Outcome::Sweep(r) = o { Some(*r) } else { None })?;
            Ok(Outcome::Sweep(Box::new(SweepReport::merge(r, sweep)?)))
        }
        Some(Outcome::Ptq(_)) => {
            let r = reports(parts, |o| if let Outcome::Ptq(r) = o { Some(*r) } else { None })?;
            Ok(Outcome::Ptq(Box::new(PtqView::merge(r)?)))
        }
        Some(Outcome::Layerwise(_)) => {
            let r = reports(parts, |o| if let Outcome::Layerwise(r) = o { Some(*r) } else { None })?;
            Ok(Outcome::Layerwise(Box::new(LayerwiseReport::merge(r)?)))
        }
        Some(Outcome::MixedBit(_)) => {
            let r = reports(parts, |o| if let Outcome::MixedBit(r) = o { Some(*r) } else { None })?;
            Ok(Outcome::MixedBit(Box::new(MixedBitReport::merge(r)?)))
        }
        Some(_) => Err("this task is not shared among workers".into()),
        None => Err("no worker reported".into()),
    }
}

//! A job in the worker, the same way on every page: one state type ([`JobState`]), one way to
//! start a job ([`run`]), and one reducer step ([`JobState::apply`]) that every page's reducer
//! calls with the [`JobUpdate`]s `run` dispatches.
//!
//! `run` hands the job's id to every update, so a page never needs to know the id before the
//! worker host returns it. A job ends in exactly one of: `Done` (its outcome goes back to the
//! page's reducer), `Failed` (the worker's message, or why the worker stopped: the host then
//! starts a fresh worker for the next job, and the page keeps everything it holds), or
//! `Cancelled` (the user's choice, typed, shown as a neutral note rather than an error).
//! Updates of a job that is no longer the page's current one are ignored.

use yew::Callback;

use crate::app::download::download_bytes;
use crate::app::worker::host::SharedWorker;
use crate::app::worker::FileBytes;
use crate::app::worker::protocol::{Event, Outcome, Request};
use crate::experiment::Progress;

/// A download the worker is doing for the job: what, bytes done, bytes in all (0: unknown).
pub type Loading = (String, u64, u64);

/// A job that is running, and what the page started it for (`kind`).
#[derive(Clone, Debug, PartialEq)]
pub struct Job<K> {
    pub id: u32,
    pub kind: K,
    pub progress: Option<Progress>,
    pub loading: Option<Loading>,
}

impl<K> Job<K> {
    /// The stage, steps done, steps in all and latest value, for the progress bar.
    pub fn stage(&self) -> (String, usize, usize, Option<f64>) {
        self.progress.as_ref().map_or(("starting".to_string(), 0, 1, None), |p| (p.stage.clone(), p.done, p.total, p.value))
    }

    /// What the worker is doing with a dropped file: "Reading X in the worker… ", or, while the
    /// worker finishes another page's job first, that it waits to ([`crate::app::worker::host::WAITING`]).
    pub fn reading_file(&self, name: &str) -> String {
        match &self.progress {
            Some(p) if p.stage == crate::app::worker::host::WAITING => format!("Waiting to read {name}: the worker is finishing another page's job… "),
            _ => format!("Reading {name} in the worker… "),
        }
    }
}

/// Where a page's job stands.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum JobState<K> {
    #[default]
    Idle,
    Running(Job<K>),
    /// The job failed: the worker's message, or why the worker stopped.
    Failed { kind: K, message: String },
    /// The user cancelled the job.
    Cancelled { kind: K },
}

/// What `run` tells a page's reducer about job `id`.
#[derive(Clone, Debug, PartialEq)]
pub struct JobUpdate<K> {
    pub id: u32,
    pub change: Change<K>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Change<K> {
    /// The job was sent, for `kind`.
    Started(K),
    /// The worker's event (or the host's: `Cancelled`, a worker that stopped).
    Event(Event),
}

/// What applying an update leaves for the page to do.
#[derive(Debug, PartialEq)]
pub enum Applied<K> {
    /// Nothing more (the job state has changed, or the update was for another job).
    Nothing,
    /// The page's job started: pages that prepare something for it (a generation's columns) do so.
    Started(K),
    /// The page's job finished with this outcome.
    Finished(K, Outcome),
    /// An event of the page's running job that only the page understands (benchmark lines, tokens).
    Streamed(Event),
}

impl<K: Clone> JobState<K> {
    /// The running job, if any.
    pub fn running(&self) -> Option<&Job<K>> {
        match self {
            JobState::Running(job) => Some(job),
            _ => None,
        }
    }

    /// The id of the running job, if any.
    pub fn running_id(&self) -> Option<u32> {
        self.running().map(|j| j.id)
    }

    pub fn is_running(&self) -> bool {
        self.running().is_some()
    }

    /// The running job when it is job `id`.
    fn current(&mut self, id: u32) -> Option<&mut Job<K>> {
        match self {
            JobState::Running(job) if job.id == id => Some(job),
            _ => None,
        }
    }

    /// Applies an update to this state. A job that is not the current one changes nothing
    /// (a job replaced by a newer one may still report).
    pub fn apply(&mut self, update: JobUpdate<K>) -> Applied<K> {
        let id = update.id;
        let event = match update.change {
            Change::Started(kind) => {
                *self = JobState::Running(Job { id, kind: kind.clone(), progress: None, loading: None });
                return Applied::Started(kind);
            }
            Change::Event(event) => event,
        };
        let Some(job) = self.current(id) else { return Applied::Nothing };
        match event {
            Event::Loading { what, done, total } => job.loading = Some((what, done, total)),
            Event::Progress(p) => {
                job.loading = None;
                job.progress = Some(p);
            }
            Event::Done(outcome) => {
                let kind = job.kind.clone();
                *self = JobState::Idle;
                return Applied::Finished(kind, outcome);
            }
            Event::Failed(message) => *self = JobState::Failed { kind: job.kind.clone(), message },
            Event::Cancelled => *self = JobState::Cancelled { kind: job.kind.clone() },
            streamed @ (Event::BenchLines { .. } | Event::LmTokens { .. } | Event::LmModelMissing) => return Applied::Streamed(streamed),
        }
        Applied::Nothing
    }
}

/// Sends `request` (with a file, if any) to the worker for `kind`, and dispatches
/// every update of the job, starting with `Started`. A file the job writes (`Outcome::File`) is
/// handed to the browser's download before `Done` is dispatched; a download the browser refuses
/// fails the job with the reason.
pub fn run<K: 'static>(worker: &SharedWorker, request: Request, file: Option<&FileBytes>, kind: K, dispatch: Callback<JobUpdate<K>>) -> u32 {
    let d = dispatch.clone();
    let id = worker.0.submit(request, file, move |id, event, reply_bytes| {
        let event = match (event, reply_bytes) {
            (Event::Done(Outcome::File { name, mime }), Some(b)) => match download_bytes(&name, &mime, &b) {
                Ok(()) => Event::Done(Outcome::File { name, mime }),
                Err(e) => Event::Failed(format!("the browser refused the download of {name}: {e}")),
            },
            (Event::Done(Outcome::File { name, .. }), None) => Event::Failed(format!("the worker wrote {name}, but its bytes did not arrive")),
            (Event::Done(Outcome::TensorView { parts, .. }), Some(bytes)) => Event::Done(Outcome::TensorView { parts, bytes }),
            (Event::Done(Outcome::Tensors { tensors, chosen, cannot_show, file_note, .. }), Some(bytes)) => Event::Done(Outcome::Tensors { tensors, chosen, cannot_show, file_note, bytes }),
            (event, _) => event,
        };
        d.emit(JobUpdate { id, change: Change::Event(event) });
    });
    // The host only calls back after `submit` has returned (a worker that cannot start fails the
    // job a moment later), so Started always comes first.
    dispatch.emit(JobUpdate { id, change: Change::Started(kind) });
    id
}

/// What merging the parts of one stage of a shared job gives: the job's outcome, or the parts of
/// its next stage (which need the results of this one) and how to merge those.
pub enum Merged {
    Done(Outcome),
    Next(Vec<Request>, MergeFn),
    /// The parts agree but the job's own answer is an error (a search target no candidate
    /// meets): the message as the one-worker job gives it.
    Failed(String),
}

/// Merges one stage's outcomes (in the order of its parts).
pub type MergeFn = Box<dyn Fn(Vec<Outcome>) -> Result<Merged, String>>;

/// The parts of a job shared among workers, as they come in.
struct Split {
    /// The job's id for the page: its first part's.
    id: u32,
    progress: Vec<Option<Progress>>,
    /// Each part's download in flight, if any (a part's progress ends it).
    loading: Vec<Option<Loading>>,
    outcomes: Vec<Option<Outcome>>,
    /// The job has ended (done, failed or cancelled): later events of its parts are ignored.
    ended: bool,
    /// The current stage's parts' ids, in order.
    parts: Vec<u32>,
    /// How to merge the current stage.
    merge: Option<MergeFn>,
    /// The file every part gets, if any.
    file: Option<FileBytes>,
}

type Shared = std::rc::Rc<std::cell::RefCell<Split>>;

/// The parts' downloads in flight as one bar: bytes done and bytes in all summed over the parts
/// (in all unknown, 0, if any part's is), each download named once, and how many workers
/// download when more than one does. None when no part downloads.
pub fn combined_loading(parts: &[Option<Loading>]) -> Option<Loading> {
    let seen: Vec<&Loading> = parts.iter().flatten().collect();
    if seen.is_empty() {
        return None;
    }
    let mut names: Vec<&str> = Vec::new();
    for (what, _, _) in &seen {
        if !names.contains(&what.as_str()) {
            names.push(what);
        }
    }
    let what = match seen.len() {
        1 => names.join(", "),
        m => format!("{}, on {m} workers", names.join(", ")),
    };
    let done = seen.iter().map(|l| l.1).fold(0u64, u64::saturating_add);
    let total = if seen.iter().any(|l| l.2 == 0) { 0 } else { seen.iter().map(|l| l.2).fold(0u64, u64::saturating_add) };
    Some((what, done, total))
}

/// Runs `parts` (each with the same file, if any) as one job on as many workers of the
/// pool, part k on worker k (modulo the pool's size), and dispatches
/// their updates as one job's: progress summed over the parts, the first failure (or Cancel)
/// ends it, and when every part is done `merge` gets their outcomes in the order of `parts`.
/// The job's id is its first part's.
pub fn run_split<K: 'static>(
    worker: &SharedWorker,
    parts: Vec<Request>,
    file: Option<&FileBytes>,
    kind: K,
    merge: impl Fn(Vec<Outcome>) -> Result<Outcome, String> + 'static,
    dispatch: Callback<JobUpdate<K>>,
) -> u32 {
    run_stages(worker, parts, file, kind, Box::new(move |o| merge(o).map(Merged::Done)), dispatch)
}

/// [`run_split`] for a job in stages: when a stage's parts are all done, `merge` either ends the
/// job or gives the next stage's parts, which go to the workers in the same way (the page sees
/// one job throughout, with the first part's id).
pub fn run_stages<K: 'static>(worker: &SharedWorker, parts: Vec<Request>, file: Option<&FileBytes>, kind: K, merge: MergeFn, dispatch: Callback<JobUpdate<K>>) -> u32 {
    if parts.is_empty() {
        // Nothing to send: the job fails at once (as job 0, which no worker ever runs).
        dispatch.emit(JobUpdate { id: 0, change: Change::Started(kind) });
        dispatch.emit(JobUpdate { id: 0, change: Change::Event(Event::Failed("a shared job with no parts".into())) });
        return 0;
    }
    let split = Split { id: 0, progress: vec![], loading: vec![], outcomes: vec![], ended: false, parts: vec![], merge: None, file: file.cloned() };
    let split: Shared = std::rc::Rc::new(std::cell::RefCell::new(split));
    submit_stage(worker, &split, parts, merge, &dispatch);
    let id = split.borrow().parts[0];
    split.borrow_mut().id = id;
    dispatch.emit(JobUpdate { id, change: Change::Started(kind) });
    id
}

/// Sends one stage's parts (at least one) and handles their events.
fn submit_stage<K: 'static>(worker: &SharedWorker, split: &Shared, parts: Vec<Request>, merge: MergeFn, dispatch: &Callback<JobUpdate<K>>) {
    let n = parts.len();
    {
        let mut s = split.borrow_mut();
        s.progress = vec![None; n];
        s.loading = vec![None; n];
        s.outcomes = (0..n).map(|_| None).collect();
        s.parts.clear();
        s.merge = Some(merge);
    }
    let file = split.borrow().file.clone();
    for (k, request) in parts.into_iter().enumerate() {
        let (shared, d, host) = (split.clone(), dispatch.clone(), worker.clone());
        // Every part is filed under the job's id (its first part's), which a Cancel names.
        let root = match (split.borrow().id, split.borrow().parts.first()) {
            (0, first) => first.copied(),
            (id, _) => Some(id),
        };
        let part_id = worker.0.submit_part(root, k, request, file.as_ref(), move |part, event, _| {
            let mut s = shared.borrow_mut();
            if s.ended {
                return;
            }
            let id = s.id;
            // Any other event of a part ends its download.
            if !matches!(event, Event::Loading { .. }) {
                s.loading[k] = None;
            }
            let event = match event {
                Event::Loading { what, done, total } => {
                    s.loading[k] = Some((what, done, total));
                    let Some((what, done, total)) = combined_loading(&s.loading) else { return };
                    Event::Loading { what, done, total }
                }
                Event::Progress(p) => {
                    s.progress[k] = Some(p);
                    // The bar stays on the downloads while any part still downloads (a progress
                    // would clear it, and the next download would draw it again).
                    if s.loading.iter().any(Option::is_some) {
                        return;
                    }
                    let seen: Vec<&Progress> = s.progress.iter().flatten().collect();
                    let stage = seen.first().map_or(String::new(), |p| p.stage.clone());
                    Event::Progress(Progress {
                        stage: if n > 1 { format!("{stage}, on {n} workers") } else { stage },
                        done: seen.iter().map(|p| p.done).sum(),
                        total: seen.iter().map(|p| p.total).sum(),
                        value: None,
                    })
                }
                Event::Done(outcome) => {
                    s.outcomes[k] = Some(outcome);
                    if s.outcomes.iter().any(Option::is_none) {
                        return;
                    }
                    let all = s.outcomes.iter_mut().filter_map(Option::take).collect();
                    let merged = s.merge.take().map_or_else(|| Err("a stage ended twice".to_string()), |m| m(all));
                    match merged {
                        Ok(Merged::Done(outcome)) => {
                            s.ended = true;
                            Event::Done(outcome)
                        }
                        Ok(Merged::Next(next, merge)) if !next.is_empty() => {
                            drop(s);
                            submit_stage(&host, &shared, next, merge, &d);
                            return;
                        }
                        Ok(Merged::Next(..)) => {
                            s.ended = true;
                            Event::Failed("a stage of a shared job with no parts".into())
                        }
                        Ok(Merged::Failed(message)) => {
                            s.ended = true;
                            Event::Failed(message)
                        }
                        Err(e) => {
                            s.ended = true;
                            Event::Failed(format!("the workers' results could not be merged: {e}"))
                        }
                    }
                }
                end if end.ends_job() => {
                    s.ended = true;
                    // A failed part ends the job: the other parts stop rather than hold their
                    // workers (after a Cancel they have stopped already).
                    if !matches!(end, Event::Cancelled) {
                        let others: Vec<u32> = s.parts.iter().copied().filter(|&p| p != part).collect();
                        let (host, id, d2) = (host.clone(), id, d.clone());
                        drop(s);
                        d2.emit(JobUpdate { id, change: Change::Event(end) });
                        host.0.stop_jobs(&others);
                        return;
                    }
                    end
                }
                other => other,
            };
            drop(s);
            d.emit(JobUpdate { id, change: Change::Event(event) });
        });
        split.borrow_mut().parts.push(part_id);
    }
}

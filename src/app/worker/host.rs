//! The page's side of the workers: a pool of `min(navigator.hardwareConcurrency, 8)` Web
//! Workers, each started the first time a job goes to it. It sends [`Job`]s, routes each
//! [`Reply`] to the callback of its job, and cancels by terminating the workers (the next job
//! starts fresh ones), which stops any computation at once. Jobs go to worker 0 (which keeps
//! what the pages loaded into it, such as a user's language model) unless a job shared among
//! workers names another (`crate::app::state::job::run_split`).
//!
//! A worker that dies (an uncaught error or a wasm trap: a panic, an out-of-memory) fails every
//! job it held with a message that says so and is replaced by a fresh one at the next job; the
//! page keeps everything it holds (models, settings, results). A reply that cannot be read fails
//! its job instead of leaving it waiting forever.
//!
//! Each worker is given one job at a time: the others wait here, in the order they came, and
//! their pages are told so ([`WAITING`]). A page's Cancel ([`WorkerHost::cancel`]) takes its
//! waiting jobs off the queue and stops only the workers running its own job, so no other page's
//! job is lost.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{ErrorEvent, MessageEvent, Worker};

use super::protocol::{Event, Job, Reply, Request};
use super::FileBytes;
use crate::experiment::Progress;

/// The worker's script, made by trunk from `src/bin/qplay-worker.rs` (`data-loader-shim`).
pub const WORKER_URL: &str = "qplay-worker_loader.js";

type Listener = Rc<dyn Fn(u32, Event, Option<Vec<u8>>)>;
/// Messages waiting for the worker to be ready (`None` once it is).
type Queue = Rc<RefCell<Option<Vec<JsValue>>>>;

/// A job waiting for its end.
struct Pending {
    /// The worker it goes to.
    slot: usize,
    /// The job its page knows: its own id, or a shared job's first part's ([`WorkerHost::submit_part`]).
    root: u32,
    on: Listener,
    /// Its message while it waits for its worker to end the job before it (None once sent).
    waiting: Option<JsValue>,
}

/// The stage a job shows while its worker runs another page's job (or another part of a job).
pub const WAITING: &str = "waiting for its worker to finish another job";

/// Every job waiting for its end, by id.
type Listeners = Rc<RefCell<HashMap<u32, Pending>>>;

/// The most workers the pool starts, whatever the browser reports.
pub const MAX_WORKERS: usize = 8;

struct Live {
    worker: Worker,
    /// Set when the worker reported an uncaught error: its state can no longer be trusted.
    dead: Rc<Cell<bool>>,
    /// Messages wait here until the worker says it is ready (its wasm loads asynchronously,
    /// and a message posted before its handler exists would be lost).
    queue: Queue,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(ErrorEvent)>,
}

impl Live {
    /// Terminates the worker. Its handlers are unset first: a message it posted just before
    /// may still be dispatched on the page, and must not reach a closure that is being dropped
    /// ("closure invoked recursively or after being dropped").
    fn stop(self) {
        self.worker.set_onmessage(None);
        self.worker.set_onerror(None);
        self.worker.terminate();
    }
}

pub struct WorkerHost {
    /// The pool: a worker per slot once a job has gone to it.
    slots: Vec<RefCell<Option<Live>>>,
    next_id: Cell<u32>,
    listeners: Listeners,
}

impl Default for WorkerHost {
    fn default() -> WorkerHost {
        let cores = gloo::utils::window().navigator().hardware_concurrency();
        // A browser that reports nothing (or hides it) gets one worker.
        let size = if cores.is_finite() && cores >= 1.0 { (cores as usize).min(MAX_WORKERS) } else { 1 };
        WorkerHost::with_size(size)
    }
}

impl WorkerHost {
    /// A pool of `size` workers (at least one, at most [`MAX_WORKERS`]).
    pub fn with_size(size: usize) -> WorkerHost {
        WorkerHost { slots: (0..size.clamp(1, MAX_WORKERS)).map(|_| RefCell::new(None)).collect(), next_id: Cell::new(0), listeners: Listeners::default() }
    }

    /// How many workers the pool has.
    pub fn size(&self) -> usize {
        self.slots.len()
    }

    fn ensure(&self, slot: usize) -> Result<(Worker, Queue), String> {
        let live = &self.slots[slot];
        if let Some(l) = live.borrow().as_ref().filter(|l| !l.dead.get()) {
            return Ok((l.worker.clone(), l.queue.clone()));
        }
        if let Some(old) = live.borrow_mut().take() {
            old.stop();
        }
        let worker = Worker::new(WORKER_URL).map_err(|e| format!("the worker could not start: {e:?}"))?;
        let listeners = self.listeners.clone();
        let queue: Queue = Rc::new(RefCell::new(Some(Vec::new())));
        let (w2, q2) = (worker.clone(), queue.clone());
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            let data = e.data();
            if Reflect::get(&data, &"ready".into()).ok().and_then(|v| v.as_bool()) == Some(true) {
                for msg in q2.borrow_mut().take().unwrap_or_default() {
                    let _ = post(&w2, &msg);
                }
                return;
            }
            let json = Reflect::get(&data, &"json".into()).ok().and_then(|v| v.as_string()).unwrap_or_default();
            let bytes = super::message_bytes(&data);
            let reply = match serde_json::from_str::<Reply>(&json) {
                Ok(r) => r,
                Err(e) => {
                    // Fail the job the reply names (if it names one), so that it does not wait forever.
                    let id = serde_json::from_str::<serde_json::Value>(&json).ok().and_then(|v| v.get("id")?.as_u64()).and_then(|i| u32::try_from(i).ok());
                    let l = id.and_then(|id| Some((id, listeners.borrow_mut().remove(&id)?.on)));
                    if let Some((id, l)) = l {
                        send_waiting(&listeners, slot, &w2);
                        l(id, Event::Failed(format!("the worker's reply could not be read ({e})")), None);
                    }
                    return;
                }
            };
            let done = reply.event.ends_job();
            let listener = listeners.borrow().get(&reply.id).map(|p| p.on.clone());
            if done {
                listeners.borrow_mut().remove(&reply.id);
                send_waiting(&listeners, slot, &w2);
            }
            if let Some(l) = listener {
                l(reply.id, reply.event, bytes);
            }
        });
        let listeners = self.listeners.clone();
        let dead = Rc::new(Cell::new(false));
        let dead_flag = dead.clone();
        let on_error = Closure::<dyn FnMut(ErrorEvent)>::new(move |e: ErrorEvent| {
            e.prevent_default();
            dead_flag.set(true);
            // The jobs of this worker fail; the other workers' jobs go on.
            for (id, p) in take_jobs_of(&listeners, slot) {
                (p.on)(
                    id,
                    Event::Failed(format!(
                        "the worker stopped ({}); a fresh one starts with the next job, and everything on this page is kept",
                        e.message()
                    )),
                    None,
                );
            }
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        *live.borrow_mut() = Some(Live { worker: worker.clone(), dead, queue: queue.clone(), _on_message: on_message, _on_error: on_error });
        Ok((worker, queue))
    }

    /// Sends a job (with a file, if any) and returns its id; `on` gets the id and every event of the job, the last one
    /// ending it ([`Event::ends_job`]). `on` is only ever called after `submit` has returned.
    pub fn submit(&self, request: Request, file: Option<&FileBytes>, on: impl Fn(u32, Event, Option<Vec<u8>>) + 'static) -> u32 {
        self.submit_to(0, request, file, on)
    }

    /// [`WorkerHost::submit`] to worker `slot` of the pool (taken modulo the pool's size).
    pub fn submit_to(&self, slot: usize, request: Request, file: Option<&FileBytes>, on: impl Fn(u32, Event, Option<Vec<u8>>) + 'static) -> u32 {
        self.submit_part(None, slot, request, file, on)
    }

    /// [`WorkerHost::submit_to`] for a part of the job `root` (a shared job's first part's id,
    /// which its page knows; `None`: the job is its own root), so that cancelling `root` stops it.
    pub fn submit_part(&self, root: Option<u32>, slot: usize, request: Request, file: Option<&FileBytes>, on: impl Fn(u32, Event, Option<Vec<u8>>) + 'static) -> u32 {
        let slot = slot % self.slots.len();
        let id = self.next_id.get().wrapping_add(1);
        self.next_id.set(id);
        let msg = Object::new();
        let json = serde_json::to_string(&Job { id, request }).unwrap_or_default();
        let _ = Reflect::set(&msg, &"json".into(), &json.into());
        if let Some(f) = file {
            f.attach(&msg);
        }
        let on: Listener = Rc::new(on);
        let root = root.unwrap_or(id);
        let busy = self.listeners.borrow().values().any(|p| p.slot == slot);
        // Said only when it waits for another job (not for another part of its own).
        let behind_other = self.listeners.borrow().values().any(|p| p.slot == slot && p.root != root);
        self.listeners.borrow_mut().insert(id, Pending { slot, root, on: on.clone(), waiting: Some(msg.into()) });
        if !busy {
            self.send_next(slot, false);
        } else if behind_other {
            later(move || on(id, Event::Progress(Progress { stage: WAITING.into(), done: 0, total: 1, value: None }), None));
        }
        id
    }

    /// Sends worker `slot` the first job waiting for it (starting the worker if need be; queued
    /// until it is ready), when it runs none; `waited`: the job was told it waits, and is told it
    /// starts. A worker that cannot start or take it fails the job after this task.
    fn send_next(&self, slot: usize, waited: bool) {
        if self.listeners.borrow().values().any(|p| p.slot == slot && p.waiting.is_none()) {
            return;
        }
        let Some((id, msg, on)) = next_waiting(&self.listeners, slot) else { return };
        let sent = self.ensure(slot).and_then(|(worker, queue)| match queue.borrow_mut().as_mut() {
            Some(ready_later) => {
                ready_later.push(msg.clone());
                Ok(())
            }
            None => post(&worker, &msg).map_err(|e| format!("the job could not be sent: {e:?}")),
        });
        if sent.is_ok() {
            if waited {
                starting(id, on);
            }
            return;
        }
        if let Err(message) = sent {
            // Every job for this worker fails: it cannot be started.
            for (id, p) in take_jobs_of(&self.listeners, slot) {
                let message = message.clone();
                later(move || (p.on)(id, Event::Failed(message), None));
            }
        }
    }

    /// Stops the job its page knows as `root` (every part of it, on every worker), at once: its
    /// callbacks get [`Event::Cancelled`]. A part still waiting is taken off the queue; a worker
    /// running a part is terminated (its next job starts a fresh one). A job that has ended
    /// already: nothing.
    pub fn cancel(&self, root: u32) {
        let ids: Vec<u32> = self.listeners.borrow().iter().filter(|(_, p)| p.root == root).map(|(id, _)| *id).collect();
        self.stop_jobs(&ids);
    }

    /// Stops these jobs, as [`WorkerHost::cancel`] does (a page's Cancel; a shared job's other
    /// parts after one failed, so that they do not hold their workers for a result nobody reads).
    /// No other job is lost: each worker runs one job at a time.
    pub fn stop_jobs(&self, ids: &[u32]) {
        let mut ended: Vec<(u32, Pending)> = Vec::new();
        let mut slots: Vec<usize> = Vec::new();
        for id in ids {
            let Some(p) = self.listeners.borrow_mut().remove(id) else { continue };
            if p.waiting.is_none() {
                if let Some(l) = self.slots[p.slot].borrow_mut().take() {
                    l.stop();
                }
                slots.push(p.slot);
            }
            ended.push((*id, p));
        }
        for slot in slots {
            self.send_next(slot, true);
        }
        for (id, p) in ended {
            (p.on)(id, Event::Cancelled, None);
        }
    }

    /// Whether any job is still running.
    pub fn busy(&self) -> bool {
        !self.listeners.borrow().is_empty()
    }
}

/// Takes the first job (the lowest id) waiting for worker `slot`, marking it sent: its id, message
/// and callback.
fn next_waiting(listeners: &Listeners, slot: usize) -> Option<(u32, JsValue, Listener)> {
    let mut map = listeners.borrow_mut();
    let id = map.iter().filter(|(_, p)| p.slot == slot && p.waiting.is_some()).map(|(id, _)| *id).min()?;
    let p = map.get_mut(&id)?;
    Some((id, p.waiting.take()?, p.on.clone()))
}

/// Posts a job's message (once: a message is never sent again): a file's buffer is transferred
/// rather than copied, a kept blob goes by reference ([`FileBytes`]).
fn post(worker: &Worker, msg: &JsValue) -> Result<(), JsValue> {
    let transfer = js_sys::Array::new();
    if let Some(buffer) = Reflect::get(msg, &"buffer".into()).ok().and_then(|v| v.dyn_into::<js_sys::ArrayBuffer>().ok()) {
        transfer.push(&buffer);
    }
    worker.post_message_with_transfer(msg, &transfer)
}

/// Worker `slot` has ended its job: the next job waiting for it goes (a reply arrived, so it is ready).
fn send_waiting(listeners: &Listeners, slot: usize, worker: &Worker) {
    if let Some((next, msg, on)) = next_waiting(listeners, slot) {
        let _ = post(worker, &msg);
        starting(next, on);
    }
}

/// Tells job `id`, sent after waiting, that its worker has it (its bar leaves [`WAITING`]), once
/// the current task has ended (no callback runs inside the host's borrows).
fn starting(id: u32, on: Listener) {
    later(move || on(id, Event::Progress(Progress { stage: "starting".into(), done: 0, total: 1, value: None }), None));
}

/// Removes and returns the waiting jobs of worker `slot` (their callbacks are then called
/// without the map borrowed).
fn take_jobs_of(listeners: &Listeners, slot: usize) -> Vec<(u32, Pending)> {
    let mut map = listeners.borrow_mut();
    let mine: Vec<u32> = map.iter().filter(|(_, p)| p.slot == slot).map(|(id, _)| *id).collect();
    mine.into_iter().filter_map(|id| Some((id, map.remove(&id)?))).collect()
}

/// Runs `f` once the current task has ended (a failure found inside `submit` reaches the caller
/// after `submit` has returned its id, like every other event).
fn later(f: impl FnOnce() + 'static) {
    gloo::timers::callback::Timeout::new(0, f).forget();
}

/// The worker shared by every page, for a Yew context.
#[derive(Clone, Default)]
pub struct SharedWorker(pub Rc<WorkerHost>);

impl SharedWorker {
    /// A page's Cancel button: stops `running` (the page's job, when it has one), no other.
    pub fn canceller(&self, running: Option<u32>) -> yew::Callback<()> {
        let host = self.0.clone();
        yew::Callback::from(move |_: ()| {
            if let Some(id) = running {
                host.cancel(id);
            }
        })
    }
}

impl PartialEq for SharedWorker {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

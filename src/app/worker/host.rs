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

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use js_sys::{Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{ErrorEvent, MessageEvent, Worker};

use super::protocol::{Event, Job, Reply, Request};

/// The worker's script, made by trunk from `src/bin/qplay-worker.rs` (`data-loader-shim`).
pub const WORKER_URL: &str = "qplay-worker_loader.js";

type Listener = Rc<dyn Fn(u32, Event, Option<Vec<u8>>)>;
/// Messages waiting for the worker to be ready (`None` once it is).
type Queue = Rc<RefCell<Option<Vec<JsValue>>>>;
/// Every job waiting for its end: the worker it went to, and its callback.
type Listeners = Rc<RefCell<HashMap<u32, (usize, Listener)>>>;

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
                    let _ = w2.post_message(&msg);
                }
                return;
            }
            let json = Reflect::get(&data, &"json".into()).ok().and_then(|v| v.as_string()).unwrap_or_default();
            let bytes = Reflect::get(&data, &"bytes".into()).ok().filter(|v| !v.is_null() && !v.is_undefined()).map(|v| Uint8Array::new(&v).to_vec());
            let reply = match serde_json::from_str::<Reply>(&json) {
                Ok(r) => r,
                Err(e) => {
                    // Fail the job the reply names (if it names one), so that it does not wait forever.
                    let id = serde_json::from_str::<serde_json::Value>(&json).ok().and_then(|v| v.get("id")?.as_u64()).and_then(|i| u32::try_from(i).ok());
                    let l = id.and_then(|id| Some((id, listeners.borrow_mut().remove(&id)?.1)));
                    if let Some((id, l)) = l {
                        l(id, Event::Failed(format!("the worker's reply could not be read ({e})")), None);
                    }
                    return;
                }
            };
            let done = reply.event.ends_job();
            let listener = listeners.borrow().get(&reply.id).map(|(_, l)| l.clone());
            if done {
                listeners.borrow_mut().remove(&reply.id);
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
            for (id, l) in take_jobs_of(&listeners, slot) {
                l(
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

    /// Sends a job and returns its id; `on` gets the id and every event of the job, the last one
    /// ending it ([`Event::ends_job`]). `on` is only ever called after `submit` has returned.
    pub fn submit(&self, request: Request, bytes: Option<&[u8]>, on: impl Fn(u32, Event, Option<Vec<u8>>) + 'static) -> u32 {
        self.submit_to(0, request, bytes, on)
    }

    /// [`WorkerHost::submit`] to worker `slot` of the pool (taken modulo the pool's size).
    pub fn submit_to(&self, slot: usize, request: Request, bytes: Option<&[u8]>, on: impl Fn(u32, Event, Option<Vec<u8>>) + 'static) -> u32 {
        let slot = slot % self.slots.len();
        let id = self.next_id.get().wrapping_add(1);
        self.next_id.set(id);
        let (worker, queue) = match self.ensure(slot) {
            Ok(w) => w,
            Err(message) => {
                later(move || on(id, Event::Failed(message), None));
                return id;
            }
        };
        self.listeners.borrow_mut().insert(id, (slot, Rc::new(on)));
        let msg = Object::new();
        let json = serde_json::to_string(&Job { id, request }).unwrap_or_default();
        let _ = Reflect::set(&msg, &"json".into(), &json.into());
        let _ = Reflect::set(&msg, &"bytes".into(), &bytes.map_or(JsValue::NULL, |b| Uint8Array::from(b).into()));
        if let Some(waiting) = queue.borrow_mut().as_mut() {
            waiting.push(msg.into());
            return id;
        }
        if let Err(e) = worker.post_message(&msg) {
            if let Some((_, l)) = self.listeners.borrow_mut().remove(&id) {
                let message = format!("the job could not be sent: {e:?}");
                later(move || l(id, Event::Failed(message), None));
            }
        }
        id
    }

    /// Stops every job at once: terminates the worker (the next job starts a fresh one). Each
    /// job's callback gets [`Event::Cancelled`].
    pub fn cancel_all(&self) {
        for live in &self.slots {
            if let Some(l) = live.borrow_mut().take() {
                l.stop();
            }
        }
        let all: Vec<(u32, Listener)> = self.listeners.borrow_mut().drain().map(|(id, (_, l))| (id, l)).collect();
        for (id, l) in all {
            l(id, Event::Cancelled, None);
        }
    }

    /// Stops the workers that run these jobs (a shared job's other parts after one failed, so
    /// that they do not hold their workers for a result nobody reads). Any other job on those
    /// workers fails with a message that says why; the next job starts fresh workers.
    pub fn stop_jobs(&self, ids: &[u32]) {
        let slots: Vec<usize> = ids.iter().filter_map(|id| self.listeners.borrow().get(id).map(|(s, _)| *s)).collect();
        for slot in slots {
            if let Some(l) = self.slots[slot].borrow_mut().take() {
                l.stop();
            }
            for (id, l) in take_jobs_of(&self.listeners, slot) {
                let event = if ids.contains(&id) { Event::Cancelled } else { Event::Failed("its worker was stopped to end a job that failed on another worker: run it again".into()) };
                l(id, event, None);
            }
        }
    }

    /// Whether any job is still running.
    pub fn busy(&self) -> bool {
        !self.listeners.borrow().is_empty()
    }
}

/// Removes and returns the waiting jobs of worker `slot` (their callbacks are then called
/// without the map borrowed).
fn take_jobs_of(listeners: &Listeners, slot: usize) -> Vec<(u32, Listener)> {
    let mut map = listeners.borrow_mut();
    let mine: Vec<u32> = map.iter().filter(|(_, (s, _))| *s == slot).map(|(id, _)| *id).collect();
    mine.into_iter().filter_map(|id| Some((id, map.remove(&id)?.1))).collect()
}

/// Runs `f` once the current task has ended (a failure found inside `submit` reaches the caller
/// after `submit` has returned its id, like every other event).
fn later(f: impl FnOnce() + 'static) {
    gloo::timers::callback::Timeout::new(0, f).forget();
}

/// The worker shared by every page, for a Yew context.
#[derive(Clone, Default)]
pub struct SharedWorker(pub Rc<WorkerHost>);

impl PartialEq for SharedWorker {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

//! The page's side of the worker: it starts the worker, sends [`Job`]s, routes
//! each [`Reply`] to the callback of its job, and cancels by terminating the
//! worker (the next job starts a fresh one), which stops any computation at once.
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

type Listener = Rc<dyn Fn(Event, Option<Vec<u8>>)>;
/// Messages waiting for the worker to be ready (`None` once it is).
type Queue = Rc<RefCell<Option<Vec<JsValue>>>>;
type Listeners = Rc<RefCell<HashMap<u32, Listener>>>;

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

#[derive(Default)]
pub struct WorkerHost {
    live: RefCell<Option<Live>>,
    next_id: Cell<u32>,
    listeners: Listeners,
}

impl WorkerHost {
    fn ensure(&self) -> Result<(Worker, Queue), String> {
        if let Some(l) = self.live.borrow().as_ref().filter(|l| !l.dead.get()) {
            return Ok((l.worker.clone(), l.queue.clone()));
        }
        if let Some(old) = self.live.borrow_mut().take() {
            old.worker.terminate();
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
                    let l = id.and_then(|id| listeners.borrow_mut().remove(&id));
                    if let Some(l) = l {
                        l(Event::Failed(format!("the worker's reply could not be read ({e})")), None);
                    }
                    return;
                }
            };
            let done = matches!(reply.event, Event::Done(_) | Event::Failed(_));
            let listener = listeners.borrow().get(&reply.id).cloned();
            if done {
                listeners.borrow_mut().remove(&reply.id);
            }
            if let Some(l) = listener {
                l(reply.event, bytes);
            }
        });
        let listeners = self.listeners.clone();
        let dead = Rc::new(Cell::new(false));
        let dead_flag = dead.clone();
        let on_error = Closure::<dyn FnMut(ErrorEvent)>::new(move |e: ErrorEvent| {
            e.prevent_default();
            dead_flag.set(true);
            let all: Vec<Listener> = listeners.borrow_mut().drain().map(|(_, l)| l).collect();
            for l in all {
                l(
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
        *self.live.borrow_mut() = Some(Live { worker: worker.clone(), dead, queue: queue.clone(), _on_message: on_message, _on_error: on_error });
        Ok((worker, queue))
    }

    /// Sends a job; `on` gets every event of it, the last one being `Done` or `Failed`.
    pub fn submit(&self, request: Request, bytes: Option<&[u8]>, on: impl Fn(Event, Option<Vec<u8>>) + 'static) -> u32 {
        let id = self.next_id.get().wrapping_add(1);
        self.next_id.set(id);
        let (worker, queue) = match self.ensure() {
            Ok(w) => w,
            Err(message) => {
                on(Event::Failed(message), None);
                return id;
            }
        };
        self.listeners.borrow_mut().insert(id, Rc::new(on));
        let msg = Object::new();
        let json = serde_json::to_string(&Job { id, request }).unwrap_or_default();
        let _ = Reflect::set(&msg, &"json".into(), &json.into());
        let _ = Reflect::set(&msg, &"bytes".into(), &bytes.map_or(JsValue::NULL, |b| Uint8Array::from(b).into()));
        if let Some(waiting) = queue.borrow_mut().as_mut() {
            waiting.push(msg.into());
            return id;
        }
        if let Err(e) = worker.post_message(&msg) {
            if let Some(l) = self.listeners.borrow_mut().remove(&id) {
                l(Event::Failed(format!("the job could not be sent: {e:?}")), None);
            }
        }
        id
    }

    /// Stops every job at once: terminates the worker. Each job's callback gets `Failed("cancelled")`.
    pub fn cancel_all(&self) {
        if let Some(l) = self.live.borrow_mut().take() {
            l.worker.terminate();
        }
        let all: Vec<Listener> = self.listeners.borrow_mut().drain().map(|(_, l)| l).collect();
        for l in all {
            l(Event::Failed(CANCELLED.into()), None);
        }
    }

    /// Whether any job is still running.
    pub fn busy(&self) -> bool {
        !self.listeners.borrow().is_empty()
    }
}

/// The message a cancelled job ends with.
pub const CANCELLED: &str = "cancelled";

/// The worker shared by every page, for a Yew context.
#[derive(Clone, Default)]
pub struct SharedWorker(pub Rc<WorkerHost>);

impl PartialEq for SharedWorker {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

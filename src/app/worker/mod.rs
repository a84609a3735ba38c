//! Heavy work off the page's thread: a Web Worker runs calibration,
//! evaluation, sweeps, searches and training, reports progress, and is
//! terminated to cancel.
//!
//! - [`protocol`]: the messages (serde JSON, plus a file's bytes).
//! - [`host`]: the page's side (start, send, route replies, cancel).
//! - [`runner`]: the worker's side (fetch assets, cache, run jobs).
//! - [`lm`]: the worker's language-model jobs (the Language-model page).

pub mod host;
pub mod lm;
pub mod protocol;
pub mod runner;

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

/// A message's bytes (`data.bytes`, a Uint8Array as posted), copied once into our memory:
/// `new Uint8Array(view)` would first copy them within JavaScript (118 ms for 128 MB in
/// Chromium, on the page's thread when the page receives them).
fn message_bytes(data: &JsValue) -> Option<Vec<u8>> {
    let v = Reflect::get(data, &"bytes".into()).ok().filter(|v| !v.is_null() && !v.is_undefined())?;
    Some(match v.dyn_ref::<Uint8Array>() {
        Some(view) => view.to_vec(),
        None => Uint8Array::new(&v).to_vec(),
    })
}

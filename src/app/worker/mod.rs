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

use js_sys::{Array, ArrayBuffer, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::Blob;

/// The most bytes a file that travels to the worker may hold (the pages refuse larger files
/// first: 256 MiB for a tensor or model, 384 MiB for a language model's files together).
pub const MAX_BLOB_BYTES: f64 = (512u64 << 20) as f64;

/// A file's bytes on their way to the worker, held by the browser, not in the page's wasm
/// memory (reading a 256 MiB file into the page's memory and out to the worker again held the
/// page's thread about 0.6 s in Chromium, and left that memory with the page: wasm memory never
/// shrinks):
/// - [`FileBytes::Once`]: bytes the browser read (or the page made) for one job, whose message
///   transfers them to the worker (moved, not copied; so not for a job shared among workers);
/// - [`FileBytes::Kept`]: a snapshot a page keeps for later jobs ([`FileBytes::snapshot`]), which a
///   message carries by reference and the worker reads ([`web_sys::FileReaderSync`]). It stays
///   readable when the file changes on disk: a `File` kept instead could no longer be read then
///   (Chromium: NotReadableError), nor one waiting for a busy worker.
#[derive(Clone, Debug)]
pub enum FileBytes {
    Once(ArrayBuffer),
    Kept(Blob),
}

impl PartialEq for FileBytes {
    /// The same buffer or blob (neither is ever changed, so the same bytes).
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (FileBytes::Once(a), FileBytes::Once(b)) => JsValue::from(a) == JsValue::from(b),
            (FileBytes::Kept(a), FileBytes::Kept(b)) => JsValue::from(a) == JsValue::from(b),
            _ => false,
        }
    }
}

impl Eq for FileBytes {}

impl FileBytes {
    /// Bytes made on the page (a long paste, a tensor's packed values), copied once out of its
    /// memory for one job.
    pub fn of_bytes(bytes: &[u8]) -> FileBytes {
        FileBytes::Once(Uint8Array::from(bytes).buffer())
    }

    /// A copy of `buffers` (the files' contents, read by the browser), one after the other, that
    /// a page keeps.
    pub fn snapshot(buffers: &[JsValue]) -> Result<FileBytes, String> {
        let parts: Array = buffers.iter().collect();
        Blob::new_with_buffer_source_sequence(&parts).map(FileBytes::Kept).map_err(|e| format!("the browser could not hold the file ({e:?})"))
    }

    /// Puts the bytes into a job's message: `buffer` (which the host transfers when it posts the
    /// message) or `blob`.
    fn attach(&self, msg: &JsValue) {
        let (key, value): (&str, JsValue) = match self {
            FileBytes::Once(b) => ("buffer", b.into()),
            FileBytes::Kept(b) => ("blob", b.into()),
        };
        let _ = Reflect::set(msg, &key.into(), &value);
    }
}

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

/// The file a job's message carries (`data.buffer` or `data.blob`), read in the worker (whose
/// thread may wait for it): none, its bytes, or why they cannot be read (too large, or the
/// browser could not read its copy).
fn message_file(data: &JsValue) -> Result<Option<Vec<u8>>, String> {
    if let Some(buffer) = Reflect::get(data, &"buffer".into()).ok().and_then(|v| v.dyn_into::<ArrayBuffer>().ok()) {
        if buffer.byte_length() as f64 > MAX_BLOB_BYTES {
            return Err(format!("{:.0} MB is more than the worker reads ({:.0} MB)", buffer.byte_length() as f64 / 1e6, MAX_BLOB_BYTES / 1e6));
        }
        return Ok(Some(Uint8Array::new(&buffer).to_vec()));
    }
    let Some(blob) = Reflect::get(data, &"blob".into()).ok().and_then(|v| v.dyn_into::<Blob>().ok()) else { return Ok(None) };
    if blob.size() > MAX_BLOB_BYTES {
        return Err(format!("{:.0} MB is more than the worker reads ({:.0} MB)", blob.size() / 1e6, MAX_BLOB_BYTES / 1e6));
    }
    match web_sys::FileReaderSync::new().and_then(|r| r.read_as_array_buffer(&blob)) {
        Ok(buf) => Ok(Some(Uint8Array::new(&buf).to_vec())),
        Err(e) => {
            let why = Reflect::get(&e, &"message".into()).ok().and_then(|m| m.as_string()).unwrap_or_else(|| format!("{e:?}"));
            Err(format!("the browser could not read the file's copy ({why})"))
        }
    }
}

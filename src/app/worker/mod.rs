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

use js_sys::{Array, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::Blob;

/// The most bytes a file that travels to the worker may hold (the pages refuse larger files
/// first: 256 MiB for a tensor or model, 384 MiB for a language model's files together).
pub const MAX_BLOB_BYTES: f64 = (512u64 << 20) as f64;

/// A file's bytes on their way to the worker, held by the browser, not in the page's wasm
/// memory: a dropped `File` (read once, at once, by the worker), or a snapshot of one that a page
/// keeps for later jobs ([`FileBlob::snapshot`]). A message carries a `Blob` by reference, so
/// neither sending it nor keeping it copies the bytes on the page's thread; the worker reads them
/// ([`web_sys::FileReaderSync`]) into its own memory. Reading a 256 MiB file into the page's
/// memory and out to the worker again held the page's thread about 0.6 s in Chromium, and left
/// that memory with the page (wasm memory never shrinks).
#[derive(Clone, Debug)]
pub struct FileBlob(pub Blob);

impl PartialEq for FileBlob {
    /// The same blob (a snapshot is never changed, so the same bytes).
    fn eq(&self, other: &Self) -> bool {
        JsValue::from(&self.0) == JsValue::from(&other.0)
    }
}

impl Eq for FileBlob {}

impl FileBlob {
    /// Bytes made on the page (a long paste, a tensor's packed values), copied once into a blob.
    pub fn of_bytes(bytes: &[u8]) -> Result<FileBlob, String> {
        let parts = Array::of1(&Uint8Array::from(bytes));
        Blob::new_with_u8_array_sequence(&parts).map(FileBlob).map_err(|e| format!("the browser could not hold the bytes ({e:?})"))
    }

    /// A copy of `buffers` (the files' contents, read by the browser), one after the other, that
    /// stays readable when a file changes on disk: a `File` kept instead could no longer be read
    /// then (Chromium: NotReadableError), and a page that keeps a file for later jobs would lose it.
    pub fn snapshot(buffers: &[JsValue]) -> Result<FileBlob, String> {
        let parts: Array = buffers.iter().collect();
        Blob::new_with_buffer_source_sequence(&parts).map(FileBlob).map_err(|e| format!("the browser could not hold the file ({e:?})"))
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

/// The file a job's message carries (`data.blob`), read in the worker (whose thread may wait for
/// it): none, its bytes, or why they cannot be read (too large, or the file changed or went
/// away on disk since it was dropped).
fn message_blob(data: &JsValue) -> Result<Option<Vec<u8>>, String> {
    let Some(blob) = Reflect::get(data, &"blob".into()).ok().and_then(|v| v.dyn_into::<Blob>().ok()) else { return Ok(None) };
    let name = blob.dyn_ref::<web_sys::File>().map_or_else(|| "the file".to_string(), |f| f.name());
    if blob.size() > MAX_BLOB_BYTES {
        return Err(format!("{name}: {:.0} MB is more than the worker reads ({:.0} MB)", blob.size() / 1e6, MAX_BLOB_BYTES / 1e6));
    }
    let read = web_sys::FileReaderSync::new().and_then(|r| r.read_as_array_buffer(&blob));
    match read {
        Ok(buf) => Ok(Some(Uint8Array::new(&buf).to_vec())),
        Err(e) => {
            let why = Reflect::get(&e, &"message".into()).ok().and_then(|m| m.as_string()).unwrap_or_else(|| format!("{e:?}"));
            Err(format!("{name}: the browser could not read the file ({why}); was it changed or moved since it was given? Give it again"))
        }
    }
}

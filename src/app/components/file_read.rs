//! Reading dropped files in slices, so that the drop zone can say how far the browser has got:
//! a model file of hundreds of MB takes the browser seconds to read, and the page said nothing
//! until the worker began to parse it. Each slice is read off the page's thread
//! (`Blob.arrayBuffer()`), and the slices go on to the worker as they are (one blob of them, or
//! one buffer), never joined in the page's memory.

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::File;

/// Bytes read at a time: 8 MiB, so a 384 MiB model says how far it has got about 50 times, and
/// a slice costs one promise on top of reading its bytes.
pub const SLICE_BYTES: f64 = (8 << 20) as f64;

/// How far a read has got.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadProgress {
    /// The file being read.
    pub name: String,
    /// Bytes read of every file, and of all of them.
    pub done: f64,
    pub total: f64,
}

impl ReadProgress {
    /// "Reading model.gguf in the browser: 37 % of 312.4 MiB…" (of all the files dropped together).
    pub fn text(&self) -> String {
        let percent = if self.total > 0.0 { (100.0 * self.done / self.total).floor() } else { 0.0 };
        let mib = self.total / (1u64 << 20) as f64;
        format!("Reading {} in the browser: {percent:.0} % of {mib:.1} MiB… ", crate::share::clip(&self.name))
    }
}

/// Each file's name and length, and the slices' buffers (`ArrayBuffer`s) in order.
pub type Slices = (Vec<(String, usize)>, Vec<wasm_bindgen::JsValue>);

/// Reads `files` one after the other in slices of [`SLICE_BYTES`], calling `on_progress` before
/// each slice when they are more than one slice together. `Ok(None)` once `stale()` says another read has started (the rest is not read);
/// an error names the file the browser could not read.
pub async fn read_slices(files: &[File], stale: impl Fn() -> bool, on_progress: impl Fn(ReadProgress)) -> Result<Option<Slices>, String> {
    let total: f64 = files.iter().map(|f| f.size()).sum();
    let mut done = 0.0;
    let mut lengths = Vec::with_capacity(files.len());
    let mut buffers = Vec::new();
    for file in files {
        let (name, size) = (file.name(), file.size());
        let mut start = 0.0;
        let mut length = 0usize;
        // An empty file is one empty slice, so that it is still read (and refused by the worker
        // for what it is, not skipped).
        loop {
            // Files of one slice are read in a blink: no status flashes for them.
            if total > SLICE_BYTES {
                on_progress(ReadProgress { name: name.clone(), done, total });
            }
            let end = (start + SLICE_BYTES).min(size);
            let slice = file.slice_with_f64_and_f64(start, end).map_err(|e| format!("{name}: the browser could not read the file ({e:?})"))?;
            let read = JsFuture::from(slice.array_buffer()).await;
            if stale() {
                return Ok(None);
            }
            let buffer = read.map_err(|e| format!("{name}: the browser could not read the file ({e:?})"))?;
            let bytes = buffer.unchecked_ref::<js_sys::ArrayBuffer>().byte_length() as usize;
            length += bytes;
            done += bytes as f64;
            buffers.push(buffer);
            start = end;
            if start >= size {
                break;
            }
        }
        lengths.push((name, length));
    }
    Ok(Some((lengths, buffers)))
}

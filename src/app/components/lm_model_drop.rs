//! The Language-model page's drop zone for the user's own model: several files at once (a GGUF
//! file; a llama2.c model.bin with its tokenizer.bin; a Hugging Face folder's model.safetensors,
//! config.json and tokenizer.json), kept as ONE snapshot of their contents one after the other
//! ([`FileBytes::snapshot`]: held by the browser, not in the page's memory, and passed to the
//! worker by reference). Which file is which is the worker's business
//! (`lm::import::import_model`). The zone itself is `file_drop.rs`'s [`DropZone`].

use web_sys::File;

use super::file_drop::{DropZone, Reads};
use super::file_read::read_slices;
use yew::prelude::*;

use crate::app::worker::protocol::LmFile;
use crate::app::worker::FileBytes;
use crate::units::bytes_exact;

/// Largest total of the files dropped together: 384 MiB. A model has at most 64 Mi parameters
/// (`lm::config::MAX_PARAMS`), 256 MiB in f32, the widest type a file stores them in; the rest
/// leaves room for a tokenizer and metadata. Files past it cannot hold a model qplay loads, and
/// reading them would only make the browser hold them, and the worker read them, before the
/// worker said so (the reader's own limit is 2 GiB).
pub const MAX_MODEL_FILES_BYTES: f64 = (crate::lm::config::MAX_PARAMS as u64 * 4 + (128 << 20)) as f64;

/// The files (names and lengths) and their contents one after the other.
pub type DroppedFiles = (Vec<LmFile>, FileBytes);

#[derive(Properties, PartialEq)]
pub struct LmModelDropProps {
    pub on_files: Callback<Result<DroppedFiles, String>>,
    /// A job runs: drops wait.
    #[prop_or_default]
    pub disabled: bool,
    /// The link locks the model.
    #[prop_or_default]
    pub locked: bool,
}

/// Reads every file and keeps their contents in one snapshot, checked first against the files' sizes.
fn read(files: Vec<File>, reads: Reads, on: Callback<Result<DroppedFiles, String>>, reading: UseStateHandle<Option<String>>) {
    let n = reads.start();
    reading.set(None);
    if files.is_empty() {
        on.emit(Err("nothing was dropped: drop the model's files".into()));
        return;
    }
    let total: f64 = files.iter().map(|f| f.size()).sum();
    if total > MAX_MODEL_FILES_BYTES {
        on.emit(Err(format!(
            "the files are {} together; the limit is {}: qplay's language models have at most 64 Mi parameters (256 MiB in f32), so no larger model can be loaded",
            bytes_exact(total as u128),
            bytes_exact(MAX_MODEL_FILES_BYTES as u128)
        )));
        return;
    }
    wasm_bindgen_futures::spawn_local(async move {
        // A slice at a time, off the page's thread, the zone saying how far the browser has got.
        let show = reading.clone();
        let read = read_slices(&files, || !reads.is_latest(n), move |p| show.set(Some(p.text()))).await;
        if !reads.is_latest(n) {
            return; // other files were given since
        }
        reading.set(None);
        match read {
            Ok(Some((lengths, buffers))) => {
                let list = lengths.into_iter().map(|(name, len)| LmFile { name, len }).collect();
                on.emit(FileBytes::snapshot(&buffers).map(|blob| (list, blob)));
            }
            Ok(None) => {}
            Err(e) => on.emit(Err(e)),
        }
    });
}

#[function_component(LmModelDrop)]
pub fn lm_model_drop(props: &LmModelDropProps) -> Html {
    let reads = (*use_state(Reads::default)).clone();
    let reading = use_state(|| None::<String>);
    let on_pick = {
        let (on, reading) = (props.on_files.clone(), reading.clone());
        Callback::from(move |files: Vec<File>| read(files, reads.clone(), on.clone(), reading.clone()))
    };
    html! {
        <DropZone testid="lm-drop" multiple=true accept=".gguf,.bin,.safetensors,.json" disabled={props.disabled} locked={props.locked} {on_pick}
            title="Your own Llama-style model: a .gguf file (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and the K-quants Q2_K … Q6_K, as in llama.cpp's Q4_K_M files); a llama2.c model.bin with its tokenizer.bin; or a Hugging Face folder's model.safetensors, config.json and tokenizer.json. Select every file at once. Quantized tensors are read back to FP32 first, and the settings quantize that."
            text="Drop your own model here (.gguf; llama2.c model.bin + tokenizer.bin; model.safetensors + config.json + tokenizer.json), or "
            button="choose files…" picker_label="Choose your model's files" reading={(*reading).clone()} />
    }
}

//! The Language-model page's drop zone for the user's own model: several files at once (a GGUF
//! file; a llama2.c model.bin with its tokenizer.bin; a Hugging Face folder's model.safetensors,
//! config.json and tokenizer.json), read into ONE buffer, each file copied once from the
//! browser into it. Which file is which is the worker's business (`lm::import::import_model`).
//! Built as `file_drop.rs` is, which takes one file.

use wasm_bindgen_futures::JsFuture;
use web_sys::{DragEvent, File, FileList, HtmlInputElement};
use yew::prelude::*;

use crate::app::worker::protocol::LmFile;

/// Largest total of the files dropped together (the reader's limit is 2 GiB; the page keeps a
/// copy for a fresh worker, and a model has at most 64 Mi parameters, 256 MiB in f32).
pub const MAX_MODEL_FILES_BYTES: f64 = (1u64 << 30) as f64;

/// The files (names and lengths) and their contents one after the other.
pub type DroppedFiles = (Vec<LmFile>, Vec<u8>);

#[derive(Properties, PartialEq)]
pub struct LmModelDropProps {
    pub on_files: Callback<Result<DroppedFiles, String>>,
    #[prop_or_default]
    pub disabled: bool,
}

fn files_of(list: Option<FileList>) -> Vec<File> {
    let Some(list) = list else { return Vec::new() };
    (0..list.length()).filter_map(|i| list.get(i)).collect()
}

/// Reads every file into one buffer, sized first from the files' sizes.
fn read(files: Vec<File>, on: Callback<Result<DroppedFiles, String>>) {
    if files.is_empty() {
        on.emit(Err("nothing was dropped: drop the model's files".into()));
        return;
    }
    let total: f64 = files.iter().map(|f| f.size()).sum();
    if total > MAX_MODEL_FILES_BYTES {
        on.emit(Err(format!("the files are {:.0} MB together; the limit is {:.0} MB", total / 1e6, MAX_MODEL_FILES_BYTES / 1e6)));
        return;
    }
    wasm_bindgen_futures::spawn_local(async move {
        let mut bytes: Vec<u8> = Vec::with_capacity(total as usize);
        let mut list = Vec::with_capacity(files.len());
        for file in files {
            let name = file.name();
            match JsFuture::from(file.array_buffer()).await {
                Ok(buf) => {
                    let arr = js_sys::Uint8Array::new(&buf);
                    let len = arr.length() as usize;
                    let at = bytes.len();
                    bytes.resize(at + len, 0);
                    arr.copy_to(&mut bytes[at..]);
                    list.push(LmFile { name, len });
                }
                Err(e) => {
                    on.emit(Err(format!("{name}: the browser could not read the file ({e:?})")));
                    return;
                }
            }
        }
        on.emit(Ok((list, bytes)));
    });
}

#[function_component(LmModelDrop)]
pub fn lm_model_drop(props: &LmModelDropProps) -> Html {
    let over = use_state(|| false);
    let input = use_node_ref();
    let ondragover = {
        let over = over.clone();
        Callback::from(move |e: DragEvent| {
            e.prevent_default();
            over.set(true);
        })
    };
    let ondragleave = {
        let over = over.clone();
        Callback::from(move |_: DragEvent| over.set(false))
    };
    let ondrop = {
        let (over, on, disabled) = (over.clone(), props.on_files.clone(), props.disabled);
        Callback::from(move |e: DragEvent| {
            e.prevent_default();
            over.set(false);
            if !disabled {
                read(files_of(e.data_transfer().and_then(|d| d.files())), on.clone());
            }
        })
    };
    let onchange = {
        let on = props.on_files.clone();
        Callback::from(move |e: Event| {
            let el = e.target_unchecked_into::<HtmlInputElement>();
            let files = files_of(el.files());
            if !files.is_empty() {
                read(files, on.clone());
            }
            el.set_value(""); // the same files can be picked again
        })
    };
    let pick = {
        let input = input.clone();
        Callback::from(move |_: MouseEvent| {
            if let Some(el) = input.cast::<HtmlInputElement>() {
                el.click();
            }
        })
    };
    html! {
        <div class={classes!("drop", (*over).then_some("over"))} data-testid="lm-drop" {ondragover} {ondragleave} {ondrop}
            title="Your own Llama-style model: a .gguf file (F32, F16, BF16, Q8_0, Q4_0, Q4_1 tensors); a llama2.c model.bin with its tokenizer.bin; or a Hugging Face folder's model.safetensors, config.json and tokenizer.json. Select every file at once. Quantized tensors are read back to FP32 first, and the settings quantize that.">
            <span>{"Drop your own model here (.gguf; llama2.c model.bin + tokenizer.bin; model.safetensors + config.json + tokenizer.json), or "}</span>
            <button type="button" onclick={pick} disabled={props.disabled}>{"choose files…"}</button>
            <input ref={input} type="file" multiple=true accept=".gguf,.bin,.safetensors,.json" {onchange} hidden=true
                aria-label="Choose your model's files" data-testid="lm-drop-input" />
        </div>
    }
}

//! A drop zone with a file picker: drop a file on it, or press the button
//! (keyboard users too) and pick one. It hands over the file's name and bytes;
//! reading the format is the caller's job (`crate::app::files`).

use wasm_bindgen_futures::JsFuture;
use web_sys::{DragEvent, File, HtmlInputElement};
use yew::prelude::*;

use crate::app::files::MAX_FILE_BYTES;

#[derive(Properties, PartialEq)]
pub struct FileDropProps {
    /// What the zone takes, e.g. "a model: .safetensors or .onnx".
    pub label: AttrValue,
    /// The `accept` attribute of the picker, e.g. ".safetensors,.onnx".
    pub accept: AttrValue,
    /// (name, bytes) of each file, or an error message (too large, unreadable).
    pub on_file: Callback<Result<(String, Vec<u8>), String>>,
    pub testid: AttrValue,
    #[prop_or_default]
    pub disabled: bool,
}

fn read(file: File, on: Callback<Result<(String, Vec<u8>), String>>) {
    let name = file.name();
    if file.size() > MAX_FILE_BYTES as f64 {
        on.emit(Err(format!("{name}: the file is {:.0} MB; the limit is {} MB", file.size() / 1e6, MAX_FILE_BYTES >> 20)));
        return;
    }
    wasm_bindgen_futures::spawn_local(async move {
        match JsFuture::from(file.array_buffer()).await {
            Ok(buf) => on.emit(Ok((name, js_sys::Uint8Array::new(&buf).to_vec()))),
            Err(e) => on.emit(Err(format!("{name}: the browser could not read the file ({e:?})"))),
        }
    });
}

#[function_component(FileDrop)]
pub fn file_drop(props: &FileDropProps) -> Html {
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
        let (over, on) = (over.clone(), props.on_file.clone());
        let disabled = props.disabled;
        Callback::from(move |e: DragEvent| {
            e.prevent_default();
            over.set(false);
            if disabled {
                return;
            }
            let files = e.data_transfer().and_then(|d| d.files());
            match files.and_then(|f| f.get(0)) {
                Some(file) => read(file, on.clone()),
                None => on.emit(Err("nothing was dropped: drop a file".into())),
            }
        })
    };
    let onchange = {
        let on = props.on_file.clone();
        Callback::from(move |e: Event| {
            let el = e.target_unchecked_into::<HtmlInputElement>();
            if let Some(file) = el.files().and_then(|f| f.get(0)) {
                read(file, on.clone());
            }
            el.set_value(""); // the same file can be picked again
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
        <div class={classes!("drop", (*over).then_some("over"))} data-testid={props.testid.clone()}
            {ondragover} {ondragleave} {ondrop}>
            <span>{ format!("Drop {} here, or ", props.label) }</span>
            <button type="button" onclick={pick} disabled={props.disabled}>{"choose a file…"}</button>
            <input ref={input} type="file" accept={props.accept.clone()} {onchange} hidden=true
                aria-label={format!("Choose {}", props.label)} data-testid={format!("{}-input", props.testid)} />
        </div>
    }
}

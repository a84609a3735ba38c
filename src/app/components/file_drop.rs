//! A drop zone with a file picker ([`DropZone`]): drop files on it, or press the button
//! (keyboard users too) and pick them. [`FileDrop`] takes one file and hands over its name and
//! its bytes as the browser holds them ([`FileBytes`]), which go to the worker without passing
//! through the page's memory; reading the format is the worker's job (`crate::formats::files`).

use std::cell::Cell;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use web_sys::{DragEvent, File, FileList, HtmlInputElement};
use yew::prelude::*;

use super::ctl::Locked;
use super::file_read::read_slices;
use crate::app::worker::FileBytes;
use crate::formats::files::MAX_FILE_BYTES;
use crate::units::bytes_exact;

#[derive(Properties, PartialEq)]
pub struct FileDropProps {
    /// What the zone takes, e.g. "a model: .safetensors or .onnx".
    pub label: AttrValue,
    /// The `accept` attribute of the picker, e.g. ".safetensors,.onnx".
    pub accept: AttrValue,
    /// (name, file) of each file, or an error message (too large, unreadable).
    pub on_file: Callback<Result<(String, FileBytes), String>>,
    /// The page keeps the file for later jobs: it is handed over as a snapshot of its bytes
    /// ([`FileBytes::snapshot`]), which stays readable if the file changes on disk. Otherwise the
    /// bytes as the browser read them, for one job ([`FileBytes::Once`]); a file of several
    /// slices ([`super::file_read`]) goes as the snapshot of them.
    #[prop_or_default]
    pub keep: bool,
    pub testid: AttrValue,
    /// Locked by the teacher's link: no file is taken, dropped or picked.
    #[prop_or_default]
    pub locked: bool,
    /// Not now (a job runs): the button is off and drops are refused, with why.
    #[prop_or_default]
    pub disabled: bool,
}

/// The reads a zone started, so that only the latest one's files are handed over: a large file
/// dropped first finishes reading after a small one dropped just after it, and would replace it.
#[derive(Clone, Default, PartialEq)]
pub struct Reads(Rc<Cell<u64>>);

impl Reads {
    /// A new read, which makes every earlier one stale.
    pub fn start(&self) -> u64 {
        self.0.set(self.0.get().wrapping_add(1));
        self.0.get()
    }

    /// Whether read `n` is still the latest.
    pub fn is_latest(&self, n: u64) -> bool {
        self.0.get() == n
    }
}

fn read(file: File, keep: bool, reads: Reads, on: Callback<Result<(String, FileBytes), String>>, reading: UseStateHandle<Option<String>>) {
    let name = file.name();
    let n = reads.start();
    reading.set(None);
    if file.size() > MAX_FILE_BYTES as f64 {
        // The size and the limit in the same units ("268 MB; the limit is 256 MB" mixed decimal
        // megabytes with binary ones, as if a 260 MB file were too large too).
        on.emit(Err(format!("{name}: the file is {}; the limit is {}", bytes_exact(file.size() as u128), bytes_exact(MAX_FILE_BYTES as u128))));
        return;
    }
    wasm_bindgen_futures::spawn_local(async move {
        // The browser reads the file off the page's thread, into its own memory, a slice at a
        // time, and the zone says how far it has got.
        let show = reading.clone();
        let read = read_slices(std::slice::from_ref(&file), || !reads.is_latest(n), move |p| show.set(Some(p.text()))).await;
        if !reads.is_latest(n) {
            return; // another file was given since
        }
        reading.set(None);
        let buffers = match read {
            Ok(Some((_, buffers))) => buffers,
            Ok(None) => return,
            Err(e) => return on.emit(Err(e)),
        };
        // A file read in several slices goes as the blob of them (the worker reads it off the
        // page's thread), not joined in the page's memory.
        let bytes = match (keep, buffers.as_slice()) {
            (false, [one]) => Ok(FileBytes::Once(one.clone().unchecked_into())),
            _ => FileBytes::snapshot(&buffers),
        };
        match bytes {
            Ok(blob) => on.emit(Ok((name, blob))),
            Err(e) => on.emit(Err(format!("{name}: the browser could not read the file ({e})"))),
        }
    });
}

/// The files of a drop or of the picker.
pub fn files_of(list: Option<FileList>) -> Vec<File> {
    let Some(list) = list else { return Vec::new() };
    (0..list.length()).filter_map(|i| list.get(i)).collect()
}

#[derive(Properties, PartialEq)]
pub struct DropZoneProps {
    /// The text before the button ("Drop … here, or ").
    pub text: AttrValue,
    /// The button's text ("choose a file…").
    pub button: AttrValue,
    /// The picker's accessible label.
    pub picker_label: AttrValue,
    pub accept: AttrValue,
    #[prop_or_default]
    pub multiple: bool,
    #[prop_or_default]
    pub title: Option<AttrValue>,
    pub testid: AttrValue,
    /// Not now (a job runs): the button is off and drops are ignored.
    #[prop_or_default]
    pub disabled: bool,
    /// Locked by the teacher's link (or the [`Locked`] `Ctl` around it): no file is taken,
    /// dropped or picked.
    #[prop_or_default]
    pub locked: bool,
    /// The files dropped or picked (possibly none: a drop of something that is not a file).
    pub on_pick: Callback<Vec<File>>,
    /// How far the browser has got reading the files given, while it reads them.
    #[prop_or_default]
    pub reading: Option<String>,
}

/// The zone itself: drag and drop, or a button that opens the browser's file picker (keyboard
/// users too). What the files hold is the caller's business.
#[function_component(DropZone)]
pub fn drop_zone(props: &DropZoneProps) -> Html {
    // A locked control's zone takes no files, dropped or picked.
    // A hook: called on every render, never behind `||` (a lock that came with a new link
    // skipped it once, and the hooks after it read each other's state: a panic).
    let in_locked_ctl = use_context::<Locked>().is_some_and(|l| l.0);
    let locked = props.locked || in_locked_ctl;
    let disabled = props.disabled || locked;
    // Files given while the zone takes none are not dropped in silence: the zone says why.
    let why_not = if locked {
        Some("locked by the link: the files were not read")
    } else if props.disabled {
        Some("a job is running: give the files again when it has finished")
    } else {
        None
    };
    let refused = use_state(|| None::<&'static str>);
    {
        // The job's end clears its reason.
        let refused = refused.clone();
        use_effect_with(disabled, move |&off| {
            if !off {
                refused.set(None);
            }
        });
    }
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
    // The files given, unless the zone takes none now (then why, beside it).
    let take = {
        let (on, refused) = (props.on_pick.clone(), refused.clone());
        move |files: Vec<File>| match why_not {
            Some(why) => refused.set(Some(why)),
            None => {
                refused.set(None);
                on.emit(files);
            }
        }
    };
    let ondrop = {
        let (over, take) = (over.clone(), take.clone());
        Callback::from(move |e: DragEvent| {
            e.prevent_default();
            over.set(false);
            take(files_of(e.data_transfer().and_then(|d| d.files())));
        })
    };
    let onchange = Callback::from(move |e: Event| {
        let el = e.target_unchecked_into::<HtmlInputElement>();
        let files = files_of(el.files());
        if !files.is_empty() {
            take(files);
        }
        el.set_value(""); // the same files can be picked again
    });
    let pick = {
        let input = input.clone();
        Callback::from(move |_: MouseEvent| {
            if let Some(el) = input.cast::<HtmlInputElement>() {
                el.click();
            }
        })
    };
    html! {
        <div class={classes!("drop", (*over).then_some("over"), locked.then_some("locked"))} data-testid={props.testid.clone()} title={props.title.clone()}
            {ondragover} {ondragleave} {ondrop}>
            <span>{ props.text.clone() }</span>
            <button type="button" onclick={pick} {disabled}>{ props.button.clone() }</button>
            <input ref={input} type="file" multiple={props.multiple} accept={props.accept.clone()} {onchange} hidden=true
                aria-label={props.picker_label.clone()} data-testid={format!("{}-input", props.testid)} />
            if let Some(reading) = &props.reading {
                <span class="hint" role="status" data-testid={format!("{}-reading", props.testid)}>{ reading.clone() }</span>
            }
            if let Some(why) = *refused {
                <span class="error-inline" role="status" data-testid={format!("{}-refused", props.testid)}>{ why }</span>
            }
        </div>
    }
}

/// One file: its name and the file.
#[function_component(FileDrop)]
pub fn file_drop(props: &FileDropProps) -> Html {
    let reads = (*use_state(Reads::default)).clone();
    let reading = use_state(|| None::<String>);
    let on_pick = {
        let (on, keep, reading) = (props.on_file.clone(), props.keep, reading.clone());
        Callback::from(move |files: Vec<File>| match files.into_iter().next() {
            Some(file) => read(file, keep, reads.clone(), on.clone(), reading.clone()),
            None => {
                reads.start();
                reading.set(None);
                on.emit(Err("nothing was dropped: drop a file".into()))
            }
        })
    };
    html! {
        <DropZone text={format!("Drop {} here, or ", props.label)} button="choose a file…" picker_label={format!("Choose {}", props.label)}
            accept={props.accept.clone()} testid={props.testid.clone()} locked={props.locked} disabled={props.disabled} {on_pick}
            reading={(*reading).clone()} />
    }
}

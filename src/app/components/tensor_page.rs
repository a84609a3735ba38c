//! The Tensor page: type, paste or generate a tensor; choose the scheme,
//! granularity and calibration; see the scale and zero point with their
//! formulas, every value's integer and error, the error metrics, a histogram
//! with the quantization grid, FP32 against dequantized values, the error
//! r' − x against ±s/2, each channel's (or group's) scale and zero point, and
//! every calibrator side by side. It updates as the user types.

use std::rc::Rc;

use gloo::timers::callback::Timeout;
use wasm_bindgen::JsCast;
use web_sys::HtmlTextAreaElement;
use yew::prelude::*;

use super::share_link::ShareLink;

use super::calibration_controls::CalibrationControls;
use super::channel_table::ChannelTable;
use super::ctl::Ctl;
use super::file_drop::FileDrop;
use super::generator_controls::GeneratorControls;
use super::job_status::JobStatus;
use super::plot_canvas::{Plot, PlotCanvas};
use super::metrics_panel::MetricsPanel;
use super::notices::Notices;
use super::teacher_note::TeacherNote;
use super::params_panel::{num, ParamsPanel};
use super::range_sliders::RangeSliders;
use super::scheme_controls::SchemeControls;
use super::value_table::{ValueTable, MAX_ROWS};
use crate::app::state::job::{self, JobState};
use crate::app::state::tensor::LoadedTensors;
use crate::app::state::{TensorAction, TensorState};
use crate::app::url;
use crate::app::worker::FileBytes;
use crate::app::worker::host::SharedWorker;
use crate::app::worker::protocol::{LoadedTensorRef, Request};
use crate::experiment::tensor_view::{TensorView, INLINE_WORK, MAX_PAGE_VALUES};
use crate::metrics::QuantErrorMetrics;
use crate::formats::text::MAX_TEXT_BYTES;
use crate::formats::{pack_tensors, shape_count, Tensor};
use crate::parse::{parse_numbers, plural, ParseError};
use crate::quant::{Granularity, Method, QParams};
use crate::share::view::View;
use crate::share::Page;

/// The typed text read once per edit: its values as a tensor and the note on unequal lines; the
/// work estimate, the view and the note all use it, so a long paste is parsed once, not three
/// times, on the page's thread.
type Typed = Result<(Rc<Tensor>, Option<String>), ParseError>;

/// The tensor the page's view reads when no generator is chosen: the file's, else the typed one.
fn current<'a>(file: &'a Option<Rc<LoadedTensors>>, typed: &'a Typed) -> Option<(&'a str, &'a Tensor)> {
    match file.as_deref().and_then(|f| f.current()) {
        Some((name, t)) => Some((name.as_str(), t)),
        None => typed.as_ref().ok().map(|(t, _)| ("the typed values", &**t)),
    }
}

/// The most text a paste puts in the box (256 KiB, some 25,000 values): a longer paste is read
/// in the worker as a dropped `.txt` file would be, for the page's thread would spend a large
/// fraction of a second parsing it and the browser as long again laying it out in the box (a paste
/// of 400,000 values held it 1.2–3.4 s in headless Chromium).
pub const MAX_PASTE_IN_BOX: usize = 256 << 10;

/// The name a long paste is read under (its extension makes it text, as a `.txt` file is read).
pub const PASTE_NAME: &str = "pasted.txt";

/// The values the value table shows.
fn first_rows<T: Copy>(v: &[T]) -> Rc<[T]> {
    Rc::from(&v[..v.len().min(MAX_ROWS)])
}

/// Asks the worker for the view of the page's settings and tensor (its values travel as bytes,
/// transferred to the worker):
/// the file's, else the typed one (a link carries at most 256 typed values, so the settings'
/// hash alone would give the worker the lab's example instead), unless a generator is chosen.
fn send_view(worker: &SharedWorker, state: &UseReducerHandle<TensorState>, typed: &Typed) {
    let typed = match (state.settings.generator, typed) {
        (None, Ok((t, _))) => Some(("the typed values".to_string(), (**t).clone())),
        _ => None,
    };
    let file = state.file.as_deref().and_then(|f| f.current());
    // The worker unpacks the values with `unpack_tensors`.
    let (loaded, values) = match file.or(typed.as_ref()) {
        Some(current) => {
            let (mut shapes, bytes) = pack_tensors(std::slice::from_ref(current), MAX_PAGE_VALUES);
            (shapes.pop().map(|(name, shape)| LoadedTensorRef { name, shape }), Some(FileBytes::of_bytes(&bytes)))
        }
        None => (None, None),
    };
    let request = Request::TensorView { hash: state.settings.to_hash(), loaded };
    job::run(worker, request, values.as_ref(), state.view_key(), state.dispatcher().to_callback().reform(TensorAction::Job));
}

#[function_component(TensorPage)]
pub fn tensor_page() -> Html {
    let state = use_context::<UseReducerHandle<TensorState>>().expect("the app provides the Tensor page's state");
    let worker = use_context::<SharedWorker>().expect("the app provides the worker");
    let settings = state.settings.clone();

    {
        let d = state.dispatcher();
        url::use_page_link(Page::Tensor, state.to_hash(), Callback::from(move |hash| d.dispatch(TensorAction::FromHash(hash))));
    }

    // Small tensors are quantized here as the settings change; large ones and slow calibrators
    // in the worker (TensorView::work), so that typing never waits.
    let typed: Rc<Typed> = use_memo(settings.text.clone(), |t| {
        parse_numbers(t).map(|p| (Rc::new(Tensor { shape: p.shape, values: p.values }), p.notice))
    });
    // Both memos depend on the text through `settings`, so the `typed` they capture is current.
    let heavy = *use_memo((settings.clone(), state.file.clone()), {
        let typed = typed.clone();
        move |(s, file)| TensorView::work(s, current(file, &typed)) > INLINE_WORK
    });
    let inline = use_memo((settings.clone(), state.file.clone(), heavy), {
        let typed = typed.clone();
        // Text that does not parse goes to `derive` as text, which names the problem.
        move |(s, file, heavy)| (!heavy).then(|| Rc::new(TensorView::derive(s, current(file, &typed))))
    });
    let key = state.view_key();
    {
        let (state, worker, typed) = (state.clone(), worker.clone(), typed.clone());
        let timer = use_mut_ref(|| None::<Timeout>);
        use_effect_with((key.clone(), heavy, state.job.clone()), move |(key, heavy, job)| {
            let have = state.computed.as_ref().is_some_and(|(k, _)| k == key);
            // A job this key already ended in (a failure, or the user's Cancel) is not repeated.
            let ended = matches!(job, JobState::Failed { kind, .. } | JobState::Cancelled { kind } if kind == key);
            if *heavy && !have && !ended && !job.is_running() {
                // Waits for the next keystroke or slider step before starting.
                *timer.borrow_mut() = Some(Timeout::new(250, move || send_view(&worker, &state, &typed)));
            } else {
                *timer.borrow_mut() = None;
            }
        });
    }
    let computing = heavy && state.computed.as_ref().is_none_or(|(k, _)| *k != key);
    let derived: Option<Rc<Result<TensorView, String>>> = if heavy { state.computed.as_ref().map(|(_, v)| v.clone()) } else { (*inline).clone() };

    let on_text = {
        let d = state.dispatcher();
        Callback::from(move |e: InputEvent| {
            let v = e.target_unchecked_into::<HtmlTextAreaElement>().value();
            d.dispatch(TensorAction::SetText(v));
        })
    };
    let on_action = {
        let d = state.dispatcher();
        Callback::from(move |a: TensorAction| d.dispatch(a))
    };
    let example = |m: Method| {
        let d = state.dispatcher();
        Callback::from(move |_: MouseEvent| d.dispatch(TensorAction::LabExample(m)))
    };
    let on_dismiss = {
        let d = state.dispatcher();
        Callback::from(move |_| d.dispatch(TensorAction::DismissNotices))
    };
    // The worker reads the file (a large .npz or text file would freeze the page); the page
    // keeps showing what it has until the tensors arrive.
    let on_file = {
        let (d, worker) = (state.dispatcher(), worker.clone());
        Callback::from(move |r: Result<(String, FileBytes), String>| match r {
            Ok((name, file)) => {
                let updates = d.to_callback().reform(TensorAction::Read);
                job::run(&worker, Request::ReadTensors { name: name.clone() }, Some(&file), name, updates);
            }
            Err(e) => d.dispatch(TensorAction::FileError(e)),
        })
    };
    // A paste too long for the box goes to the worker as a text file (the box keeps its text).
    let focus_file = use_mut_ref(|| false);
    let on_paste = {
        let (on_file, focus_file) = (on_file.clone(), focus_file.clone());
        Callback::from(move |e: Event| {
            let Some(text) = e.dyn_ref::<web_sys::ClipboardEvent>().and_then(|c| c.clipboard_data()).and_then(|d| d.get_data("text").ok()) else { return };
            if text.len() > MAX_TEXT_BYTES {
                e.prevent_default();
                on_file.emit(Err(format!("{PASTE_NAME}: the paste is {:.1} MB of text; the most read is {} MiB", text.len() as f64 / 1e6, MAX_TEXT_BYTES >> 20)));
            } else if text.len() > MAX_PASTE_IN_BOX {
                e.prevent_default();
                *focus_file.borrow_mut() = true;
                on_file.emit(Ok((PASTE_NAME.to_string(), FileBytes::of_bytes(text.as_bytes()))));
            }
        })
    };
    let on_choose = {
        let d = state.dispatcher();
        Callback::from(move |e: Event| {
            let i = e.target_unchecked_into::<web_sys::HtmlSelectElement>().value().parse().unwrap_or(0);
            d.dispatch(TensorAction::ChooseTensor(i))
        })
    };
    // Close the file takes its button away: focus goes to the text box that replaces it, once
    // that box is drawn (an effect runs after the render); a long paste read as a file takes the
    // box away: focus goes to the file's choice of tensor.
    let text_box = use_node_ref();
    let file_choice = use_node_ref();
    let focus_text = use_mut_ref(|| false);
    let on_close = {
        let d = state.dispatcher();
        let focus_text = focus_text.clone();
        Callback::from(move |_: MouseEvent| {
            *focus_text.borrow_mut() = true;
            d.dispatch(TensorAction::CloseFile)
        })
    };
    {
        let (text_box, file_choice) = (text_box.clone(), file_choice.clone());
        use_effect_with(state.file.is_some(), move |&open| {
            let (flag, target) = if open { (focus_file, file_choice) } else { (focus_text, text_box) };
            if flag.replace(false) {
                if let Some(el) = target.cast::<web_sys::HtmlElement>() {
                    let _ = el.focus();
                }
            }
        });
    }
    // The select shows the tensor shown: an option's `selected` attribute does not move a
    // selection the user has made, so a new file (or a new choice) sets the select's value.
    {
        let file_choice = file_choice.clone();
        let chosen = state.file.as_ref().map(|f| (f.chosen, state.file_generation));
        use_effect_with(chosen, move |chosen| {
            if let (Some((i, _)), Some(el)) = (chosen, file_choice.cast::<web_sys::HtmlSelectElement>()) {
                el.set_value(&i.to_string());
            }
        });
    }
    // Lines of unequal length were read as one row: say so under the box.
    let text_notice = typed.as_ref().as_ref().ok().and_then(|(_, notice)| notice.clone());
    let link = url::link_for(&state.to_hash());
    let per_tensor = settings.granularity == Granularity::PerTensor;

    html! {
        <ContextProvider<View> context={state.view.clone()}>
        <div class="tensor-page">
            <Notices notices={state.notices.clone()} {on_dismiss} />
            <TeacherNote view={state.view.clone()} />
            <p class="start" data-testid="start-here">
                {"New to quantization? "}<a href="#/lab" data-testid="start-lab">{"Start with the Lab"}</a>
                {": the handout's exercise one step at a time, each explained."}
                // The example buttons are there and enabled (any lock or hide disables them: they reset every setting).
                if !state.view.is_set() {
                    {" Or press a lab example below and change Bits or Method: the histogram shows the grid of integers move over the values, with s, Z and the error beside it."}
                }
            </p>
            <section class={classes!("inputs", state.view.hidden.contains("all").then_some("all-hidden"))} aria-label="Tensor and settings">
                <h2>{"Tensor"}</h2>
                // Every control hidden: the card says what the teacher set, not nothing.
                if state.view.hidden.contains("all") {
                    <p class="hint" data-testid="tensor-fixed">{ format!(
                        "Set by your teacher: {} bits, {}{}, the {} method, {}; the chart and the tables below show the tensor and what becomes of it.",
                        settings.bits,
                        if settings.signed { "signed" } else { "unsigned" },
                        if settings.symmetric { ", symmetric" } else { ", asymmetric" },
                        settings.method.name(),
                        match settings.granularity {
                            crate::quant::granularity::Granularity::PerTensor => "per tensor".to_string(),
                            crate::quant::granularity::Granularity::PerChannel { axis } => format!("per channel along axis {axis}"),
                            crate::quant::granularity::Granularity::PerGroup { axis, group_size } => format!("in groups of {group_size} along axis {axis}"),
                        },
                    ) }</p>
                }
                <Ctl name="x" also="*"><div class="examples">
                    <button onclick={example(Method::Normal)} data-testid="example-normal"
                        title="The handout's first tensor, quantized with the normal method">{"Lab example: normal"}</button>
                    <button onclick={example(Method::Clip)} data-testid="example-clip"
                        title="The handout's second tensor, quantized with the clip method">{"Lab example: clip"}</button>
                </div></Ctl>
                if let Some(g) = settings.generator {
                    <p class="generated" data-testid="generated-note">{ format!(
                        "Generated tensor: {}, {} × {}, seed {} (each row is a channel along axis 0).",
                        g.distribution.name().replace('_', " "), g.rows, g.cols, settings.seed) }</p>
                } else if let Some(f) = &state.file {
                    <div class="loaded-file" data-testid="loaded-file">
                        <span>{ format!("From {}: ", crate::clip::clip(&f.name, 120)) }</span>
                        <select onchange={on_choose} aria-label="Tensor of the file" data-testid="file-tensor" ref={file_choice}>
                            { for f.tensors.shapes().iter().enumerate().map(|(i, (n, shape))| html! {
                                <option value={i.to_string()} selected={i == f.chosen} title={f.why_not(i).map(str::to_string)}>{ format!("{} {shape:?} ({}){}", crate::clip::clip(n, 120), plural(shape_count(shape), "value"),
                                    if f.why_not(i).is_some() { " — cannot be shown" } else { "" }) }</option>
                            }) }
                        </select>
                        <button onclick={on_close} data-testid="close-file" title="Back to typing numbers">{"Close the file"}</button>
                        if let Some(note) = &f.file_note {
                            <p class="hint" data-testid="file-note">{ format!("Of {}: {note}.", f.name) }</p>
                        }
                        <p class="hint">{"An N-D tensor is shown as [d0, d1·…·dn]: each row is a channel along axis 0. A loaded file does not travel in the share link."}</p>
                    </div>
                } else {
                    <Ctl name="x" also="gen,shape,seed">
                    <label for="tensor-text" title="Rows of a 2-D tensor: one per line (lines of equal length), or nested brackets, as in JSON [[1, 2], [3, 4]] and NumPy's or PyTorch's printed arrays, which paste as they are. Lines of unequal length (a wrapped 1-D print) stay one row.">{"Values (commas, spaces or new lines; one row per line gives a 2-D tensor)"}</label>
                    // autocomplete="off": the browser does not copy the box's text into the history
                    // entry each time the page's link is replaced (108 ms for 4 MB of text).
                    <textarea id="tensor-text" data-testid="tensor-text" rows="3" spellcheck="false" autocomplete="off" ref={text_box}
                        value={settings.text.clone()} oninput={on_text} onpaste={on_paste}
                        title="A paste longer than 256 KiB is read in the worker, as a .txt file would be" />
                    if let Some(n) = &text_notice {
                        <p class="hint" role="status" data-testid="text-notice">{ n.clone() }</p>
                    }
                    </Ctl>
                }
                <Ctl name="x" also="gen,shape,seed">
                <FileDrop label="a tensor (.npy, .npz, .safetensors, .txt, .csv or .json)" accept=".npy,.npz,.safetensors,.txt,.csv,.json"
                    on_file={on_file} testid="tensor-drop" />
                </Ctl>
                if let Some(job) = state.reading.running() {
                    <p class="hint" role="status" data-testid="file-reading">{ job.reading_file(&job.kind) }
                        <button onclick={worker.canceller(Some(job.id)).reform(|_| ())} data-testid="file-reading-cancel"
                            title="Stop reading the file (the worker is restarted); the tensor shown stays">{"Cancel"}</button>
                    </p>
                }
                if let (JobState::Cancelled { kind }, None) = (&state.reading, &state.file_error) {
                    <p class="hint" role="status" data-testid="file-reading-cancelled">{ format!("Reading {kind} was cancelled; nothing else changed.") }</p>
                }
                if let Some(e) = &state.file_error {
                    <p class="error" role="alert" data-testid="file-error">{ format!("{e}. Nothing else changed.") }</p>
                }
                <GeneratorControls settings={settings.clone()} on_action={on_action.clone()} />
                <SchemeControls settings={settings.clone()} on_action={on_action.clone()} />
                <CalibrationControls settings={settings.clone()} on_action={on_action.clone()} />
                <ShareLink {link} what="the same tensor and settings" leaves_out={state.link_leaves_out().map(AttrValue::from)} />
            </section>
            { match &state.job {
                JobState::Running(job) => {
                    let (stage, done, total, value) = job.stage();
                    let on_cancel = worker.canceller(Some(job.id));
                    html! { <JobStatus {stage} {done} {total} {value} loading={job.loading.clone()} {on_cancel} /> }
                }
                JobState::Cancelled { kind } if *kind == key => html! {
                    <p class="hint" role="status" data-testid="tensor-cancelled">{"Cancelled: change a setting to compute the view again."}</p>
                },
                _ if computing => html! { <p class="hint" role="status" data-testid="tensor-computing">{"A large tensor: the worker computes its view…"}</p> },
                _ => html! {},
            } }
            if computing && derived.is_some() {
                <p class="hint stale" data-testid="tensor-stale">{"Below: the previous settings' view, until the worker has the new one."}</p>
            }
            { match derived.as_deref() {
                None => html! {},
                Some(Err(message)) => html! {
                    <p class="error" role="alert" data-testid="input-error">{ message.clone() }</p>
                },
                Some(Ok(d)) => {
                    let first = d.slices[0];
                    let unit = if matches!(settings.granularity, Granularity::PerGroup { .. }) { "group" } else { "channel" };
                    let caption = if d.slice_count > 1 {
                        format!("FP32 values; grid and clamp limits of {unit} 0 of {}", d.slice_count)
                    } else {
                        "FP32 values, quantization grid and clamp limits".to_string()
                    };
                    let glance_unit = (d.slice_count > 1).then(|| format!("{unit} 0 of {}", d.slice_count));
                    html! {
                        <>
                            <section class="first-view" aria-label="The values on the grid" data-testid="first-view">
                                <PlotCanvas plot={Plot::Grid { values: d.charts.grid.clone(), params: first.params, caption }}
                                    label="Histogram of the FP32 values with the quantization grid and the clamp limits" testid="histogram" />
                                { at_a_glance(&first.params, &d.metrics, d.values, glance_unit) }
                            </section>
                            if per_tensor {
                                <section class="range" aria-label="Float range">
                                    <h2>{"Float range [α, β]"}</h2>
                                    <RangeSliders data_min={d.data_min} data_max={d.data_max} alpha={first.params.alpha}
                                        beta={first.params.beta} manual={settings.range.is_some()} on_action={on_action.clone()} />
                                </section>
                                <ParamsPanel params={first.params} guard={first.guard} method={settings.method}
                                    symmetric={settings.symmetric} manual={settings.range.is_some()}
                                    calibration={settings.calibration.name()} clipped={d.metrics.clipped} count={d.values}
                                    outside_range={d.outside_range} />
                            } else {
                                <ChannelTable slices={d.slices.clone()} count={d.slice_count} unit={unit} />
                            }
                            <MetricsPanel m={d.metrics} fp16={d.fp16} bf16={d.bf16} bits={settings.bits} />
                            <PlotCanvas plot={Plot::Scatter { sample: d.charts.scatter.clone() }} class="half"
                                label="Scatter of each FP32 value against its dequantized value, with the line y = x" testid="scatter" />
                            <PlotCanvas plot={Plot::ErrorHistogram { errors: d.charts.errors.clone() }} class="half"
                                label="Histogram of the error r' − x with the rounding bound ±s/2" testid="error-histogram" />
                            if d.slice_count > 1 {
                                <PlotCanvas plot={Plot::ChannelStrip { strip: d.charts.strip.clone(), unit: AttrValue::from(unit) }}
                                    label={format!("Scale and zero point of each {unit}, as bars")} testid="channel-strip" />
                            }
                            { match (&d.outcomes, &d.charts.calibrators) {
                                (Ok(o), Some(values)) => html! {
                                    <PlotCanvas plot={Plot::Calibrators { values: values.clone(), outcomes: o.clone() }}
                                        label="Histogram with every calibration method's clip range and SQNR on the whole tensor (one range per tensor, whatever the granularity)" testid="calibrators" />
                                },
                                (Err(e), _) => html! { <p class="hint">{ e.clone() }</p> },
                                (Ok(_), None) => html! {},
                            } }
                            <ValueTable x={first_rows(&d.x)} q={first_rows(&d.q)} dequant={first_rows(&d.dequant)} count={d.values}
                                qmin={first.params.qmin} qmax={first.params.qmax} shape={d.shape.clone()} />
                        </>
                    }
                },
            } }
        </div>
        </ContextProvider<View>>
    }
}

/// The figures the first screen needs beside the histogram: s, Z, the float range and
/// the integer range, the error and how many values were clipped. `unit` names the slice
/// shown when there are several ("channel 0 of 16").
fn at_a_glance(p: &QParams, m: &QuantErrorMetrics, count: usize, unit: Option<String>) -> Html {
    let item = |name: &'static str, value: String, testid: &'static str| html! {
        <div><dt>{ name }</dt><dd data-testid={testid}>{ value }</dd></div>
    };
    html! {
        <dl class="glance" data-testid="glance">
            { item("scale s", num(p.scale), "glance-scale") }
            { item("zero point Z", p.zero_point.to_string(), "glance-zero") }
            { item("[α, β]", format!("[{}, {}]", num(p.alpha), num(p.beta)), "glance-range") }
            { item("[qmin, qmax]", format!("[{}, {}]", p.qmin, p.qmax), "glance-ints") }
            { item("MSE", format!("{:.4e}", m.error.mse), "glance-mse") }
            { item("SQNR", super::metrics_panel::db(m.error.sqnr_db), "glance-sqnr") }
            { item("clipped", format!("{} of {count}", m.clipped), "glance-clipped") }
            if let Some(u) = unit { <p class="hint">{ format!("s, Z and the ranges of {u}; every slice is in the table below.") }</p> }
        </dl>
    }
}


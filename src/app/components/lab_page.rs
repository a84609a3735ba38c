//! The Lab: a guided walkthrough of the quantization lab handout, each step
//! with its explanation and its live result:
//!
//! 1. the FP32 model's accuracy;
//! 2. the "normal" and "clip" methods on the handout's tensors;
//! 3. PTQ of the MLP (per tensor, asymmetric, the lab's method);
//! 4. quantizing layer by layer against all layers at the same time;
//! 5. QAT;
//! 6. the FP32 / PTQ / QAT table.
//!
//! Steps 1 and 3 come from one PTQ run, 4 from the comparison, 5 and 6 from
//! QAT, all in the worker; step 2 is computed on the page.

use std::rc::Rc;

use yew::prelude::*;

use super::job_status::JobStatus;
use super::lab_lm::LabLmTrack;
use super::notices::Notices;
use super::teacher_note::TeacherNote;
use super::plot_canvas::{Plot, PlotCanvas};
use crate::app::charts::LayerMetric;
use super::ptq_result::pct;
use super::task_results::qat_table;
use crate::app::state::lab::{LabAction, LabState};
use crate::app::url;
use crate::experiment::spec::builtin_architecture;
use crate::app::state::experiment_job;
use crate::app::state::job::JobState;
use crate::app::worker::host::SharedWorker;
use crate::app::worker::protocol::ModelSource;
use crate::experiment::shard;
use crate::examples::{LAB_CLIP, LAB_NORMAL};
use crate::experiment::layerwise::Mode;
use crate::experiment::{Experiment, Task};
use crate::ptq::{QuantMode, WeightGranularity};
use crate::quant::calibration::Calibration;
use crate::quant::{quantize_tensor, Method, Scheme};
use crate::parse::format_numbers;
use crate::share::tensor::TensorSettings;
use crate::share::view::{join_query, View};
use crate::share::{page_hash, query_of, Page};

pub type LabHandle = UseReducerHandle<LabState>;

/// A link to the Tensor page from a Lab whose teacher fixed every control (`lock=all` or
/// `hide=all`): that page opens locked alike, so the class stays on the teacher's example.
fn lab_lock_all(view: &View, hash: String) -> String {
    match view.fixes_all() {
        true => page_hash(Page::Tensor, &join_query(query_of(&hash), &View::lock_all())),
        false => hash,
    }
}

/// The Tensor page as a teacher's link set it; from a Lab of `lock=all` or `hide=all` with every
/// control locked as well (a Tensor link's own `lock=bits` must not open the rest).
fn tensor_as_set(lab: &View, tensor: &crate::app::state::TensorState) -> String {
    match lab.fixes_all() {
        true => page_hash(Page::Tensor, &join_query(query_of(&tensor.settings.to_hash()), &tensor.view.clone().and_lock_all())),
        false => tensor.to_hash(),
    }
}

/// Runs one step's task in the worker (shared among the pool's workers, as on the Model page);
/// the Lab's reducer follows the job.
fn submit(worker: &SharedWorker, state: &LabHandle, task: Task) {
    let exp = state.task_experiment(task);
    let model = ModelSource::Builtin(exp.model.clone());
    let layers = builtin_architecture(&exp.model).quantizable().len();
    let workers = worker.0.size().min(shard::items(&exp, layers));
    let settings = state.settings;
    experiment_job::run(worker, &exp, &model, None, workers, task, state.dispatcher().to_callback().reform(move |u| LabAction::Job(settings, u)));
}

/// A point of the MLP as the handout names it, with qplay's layer name beside it:
/// input → x, nn1.relu → relu, nn2.relu → relu_1, nn3 → nn3 (the output).
fn handout_name(point: &str) -> String {
    match point {
        "input" => "x (the input)".into(),
        "nn1.relu" => "relu (nn1.relu)".into(),
        "nn2.relu" => "relu_1 (nn2.relu)".into(),
        "nn3" | "output" => "nn3 (the output)".into(),
        other => other.into(),
    }
}

/// Step 2, computed on the page: both of the handout's tensors with both methods.
fn normal_vs_clip() -> Html {
    let row = |name: &str, x: &[f32], m: Method| -> Html {
        match quantize_tensor(x, &Scheme::lab(m, 8)) {
            Ok(q) => html! {
                <tr>
                    <td>{ format!("{name}, {}", m.name()) }</td>
                    <td class="num">{ format!("{:.5}", q.params.scale) }</td><td class="num">{ q.params.zero_point }</td>
                    <td class="mono" data-testid={format!("lab-q-{name}-{}", m.name())}>{ format!("{:?}", q.q) }</td>
                    <td class="mono">{ q.dequant.iter().map(|v| format!("{v:.4}")).collect::<Vec<_>>().join(", ") }</td>
                    <td class="num">{ format!("{:.2e}", x.iter().zip(&q.dequant).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>() / x.len() as f64) }</td>
                </tr>
            },
            Err(e) => html! { <tr><td colspan="6" class="error">{ e.to_string() }</td></tr> },
        }
    };
    html! {
        <table class="lab-methods" data-testid="lab-methods">
            <thead><tr><th>{"tensor, method"}</th><th class="num">{"s"}</th><th class="num">{"Z"}</th><th>{"q"}</th><th>{"r′ = (q − Z)·s"}</th><th class="num">{"MSE"}</th></tr></thead>
            <tbody>
                { row("first", &LAB_NORMAL, Method::Normal) }
                { row("first", &LAB_NORMAL, Method::Clip) }
                { row("second", &LAB_CLIP, Method::Normal) }
                { row("second", &LAB_CLIP, Method::Clip) }
            </tbody>
        </table>
    }
}

/// The PTQ the lab's settings ask for, in words ("one s and Z per weight tensor (asymmetric, the
/// normal method)"): a link may change any setting, and the steps describe what runs.
fn ptq_words(e: &Experiment) -> (String, String) {
    let p = &e.ptq;
    let per = match p.granularity {
        WeightGranularity::PerTensor => "one s and Z per weight tensor".to_string(),
        WeightGranularity::PerChannel => "one s and Z per output channel of each weight".to_string(),
        WeightGranularity::PerGroup { group_size } => format!("one s and Z per group of {group_size} inputs of each weight"),
    };
    let sym = if p.weight_symmetric { "symmetric: Z = 0" } else { "asymmetric" };
    let mut weights = format!("{per} ({sym}, the {} method)", p.method.name());
    // What else a link may set, said where it applies.
    if !p.layer_bits.is_empty() {
        let each: Vec<String> = p.layer_bits.iter().map(|(l, b)| format!("{l} at {b} bits")).collect();
        weights += &format!(", with {}", each.join(", "));
    }
    if !p.skip.is_empty() {
        weights += &format!("; left in FP32: {}", p.skip.join(", "));
    }
    if p.bias_correction {
        weights += "; biases corrected for the mean error on the calibration images";
    }
    if let Some(a) = p.smooth_quant {
        weights += &format!("; SmoothQuant with α = {}", crate::decimal::short_text(a));
    }
    let acts = match p.mode {
        QuantMode::Full => {
            let range = match p.act_calibration {
                Calibration::MinMax => "min and max".to_string(),
                ref c => format!("{} range", c.name()),
            };
            format!("every activation (x, relu, relu_1, and the output) gets an s and Z from its {range} over {} training images, all at once", e.calib_size)
        }
        QuantMode::WeightOnly => "the activations stay in FP32 (weight-only)".to_string(),
        QuantMode::Dynamic => "each activation gets its s and Z from the input itself as the model runs (dynamic)".to_string(),
    };
    (weights, acts)
}

/// "W8A8", "W4 weight-only" or "W8A8 dynamic".
fn bits_label(e: &Experiment) -> String {
    let (w, a) = (e.ptq.weight_bits, e.ptq.act_bits);
    match e.ptq.mode {
        QuantMode::Full => format!("W{w}A{a}"),
        QuantMode::WeightOnly => format!("W{w} weight-only"),
        QuantMode::Dynamic => format!("W{w}A{a} dynamic"),
    }
}

/// The bit widths the Bits select offers (weights and activations alike).
const LAB_BITS: [u8; 7] = [2, 3, 4, 5, 6, 7, 8];

/// "Run every step": starts the next missing step whenever nothing runs. The app keeps it
/// mounted on every page, so the steps go on while the user looks at another page.
#[function_component(LabRunner)]
pub fn lab_runner() -> Html {
    let state = use_context::<LabHandle>().expect("the app provides the Lab's state");
    let worker = use_context::<SharedWorker>().expect("the app provides the worker");
    let (s, w) = (state.clone(), worker.clone());
    use_effect_with((state.run_all, state.job.is_running(), state.next_missing()), move |(all, running, next)| {
        if *all && !*running {
            if let Some(t) = next {
                submit(&w, &s, *t);
            }
        }
    });
    html! {}
}

#[function_component(LabPage)]
pub fn lab_page() -> Html {
    let state = use_context::<LabHandle>().expect("the app provides the Lab's state");
    let worker = use_context::<SharedWorker>().expect("the app provides the worker");
    let tensor = use_context::<yew::UseReducerHandle<crate::app::state::TensorState>>().expect("the app provides the Tensor page's state");

    {
        let d = state.dispatcher();
        url::use_page_link(Page::Lab, state.to_hash(), Callback::from(move |hash: String| d.dispatch(LabAction::FromQuery(query_of(&hash).to_string()))));
    }
    let run = |task: Task| {
        let (s, w) = (state.clone(), worker.clone());
        Callback::from(move |_: MouseEvent| {
            if !s.job.is_running() {
                submit(&w, &s, task);
            }
        })
    };
    let run_all = {
        let d = state.dispatcher();
        Callback::from(move |_: MouseEvent| d.dispatch(LabAction::RunAll(true)))
    };
    let on_cancel = {
        let cancel = worker.canceller(state.job.running_id());
        let d = state.dispatcher();
        Callback::from(move |_: ()| {
            d.dispatch(LabAction::RunAll(false));
            cancel.emit(());
        })
    };
    let on_dataset = {
        let d = state.dispatcher();
        Callback::from(move |e: Event| {
            let v = e.target_unchecked_into::<web_sys::HtmlSelectElement>().value();
            d.dispatch(LabAction::edit(move |x| x.dataset = if v == "mnist" { "mnist".into() } else { "fashion".into() }));
        })
    };
    let on_method = {
        let d = state.dispatcher();
        Callback::from(move |e: Event| {
            let m = Method::from_name(&e.target_unchecked_into::<web_sys::HtmlSelectElement>().value()).unwrap_or(Method::Normal);
            d.dispatch(LabAction::edit(move |x| x.ptq.method = m));
        })
    };
    let on_bits = {
        let d = state.dispatcher();
        Callback::from(move |e: Event| {
            // "" is the link's own setting, which the select shows but does not offer.
            let Ok(b) = e.target_unchecked_into::<web_sys::HtmlSelectElement>().value().parse::<u8>() else { return };
            d.dispatch(LabAction::edit(move |x| {
                x.ptq.weight_bits = b;
                x.ptq.act_bits = b;
            }));
        })
    };
    let on_dismiss = {
        let d = state.dispatcher();
        Callback::from(move |_| d.dispatch(LabAction::DismissNotices))
    };
    let busy = state.job.is_running();
    let status = state.job.running().map(|r| {
        let (stage, done, total, value) = r.stage();
        html! { <JobStatus stage={stage} {done} {total} {value} loading={r.loading.clone()} on_cancel={on_cancel.clone()} /> }
    });
    let failed = |task: Task| -> Html {
        match &state.job {
            // Cancel is the user's own choice, not a failure: a neutral note.
            JobState::Cancelled { kind } if *kind == task => html! { <p class="hint" role="status" data-testid="lab-cancelled">{"Cancelled."}</p> },
            JobState::Failed { kind, message } if *kind == task => html! { <p class="error" role="alert">{ format!("This step failed: {message}") }</p> },
            _ => html! {},
        }
    };
    let e = &state.exp;
    let ds_name = if e.dataset == "mnist" { "MNIST" } else { "Fashion-MNIST" };
    // Bits the select cannot show (a link's 16, or weights and activations apart) get an option of their own.
    // The Bits select sets the weights' and the activations' bits together: a link that hides or
    // locks either fixes it.
    let bits_keys = ["ptq.weight_bits", "ptq.act_bits"];
    let bits_hidden = bits_keys.iter().any(|k| state.view.is_hidden(k));
    let bits_locked = bits_keys.iter().any(|k| state.view.is_locked(k));
    let from_link_bits = !LAB_BITS.contains(&e.ptq.weight_bits) || e.ptq.act_bits != e.ptq.weight_bits;
    let (weights_words, acts_words) = ptq_words(e);
    let test_images = match (&state.ptq, e.eval_size) {
        (Some(p), _) => format!("the {} test images it was evaluated on", p.report.eval_images),
        (None, 0) => "the test split".to_string(),
        (None, n) => format!("the first {n} test images"),
    };
    let epochs = match e.qat.epochs {
        1 => "One epoch".to_string(),
        n => format!("{n} epochs"),
    };
    html! {
        <div class="lab-page">
            <Notices notices={state.notices.clone()} {on_dismiss} />
            <TeacherNote view={state.view.clone()} />
            <section class="lab-intro">
                <h2>{"The quantization lab, in your browser"}</h2>
                <p>{ "This walks through the lab handout (EAI Lab 6): quantize with a scale s and a zero point Z, compare the \"normal\" and \"clip\" \
                    methods, quantize the MLP 784-128-64-10 after training (PTQ), see why calibrating layer by layer differs from all layers at \
                    the same time, then fine-tune with quantization-aware training (QAT) and compare FP32, PTQ and QAT." }</p>
                <div class="settings">
                    if !state.view.is_hidden("dataset") {
                        <label title="the images the MLP was trained and is tested on">{"Dataset"}
                            <select onchange={on_dataset} ~value={e.dataset.clone()} disabled={busy || state.view.is_locked("dataset")} data-testid="lab-dataset">
                                <option value="fashion" selected={e.dataset == "fashion"}>{"Fashion-MNIST"}</option>
                                <option value="mnist" selected={e.dataset == "mnist"}>{"MNIST"}</option>
                            </select></label>
                    }
                    if !state.view.is_hidden("ptq.method") {
                        <label title="normal: [α, β] → [−128, 127]; clip: [α, β] → [−256, 255], still clamped to [−128, 127]">{"Method"}
                            <select onchange={on_method} ~value={if e.ptq.method == Method::Clip { "clip" } else { "normal" }} disabled={busy || state.view.is_locked("ptq.method")} data-testid="lab-method">
                                <option value="normal" selected={e.ptq.method == Method::Normal}>{"normal"}</option>
                                <option value="clip" selected={e.ptq.method == Method::Clip}>{"clip"}</option>
                            </select></label>
                    }
                    if !bits_hidden {
                        <label title="bits of the weights and the activations">{"Bits"}
                            <select onchange={on_bits} ~value={if from_link_bits { String::new() } else { e.ptq.weight_bits.to_string() }} disabled={busy || bits_locked} data-testid="lab-bits">
                                { for LAB_BITS.iter().map(|b| html! { <option value={b.to_string()} selected={!from_link_bits && e.ptq.weight_bits == *b}>{ b }</option> }) }
                                if from_link_bits {
                                    <option value="" selected=true>{ format!("W{} A{} (from the link)", e.ptq.weight_bits, e.ptq.act_bits) }</option>
                                }
                            </select></label>
                    }
                    <button class="primary" onclick={run_all} disabled={busy} data-testid="lab-run-all">{"Run every step"}</button>
                </div>
                { status.unwrap_or_default() }
            </section>

            <section class="step" data-testid="step-1">
                <h2>{"1. The FP32 model"}</h2>
                <p>{ format!("The MLP 784 → 128 → ReLU → 64 → ReLU → 10 (the handout's nodes x, relu, relu_1, nn3; qplay's layers call the two ReLUs nn1.relu and nn2.relu), trained by qplay on {ds_name}. Its accuracy on {test_images} is the baseline every quantized model is measured against.") }</p>
                <p class="hint" data-testid="lab-why-differ">{ "Why not the handout's 84 % / 84 % / 85 %? qplay trained its own MLP with a different set-up \
                    (optimizer, epochs, initialisation) and evaluates on its own test split, while the handout's numbers come \
                    from its own training run and split. The comparisons are what carry over: PTQ close to FP32 at 8 bits, QAT recovering \
                    most of what PTQ loses at low bits." }</p>
                <button onclick={run(Task::Ptq)} disabled={busy}>{"Run steps 1 and 3"}</button>
                if let Some(p) = &state.ptq {
                    <p class="result">{"FP32 accuracy: "}<b data-testid="lab-fp32">{ pct(p.report.fp32_accuracy) }</b>
                        { format!(" ({} of {} images), size {:.6} MB.", (p.report.fp32_accuracy * p.report.eval_images as f64).round(), p.report.eval_images, p.report.fp32_bytes as f64 / 1e6) }</p>
                }
                { failed(Task::Ptq) }
            </section>

            <section class="step" data-testid="step-2">
                <h2>{"2. Normal against clip"}</h2>
                <p>{ "s = (β − α) / (βq − αq) and Z = round(αq − α / s), then q = clamp(round(r / s + Z), −128, 127) and r′ = (q − Z)·s. \
                    Normal maps the tensor's [min, max] onto [−128, 127]; clip uses [−256, 255], a step half as wide, so values in the outer half \
                    saturate at −128 or 127. The handout's two tensors, in int8 whatever the Bits and Method above (they set the PTQ of step 3):" }</p>
                { normal_vs_clip() }
                if tensor.view.is_set() {
                    // The example would replace what the teacher's link fixes there: the page as it is.
                    <p class="hint" data-testid="lab-tensor-fixed">{"The Tensor page is set by your teacher's link: "}<a href={tensor_as_set(&state.view, &tensor)}>{"open it as it is"}</a>{" to move the range by hand."}</p>
                } else {
                    <p class="hint"><a href={lab_lock_all(&state.view, TensorSettings { method: Method::Clip, text: format_numbers(&LAB_CLIP), ..TensorSettings::default() }.to_hash())}>{"Open the clip example on the Tensor page"}</a>{" to move the range by hand."}</p>
                }
            </section>

            <section class="step" data-testid="step-3">
                <h2>{"3. Post-training quantization of the MLP"}</h2>
                <p data-testid="lab-ptq-words">{ format!("Weights: {weights_words}; {acts_words}. Then the model runs on the test images.") }</p>
                if e.ptq.method == Method::Clip {
                    <p class="hint" data-testid="lab-clip-why">{ "Why clip fails on a network: a tensor whose range starts at 0 (every ReLU output here) \
                        gets Z = round(αq − α / s) = 2·qmin, outside the clamp range [qmin, qmax], so zero itself cannot be stored: every value \
                        in the lowest quarter of the range comes back as r′ = (qmin − 2·qmin)·s, about a quarter of the range's top (int8: 0 → 128·β / 511), \
                        and every value in the top quarter as (qmax − 2·qmin)·s (int8: 383·β / 511). \
                        The ReLUs' zeros are lost, and the accuracy falls to about chance (10 % for ten classes). Step 2 shows what the clip method \
                        is for: what saturating the outer half of a range does to one tensor." }</p>
                }
                if let Some(p) = &state.ptq {
                    <p class="result">{ format!("{} PTQ accuracy: ", bits_label(e)) }<b data-testid="lab-ptq">{ pct(p.report.accuracy) }</b>
                        { format!(" (FP32 {}), size {:.6} MB ({:.2}× smaller), agreement with FP32 {}.", pct(p.report.fp32_accuracy), p.report.bytes as f64 / 1e6, p.report.compression, pct(p.report.agreement)) }</p>
                    <PlotCanvas plot={Plot::PtqLayers { layers: Rc::new(p.report.layers.clone()), metric: LayerMetric::SqnrDb }} testid="lab-ptq-chart"
                        label="Per-layer errors of the PTQ model" />
                }
            </section>

            <section class="step" data-testid="step-4">
                <h2>{"4. Layer by layer against all layers at the same time"}</h2>
                <p>{ "Layer by layer: quantize one layer at a time, the others left in FP32, and measure the error at the tensor it quantizes \
                    (its input: at nn1.relu the layer nn2 is quantized, so the error there is the rounding of that one tensor to nn2's input grid). \
                    All at once: quantize every layer together, each range calibrated on the FP32 model's activations; the error at a layer now \
                    includes everything upstream. The MSE at each of the lab's points, and the output distributions:" }</p>
                <button onclick={run(Task::Layerwise)} disabled={busy} data-testid="lab-run-layerwise">{"Run step 4"}</button>
                if let Some(r) = &state.layerwise {
                    <PlotCanvas plot={Plot::Layerwise { report: r.clone(), metric: LayerMetric::Mse }} testid="lab-layerwise-chart"
                        label="MSE at each point: layer by layer, all at once, sequential" />
                    <table data-testid="lab-mse-table">
                        <thead><tr><th>{"point"}</th><th class="num">{"layer by layer"}</th><th class="num">{"all at once"}</th></tr></thead>
                        <tbody>{ for r.points.iter().map(|p| html! {
                            <tr><td>{ format!("MSE of {}", handout_name(&p.name)) }</td><td class="num">{ format!("{:.4e}", p.mse(Mode::LayerByLayer)) }</td>
                                <td class="num">{ format!("{:.4e}", p.mse(Mode::AllAtOnce)) }</td></tr>
                        }) }</tbody>
                    </table>
                    if let Some(last) = r.points.last() {
                        <PlotCanvas plot={Plot::Distributions { point: Rc::new(last.clone()), log_counts: false }} testid="lab-distribution-chart"
                            label="The output distribution: FP32 against each way of quantizing" />
                    }
                    <p class="hint">{ "Quantized alone, a layer's point carries only its own rounding error; with every layer quantized, the error \
                        from upstream adds to it, so all at once has the larger MSE at every point after the input here. The handout reports the \
                        opposite for its own code. What the table shows: each row is one point of the network (the input x, after each \
                        ReLU, the output); \"layer by layer\" quantizes only the layer that reads that point and measures that point's own rounding alone, \
                        \"all at once\" quantizes every layer and measures the error that has piled up by that point. The gap between the \
                        two columns is the error that earlier layers pass on (their weights' and inputs' rounding). The chart also draws \
                        \"sequential\": every layer quantized, each calibrated on the activations of the already quantized layers before it." }</p>
                }
                { failed(Task::Layerwise) }
            </section>

            <section class="step" data-testid="step-5">
                <h2>{"5. Quantization-aware training"}</h2>
                <p>{ format!("QAT fine-tunes the FP32 weights with the quantization simulated in the forward pass (fake-quant on the weights and the \
                    activations); the gradient passes straight through the rounding (the straight-through estimator). {epochs} over the \
                    training images:") }</p>
                <button onclick={run(Task::Qat)} disabled={busy} data-testid="lab-run-qat">{"Run steps 5 and 6"}</button>
                if let Some(q) = &state.qat {
                    { for q.notes.iter().map(|n| html! { <p class="note" data-testid="lab-qat-note">{ n.clone() }</p> }) }
                    <PlotCanvas plot={Plot::Qat { report: q.clone() }} testid="lab-qat-chart" label="QAT loss and test accuracy" />
                }
                { failed(Task::Qat) }
            </section>

            <section class="step" data-testid="step-6">
                <h2>{"6. FP32, PTQ and QAT"}</h2>
                if let Some(q) = &state.qat {
                    { qat_table(q) }
                } else {
                    <p class="hint">{"Run step 5 to fill the table."}</p>
                }
            </section>
            <LabLmTrack lock_all={state.view.fixes_all()} />
        </div>
    }
}

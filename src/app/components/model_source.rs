//! Which model the experiment runs on: a built-in baseline, or a file the user
//! drops or picks (.safetensors or .onnx, with an optional architecture JSON),
//! and the model's layer table: name, kind, shape, parameters, and size at
//! FP32, at the chosen bits, and the compression ratio; the input's shape first, the totals last.
//! Sizes in kB (1 kB = 1,000 bytes, [`crate::units`]).

use std::rc::Rc;

use yew::prelude::*;

use super::file_drop::FileDrop;
use crate::app::worker::FileBytes;
use crate::app::state::model::LoadedModel;
use crate::experiment::spec::{BUILTIN_MODELS, FILE_MODEL};
use crate::model::ModelOutline;
use crate::ptq::build::planned_bytes;
use crate::ptq::PtqConfig;
use crate::units::kilobytes as kb;

#[derive(Properties, PartialEq)]
pub struct ModelSourceProps {
    /// The experiment's model name (a built-in one, or "file").
    pub model_name: AttrValue,
    /// The model's architecture.
    pub model: Rc<ModelOutline>,
    pub file: Option<Rc<LoadedModel>>,
    pub file_error: Option<String>,
    /// What the worker is doing with a dropped file ("Reading X in the worker… "), while it does.
    #[prop_or_default]
    pub reading: Option<AttrValue>,
    /// A job runs on the model: no file is taken until it ends (its result would show under the
    /// new file's name).
    #[prop_or_default]
    pub busy: bool,
    /// Stops that reading (the worker is restarted).
    #[prop_or_default]
    pub on_cancel_reading: Callback<()>,
    /// The name of a file whose reading the user cancelled.
    #[prop_or_default]
    pub cancelled: Option<AttrValue>,
    pub ptq: PtqConfig,
    pub on_builtin: Callback<String>,
    pub on_file: Callback<Result<(String, FileBytes), String>>,
    #[prop_or_default]
    pub locked: bool,
    /// Hidden by the teacher's link (`hide=model`): no chooser, only the model's layers.
    #[prop_or_default]
    pub hidden: bool,
}

pub fn builtin_label(name: &str) -> &'static str {
    match name {
        "mlp-fashion" => "MLP 784-128-64-10 on Fashion-MNIST (the lab's model)",
        "mlp-mnist" => "MLP 784-128-64-10 on MNIST",
        "cnn-fashion" => "small CNN on Fashion-MNIST",
        _ => "a built-in model",
    }
}

#[function_component(ModelSource)]
pub fn model_source(props: &ModelSourceProps) -> Html {
    let on_select = props.on_builtin.reform(|e: Event| e.target_unchecked_into::<web_sys::HtmlSelectElement>().value());
    let model = &props.model;
    let planned = planned_bytes(model, &props.ptq);
    let (mut fp32_total, mut q_total) = (0usize, 0usize);
    let rows: Vec<Html> = model
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let params = l.params;
            let fp32 = 4 * params;
            let q = planned[i].unwrap_or(fp32);
            fp32_total += fp32;
            q_total += q;
            let shape = if l.weight_shape.is_empty() { String::new() } else { format!("{:?}", l.weight_shape) };
            let bits = match planned[i] {
                Some(_) => format!("{}-bit", props.ptq.bits_of(&l.name)),
                None if params > 0 => "FP32".into(),
                None => String::new(),
            };
            html! {
                <tr>
                    <td>{ l.name.clone() }</td><td>{ l.kind.clone() }</td><td>{ shape }</td>
                    <td>{ model.shapes[i + 1].to_string() }</td>
                    <td class="num">{ params }</td>
                    <td class="num">{ if params > 0 { kb(fp32) } else { String::new() } }</td>
                    <td class="num">{ if params > 0 { format!("{} ({bits})", kb(q)) } else { String::new() } }</td>
                    <td class="num">{ if params > 0 { format!("{:.2}×", fp32 as f64 / q.max(1) as f64) } else { String::new() } }</td>
                </tr>
            }
        })
        .collect();
    let is_file = props.model_name == FILE_MODEL;
    html! {
        <section class="model-source" aria-label="Model">
            <h2>{"Model"}</h2>
            if !props.hidden {
            <div class="settings">
                <label title="The pretrained FP32 baselines, trained by qplay's own trainer (scripts/train_baselines.sh)">{"Built-in"}
                    <select onchange={on_select} disabled={props.locked} data-testid="model-select">
                        { for BUILTIN_MODELS.iter().map(|(n, _, _)| html! {
                            <option value={n.to_string()} selected={!is_file && props.model_name == *n}>{ builtin_label(n) }</option>
                        }) }
                        if let Some(f) = &props.file {
                            <option value={FILE_MODEL} selected={is_file}>{ format!("loaded file: {}", f.name) }</option>
                        }
                    </select>
                </label>
            </div>
            <FileDrop label="a model (.safetensors or .onnx; a PyTorch nn.Sequential state_dict works)" accept=".safetensors,.onnx"
                on_file={props.on_file.clone()} keep=true testid="model-drop" locked={props.locked} disabled={props.busy} />
            }
            if let Some(doing) = &props.reading {
                <p class="hint" role="status" data-testid="model-reading">{ doing.clone() }
                    <button onclick={props.on_cancel_reading.reform(|_| ())} data-testid="model-reading-cancel"
                        title="Stop reading the file (the worker is restarted); the model loaded before stays">{"Cancel"}</button>
                </p>
            }
            if let (Some(name), None) = (&props.cancelled, &props.file_error) {
                <p class="hint" role="status" data-testid="model-reading-cancelled">{ format!("Reading {name} was cancelled; the model loaded before is still here.") }</p>
            }
            if let Some(e) = &props.file_error {
                <p class="error" role="alert" data-testid="model-error">{ format!("{e}. The model loaded before is still here.") }</p>
            }
            <div class="scroll">
            <table class="layers" data-testid="layer-table">
                <thead><tr>
                    <th>{"layer"}</th><th>{"kind"}</th><th>{"weight shape"}</th><th>{"output"}</th>
                    <th class="num">{"parameters"}</th><th class="num">{"FP32"}</th><th class="num">{"quantized"}</th><th class="num">{"ratio"}</th>
                </tr></thead>
                <tbody>
                    <tr data-testid="input-row"><td>{"input"}</td><td></td><td></td><td>{ model.input.to_string() }</td>
                        <td></td><td></td><td></td><td></td></tr>
                    { for rows }
                </tbody>
                <tfoot><tr data-testid="total-row">
                    <th scope="row" colspan="4">{"total"}</th>
                    <td class="num">{ model.params() }</td><td class="num">{ kb(fp32_total) }</td>
                    <td class="num" data-testid="planned-size">{ kb(q_total) }</td>
                    <td class="num">{ format!("{:.2}×", fp32_total as f64 / q_total.max(1) as f64) }</td>
                </tr></tfoot>
            </table>
            </div>
        </section>
    }
}

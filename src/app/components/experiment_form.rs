//! The experiment's settings. Every control is named by its dotted path (the
//! same as in the link and the TOML file), so a teacher's `hide=` and `lock=`
//! reach it; each label's tooltip says what the setting does to the maths.

use std::rc::Rc;

use yew::prelude::*;

use crate::experiment::{Experiment, Task};
use crate::ptq::{QuantMode, WeightGranularity};
use crate::quant::calibration::{Calibration, CalibrationKind};
use crate::quant::Method;
use crate::ptq::config::DynamicMode;
use super::form_controls::{checked, select_value, Controls};
use super::scheme_controls::ROUNDINGS;
use crate::quant::Rounding;
use crate::share::view::View;

/// An edit of the experiment, as the reducer applies it.
pub type Edit = Rc<dyn Fn(&mut Experiment)>;
type SetText = Rc<dyn Fn(&mut Experiment, &str)>;
type SetNumber = Rc<dyn Fn(&mut Experiment, f64)>;
type SetFlag = Rc<dyn Fn(&mut Experiment, bool)>;

#[derive(Properties, PartialEq)]
pub struct ExperimentFormProps {
    pub exp: Experiment,
    /// (name, kind) of each quantizable layer, for the skip list and per-layer bits.
    pub layers: Rc<Vec<(String, String)>>,
    pub view: View,
    pub on_edit: Callback<Edit>,
    /// Which settings to show: the Lab shows fewer.
    #[prop_or(true)]
    pub show_task: bool,
}




const CALIBRATIONS: [(CalibrationKind, &str, &str); 6] = [
    (CalibrationKind::MinMax, "MinMax", "α, β = the min and max seen (MindSpore Lite's MAX_MIN)"),
    (CalibrationKind::MovingAverageMinMax, "moving-average MinMax", "an exponential moving average of each batch's min and max (PyTorch's observer)"),
    (CalibrationKind::Percentile, "percentile", "the range holding 99.99 % of the values: the rest saturate"),
    (CalibrationKind::RemovalOutlier, "RemovalOutlier", "min / max after dropping 0.01 % at each end (MindSpore Lite)"),
    (CalibrationKind::Kl, "KL / entropy", "the clip range whose quantized histogram loses the least information (TensorRT, 2048 bins)"),
    (CalibrationKind::Mse, "MSE-optimal", "the clip range with the least quantization MSE (grid search)"),
];

const TASKS: [(Task, &str, &str); 6] = [
    (Task::Ptq, "PTQ run", "quantize once: accuracy, size, per-layer errors, reports"),
    (Task::Layerwise, "layer by layer vs all at once", "the lab's comparison: each layer quantized alone against all layers together, and a sensitivity ranking"),
    (Task::Sweep, "sweep bits × granularity × calibration", "accuracy and SQNR against bits, per tensor against per channel, for each calibration method"),
    (Task::MixedBit, "mixed-bit search (MindSpore Lite)", "bits per layer for a target relative weight error (init_scale), or auto-tuned to an output cosine of 0.995"),
    (Task::SizeBudget, "size-budget search", "lower bits where it costs the least error until the model fits the budget"),
    (Task::Qat, "QAT (fine-tune)", "quantization-aware training from the FP32 weights, with fake-quant and the straight-through estimator"),
];

#[function_component(ExperimentForm)]
pub fn experiment_form(props: &ExperimentFormProps) -> Html {
    let e = &props.exp;
    let view = &props.view;
    let edit = |f: Rc<dyn Fn(&mut Experiment)>| f;
    let on = props.on_edit.clone();
    // A control: hidden by `hide=key`, disabled by `lock=key` (or `lock=all`).
    let shown = |key: &str| !view.is_hidden(key);
    let locked = |key: &str| view.is_locked(key);
    let c = Controls::new(view, on.clone(), "");
    let select = |key: &'static str, label: &str, tip: &str, value: String, options: Vec<(String, String)>, apply: SetText| -> Html {
        c.select(key, label, tip, value, options, false, apply)
    };
    let number = |key: &'static str, label: &str, tip: &str, value: String, min: &str, max: &str, step: &str, apply: SetNumber| -> Html {
        c.number(key, label, tip, value, min, max, step, apply)
    };
    let check = |key: &'static str, label: &str, tip: &str, value: bool, apply: SetFlag| -> Html { c.check(key, label, tip, value, false, apply) };
    let bits_options = || (1..=16u8).map(|b| (b.to_string(), b.to_string())).collect::<Vec<_>>();
    let mode = e.ptq.mode;
    // Tasks that set some settings themselves: those controls are off (they would change nothing).
    // The sweep sets the bits, the granularity and the activation calibration of each cell; the
    // mixed-bit searches choose every layer's bits.
    let sweep = e.task == Task::Sweep;
    let chooses_bits = matches!(e.task, Task::Sweep | Task::MixedBit | Task::SizeBudget);
    let (train, test) = crate::data::split_sizes(&e.dataset).unwrap_or((crate::experiment::spec::MAX_CALIB, crate::data::TEST_IMAGES));

    let task = if props.show_task {
        select(
            "task",
            "Task",
            "What to run on this model",
            e.task.name().into(),
            TASKS.iter().map(|(t, name, _)| (t.name().to_string(), name.to_string())).collect(),
            Rc::new(|x, v| x.task = Task::from_name(v).unwrap_or(Task::Ptq)),
        )
    } else {
        html! {}
    };

    let core = html! {
        <div class="settings">
            { task }
            { select("ptq.mode", "Mode", "weight-only: integer weights, float activations (W8A16 / W4A16 RTN); full: weights and activations, activation ranges calibrated once (static); dynamic: activation ranges from each batch at run time",
                mode.name().into(),
                vec![("weight_only".into(), "weight-only".into()), ("full".into(), "full (static)".into()), ("dynamic".into(), "dynamic".into())],
                Rc::new(|x, v| x.ptq.mode = QuantMode::from_name(v).unwrap_or(QuantMode::Full))) }
            { c.select("ptq.weight_bits", "Weight bits", "b: weights become integers in [−2^(b−1), 2^(b−1) − 1] (with narrow range, −2^(b−1) + 1 to 2^(b−1) − 1); the sweep and the mixed-bit searches set it themselves",
                e.ptq.weight_bits.to_string(), bits_options(), chooses_bits, Rc::new(|x, v| x.ptq.weight_bits = v.parse().unwrap_or(8))) }
            if mode != QuantMode::WeightOnly {
                { c.select("ptq.act_bits", "Activation bits", "bits of every activation between layers (the input of each quantized layer, and the logits in full mode); the sweep sets it to each cell's bits",
                    e.ptq.act_bits.to_string(), bits_options(), sweep, Rc::new(|x, v| x.ptq.act_bits = v.parse().unwrap_or(8))) }
            }
            if mode != QuantMode::Dynamic {
                { c.select("ptq.granularity.kind", "Weight granularity", "which weights share one scale: the whole tensor, each output channel (row), or each group of inputs in a row; the sweep sets it to each cell's",
                    e.ptq.granularity.name().into(),
                    vec![("per_tensor".into(), "per tensor".into()), ("per_channel".into(), "per channel".into()), ("per_group".into(), "per group".into())],
                    sweep,
                    Rc::new(|x, v| x.ptq.granularity = match v {
                        "per_tensor" => WeightGranularity::PerTensor,
                        "per_group" => WeightGranularity::PerGroup { group_size: 16 },
                        _ => WeightGranularity::PerChannel,
                    })) }
            } else {
                { select("ptq.dynamic_strategy", "Dynamic strategy", "ALWC: activation per layer, weight per channel (on the int8 GEMM); ACWL: activation per channel, weight per layer",
                    match e.ptq.dynamic_strategy { DynamicMode::Alwc => "ALWC".into(), DynamicMode::Acwl => "ACWL".into() },
                    vec![("ALWC".into(), "ALWC".into()), ("ACWL".into(), "ACWL".into())],
                    Rc::new(|x, v| x.ptq.dynamic_strategy = if v == "ACWL" { DynamicMode::Acwl } else { DynamicMode::Alwc })) }
            }
            if let WeightGranularity::PerGroup { group_size } = e.ptq.granularity {
                { c.number_unless("ptq.granularity.group_size", "Group size", "inputs per group; a layer whose inputs it does not divide falls back to per channel",
                    group_size.to_string(), ["1", "4096", "1"], sweep, Rc::new(|x, v| x.ptq.granularity = WeightGranularity::PerGroup { group_size: (v.round() as usize).max(1) })) }
            }
            { check("ptq.weight_symmetric", "symmetric weights", "Z = 0 and s = max|w| / ((qmax − qmin) / 2): what integer kernels need; off: s = (max − min) / (2^b − 1) with a zero point",
                e.ptq.weight_symmetric, Rc::new(|x, v| {
                    x.ptq.weight_symmetric = v;
                    // The narrow range is of a symmetric grid: it goes with it.
                    x.ptq.narrow_range &= v;
                })) }
            { c.check("ptq.narrow_range", "narrow range", "Symmetric weights without the lowest level (int8: [−127, 127], int4: [−7, 7]) as TFLite does; off: the full range [−128, 127] as ONNX Runtime does (with symmetric weights only)",
                e.ptq.narrow_range, !e.ptq.weight_symmetric, Rc::new(|x, v| x.ptq.narrow_range = v)) }
            { select("ptq.method", "Method", "the lab's methods: normal maps [α, β] onto [qmin, qmax]; clip onto [2·qmin, 2·qmax + 1], a step half as wide whose outer half saturates",
                e.ptq.method.name().into(), vec![("normal".into(), "normal".into()), ("clip".into(), "clip".into())],
                Rc::new(|x, v| x.ptq.method = Method::from_name(v).unwrap_or(Method::Normal))) }
            { select("ptq.rounding", "Rounding", "how r / s + Z becomes an integer, for the weights and the activations: half to even is torch.round's and ONNX Runtime's; half away from 0 is TFLite's reference; floor rounds toward −∞; stochastic rounds up with probability equal to the fraction, seeded by its own seed",
                e.ptq.rounding.name().into(),
                ROUNDINGS.iter().map(|(v, label)| (v.to_string(), label.to_string())).collect(),
                Rc::new(|x, v| {
                    // A stochastic rounding chosen again keeps its seed.
                    let seed = if let Rounding::Stochastic { seed } = x.ptq.rounding { seed } else { 0 };
                    x.ptq.rounding = Rounding::from_name(v, seed).unwrap_or(Rounding::HalfEven)
                })) }
            if let Rounding::Stochastic { seed } = e.ptq.rounding {
                { number("ptq.rounding.stochastic.seed", "Rounding seed", "the seed of stochastic rounding: the same seed gives the same integers (each value's draw depends on the seed and its position in the tensor)",
                    seed.to_string(), "0", &super::generator_controls::MAX_TYPED_SEED.to_string(), "1",
                    Rc::new(|x, v| if let Rounding::Stochastic { seed } = &mut x.ptq.rounding { *seed = v.max(0.0) as u64 })) }
            }
            if mode == QuantMode::Full {
                { c.select("ptq.act_calibration.method", "Activation calibration", "how each activation's range [α, β] is chosen from the calibration images; the sweep sets it to each cell's",
                    e.ptq.act_calibration.name().into(),
                    CALIBRATIONS.iter().map(|(k, n, _)| (k.name().to_string(), n.to_string())).collect(),
                    sweep,
                    Rc::new(|x, v| x.ptq.act_calibration = CalibrationKind::from_name(v).map(Calibration::default_for).unwrap_or_default())) }
                { calibrator_settings(&c, &e.ptq.act_calibration, sweep) }
            }
            // Wherever they are read: bias correction and the searches read them under any mode
            // (the box was shown only under full quantization).
            if e.reads_calibration() {
                { number("calib_size", "Calibration images", "images of the training split used to calibrate, correct biases and score the searches' candidates (MindSpore Lite recommends 100–500)",
                    e.calib_size.to_string(), "1", &train.min(crate::experiment::spec::MAX_CALIB).to_string(), "1", Rc::new(|x, v| x.calib_size = (v.round().max(1.0)) as usize)) }
            }
            { number("eval_size", "Test images", "how many test images to evaluate (0 = all of them)",
                e.eval_size.to_string(), "0", &test.to_string(), "100", Rc::new(|x, v| x.eval_size = v.round().max(0.0) as usize)) }
            { check("ptq.bias_correction", "bias correction", "add each layer's mean output error on the calibration images back to its bias (MindSpore Lite)",
                e.ptq.bias_correction, Rc::new(|x, v| x.ptq.bias_correction = v)) }
            if mode != QuantMode::WeightOnly {
                { check("ptq.smooth_quant", "SmoothQuant", "move activation outliers into the weights: x_j / s_j and w_j · s_j with s_j = max|X_j|^α / max|W_j|^(1−α)",
                    e.ptq.smooth_quant.is_some(), Rc::new(|x, v| x.ptq.smooth_quant = v.then_some(0.5))) }
                if let Some(a) = e.ptq.smooth_quant {
                    { number("ptq.smooth_quant", "α", "SmoothQuant's migration strength: 0 keeps the activations, 1 moves everything into the weights",
                        format!("{a}"), "0", "1", "0.05", Rc::new(|x, v| x.ptq.smooth_quant = Some(v.clamp(0.0, 1.0) as f32))) }
                }
            }
            { number("seed", "Seed", "picks the calibration images (0 = the first ones, class-balanced), which activation calibration, SmoothQuant, bias correction and the searches use (weight-only PTQ without bias correction uses none); stochastic rounding has a seed of its own",
                e.seed.to_string(), "0", &super::generator_controls::MAX_TYPED_SEED.to_string(), "1", Rc::new(|x, v| x.seed = v.max(0.0) as u64)) }
        </div>
    };

    // Per-layer: skip and bits.
    let layers = if shown("ptq.skip") || shown("ptq.layer_bits") {
        html! {
            <table class="layer-settings" data-testid="layer-settings">
                <thead><tr><th>{"layer"}</th><th>{"kind"}</th>
                    <th tabindex="0" title="leave this layer in FP32 (MindSpore Lite's skip_quant_node, Golden Stick's opname_blacklist)">{"skip"}</th>
                    <th tabindex="0" title="this layer's weight bits (a mixed-bit selection); empty = the model's">{"bits"}</th></tr></thead>
                <tbody>
                { for props.layers.iter().map(|(name, kind)| {
                    let skip = e.ptq.skip.contains(name);
                    let bits = e.ptq.layer_bits.get(name).copied();
                    let (n1, n2) = (name.clone(), name.clone());
                    let on_skip = on.reform(move |ev: Event| {
                        let v = checked(&ev);
                        let n = n1.clone();
                        edit(Rc::new(move |x: &mut Experiment| {
                            x.ptq.skip.retain(|s| s != &n);
                            if v { x.ptq.skip.push(n.clone()); }
                        }))
                    });
                    let on_bits = on.reform(move |ev: Event| {
                        let v = select_value(&ev).parse::<u8>().ok();
                        let n = n2.clone();
                        edit(Rc::new(move |x: &mut Experiment| match v {
                            Some(b) => { x.ptq.layer_bits.insert(n.clone(), b); }
                            None => { x.ptq.layer_bits.remove(&n); }
                        }))
                    });
                    html! {
                        <tr>
                            <td>{ name.clone() }</td><td>{ kind.clone() }</td>
                            <td><input type="checkbox" checked={skip} onchange={on_skip} disabled={locked("ptq.skip")}
                                aria-label={format!("skip {name}")} data-testid={format!("skip-{name}")} /></td>
                            <td><select onchange={on_bits} disabled={locked("ptq.layer_bits") || skip || chooses_bits} aria-label={format!("bits of {name}")} data-testid={format!("bits-{name}")}>
                                <option value="" selected={bits.is_none()}>{ format!("model's ({})", e.ptq.weight_bits) }</option>
                                { for (1..=16u8).map(|b| html! { <option value={b.to_string()} selected={bits == Some(b)}>{ b }</option> }) }
                            </select></td>
                        </tr>
                    }
                }) }
                </tbody>
            </table>
        }
    } else {
        html! {}
    };

    let task_settings = match e.task {
        Task::MixedBit | Task::SizeBudget => html! {
            <div class="settings">
                <p class="hint" data-testid="task-sets">{"The search chooses every layer's bits: the weight bits and the per-layer bits are its to set."}</p>
                { c.number_unless("mixed_bit.init_scale", "init_scale", "the target relative weight error of each layer (MindSpore Lite): larger → fewer bits, more error; auto_tune searches it",
                    format!("{}", e.mixed_bit.init_scale), ["0.0001", "0.99", "0.005"], e.mixed_bit.auto_tune, Rc::new(|x, v| x.mixed_bit.init_scale = v as f32)) }
                { check("mixed_bit.auto_tune", "auto_tune", "search init_scale so the output's cosine similarity with FP32 stays at the target",
                    e.mixed_bit.auto_tune, Rc::new(|x, v| x.mixed_bit.auto_tune = v)) }
                // Each setting is live only where it is read: the target under auto_tune, the budget in the size-budget task.
                { c.number_unless("mixed_bit.target_cosine", "target cosine", "auto_tune only: the output cosine similarity auto_tune keeps (MindSpore Lite: about 0.995)",
                    format!("{}", e.mixed_bit.target_cosine), ["0.5", "0.99999", "0.001"], !e.mixed_bit.auto_tune, Rc::new(|x, v| x.mixed_bit.target_cosine = v)) }
                { c.number_unless("mixed_bit.size_budget", "size budget (bytes)", "task size_budget only: the size-budget search lowers bits until the model is this small, and proposes that configuration",
                    e.mixed_bit.size_budget.to_string(), ["0", "100000000", "1000"], e.task != Task::SizeBudget, Rc::new(|x, v| x.mixed_bit.size_budget = v.max(0.0) as usize)) }
                { number("mixed_bit.max_bits", "max bits", "the most bits the search gives a layer: 8 keeps every layer at or below uniform 8-bit's size; widen to 16 to let a layer that needs more get it",
                    e.mixed_bit.max_bits.to_string(), "2", "16", "1", Rc::new(|x, v| x.mixed_bit.max_bits = v.round().clamp(2.0, 16.0) as u8)) }
            </div>
        },
        Task::Qat => html! {
            <div class="settings">
                { number("qat.epochs", "epochs", "passes over the training images, fine-tuning through fake-quant",
                    e.qat.epochs.to_string(), "1", "100", "1", Rc::new(|x, v| x.qat.epochs = v.round().clamp(1.0, 100.0) as usize)) }
                { number("qat.lr", "learning rate", "Adam's learning rate for fine-tuning",
                    format!("{}", e.qat.lr), "0.00001", "0.1", "0.0001", Rc::new(|x, v| x.qat.lr = v as f32)) }
                { number("qat.train_size", "training images", "images per epoch (0 = all)",
                    e.qat.train_size.to_string(), "0", "60000", "1000", Rc::new(|x, v| x.qat.train_size = v.max(0.0) as usize)) }
            </div>
        },
        Task::Sweep => html! {
            <p class="hint" data-testid="task-sets">{"The sweep sets each cell's weight bits (and activation bits), weight granularity and activation calibration, and every layer's bits: those controls are its to set."}</p>
        },
        _ => html! {},
    };

    html! {
        <div class="experiment-form">
            { core }
            { task_settings }
            { layers }
        </div>
    }
}

/// The chosen activation calibrator's own settings, under the link's keys
/// (`ptq.act_calibration.percentile` …); the sweep sets each cell's calibrator, so they are off
/// there. (They were only in the link, at their defaults, unless edited by hand.)
fn calibrator_settings(c: &Controls<'_, Experiment>, cal: &Calibration, sweep: bool) -> Html {
    // Writes `f` into the calibrator when it is still of the kind the box was drawn for.
    fn set(f: fn(&mut Calibration, f64)) -> Rc<dyn Fn(&mut Experiment, f64)> {
        Rc::new(move |x, v| f(&mut x.ptq.act_calibration, v))
    }
    match *cal {
        Calibration::MinMax => html! {},
        Calibration::Percentile { percentile } => c.number_above(
            "ptq.act_calibration.percentile",
            "Percentile",
            "the share of the values (%) the range holds, in (0, 100]: the rest saturate",
            percentile.to_string(),
            ["0", "100", "0.01"],
            sweep,
            set(|k, v| if let Calibration::Percentile { percentile } = k { *percentile = v as f32 }),
        ),
        Calibration::RemovalOutlier { ratio } => c.number_unless(
            "ptq.act_calibration.ratio",
            "Outlier ratio",
            "the fraction of the values dropped from each end before the min and max, in [0, 0.5) (MindSpore Lite: 0.0001)",
            ratio.to_string(),
            ["0", "0.49", "0.0001"],
            sweep,
            set(|k, v| if let Calibration::RemovalOutlier { ratio } = k { *ratio = v as f32 }),
        ),
        Calibration::Kl { bins } => c.number_unless(
            "ptq.act_calibration.bins",
            "Histogram bins",
            "bins of the histogram the KL divergence is measured on, 128 to 8192 (TensorRT: 2048)",
            bins.to_string(),
            ["128", "8192", "1"],
            sweep,
            set(|k, v| if let Calibration::Kl { bins } = k { *bins = v as usize }),
        ),
        Calibration::Mse { steps } => c.number_unless(
            "ptq.act_calibration.steps",
            "Search steps",
            "how many shrunken ranges the grid search tries, 1 to 10000",
            steps.to_string(),
            ["1", "10000", "1"],
            sweep,
            set(|k, v| if let Calibration::Mse { steps } = k { *steps = v as usize }),
        ),
        Calibration::MovingAverageMinMax { momentum, batch } => html! {
            <>
                { c.number_above(
                    "ptq.act_calibration.momentum",
                    "Momentum",
                    "m ← m + momentum·(batch min or max − m), in (0, 1]",
                    momentum.to_string(),
                    ["0", "1", "0.001"],
                    sweep,
                    set(|k, v| if let Calibration::MovingAverageMinMax { momentum, .. } = k { *momentum = v as f32 }),
                ) }
                { c.number_unless(
                    "ptq.act_calibration.batch",
                    "Batch (values)",
                    "values per batch, taken in order from each activation's values on the calibration images (a batch may span images)",
                    batch.to_string(),
                    ["1", "1048576", "1"],
                    sweep,
                    set(|k, v| if let Calibration::MovingAverageMinMax { batch, .. } = k { *batch = v as usize }),
                ) }
            </>
        },
    }
}

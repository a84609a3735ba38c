//! Granularity (per-tensor / per-channel / per-group) and the calibration method with its setting.

use yew::prelude::*;

use super::ctl::Ctl;

use crate::app::state::TensorAction;
use crate::quant::calibration::{Calibration, CalibrationKind};
use crate::quant::Granularity;
use super::form_controls::NumberBox;
use crate::quant::calibration::{kl, mse};
use crate::share::{axis_and_group, calibration_param, with_calibration_param, TensorSettings, MAX_GEN_SIDE};

#[derive(Properties, PartialEq)]
pub struct CalibrationControlsProps {
    pub settings: TensorSettings,
    pub on_action: Callback<TensorAction>,
}

fn value(e: &Event) -> String {
    e.target_unchecked_into::<web_sys::HtmlInputElement>().value()
}

const CALIBRATION_HELP: [(&str, &str, &str); 6] = [
    ("min_max", "MinMax", "α, β = min, max of the data (MindSpore Lite MAX_MIN). No value lies outside [α, β]; only the rounding of Z can push α or β half a step past the grid, where it is clamped."),
    ("moving_average_min_max", "moving-average MinMax", "An exponential moving average of each batch's min and max (PyTorch's observer). Setting: the averaging constant."),
    ("percentile", "Percentile", "The range that holds this percentage of the values; the rest is clipped. Setting: the percentage."),
    ("removal_outlier", "RemovalOutlier", "MindSpore Lite: drop this fraction of the values at each end, then MinMax. Setting: the fraction."),
    ("kl", "KL (entropy)", "TensorRT's entropy calibration: the clip threshold whose quantized histogram is closest (KL divergence) to the original. Setting: histogram bins."),
    ("mse", "MSE search", "Tries shrunken ranges and keeps the one with the least quantization MSE. Setting: the number of candidates."),
];

/// The range of a calibration method's setting, as its `validate` has it.
struct ParamRange {
    min: String,
    max: String,
    step: &'static str,
    exclusive_min: bool,
    exclusive_max: bool,
}

fn param_range(kind: CalibrationKind) -> Option<ParamRange> {
    let real = |min: &str, max: &str, exclusive_min, exclusive_max| ParamRange { min: min.into(), max: max.into(), step: "any", exclusive_min, exclusive_max };
    let whole = |min: usize, max: usize| ParamRange { min: min.to_string(), max: max.to_string(), step: "1", exclusive_min: false, exclusive_max: false };
    Some(match kind {
        CalibrationKind::MinMax => return None,
        // momentum ∈ (0, 1]
        CalibrationKind::MovingAverageMinMax => real("0", "1", true, false),
        // percentile ∈ (0, 100]
        CalibrationKind::Percentile => real("0", "100", true, false),
        // ratio ∈ [0, 0.5)
        CalibrationKind::RemovalOutlier => real("0", "0.5", false, true),
        CalibrationKind::Kl => whole(kl::MIN_BINS, kl::MAX_BINS),
        CalibrationKind::Mse => whole(1, mse::MAX_STEPS),
    })
}

#[function_component(CalibrationControls)]
pub fn calibration_controls(props: &CalibrationControlsProps) -> Html {
    let s = &props.settings;
    let (axis, group) = axis_and_group(s.granularity);
    let act = &props.on_action;
    let on_gran = act.reform(move |e: Event| {
        let g = match value(&e).as_str() {
            "per_channel" => Granularity::PerChannel { axis },
            "per_group" => Granularity::PerGroup { axis, group_size: group },
            _ => Granularity::PerTensor,
        };
        TensorAction::edit(move |s| {
            s.granularity = g;
            // One range per channel: a hand-set range no longer applies.
            if g != Granularity::PerTensor {
                s.range = None;
            }
        })
    });
    let on_axis = act.reform(|e: Event| {
        let axis: usize = value(&e).parse().unwrap_or(0).min(1);
        TensorAction::edit(move |s| {
            s.granularity = match s.granularity {
                Granularity::PerChannel { .. } => Granularity::PerChannel { axis },
                Granularity::PerGroup { group_size, .. } => Granularity::PerGroup { axis, group_size },
                g => g,
            }
        })
    });
    let on_group = act.reform(|v: f64| {
        TensorAction::edit(move |s| {
            if let Granularity::PerGroup { axis, .. } = s.granularity {
                s.granularity = Granularity::PerGroup { axis, group_size: v as usize };
            }
        })
    });
    let on_calib = act.reform(|e: Event| {
        let kind = CalibrationKind::from_name(&value(&e)).unwrap_or(CalibrationKind::MinMax);
        TensorAction::edit(move |s| {
            s.calibration = Calibration::default_for(kind);
            s.range = None;
        })
    });
    let on_param = act.reform(|x: f64| {
        TensorAction::edit(move |s| {
            // The box keeps x inside the method's range; validate() is the last word all the same.
            if let Ok(c) = with_calibration_param(s.calibration, x) {
                s.calibration = c;
            }
        })
    });
    let help = CALIBRATION_HELP.iter().find(|(n, _, _)| *n == s.calibration.name()).map_or("", |h| h.2);
    let param_error = s.calibration.validate().err().map(|e| e.to_string());
    html! {
        <div class="settings" role="group" aria-label="Granularity and calibration">
            <Ctl name="gran" also="range"><label title="Per-tensor: one scale and zero point for everything. Per-channel: one per row (axis 0) or column (axis 1). Per-group: one per block of `group` values along the axis.">
                {"Granularity"}
                <select data-testid="granularity" onchange={on_gran} ~value={match s.granularity { Granularity::PerTensor => "per_tensor", Granularity::PerChannel { .. } => "per_channel", Granularity::PerGroup { .. } => "per_group" }}>
                    { for [("per_tensor", "per-tensor"), ("per_channel", "per-channel"), ("per_group", "per-group")].iter().map(|(v, l)| {
                        let selected = match s.granularity {
                            Granularity::PerTensor => *v == "per_tensor",
                            Granularity::PerChannel { .. } => *v == "per_channel",
                            Granularity::PerGroup { .. } => *v == "per_group",
                        };
                        html! { <option value={*v} {selected}>{ *l }</option> }
                    }) }
                </select>
            </label></Ctl>
            if s.granularity != Granularity::PerTensor {
                <Ctl name="axis"><label title="The axis the channels run along: 0 = one set of parameters per row, 1 = per column.">
                    {"Axis"}
                    <select data-testid="axis" onchange={on_axis} ~value={axis.to_string()}>
                        <option value="0" selected={axis == 0}>{"0 (rows)"}</option>
                        <option value="1" selected={axis == 1}>{"1 (columns)"}</option>
                    </select>
                </label></Ctl>
            }
            if matches!(s.granularity, Granularity::PerGroup { .. }) {
                <Ctl name="group"><NumberBox testid="group-size" label="Group" tip="Values per group along the axis; it must divide the axis length."
                    value={group.to_string()} min="1" max={MAX_GEN_SIDE.to_string()} step="1" disabled=false on_value={on_group} /></Ctl>
            }
            <Ctl name="calib" also="range,cparam"><label title={help.to_string()}>
                {"Calibration"}
                <select data-testid="calibration" onchange={on_calib} ~value={s.calibration.name()}>
                    { for CALIBRATION_HELP.iter().map(|(v, l, _)| html! {
                        <option value={*v} selected={*v == s.calibration.name()}>{ *l }</option>
                    }) }
                </select>
            </label></Ctl>
            if let (Some(value), Some(r)) = (calibration_param(&s.calibration), param_range(s.calibration.kind())) {
                // Keyed by the method, so that a note about one method's setting goes with it.
                <Ctl name="cparam"><NumberBox key={s.calibration.name()} testid="calibration-param" label="Setting" tip={help.to_string()}
                    {value} min={r.min} max={r.max} step={r.step} exclusive_min={r.exclusive_min} exclusive_max={r.exclusive_max}
                    disabled=false on_value={on_param} /></Ctl>
            }
            if let Some(e) = param_error { <span class="error-inline" role="status">{ e }</span> }
        </div>
    }
}

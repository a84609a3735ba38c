//! Sliders for α and β: set the float range by hand and watch the grid move.

use yew::prelude::*;

use super::ctl::Ctl;
use crate::share::view::View;

use crate::app::state::TensorAction;

#[derive(Properties, PartialEq)]
pub struct RangeSlidersProps {
    /// The data's min and max (the sliders span them and half as much again on each side).
    pub data_min: f32,
    pub data_max: f32,
    /// The range in use now.
    pub alpha: f32,
    pub beta: f32,
    /// Whether the range is set by hand.
    pub manual: bool,
    pub on_action: Callback<TensorAction>,
}

const STEPS: f32 = 1000.0;

#[function_component(RangeSliders)]
pub fn range_sliders(props: &RangeSlidersProps) -> Html {
    let span = (props.data_max - props.data_min).abs().max(1e-3);
    let (lo, hi) = (props.data_min.min(0.0) - 0.5 * span, props.data_max.max(0.0) + 0.5 * span);
    let step = (hi - lo) / STEPS;
    let slider = |is_alpha: bool| {
        let (alpha, beta) = (props.alpha, props.beta);
        props.on_action.reform(move |e: InputEvent| {
            let v: f32 = e.target_unchecked_into::<web_sys::HtmlInputElement>().value().parse().unwrap_or(0.0);
            // Keep α ≤ β: a slider pushed past the other drags it along.
            let range = if is_alpha { (v, beta.max(v)) } else { (alpha.min(v), v) };
            TensorAction::edit(move |s| s.range = Some(range))
        })
    };
    let reset = props.on_action.reform(|_: MouseEvent| TensorAction::edit(|s| s.range = None));
    // A link that hides or locks the sliders leaves nothing to drag; a range by hand replaces
    // the calibration's, so a locked calibration (or its parameter) locks the range too.
    let view = use_context::<View>().unwrap_or_default();
    let by_hand = !view.is_hidden("range") && !["range", "calib", "cparam"].iter().any(|k| view.is_locked(k));
    html! {
        <div class="sliders" role="group" aria-label="Float range">
            <Ctl name="range" also="calib,cparam"><label title="α: the float that maps to αq. Moving it moves the whole grid.">
                {"α"}
                <input type="range" data-testid="alpha-slider" min={lo.to_string()} max={hi.to_string()}
                    step={step.to_string()} value={props.alpha.to_string()} oninput={slider(true)} />
                <output>{ crate::decimal::fixed(props.alpha as f64, 4, false) }</output>
            </label></Ctl>
            <Ctl name="range" also="calib,cparam"><label title="β: the float that maps to βq.">
                {"β"}
                <input type="range" data-testid="beta-slider" min={lo.to_string()} max={hi.to_string()}
                    step={step.to_string()} value={props.beta.to_string()} oninput={slider(false)} />
                <output>{ crate::decimal::fixed(props.beta as f64, 4, false) }</output>
            </label></Ctl>
            if props.manual {
                <Ctl name="range" also="calib,cparam">
                    <button onclick={reset} data-testid="range-reset" title="Go back to the range the calibration method chooses">{"Use the calibrated range"}</button>
                </Ctl>
            } else if by_hand {
                <span class="hint">{"The range comes from the calibration method; drag a slider to set it by hand."}</span>
            } else {
                <span class="hint">{"The range comes from the calibration method."}</span>
            }
        </div>
    }
}

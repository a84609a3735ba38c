//! The scheme's controls: method, bits, signedness, symmetry, narrow range,
//! rounding and seed. Each label's tooltip says what the setting does to the maths.

use yew::prelude::*;

use super::form_controls::{checked, select_value, NumberBox};
use super::generator_controls::MAX_TYPED_SEED;

use super::ctl::Ctl;

use crate::app::state::TensorAction;
use crate::quant::scheme::{MAX_BITS, MIN_BITS};
use crate::quant::{Method, Rounding};
use crate::share::TensorSettings;

#[derive(Properties, PartialEq)]
pub struct SchemeControlsProps {
    pub settings: TensorSettings,
    pub on_action: Callback<TensorAction>,
}



/// The rounding modes as the selects show them: (name in links and files, label).
pub const ROUNDINGS: [(&str, &str); 4] = [
    ("half_even", "half to even"),
    ("half_away", "half away from 0"),
    ("floor", "floor"),
    ("stochastic", "stochastic"),
];

#[function_component(SchemeControls)]
pub fn scheme_controls(props: &SchemeControlsProps) -> Html {
    let s = &props.settings;
    let act = props.on_action.clone();
    let on_method = act.reform(|e: Event| {
        let m = Method::from_name(&select_value(&e)).unwrap_or(Method::Normal);
        TensorAction::edit(move |s| s.method = m)
    });
    let on_bits = act.reform(|e: Event| {
        let b = select_value(&e).parse::<u8>().unwrap_or(8).clamp(MIN_BITS, MAX_BITS);
        TensorAction::edit(move |s| s.bits = b)
    });
    let on_signed = act.reform(|e: Event| {
        let v = checked(&e);
        TensorAction::edit(move |s| s.signed = v)
    });
    let on_sym = act.reform(|e: Event| {
        let v = checked(&e);
        TensorAction::edit(move |s| s.symmetric = v)
    });
    let on_narrow = act.reform(|e: Event| {
        let v = checked(&e);
        TensorAction::edit(move |s| s.narrow_range = v)
    });
    let on_rounding = act.reform(|e: Event| {
        let r = Rounding::from_name(&select_value(&e), 0).unwrap_or(Rounding::HalfEven);
        TensorAction::edit(move |s| s.rounding = r)
    });
    let on_seed = act.reform(|v: f64| TensorAction::edit(move |s| s.seed = v as u64));
    let stochastic = matches!(s.rounding, Rounding::Stochastic { .. });
    let (qmin, qmax) = s.scheme().clamp_range();
    html! {
        <div class="settings" role="group" aria-label="Quantization scheme">
            <Ctl name="method"><label title="normal maps [α, β] onto [qmin, qmax]. clip computes s and Z for an integer range twice as wide (int8: [−256, 255]), so the step is halved and the outer part of the range saturates at qmin / qmax.">
                {"Method"}
                <select data-testid="method" onchange={on_method} ~value={s.method.name()}>
                    { for Method::ALL.iter().map(|m| html! {
                        <option value={m.name()} selected={*m == s.method}>{ m.name() }</option>
                    }) }
                </select>
            </label></Ctl>
            <Ctl name="bits"><label title={format!("Integer width. Here q lies in [{qmin}, {qmax}]: 2^bits levels.")}>
                {"Bits"}
                <select data-testid="bits" onchange={on_bits} ~value={s.bits.to_string()}>
                    { for (MIN_BITS..=MAX_BITS).map(|b| html! {
                        <option value={b.to_string()} selected={b == s.bits}>{ b }</option>
                    }) }
                </select>
            </label></Ctl>
            <Ctl name="signed"><label class="check" title="Signed integers: [−2^(bits−1), 2^(bits−1) − 1]. Unsigned: [0, 2^bits − 1].">
                <input type="checkbox" data-testid="signed" checked={s.signed} onchange={on_signed} />{"signed"}
            </label></Ctl>
            <Ctl name="sym"><label class="check" title="Symmetric: the grid is centred on 0 (Z = 0 when signed) and s = max(|α|, |β|) / ((βq − αq) / 2). Asymmetric: s = (β − α) / (βq − αq) and Z = round(αq − α / s).">
                <input type="checkbox" data-testid="symmetric" checked={s.symmetric} onchange={on_sym} />{"symmetric"}
            </label></Ctl>
            <Ctl name="narrow"><label class="check" title="Narrow range drops the lowest level (int8: [−127, 127]) so that +max and −max are both exact.">
                <input type="checkbox" data-testid="narrow" checked={s.narrow_range} onchange={on_narrow} />{"narrow range"}
            </label></Ctl>
            <Ctl name="round"><label title="How r / s + Z becomes an integer. Half to even is PyTorch's torch.round; half away from 0 is TFLite's; stochastic rounds up with probability equal to the fraction (seeded).">
                {"Rounding"}
                <select data-testid="rounding" onchange={on_rounding} ~value={s.rounding.name()}>
                    { for ROUNDINGS.iter().map(|(v, label)| html! {
                        <option value={*v} selected={*v == s.rounding.name()}>{ *label }</option>
                    }) }
                </select>
            </label></Ctl>
            if stochastic {
                <Ctl name="seed"><NumberBox testid="seed" label="Seed" tip="The seed of stochastic rounding: the same seed gives the same integers."
                    value={s.seed.to_string()} min="0" max={MAX_TYPED_SEED.to_string()} step="1" disabled=false on_value={on_seed} /></Ctl>
            }
        </div>
    }
}

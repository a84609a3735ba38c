//! Generate a seeded test tensor (normal, uniform, Laplace, bimodal, with outliers) of rows × cols.

use yew::prelude::*;

use super::ctl::Ctl;
use super::form_controls::NumberBox;

use crate::app::state::TensorAction;
use crate::generate::Distribution;
use crate::share::{distribution_by_name, Generator, TensorSettings, MAX_GEN_SIDE};

#[derive(Properties, PartialEq)]
pub struct GeneratorControlsProps {
    pub settings: TensorSettings,
    pub on_action: Callback<TensorAction>,
}

fn value(e: &Event) -> String {
    e.target_unchecked_into::<web_sys::HtmlInputElement>().value()
}

/// The largest seed the page's boxes take: 2^53 − 1, the last whole number a typed value (an f64)
/// holds exactly. A link may carry any u64 seed.
pub const MAX_TYPED_SEED: u64 = (1 << 53) - 1;

#[function_component(GeneratorControls)]
pub fn generator_controls(props: &GeneratorControlsProps) -> Html {
    let s = &props.settings;
    let g = s.generator.unwrap_or_else(|| Generator::switched(None, Distribution::default()));
    let act = &props.on_action;
    let on_dist = act.reform(|e: Event| {
        let d = distribution_by_name(&value(&e)).unwrap_or_default();
        TensorAction::edit(move |s| {
            s.generator = Some(Generator::switched(s.generator, d));
            s.range = None;
        })
    });
    // The boxes take only what the link takes (sides 1 to MAX_GEN_SIDE), and a note says what
    // became of anything else (NumberBox).
    let on_rows = act.reform(|v: f64| {
        TensorAction::edit(move |s| {
            if let Some(g) = s.generator.as_mut() {
                g.rows = v as usize;
            }
        })
    });
    let on_cols = act.reform(|v: f64| {
        TensorAction::edit(move |s| {
            if let Some(g) = s.generator.as_mut() {
                g.cols = v as usize;
            }
        })
    });
    let on_seed = act.reform(|v: f64| TensorAction::edit(move |s| s.seed = v as u64));
    let generate = act.reform(move |_: MouseEvent| {
        TensorAction::edit(move |s| {
            s.generator = Some(s.generator.unwrap_or(g));
            s.range = None;
        })
    });
    let use_text = act.reform(|_: MouseEvent| TensorAction::edit(|s| s.generator = None));
    html! {
        // `hide=gen` / `lock=gen` (and `lock=all`) cover the whole generator: its distribution,
        // the Generate button and the rows, cols and seed it shows once it runs.
        <Ctl name="gen" also="x">
        <div class="settings generator" role="group" aria-label="Generated tensor">
            <label title="The distribution of the generated values (seeded, so the same link gives the same tensor). Choosing one generates at once.">
                {"Generate"}
                <select data-testid="distribution" onchange={on_dist} ~value={g.distribution.name()}>
                    { for Distribution::examples().iter().map(|d| html! {
                        <option value={d.name()} selected={d.name() == g.distribution.name()}>{ d.name().replace('_', " ") }</option>
                    }) }
                </select>
            </label>
            if s.generator.is_some() {
                <Ctl name="shape"><NumberBox testid="gen-rows" label="Rows" tip="Rows: the channels of per-channel quantization along axis 0."
                    value={g.rows.to_string()} min="1" max={MAX_GEN_SIDE.to_string()} step="1" disabled=false on_value={on_rows} /></Ctl>
                <Ctl name="shape"><NumberBox testid="gen-cols" label="Cols" tip="Columns."
                    value={g.cols.to_string()} min="1" max={MAX_GEN_SIDE.to_string()} step="1" disabled=false on_value={on_cols} /></Ctl>
                <Ctl name="seed"><NumberBox testid="gen-seed" label="Seed" tip="The seed of the generator and of stochastic rounding."
                    value={s.seed.to_string()} min="0" max={MAX_TYPED_SEED.to_string()} step="1" disabled=false on_value={on_seed} /></Ctl>
            }
            if s.generator.is_some() {
                // It replaces the generated tensor: fixed as its shape and seed are.
                <Ctl name="x" also="gen,shape,seed"><button onclick={use_text} data-testid="use-text" title="Go back to the numbers in the text box">{"Use the text box"}</button></Ctl>
            } else {
                // It replaces the typed tensor and its shape: fixed as they are.
                <Ctl name="gen" also="x,shape"><button onclick={generate} data-testid="generate" title="Replace the text box by a generated rows × cols tensor">{"Generate"}</button></Ctl>
            }
        </div>
        </Ctl>
    }
}

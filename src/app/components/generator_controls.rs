//! Generate a seeded test tensor (normal, uniform, Laplace, bimodal, with outliers) of rows × cols.

use yew::prelude::*;

use super::ctl::Ctl;

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

fn side(v: &str) -> Option<usize> {
    v.trim().parse().ok().filter(|&n| (1..=MAX_GEN_SIDE).contains(&n))
}

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
    let on_rows = act.reform(|e: Event| {
        let n = side(&value(&e));
        TensorAction::edit(move |s| {
            if let (Some(n), Some(g)) = (n, s.generator.as_mut()) {
                g.rows = n;
            }
        })
    });
    let on_cols = act.reform(|e: Event| {
        let n = side(&value(&e));
        TensorAction::edit(move |s| {
            if let (Some(n), Some(g)) = (n, s.generator.as_mut()) {
                g.cols = n;
            }
        })
    });
    let on_seed = act.reform(|e: Event| {
        let seed = value(&e).trim().parse::<u64>().ok();
        TensorAction::edit(move |s| {
            if let Some(seed) = seed {
                s.seed = seed;
            }
        })
    });
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
                <Ctl name="shape"><label title="Rows: the channels of per-channel quantization along axis 0.">
                    {"Rows"}<input type="number" min="1" max="1024" class="small" data-testid="gen-rows" value={g.rows.to_string()} onchange={on_rows} />
                </label></Ctl>
                <Ctl name="shape"><label title="Columns.">
                    {"Cols"}<input type="number" min="1" max="1024" class="small" data-testid="gen-cols" value={g.cols.to_string()} onchange={on_cols} />
                </label></Ctl>
                <Ctl name="seed"><label title="The seed of the generator and of stochastic rounding.">
                    {"Seed"}<input type="number" min="0" class="seed" data-testid="gen-seed" value={s.seed.to_string()} onchange={on_seed} />
                </label></Ctl>
            }
            if s.generator.is_some() {
                <button onclick={use_text} data-testid="use-text" title="Go back to the numbers in the text box">{"Use the text box"}</button>
            } else {
                <button onclick={generate} data-testid="generate" title="Replace the text box by a generated rows × cols tensor">{"Generate"}</button>
            }
        </div>
        </Ctl>
    }
}

//! Each channel's (or group's) range, scale and zero point.

use std::rc::Rc;

use yew::prelude::*;

use crate::quant::granularity::SliceParams;

/// Rows shown at most.
const MAX_ROWS: usize = crate::experiment::tensor_view::SHOWN_SLICES;

/// The slices' parameters (all of them, or the first [`MAX_ROWS`] of a view from the worker)
/// and how many slices there are in all.
#[derive(Properties, PartialEq)]
pub struct ChannelTableProps {
    pub slices: Rc<Vec<SliceParams>>,
    pub count: usize,
    /// "channel" or "group".
    pub unit: AttrValue,
}

#[function_component(ChannelTable)]
pub fn channel_table(props: &ChannelTableProps) -> Html {
    let n = props.count;
    let shown = props.slices.len().min(MAX_ROWS);
    html! {
        <section class="channels" aria-label="Per-channel parameters">
            <h2>{ format!("{} {}s, each with its own scale and zero point", n, props.unit) }</h2>
            <div class="scroll">
                <table data-testid="channel-table">
                    <thead><tr>
                        <th scope="col">{ props.unit.to_string() }</th>
                        <th scope="col" tabindex="0" title="The float range of this slice">{"α"}</th>
                        <th scope="col">{"β"}</th>
                        <th scope="col" tabindex="0" title="s: the float value of one step">{"scale s"}</th>
                        <th scope="col" tabindex="0" title="Z: the integer that stands for 0">{"zero point Z"}</th>
                    </tr></thead>
                    <tbody>
                        { for props.slices.iter().take(shown).enumerate().map(|(i, s)| html! {
                            <tr>
                                <td>{ i }</td>
                                <td>{ crate::decimal::fixed(s.params.alpha as f64, 5, false) }</td>
                                <td>{ crate::decimal::fixed(s.params.beta as f64, 5, false) }</td>
                                <td class="scale">{ format!("{:.6e}", s.params.scale) }</td>
                                <td class="zp">{ s.params.zero_point }</td>
                            </tr>
                        }) }
                    </tbody>
                </table>
            </div>
            if n > shown { <p class="hint">{ format!("Showing the first {shown} of {n}.") }</p> }
        </section>
    }
}

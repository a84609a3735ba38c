//! FP32 / integer / dequantized / error for each value.

use std::rc::Rc;

use yew::prelude::*;

/// Rows shown at most; the metrics always cover every value.
pub const MAX_ROWS: usize = crate::experiment::tensor_view::SHOWN_VALUES;

/// The first [`MAX_ROWS`] values of x, q and r′ (comparing the props then costs the same
/// for 4 M values as for 8), and how many values there are in all.
#[derive(Properties, PartialEq)]
pub struct ValueTableProps {
    pub x: Rc<[f32]>,
    pub q: Rc<[i32]>,
    pub dequant: Rc<[f32]>,
    pub count: usize,
    pub qmin: i32,
    pub qmax: i32,
    /// The tensor's shape: a 2-D tensor shows (row, column) beside each value.
    pub shape: Vec<usize>,
}

#[function_component(ValueTable)]
pub fn value_table(props: &ValueTableProps) -> Html {
    let n = props.count;
    let cols = if props.shape.len() == 2 { props.shape[1] } else { 0 };
    let shown = props.x.len().min(props.q.len()).min(props.dequant.len()).min(MAX_ROWS);
    let rows = (0..shown).map(|i| {
        let (r, q, d) = (props.x[i], props.q[i], props.dequant[i]);
        let clamped = q == props.qmin || q == props.qmax; // qmin and qmax are the same in every channel
        html! {
            <tr class={classes!(clamped.then_some("clamped"))}>
                <td>{ match i.checked_div(cols) {
                    Some(row) => format!("({row}, {})", i % cols),
                    None => (i + 1).to_string(),
                } }</td>
                <td class="fp32">{ crate::decimal::short_text(r) }</td>
                <td class="int">{ q }</td>
                <td class="deq">{ crate::decimal::fixed(d as f64, 6, false) }</td>
                <td class="err">{ crate::decimal::fixed((d - r) as f64, 6, true) }</td>
            </tr>
        }
    });
    html! {
        <section class="values" aria-label="Values">
            <h2>{"Each value"}</h2>
            <div class="scroll">
            <table data-testid="value-table">
                <thead><tr>
                    <th scope="col">{"#"}</th>
                    <th scope="col" tabindex="0" title="The value as typed (32-bit float)">{"FP32 r"}</th>
                    <th scope="col" tabindex="0" title="q = clamp(round(r / s + Z), qmin, qmax)">{"integer q"}</th>
                    <th scope="col" tabindex="0" title="r' = (q − Z) · s">{"dequantized r'"}</th>
                    <th scope="col" tabindex="0" title="r' − r">{"error r' − r"}</th>
                </tr></thead>
                <tbody>{ for rows }</tbody>
            </table>
            </div>
            if n > shown {
                <p class="hint">{ format!("Showing the first {shown} of {n} values; the error figures cover all of them.") }</p>
            }
            <p class="hint">{"Highlighted rows sit on a clamp limit (qmin or qmax) of their own channel."}</p>
        </section>
    }
}

//! FP32 / integer / dequantized / error for each value.

use std::rc::Rc;

use yew::prelude::*;

/// Rows shown at most; the metrics always cover every value.
pub const MAX_ROWS: usize = 512;

#[derive(Properties, PartialEq)]
pub struct ValueTableProps {
    pub x: Rc<Vec<f32>>,
    pub q: Rc<Vec<i32>>,
    pub dequant: Rc<Vec<f32>>,
    pub qmin: i32,
    pub qmax: i32,
}

#[function_component(ValueTable)]
pub fn value_table(props: &ValueTableProps) -> Html {
    let n = props.x.len();
    let rows = (0..n.min(MAX_ROWS)).map(|i| {
        let (r, q, d) = (props.x[i], props.q[i], props.dequant[i]);
        let clamped = q == props.qmin || q == props.qmax;
        html! {
            <tr class={classes!(clamped.then_some("clamped"))}>
                <td>{ i + 1 }</td>
                <td class="fp32">{ format!("{r}") }</td>
                <td class="int">{ q }</td>
                <td class="deq">{ format!("{d:.6}") }</td>
                <td class="err">{ format!("{:+.6}", d - r) }</td>
            </tr>
        }
    });
    html! {
        <section class="values" aria-label="Values">
            <h2>{"Each value"}</h2>
            <table data-testid="value-table">
                <thead><tr>
                    <th scope="col">{"#"}</th>
                    <th scope="col" title="The value as typed (32-bit float)">{"FP32 r"}</th>
                    <th scope="col" title="q = clamp(round(r / s + Z), qmin, qmax)">{"integer q"}</th>
                    <th scope="col" title="r' = (q − Z) · s">{"dequantized r'"}</th>
                    <th scope="col" title="r' − r">{"error r' − r"}</th>
                </tr></thead>
                <tbody>{ for rows }</tbody>
            </table>
            if n > MAX_ROWS {
                <p class="hint">{ format!("Showing the first {MAX_ROWS} of {n} values; the error figures cover all of them.") }</p>
            }
            <p class="hint">{"Highlighted rows sit on a clamp limit (qmin or qmax)."}</p>
        </section>
    }
}

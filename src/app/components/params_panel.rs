//! α, β, scale and zero point, each with its formula and the values substituted.

use yew::prelude::*;

use crate::metrics::clipping_note;
use crate::quant::{Method, QParams, RangeGuard};

#[derive(Properties, PartialEq)]
pub struct ParamsPanelProps {
    pub params: QParams,
    pub guard: RangeGuard,
    pub method: Method,
    pub symmetric: bool,
    /// The range was set by hand (sliders or link), not taken from the data.
    pub manual: bool,
    /// The calibration method that chose the range (when not set by hand).
    pub calibration: AttrValue,
    /// Values clamped to qmin / qmax (the metrics' clip count), of `count`.
    pub clipped: usize,
    /// Values outside [α, β] itself.
    pub outside_range: usize,
    pub count: usize,
}

/// A number as its shortest text that reads back the same f32, in exponent form when tiny or
/// huge (a scale of 7.843137e-33, not thirty-two zeros that overflow the card).
pub fn num(v: f32) -> String {
    crate::decimal::short_text(v)
}

/// A number ready to substitute after a minus sign or a division: negatives in parentheses.
fn sub(v: f32) -> String {
    if v < 0.0 {
        format!("({})", num(v))
    } else {
        num(v)
    }
}

#[function_component(ParamsPanel)]
pub fn params_panel(props: &ParamsPanelProps) -> Html {
    let p = &props.params;
    let (a, b, aq, bq) = (p.alpha, p.beta, p.grid_min, p.grid_max);
    // What the method does in general; what it did to this tensor follows the measured clip count
    // (the lab's normal example: 0 of 8, since 1.1885 / s + Z = 127.19 rounds to 127 unclamped;
    // its clip example: 5 of 8).
    let method_note = match props.method {
        // Symmetric: Z is the grid's middle by definition (0 for signed integers), nothing is
        // rounded in it.
        Method::Normal if props.symmetric => "normal, symmetric: [αq, βq] = [qmin, qmax], Z = ⌊(qmin + qmax + 1) / 2⌋, the middle of the grid (0 for signed integers, 2^(b−1) for unsigned), and s = max(|α|, |β|) / ((βq − αq) / 2), so the grid is centred on 0 and reaches ±max(|α|, |β|): the side of [α, β] nearer to 0 leaves some levels unused.",
        Method::Normal => "normal: [αq, βq] = [qmin, qmax], so [α, β] maps onto the integers up to the rounding of Z, which shifts the grid by up to half a step.",
        Method::Clip => "clip: [αq, βq] is twice as wide as [qmin, qmax], so the step s is halved and values in the outer part of [α, β] saturate at qmin or qmax.",
    };
    let clip_note = clipping_note(props.method, props.symmetric, props.clipped, props.outside_range, props.count);
    let row = |name: &str, tip: &str, formula: String, value: String, id: &str| {
        html! {
            <tr title={tip.to_string()}>
                <th scope="row" tabindex="0" title={tip.to_string()}>{ name.to_string() }</th>
                <td class="formula">{ formula }</td>
                <td class="value" data-testid={id.to_string()}>{ value }</td>
            </tr>
        }
    };
    html! {
        <section class="params" aria-label="Quantization parameters">
            <h2>{"Scale and zero point"}</h2>
            <p class="hint" data-testid="method-note">{ method_note }</p>
            <p class="hint" data-testid="clip-note">{ clip_note }</p>
            if let RangeGuard::Widened { from_alpha, from_beta } = props.guard {
                <p class="warning" role="status" data-testid="guard-notice">{
                    // Min-max gives a zero-width range only for equal values; a range set by
                    // hand or by another calibrator can collapse on any data.
                    if !props.manual && props.calibration == "min_max" {
                        format!("All values are equal ({} … {}): a range of zero width would give s = 0. \
                                 The range is widened to include 0, to [{a}, {b}], so the constant sits at its end: exact under an \
                                 asymmetric normal grid with round to nearest; a symmetric grid, the clip method or floor rounding \
                                 can still move it (the error figures say by how much).", num(from_alpha), num(from_beta))
                    } else {
                        format!("The range [α, β] has zero width ({} … {}, {}), which would give s = 0. \
                                 It is widened to include 0, to [{a}, {b}]; values outside it are clamped.",
                            num(from_alpha), num(from_beta),
                            if props.manual { "as set by hand".to_string() } else { format!("from {} calibration", props.calibration.replace('_', " ")) })
                    }
                }</p>
            }
            <table>
                <tbody>
                    { row("α, β", "The float range that is mapped onto the integer grid.",
                        if props.manual {
                            "set by hand".into()
                        } else if props.calibration == "min_max" {
                            "min(r), max(r)".into()
                        } else {
                            format!("{} calibration", props.calibration.replace('_', " "))
                        },
                        format!("{}, {}", num(a), num(b)), "alpha-beta") }
                    { row("αq, βq", "The integer range that [α, β] is mapped onto.",
                        format!("{} method", props.method.name()), format!("{aq}, {bq}"), "grid-range") }
                    if props.symmetric {
                        { row("scale s", "The float value of one integer step. Symmetric: the grid is centred on 0.",
                            format!("s = max(|α|, |β|) / ((βq − αq) / 2) = {} / (({} − {}) / 2)",
                                num(a.abs().max(b.abs())), bq, sub(aq as f32)),
                            num(p.scale), "scale") }
                        { row("zero point Z", "The integer that stands for the float 0: the middle of [qmin, qmax].",
                            format!("Z = ⌊(qmin + qmax + 1) / 2⌋ = ⌊({} + {} + 1) / 2⌋", p.qmin, p.qmax),
                            p.zero_point.to_string(), "zero-point") }
                    } else {
                        { row("scale s", "The float value of one integer step.",
                            format!("s = (β − α) / (βq − αq) = ({} − {}) / ({} − {})", num(b), sub(a), bq, sub(aq as f32)),
                            num(p.scale), "scale") }
                        { row("zero point Z", "The integer that stands for the float 0.",
                            format!("Z = round(αq − α / s) = round({} − {} / {})", aq, sub(a), num(p.scale)),
                            p.zero_point.to_string(), "zero-point") }
                    }
                    { row("q", "Each value's integer: divide by the step, shift by Z, round, then clamp to the integer type.",
                        format!("q = clamp(round(r / s + Z), {}, {})", p.qmin, p.qmax),
                        format!("[{}, {}]", p.qmin, p.qmax), "clamp-range") }
                    { row("r'", "The dequantized value: what the integer stands for.",
                        format!("r' = (q − Z) · s = (q − {}) · {}", sub(p.zero_point as f32), num(p.scale)),
                        String::new(), "dequant-formula") }
                </tbody>
            </table>
        </section>
    }
}

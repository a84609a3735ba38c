//! Side-by-side generation: the FP32 and the quantized model continue one prompt with one
//! seed, in two columns. Each token is shaded by the probability the FP32 model gave it (the
//! darker, the less FP32 expected it), and the first token where the columns part is marked.

use std::rc::Rc;

use yew::prelude::*;

use crate::app::state::lm::Generation;
use crate::app::worker::protocol::LmToken;
use crate::parse::plural;

#[derive(Properties, PartialEq)]
pub struct LmGenerationProps {
    pub generation: Rc<Generation>,
}

/// A token's background: Okabe–Ito orange, stronger as the FP32 probability falls.
fn shade(p: f64) -> String {
    let a = ((1.0 - p.clamp(0.0, 1.0)) * 0.8).clamp(0.0, 0.8);
    format!("background-color: rgba(230, 159, 0, {a:.2})")
}

fn column(tokens: &[LmToken], diverge: Option<usize>, testid: &'static str, own: bool) -> Html {
    html! {
        { for tokens.iter().enumerate().map(|(i, t)| {
            let title = if own && (t.p_own - t.p_fp32).abs() > 0.0 {
                format!("p = {:.3} under FP32, {:.3} under the quantized model", t.p_fp32, t.p_own)
            } else {
                format!("p = {:.3} under FP32", t.p_fp32)
            };
            let mark = diverge == Some(i);
            // The end-of-text token is shown as a mark, not as its spelling ("</s>", "\n<s>\n").
            let text = if t.ends_text { "⏎ end of text".to_string() } else { t.text.clone() };
            html! {
                <span class={classes!("tok", mark.then_some("diverge"), t.ends_text.then_some("end-of-text"))} style={shade(t.p_fp32)} {title}
                    data-testid={mark.then_some(testid)}>{ text }</span>
            }
        }) }
    }
}

/// Why a column has fewer tokens than asked for: its end-of-text token, or the context.
fn why_stopped(name: &str, tokens: &[LmToken], asked: usize) -> Option<String> {
    match tokens.last() {
        _ if tokens.len() >= asked => None,
        Some(t) if t.ends_text => Some(format!("{name} wrote its end-of-text token after {}", plural(tokens.len(), "token"))),
        _ => Some(format!("{name} filled the model's context (prompt included) after {}", plural(tokens.len(), "token"))),
    }
}

fn stopped(g: &Generation) -> String {
    let why: Vec<String> =
        [why_stopped("FP32", &g.fp32, g.asked), why_stopped(&g.label, &g.quant, g.asked)].into_iter().flatten().collect();
    format!("Stopped before the {} tokens asked for: {}.", g.asked, why.join("; "))
}

/// A generated token in the divergence note: its text quoted, or, for a token that holds only
/// part of a character's bytes (byte-level BPE writes nothing until the character is whole), its id.
fn shown(t: &LmToken) -> String {
    match (t.ends_text, t.text.is_empty()) {
        (true, _) => format!("its end-of-text token ({})", t.id),
        (false, true) => format!("token {} (part of a character's bytes, written once the character is whole)", t.id),
        (false, false) => format!("{:?}", t.text),
    }
}

#[function_component(LmGeneration)]
pub fn lm_generation(props: &LmGenerationProps) -> Html {
    let g = &props.generation;
    let d = g.divergence();
    let note = match (d, g.done) {
        (Some(i), _) => {
            let (a, b) = (&g.fp32[i], &g.quant[i]);
            html! {
                <p class="hint" data-testid="divergence-note">
                    { format!(
                        "The texts part at generated token {}: FP32 wrote {} (p = {:.3}), {} wrote {}{}.",
                        i + 1,
                        shown(a),
                        a.p_fp32,
                        g.label,
                        shown(b),
                        format!(", to which FP32 gave p = {:.3}", b.p_fp32)
                    ) }
                </p>
            }
        }
        (None, true) => html! {
            <p class="hint" data-testid="no-divergence">
                { format!("No divergence: both models wrote the same {}.", plural(g.fp32.len().min(g.quant.len()), "token")) }
            </p>
        },
        (None, false) => html! {},
    };
    let speed = |tps: f64| if g.done && tps > 0.0 { format!(" · {tps:.0} tokens/s") } else { String::new() };
    html! {
        <div class="lm-generation">
            <div class="gen-columns">
                <figure class="gen">
                    <figcaption>{ format!("FP32{}", speed(g.fp32_tps)) }</figcaption>
                    <div class="gen-text" data-testid="gen-fp32">
                        <span class="prompt">{ g.prompt.clone() }</span>
                        { column(&g.fp32, d, "divergence-fp32", false) }
                    </div>
                </figure>
                <figure class="gen">
                    <figcaption>{ format!("{}{}", g.label, speed(g.quant_tps)) }</figcaption>
                    <div class="gen-text" data-testid="gen-quant">
                        <span class="prompt">{ g.prompt.clone() }</span>
                        { column(&g.quant, d, "divergence", true) }
                    </div>
                </figure>
            </div>
            { note }
            if g.done && g.fp32.len().min(g.quant.len()) < g.asked {
                <p class="hint" data-testid="gen-stopped">{ stopped(g) }</p>
            } else if g.done {
                <p class="hint" data-testid="gen-stopped">{ format!("Both columns wrote the {} asked for.", plural(g.asked, "token")) }</p>
            }
            <p class="hint">{"Shading: the darker a token (a character, for the built-in models), the less probable the FP32 model found it (white: p ≈ 1). The outlined token is the first where the two texts differ."}</p>
        </div>
    }
}

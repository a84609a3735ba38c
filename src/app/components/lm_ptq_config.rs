//! The Language-model page's settings as MindSpore Golden Stick's `PTQConfig(...)` call, both
//! ways ([`crate::ptq::golden_stick`]): the call that says the form's settings (and what it
//! cannot say), and a box where a call copied from Golden Stick's guides or a user's script is
//! pasted to set the form. A call that does not read, or that would change a setting the
//! teacher's link fixes, leaves the form as it was and says why.

use yew::prelude::*;

use super::lm_controls::LmEdit;
use crate::lm::LmConfig;
use crate::ptq::golden_stick::{read_ptq_config, write_ptq_config, MAX_PTQ_CONFIG_CHARS};
use crate::share::lm::{locked_changes, LmExperiment};
use crate::share::view::View;

#[derive(Properties, PartialEq)]
pub struct LmPtqConfigProps {
    pub exp: LmExperiment,
    /// The shape of the model in use: a call's blacklist must name its Linears.
    pub model: LmConfig,
    pub view: View,
    pub on_edit: Callback<LmEdit>,
    /// A job is running: the form keeps its settings.
    pub disabled: bool,
}

/// What the last Apply said.
#[derive(Clone, PartialEq)]
enum Outcome {
    Refused(String),
    Applied(Vec<String>),
}

const PLACEHOLDER: &str = "PTQConfig(weight_quant_dtype=msdtype.int8, act_quant_dtype=msdtype.int8, kvcache_quant_dtype=None,\n          outliers_suppression=OutliersSuppressionType.SMOOTH)";

#[function_component(LmPtqConfig)]
pub fn lm_ptq_config(props: &LmPtqConfigProps) -> Html {
    let said = write_ptq_config(&props.exp.quant);
    let text = use_state(String::new);
    let outcome = use_state(|| None::<Outcome>);
    let oninput = {
        let text = text.clone();
        Callback::from(move |e: InputEvent| text.set(e.target_unchecked_into::<web_sys::HtmlTextAreaElement>().value()))
    };
    let onapply = {
        let (text, outcome, exp, view, on_edit) = (text.clone(), outcome.clone(), props.exp.clone(), props.view.clone(), props.on_edit.clone());
        let model = props.model.clone();
        Callback::from(move |_: MouseEvent| {
            let read = match read_ptq_config(&text, &exp.quant) {
                Ok(read) => read,
                Err(e) => return outcome.set(Some(Outcome::Refused(e))),
            };
            if let Err(e) = read.check_fits(&model) {
                return outcome.set(Some(Outcome::Refused(format!("{e}: the form was left as it was"))));
            }
            let next = LmExperiment { quant: read.quant.clone(), ..exp.clone() };
            let locked = locked_changes(&view, &exp, &next);
            if !locked.is_empty() {
                return outcome.set(Some(Outcome::Refused(format!("the link you opened fixes {}: the form was left as it was", locked.join(", ")))));
            }
            let quant = read.quant;
            on_edit.emit(std::rc::Rc::new(move |x: &mut LmExperiment| x.quant = quant.clone()));
            outcome.set(Some(Outcome::Applied(read.notes)));
        })
    };
    html! {
        <details class="ptq-config" data-testid="lm-ptq-config">
            <summary>{"As MindSpore Golden Stick's PTQConfig"}</summary>
            <p class="hint">{"These settings, as the call Golden Stick's guides write (msdtype = mindspore.dtype):"}</p>
            <pre class="code" data-testid="lm-ptq-config-text">{ said.text.clone() }</pre>
            if !said.unsaid.is_empty() {
                <p class="hint" data-testid="lm-ptq-config-unsaid">{ format!("The call cannot say: {}.", said.unsaid.join("; ")) }</p>
            }
            <label class="ptq-config-paste">{"Paste a PTQConfig(...) to set the form"}
                <textarea rows="3" value={(*text).clone()} {oninput} placeholder={PLACEHOLDER} maxlength={MAX_PTQ_CONFIG_CHARS.to_string()}
                    spellcheck="false" disabled={props.disabled} data-testid="lm-ptq-config-input" />
            </label>
            <button onclick={onapply} disabled={props.disabled || text.trim().is_empty()} data-testid="lm-ptq-config-apply"
                title="Read the call and put its settings in the form; settings it has no field for (α, calibration tokens, dampening) stay as they are">{"Apply"}</button>
            { match &*outcome {
                Some(Outcome::Refused(e)) => html! { <p class="error-inline" role="status" data-testid="lm-ptq-config-error">{ e.clone() }</p> },
                Some(Outcome::Applied(notes)) => html! {
                    <p class="hint" role="status" data-testid="lm-ptq-config-notes">{
                        if notes.is_empty() { "Applied.".to_string() } else { format!("Applied. {}", notes.join(" · ")) }
                    }</p>
                },
                None => html! {},
            } }
        </details>
    }
}

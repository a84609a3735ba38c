//! Which model the Language-model page uses: one of the two Shakespeare models trained here or
//! the user's own (once one has read), with what the reader found in the user's files.

use std::rc::Rc;

use yew::prelude::*;

use crate::app::state::lm::{ModelChoice, UserModel};
use crate::lm::corpus::BuiltinLm;
use crate::units::grouped;

#[derive(Properties, PartialEq)]
pub struct LmModelPanelProps {
    pub user: Option<Rc<UserModel>>,
    pub use_user: bool,
    /// The built-in model chosen (used when `use_user` is false).
    pub builtin: BuiltinLm,
    pub on_choose: Callback<ModelChoice>,
    #[prop_or_default]
    pub disabled: bool,
}

/// Parameters in millions, one decimal ("1.2 M").
fn millions(n: u128) -> String {
    format!("{:.1} M", n as f64 / 1e6)
}

/// What the page says of a built-in model: its shape from its config, and what was measured on it.
fn builtin_notes(b: BuiltinLm) -> Html {
    let c = b.config();
    let params = c.param_count();
    let measured = match b {
        BuiltinLm::Small => "Validation loss 1.527 nats per character (perplexity 4.61 on the whole validation split).",
        BuiltinLm::Large => "Trained for comparing the methods: on the evaluation slice GPTQ recovers 86–87 % of RTN's perplexity gap at W4 and W3 group 32, and AWQ 18 % and 28 %, more than on the small model. Validation loss 1.524 nats per character (perplexity 4.59 on the whole validation split). With 2.6 times the parameters, its jobs take longer.",
    };
    html! {
        <p class="notes" data-testid="lm-builtin-notes">
            { format!("{}: a Llama-style decoder trained here on Shakespeare, one token per character — {} parameters, dim {}, {} layers, {} heads ({} key/value heads), SwiGLU {}, context {}. {measured} ",
                b.name(), grouped(params), c.dim, c.n_layers, c.n_heads, c.n_kv_heads, c.hidden_dim, c.seq_len) }
            // f32 weights: 4 bytes a parameter (the file's header adds a few kB).
            { format!("It loads with the worker ({:.1} MB) the first time a job needs it; the validation text is Henry V, Macbeth, The Rape of Lucrece and Twelfth Night, unseen in training.", params as f64 * 4.0 / 1e6) }
        </p>
    }
}

#[function_component(LmModelPanel)]
pub fn lm_model_panel(props: &LmModelPanelProps) -> Html {
    let choose = |c: ModelChoice| props.on_choose.reform(move |_: Event| c);
    let builtin_radio = |b: BuiltinLm, testid: &'static str, title: &'static str| {
        html! {
            <label {title}>
                <input type="radio" name="lm-model" checked={!props.use_user && props.builtin == b} onchange={choose(ModelChoice::Builtin(b))}
                    disabled={props.disabled} data-testid={testid} />
                { format!(" {} — {} parameters", b.name(), millions(b.config().param_count())) }
            </label>
        }
    };
    html! {
        <>
        <div class="lm-model-choice" role="radiogroup" aria-label="Model">
            { builtin_radio(BuiltinLm::Small, "lm-use-builtin", "The Shakespeare model trained here (characters as tokens)") }
            { builtin_radio(BuiltinLm::Large, "lm-use-builtin-large", "A larger Shakespeare model trained here for comparing GPTQ, AWQ and SmoothQuant") }
            if let Some(user) = &props.user {
                <label title="The model you dropped, read to FP32 in the worker">
                    <input type="radio" name="lm-model" checked={props.use_user} onchange={choose(ModelChoice::User)} disabled={props.disabled} data-testid="lm-use-user" />
                    { format!(" {}", user.info.name) }
                </label>
            }
        </div>
        { match props.user.as_ref().filter(|_| props.use_user) {
            Some(user) => user_notes(user),
            None => builtin_notes(props.builtin),
        } }
        </>
    }
}

/// What the reader found in the user's files.
fn user_notes(user: &UserModel) -> Html {
    let i = &user.info;
    html! {
        <div class="notes" data-testid="lm-user-model">
            <p>
                { format!("{}{} — {}: {} parameters, dim {}, {} layers, {} heads ({} key/value heads), hidden {}, vocabulary {}, context {}. ",
                    i.name, i.title.as_ref().map_or(String::new(), |t| format!(" (\"{t}\")")), i.format, grouped(i.params.into()), i.dim, i.n_layers, i.n_heads, i.n_kv_heads, i.hidden_dim, grouped(i.vocab_size as u128), i.seq_len) }
                { match &i.tokenizer {
                    Some(t) => format!("Tokenizer: {t}. Perplexity is measured on the built-in Shakespeare validation text, tokenized by this model's tokenizer (so it compares configurations of this model, not this model with the built-in one)."),
                    None => "No tokenizer qplay can run (the notes say why): Run and Generate need one, Export does not. \
                             A model file without one takes a tokenizer.json or tokenizer.bin dropped with it.".to_string(),
                } }
            </p>
            if let Some(types) = &i.dequantized {
                <p data-testid="lm-dequantized">{ format!(
                    "The file stores its weights quantized ({types}); they are dequantized to f32 on load, so \"FP32\" here is \
                     that dequantized model, not the float model the file was made from.") }</p>
            }
            if !i.notes.is_empty() {
                <ul class="import-notes">{ for i.notes.iter().map(|n| html! { <li>{ n.clone() }</li> }) }</ul>
            }
        </div>
    }
}

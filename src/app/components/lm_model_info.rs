//! Which model the Language-model page uses: the built-in Shakespeare model or the user's own
//! (once one has read), with what the reader found in the user's files.

use std::rc::Rc;

use yew::prelude::*;

use crate::app::state::lm::UserModel;

#[derive(Properties, PartialEq)]
pub struct LmModelPanelProps {
    pub user: Option<Rc<UserModel>>,
    pub use_user: bool,
    /// true: the user's model; false: the built-in one.
    pub on_choose: Callback<bool>,
    #[prop_or_default]
    pub disabled: bool,
}

/// n with a comma between groups of three digits (1,214,080).
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[function_component(LmModelPanel)]
pub fn lm_model_panel(props: &LmModelPanelProps) -> Html {
    let choose = |user: bool| props.on_choose.reform(move |_: Event| user);
    let builtin_notes = html! {
        <p class="notes" data-testid="lm-builtin-notes">
            {"The built-in model: a Llama-style decoder trained here on Shakespeare, one token per character — 1,214,080 parameters, dim 128, 6 layers, 4 heads (2 key/value heads), SwiGLU 384, context 256. "}
            {"It loads with the worker (4.9 MB) the first time you press Run or Generate; the validation text is Henry V, Macbeth, The Rape of Lucrece and Twelfth Night, unseen in training."}
        </p>
    };
    let Some(user) = &props.user else { return builtin_notes };
    let i = &user.info;
    html! {
        <>
        <div class="lm-model-choice" role="radiogroup" aria-label="Model">
            <label title="The Shakespeare model trained here (characters as tokens)">
                <input type="radio" name="lm-model" checked={!props.use_user} onchange={choose(false)} disabled={props.disabled} data-testid="lm-use-builtin" />
                {" Shakespeare (built-in)"}
            </label>
            <label title="The model you dropped, read to FP32 in the worker">
                <input type="radio" name="lm-model" checked={props.use_user} onchange={choose(true)} disabled={props.disabled} data-testid="lm-use-user" />
                { format!(" {}", i.name) }
            </label>
        </div>
        if props.use_user {
            <div class="notes" data-testid="lm-user-model">
                <p>
                    { format!("{} — {}: {} parameters, dim {}, {} layers, {} heads ({} key/value heads), hidden {}, vocabulary {}, context {}. ",
                        i.name, i.format, thousands(i.params), i.dim, i.n_layers, i.n_heads, i.n_kv_heads, i.hidden_dim, thousands(i.vocab_size as u64), i.seq_len) }
                    { match &i.tokenizer {
                        Some(t) => format!("Tokenizer: {t}. Perplexity is measured on the built-in Shakespeare validation text, tokenized by this model's tokenizer (so it compares configurations of this model, not this model with the built-in one)."),
                        None => "No tokenizer: Run and Generate need one (drop it with the model).".to_string(),
                    } }
                </p>
                if !i.notes.is_empty() {
                    <ul class="import-notes">{ for i.notes.iter().map(|n| html! { <li>{ n.clone() }</li> }) }</ul>
                }
            </div>
        } else {
            { builtin_notes }
        }
        </>
    }
}

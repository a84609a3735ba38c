//! A job's progress bar, what it is doing, and the Cancel button.
//!
//! Focus follows the job for keyboard users: when it starts from a button (Run, a step, a chart
//! point) focus moves to Cancel, and when it ends with focus still on Cancel, focus moves to the
//! results (the first `.results` block), else back to the button that started the job (a Lab
//! step's Run, the Language-model page's Run), else `main`. A job started by editing a field (a
//! live re-run) leaves focus in the field.

use gloo::timers::callback::Timeout;
use wasm_bindgen::JsCast;
use yew::prelude::*;

use crate::app::state::job::{Job, JobState};

/// The element that has focus, if any.
fn active() -> Option<web_sys::Element> {
    gloo::utils::document().active_element()
}

fn focus_results(starter: Option<web_sys::Element>) {
    let doc = gloo::utils::document();
    let usable = |e: &web_sys::Element| e.is_connected() && !e.has_attribute("disabled");
    let target = doc
        .query_selector(".results")
        .ok()
        .flatten()
        .or_else(|| starter.filter(usable))
        .or_else(|| doc.query_selector("main").ok().flatten());
    if let Some(el) = target.and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()) {
        if !el.has_attribute("tabindex") {
            let _ = el.set_attribute("tabindex", "-1");
        }
        let _ = el.focus();
    }
}

#[derive(Properties, PartialEq)]
pub struct JobStatusProps {
    /// What is running, e.g. "4 bits, per_channel, kl".
    pub stage: AttrValue,
    pub done: usize,
    pub total: usize,
    /// The latest loss or similar, if any.
    #[prop_or_default]
    pub value: Option<f64>,
    /// A download in progress: (what, bytes done, bytes total).
    #[prop_or_default]
    pub loading: Option<(String, u64, u64)>,
    pub on_cancel: Callback<()>,
}

#[function_component(JobStatus)]
pub fn job_status(props: &JobStatusProps) -> Html {
    let cancel = props.on_cancel.reform(|_: MouseEvent| ());
    let cancel_ref = use_node_ref();
    {
        let cancel_ref = cancel_ref.clone();
        use_effect_with((), move |_| {
            let from_button = active().is_none_or(|a| matches!(a.tag_name().as_str(), "BODY" | "BUTTON" | "CANVAS"));
            let starter = active().filter(|a| a.tag_name() == "BUTTON");
            if let Some(b) = cancel_ref.cast::<web_sys::HtmlElement>().filter(|_| from_button) {
                let _ = b.focus();
            }
            move || {
                let on_cancel = active().zip(cancel_ref.get()).is_some_and(|(a, c)| a.is_same_node(Some(&c)));
                let had_focus = on_cancel || active().is_none_or(|a| a.tag_name() == "BODY");
                if had_focus {
                    // After the page has rendered the results that replace this status.
                    Timeout::new(0, move || focus_results(starter)).forget();
                }
            }
        });
    }
    let (label, done, total) = match &props.loading {
        Some((what, d, t)) => (
            if *t > 0 { format!("Loading {what}: {:.1} of {:.1} MB", *d as f64 / 1e6, *t as f64 / 1e6) } else { format!("Loading {what}: {:.1} MB", *d as f64 / 1e6) },
            *d as f64,
            (*t).max(1) as f64,
        ),
        None => (
            match props.value {
                Some(v) => format!("{} ({}/{}, loss {v:.4})", props.stage, props.done, props.total),
                None => format!("{} ({}/{})", props.stage, props.done, props.total),
            },
            props.done as f64,
            props.total.max(1) as f64,
        ),
    };
    html! {
        <div class="job" role="status" aria-live="polite" data-testid="job-status">
            <progress value={format!("{done}")} max={format!("{total}")} data-testid="progress"></progress>
            <span class="stage">{ label }</span>
            <button ref={cancel_ref} onclick={cancel} data-testid="cancel" title="Stop the computation now (the worker is terminated and restarted)">{"Cancel"}</button>
        </div>
    }
}

/// The progress bar and Cancel of a running job.
pub fn progress<K>(job: &Job<K>, on_cancel: Callback<()>) -> Html {
    let (stage, done, total, value) = job.stage();
    html! { <JobStatus {stage} {done} {total} {value} loading={job.loading.clone()} {on_cancel} /> }
}

/// The line under a page's Run button: the progress while the job runs, then its failure
/// ("The {what} failed: …") or a neutral "Cancelled.".
pub fn job_line<K: Clone>(job: &JobState<K>, what: &str, on_cancel: Callback<()>) -> Html {
    match job {
        JobState::Running(j) => progress(j, on_cancel),
        JobState::Failed { message, .. } => html! { <p class="error" role="alert" data-testid="run-error">{ format!("The {what} failed: {message}") }</p> },
        JobState::Cancelled { .. } => html! { <p class="hint" data-testid="cancelled">{"Cancelled."}</p> },
        JobState::Idle => html! {},
    }
}

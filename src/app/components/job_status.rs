//! A job's progress bar, what it is doing, and the Cancel button.

use yew::prelude::*;

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
            <button onclick={cancel} data-testid="cancel" title="Stop the computation now (the worker is terminated and restarted)">{"Cancel"}</button>
        </div>
    }
}

//! The Lab's second track, "quantize a language model", in four steps on the built-in
//! Shakespeare model, each with its explanation and its live numbers:
//!
//! 1. RTN W8A16 per channel with the output head and the embedding skipped, as Golden Stick's
//!    guide quantizes Llama 2;
//! 2. 4 bits in groups of 32 (the gap part 2's methods close);
//! 3. the KV cache in int8;
//! 4. GPTQ and AWQ at W4 g32, and SmoothQuant against plain W8A8 with injected outlier channels.
//!
//! The runs go through the Language-model page's jobs (the worker, progress, Cancel), so every
//! result also lands in that page's comparison table; a step's rows are the latest runs of its
//! exact settings on the built-in model.

use std::rc::Rc;

use yew::prelude::*;

use super::job_status::progress;
use crate::units::grouped;
use super::lm_page::{LmHandle, Submit};
use crate::app::state::job::JobState;
use crate::app::state::lm::LmRow;
use crate::app::worker::host::SharedWorker;
use crate::lm::corpus::BuiltinLm;
use crate::lm::KvFormat;
use crate::ptq::lm::{LmMethod, LmQuantConfig, LmWeightFormat};
use crate::share::lm::{to_query, LmExperiment};
use crate::share::view::View;
use crate::share::{page_hash, Page};

/// The settings of each step's runs (one or more).
fn step_configs(step: usize) -> Vec<LmQuantConfig> {
    let w8 = LmQuantConfig { weights: LmWeightFormat::Rtn, bits: 8, group: 0, ..LmQuantConfig::default() };
    let w4 = LmQuantConfig { bits: 4, group: 32, ..w8.clone() };
    let outliers = |c: LmQuantConfig| LmQuantConfig { outliers: 4, outlier_scale: 50.0, int8_acts: true, ..c };
    match step {
        0 => vec![w8],
        1 => vec![w4],
        2 => vec![LmQuantConfig { kv: KvFormat::Int8, ..w8 }],
        _ => vec![
            LmQuantConfig { method: LmMethod::Gptq, ..w4.clone() },
            LmQuantConfig { method: LmMethod::Awq, ..w4 },
            outliers(w8.clone()),
            LmQuantConfig { method: LmMethod::SmoothQuant, ..outliers(w8) },
        ],
    }
}

fn experiment(cfg: &LmQuantConfig) -> LmExperiment {
    LmExperiment { quant: cfg.clone(), ..LmExperiment::default() }
}

/// The step's "open" link to the Language-model page. Under a teacher's link that hides or locks
/// controls there, the link keeps that view and the page's other settings, and where it would
/// change a locked setting it is no link but the reason.
/// A Lab whose teacher fixed every control (`lock=all` / `hide=all`) adds `lock=all`, so that the
/// page opens locked alike.
fn open_link(state: &LmHandle, cfg: &LmQuantConfig, lab_locks_all: bool) -> Html {
    let (exp, view) = if state.view.is_set() {
        let d = LmExperiment::default();
        let exp = LmExperiment { quant: cfg.clone(), tokens: d.tokens, builtin: d.builtin, model: d.model, model_files: d.model_files, ..state.exp.clone() };
        let locked = state.locked_changes(&exp);
        if !locked.is_empty() {
            return html! { <span class="hint" data-testid="lab-lm-locked">{ format!("locked: {}", locked.join(", ")) }</span> };
        }
        (exp, state.view.clone())
    } else {
        (experiment(cfg), View::default())
    };
    let view = if lab_locks_all { view.and_lock_all() } else { view };
    // Seven links read "open": each is named by its configuration for a screen reader's list of links.
    let name = format!("Open {} on the Language-model page", cfg.label());
    html! { <a href={page_hash(Page::Lm, &crate::share::view::join_query(&to_query(&exp), &view))} aria-label={name}>{"open"}</a> }
}

/// The latest run of `cfg` on the (small) built-in model at the default evaluation length.
fn result<'a>(rows: &'a [Rc<LmRow>], cfg: &LmQuantConfig) -> Option<&'a LmRow> {
    let tokens = LmExperiment::default().tokens;
    rows.iter().rev().find(|r| r.exp.quant == *cfg && r.exp.tokens == tokens && r.view.model == BuiltinLm::Small.name()).map(|r| r.as_ref())
}

fn pct(x: f64) -> String {
    format!("{}{:.2} %", if x >= 0.0 { "+" } else { "−" }, x.abs())
}

/// What a step teaches, with the numbers of the runs so far.
fn explanation(step: usize, rows: &[Rc<LmRow>]) -> String {
    let get = |s: usize, i: usize| step_configs(s).get(i).and_then(|c| result(rows, c)).map(|r| &r.view);
    match step {
        0 => match get(0, 0) {
            Some(v) => format!(
                "8-bit weights, one scale per output channel, activations left in float: the model shrinks from {:.2} MB to {:.2} MB ({:.2} bits per weight) and its perplexity moves by {} ({:.4} → {:.4}); the mean KL divergence of the next-token distributions is {:.5} and the top token agrees at {:.1} % of positions. Golden Stick reports the same table for Llama 2: 13 → 7.1 GB and perplexity 9.46 → 9.37 on wikitext2, a change of −1.0 % where this model's is {}: at 8 bits per channel the perplexity barely moves, in either direction.",
                v.fp32_bytes as f64 / 1e6, v.weight_bytes as f64 / 1e6, v.bits_per_weight, pct(v.delta_pct), v.fp32_ppl, v.quant_ppl, v.mean_kl, 100.0 * v.top1_same, pct(v.delta_pct)
            ),
            None => "Run the step: 8-bit weights, one scale per output channel, the output head (lm_head) and the embedding kept at FP32 as Golden Stick's opname_blacklist does.".into(),
        },
        1 => match (get(1, 0), get(0, 0)) {
            (Some(v), Some(w8)) => format!(
                "4 bits in groups of 32 values, each group with its own scale: {:.2} bits per weight and a perplexity change of {} against W8's {}, KL {:.5} against {:.5}. Sixteen levels cannot follow the weights as closely as 256: this gap is what GPTQ and AWQ work on in step 4.",
                v.bits_per_weight, pct(v.delta_pct), pct(w8.delta_pct), v.mean_kl, w8.mean_kl
            ),
            (Some(v), None) => format!("4 bits in groups of 32: {:.2} bits per weight, perplexity {}, KL {:.5}. Run step 1 to compare with W8.", v.bits_per_weight, pct(v.delta_pct), v.mean_kl),
            _ => "Run the step: 4-bit integers in groups of 32 consecutive weights of a row, each group with its own scale (like llama.cpp's Q4_0 blocks).".into(),
        },
        2 => match (get(2, 0), get(0, 0)) {
            (Some(v), Some(w8)) => format!(
                "The keys and values each attention layer keeps for every earlier token, stored as int8 with a scale per head and token: the cache for the whole context takes {} bytes instead of {} (FP32), and the KL divergence goes from {:.6} (W8 alone) to {:.6}, a change of {:+.6}.",
                grouped(v.kv_bytes.into()), grouped(w8.kv_bytes.into()), w8.mean_kl, v.mean_kl, v.mean_kl - w8.mean_kl
            ),
            (Some(v), None) => format!("KV cache in int8: {} bytes for the whole context, KL {:.5}. Run step 1 to see what the cache adds to W8's own error.", grouped(v.kv_bytes.into()), v.mean_kl),
            _ => "Run the step: W8 weights as in step 1, and the attention's key / value cache stored in int8 (a scale per head and token).".into(),
        },
        _ => {
            let rtn = get(1, 0);
            let recovered = |v: Option<&crate::app::worker::protocol::LmRunView>| match (v, rtn) {
                (Some(v), Some(r)) if r.delta_pct > 0.0 => {
                    let share = 100.0 * (r.delta_pct - v.delta_pct) / r.delta_pct;
                    if share >= 0.0 {
                        format!("{} ({share:.0} % of RTN's {} recovered)", pct(v.delta_pct), pct(r.delta_pct))
                    } else {
                        format!("{} (worse than RTN's {}: none of its gap recovered)", pct(v.delta_pct), pct(r.delta_pct))
                    }
                }
                (Some(v), _) => pct(v.delta_pct),
                (None, _) => "not run yet".into(),
            };
            let sq = match (get(3, 2), get(3, 3)) {
                (Some(naive), Some(sq)) => format!("plain W8A8 {} against SmoothQuant {}", pct(naive.delta_pct), pct(sq.delta_pct)),
                _ => "not run yet".into(),
            };
            format!(
                "GPTQ rounds the columns of each weight matrix one at a time and moves the rounding error onto the columns not yet rounded, weighted by the inverse Hessian of the layer's inputs: W4 g32 {}. AWQ scales the input channels that carry the largest activations before rounding: {}. SmoothQuant moves the activations' outliers into the weights so that 8-bit activations fit; with 4 outlier channels ×50 injected (the FP32 model unchanged): {}.",
                recovered(get(3, 0)),
                recovered(get(3, 1)),
                sq
            )
        }
    }
}

const TITLES: [&str; 4] = [
    "1. RTN W8A16, as Golden Stick's guide",
    "2. 4 bits in groups of 32",
    "3. The KV cache in int8",
    "4. GPTQ, AWQ and SmoothQuant",
];

/// The language-model track's runs still to start, in order (a step's runs go one after the
/// other). The app holds it, so that the runs go on while another page is shown.
#[derive(Clone, PartialEq)]
pub struct LabLmQueue(pub UseStateHandle<Vec<LmQuantConfig>>);

/// Starts the queue's next run when the Language-model state runs none; a failed or cancelled
/// run ends the queue. The app keeps it mounted on every page.
#[function_component(LabLmRunner)]
pub fn lab_lm_runner() -> Html {
    let state = use_context::<LmHandle>().expect("the app provides the Language-model state");
    let worker = use_context::<SharedWorker>().expect("the app provides the worker");
    let LabLmQueue(queue) = use_context::<LabLmQueue>().expect("the app provides the Lab's language-model queue");
    let (state2, queue2) = (state.clone(), queue.clone());
    // Whether the job the state shows is one this runner started: only such a job's failure or
    // cancellation ends the queue. An earlier one's (a run cancelled before, a failed Generate on
    // the Language-model page) stays on the state until the next job starts, and must not empty
    // a queue filled after it.
    let ours = use_mut_ref(|| false);
    use_effect_with((state.job.clone(), queue.clone()), move |(job, q)| {
        let ended_ours = matches!(job, JobState::Failed { .. } | JobState::Cancelled { .. }) && *ours.borrow();
        match job {
            JobState::Running(_) => {}
            _ if ended_ours => {
                *ours.borrow_mut() = false;
                if !q.is_empty() {
                    queue2.set(Vec::new());
                }
            }
            _ if !q.is_empty() => {
                let mut rest = (**q).clone();
                let next = rest.remove(0);
                queue2.set(rest);
                *ours.borrow_mut() = true;
                Submit::builtin_run(&worker, &state2, experiment(&next)).send();
            }
            _ => *ours.borrow_mut() = false,
        }
    });
    html! {}
}

#[derive(Properties, PartialEq)]
pub struct LabLmTrackProps {
    /// The Lab's teacher fixed every control: the step links open the page locked alike.
    #[prop_or_default]
    pub lock_all: bool,
}

#[function_component(LabLmTrack)]
pub fn lab_lm_track(props: &LabLmTrackProps) -> Html {
    let state = use_context::<LmHandle>().expect("the app provides the Language-model state");
    let worker = use_context::<SharedWorker>().expect("the app provides the worker");
    let LabLmQueue(queue) = use_context::<LabLmQueue>().expect("the app provides the Lab's language-model queue");
    let busy = state.running_job().is_some() || !queue.is_empty();
    let run = |step: usize| {
        let queue = queue.clone();
        Callback::from(move |_: MouseEvent| queue.set(step_configs(step)))
    };
    let on_cancel = {
        let (queue, cancel) = (queue.clone(), worker.canceller(state.running_job()));
        Callback::from(move |_: ()| {
            queue.set(Vec::new());
            cancel.emit(());
        })
    };
    let run_all = {
        let queue = queue.clone();
        Callback::from(move |_: MouseEvent| queue.set((0..4).flat_map(step_configs).collect()))
    };
    html! {
        <section class="lab-lm" data-testid="lab-lm" aria-label="Quantize a language model">
            <h2>{"Second track: quantize a language model"}</h2>
            <p>{ "The same questions on a Llama-style model qplay trained on Shakespeare (1.2 M parameters, characters as tokens): \
                how much does 8-bit, then 4-bit quantization of the weights change the text it predicts, what does the KV cache cost, and \
                how much of the 4-bit loss do GPTQ and AWQ win back? Each run quantizes in the worker and scores both models on 8,193 \
                validation characters (8,192 predictions of the next one): perplexity (lower is better), its change against FP32, and the KL divergence of the next-character \
                distributions. The runs also appear on the Language-model page, where their text can be compared side by side." }</p>
            <button class="primary" onclick={run_all} disabled={busy} data-testid="lab-lm-run-all">{"Run all four steps"}</button>
            { for (0..4).map(|step| {
                let configs = step_configs(step);
                let done: Vec<Option<&LmRow>> = configs.iter().map(|c| result(&state.rows, c)).collect();
                html! {
                    <div class="step" data-testid={format!("lab-lm-step-{}", step + 1)}>
                        <h3>{ TITLES[step] }</h3>
                        <button onclick={run(step)} disabled={busy} data-testid={format!("lab-lm-run-{}", step + 1)}
                            aria-label={format!("Run step {} of the language-model track", step + 1)}>{ format!("Run step {}", step + 1) }</button>
                        <table class="lab-lm-table">
                            <thead><tr><th>{"settings"}</th><th class="num">{"perplexity"}</th><th class="num">{"Δ"}</th><th class="num">{"KL"}</th>
                                <th class="num">{"same top-1"}</th><th class="num">{"bits / weight"}</th><th>{""}</th></tr></thead>
                            <tbody>{ for configs.iter().zip(&done).map(|(c, r)| {
                                let link = open_link(&state, c, props.lock_all);
                                match r {
                                    Some(r) => html! { <tr data-testid="lab-lm-row">
                                        <td>{ c.label() }</td>
                                        <td class="num">{ format!("{:.4}", r.view.quant_ppl) }</td>
                                        <td class="num">{ pct(r.view.delta_pct) }</td>
                                        <td class="num">{ format!("{:.5}", r.view.mean_kl) }</td>
                                        <td class="num">{ format!("{:.1} %", 100.0 * r.view.top1_same) }</td>
                                        <td class="num">{ format!("{:.2}", r.view.bits_per_weight) }</td>
                                        <td>{ link.clone() }</td>
                                    </tr> },
                                    None => html! { <tr><td>{ c.label() }</td><td colspan="5" class="hint">{"not run yet"}</td><td>{ link.clone() }</td></tr> },
                                }
                            }) }</tbody>
                        </table>
                        <p data-testid={format!("lab-lm-explain-{}", step + 1)}>{ explanation(step, &state.rows) }</p>
                    </div>
                }
            }) }
            { match &state.job {
                JobState::Running(job) => progress(job, on_cancel),
                JobState::Failed { message, .. } => html! { <p class="error" role="alert">{ format!("The run failed: {message}") }</p> },
                JobState::Cancelled { .. } => html! { <p class="hint" role="status" data-testid="lab-lm-cancelled">{"Cancelled."}</p> },
                JobState::Idle => html! {},
            } }
        </section>
    }
}

//! The comparison table of the Language-model page, as Golden Stick's walkthrough prints it:
//! one row per run of this session (FP32 against the quantized model), each removable, and
//! the per-layer report of the latest run.

use std::rc::Rc;

use yew::prelude::*;

use crate::app::state::lm::LmRow;

#[derive(Properties, PartialEq)]
pub struct LmTableProps {
    pub rows: Vec<Rc<LmRow>>,
    pub on_remove: Callback<u32>,
    /// Applies a row's quantization settings to the form.
    pub on_apply: Callback<u32>,
    /// Rows whose settings differ from the form in a setting the link locks: (key, those settings).
    pub locked_rows: Vec<(u32, String)>,
}

fn kb(bytes: f64) -> String {
    format!("{:.1}", bytes / 1000.0)
}

#[function_component(LmTable)]
pub fn lm_table(props: &LmTableProps) -> Html {
    if props.rows.is_empty() {
        return html! { <p class="hint" data-testid="lm-table-empty">{"Press Run: each run adds a row here (FP32 against the quantized model)."}</p> };
    }
    let row = |r: &Rc<LmRow>| {
        let v = &r.view;
        let key = r.key;
        let remove = props.on_remove.reform(move |_: MouseEvent| key);
        let apply = props.on_apply.reform(move |_: MouseEvent| key);
        let locked = props.locked_rows.iter().find(|(k, _)| *k == key).map(|(_, l)| l.clone());
        let apply_tip = match &locked {
            Some(l) => format!("Set by the link (hidden or locked): {l}; this row's settings cannot be put in the form"),
            None => "Put this row's quantization settings back in the form".to_string(),
        };
        html! {
            <tr key={key} data-testid="lm-row">
                <td data-testid="lm-model">{ if v.model.is_empty() { "Shakespeare (built-in)".to_string() } else { v.model.clone() } }</td>
                <td data-testid="lm-label">{ v.label.clone() }</td>
                <td class="num">{ kb(v.weight_bytes as f64) }</td>
                <td class="num">{ format!("{:.2}", v.bits_per_weight) }</td>
                <td class="num">{ kb(v.kv_bytes as f64) }</td>
                <td class="num" data-testid="ppl-fp32">{ format!("{:.4}", v.fp32_ppl) }</td>
                <td class="num" data-testid="ppl-quant">{ format!("{:.4}", v.quant_ppl) }</td>
                <td class="num" data-testid="delta">{ format!("{:+.2}", v.delta_pct) }</td>
                <td class="num" data-testid="kl">{ format!("{:.5}", v.mean_kl) }</td>
                <td class="num">{ format!("{:.2} %", v.top1_same * 100.0) }</td>
                <td class="num">{ format!("{:.4}", v.rms_delta_p) }</td>
                <td class="num">{ v.tokens.to_string() }</td>
                <td class="num">{ format!("{:.2}", v.millis / 1e3) }<br /><span data-testid="quantize-s">{ format!("{:.2}", v.quantize_millis / 1e3) }</span></td>
                <td class="num" data-testid="speed-up" title={v.speed.map_or("not timed".to_string(), speed_words)}>
                    { v.speed.map_or("—".to_string(), |s| ratio(s.decode)) }<br />{ v.speed.map_or(String::new(), |s| ratio(s.prefill)) }</td>
                <td class="row-tools">
                    <button onclick={apply} data-testid="apply-row" disabled={locked.is_some()} title={apply_tip} aria-label={format!("Use the settings of {}", v.label)}>{"Use"}</button>
                    <button onclick={remove} data-testid="remove-row" title="Remove this row from the table" aria-label={format!("Remove {}", v.label)}>{"✕"}</button>
                </td>
            </tr>
        }
    };
    let last = props.rows.last().map(|r| r.view.clone());
    html! {
        <>
        <div class="scroll">
            <table class="lm-table" data-testid="lm-table">
                <thead><tr>
                    <th tabindex="0" title="The model quantized: a built-in one or your file">{"model"}</th>
                    <th tabindex="0" title="The quantization settings of the run">{"configuration"}</th>
                    <th class="num" tabindex="0" title="Every stored byte: weights, scales, norms, the FP32 layers">{"weights (kB)"}</th>
                    <th class="num" tabindex="0" title="Stored bits per parameter, norms excluded">{"bits/"}<wbr />{"weight"}</th>
                    <th class="num" tabindex="0" title="The KV cache over the model's whole context">{"KV cache"}<br />{"(kB)"}</th>
                    <th class="num" tabindex="0" title="Perplexity of the FP32 model on the same tokens">{"FP32 ppl"}</th>
                    <th class="num" tabindex="0" title="Perplexity of the quantized model: exp(mean −ln p(next token))">{"perplexity"}</th>
                    <th class="num" tabindex="0" title="(ppl_q − ppl_32) / ppl_32 · 100">{"Δ %"}</th>
                    <th class="num" tabindex="0" title="Mean KL divergence of the quantized next-token distribution from FP32's, nats">{"KL"}</th>
                    <th class="num" tabindex="0" title="Share of positions where both models rank the same token first">{"same"}<br />{"top-1"}</th>
                    <th class="num" tabindex="0" title="Root mean square change of the probability of the true next token">{"RMS Δp"}</th>
                    <th class="num" tabindex="0" title="Predictions scored: one per token after the first of each window (8,193 evaluation tokens give 8,192)">{"scored"}</th>
                    <th class="num" tabindex="0" title="Seconds: first the whole run (quantizing and scoring both models), then the quantization method alone in this browser's worker (GPTQ's and AWQ's searches included; when the same settings ran before, the time they took then)">{"seconds"}<br />{"run"}<br />{"method"}</th>
                    <th class="num" tabindex="0" title={format!("Tokens per second of the quantized model over FP32's, in this browser's worker after the run (medians of 5 interleaved trials, each repeating its work for at least {} ms): first decoding one token at a time with the KV cache ({} tokens from an empty cache; a token's latency is 1 / rate), then prefilling a {}-token prompt in one pass. The rates are in the cell's tooltip, under the table for the last run, and in the CSV and JSON.", crate::lm::bench::PAIR_MIN_TRIAL_S * 1000.0, crate::lm::bench::PAIR_DECODE_TOKENS, crate::lm::bench::PAIR_PREFILL_TOKENS)}>{"speed ×"}<br />{"decode"}<br />{"prefill"}</th>
                    <th><span class="visually-hidden">{"Use or remove the row"}</span></th>
                </tr></thead>
                <tbody>{ for props.rows.iter().map(row) }</tbody>
            </table>
        </div>
        if let Some(s) = last.as_ref().and_then(|v| v.speed) {
            <p class="hint" data-testid="lm-speed">{ format!("Last run, in this worker: {}.", speed_words(s)) }</p>
        }
        if let Some(v) = last {
            <details data-testid="lm-layers">
                <summary>{ format!("Per-layer report of the last run ({})", v.label) }</summary>
                <div class="scroll">
                    <table class="report">
                        <thead><tr>
                            <th>{"layer"}</th><th tabindex="0" title="W [N, K]: output features × input features">{"shape"}</th><th>{"format"}</th><th>{"engine"}</th>
                            <th class="num">{"weights"}</th><th class="num" tabindex="0" title="4 bytes per weight">{"FP32 kB"}</th>
                            <th class="num" tabindex="0" title="Every stored byte of the layer: integers, scales, minimums">{"kB"}</th>
                            <th class="num" tabindex="0" title="Stored bits per weight: 8 × bytes / weights">{"bits/weight"}</th>
                            <th class="num" tabindex="0" title="10·log10(Σ y32² / Σ (yq − y32)²) of the layer's output">{"output SQNR (dB)"}</th>
                            <th class="num">{"cosine"}</th><th>{"note"}</th>
                        </tr></thead>
                        <tbody>{ for v.layers.iter().map(|l| html! {
                            <tr>
                                <td>{ l.name.clone() }</td><td class="num">{ format!("{} × {}", l.shape[0], l.shape[1]) }</td>
                                <td>{ l.format.clone() }</td><td>{ l.engine.clone() }</td>
                                <td class="num">{ l.weights.to_string() }</td><td class="num">{ kb(4.0 * l.weights as f64) }</td>
                                <td class="num">{ kb(l.bytes as f64) }</td>
                                <td class="num">{ if l.weights > 0 { format!("{:.2}", 8.0 * l.bytes as f64 / l.weights as f64) } else { "—".into() } }</td>
                                <td class="num">{ l.sqnr_db.map(|s| format!("{s:.1}")).unwrap_or_else(|| "—".into()) }</td>
                                <td class="num">{ l.cosine.map(|c| format!("{c:.5}")).unwrap_or_else(|| "—".into()) }</td>
                                <td>{ l.note.clone().unwrap_or_default() }</td>
                            </tr>
                        }) }</tbody>
                    </table>
                </div>
            </details>
        }
        </>
    }
}

/// The quantized model's rate over FP32's, "×1.35"; "—" when the clock could not tell (a tiny
/// model's trials shorter than the browser's timer resolution).
fn ratio([fp32, quant]: [f64; 2]) -> String {
    if fp32 > 0.0 && quant > 0.0 {
        format!("×{:.2}", quant / fp32)
    } else {
        "—".to_string()
    }
}

/// Both rates in words, as Neural Compressor's FP32-against-INT8 table gives them.
fn speed_words(s: crate::lm::bench::PairSpeed) -> String {
    let rate = |r: f64| if r > 0.0 { format!("{r:.0}") } else { "— (below the timer's resolution)".to_string() };
    let latency = |r: f64| if r > 0.0 { format!("{:.2} ms", 1e3 / r) } else { "—".to_string() };
    format!(
        "decoding {} → {} tokens/s FP32 → quantized ({}; a token's latency {} → {}), prefilling {} tokens {} → {} tokens/s ({})",
        rate(s.decode[0]),
        rate(s.decode[1]),
        ratio(s.decode),
        latency(s.decode[0]),
        latency(s.decode[1]),
        s.prefill_tokens,
        rate(s.prefill[0]),
        rate(s.prefill[1]),
        ratio(s.prefill)
    )
}

//! The Language-model page's downloads: the comparison table as CSV and JSON (made here, from
//! the rows), and the model as GGUF (F16, Q8_0, Q4_0, Q4_1: llama.cpp's types, written from the
//! FP32 weights) or as QDQ ONNX (the quantized model of the current settings), made in the worker.

use std::rc::Rc;

use yew::prelude::*;

use crate::app::download::download_text;
use crate::app::state::lm::LmRow;
use crate::app::worker::protocol::LmExportFormat;

#[derive(Properties, PartialEq)]
pub struct LmDownloadsProps {
    pub rows: Vec<Rc<LmRow>>,
    pub on_export: Callback<LmExportFormat>,
    #[prop_or_default]
    pub disabled: bool,
    /// Why the model cannot be written in llama.cpp's blocks (its rows are not whole blocks of 32).
    #[prop_or_default]
    pub blocks_refused: Option<AttrValue>,
}

/// A CSV field: quoted when it holds a comma, a quote or a line break (RFC 4180).
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A row's settings as the page's link (its hash), which opens them again.
fn row_link(r: &LmRow) -> String {
    crate::share::page_hash(crate::share::Page::Lm, &crate::share::lm::to_query(&r.exp))
}

/// The table as CSV, one line per run, full precision: the run's time in all (`millis`), the
/// method's own (`quantize_millis`) and the link of its settings last.
pub fn table_csv(rows: &[Rc<LmRow>]) -> String {
    let mut out = String::from(
        "model,configuration,weight_bytes,fp32_bytes,bits_per_weight,kv_bytes,fp32_ppl,quant_ppl,delta_pct,mean_kl,top1_same,rms_delta_p,tokens,millis,\
         fp32_decode_tokens_per_s,quant_decode_tokens_per_s,fp32_prefill_tokens_per_s,quant_prefill_tokens_per_s,quantize_millis,link\n",
    );
    for r in rows {
        let v = &r.view;
        // Empty where the run has no timing.
        let speed = v.speed.map_or(",,,".to_string(), |s| format!("{},{},{},{}", s.decode[0], s.decode[1], s.prefill[0], s.prefill[1]));
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{speed},{},{}\n",
            field(&v.model),
            field(&v.label),
            v.weight_bytes,
            v.fp32_bytes,
            v.bits_per_weight,
            v.kv_bytes,
            v.fp32_ppl,
            v.quant_ppl,
            v.delta_pct,
            v.mean_kl,
            v.top1_same,
            v.rms_delta_p,
            v.tokens,
            v.millis,
            v.quantize_millis,
            field(&row_link(r))
        ));
    }
    out
}

/// The table as JSON: every run with its settings, its per-layer report and its link.
pub fn table_json(rows: &[Rc<LmRow>]) -> String {
    let runs: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(&r.view).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.insert("link".into(), row_link(r).into());
            }
            v
        })
        .collect();
    serde_json::to_string_pretty(&runs).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

#[function_component(LmDownloads)]
pub fn lm_downloads(props: &LmDownloadsProps) -> Html {
    let error = use_state(|| None::<String>);
    let save = |name: &'static str, mime: &'static str, make: fn(&[Rc<LmRow>]) -> String| {
        let (rows, error) = (props.rows.clone(), error.clone());
        Callback::from(move |_: MouseEvent| error.set(download_text(name, mime, &make(&rows)).err()))
    };
    let export = |f: LmExportFormat| props.on_export.reform(move |_: MouseEvent| f);
    let empty = props.rows.is_empty();
    let blocks = props.blocks_refused.is_some();
    html! {
        <div class="downloads lm-downloads" data-testid="lm-downloads">
            <span>{"Download: "}</span>
            <button onclick={save("lm-comparison.csv", "text/csv", table_csv)} disabled={empty} data-testid="lm-csv"
                title="The comparison table as CSV, one line per run, every figure at full precision">{"table CSV"}</button>
            <button onclick={save("lm-comparison.json", "application/json", table_json)} disabled={empty} data-testid="lm-json"
                title="Every run as JSON: its settings, its figures and its per-layer report">{"table JSON"}</button>
            <button onclick={export(LmExportFormat::GgufF16)} disabled={props.disabled} data-testid="lm-gguf-f16"
                title="The model as GGUF with F16 weights (llama.cpp reads it), written in the worker from the FP32 weights">{"GGUF F16"}</button>
            <button onclick={export(LmExportFormat::GgufQ8_0)} disabled={props.disabled || blocks} data-testid="lm-gguf-q8_0"
                title={props.blocks_refused.clone().unwrap_or_else(|| AttrValue::from("GGUF with llama.cpp's Q8_0 blocks: 32 weights, one f16 scale d = max|w| / 127, q = round(w / d) (norms stay F32)"))}>{"GGUF Q8_0"}</button>
            <button onclick={export(LmExportFormat::GgufQ4_0)} disabled={props.disabled || blocks} data-testid="lm-gguf-q4_0"
                title={props.blocks_refused.clone().unwrap_or_else(|| AttrValue::from("GGUF with Q4_0 blocks: 32 weights, d = (weight of largest |w|) / −8, q = round(w / d) + 8 in 0…15"))}>{"GGUF Q4_0"}</button>
            <button onclick={export(LmExportFormat::GgufQ4_1)} disabled={props.disabled || blocks} data-testid="lm-gguf-q4_1"
                title={props.blocks_refused.clone().unwrap_or_else(|| AttrValue::from("GGUF with Q4_1 blocks: 32 weights, d = (max − min) / 15 and the minimum m, w ≈ d·q + m"))}>{"GGUF Q4_1"}</button>
            <button onclick={export(LmExportFormat::QdqOnnx)} disabled={props.disabled} data-testid="lm-onnx"
                title="The model quantized with the current settings as ONNX: DequantizeLinear on each quantized weight (and QuantizeLinear / DequantizeLinear on the activations for int8 activations); ONNX Runtime runs it">{"QDQ ONNX"}</button>
            <button onclick={export(LmExportFormat::PackedSafetensors)} disabled={props.disabled} data-testid="lm-safetensors"
                title="The model quantized with the current settings as .safetensors: int8 weights as I8, int4 packed two per byte (low nibble first), their scales (and minimums), every layer's format described in the metadata">{"packed .safetensors"}</button>
            if let Some(why) = &props.blocks_refused { <span class="hint" data-testid="lm-gguf-blocks-refused">{ format!("GGUF Q8_0 / Q4_0 / Q4_1: {why}.") }</span> }
            if let Some(e) = &*error { <span class="error-inline" role="status">{ e.clone() }</span> }
        </div>
    }
}

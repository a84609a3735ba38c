//! Where the QuantizeLinear / DequantizeLinear nodes sit in one transformer block, for the
//! current settings, as qplay's ONNX export (`formats::onnx_lm::linear`) writes them — the
//! picture Neural Compressor's GPT-J guide asks users to find in a `.pbtxt`. One lane per Linear:
//!
//! ```text
//! integer weights (RTN 8 / 4 bits, Q8_0, Q4_0, Q4_1):
//!     W int8/int4 [K, N] → DequantizeLinear (ŵ = i·scale, + Add(min) when asymmetric) → MatMul
//! float weights (f32, f16 / bf16 and 2/3/5/6/7-bit grids, held as the f32 values qplay multiplies):
//!     W f32 [K, N] → MatMul
//! int8 activations (W8A8 / W4A8), integer weights only:
//!     x → QuantizeLinear (per token, s = max|x| / 127) → DequantizeLinear → MatMul
//!     with static scales: x → Clip(±127·s) → QuantizeLinear (s a constant) → DequantizeLinear → MatMul
//! a skipped Linear: plain MatMul with its f32 weight
//! ```
//!
//! Drawn as SVG (text, so it scales and reads in the accessibility tree); nothing from a link
//! reaches it but the settings themselves.

use yew::prelude::*;

use crate::ptq::lm::{LmQuantConfig, LmWeightFormat};

#[derive(Properties, PartialEq)]
pub struct LmQdqGraphProps {
    pub quant: LmQuantConfig,
    /// How many blocks the model has (the block drawn is chosen among them).
    pub n_layers: usize,
}

/// How one Linear is exported.
#[derive(Clone, Debug, PartialEq)]
pub struct LaneKind {
    /// The weight initializer's label ("int8 per channel", "f32", …).
    pub weight: String,
    /// DequantizeLinear on the weight (and whether an Add of minimums follows it).
    pub weight_dq: Option<bool>,
    /// QuantizeLinear → DequantizeLinear on the activation in front of the MatMul.
    pub act_qdq: bool,
    /// A Clip to ±127·s in front of that QuantizeLinear (static scales: s is a constant).
    pub act_clip: bool,
    pub skipped: bool,
}

/// How the export writes the Linear `name` under `cfg`.
pub fn lane_kind(cfg: &LmQuantConfig, name: &str) -> LaneKind {
    if cfg.is_skipped(name) {
        return LaneKind { weight: "f32 (skipped)".into(), weight_dq: None, act_qdq: false, act_clip: false, skipped: true };
    }
    let grouping = |g: usize| if g == 0 { "per channel".to_string() } else { format!("blocks of {g}") };
    let integer = match cfg.weights {
        LmWeightFormat::Rtn => {
            let b = cfg.bits_of(name);
            match b {
                8 => Some((format!("int8 {}", grouping(cfg.group)), !cfg.symmetric)),
                4 => Some((if cfg.symmetric { "int4 " } else { "uint4 " }.to_string() + &grouping(cfg.group), !cfg.symmetric)),
                _ => None,
            }
        }
        LmWeightFormat::Q8_0 => Some(("int8 blocks of 32 (Q8_0)".into(), false)),
        LmWeightFormat::Q4_0 => Some(("int4 blocks of 32 (Q4_0)".into(), false)),
        LmWeightFormat::Q4_1 => Some(("uint4 blocks of 32 (Q4_1)".into(), true)),
        _ => None,
    };
    match integer {
        Some((weight, with_min)) => LaneKind { weight, weight_dq: Some(with_min), act_qdq: cfg.int8_acts, act_clip: cfg.static_scales(), skipped: false },
        None => {
            let weight = match cfg.weights {
                LmWeightFormat::F16 => "f16 values, as f32".to_string(),
                LmWeightFormat::Bf16 => "bf16 values, as f32".to_string(),
                LmWeightFormat::Rtn => format!("{}-bit grid values, as f32", cfg.bits_of(name)),
                _ => "f32".to_string(),
            };
            LaneKind { weight, weight_dq: None, act_qdq: false, act_clip: false, skipped: false }
        }
    }
}

/// (projection, where its input comes from, what its output is).
const LANES: [(&str, &str); 7] = [
    ("attention.wq", "q"),
    ("attention.wk", "k"),
    ("attention.wv", "v"),
    ("attention.wo", "+ residual"),
    ("feed_forward.w1", "a"),
    ("feed_forward.w3", "b"),
    ("feed_forward.w2", "+ residual"),
];

/// The sources: (first lane, lanes, text).
const SOURCES: [(usize, usize, &str, &str); 4] = [
    (0, 3, "RMSNorm", "⊙ attention_norm"),
    (3, 1, "RoPE, softmax(q·kᵀ/√hd)·v", ""),
    (4, 2, "RMSNorm", "⊙ ffn_norm"),
    (6, 1, "SiLU(a) ⊙ b", ""),
];

const LANE_H: i32 = 50;
const BOX_H: i32 = 32;
const TOP: i32 = 34;
/// Width of a MatMul node (its label names the output: q, k, v, a, b, + residual).
const MM_W: i32 = 160;

/// (fill, stroke, stroke dash) of a node kind: Okabe–Ito orange for Q / DQ (dashed, a second cue
/// beside the colour), sky blue for quantized weights, grey for FP32.
fn paint(class: &str) -> (&'static str, &'static str, &'static str) {
    match class {
        "qdq-q" | "qdq-dq" | "qdq-clip" => ("#fbe6bf", "#e69f00", "5 3"),
        "qdq-weight" => ("#dcefFA", "#0072b2", ""),
        "qdq-matmul" => ("#ffffff", "#0072b2", ""),
        "qdq-plain" => ("#eeeeee", "#969696", ""),
        _ => ("#f4f4f4", "#555555", ""),
    }
}

fn node(x: i32, y: i32, w: i32, label: &str, class: &'static str) -> Html {
    let (fill, stroke, dash) = paint(class);
    html! {
        <g class={classes!("qdq-node", class)}>
            <rect x={x.to_string()} y={y.to_string()} width={w.to_string()} height={BOX_H.to_string()} rx="5"
                fill={fill} stroke={stroke} stroke-width="1.5" stroke-dasharray={dash} />
            <text x={(x + w / 2).to_string()} y={(y + BOX_H / 2 + 4).to_string()} text-anchor="middle" font-size="11.5" font-family="sans-serif">{ label.to_string() }</text>
        </g>
    }
}

fn arrow(x1: i32, y1: i32, x2: i32, y2: i32) -> Html {
    html! { <line class="qdq-edge" stroke="#555" stroke-width="1.2" x1={x1.to_string()} y1={y1.to_string()} x2={x2.to_string()} y2={y2.to_string()} marker-end="url(#qdq-arrow)" /> }
}

#[function_component(LmQdqGraph)]
pub fn lm_qdq_graph(props: &LmQdqGraphProps) -> Html {
    let block = use_state(|| 0usize);
    let n = props.n_layers.max(1);
    let b = (*block).min(n - 1);
    let kinds: Vec<(String, LaneKind)> = LANES.iter().map(|(p, _)| { let name = format!("layers.{b}.{p}"); let k = lane_kind(&props.quant, &name); (name, k) }).collect();
    let (src_x, clip_x, q_x, dq_x, mm_x, wdq_x, w_x) = (8, 196, 270, 392, 526, 714, 874);
    let width = 1084;
    let height = TOP + LANE_H * LANES.len() as i32 + 8;
    let mut parts: Vec<Html> = Vec::new();
    for (first, count, top_line, second) in SOURCES {
        let y = TOP + first as i32 * LANE_H;
        let h = count as i32 * LANE_H - (LANE_H - BOX_H);
        parts.push(html! {
            <g class="qdq-node qdq-source">
                <rect x={src_x.to_string()} y={y.to_string()} width="168" height={h.to_string()} rx="5" fill="#f4f4f4" stroke="#555" />
                <text x={(src_x + 84).to_string()} y={(y + h / 2 - if second.is_empty() { -4 } else { 4 }).to_string()} text-anchor="middle" font-size="12" font-family="sans-serif">{ top_line }</text>
                if !second.is_empty() {
                    <text x={(src_x + 84).to_string()} y={(y + h / 2 + 12).to_string()} text-anchor="middle" font-size="12" font-family="sans-serif">{ second }</text>
                }
            </g>
        });
    }
    let mut qdq_count = 0;
    for (i, ((name, k), (_, out))) in kinds.iter().zip(LANES.iter()).enumerate() {
        let y = TOP + i as i32 * LANE_H;
        let mid = y + BOX_H / 2;
        let proj = name.rsplit('.').next().unwrap_or(name);
        if k.act_qdq {
            qdq_count += 2;
            if k.act_clip {
                parts.push(arrow(src_x + 168, mid, clip_x, mid));
                parts.push(node(clip_x, y, 56, "Clip", "qdq-clip"));
                parts.push(arrow(clip_x + 56, mid, q_x, mid));
            } else {
                parts.push(arrow(src_x + 168, mid, q_x, mid));
            }
            parts.push(node(q_x, y, 108, "QuantizeLinear", "qdq-q"));
            parts.push(arrow(q_x + 108, mid, dq_x, mid));
            parts.push(node(dq_x, y, 120, "DequantizeLinear", "qdq-dq"));
            parts.push(arrow(dq_x + 120, mid, mm_x, mid));
        } else {
            parts.push(arrow(src_x + 168, mid, mm_x, mid));
        }
        parts.push(node(mm_x, y, MM_W, &format!("MatMul {proj} → {out}"), if k.skipped { "qdq-plain" } else { "qdq-matmul" }));
        match k.weight_dq {
            Some(with_min) => {
                qdq_count += 1;
                parts.push(node(w_x, y, 200, &format!("{proj}: {}", k.weight), "qdq-weight"));
                parts.push(arrow(w_x, mid, wdq_x + 140, mid));
                parts.push(node(wdq_x, y, 140, if with_min { "DequantizeLinear + Add(min)" } else { "DequantizeLinear" }, "qdq-dq"));
                parts.push(arrow(wdq_x, mid, mm_x + MM_W, mid));
            }
            None => {
                parts.push(node(w_x, y, 200, &format!("{proj}: {}", k.weight), if k.skipped { "qdq-plain" } else { "qdq-weight" }));
                parts.push(arrow(w_x, mid, mm_x + MM_W, mid));
            }
        }
    }
    let onchange = {
        let block = block.clone();
        Callback::from(move |e: Event| {
            if let Ok(v) = e.target_unchecked_into::<web_sys::HtmlSelectElement>().value().parse::<usize>() {
                block.set(v);
            }
        })
    };
    let summary = match qdq_count {
        0 => "No Q/DQ node in this block: every MatMul multiplies float weights.".to_string(),
        c if props.quant.static_scales() => {
            format!("{c} Q/DQ nodes in this block; each activation's scale is a calibrated constant, with a Clip to ±127·s before its QuantizeLinear.")
        }
        c if props.quant.int8_acts => format!("{c} Q/DQ nodes in this block; each activation's scale is computed in the graph per token, as max |x| / 127."),
        c => format!("{c} Q/DQ nodes in this block."),
    };
    html! {
        <div class="lm-qdq" data-testid="lm-qdq">
            <label title="Which transformer block to draw (the skip list and per-layer bits can differ between blocks)">
                {"Block "}
                <select {onchange} data-testid="lm-qdq-block">
                    { for (0..n).map(|i| html! { <option value={i.to_string()} selected={i == b}>{ i.to_string() }</option> }) }
                </select>
            </label>
            <span class="hint" data-testid="lm-qdq-summary">{ format!(" {summary} Weights enter from the right, activations from the left.") }</span>
            <div class="scroll">
                <svg viewBox={format!("0 0 {width} {height}")} width={width.to_string()} height={height.to_string()} role="img"
                    aria-label={format!("The ONNX nodes of block {b} for {}", props.quant.label())} class="qdq-graph">
                    <defs>
                        <marker id="qdq-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                            <path d="M 0 0 L 10 5 L 0 10 z" fill="#555" />
                        </marker>
                    </defs>
                    <text x="8" y="20" class="qdq-title" font-size="13" font-weight="bold" font-family="sans-serif">{ format!("Block {b} as qplay's QDQ ONNX export writes it — {}", props.quant.label()) }</text>
                    { for parts }
                </svg>
            </div>
        </div>
    }
}

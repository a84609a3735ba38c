//! The Language-model page's settings. Every control is named by its link key
//! ([`crate::share::lm`]), so a teacher's `hide=` and `lock=` reach it, and its tooltip says
//! what the setting does to the arithmetic.

use std::rc::Rc;

use yew::prelude::*;

use crate::lm::KvFormat;
use crate::ptq::lm::{LmMethod, LmWeightFormat, GROUP_SIZES};
use crate::share::lm::{parse_layer_bits, parse_skip, LmExperiment, MAX_PROMPT_CHARS, MAX_SEED};
use super::form_controls::{input_value, Controls};
use crate::share::view::View;

/// An edit of the experiment, as the reducer applies it.
pub type LmEdit = Rc<dyn Fn(&mut LmExperiment)>;
type SetText = Rc<dyn Fn(&mut LmExperiment, &str)>;
type SetNumber = Rc<dyn Fn(&mut LmExperiment, f64)>;
type SetFlag = Rc<dyn Fn(&mut LmExperiment, bool)>;

#[derive(Properties, PartialEq)]
pub struct LmControlsProps {
    pub exp: LmExperiment,
    pub view: View,
    pub on_edit: Callback<LmEdit>,
}

const WEIGHTS: [(LmWeightFormat, &str); 7] = [
    (LmWeightFormat::F32, "f32 (as trained)"),
    (LmWeightFormat::F16, "f16"),
    (LmWeightFormat::Bf16, "bf16"),
    (LmWeightFormat::Rtn, "RTN (round to nearest)"),
    (LmWeightFormat::Q8_0, "Q8_0 (llama.cpp)"),
    (LmWeightFormat::Q4_0, "Q4_0 (llama.cpp)"),
    (LmWeightFormat::Q4_1, "Q4_1 (llama.cpp)"),
];

const TIP_WEIGHTS: &str = "How every Linear's weight matrix is stored. f32: as trained. f16 / bf16: each weight rounded to a 16-bit float, multiplied in f32. RTN: each weight rounded to the nearest point of an integer grid, w ≈ d·q, with one scale d per channel or per group. Q8_0 / Q4_0 / Q4_1: llama.cpp's blocks of 32 weights with an f16 scale (Q4_1 also an f16 minimum), bit for bit.";
const TIP_BITS: &str = "RTN only: the integer width b. Symmetric: q ∈ [−2^(b−1), 2^(b−1) − 1] and d = (the weight of largest |w|) / −2^(b−1), so the step is 2^(1−b) of the range. 8 and 4 bits run on the integer kernels; 2, 3, 5, 6 and 7 bits are simulated (the rounded values on the f32 GEMM).";
const TIP_GROUP: &str = "RTN only: how many weights share one scale. Per channel: a whole row (one output channel, all its inputs). 32 / 64 / 128: that many consecutive inputs of a row; a smaller group follows outliers more closely but stores one more 32-bit scale per group.";
const TIP_SYM: &str = "RTN only. Checked: w ≈ d·q, a grid centred on 0 (0 is exact). Unchecked (asymmetric): w ≈ d·q + m with a minimum m per group, d = (max − min) / (2^b − 1), as Q4_1: it fits lopsided groups and stores two parameters per group.";
const TIP_STATIC_ACTS: &str = "With int8 activations: one fixed scale per Linear input, max |x| / 127 over the calibration text (as the FP32 model, after any smoothing, sees it), instead of a scale per token computed as the model runs: the per-tensor static W8A8 of SmoothQuant's O3 and of ONNX Runtime's static quantization. Values beyond the calibrated range saturate at ±127.";
const TIP_ACTS: &str = "Round each activation row to int8 (one scale per token and weight group) right before each product, so the dot products are integer × integer (W8A8 / W4A8, as llama2.c's runq.c). Needs integer weights (RTN 8 / 4 bits or a Q format).";
const TIP_KV: &str = "How the keys and values of past tokens are kept for attention. f32: as computed. f16: rounded to half precision. int8: one scale per head and per token, k ≈ s·q. The scores q·k and the weighted sum of v read the rounded values (quantized model only; FP32 keeps f32).";
const TIP_SKIP: &str = "The Linears left in FP32, by name or pattern, comma-separated (output = lm_head, tok_embeddings, feed_forward.w2 for every block's w2, attention for every attention Linear, layers.5 for a whole block). By default the output head and the token embedding, as Golden Stick's opname_blacklist = [\"lm_head\"] does: the head turns the last hidden state into the logits, so its error goes straight into every probability. Empty: every Linear is quantized.";
const TIP_LAYER_BITS: &str = "RTN: a different bit width for some Linears, NAME=BITS comma-separated (names and patterns as in the FP32 list; bits 2–8; the last match wins). 8 and 4 run on the integer kernels, the others are simulated. The mixed-precision search below (and qplay lm search) writes its choice here.";
const TIP_METHOD: &str = "How the integers are chosen. RTN: each weight rounded on its own. GPTQ: column by column, each rounding error pushed onto the columns not yet rounded, weighted by the inverse Hessian H⁻¹ (H = 2·XᵀX of the layer's calibration inputs), block by block. AWQ: inputs with large mean |x| get their weight columns scaled up by s = mean|x|^α before rounding (1/s folded into the previous RMSNorm or projection), α searched per group. SmoothQuant (for W8A8): s_j = max|X_j|^α / max|W_j|^(1−α) moves activation outliers into the weights. The calibrated methods read training text, never the text they are scored on.";
const TIP_CALIB: &str = "Calibration tokens for GPTQ / AWQ / SmoothQuant, taken from the training split: more tokens give a better H (GPTQ) or better statistics, and take longer.";
const TIP_ALPHA: &str = "SmoothQuant's migration strength α: s_j = max|X_j|^α / max|W_j|^(1−α). 1 moves all of the activations' range into the weights (s_j = max|X_j|), 0 all of the weights' range into the activations (s_j = 1 / max|W_j|); 0.5 splits it. (AWQ searches its own α.)";
const TIP_ACT_ORDER: &str = "GPTQ: round the columns in order of decreasing H_jj (the inputs with the most energy first), with each group's scale fixed from the original weights so the stored layout stays that of RTN.";
const TIP_AWQ_CLIP: &str = "AWQ: also shrink each group's range max|w| by the ratio (1, 0.95, … 0.5) that gives the least output error, clipping the rare large weights.";
const TIP_AWQ_GPTQ: &str = "AWQ + GPTQ: after AWQ's scales, round the scaled weights with GPTQ (the inverse-Hessian error feedback, act_order if ticked) instead of to nearest, as the AWQ paper combines them.";
const TIP_OUTLIERS: &str = "Inject N outlier channels: multiply N channels of every RMSNorm weight by the scale and divide the matching input columns of the next Linears by it. The FP32 model computes the same function, but those channels now dominate each token's int8 activation scale, as in large language models: what SmoothQuant repairs.";
const TIP_TOKENS: &str = "How many validation tokens are scored (Macbeth, Henry V, …, unseen in training; a token is a character for the built-in models, a piece of the tokenizer's vocabulary for your own): the text is cut into windows of the model's context (256 for the built-in models), both models predict every next token, perplexity = exp(mean −ln p(next)), KL and top-1 compare the two distributions at each position.";
const TIP_PROMPT: &str = "The text both models continue, as the model's tokenizer reads it (one character per token for the built-in models).";
const TIP_MAX_NEW: &str = "How many tokens each model writes after the prompt (characters for the built-in models; the model's context ends it sooner).";
const TIP_TEMP: &str = "The logits are divided by T before the softmax: 0 always takes the most probable token (greedy), 1 samples from the model's own distribution, higher flattens it. Top-k and top-p then cut the unlikely tail.";
const TIP_TOP_K: &str = "Sampling only (temperature above 0): keep the k most probable tokens and draw among them; 0 keeps every token.";
const TIP_TOP_P: &str = "Sampling only (temperature above 0): keep the most probable tokens until their probabilities add up to p (the nucleus), and draw among them; 1 keeps every token.";
const TIP_NARROW: &str = "RTN, symmetric only: the levels ±(2^(b−1) − 1) (int8: −127 … 127, as ONNX Runtime's and TensorRT's symmetric int8 weights) and d = max|w| / (2^(b−1) − 1), one level fewer than the full range −2^(b−1) … 2^(b−1) − 1, where the largest |w| lands on −2^(b−1).";
const TIP_DAMP: &str = "GPTQ's dampening λ: λ · mean(diag H) is added to H's diagonal before its inverse is factored (Cholesky), so that inputs the calibration text never excites do not make H singular. 0.01 (1 %) is the paper's; larger trusts the calibration less.";
const TIP_OUTLIER_SCALE: &str = "The factor the injected outlier channels are scaled by (1–1000): the larger it is, the more those channels dominate each token's int8 activation scale.";
const TIP_SEED: &str = "The seed of the ChaCha8 random stream both models draw from: the same seed gives the same draws, so the two texts part only where the quantized probabilities move a draw across a boundary.";



fn input_value_of(e: &InputEvent) -> String {
    e.target_unchecked_into::<web_sys::HtmlInputElement>().value()
}


#[function_component(LmControls)]
pub fn lm_controls(props: &LmControlsProps) -> Html {
    let e = &props.exp;
    let q = &e.quant;
    let view = &props.view;
    let on = props.on_edit.clone();
    let shown = |key: &str| !view.is_hidden(key);
    let locked = |key: &str| view.is_locked(key);
    let rtn = q.weights == LmWeightFormat::Rtn;
    let c = Controls::new(view, on.clone(), "lm-");
    let text_error = use_state(|| None::<(&'static str, String)>);
    let select = |key: &'static str, label: &str, tip: &str, value: String, options: Vec<(String, String)>, off: bool, apply: SetText| -> Html {
        c.select(key, label, tip, value, options, off, apply)
    };
    let number = |key: &'static str, label: &str, tip: &str, value: String, min: &str, max: &str, step: &str, apply: SetNumber| -> Html {
        c.number(key, label, tip, value, min, max, step, apply)
    };
    let check = |key: &'static str, label: &str, tip: &str, value: bool, off: bool, apply: SetFlag| -> Html { c.check(key, label, tip, value, off, apply) };

    let weights = select(
        "weights",
        "Weights",
        TIP_WEIGHTS,
        q.weights.name().into(),
        WEIGHTS.iter().map(|(f, text)| (f.name().to_string(), text.to_string())).collect(),
        false,
        Rc::new(|x, v| {
            if let Some(f) = LmWeightFormat::parse(v) {
                x.quant.weights = f;
                // Float weights take float activations.
                if matches!(f, LmWeightFormat::F32 | LmWeightFormat::F16 | LmWeightFormat::Bf16) {
                    x.quant.int8_acts = false;
                    x.quant.static_acts = false;
                    // GPTQ / AWQ / SmoothQuant choose integers: float weights take RTN's place,
                    // without the other methods' switches.
                    x.quant.method = LmMethod::Rtn;
                    x.quant.drop_inert_switches();
                }
            }
        }),
    );
    // A llama.cpp format fixes the grid: its greyed boxes show that grid (Q4_1 showed "symmetric"
    // checked, the RTN settings left behind), not the RTN settings kept for a return to RTN.
    // Q8_0: d = max|w| / 127 (levels ±127); Q4_0: d = w_max / −8 (levels −8 … 7); Q4_1:
    // d = (max − min) / 15 with a minimum m; each over blocks of 32.
    let (shown_bits, shown_group, shown_symmetric, shown_narrow) = match q.weights {
        LmWeightFormat::Q8_0 => (8, 32, true, true),
        LmWeightFormat::Q4_0 => (4, 32, true, false),
        LmWeightFormat::Q4_1 => (4, 32, false, false),
        _ => (q.bits, q.group, q.symmetric, q.narrow),
    };
    let bits = select(
        "bits",
        "Bits",
        TIP_BITS,
        shown_bits.to_string(),
        (2..=8u8).map(|b| (b.to_string(), b.to_string())).collect(),
        !rtn,
        Rc::new(|x, v| {
            if let Ok(b) = v.parse::<u8>() {
                x.quant.bits = b.clamp(2, 8);
            }
        }),
    );
    let mut groups: Vec<usize> = GROUP_SIZES.to_vec();
    if !groups.contains(&shown_group) {
        groups.push(shown_group); // a link's other multiple of 32
    }
    let group = select(
        "group",
        "Group",
        TIP_GROUP,
        shown_group.to_string(),
        groups.into_iter().map(|g| (g.to_string(), if g == 0 { "per channel".to_string() } else { format!("{g}") })).collect(),
        !rtn,
        Rc::new(|x, v| {
            if let Ok(g) = v.parse::<usize>() {
                if g % 32 == 0 && g <= 4096 {
                    x.quant.group = g;
                }
            }
        }),
    );
    let symmetric = check(
        "symmetric",
        "symmetric",
        TIP_SYM,
        shown_symmetric,
        !rtn,
        Rc::new(|x, v| {
            x.quant.symmetric = v;
            // The narrow range is of a symmetric grid.
            x.quant.narrow &= v;
        }),
    );
    let narrow = check("narrow", "narrow range", TIP_NARROW, shown_narrow, !rtn || !q.symmetric, Rc::new(|x, v| x.quant.narrow = v));
    let float_weights = matches!(q.weights, LmWeightFormat::F32 | LmWeightFormat::F16 | LmWeightFormat::Bf16);
    let acts = check(
        "int8_acts",
        "int8 activations",
        TIP_ACTS,
        q.int8_acts,
        float_weights,
        Rc::new(|x, v| {
            x.quant.int8_acts = v;
            // Static scales are scales of int8 activations.
            x.quant.static_acts &= v;
        }),
    );
    let static_acts = check("static_acts", "static scales", TIP_STATIC_ACTS, q.static_acts, float_weights || !q.int8_acts, Rc::new(|x, v| x.quant.static_acts = v));
    let kv = select(
        "kv",
        "KV cache",
        TIP_KV,
        q.kv.name().into(),
        [KvFormat::F32, KvFormat::F16, KvFormat::Int8].iter().map(|k| (k.name().to_string(), k.name().to_string())).collect(),
        false,
        Rc::new(|x, v| {
            if let Some(k) = KvFormat::parse(v) {
                x.quant.kv = k;
            }
        }),
    );
    // The skip list and per-layer bits as typed text; a text that does not read leaves the
    // settings as they were and says why.
    let text_field = |key: &'static str, label: &str, tip: &str, value: String, placeholder: &str, off: bool, parse: Rc<dyn Fn(&mut LmExperiment, &str) -> Result<(), String>>| -> Html {
        if !shown(key) {
            return html! {};
        }
        let (on, set_error) = (on.clone(), text_error.clone());
        let onchange = Callback::from(move |ev: Event| {
            let v = input_value(&ev);
            let mut probe = LmExperiment::default();
            match parse(&mut probe, &v) {
                Ok(()) => {
                    set_error.set(None);
                    let parse = parse.clone();
                    on.emit(Rc::new(move |x: &mut LmExperiment| {
                        let _ = parse(x, &v);
                    }));
                }
                Err(e) => set_error.set(Some((key, e))),
            }
        });
        html! {
            <label title={tip.to_string()}>{ label.to_string() }
                <input type="text" value={value} placeholder={placeholder.to_string()} {onchange} disabled={locked(key) || off} data-testid={format!("lm-{key}")} />
                if let Some((k, e)) = &*text_error {
                    if *k == key { <span class="error-inline" role="status" data-testid={format!("lm-{key}-error")}>{ e.clone() }</span> }
                }
            </label>
        }
    };
    let skip = text_field(
        "skip",
        "Keep in FP32",
        TIP_SKIP,
        q.skip.join(", "),
        "none: every Linear quantized",
        false,
        Rc::new(|x, v| {
            x.quant.skip = parse_skip(v)?;
            Ok(())
        }),
    );
    let layer_bits = text_field(
        "layer_bits",
        "Per-layer bits",
        TIP_LAYER_BITS,
        q.layer_bits.iter().map(|(k, b)| format!("{k}={b}")).collect::<Vec<_>>().join(", "),
        "e.g. feed_forward.w2=8",
        // RTN's: another weight format has its own grid.
        !rtn,
        Rc::new(|x, v| {
            x.quant.layer_bits = parse_layer_bits(v)?;
            Ok(())
        }),
    );
    let rtn_like = rtn || matches!(q.weights, LmWeightFormat::Q8_0 | LmWeightFormat::Q4_0 | LmWeightFormat::Q4_1);
    let method = select(
        "method",
        "Method",
        TIP_METHOD,
        q.method.name().into(),
        LmMethod::ALL.iter().map(|m| (m.name().to_string(), m.name().to_uppercase().replace("SMOOTHQUANT", "SmoothQuant"))).collect(),
        !rtn_like,
        Rc::new(|x, v| {
            if let Some(m) = LmMethod::parse(v) {
                x.quant.method = m;
                // SmoothQuant is for W8A8: int8 activations on.
                if m == LmMethod::SmoothQuant {
                    x.quant.int8_acts = true;
                }
                // A method's own switches go with it, so the form and its link hold no inert setting.
                x.quant.drop_inert_switches();
            }
        }),
    );
    let calibrated = q.calibrated();
    let calib = select(
        "calib_tokens",
        "Calibration tokens",
        TIP_CALIB,
        q.calib_tokens.to_string(),
        [512usize, 1024, 2048, 4096, 8192].iter().chain((![512, 1024, 2048, 4096, 8192].contains(&q.calib_tokens)).then_some(&q.calib_tokens)).map(|n| (n.to_string(), n.to_string())).collect(),
        !calibrated,
        Rc::new(|x, v| {
            if let Ok(n) = v.parse::<usize>() {
                x.quant.calib_tokens = n.clamp(1, crate::ptq::lm_calib::MAX_CALIB_TOKENS);
            }
        }),
    );
    let alpha = c.number_unless(
        "alpha",
        "α",
        TIP_ALPHA,
        q.alpha.to_string(),
        ["0", "1", "0.05"],
        q.method != LmMethod::SmoothQuant,
        Rc::new(|x, v| {
            if v.is_finite() {
                x.quant.alpha = v.clamp(0.0, 1.0) as f32;
            }
        }),
    );
    let damp = c.number_unless(
        "damp",
        "Dampening",
        TIP_DAMP,
        q.damp.to_string(),
        ["0", "1", "0.005"],
        !q.gptq_rounds(),
        Rc::new(|x, v| {
            if v.is_finite() {
                x.quant.damp = v.clamp(0.0, 1.0) as f32;
            }
        }),
    );
    // act_order belongs to GPTQ, which also rounds AWQ's scaled weights under "then GPTQ".
    let act_order = check("act_order", "act_order", TIP_ACT_ORDER, q.act_order, !q.gptq_rounds(), Rc::new(|x, v| x.quant.act_order = v));
    let awq_clip = check("awq_clip", "AWQ clipping", TIP_AWQ_CLIP, q.awq_clip, q.method != LmMethod::Awq, Rc::new(|x, v| x.quant.awq_clip = v));
    let awq_gptq = check(
        "awq_gptq",
        "then GPTQ",
        TIP_AWQ_GPTQ,
        q.awq_gptq,
        q.method != LmMethod::Awq,
        Rc::new(|x, v| {
            x.quant.awq_gptq = v;
            x.quant.drop_inert_switches();
        }),
    );
    // Injected outliers change only what an integer format rounds: off for float weights.
    let outliers = c.number_unless(
        "outliers",
        "Outlier channels",
        TIP_OUTLIERS,
        q.outliers.to_string(),
        ["0", "64", "1"],
        !rtn_like,
        Rc::new(|x, v| {
            if v.is_finite() {
                x.quant.outliers = v.round().clamp(0.0, 64.0) as usize;
            }
        }),
    );
    let outlier_scale = c.number_unless(
        "outlier_scale",
        "Outlier scale",
        TIP_OUTLIER_SCALE,
        q.outlier_scale.to_string(),
        ["1", "1000", "any"],
        !rtn_like || q.outliers == 0,
        Rc::new(|x, v| {
            if v.is_finite() {
                x.quant.outlier_scale = v.clamp(1.0, 1000.0) as f32;
            }
        }),
    );
    let tokens = number(
        "tokens",
        "Evaluation tokens",
        TIP_TOKENS,
        e.tokens.to_string(),
        "2",
        "1000000",
        // Any whole count (a step of 256 from 2 would make the defaults 1,025 and 8,193 invalid).
        "1",
        Rc::new(|x, v| x.tokens = v.round().clamp(2.0, 1e6) as usize),
    );
    let prompt = if shown("prompt") {
        let on = on.clone();
        let oninput = Callback::from(move |ev: InputEvent| {
            let v: String = input_value_of(&ev).chars().take(MAX_PROMPT_CHARS).collect();
            on.emit(Rc::new(move |x: &mut LmExperiment| x.prompt = v.clone()));
        });
        html! {
            <label class="prompt" title={TIP_PROMPT}>{"Prompt"}
                <input type="text" value={e.prompt.clone()} {oninput} maxlength={MAX_PROMPT_CHARS.to_string()}
                    disabled={locked("prompt")} data-testid="lm-prompt" />
            </label>
        }
    } else {
        html! {}
    };
    let max_new = number(
        "max_new",
        "New tokens",
        TIP_MAX_NEW,
        e.max_new.to_string(),
        "1",
        "4096",
        "1",
        Rc::new(|x, v| x.max_new = v.round().clamp(1.0, 4096.0) as usize),
    );
    let temperature = number(
        "temperature",
        "Temperature",
        TIP_TEMP,
        e.sample.temperature.to_string(),
        "0",
        "10",
        "0.1",
        Rc::new(|x, v| x.sample.temperature = v.clamp(0.0, 10.0) as f32),
    );
    let greedy = e.sample.temperature == 0.0;
    let top_k = c.number_unless(
        "top_k",
        "Top-k",
        TIP_TOP_K,
        e.sample.top_k.to_string(),
        ["0", "1048576", "1"],
        greedy,
        Rc::new(|x, v| x.sample.top_k = v.round().clamp(0.0, 1_048_576.0) as usize),
    );
    let top_p = c.number_above(
        "top_p",
        "Top-p",
        TIP_TOP_P,
        e.sample.top_p.to_string(),
        ["0", "1", "0.01"],
        greedy,
        Rc::new(|x, v| {
            if v > 0.0 && v <= 1.0 {
                x.sample.top_p = v as f32;
            }
        }),
    );
    let seed = number(
        "seed",
        "Seed",
        TIP_SEED,
        e.sample.seed.to_string(),
        "0",
        &MAX_SEED.to_string(),
        "1",
        Rc::new(|x, v| {
            if (0.0..=MAX_SEED as f64).contains(&v) {
                x.sample.seed = v.round() as u64;
            }
        }),
    );
    html! {
        <div class="lm-controls">
            <div class="settings" role="group" aria-label="Quantization">
                { weights }{ bits }{ group }{ symmetric }{ narrow }{ acts }{ static_acts }{ kv }{ tokens }
            </div>
            <div class="settings" role="group" aria-label="Layers">
                { skip }{ layer_bits }
            </div>
            <div class="settings" role="group" aria-label="Method">
                { method }{ calib }{ alpha }{ damp }{ act_order }{ awq_clip }{ awq_gptq }{ outliers }{ outlier_scale }
            </div>
            <div class="settings" role="group" aria-label="Generation">
                { prompt }{ max_new }{ temperature }{ top_k }{ top_p }{ seed }
            </div>
        </div>
    }
}

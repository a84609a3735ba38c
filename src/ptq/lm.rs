//! How a language model is quantized: the weight format of every Linear (RTN at 2–8 bits
//! per channel or per group, llama.cpp's Q8_0 / Q4_0 / Q4_1, FP16 / BF16), int8
//! activations (W8A8 / W4A8), the KV cache's format, a skip list and per-layer bits.
//! The decision is made here, once per layer; [`crate::lm`] executes the result.
//!
//! ```text
//! layer names: tok_embeddings, layers.{l}.attention.{wq,wk,wv,wo}, layers.{l}.feed_forward.{w1,w2,w3}, output
//! a skip entry matches a name of which it is whole dotted parts (attention.wq: every layer's wq,
//! attention: every attention Linear, layers.0: every Linear of block 0); skipped layers stay FP32
//! (the seeds' `opname_blacklist = ["lm_head"]`; lm_head is accepted as a name for `output`)
//! ```
//!
//! Bit widths with a kernel (8 and 4) run on the grouped integer kernels; 2, 3, 5, 6 and 7
//! bits run as fake-quant values on the f32 GEMM ("simulated", with the reason in the report).

use std::collections::BTreeMap;

use half::{bf16, f16};
use serde::{Deserialize, Serialize};

use crate::decimal::short_text;
use crate::lm::{Block, BlockWeights, Embedding, KvFormat, LmConfig, LmError, LmLinear, LmModel, LmWeights};
use crate::quant::ggml::{self, GgmlType};
use crate::quant::grouped::{check_shape, put, quantize_rtn, Grid, GroupedWeights, RtnSpec, ScaleFormat};
use crate::quant::QuantError;

/// The weight formats a Linear can take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LmWeightFormat {
    #[default]
    F32,
    F16,
    Bf16,
    /// Round to nearest at `bits`, per channel or per group.
    Rtn,
    Q8_0,
    Q4_0,
    Q4_1,
}

impl LmWeightFormat {
    pub const ALL: [LmWeightFormat; 7] = [
        LmWeightFormat::F32,
        LmWeightFormat::F16,
        LmWeightFormat::Bf16,
        LmWeightFormat::Rtn,
        LmWeightFormat::Q8_0,
        LmWeightFormat::Q4_0,
        LmWeightFormat::Q4_1,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LmWeightFormat::F32 => "f32",
            LmWeightFormat::F16 => "f16",
            LmWeightFormat::Bf16 => "bf16",
            LmWeightFormat::Rtn => "rtn",
            LmWeightFormat::Q8_0 => "q8_0",
            LmWeightFormat::Q4_0 => "q4_0",
            LmWeightFormat::Q4_1 => "q4_1",
        }
    }

    pub fn parse(s: &str) -> Option<LmWeightFormat> {
        Self::ALL.into_iter().find(|f| f.name().eq_ignore_ascii_case(s))
    }

    fn ggml(self) -> Option<GgmlType> {
        match self {
            LmWeightFormat::Q8_0 => Some(GgmlType::Q8_0),
            LmWeightFormat::Q4_0 => Some(GgmlType::Q4_0),
            LmWeightFormat::Q4_1 => Some(GgmlType::Q4_1),
            _ => None,
        }
    }
}

/// How the weights are chosen before they are stored in their format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LmMethod {
    /// Round to nearest, each weight on its own (Golden Stick's RTN).
    #[default]
    Rtn,
    /// GPTQ: column by column, the rounding error pushed onto the columns not yet quantized
    /// through the inverse Hessian of the calibration inputs.
    Gptq,
    /// AWQ: per-input-channel scales from mean |x|, searched over α, folded into the previous
    /// operation, then RTN (optionally with a clipping search).
    Awq,
    /// SmoothQuant: s_j = max|X_j|^α / max|W_j|^(1−α) folded into the RMSNorm weights, for W8A8.
    SmoothQuant,
}

impl LmMethod {
    pub const ALL: [LmMethod; 4] = [LmMethod::Rtn, LmMethod::Gptq, LmMethod::Awq, LmMethod::SmoothQuant];

    pub fn name(self) -> &'static str {
        match self {
            LmMethod::Rtn => "rtn",
            LmMethod::Gptq => "gptq",
            LmMethod::Awq => "awq",
            LmMethod::SmoothQuant => "smoothquant",
        }
    }

    pub fn parse(s: &str) -> Option<LmMethod> {
        Self::ALL.into_iter().find(|m| m.name().eq_ignore_ascii_case(s))
    }

    /// The method as its paper writes it.
    pub fn title(self) -> &'static str {
        match self {
            LmMethod::Rtn => "RTN",
            LmMethod::Gptq => "GPTQ",
            LmMethod::Awq => "AWQ",
            LmMethod::SmoothQuant => "SmoothQuant",
        }
    }

    /// Whether the method needs calibration text.
    pub fn calibrated(self) -> bool {
        self != LmMethod::Rtn
    }
}

/// An on/off switch that belongs to one method: `act_order` (GPTQ's rounding), `awq_clip` and
/// `awq_gptq` (AWQ).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MethodSwitch {
    ActOrder,
    AwqClip,
    AwqGptq,
}

impl MethodSwitch {
    pub const ALL: [MethodSwitch; 3] = [MethodSwitch::ActOrder, MethodSwitch::AwqClip, MethodSwitch::AwqGptq];

    /// The link key (also the config's field name).
    pub fn key(self) -> &'static str {
        match self {
            MethodSwitch::ActOrder => "act_order",
            MethodSwitch::AwqClip => "awq_clip",
            MethodSwitch::AwqGptq => "awq_gptq",
        }
    }

    /// What the switch needs, for a message about a switch that would change nothing.
    pub fn needs(self) -> &'static str {
        match self {
            MethodSwitch::ActOrder => "it orders GPTQ's columns (method=gptq, or method=awq with awq_gptq=true)",
            MethodSwitch::AwqClip | MethodSwitch::AwqGptq => "it belongs to AWQ (method=awq)",
        }
    }

    /// Whether the switch changes anything under `c`'s method.
    pub fn applies(self, c: &LmQuantConfig) -> bool {
        match self {
            MethodSwitch::ActOrder => c.gptq_rounds(),
            MethodSwitch::AwqClip | MethodSwitch::AwqGptq => c.method == LmMethod::Awq,
        }
    }

    pub fn is_on(self, c: &LmQuantConfig) -> bool {
        match self {
            MethodSwitch::ActOrder => c.act_order,
            MethodSwitch::AwqClip => c.awq_clip,
            MethodSwitch::AwqGptq => c.awq_gptq,
        }
    }

    fn field(self, c: &mut LmQuantConfig) -> &mut bool {
        match self {
            MethodSwitch::ActOrder => &mut c.act_order,
            MethodSwitch::AwqClip => &mut c.awq_clip,
            MethodSwitch::AwqGptq => &mut c.awq_gptq,
        }
    }
}

/// Everything that decides how a language model is quantized.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LmQuantConfig {
    pub weights: LmWeightFormat,
    /// RTN bits, 2–8.
    pub bits: u8,
    /// RTN values per group along the input dimension; 0 = per channel.
    pub group: usize,
    /// RTN: symmetric (scale only) or asymmetric (scale and minimum, as Q4_1).
    pub symmetric: bool,
    /// RTN symmetric: ±(2^(b−1) − 1) instead of the full [−2^(b−1), 2^(b−1) − 1].
    pub narrow: bool,
    /// Quantize activations to int8 per token (and group) before each product: W8A8 / W4A8.
    pub int8_acts: bool,
    /// With `int8_acts`: one static scale per Linear input, s_x = max |x| / 127 over the
    /// calibration text (as the FP32 model, after any smoothing, sees it), instead of a scale per
    /// token computed at run time.
    pub static_acts: bool,
    pub kv: KvFormat,
    /// Layers left in FP32.
    pub skip: Vec<String>,
    /// Per-layer RTN bits (a name or pattern as in `skip`) overriding `bits`.
    pub layer_bits: BTreeMap<String, u8>,
    /// How the weights are chosen (RTN, GPTQ, AWQ, SmoothQuant).
    pub method: LmMethod,
    /// Calibration tokens (from the training split) for GPTQ / AWQ / SmoothQuant. GPTQ takes
    /// them as windows spread over the text it is given; on the built-in model 2,048 recover
    /// 74 % / 56 % of W4 g32 / W3 g32 RTN's perplexity gap on the 8,193-token validation slice
    /// (61 % / 51 % on the whole split) in 1.2 s natively, 4,096 recover 62 % / 63 % (85 % / 58 %)
    /// in 2.1 s.
    pub calib_tokens: usize,
    /// GPTQ: dampening λ added to H's diagonal, as a fraction of its mean (0.01 = 1 %, the
    /// paper's; 0.05 and 0.1 did worse at W4 g32 on the built-in model).
    #[serde(serialize_with = "crate::decimal::shortest_f32")]
    pub damp: f32,
    /// GPTQ: quantize columns in order of decreasing H diagonal (`act_order`).
    pub act_order: bool,
    /// SmoothQuant's migration strength α ∈ [0, 1]; AWQ searches its own α on a grid.
    #[serde(serialize_with = "crate::decimal::shortest_f32")]
    pub alpha: f32,
    /// AWQ: also search a clipping threshold per group.
    pub awq_clip: bool,
    /// AWQ: round the scaled weights with GPTQ (`damp`, `act_order`) instead of RTN, the
    /// combination the AWQ paper reports (its Table 6).
    pub awq_gptq: bool,
    /// Outlier injection: scale this many channels of every RMSNorm weight by `outlier_scale`
    /// (and the matching input columns of the next Linears by its inverse); 0 = off.
    pub outliers: usize,
    #[serde(serialize_with = "crate::decimal::shortest_f32")]
    pub outlier_scale: f32,
}

impl Default for LmQuantConfig {
    fn default() -> Self {
        LmQuantConfig {
            weights: LmWeightFormat::F32,
            bits: 8,
            group: 0,
            symmetric: true,
            narrow: false,
            int8_acts: false,
            static_acts: false,
            kv: KvFormat::F32,
            skip: vec!["output".into(), "tok_embeddings".into()],
            layer_bits: BTreeMap::new(),
            method: LmMethod::Rtn,
            calib_tokens: 2048,
            damp: 0.01,
            act_order: false,
            alpha: 0.5,
            awq_clip: false,
            awq_gptq: false,
            outliers: 0,
            outlier_scale: 50.0,
        }
    }
}

/// Group sizes offered for RTN (0 = per channel).
pub const GROUP_SIZES: [usize; 4] = [0, 32, 64, 128];

fn matches(entry: &str, name: &str) -> bool {
    let entry = if entry == "lm_head" { "output" } else { entry };
    // Whole dotted parts of the name ("w2", "attention", "layers.3", "feed_forward.w2" in
    // "layers.3.feed_forward.w2"), without allocating: a skip list can hold thousands of
    // entries, each matched against every Linear.
    !entry.is_empty()
        && name.match_indices(entry).any(|(at, _)| {
            let end = at + entry.len();
            (at == 0 || name.as_bytes()[at - 1] == b'.') && (end == name.len() || name.as_bytes()[end] == b'.')
        })
}

/// One Linear's outcome.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LmLayerReport {
    pub name: String,
    pub format: String,
    pub engine: String,
    pub bytes: usize,
    pub weights: usize,
    /// Why the layer is not on an integer kernel, when it is not.
    pub note: Option<String>,
}

impl LmQuantConfig {
    /// Checks the settings against a model of configuration `c` before any weight is touched:
    /// every skip entry and per-layer bits entry names at least one Linear (a misspelt name
    /// would otherwise quietly quantize what it meant to keep; `output` and `lm_head` always
    /// name the head, with a tied head the embedding), and every Linear's plan fits its
    /// inputs (a group or block that divides K).
    pub fn check_fits(&self, c: &LmConfig) -> Result<(), LmError> {
        let linears = linear_inputs(c);
        let known = |entry: &str| linears.iter().any(|(n, _)| matches(entry, n));
        let last = c.n_layers.saturating_sub(1);
        let list = format!(
            "the Linears are tok_embeddings, output (lm_head), layers.0–{last}.attention.wq / wk / wv / wo and \
             layers.0–{last}.feed_forward.w1 / w2 / w3; a pattern such as feed_forward.w2 or layers.3 names several"
        );
        let unknown = |e: &str| format!("{:?} names no Linear of this model ({list})", e.chars().take(64).collect::<String>());
        if let Some(e) = self.skip.iter().find(|e| !known(e)) {
            return Err(LmError::Setting { name: "skip", message: unknown(e) });
        }
        if let Some(e) = self.layer_bits.keys().find(|e| !known(e)) {
            return Err(LmError::Setting { name: "layer_bits", message: unknown(e) });
        }
        for (name, k) in &linears {
            plan_linear(self, name, *k)?;
        }
        Ok(())
    }

    /// Checks every setting (names the bad one).
    pub fn validate(&self) -> Result<(), LmError> {
        let bad = |name: &'static str, message: String| Err(LmError::Setting { name, message });
        if !(2..=8).contains(&self.bits) {
            return bad("bits", format!("{} is outside 2–8", self.bits));
        }
        if self.group != 0 && (!self.group.is_multiple_of(32) || self.group > 4096) {
            return bad("group", format!("{} is not 0 (per channel) or a multiple of 32 up to 4096", self.group));
        }
        for (k, &b) in &self.layer_bits {
            if !(2..=8).contains(&b) {
                return Err(LmError::Setting { name: "layer_bits", message: format!("{k}: {b} is outside 2–8") });
            }
        }
        if self.calibrated() && !(1..=crate::ptq::lm_calib::MAX_CALIB_TOKENS).contains(&self.calib_tokens) {
            return bad("calib_tokens", format!("{} is outside 1–{}", self.calib_tokens, crate::ptq::lm_calib::MAX_CALIB_TOKENS));
        }
        if !(self.damp.is_finite() && (0.0..=1.0).contains(&self.damp)) {
            return bad("damp", format!("{} is outside 0–1", short_text(self.damp)));
        }
        if !(self.alpha.is_finite() && (0.0..=1.0).contains(&self.alpha)) {
            return bad("alpha", format!("{} is outside 0–1", short_text(self.alpha)));
        }
        if self.outliers > 64 {
            return bad("outliers", format!("{} is more than 64 channels", self.outliers));
        }
        if !(self.outlier_scale.is_finite() && (1.0..=1000.0).contains(&self.outlier_scale)) {
            return bad("outlier_scale", format!("{} is outside 1–1000", short_text(self.outlier_scale)));
        }
        // Every method but RTN chooses integer weights (SmoothQuant's are W8A8's).
        if self.method != LmMethod::Rtn && !self.integer_weights() {
            return bad("method", format!("{} needs an integer weight format, not {}", self.method.title(), self.weights.name()));
        }
        if self.int8_acts && matches!(self.weights, LmWeightFormat::F32 | LmWeightFormat::F16 | LmWeightFormat::Bf16) {
            return bad("int8_acts", format!("int8 activations need integer weights, not {}", self.weights.name()));
        }
        Ok(())
    }

    /// Whether the weights are integers (RTN's grids, llama.cpp's blocks), not floats: what the
    /// methods choose, and all that injected outliers change.
    pub fn integer_weights(&self) -> bool {
        matches!(self.weights, LmWeightFormat::Rtn | LmWeightFormat::Q8_0 | LmWeightFormat::Q4_0 | LmWeightFormat::Q4_1)
    }

    /// Whether GPTQ rounds the weights: the GPTQ method, or AWQ with `awq_gptq`.
    pub fn gptq_rounds(&self) -> bool {
        self.method == LmMethod::Gptq || (self.method == LmMethod::Awq && self.awq_gptq)
    }

    /// The method switches that are on but would change nothing under this method: `act_order`
    /// without GPTQ rounding, `awq_clip` and `awq_gptq` without AWQ.
    pub fn inert_switches(&self) -> Vec<MethodSwitch> {
        MethodSwitch::ALL.into_iter().filter(|s| s.is_on(self) && !s.applies(self)).collect()
    }

    /// Turns off the switches [`inert_switches`](Self::inert_switches) names.
    pub fn drop_inert_switches(&mut self) {
        for s in self.inert_switches() {
            *s.field(self) = false;
        }
    }

    /// " act-order" when GPTQ takes its columns in order of decreasing H_jj.
    /// The settings a row would otherwise hide, when they are not the defaults: ", damp 0.05",
    /// ", 4096 calibration tokens", ", FP32: output", ", every Linear quantized" and the per-layer
    /// bits (the first four, then how many more).
    fn non_default_label(&self) -> String {
        let d = LmQuantConfig::default();
        let mut parts = Vec::new();
        if self.gptq_rounds() && self.damp != d.damp {
            parts.push(format!("damp {}", short_text(self.damp)));
        }
        if self.calibrated() && self.calib_tokens != d.calib_tokens {
            parts.push(format!("{} calibration tokens", self.calib_tokens));
        }
        // F32 weights round nothing, so what stays FP32 changes nothing either.
        if self.skip != d.skip && self.weights != LmWeightFormat::F32 {
            parts.push(match (self.skip.is_empty(), self.weights) {
                (true, f @ (LmWeightFormat::F16 | LmWeightFormat::Bf16)) => format!("every Linear in {}", f.name().to_uppercase()),
                (true, _) => "every Linear quantized".to_string(),
                (false, _) => format!("FP32: {}", self.skip.join(" ")),
            });
        }
        // Per-layer bits are RTN's (another format has its own grid, and does not read them).
        if self.weights == LmWeightFormat::Rtn && !self.layer_bits.is_empty() {
            const SHOWN: usize = 4;
            let mut bits: Vec<String> = self.layer_bits.iter().take(SHOWN).map(|(k, b)| format!("{k}={b}")).collect();
            if self.layer_bits.len() > SHOWN {
                bits.push(format!("+{} more", self.layer_bits.len() - SHOWN));
            }
            parts.push(format!("bits {}", bits.join(" ")));
        }
        parts.iter().map(|p| format!(", {p}")).collect()
    }

    fn act_order_label(&self) -> &'static str {
        if self.act_order {
            " act-order"
        } else {
            ""
        }
    }

    /// " +GPTQ" (with " act-order") when AWQ's scaled weights are rounded by GPTQ.
    fn awq_gptq_label(&self) -> String {
        if self.awq_gptq {
            format!(" +GPTQ{}", self.act_order_label())
        } else {
            String::new()
        }
    }

    /// Whether int8 activations use static, calibrated scales.
    pub fn static_scales(&self) -> bool {
        self.int8_acts && self.static_acts
    }

    /// Whether quantizing needs calibration text: a calibrated method, or static activation scales.
    pub fn calibrated(&self) -> bool {
        self.method.calibrated() || self.static_scales()
    }

    pub fn is_skipped(&self, name: &str) -> bool {
        self.skip.iter().any(|e| matches(e, name))
    }

    /// RTN bits of a layer: the last matching `layer_bits` entry, else `bits`.
    ///
    /// The entries that can match `name` are the name itself, its dotted prefixes ("layers.3") and
    /// suffixes ("attention.wq"), and lm_head for output ([`matches`]): a lookup of each, not a
    /// scan of every entry (a search's candidates give every Linear an entry, n × n per candidate).
    pub fn bits_of(&self, name: &str) -> u8 {
        let dots = name.match_indices('.').map(|(i, _)| i);
        let parts = std::iter::once(name).chain(dots.clone().map(|i| &name[..i])).chain(dots.map(|i| &name[i + 1..]));
        // matches() reads the entry lm_head as output, and nothing else as lm_head.
        let entries = parts.flat_map(|p| [(p != "lm_head").then_some(p), (p == "output").then_some("lm_head")]).flatten();
        entries.filter_map(|k| self.layer_bits.get_key_value(k)).max_by(|a, b| a.0.cmp(b.0)).map_or(self.bits, |(_, &b)| b)
    }

    /// A short label: "W4 g32 RTN", "Q8_0", "W8A8 per-channel", "+KV8".
    pub fn label(&self) -> String {
        let w = match self.weights {
            LmWeightFormat::Rtn => {
                let g = if self.group == 0 { "per-channel".to_string() } else { format!("g{}", self.group) };
                let sym = if self.symmetric { if self.narrow { " narrow" } else { "" } } else { " asym" };
                let method = match self.method {
                    LmMethod::Rtn => "RTN".to_string(),
                    LmMethod::Gptq => format!("GPTQ{}", self.act_order_label()),
                    LmMethod::Awq => format!("AWQ{}{}", if self.awq_clip { " +clip" } else { "" }, self.awq_gptq_label()),
                    LmMethod::SmoothQuant => format!("SmoothQuant α{}", self.alpha),
                };
                format!("W{}{} {g} {method}{sym}", self.bits, if self.int8_acts { "A8" } else { "" })
            }
            f if f.ggml().is_some() => {
                let method = if self.method == LmMethod::Rtn { String::new() } else { format!(" {}", LmMethod::name(self.method).to_uppercase()) };
                let method = if self.method == LmMethod::Awq { format!("{method}{}", self.awq_gptq_label()) } else { method };
                format!("{}{}{method}", f.name().to_uppercase(), if self.int8_acts { " A8" } else { "" })
            }
            f => f.name().to_uppercase(),
        };
        let w = if self.static_scales() { format!("{w}, static activation scales") } else { w };
        // Outliers leave the FP32 function as it was: under float weights they change nothing.
        let w = if self.outliers > 0 && self.integer_weights() { format!("{w}, {} outlier channels ×{}", self.outliers, self.outlier_scale) } else { w };
        let w = format!("{w}{}", self.non_default_label());
        match self.kv {
            KvFormat::F32 => w,
            KvFormat::F16 => format!("{w} + KV f16"),
            KvFormat::Int8 => format!("{w} + KV int8"),
        }
    }
}

/// The grid of one group at a width without a kernel (2, 3, 5, 6, 7 bits), as the simulated
/// RTN rounds onto it (in f32, as [`fake_quant_group`] always has): symmetric full range
/// d = M / −2^(b−1) for the x of largest |x| (the first), levels −2^(b−1) … 2^(b−1) − 1; narrow
/// d = max|x| / (2^(b−1) − 1), levels ±(2^(b−1) − 1); asymmetric d = (max − min) / (2^b − 1),
/// base = min, levels 0 … 2^b − 1. A d that is 0 or not finite means "every value is the base".
pub(crate) fn simulated_grid(x: &[f32], bits: u8, symmetric: bool, narrow: bool) -> Grid {
    let half = 1i32 << (bits - 1);
    if symmetric {
        let m = x.iter().copied().fold(0f32, |m, v| if v.abs() > m.abs() { v } else { m });
        if narrow {
            Grid { d: m.abs() / (half - 1) as f32, base: 0.0, lo: -(half - 1), hi: half - 1 }
        } else {
            Grid { d: m / -(half as f32), base: 0.0, lo: -half, hi: half - 1 }
        }
    } else {
        let (lo, hi) = x.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
        let levels = (1i32 << bits) - 1;
        Grid { d: (hi - lo) / levels as f32, base: lo, lo: 0, hi: levels }
    }
}

/// Fake-quant of one group at `bits` (the bit widths without a kernel) on [`simulated_grid`]:
/// x ↦ d · clamp(round_half_even((x − base) / d), lo, hi) + base.
fn fake_quant_group(x: &mut [f32], bits: u8, symmetric: bool, narrow: bool) {
    let g = simulated_grid(x, bits, symmetric, narrow);
    if g.d == 0.0 || !g.d.is_finite() {
        x.fill(g.base);
        return;
    }
    for v in x.iter_mut() {
        if symmetric {
            *v = ((*v as f64 / g.d as f64).round_ties_even().clamp(g.lo as f64, g.hi as f64) as f32) * g.d;
        } else {
            let i = ((*v - g.base) as f64 / g.d as f64).round_ties_even().clamp(g.lo as f64, g.hi as f64) as f32;
            *v = i * g.d + g.base;
        }
    }
}

/// What one Linear becomes, decided once from the configuration (RTN and the calibrated
/// methods share it, so that every method stores a layer in the same format).
#[derive(Clone, Debug, PartialEq)]
pub enum LinearPlan {
    /// In the skip list: FP32.
    Skip,
    /// FP32, FP16 or BF16 values.
    Float(LmWeightFormat),
    /// llama.cpp blocks of 32 values on the grouped kernels (K a multiple of 32).
    Ggml(GgmlType),
    /// An RTN grid the grouped integer kernels run: 8 bits, or 4 bits in groups of 32s.
    Kernel { spec: RtnSpec, label: String },
    /// An RTN grid without a kernel (2, 3, 5, 6, 7 bits, or 4 bits in groups that split a
    /// block of 32): fake-quant f32 values, "(simulated)".
    Simulated { spec: RtnSpec, label: String },
}

/// Every Linear of a model of configuration `c` by name, with its number of inputs K.
pub fn linear_inputs(c: &LmConfig) -> Vec<(String, usize)> {
    let mut v = vec![("tok_embeddings".to_string(), c.dim), ("output".to_string(), c.dim)];
    for l in 0..c.n_layers {
        for m in crate::lm::weights::BLOCK_MATRICES {
            v.push((format!("layers.{l}.{m}"), if m == "feed_forward.w2" { c.hidden_dim } else { c.dim }));
        }
    }
    v
}

/// The plan of the Linear `name` with K inputs (a typed error when the group or block does not divide K).
pub fn plan_linear(cfg: &LmQuantConfig, name: &str, k: usize) -> Result<LinearPlan, LmError> {
    if cfg.is_skipped(name) {
        return Ok(LinearPlan::Skip);
    }
    match cfg.weights {
        f @ (LmWeightFormat::F32 | LmWeightFormat::F16 | LmWeightFormat::Bf16) => Ok(LinearPlan::Float(f)),
        f @ (LmWeightFormat::Q8_0 | LmWeightFormat::Q4_0 | LmWeightFormat::Q4_1) => {
            let ty = f.ggml().expect("a ggml format");
            // llama.cpp's quantizer refuses such a tensor too ("Unsupported tensor size"): its
            // fallbacks exist only for the k-quants.
            if !k.is_multiple_of(ggml::QK) {
                return Err(LmError::Setting {
                    name: "weights",
                    message: format!(
                        "{name}: {} needs rows that are a multiple of 32 values, not {k} (llama.cpp refuses it too); RTN quantizes it per channel",
                        ty.name()
                    ),
                });
            }
            Ok(LinearPlan::Ggml(ty))
        }
        LmWeightFormat::Rtn => {
            let bits = cfg.bits_of(name);
            if k == 0 {
                return Err(LmError::Setting { name: "group", message: format!("{name} has no inputs") });
            }
            // A group that does not divide K (a hidden size of 172 under g32) quantizes the layer
            // per channel, as the vision models' layers do, and says so in the layer's label.
            let (group, label) = match cfg.group {
                0 => (k, format!("W{bits} per-channel")),
                g if k.is_multiple_of(g) => (g, format!("W{bits} g{g}")),
                g => (k, format!("W{bits} per-channel (g{g} does not divide its {k} inputs)")),
            };
            let spec = RtnSpec { bits, group, symmetric: cfg.symmetric, narrow: cfg.narrow };
            if bits == 8 || (bits == 4 && group.is_multiple_of(32)) {
                Ok(LinearPlan::Kernel { spec, label })
            } else {
                Ok(LinearPlan::Simulated { spec, label })
            }
        }
    }
}

/// Fake-quant values [N, K] of a width without a kernel as a Linear on the f32 GEMM, with the
/// size the format would take (bits per weight, one f32 scale (and minimum) per group) and the note.
pub fn simulated_linear(cfg: &LmQuantConfig, values: &[f32], n: usize, k: usize, spec: &RtnSpec, label: &str) -> (LmLinear, Option<String>) {
    let bits = spec.bits;
    let per_group = if spec.symmetric { 4 } else { 8 };
    let bytes = (n * k * bits as usize).div_ceil(8) + n * (k / spec.group.max(1)) * per_group;
    let linear = LmLinear::float(values, n, k, bytes, format!("{label} (simulated)"));
    if cfg.int8_acts {
        // Activations quantized per token and per weight group, as the integer kernels do.
        let why = "no integer kernel at this width; weights and int8 activations simulated on the f32 GEMM";
        (linear.with_int8_acts(spec.group), Some(format!("{bits} bits: {why}")))
    } else {
        (linear, Some(format!("{bits} bits: no integer kernel at this width")))
    }
}

/// An [N, K] matrix of integer levels i (row-major) on per-group grids, value = scale · i (+ min),
/// as [`GroupedWeights`]: the storage [`quantize_rtn`] and the ggml formats produce.
/// ```text
/// 8 bits: i ∈ [−128, 127] stored as an i8 (o = 0)
/// 4 bits: u = i + 8 with o = 8 (no minimum, i ∈ [−8, 7]) or u = i with o = 0 (with a minimum, i ∈ [0, 15])
/// ```
/// A level outside its range is an error, never a silent wrap.
#[allow(clippy::too_many_arguments)]
pub fn grouped_from_levels(
    levels: &[i32],
    n: usize,
    k: usize,
    group: usize,
    bits: u8,
    scale: Vec<f32>,
    min: Option<Vec<f32>>,
    scale_format: ScaleFormat,
) -> Result<GroupedWeights, QuantError> {
    check_shape(n, k, levels.len())?;
    let offset: u8 = if bits == 4 && min.is_none() { 8 } else { 0 };
    let (lo, hi) = match bits {
        8 => (-128, 127),
        4 => (-(offset as i32), 15 - offset as i32),
        _ => return Err(QuantError::Setting { name: "bits", message: format!("grouped weights are 8- or 4-bit, not {bits}-bit") }),
    };
    let row_bytes = if bits == 4 { k / 2 } else { k };
    let mut q = vec![0u8; n * row_bytes];
    for (row, r) in levels.chunks_exact(k).enumerate() {
        for (col, &i) in r.iter().enumerate() {
            if !(lo..=hi).contains(&i) {
                return Err(QuantError::OutOfRange { setting: "level", value: i as f64, allowed: "the grid's levels" });
            }
            put(&mut q, bits, row_bytes, row, col, i + offset as i32);
        }
    }
    let w = GroupedWeights { n, k, group, bits, q, offset, scale, min, scale_format };
    w.validate()?;
    Ok(w)
}

/// Quantizes one [n, k] matrix called `name` as the configuration says.
pub fn quantize_linear(cfg: &LmQuantConfig, name: &str, w: &[f32], n: usize, k: usize) -> Result<(LmLinear, Option<String>), LmError> {
    let qerr = |error| LmError::Quant { tensor: name.to_string(), error };
    match plan_linear(cfg, name, k)? {
        LinearPlan::Skip => Ok((LmLinear::f32(w, n, k), Some("in the skip list: FP32".into()))),
        LinearPlan::Float(LmWeightFormat::F16) => {
            let v: Vec<f32> = w.iter().map(|&x| f16::from_f32(x).to_f32()).collect();
            Ok((LmLinear::float(&v, n, k, 2 * n * k, "f16".into()), None))
        }
        LinearPlan::Float(LmWeightFormat::Bf16) => {
            let v: Vec<f32> = w.iter().map(|&x| bf16::from_f32(x).to_f32()).collect();
            Ok((LmLinear::float(&v, n, k, 2 * n * k, "bf16".into()), None))
        }
        LinearPlan::Float(_) => Ok((LmLinear::f32(w, n, k), None)),
        LinearPlan::Ggml(ty) => {
            let blocks = ggml::quantize(ty, w).map_err(qerr)?;
            let g = ggml::to_grouped(ty, &blocks, n, k).map_err(qerr)?;
            Ok((LmLinear::grouped(g, cfg.int8_acts, ty.name().into()), None))
        }
        LinearPlan::Kernel { spec, label } => {
            let g = quantize_rtn(w, n, k, spec).map_err(qerr)?;
            Ok((LmLinear::grouped(g, cfg.int8_acts, label), None))
        }
        LinearPlan::Simulated { spec, label } => {
            crate::quant::check_finite(w).map_err(qerr)?;
            let mut v = w.to_vec();
            for row in v.chunks_exact_mut(k) {
                for grp in row.chunks_exact_mut(spec.group) {
                    fake_quant_group(grp, spec.bits, spec.symmetric, spec.narrow);
                }
            }
            Ok(simulated_linear(cfg, &v, n, k, &spec, &label))
        }
    }
}

/// The quantized model and what happened to each Linear.
pub struct QuantizedLm {
    pub model: LmModel,
    pub layers: Vec<LmLayerReport>,
    pub config: LmQuantConfig,
}

fn layer_report(name: &str, l: &LmLinear, note: Option<String>) -> LmLayerReport {
    LmLayerReport { name: name.into(), format: l.format().into(), engine: l.engine().into(), bytes: l.bytes(), weights: l.n() * l.k(), note }
}

impl QuantizedLm {
    /// Says, on the embedding table and the head when they are rounded, that `method` (which
    /// works on the blocks' Linears) did not reach them: "GPTQ covers the blocks' Linears; this
    /// one is rounded to nearest (RTN)".
    pub fn note_outside_the_blocks(&mut self, why: &str) {
        if matches!(self.config.weights, LmWeightFormat::F32) {
            return;
        }
        for r in &mut self.layers {
            if (r.name == "tok_embeddings" || r.name == "output") && !self.config.is_skipped(&r.name) {
                r.note = Some(match r.note.take() {
                    Some(n) => format!("{why}; {n}"),
                    None => why.to_string(),
                });
            }
        }
    }
}

/// A block's seven Linears, each with its report note, in [`crate::lm::weights::BLOCK_MATRICES`] order.
pub type QuantizedBlock = [(LmLinear, Option<String>); 7];

/// How a per-block quantizer is called by [`quantize_lm_with`]: (the model so far when
/// sequential, block index l, block l's FP32 weights).
pub type BlockQuantizer<'a> = dyn FnMut(Option<&LmModel>, usize, &BlockWeights) -> Result<QuantizedBlock, LmError> + 'a;

fn fp32_block(b: &BlockWeights, c: &LmConfig) -> Block {
    let [wq, wk, wv, wo, w1, w2, w3] = b.matrices(c).map(|(_, m, n, k)| LmLinear::f32(m, n, k));
    Block { attention_norm: b.attention_norm.clone(), wq, wk, wv, wo, ffn_norm: b.ffn_norm.clone(), w1, w2, w3 }
}

fn block_of(b: &BlockWeights, q: QuantizedBlock) -> Block {
    let [wq, wk, wv, wo, w1, w2, w3] = q.map(|(l, _)| l);
    Block { attention_norm: b.attention_norm.clone(), wq, wk, wv, wo, ffn_norm: b.ffn_norm.clone(), w1, w2, w3 }
}

/// A Linear's weights as the f32 values it stands for, on the f32 GEMM (same format label).
fn dequantized(l: &LmLinear) -> Result<LmLinear, LmError> {
    if let LmLinear::Float { .. } = l {
        return Ok(l.clone());
    }
    let (n, k) = (l.n(), l.k());
    let mut v = vec![0f32; n * k];
    for (r, row) in v.chunks_exact_mut(k).enumerate() {
        l.row(r, row)?;
    }
    Ok(LmLinear::float(&v, n, k, l.bytes(), l.format().to_string()))
}

/// A block whose Linears run as their dequantized f32 values: the same y = x·Ŵᵀ, on the f32
/// GEMM, which is faster than the integer kernels on a batch of calibration tokens.
pub fn dequantized_block(b: &Block) -> Result<Block, LmError> {
    Ok(Block {
        attention_norm: b.attention_norm.clone(),
        wq: dequantized(&b.wq)?,
        wk: dequantized(&b.wk)?,
        wv: dequantized(&b.wv)?,
        wo: dequantized(&b.wo)?,
        ffn_norm: b.ffn_norm.clone(),
        w1: dequantized(&b.w1)?,
        w2: dequantized(&b.w2)?,
        w3: dequantized(&b.w3)?,
    })
}

/// Assembles a quantized model around a per-block quantizer: the embedding and the output
/// head as [`quantize_linear`] says, block l from `quantize_block(model, l, weights)`.
///
/// With `sequential` (GPTQ), `quantize_block` sees the model so far: blocks < l as
/// quantized, block l in FP32, and nothing after block l (its configuration says l + 1
/// layers, so a calibration pass stops there); the embedding is already in its final
/// format. The quantized blocks run there as their dequantized f32 values
/// ([`dequantized_block`]: the same weights, y up to the order of the float sums), except
/// with int8 activations, whose rounding belongs to the model (the integer kernels run). Without it, `quantize_block` gets `None` (RTN, and any method that needs only
/// the weights).
pub fn quantize_lm_with(w: &LmWeights, cfg: &LmQuantConfig, sequential: bool, quantize_block: &mut BlockQuantizer) -> Result<QuantizedLm, LmError> {
    cfg.validate()?;
    w.validate()?;
    let c = &w.config;
    cfg.check_fits(c)?;
    let mut reports = Vec::new();
    let (emb, note) = quantize_linear(cfg, "tok_embeddings", &w.tok_embeddings, c.vocab_size, c.dim)?;
    reports.push(layer_report("tok_embeddings", &emb, note));
    let (output, output_report) = if c.tied {
        (emb.clone(), None)
    } else {
        let (o, note) = quantize_linear(cfg, "output", w.output_weights(), c.vocab_size, c.dim)?;
        let r = layer_report("output", &o, note);
        (o, Some(r))
    };
    let embedding = match &emb {
        LmLinear::Float { format, .. } if format == "f32" => Embedding::F32(w.tok_embeddings.clone()),
        _ => Embedding::Linear(emb),
    };
    let mut report_block = |l: usize, b: &BlockWeights, q: &QuantizedBlock| {
        for ((name, ..), (lin, note)) in b.matrices(c).iter().zip(q) {
            reports.push(layer_report(&format!("layers.{l}.{name}"), lin, note.clone()));
        }
    };
    let model = if sequential {
        let blocks = w.layers.iter().map(|b| fp32_block(b, c)).collect();
        let mut model = LmModel::new(c.clone(), embedding, blocks, w.norm.clone(), output)?;
        let mut done = Vec::with_capacity(c.n_layers);
        for (l, b) in w.layers.iter().enumerate() {
            // The model up to block l: the later blocks are set aside while the quantizer looks.
            let later = model.blocks.split_off(l + 1);
            model.config.n_layers = l + 1;
            let q = quantize_block(Some(&model), l, b);
            model.blocks.extend(later);
            model.config.n_layers = c.n_layers;
            let q = q?;
            report_block(l, b, &q);
            let block = block_of(b, q);
            model.blocks[l] = if cfg.int8_acts { block.clone() } else { dequantized_block(&block)? };
            done.push(block);
        }
        model.blocks = done;
        model
    } else {
        let mut blocks = Vec::with_capacity(c.n_layers);
        for (l, b) in w.layers.iter().enumerate() {
            let q = quantize_block(None, l, b)?;
            report_block(l, b, &q);
            blocks.push(block_of(b, q));
        }
        LmModel::new(c.clone(), embedding, blocks, w.norm.clone(), output)?
    };
    reports.extend(output_report);
    Ok(QuantizedLm { model, layers: reports, config: cfg.clone() })
}

/// Quantizes every Linear of `w` as `cfg` says (round to nearest; the weights alone decide).
pub fn quantize_lm(w: &LmWeights, cfg: &LmQuantConfig) -> Result<QuantizedLm, LmError> {
    let c = &w.config;
    quantize_lm_with(w, cfg, false, &mut |_, l, b| {
        let mut q = Vec::with_capacity(7);
        for (name, m, n, k) in b.matrices(c) {
            q.push(quantize_linear(cfg, &format!("layers.{l}.{name}"), m, n, k)?);
        }
        Ok(q.try_into().expect("seven matrices"))
    })
}

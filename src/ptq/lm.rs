//! How a language model is quantized: the weight format of every Linear (RTN at 2–8 bits
//! per channel or per group, llama.cpp's Q8_0 / Q4_0 / Q4_1, FP16 / BF16), int8
//! activations (W8A8 / W4A8), the KV cache's format, a skip list and per-layer bits.
//! The decision is made here, once per layer; [`crate::lm`] executes the result.
//!
//! ```text
//! layer names: tok_embeddings, layers.{l}.attention.{wq,wk,wv,wo}, layers.{l}.feed_forward.{w1,w2,w3}, output
//! a skip entry matches a name equal to it, ending in ".entry" (attention.wq: every layer's wq),
//! or starting with "entry." (layers.0: every Linear of block 0); skipped layers stay FP32
//! (the seeds' `opname_blacklist = ["lm_head"]`; lm_head is accepted as a name for `output`)
//! ```
//!
//! Bit widths with a kernel (8 and 4) run on the grouped integer kernels; 2, 3, 5, 6 and 7
//! bits run as fake-quant values on the f32 GEMM ("simulated", with the reason in the report).

use std::collections::BTreeMap;

use half::{bf16, f16};
use serde::{Deserialize, Serialize};

use crate::lm::{Block, Embedding, KvFormat, LmError, LmLinear, LmModel, LmWeights};
use crate::quant::ggml::{self, GgmlType};
use crate::quant::grouped::{quantize_rtn, RtnSpec};

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

    /// Whether the method needs calibration text.
    pub fn calibrated(self) -> bool {
        self != LmMethod::Rtn
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
    pub kv: KvFormat,
    /// Layers left in FP32.
    pub skip: Vec<String>,
    /// Per-layer RTN bits (a name or pattern as in `skip`) overriding `bits`.
    pub layer_bits: BTreeMap<String, u8>,
    /// How the weights are chosen (RTN, GPTQ, AWQ, SmoothQuant).
    pub method: LmMethod,
    /// Calibration tokens (from the training split) for GPTQ / AWQ / SmoothQuant.
    pub calib_tokens: usize,
    /// GPTQ: dampening λ added to H's diagonal, as a fraction of its mean (0.01 = 1 %).
    pub damp: f32,
    /// GPTQ: quantize columns in order of decreasing H diagonal (`act_order`).
    pub act_order: bool,
    /// SmoothQuant's migration strength α ∈ [0, 1]; AWQ searches its own α on a grid.
    pub alpha: f32,
    /// AWQ: also search a clipping threshold per group.
    pub awq_clip: bool,
    /// Outlier injection: scale this many channels of every RMSNorm weight by `outlier_scale`
    /// (and the matching input columns of the next Linears by its inverse); 0 = off.
    pub outliers: usize,
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
            kv: KvFormat::F32,
            skip: vec!["output".into(), "tok_embeddings".into()],
            layer_bits: BTreeMap::new(),
            method: LmMethod::Rtn,
            calib_tokens: 2048,
            damp: 0.01,
            act_order: false,
            alpha: 0.5,
            awq_clip: false,
            outliers: 0,
            outlier_scale: 20.0,
        }
    }
}

/// Group sizes offered for RTN (0 = per channel).
pub const GROUP_SIZES: [usize; 4] = [0, 32, 64, 128];

fn matches(entry: &str, name: &str) -> bool {
    let entry = if entry == "lm_head" { "output" } else { entry };
    name == entry || name.ends_with(&format!(".{entry}")) || name.starts_with(&format!("{entry}."))
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
    /// Checks every setting (names the bad one).
    pub fn validate(&self) -> Result<(), LmError> {
        let bad = |name: &'static str, message: String| Err(LmError::Setting { name, message });
        if !(2..=8).contains(&self.bits) {
            return bad("bits", format!("{} is outside 2–8", self.bits));
        }
        if self.group != 0 && (self.group % 32 != 0 || self.group > 4096) {
            return bad("group", format!("{} is not 0 (per channel) or a multiple of 32 up to 4096", self.group));
        }
        for (k, &b) in &self.layer_bits {
            if !(2..=8).contains(&b) {
                return Err(LmError::Setting { name: "layer_bits", message: format!("{k}: {b} is outside 2–8") });
            }
        }
        if self.method.calibrated() && !(1..=crate::ptq::lm_calib::MAX_CALIB_TOKENS).contains(&self.calib_tokens) {
            return bad("calib_tokens", format!("{} is outside 1–{}", self.calib_tokens, crate::ptq::lm_calib::MAX_CALIB_TOKENS));
        }
        if !(self.damp.is_finite() && (0.0..=1.0).contains(&self.damp)) {
            return bad("damp", format!("{} is outside 0–1", self.damp));
        }
        if !(self.alpha.is_finite() && (0.0..=1.0).contains(&self.alpha)) {
            return bad("alpha", format!("{} is outside 0–1", self.alpha));
        }
        if self.outliers > 64 {
            return bad("outliers", format!("{} is more than 64 channels", self.outliers));
        }
        if !(self.outlier_scale.is_finite() && (1.0..=1000.0).contains(&self.outlier_scale)) {
            return bad("outlier_scale", format!("{} is outside 1–1000", self.outlier_scale));
        }
        if self.method == LmMethod::Gptq && !matches!(self.weights, LmWeightFormat::Rtn | LmWeightFormat::Q8_0 | LmWeightFormat::Q4_0 | LmWeightFormat::Q4_1) {
            return bad("method", format!("GPTQ needs an integer weight format, not {}", self.weights.name()));
        }
        if self.method == LmMethod::Awq && !matches!(self.weights, LmWeightFormat::Rtn | LmWeightFormat::Q8_0 | LmWeightFormat::Q4_0 | LmWeightFormat::Q4_1) {
            return bad("method", format!("AWQ needs an integer weight format, not {}", self.weights.name()));
        }
        if self.int8_acts && matches!(self.weights, LmWeightFormat::F32 | LmWeightFormat::F16 | LmWeightFormat::Bf16) {
            return bad("int8_acts", format!("int8 activations need integer weights, not {}", self.weights.name()));
        }
        Ok(())
    }

    pub fn is_skipped(&self, name: &str) -> bool {
        self.skip.iter().any(|e| matches(e, name))
    }

    /// RTN bits of a layer: the last matching `layer_bits` entry, else `bits`.
    pub fn bits_of(&self, name: &str) -> u8 {
        self.layer_bits.iter().filter(|(k, _)| matches(k, name)).map(|(_, &b)| b).last().unwrap_or(self.bits)
    }

    /// A short label: "W4 g32 RTN", "Q8_0", "W8A8 per-channel", "+KV8".
    pub fn label(&self) -> String {
        let w = match self.weights {
            LmWeightFormat::Rtn => {
                let g = if self.group == 0 { "per-channel".to_string() } else { format!("g{}", self.group) };
                let sym = if self.symmetric { if self.narrow { " narrow" } else { "" } } else { " asym" };
                format!("W{}{} {g} RTN{sym}", self.bits, if self.int8_acts { "A8" } else { "" })
            }
            f if f.ggml().is_some() => format!("{}{}", f.name().to_uppercase(), if self.int8_acts { " A8" } else { "" }),
            f => f.name().to_uppercase(),
        };
        match self.kv {
            KvFormat::F32 => w,
            KvFormat::F16 => format!("{w} + KV f16"),
            KvFormat::Int8 => format!("{w} + KV int8"),
        }
    }
}

/// Fake-quant of one group at `bits` (the bit widths without a kernel): the same grids as
/// [`quantize_rtn`] — symmetric full range d = M / −2^(b−1) for the x of largest |x|, narrow
/// d = max|x| / (2^(b−1) − 1), asymmetric d = (max − min) / (2^b − 1) — rounded half to even.
fn fake_quant_group(x: &mut [f32], bits: u8, symmetric: bool, narrow: bool) {
    let half = (1i32 << (bits - 1)) as f32;
    if symmetric {
        let m = x.iter().copied().fold(0f32, |m, v| if v.abs() > m.abs() { v } else { m });
        let (d, lo, hi) = if narrow { (m.abs() / (half - 1.0), -(half - 1.0), half - 1.0) } else { (m / -half, -half, half - 1.0) };
        if d == 0.0 || !d.is_finite() {
            x.fill(0.0);
            return;
        }
        for v in x.iter_mut() {
            *v = ((*v as f64 / d as f64).round_ties_even().clamp(lo as f64, hi as f64) as f32) * d;
        }
    } else {
        let (lo, hi) = x.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
        let d = (hi - lo) / ((1u32 << bits) - 1) as f32;
        if d == 0.0 || !d.is_finite() {
            x.fill(lo);
            return;
        }
        for v in x.iter_mut() {
            let i = ((*v - lo) as f64 / d as f64).round_ties_even().clamp(0.0, ((1u32 << bits) - 1) as f64) as f32;
            *v = i * d + lo;
        }
    }
}

/// Quantizes one [n, k] matrix called `name` as the configuration says.
pub fn quantize_linear(cfg: &LmQuantConfig, name: &str, w: &[f32], n: usize, k: usize) -> Result<(LmLinear, Option<String>), LmError> {
    let qerr = |error| LmError::Quant { tensor: name.to_string(), error };
    if cfg.is_skipped(name) {
        return Ok((LmLinear::f32(w, n, k), Some("in the skip list: FP32".into())));
    }
    match cfg.weights {
        LmWeightFormat::F32 => Ok((LmLinear::f32(w, n, k), None)),
        LmWeightFormat::F16 => {
            let v: Vec<f32> = w.iter().map(|&x| f16::from_f32(x).to_f32()).collect();
            Ok((LmLinear::float(&v, n, k, 2 * n * k, "f16".into()), None))
        }
        LmWeightFormat::Bf16 => {
            let v: Vec<f32> = w.iter().map(|&x| bf16::from_f32(x).to_f32()).collect();
            Ok((LmLinear::float(&v, n, k, 2 * n * k, "bf16".into()), None))
        }
        f @ (LmWeightFormat::Q8_0 | LmWeightFormat::Q4_0 | LmWeightFormat::Q4_1) => {
            let ty = f.ggml().expect("a ggml format");
            if k % ggml::QK != 0 {
                return Err(LmError::Setting {
                    name: "weights",
                    message: format!("{name}: {} needs rows that are a multiple of 32 values, not {k}", ty.name()),
                });
            }
            let blocks = ggml::quantize(ty, w).map_err(qerr)?;
            let g = ggml::to_grouped(ty, &blocks, n, k).map_err(qerr)?;
            Ok((LmLinear::Grouped { w: g, int8_acts: cfg.int8_acts, format: ty.name().into() }, None))
        }
        LmWeightFormat::Rtn => {
            let bits = cfg.bits_of(name);
            let group = if cfg.group == 0 { k } else { cfg.group };
            if k % group != 0 {
                return Err(LmError::Setting {
                    name: "group",
                    message: format!("{name}: group {group} does not divide its {k} inputs"),
                });
            }
            let label = format!("W{bits} {}", if cfg.group == 0 { "per-channel".into() } else { format!("g{group}") });
            let kernel_group = bits == 8 || (bits == 4 && group % 32 == 0);
            if (bits == 8 || bits == 4) && kernel_group {
                let spec = RtnSpec { bits, group, symmetric: cfg.symmetric, narrow: cfg.narrow };
                let g = quantize_rtn(w, n, k, spec).map_err(qerr)?;
                return Ok((LmLinear::Grouped { w: g, int8_acts: cfg.int8_acts, format: label }, None));
            }
            crate::quant::check_finite(w).map_err(qerr)?;
            let mut v = w.to_vec();
            for row in v.chunks_exact_mut(k) {
                for grp in row.chunks_exact_mut(group) {
                    fake_quant_group(grp, bits, cfg.symmetric, cfg.narrow);
                }
            }
            // Stored size: bits per weight, one f32 scale (and minimum) per group.
            let per_group = if cfg.symmetric { 4 } else { 8 };
            let bytes = (n * k * bits as usize).div_ceil(8) + n * (k / group) * per_group;
            let why = if cfg.int8_acts { "no integer kernel at this width; activations stay f32" } else { "no integer kernel at this width" };
            Ok((LmLinear::float(&v, n, k, bytes, format!("{label} (simulated)")), Some(format!("{bits} bits: {why}"))))
        }
    }
}

/// The quantized model and what happened to each Linear.
pub struct QuantizedLm {
    pub model: LmModel,
    pub layers: Vec<LmLayerReport>,
    pub config: LmQuantConfig,
}

/// Quantizes every Linear of `w` as `cfg` says.
pub fn quantize_lm(w: &LmWeights, cfg: &LmQuantConfig) -> Result<QuantizedLm, LmError> {
    cfg.validate()?;
    w.validate()?;
    let c = &w.config;
    let mut reports = Vec::new();
    let mut report = |name: &str, l: &LmLinear, note: Option<String>| {
        reports.push(LmLayerReport {
            name: name.into(),
            format: l.format().into(),
            engine: l.engine().into(),
            bytes: l.bytes(),
            weights: l.n() * l.k(),
            note,
        });
    };
    let (emb, note) = quantize_linear(cfg, "tok_embeddings", &w.tok_embeddings, c.vocab_size, c.dim)?;
    report("tok_embeddings", &emb, note);
    let mut blocks = Vec::with_capacity(c.n_layers);
    for (l, b) in w.layers.iter().enumerate() {
        let mut q = Vec::with_capacity(7);
        for (name, m, n, k) in b.matrices(c) {
            let full = format!("layers.{l}.{name}");
            let (lin, note) = quantize_linear(cfg, &full, m, n, k)?;
            report(&full, &lin, note);
            q.push(lin);
        }
        let [wq, wk, wv, wo, w1, w2, w3]: [LmLinear; 7] = q.try_into().expect("seven matrices");
        blocks.push(Block { attention_norm: b.attention_norm.clone(), wq, wk, wv, wo, ffn_norm: b.ffn_norm.clone(), w1, w2, w3 });
    }
    let output = if c.tied {
        emb.clone()
    } else {
        let (o, note) = quantize_linear(cfg, "output", w.output_weights(), c.vocab_size, c.dim)?;
        report("output", &o, note);
        o
    };
    let embedding = match &emb {
        LmLinear::Float { format, .. } if format == "f32" => Embedding::F32(w.tok_embeddings.clone()),
        _ => Embedding::Linear(emb),
    };
    let model = LmModel::new(c.clone(), embedding, blocks, w.norm.clone(), output)?;
    Ok(QuantizedLm { model, layers: reports, config: cfg.clone() })
}

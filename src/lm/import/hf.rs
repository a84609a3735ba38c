//! Hugging Face `LlamaForCausalLM` checkpoints: `config.json` plus `model.safetensors`
//! (or its shards, `model-00001-of-00002.safetensors`, …), F32 / F16 / BF16. The container
//! is parsed by the `safetensors` crate (header size, offsets and dtype × shape checked
//! there, no tensor copied); only the tensors the model needs are converted to f32.
//!
//! ```text
//! config.json                    LmConfig          (default when absent)
//! hidden_size                    dim D
//! intermediate_size              hidden_dim F
//! num_hidden_layers              n_layers L
//! num_attention_heads            n_heads H
//! num_key_value_heads            n_kv_heads        (H)
//! vocab_size                     vocab_size V
//! max_position_embeddings        seq_len           (2048, LlamaConfig's), clamped to IMPORT_MAX_SEQ_LEN
//! rms_norm_eps                   norm_eps          (1e-6, LlamaConfig's)
//! rope_theta                     rope_theta        (10000; also read from transformers 5's rope_parameters)
//! tie_word_embeddings            tied              (false)
//! eos_token_id                   end-of-text ids   (one or a list; generation stops after one)
//!
//! model.embed_tokens.weight [V,D]                    tok_embeddings
//! model.layers.N.input_layernorm.weight [D]          layers.N.attention_norm
//! model.layers.N.self_attn.{q,k,v,o}_proj.weight     layers.N.attention.{wq,wk,wv,wo}   (q, k un-permuted)
//! model.layers.N.post_attention_layernorm.weight     layers.N.ffn_norm
//! model.layers.N.mlp.{gate,down,up}_proj.weight      layers.N.feed_forward.{w1,w2,w3}
//! model.norm.weight [D]                              norm
//! lm_head.weight [V,D]                               output (ignored, with a note, when tied)
//! ```
//!
//! Refused with a message: another `model_type`, `rope_scaling` (linear, dynamic, YaRN,
//! Llama 3), a `rope_parameters.rope_type` other than "default", `hidden_act` other than
//! "silu", `attention_bias` / `mlp_bias`, and a `head_dim` other than D / H.
//!
//! **Rotary layout.** Hugging Face's Llama rotates halves: (x[i], x[i + hd/2]) are a pair. Its
//! `convert_llama_weights_to_hf.py` permutes Meta's q and k rows (interleaved pairs
//! (x[2i], x[2i+1])) with `w.view(n_heads, hd/2, 2, dim).transpose(1, 2).reshape(dim, dim)`, i.e.
//!
//! ```text
//! hf[h·hd + a·hd/2 + i] = meta[h·hd + 2i + a]        h < heads, i < hd/2, a ∈ {0, 1}
//! ```
//!
//! so the reader un-permutes (`meta[h·hd + 2i + a] = hf[h·hd + a·hd/2 + i]`) q_proj with H heads
//! and k_proj with Hkv heads, giving qplay's interleaved layout; the attention scores q·k are
//! the same (both rows of a head are permuted alike), so the logits match the HF model's.
//!
//! `config.json` is at most [`MAX_CONFIG_JSON_BYTES`]; serde_json's recursion limit (128)
//! bounds its nesting.

use std::collections::HashMap;

use safetensors::Dtype;
use serde_json::Value;

use super::assemble::{assemble, Role};
use super::cursor::{check_finite, clip, f32_values, malformed};
use super::{check_file_size, clamp_seq_len};
use crate::formats::safetensors::SafetensorsHeader;
use crate::formats::FormatError;
use crate::lm::{LmConfig, LmError, LmWeights};

const FORMAT: &str = ".safetensors";

/// config.json's keys for qplay's configuration fields (the errors name the file's key).
const HF_KEYS: &[(&str, &str)] = &[
    ("dim", "hidden_size"),
    ("n_layers", "num_hidden_layers"),
    ("n_heads", "num_attention_heads"),
    ("n_kv_heads", "num_key_value_heads"),
    ("hidden_dim", "intermediate_size"),
    ("seq_len", "max_position_embeddings"),
    ("norm_eps", "rms_norm_eps"),
];
const CONFIG_FORMAT: &str = "config.json";

/// Largest `config.json` read.
pub const MAX_CONFIG_JSON_BYTES: usize = 1 << 20;
/// transformers' `LlamaConfig` defaults.
pub const HF_DEFAULT_MAX_POSITIONS: usize = 2048;
pub const HF_DEFAULT_RMS_NORM_EPS: f64 = 1e-6;
pub const HF_DEFAULT_ROPE_THETA: f64 = 10000.0;

/// A Hugging Face model: its weights and notes.
#[derive(Clone, Debug)]
pub struct HfModel {
    pub weights: LmWeights,
    pub notes: Vec<String>,
    /// config.json's `eos_token_id`s: the ids that end a generated text.
    pub end_of_text: Vec<u32>,
    /// config.json's `_name_or_path`, the model's Hub name (cut to 80 characters).
    pub title: Option<String>,
}

/// What config.json gives: the model's configuration and its end-of-text ids.
#[derive(Clone, Debug)]
pub struct HfConfig {
    pub config: LmConfig,
    pub end_of_text: Vec<u32>,
    /// `_name_or_path` (the Hub name `save_pretrained` writes), when it is a non-empty string.
    pub title: Option<String>,
}

/// At most this many `eos_token_id`s are kept (Llama 3 lists 3).
pub const MAX_END_OF_TEXT_IDS: usize = 64;

/// The Hugging Face name of a role.
pub fn hf_name(role: Role) -> String {
    match role {
        Role::TokEmbeddings => "model.embed_tokens.weight".into(),
        Role::AttentionNorm(l) => format!("model.layers.{l}.input_layernorm.weight"),
        Role::Wq(l) => format!("model.layers.{l}.self_attn.q_proj.weight"),
        Role::Wk(l) => format!("model.layers.{l}.self_attn.k_proj.weight"),
        Role::Wv(l) => format!("model.layers.{l}.self_attn.v_proj.weight"),
        Role::Wo(l) => format!("model.layers.{l}.self_attn.o_proj.weight"),
        Role::FfnNorm(l) => format!("model.layers.{l}.post_attention_layernorm.weight"),
        Role::W1(l) => format!("model.layers.{l}.mlp.gate_proj.weight"),
        Role::W2(l) => format!("model.layers.{l}.mlp.down_proj.weight"),
        Role::W3(l) => format!("model.layers.{l}.mlp.up_proj.weight"),
        Role::Norm => "model.norm.weight".into(),
        Role::Output => "lm_head.weight".into(),
    }
}

/// Rows of a q or k projection [heads·hd, cols], from Hugging Face's rotate-half order to the
/// interleaved order: meta[h·hd + 2i + a] = hf[h·hd + a·hd/2 + i].
pub fn rotate_half_to_interleaved(hf: &[f32], heads: usize, hd: usize, cols: usize) -> Vec<f32> {
    let mut meta = vec![0f32; hf.len()];
    let half = hd / 2;
    for h in 0..heads {
        for i in 0..half {
            for a in 0..2 {
                let src = (h * hd + a * half + i) * cols;
                let dst = (h * hd + 2 * i + a) * cols;
                meta[dst..dst + cols].copy_from_slice(&hf[src..src + cols]);
            }
        }
    }
    meta
}

/// The inverse: interleaved (Meta) rows to Hugging Face's rotate-half order.
pub fn interleaved_to_rotate_half(meta: &[f32], heads: usize, hd: usize, cols: usize) -> Vec<f32> {
    let mut hf = vec![0f32; meta.len()];
    let half = hd / 2;
    for h in 0..heads {
        for i in 0..half {
            for a in 0..2 {
                let src = (h * hd + 2 * i + a) * cols;
                let dst = (h * hd + a * half + i) * cols;
                hf[dst..dst + cols].copy_from_slice(&meta[src..src + cols]);
            }
        }
    }
    hf
}

fn bad(field: &'static str, message: impl Into<String>) -> LmError {
    LmError::Config { field, message: message.into() }
}

/// Compact JSON of a value, cut for a message.
fn shown(v: &Value) -> String {
    clip(&v.to_string())
}

struct Cfg<'v>(&'v serde_json::Map<String, Value>);

impl Cfg<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    fn usize(&self, key: &'static str) -> Result<Option<usize>, LmError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => {
                let too_large = || bad(key, format!("{}: too large (the largest size here is {})", shown(v), usize::MAX));
                match (v.as_u64(), v.as_f64()) {
                    (Some(u), _) => usize::try_from(u).map(Some).map_err(|_| too_large()),
                    // A whole number in exponent form ("1e12") or with a zero fraction ("4096.0")
                    // is read as that integer, so that its size is checked as any other's.
                    (None, Some(f)) if f >= 0.0 && f.fract() == 0.0 => {
                        if f < usize::MAX as f64 {
                            Ok(Some(f as usize))
                        } else {
                            Err(too_large())
                        }
                    }
                    (None, Some(f)) if f.fract() != 0.0 => Err(bad(key, format!("{}: a whole number was expected", shown(v)))),
                    _ => Err(bad(key, format!("{}: a non-negative integer was expected", shown(v)))),
                }
            }
        }
    }

    fn required(&self, key: &'static str) -> Result<usize, LmError> {
        self.usize(key)?.ok_or_else(|| bad(key, "missing from config.json"))
    }

    fn number(&self, key: &'static str) -> Result<Option<f64>, LmError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| bad(key, format!("{}: a number was expected", shown(v)))),
        }
    }

    fn bool(&self, key: &'static str) -> Result<Option<bool>, LmError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_bool().map(Some).ok_or_else(|| bad(key, format!("{}: true or false was expected", shown(v)))),
        }
    }

    fn str(&self, key: &'static str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }
}

/// `eos_token_id`: one id or a list of them (Llama 3's instruction models list their end-of-turn
/// ids too); a value that is not an id of the vocabulary is left out with a note, since only
/// generation uses it.
fn end_of_text_ids(cfg: &Cfg, vocab_size: usize, notes: &mut Vec<String>) -> Vec<u32> {
    let Some(v) = cfg.get("eos_token_id") else { return Vec::new() };
    let listed: Vec<&Value> = match v.as_array() {
        Some(a) => a.iter().collect(),
        None => vec![v],
    };
    // At most MAX_END_OF_TEXT_IDS + 1 kept, so the duplicate check stays linear in the list.
    let (mut ids, mut outside) = (Vec::new(), Vec::new());
    for v in &listed {
        match v.as_u64().filter(|&id| id < vocab_size as u64) {
            Some(id) if ids.len() <= MAX_END_OF_TEXT_IDS && !ids.contains(&(id as u32)) => ids.push(id as u32),
            Some(_) => {}
            None => outside.push(*v),
        }
    }
    if let Some(first) = outside.first() {
        notes.push(format!(
            "eos_token_id {}{}: not an id of the vocabulary of {vocab_size}, so it does not end a generated text",
            shown(first),
            if outside.len() > 1 { format!(" and {} more", outside.len() - 1) } else { String::new() }
        ));
    }
    if ids.len() > MAX_END_OF_TEXT_IDS {
        notes.push(format!("eos_token_id lists more than {MAX_END_OF_TEXT_IDS} ids: the first {MAX_END_OF_TEXT_IDS} end a generated text"));
        ids.truncate(MAX_END_OF_TEXT_IDS);
    }
    ids
}

/// Reads `config.json` into a configuration (not yet validated; seq_len clamped) and its
/// end-of-text ids.
pub fn read_config(json: &[u8], notes: &mut Vec<String>) -> Result<HfConfig, LmError> {
    if json.len() > MAX_CONFIG_JSON_BYTES {
        return Err(LmError::TooLarge {
            what: "config.json".into(),
            bytes: json.len() as u128,
            limit: MAX_CONFIG_JSON_BYTES as u128,
        });
    }
    // A UTF-8 byte-order mark (some Windows editors write one) is not JSON: read past it.
    let json = json.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(json);
    let value: Value = serde_json::from_slice(json).map_err(|e| malformed(CONFIG_FORMAT, e.to_string()))?;
    let Some(map) = value.as_object() else {
        return Err(malformed(CONFIG_FORMAT, "the top level is not a JSON object"));
    };
    let cfg = Cfg(map);
    match cfg.str("model_type") {
        Some("llama") => {}
        Some(other) => return Err(bad("model_type", format!("{:?}: only \"llama\" models are supported", clip(other)))),
        None => {
            let archs: Vec<&str> =
                cfg.get("architectures").and_then(Value::as_array).map_or(Vec::new(), |a| a.iter().filter_map(Value::as_str).collect());
            if !archs.is_empty() && !archs.contains(&"LlamaForCausalLM") {
                return Err(bad("architectures", format!("{:?}: only LlamaForCausalLM is supported", clip(&archs.join(", ")))));
            }
            notes.push("config.json has no model_type: read as a Llama model".into());
        }
    }
    if let Some(v) = cfg.get("rope_scaling") {
        return Err(bad("rope_scaling", format!("{}: RoPE scaling is not supported", shown(v))));
    }
    let mut rope_theta = cfg.number("rope_theta")?;
    if let Some(p) = cfg.get("rope_parameters") {
        let Some(p) = p.as_object() else {
            return Err(bad("rope_parameters", format!("{}: an object was expected", shown(p))));
        };
        let p = Cfg(p);
        match p.str("rope_type") {
            None | Some("default") => {}
            Some(t) => return Err(bad("rope_parameters", format!("rope_type {:?}: RoPE scaling is not supported", clip(t)))),
        }
        if let Some(t) = p.number("rope_theta")? {
            rope_theta = Some(t);
        }
    }
    if let Some(act) = cfg.get("hidden_act") {
        if act.as_str() != Some("silu") {
            return Err(bad("hidden_act", format!("{}: only \"silu\" (SwiGLU) is supported", shown(act))));
        }
    }
    for field in ["attention_bias", "mlp_bias"] {
        if cfg.bool(field)? == Some(true) {
            return Err(bad(field, "true: biases are not supported"));
        }
    }
    let dim = cfg.required("hidden_size")?;
    let n_heads = cfg.required("num_attention_heads")?;
    if let Some(hd) = cfg.usize("head_dim")? {
        if hd.checked_mul(n_heads) != Some(dim) || n_heads == 0 {
            return Err(bad("head_dim", format!("{hd}: heads of other than hidden_size / num_attention_heads are not supported")));
        }
    }
    let seq = match cfg.usize("max_position_embeddings")? {
        Some(s) => s,
        None => {
            notes.push(format!("max_position_embeddings is absent: {HF_DEFAULT_MAX_POSITIONS} assumed (LlamaConfig's default)"));
            HF_DEFAULT_MAX_POSITIONS
        }
    };
    if rope_theta.is_none() {
        notes.push(format!("rope_theta is absent: {HF_DEFAULT_ROPE_THETA} assumed (LlamaConfig's default)"));
    }
    let norm_eps = match cfg.number("rms_norm_eps")? {
        Some(e) => e,
        None => {
            notes.push(format!("rms_norm_eps is absent: {HF_DEFAULT_RMS_NORM_EPS:e} assumed (LlamaConfig's default)"));
            HF_DEFAULT_RMS_NORM_EPS
        }
    };
    let config = LmConfig {
        dim,
        n_layers: cfg.required("num_hidden_layers")?,
        n_heads,
        n_kv_heads: cfg.usize("num_key_value_heads")?.unwrap_or(n_heads),
        hidden_dim: cfg.required("intermediate_size")?,
        vocab_size: cfg.required("vocab_size")?,
        seq_len: clamp_seq_len(seq, "max_position_embeddings", notes),
        norm_eps: in_f32("rms_norm_eps", norm_eps)?,
        rope_theta: in_f32("rope_theta", rope_theta.unwrap_or(HF_DEFAULT_ROPE_THETA))?,
        tied: cfg.bool("tie_word_embeddings")?.unwrap_or(false),
    };
    let end_of_text = end_of_text_ids(&cfg, config.vocab_size, notes);
    let title = cfg.str("_name_or_path").map(str::trim).filter(|n| !n.is_empty()).map(clip);
    Ok(HfConfig { config, end_of_text, title })
}

/// A config.json number as the f32 the model computes with: one that f32 cannot hold (1e39 would
/// be ∞, a nonzero 1e-50 would be 0) is named with its own value, under its own key.
fn in_f32(field: &'static str, v: f64) -> Result<f32, LmError> {
    crate::decimal::narrow_to_f32(v)
        .ok_or_else(|| bad(field, format!("{}: {}, in which the model computes", crate::decimal::short_text(v), crate::decimal::BEYOND_F32)))
}

/// A tensor's values as f32 (F32, F16 or BF16).
fn to_f32(name: &str, dtype: Dtype, data: &[u8]) -> Result<Vec<f32>, LmError> {
    Ok(match dtype {
        Dtype::F32 => f32_values(data),
        Dtype::F16 => data.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        Dtype::BF16 => data.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        other => {
            return Err(LmError::Tensor {
                name: name.to_string(),
                message: format!("dtype {other:?} is not supported: qplay reads F32, F16 and BF16"),
            })
        }
    })
}

/// Largest safetensors header read (JSON bytes): the plain reader's.
pub use crate::formats::safetensors::MAX_HEADER_BYTES;

/// Reads a Hugging Face Llama checkpoint: `config.json` and the `.safetensors` files (name, bytes).
pub fn read_hf(config_json: &[u8], shards: &[(&str, &[u8])]) -> Result<HfModel, LmError> {
    let mut notes = Vec::new();
    let HfConfig { config, end_of_text, title } = read_config(config_json, &mut notes)?;
    config.validate_named(HF_KEYS)?;
    if shards.is_empty() {
        return Err(LmError::Tensor { name: "model.safetensors".into(), message: "missing: no .safetensors file was given".into() });
    }
    let mut files = Vec::with_capacity(shards.len());
    for (name, bytes) in shards {
        check_file_size(bytes.len(), "a .safetensors file")?;
        // The container and header checks of the plain reader (the header's size bounds the
        // memory its parse takes); the size was checked just above.
        let header = SafetensorsHeader::parse(bytes, usize::MAX).map_err(|e| {
            let why = match e {
                FormatError::Malformed { message, .. } => message,
                other => other.to_string(),
            };
            malformed(FORMAT, format!("{}: {why}", clip(name)))
        })?;
        files.push(header);
    }
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, st) in files.iter().enumerate() {
        for name in st.names() {
            if index.insert(name.clone(), i).is_some() {
                return Err(malformed(FORMAT, format!("tensor {} is in two of the files", clip(&name))));
            }
        }
    }
    let c = &config;
    let hd = c.head_dim();
    let locate = |role: Role| -> Result<safetensors::tensor::TensorView<'_>, LmError> {
        let name = hf_name(role);
        let missing = || LmError::Tensor { name: name.clone(), message: "missing from the .safetensors file(s)".into() };
        let &i = index.get(&name).ok_or_else(missing)?;
        let view = files[i].tensor(&name).ok_or_else(missing)?;
        let want = role.shape(c);
        if view.shape() != want.as_slice() {
            return Err(LmError::Tensor {
                name,
                message: format!("shape {:?}, the configuration needs {want:?}", view.shape()),
            });
        }
        if !matches!(view.dtype(), Dtype::F32 | Dtype::F16 | Dtype::BF16) {
            return to_f32(&name, view.dtype(), &[]).map(|_| view);
        }
        Ok(view)
    };
    // Every tensor present, with the right shape and dtype, before any is converted.
    let roles = Role::all(c);
    for &role in &roles {
        locate(role)?;
    }
    if c.tied && index.contains_key("lm_head.weight") {
        notes.push("lm_head.weight ignored: tie_word_embeddings is true, the output head is the embedding".into());
    }
    let mut used: std::collections::HashSet<String> = roles.iter().map(|&r| hf_name(r)).collect();
    used.insert("lm_head.weight".into());
    let mut ignored: Vec<&String> = index.keys().filter(|n| !used.contains(*n)).collect();
    ignored.sort();
    // A projection's bias (Qwen2's q/k/v, attention_bias or mlp_bias left out of the config)
    // changes every output: left out, the model would run, and be another model.
    if let Some(b) = ignored.iter().find(|n| n.ends_with("_proj.bias")) {
        return Err(LmError::Tensor {
            name: clip(b),
            message: "a projection with a bias (as Qwen2's attention has): qplay runs Llama's Linears, which have none, and would compute another model without it".into(),
        });
    }
    if !ignored.is_empty() {
        let list: Vec<String> = ignored.iter().take(5).map(|n| clip(n)).collect();
        let more = if ignored.len() > 5 { format!(" and {} more", ignored.len() - 5) } else { String::new() };
        notes.push(format!("ignored tensors: {}{more}", list.join(", ")));
    }
    notes.push(format!(
        "q_proj and k_proj un-permuted from Hugging Face's rotate-half layout to the interleaved one ({} and {} heads of {hd})",
        c.n_heads, c.n_kv_heads
    ));
    let weights = assemble(config.clone(), None, |role, shape| {
        let view = locate(role)?;
        let name = hf_name(role);
        let values = to_f32(&name, view.dtype(), view.data())?;
        check_finite(&name, &values)?;
        Ok(match role {
            Role::Wq(_) => rotate_half_to_interleaved(&values, c.n_heads, hd, shape[1]),
            Role::Wk(_) => rotate_half_to_interleaved(&values, c.n_kv_heads, hd, shape[1]),
            _ => values,
        })
    })?;
    Ok(HfModel { weights, notes, end_of_text, title })
}

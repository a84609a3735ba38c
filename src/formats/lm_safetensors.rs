//! A quantized language model ([`QuantizedLm`]) as a `.safetensors` file of packed integers and
//! their scales (the AutoGPTQ / AutoAWQ way of shipping a quantized checkpoint), and back.
//! Reading the file gives the same integers, scales and minimums bit for bit, hence the same
//! dequantized weights and the same outputs.
//!
//! ```text
//! N = rows (output features), K = columns (input features), g = group size (g | K; g = K per channel),
//! G = K / g groups per row, o = the integer offset, b = 8 or 4 bits
//!
//! w[n, k] = scales[n, k / g] · (q[n, k] − o) + min[n, k / g]          (min = 0 when absent)
//! ```
//!
//! Tensors of a Linear `L` on qplay's integer kernels (`layers.{l}.attention.wq`, …, `output`,
//! `tok_embeddings` when it is quantized):
//!
//! ```text
//! L.qweight   packing "i8":            I8 [N, K], q = the signed integer, o = 0
//!             packing "u4_low_first":  U8 [N, K / 2], two 4-bit unsigned q ∈ [0, 15] per byte:
//!                                      byte j of a row = q[n, 2j] in bits 0–3 | q[n, 2j + 1] << 4;
//!                                      o = 8 (symmetric, q − 8 ∈ [−8, 7]) or 0 (with a minimum)
//! L.scales    F32 [N, G] (F16 [N, G] for llama.cpp's Q8_0 / Q4_0 / Q4_1, whose scales are f16)
//! L.min       [N, G], the scales' dtype: asymmetric grids only (RTN --asym, Q4_1)
//! ```
//!
//! (8-bit asymmetric RTN stores q − 128 with the shift folded into the minimum, see
//! [`crate::quant::grouped`]: the formula above holds as written.) Every other Linear is a float
//! tensor `L.weight` [N, K]: F32 (FP32, skipped layers, and the fake-quant values of bit widths
//! without an integer kernel, whose integers are not kept), F16 or BF16 (the f16 / bf16 formats,
//! exactly their values). Norms are F32: `layers.{l}.attention_norm.weight`,
//! `layers.{l}.ffn_norm.weight`, `norm.weight`; the embedding is F32 `tok_embeddings.weight` unless
//! quantized. A tied model has no `output` tensors.
//!
//! Metadata (`__metadata__`, all strings): the model configuration as in qplay's FP32 files
//! (`dim`, `n_layers`, … [`crate::lm::LmConfig::to_metadata`]), `format` = [`FORMAT_NAME`],
//! `qplay.version`, `qplay.method`, `qplay.quant_config` (the [`LmQuantConfig`] as JSON),
//! `qplay.dequantize` (the formula above in words) and `qplay.layers`: a JSON list describing
//! every Linear ([`LinearEntry`]: its storage, bits, group, symmetric, offset, packing, scale dtype),
//! enough to unpack the file without this code (scripts/check_lm_safetensors.py does so).

use std::collections::HashMap;

use half::{bf16, f16};
use safetensors::Dtype;
use serde::{Deserialize, Serialize};

use super::quantized::{pack_bits, unpack_bits};
use super::safetensors::{write_raw, RawTensor, SafetensorsHeader};
use super::FormatError;
use crate::lm::{Block, Embedding, LmConfig, LmLinear, LmModel};
use crate::ptq::lm::{grouped_from_levels, LmQuantConfig, QuantizedLm};
use crate::quant::grouped::{GroupedWeights, ScaleFormat};

/// The value of the metadata key `format`.
pub const FORMAT_NAME: &str = "qplay-lm-packed";
/// Metadata key of the per-Linear descriptions ([`LinearEntry`] list as JSON).
pub const LAYERS_KEY: &str = "qplay.layers";
/// Metadata key of the quantization configuration as JSON.
pub const QUANT_CONFIG_KEY: &str = "qplay.quant_config";
/// Largest file read: 1 GiB.
pub const MAX_LM_SAFETENSORS_BYTES: usize = 1 << 30;

const DEQUANTIZE: &str = "w[n, k] = scales[n, k / group] * (q[n, k] - offset) + min[n, k / group] (min = 0 when absent); \
packing i8: I8 [N, K]; packing u4_low_first: U8 [N, K/2], byte j of a row holds column 2j in bits 0-3 and column 2j+1 in bits 4-7";

/// How `L.qweight` holds the integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LmPacking {
    /// I8 [N, K], one signed integer per value.
    I8,
    /// U8 [N, K / 2], column 2j in the low nibble of byte j, column 2j + 1 in the high nibble.
    U4LowFirst,
}

/// One Linear's description in the metadata.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "storage", rename_all = "snake_case", deny_unknown_fields)]
pub enum LinearEntry {
    /// Integers and scales: `name.qweight`, `name.scales` (and `name.min`).
    Packed {
        name: String,
        rows: usize,
        cols: usize,
        /// qplay's label of the format ("W4 g32", "q4_0", …).
        format: String,
        bits: u8,
        group: usize,
        /// False when the grid has a minimum (`name.min`).
        symmetric: bool,
        offset: u8,
        packing: LmPacking,
        /// "F32" or "F16": the dtype of `name.scales` and `name.min`.
        scale_dtype: String,
        /// The activations are quantized to int8 per token and group before the product (W8A8 / W4A8).
        int8_acts: bool,
        /// With int8 activations: their static scale (one for every token and group), if calibrated.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        act_scale: Option<f32>,
    },
    /// Float values: `name.weight`.
    Float {
        name: String,
        rows: usize,
        cols: usize,
        format: String,
        /// "F32", "F16" or "BF16".
        dtype: String,
        /// The bytes the format takes (the packed size of a simulated grid).
        bytes: usize,
        /// A simulated grid with int8 activations (W3A8 …): the activations' group.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        acts_group: Option<usize>,
        /// With int8 activations: their static scale, if calibrated.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        act_scale: Option<f32>,
    },
}

impl LinearEntry {
    pub fn name(&self) -> &str {
        match self {
            LinearEntry::Packed { name, .. } | LinearEntry::Float { name, .. } => name,
        }
    }
}

/// A file read back: the executable model, the Linears' descriptions and the settings.
pub struct LmPackedFile {
    pub model: LmModel,
    pub layers: Vec<LinearEntry>,
    pub quant_config: LmQuantConfig,
}

fn malformed(message: impl Into<String>) -> FormatError {
    FormatError::Malformed { format: "packed language-model .safetensors", message: message.into() }
}

fn raw(name: String, dtype: Dtype, shape: &[usize], data: Vec<u8>) -> RawTensor {
    RawTensor { name, dtype, shape: shape.to_vec(), data }
}

/// f32 values as `dtype` (F16 / BF16 only for values that are exactly such numbers).
fn floats(name: String, dtype: Dtype, shape: &[usize], v: &[f32]) -> RawTensor {
    let data = match dtype {
        Dtype::F16 => v.iter().flat_map(|&x| f16::from_f32(x).to_le_bytes()).collect(),
        Dtype::BF16 => v.iter().flat_map(|&x| bf16::from_f32(x).to_le_bytes()).collect(),
        _ => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
    };
    raw(name, dtype, shape, data)
}

/// Every Linear of the model with its tensor prefix: the embedding when quantized, the blocks',
/// and the output head unless tied.
pub fn named_linears(m: &LmModel) -> Vec<(String, &LmLinear)> {
    let mut v = Vec::new();
    if let Embedding::Linear(l) = &m.embedding {
        v.push(("tok_embeddings".to_string(), l));
    }
    for (i, b) in m.blocks.iter().enumerate() {
        v.extend(b.linears().into_iter().map(|(n, l)| (format!("layers.{i}.{n}"), l)));
    }
    if !m.config.tied {
        v.push(("output".to_string(), &m.output));
    }
    v
}

/// The integers q [N, K] of grouped weights as stored in the file (u, before the offset).
fn stored_integers(w: &GroupedWeights) -> Result<Vec<i32>, FormatError> {
    let mut q = Vec::with_capacity(w.n * w.k);
    for r in 0..w.n {
        for c in 0..w.k {
            let i = w.int_at(r, c).ok_or_else(|| malformed(format!("integer ({r}, {c}) is missing")))?;
            q.push(i + w.offset as i32);
        }
    }
    Ok(q)
}

fn linear_tensors(name: &str, l: &LmLinear, out: &mut Vec<RawTensor>) -> Result<LinearEntry, FormatError> {
    let (n, k) = (l.n(), l.k());
    match l {
        LmLinear::Grouped { w, int8_acts, format, act_scale, .. } => {
            w.validate().map_err(|e| FormatError::Export(format!("layer {name}: {e}")))?;
            let q = stored_integers(w)?;
            let (packing, dtype, shape, data) = if w.bits == 8 {
                (LmPacking::I8, Dtype::I8, vec![n, k], q.iter().map(|&v| v as i8 as u8).collect())
            } else {
                // pack_bits at 4 bits: value j of a row at bits 4j … 4j + 3, i.e. the low nibble first.
                (LmPacking::U4LowFirst, Dtype::U8, vec![n, k / 2], pack_bits(&q, n, 4))
            };
            out.push(raw(format!("{name}.qweight"), dtype, &shape, data));
            let sd = match w.scale_format {
                ScaleFormat::F32 => Dtype::F32,
                ScaleFormat::F16 => Dtype::F16,
            };
            let g = w.groups();
            out.push(floats(format!("{name}.scales"), sd, &[n, g], &w.scale));
            if let Some(min) = &w.min {
                out.push(floats(format!("{name}.min"), sd, &[n, g], min));
            }
            Ok(LinearEntry::Packed {
                name: name.into(),
                rows: n,
                cols: k,
                format: format.clone(),
                bits: w.bits,
                group: w.group,
                symmetric: w.min.is_none(),
                offset: w.offset,
                packing,
                scale_dtype: format!("{sd:?}"),
                int8_acts: *int8_acts,
                act_scale: *act_scale,
            })
        }
        LmLinear::Float { format, stored_bytes, acts_group, act_scale, .. } => {
            let mut v = vec![0f32; n * k];
            for (r, row) in v.chunks_exact_mut(k.max(1)).enumerate() {
                l.row(r, row).map_err(|e| FormatError::Export(format!("layer {name}: {e}")))?;
            }
            let dtype = match format.as_str() {
                "f16" => Dtype::F16,
                "bf16" => Dtype::BF16,
                _ => Dtype::F32,
            };
            out.push(floats(format!("{name}.weight"), dtype, &[n, k], &v));
            Ok(LinearEntry::Float { name: name.into(), rows: n, cols: k, format: format.clone(), dtype: format!("{dtype:?}"), bytes: *stored_bytes, acts_group: *acts_group, act_scale: *act_scale })
        }
    }
}

/// Writes the quantized model (see the module header); `alphabet` is the character tokenizer's,
/// stored as `qplay.alphabet` when given.
pub fn write_lm_safetensors(q: &QuantizedLm, alphabet: Option<&str>) -> Result<Vec<u8>, FormatError> {
    let m = &q.model;
    let c = &m.config;
    let mut tensors = Vec::new();
    if let Embedding::F32(e) = &m.embedding {
        tensors.push(RawTensor::f32("tok_embeddings.weight", &[c.vocab_size, c.dim], e));
    }
    for (i, b) in m.blocks.iter().enumerate() {
        tensors.push(RawTensor::f32(format!("layers.{i}.attention_norm.weight"), &[c.dim], &b.attention_norm));
        tensors.push(RawTensor::f32(format!("layers.{i}.ffn_norm.weight"), &[c.dim], &b.ffn_norm));
    }
    tensors.push(RawTensor::f32("norm.weight", &[c.dim], &m.norm));
    let mut entries = Vec::new();
    for (name, l) in named_linears(m) {
        entries.push(linear_tensors(&name, l, &mut tensors)?);
    }
    let mut meta: HashMap<String, String> = c.to_metadata();
    meta.insert("format".into(), FORMAT_NAME.into());
    meta.insert("qplay.version".into(), env!("CARGO_PKG_VERSION").into());
    meta.insert("qplay.method".into(), q.config.method.name().into());
    meta.insert("qplay.dequantize".into(), DEQUANTIZE.into());
    meta.insert(QUANT_CONFIG_KEY.into(), serde_json::to_string(&q.config).expect("a configuration serialises"));
    meta.insert(LAYERS_KEY.into(), serde_json::to_string(&entries).expect("layer entries serialise"));
    if let Some(a) = alphabet {
        meta.insert(crate::lm::weights::ALPHABET_KEY.into(), a.into());
    }
    write_raw(&tensors, meta)
}

/// Typed access to the tensors, each checked for its dtype and shape.
struct Tensors<'a>(SafetensorsHeader<'a>);

impl<'a> Tensors<'a> {
    fn data(&self, name: &str, dtype: Dtype, shape: &[usize]) -> Result<&'a [u8], FormatError> {
        let t = self.0.tensor(name).ok_or_else(|| malformed(format!("the file has no tensor \"{name}\"")))?;
        if t.dtype() != dtype || t.shape() != shape {
            return Err(malformed(format!("tensor \"{name}\" is {:?} {:?}; {dtype:?} {shape:?} was expected", t.dtype(), t.shape())));
        }
        Ok(t.data())
    }

    /// F32, F16 or BF16 values as f32 (each exactly), every one finite (weights, norms, scales
    /// and minimums alike: a NaN would only show later, as activations that overflow).
    fn floats(&self, name: &str, dtype: Dtype, shape: &[usize]) -> Result<Vec<f32>, FormatError> {
        let d = self.data(name, dtype, shape)?;
        let v: Vec<f32> = match dtype {
            Dtype::F16 => d.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
            Dtype::BF16 => d.chunks_exact(2).map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
            _ => d.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        };
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(malformed(format!("tensor {name}: value #{} is {}, not a finite number", i + 1, v[i])));
        }
        Ok(v)
    }
}

fn dtype_of(s: &str, allowed: &[Dtype]) -> Result<Dtype, FormatError> {
    allowed.iter().copied().find(|d| format!("{d:?}") == s).ok_or_else(|| malformed(format!("dtype {s} is not one of {allowed:?}")))
}

/// A static activation scale read from the metadata: positive and finite, on int8 activations.
fn checked_act_scale(s: Option<f32>, int8_acts: bool) -> Result<Option<f32>, String> {
    match s {
        Some(v) if !int8_acts => Err(format!("static activation scale {v} without int8 activations")),
        Some(v) if !(v.is_finite() && v > 0.0) => Err(format!("static activation scale {v} is not a positive finite number")),
        s => Ok(s),
    }
}

fn read_linear(t: &Tensors, e: &LinearEntry, n: usize, k: usize) -> Result<LmLinear, FormatError> {
    let what = |m: String| malformed(format!("layer {}: {m}", e.name()));
    match e {
        LinearEntry::Packed { name, rows, cols, format, bits, group, symmetric, offset, packing, scale_dtype, int8_acts, act_scale } => {
            if (*rows, *cols) != (n, k) {
                return Err(what(format!("shape [{rows}, {cols}]; the configuration says [{n}, {k}]")));
            }
            if *group == 0 || !k.is_multiple_of(*group) {
                return Err(what(format!("group {group} does not divide {k}")));
            }
            let u: Vec<i32> = match (bits, packing) {
                (8, LmPacking::I8) => t.data(&format!("{name}.qweight"), Dtype::I8, &[n, k])?.iter().map(|&b| b as i8 as i32).collect(),
                (4, LmPacking::U4LowFirst) if k.is_multiple_of(2) => {
                    unpack_bits(t.data(&format!("{name}.qweight"), Dtype::U8, &[n, k / 2])?, n, k, 4, false)
                }
                _ => return Err(what(format!("{bits} bits with packing {packing:?}"))),
            };
            let sd = dtype_of(scale_dtype, &[Dtype::F32, Dtype::F16])?;
            let scale = t.floats(&format!("{name}.scales"), sd, &[n, k / group])?;
            let min = if *symmetric { None } else { Some(t.floats(&format!("{name}.min"), sd, &[n, k / group])?) };
            let levels: Vec<i32> = u.iter().map(|&q| q - *offset as i32).collect();
            let sf = if sd == Dtype::F16 { ScaleFormat::F16 } else { ScaleFormat::F32 };
            let w = grouped_from_levels(&levels, n, k, *group, *bits, scale, min, sf).map_err(|err| what(err.to_string()))?;
            if w.offset != *offset {
                return Err(what(format!("offset {offset}; a {bits}-bit grid {} a minimum has offset {}", if *symmetric { "without" } else { "with" }, w.offset)));
            }
            let mut linear = LmLinear::grouped(w, *int8_acts, format.clone());
            linear.set_act_scale(checked_act_scale(*act_scale, *int8_acts).map_err(what)?);
            Ok(linear)
        }
        LinearEntry::Float { name, rows, cols, format, dtype, bytes, acts_group, act_scale } => {
            if (*rows, *cols) != (n, k) {
                return Err(what(format!("shape [{rows}, {cols}]; the configuration says [{n}, {k}]")));
            }
            let d = dtype_of(dtype, &[Dtype::F32, Dtype::F16, Dtype::BF16])?;
            let v = t.floats(&format!("{name}.weight"), d, &[n, k])?;
            let linear = LmLinear::float(&v, n, k, *bytes, format.clone());
            let mut linear = match *acts_group {
                None => linear,
                Some(g) if g > 0 && k.is_multiple_of(g) => linear.with_int8_acts(g),
                Some(g) => return Err(what(format!("activation group {g} does not divide its {k} inputs"))),
            };
            linear.set_act_scale(checked_act_scale(*act_scale, acts_group.is_some()).map_err(what)?);
            Ok(linear)
        }
    }
}

/// Reads a file written by [`write_lm_safetensors`] into an executable model.
pub fn read_lm_safetensors(bytes: &[u8]) -> Result<LmPackedFile, FormatError> {
    let header = SafetensorsHeader::parse(bytes, MAX_LM_SAFETENSORS_BYTES)?;
    let metadata = header.metadata();
    if metadata.get("format").map(String::as_str) != Some(FORMAT_NAME) {
        return Err(malformed(format!("metadata \"format\" is not \"{FORMAT_NAME}\": not a packed model written by qplay")));
    }
    let get = |key: &str| metadata.get(key).ok_or_else(|| malformed(format!("no \"{key}\" metadata")));
    let c = LmConfig::from_metadata(&metadata).map_err(|e| malformed(e.to_string()))?;
    let quant_config: LmQuantConfig = serde_json::from_str(get(QUANT_CONFIG_KEY)?).map_err(|e| malformed(format!("{QUANT_CONFIG_KEY}: {e}")))?;
    let layers: Vec<LinearEntry> = serde_json::from_str(get(LAYERS_KEY)?).map_err(|e| malformed(format!("{LAYERS_KEY}: {e}")))?;
    let t = Tensors(header);
    let find = |name: &str| layers.iter().find(|e| e.name() == name).ok_or_else(|| malformed(format!("no layer \"{name}\" in {LAYERS_KEY}")));
    let norm = |name: String| -> Result<Vec<f32>, FormatError> { t.floats(&name, Dtype::F32, &[c.dim]) };
    let (d, kv, f, v) = (c.dim, c.kv_dim(), c.hidden_dim, c.vocab_size);
    let embedding_linear = layers.iter().any(|e| e.name() == "tok_embeddings");
    let embedding = if embedding_linear {
        Embedding::Linear(read_linear(&t, find("tok_embeddings")?, v, d)?)
    } else {
        Embedding::F32(t.floats("tok_embeddings.weight", Dtype::F32, &[v, d])?)
    };
    let mut blocks = Vec::with_capacity(c.n_layers);
    for l in 0..c.n_layers {
        let lin = |name: &str, n, k| read_linear(&t, find(&format!("layers.{l}.{name}"))?, n, k);
        blocks.push(Block {
            attention_norm: norm(format!("layers.{l}.attention_norm.weight"))?,
            wq: lin("attention.wq", d, d)?,
            wk: lin("attention.wk", kv, d)?,
            wv: lin("attention.wv", kv, d)?,
            wo: lin("attention.wo", d, d)?,
            ffn_norm: norm(format!("layers.{l}.ffn_norm.weight"))?,
            w1: lin("feed_forward.w1", f, d)?,
            w2: lin("feed_forward.w2", d, f)?,
            w3: lin("feed_forward.w3", f, d)?,
        });
    }
    let output = if c.tied {
        match &embedding {
            Embedding::Linear(l) => l.clone(),
            Embedding::F32(e) => LmLinear::f32(e, v, d),
        }
    } else {
        read_linear(&t, find("output")?, v, d)?
    };
    let model = LmModel::new(c.clone(), embedding, blocks, norm("norm.weight".into())?, output).map_err(|e| malformed(e.to_string()))?;
    Ok(LmPackedFile { model, layers, quant_config })
}

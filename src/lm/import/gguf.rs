//! GGUF (v2 and v3, little-endian) Llama models, read from a `&[u8]` without copying it:
//! the header, metadata and tensor infos are parsed into borrowed slices, every count and
//! length checked against the bytes left and a documented limit before anything is
//! allocated; only the f32 weights (after the configuration has passed
//! [`LmConfig::validate`], whose parameter limit bounds them) are allocated.
//! Specification: ggml's `docs/gguf.md`; cross-checked against the PyPI `gguf` package
//! (0.19.0, `gguf_reader.py` / `gguf_writer.py`).
//!
//! ```text
//! "GGUF" · u32 version (2, 3) · u64 n_tensors · u64 n_kv
//! n_kv × { string key · u32 value_type · value }       string = u64 len · len bytes (UTF-8)
//!        value: u8 i8 u16 i16 u32 i32 f32 bool(1 byte, 0|1) string u64 i64 f64
//!               array = u32 element_type · u64 count · count values (no nested arrays here)
//! n_tensors × { string name (≤ 64 B) · u32 n_dims (≤ 4) · u64 ne[n_dims] · u32 ggml_type · u64 offset }
//! padding to ALIGNMENT (`general.alignment`, u32 power of two, default 32)
//! tensor data: tensor i at data_start + offset_i (offset_i % ALIGNMENT == 0),
//!              ne[0] is the innermost (contiguous) dimension: a [out, in] matrix has ne = [in, out]
//! bytes = ne[0]·…·ne[n−1] / block_size · type_size          (F32 1/4, F16 1/2, Q8_0 32/34, Q4_0 32/18, Q4_1 32/20)
//! ```
//!
//! Nested arrays (an array of arrays) are refused, as llama.cpp's own reader (`gguf.cpp`)
//! refuses them: the parser walks the file once, with no recursion on input.
//! v1 files (32-bit counts) and big-endian files (their version field reads 0x0N000000)
//! are refused with a message.
//!
//! ## Llama models
//!
//! Metadata `general.architecture = "llama"`, `llama.embedding_length` (D), `llama.block_count`
//! (L), `llama.feed_forward_length` (F), `llama.attention.head_count` (H),
//! `llama.attention.head_count_kv` (Hkv, default H), `llama.attention.layer_norm_rms_epsilon`,
//! `llama.rope.freq_base` (default 10000, as llama.cpp), `llama.context_length` (clamped to
//! [`super::IMPORT_MAX_SEQ_LEN`] with a note); V from `token_embd.weight`'s shape (and, when present,
//! `tokenizer.ggml.tokens` and `llama.vocab_size` must agree with it). RoPE scaling,
//! `rope_freqs.weight`, partial rotary dimensions, other key / value head sizes and experts are
//! refused with a message.
//!
//! ```text
//! GGUF name                 qplay (Meta) role
//! token_embd.weight         tok_embeddings            blk.N.ffn_norm.weight    layers.N.ffn_norm
//! blk.N.attn_norm.weight    layers.N.attention_norm   blk.N.ffn_gate.weight    layers.N.feed_forward.w1
//! blk.N.attn_q/k/v.weight   layers.N.attention.wq/wk/wv blk.N.ffn_down.weight  layers.N.feed_forward.w2
//! blk.N.attn_output.weight  layers.N.attention.wo     blk.N.ffn_up.weight      layers.N.feed_forward.w3
//! output_norm.weight        norm                      output.weight            output (absent: tied)
//! ```
//!
//! **Rotary layout.** llama.cpp's `convert_hf_to_gguf.py` (`LlamaModel.modify_tensors`)
//! applies `LlamaModel.permute` to `q_proj` (with H heads) and `k_proj` (with Hkv heads):
//! `w.reshape(n_head, 2, rows / n_head / 2, cols).swapaxes(1, 2).reshape(w.shape)`, the inverse
//! of the permutation Hugging Face's `convert_llama_weights_to_hf.py` applies to Meta's
//! weights. GGUF `attn_q` / `attn_k` are therefore in Meta's interleaved layout (rotated pairs
//! (x[2i], x[2i+1]), llama.cpp's `LLAMA_ROPE_TYPE_NORM` for the llama architecture), which is
//! qplay's layout (src/lm/mod.rs): they are taken as they are. (The gguf spec's
//! `llama.tensor_data_layout` documents the same `permute`; the PyPI `gguf` package's
//! `GGUFWriter` stores tensors as it is given them and permutes nothing, so the layout is the
//! convert script's. The fixtures of tests/suite/lm_import.rs are written that way, from Meta-layout
//! weights, and give the reference's logits.)
//!
//! Tensor types read: F32, F16, BF16 (with `half`), Q8_0, Q4_0, Q4_1 (with
//! [`crate::quant::ggml`]), Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (with
//! [`crate::quant::ggml_read`]: a llama.cpp "Q4_K_M" file is Q4_K and Q6_K), all dequantized to
//! f32 on load; any other type (the IQ and TQ formats, MXFP4, …) is an error that names the
//! tensor and the type.

use std::collections::HashMap;

use half::{bf16, f16};

use super::assemble::{assemble, Role};
use super::cursor::{check_finite, clip, f32_values, malformed, Cursor};
use super::vocab::{Vocabulary, MAX_MERGES, MAX_VOCAB};
use super::{check_file_size, clamp_seq_len};
use crate::formats::FormatError;
use crate::lm::config::MAX_PARAMS;
use crate::lm::{LmConfig, LmError, LmWeights};
use crate::quant::ggml::{self, GgmlType};

/// The GGUF keys for qplay's configuration fields (the errors name the file's key).
const GGUF_KEYS: &[(&str, &str)] = &[
    ("dim", "llama.embedding_length"),
    ("n_layers", "llama.block_count"),
    ("n_heads", "llama.attention.head_count"),
    ("n_kv_heads", "llama.attention.head_count_kv"),
    ("hidden_dim", "llama.feed_forward_length"),
    ("vocab_size", "token_embd.weight's rows"),
    ("seq_len", "llama.context_length"),
    ("norm_eps", "llama.attention.layer_norm_rms_epsilon"),
    ("rope_theta", "llama.rope.freq_base"),
];
use crate::quant::ggml_read::{self, GgmlReadType};

const FORMAT: &str = "GGUF";

/// The file's first four bytes.
pub const GGUF_MAGIC: &[u8; 4] = b"GGUF";
/// The version [`crate::lm::import::gguf_write`] writes.
pub const GGUF_VERSION: u32 = 3;
/// `general.alignment` when the file does not say.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// Most tensors in a file (a 70 B Llama has 723).
pub const MAX_TENSORS: u64 = 1 << 16;
/// Most metadata key / value pairs.
pub const MAX_METADATA: u64 = 1 << 16;
/// Longest metadata key (the spec's limit).
pub const MAX_KEY_BYTES: u64 = 65_535;
/// Longest tensor name (the spec's limit, ggml's `GGML_MAX_NAME`).
pub const MAX_TENSOR_NAME_BYTES: u64 = 64;
/// Most dimensions of a tensor (ggml's `GGML_MAX_DIMS`).
pub const MAX_DIMS: u32 = 4;
/// Largest `general.alignment` accepted.
pub const MAX_ALIGNMENT: u64 = 1 << 20;
/// Most elements in one tensor: the whole model's parameter limit.
pub const MAX_TENSOR_ELEMENTS: u64 = MAX_PARAMS as u64;

// gguf_metadata_value_type (the writer uses the same ids)
const T_U8: u32 = 0;
const T_I8: u32 = 1;
const T_U16: u32 = 2;
const T_I16: u32 = 3;
pub(super) const T_U32: u32 = 4;
pub(super) const T_I32: u32 = 5;
pub(super) const T_F32: u32 = 6;
pub(super) const T_BOOL: u32 = 7;
pub(super) const T_STRING: u32 = 8;
pub(super) const T_ARRAY: u32 = 9;
const T_U64: u32 = 10;
const T_I64: u32 = 11;
const T_F64: u32 = 12;

/// ggml type ids of the types qplay reads.
pub const GGML_F32: u32 = 0;
pub const GGML_F16: u32 = 1;
pub const GGML_BF16: u32 = 30;

/// (name, values per block, bytes per block) of every ggml type the PyPI `gguf` package
/// 0.19.0 lists (`GGML_QUANT_SIZES`); sizes let the reader check the byte range of a tensor
/// of any type, even one it cannot dequantize.
pub fn ggml_type_info(id: u32) -> Option<(&'static str, u64, u64)> {
    Some(match id {
        0 => ("F32", 1, 4),
        1 => ("F16", 1, 2),
        2 => ("Q4_0", 32, 18),
        3 => ("Q4_1", 32, 20),
        6 => ("Q5_0", 32, 22),
        7 => ("Q5_1", 32, 24),
        8 => ("Q8_0", 32, 34),
        9 => ("Q8_1", 32, 40),
        10 => ("Q2_K", 256, 84),
        11 => ("Q3_K", 256, 110),
        12 => ("Q4_K", 256, 144),
        13 => ("Q5_K", 256, 176),
        14 => ("Q6_K", 256, 210),
        15 => ("Q8_K", 256, 292),
        16 => ("IQ2_XXS", 256, 66),
        17 => ("IQ2_XS", 256, 74),
        18 => ("IQ3_XXS", 256, 98),
        19 => ("IQ1_S", 256, 50),
        20 => ("IQ4_NL", 32, 18),
        21 => ("IQ3_S", 256, 110),
        22 => ("IQ2_S", 256, 82),
        23 => ("IQ4_XS", 256, 136),
        24 => ("I8", 1, 1),
        25 => ("I16", 1, 2),
        26 => ("I32", 1, 4),
        27 => ("I64", 1, 8),
        28 => ("F64", 1, 8),
        29 => ("IQ1_M", 256, 56),
        30 => ("BF16", 1, 2),
        34 => ("TQ1_0", 256, 54),
        35 => ("TQ2_0", 256, 66),
        39 => ("MXFP4", 32, 17),
        40 => ("NVFP4", 64, 36),
        41 => ("Q1_0", 128, 18),
        _ => return None,
    })
}

fn block_type(id: u32) -> Option<GgmlType> {
    [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0].into_iter().find(|t| t.id() == id)
}

/// A metadata value; strings and arrays borrow the file.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GgufValue<'a> {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    Str(&'a [u8]),
    U64(u64),
    I64(i64),
    F64(f64),
    /// `count` values of `elem` (a scalar type or strings) in `data`.
    Array { elem: u32, count: u64, data: &'a [u8] },
}

impl GgufValue<'_> {
    fn type_name(&self) -> &'static str {
        match self {
            GgufValue::U8(_) => "uint8",
            GgufValue::I8(_) => "int8",
            GgufValue::U16(_) => "uint16",
            GgufValue::I16(_) => "int16",
            GgufValue::U32(_) => "uint32",
            GgufValue::I32(_) => "int32",
            GgufValue::F32(_) => "float32",
            GgufValue::Bool(_) => "bool",
            GgufValue::Str(_) => "string",
            GgufValue::U64(_) => "uint64",
            GgufValue::I64(_) => "int64",
            GgufValue::F64(_) => "float64",
            GgufValue::Array { .. } => "array",
        }
    }

    /// An integer of any width, as i128 (exact).
    fn integer(&self) -> Option<i128> {
        Some(match *self {
            GgufValue::U8(v) => v as i128,
            GgufValue::I8(v) => v as i128,
            GgufValue::U16(v) => v as i128,
            GgufValue::I16(v) => v as i128,
            GgufValue::U32(v) => v as i128,
            GgufValue::I32(v) => v as i128,
            GgufValue::U64(v) => v as i128,
            GgufValue::I64(v) => v as i128,
            _ => return None,
        })
    }
}

/// One tensor's entry in the file, with its data range checked.
#[derive(Clone, Debug, PartialEq)]
pub struct GgufTensorInfo<'a> {
    pub name: &'a str,
    /// ne[0..n_dims]: ne[0] is the innermost dimension.
    pub dims: Vec<u64>,
    pub ggml_type: u32,
    pub elements: u64,
    /// The data: `bytes[start..start + len]` of the file.
    pub start: usize,
    pub len: usize,
}

impl GgufTensorInfo<'_> {
    /// The type's name (every type in the file is known: [`ggml_type_info`]).
    pub fn type_name(&self) -> &'static str {
        ggml_type_info(self.ggml_type).map_or("?", |t| t.0)
    }
}

/// A parsed GGUF file: metadata in file order, tensor infos, and the bytes they borrow.
#[derive(Clone, Debug)]
pub struct GgufFile<'a> {
    pub version: u32,
    pub alignment: u64,
    pub metadata: Vec<(&'a str, GgufValue<'a>)>,
    pub tensors: Vec<GgufTensorInfo<'a>>,
    /// Where the tensor data section starts.
    pub data_start: u64,
    keys: HashMap<&'a str, usize>,
    names: HashMap<&'a str, usize>,
    bytes: &'a [u8],
}

/// Fixed byte size of a scalar value type.
fn scalar_size(ty: u32) -> Option<u64> {
    Some(match ty {
        T_U8 | T_I8 | T_BOOL => 1,
        T_U16 | T_I16 => 2,
        T_U32 | T_I32 | T_F32 => 4,
        T_U64 | T_I64 | T_F64 => 8,
        _ => return None,
    })
}

fn utf8(bytes: &[u8], what: impl FnOnce() -> String) -> Result<&str, LmError> {
    std::str::from_utf8(bytes).map_err(|_| malformed(FORMAT, format!("{} is not valid UTF-8", what())))
}

/// Reads one value of type `ty` (no nested arrays).
fn read_value<'a>(c: &mut Cursor<'a>, ty: u32, key: &str) -> Result<GgufValue<'a>, LmError> {
    // The key (up to 64 KiB) is cut once: each message costs O(80), not O(key), per read.
    let key = &clip(key);
    let what = |s: &str| format!("{s} of metadata key {key}");
    let v = match ty {
        T_U8 => GgufValue::U8(c.u8(&what("the value"))?),
        T_I8 => GgufValue::I8(c.u8(&what("the value"))? as i8),
        T_U16 => GgufValue::U16(c.u16(&what("the value"))?),
        T_I16 => GgufValue::I16(c.u16(&what("the value"))? as i16),
        T_U32 => GgufValue::U32(c.u32(&what("the value"))?),
        T_I32 => GgufValue::I32(c.i32(&what("the value"))?),
        T_F32 => GgufValue::F32(c.f32(&what("the value"))?),
        T_U64 => GgufValue::U64(c.u64(&what("the value"))?),
        T_I64 => GgufValue::I64(c.u64(&what("the value"))? as i64),
        T_F64 => GgufValue::F64(f64::from_bits(c.u64(&what("the value"))?)),
        T_BOOL => match c.u8(&what("the value"))? {
            0 => GgufValue::Bool(false),
            1 => GgufValue::Bool(true),
            b => return Err(c.error(format!("metadata key {}: a bool must be 0 or 1, not {b}", key))),
        },
        T_STRING => {
            let n = c.u64(&what("the string length"))?;
            GgufValue::Str(c.take(n, &what("the string"))?)
        }
        T_ARRAY => {
            let elem = c.u32(&what("the array's element type"))?;
            let count = c.u64(&what("the array's length"))?;
            let start = c.pos();
            if let Some(size) = scalar_size(elem) {
                let n = count.checked_mul(size).ok_or_else(|| {
                    c.error(format!("metadata key {}: an array of {count} values cannot fit in a file", key))
                })?;
                let data = c.take(n, &what("the array"))?;
                return Ok(GgufValue::Array { elem, count, data });
            }
            match elem {
                T_STRING => {
                    // Each string takes at least its 8-byte length: bound the count first.
                    if count > (c.remaining() / 8) as u64 {
                        return Err(c.error(format!(
                            "the file is truncated: metadata key {} claims {count} strings, only {} bytes are left",
                            key,
                            c.remaining()
                        )));
                    }
                    let (length_what, string_what) = (what("a string length in the array"), what("a string in the array"));
                    for _ in 0..count {
                        let n = c.u64(&length_what)?;
                        c.take(n, &string_what)?;
                    }
                    return Ok(GgufValue::Array { elem, count, data: c.passed(start) });
                }
                T_ARRAY => {
                    return Err(c.error(format!(
                        "metadata key {}: arrays of arrays are not supported (llama.cpp refuses them too)",
                        key
                    )))
                }
                other => {
                    return Err(c.error(format!("metadata key {}: unknown array element type {other}", key)))
                }
            }
        }
        other => return Err(c.error(format!("metadata key {}: unknown value type {other}", key))),
    };
    Ok(v)
}

impl<'a> GgufFile<'a> {
    /// Parses the header, the metadata and the tensor infos; checks every tensor's data range.
    pub fn parse(bytes: &'a [u8]) -> Result<GgufFile<'a>, LmError> {
        check_file_size(bytes.len(), "the GGUF file")?;
        if bytes.len() < 4 {
            return Err(malformed(FORMAT, format!("the file is truncated: {} bytes, the magic alone takes 4", bytes.len())));
        }
        if &bytes[..4] != GGUF_MAGIC {
            return Err(LmError::Format(FormatError::BadMagic { format: FORMAT }));
        }
        let mut c = Cursor::at(bytes, 4, FORMAT);
        let version = c.u32("the version")?;
        if version != 0 && version & 0xFFFF == 0 {
            return Err(c.error(format!(
                "the version field reads {version:#010x}: a big-endian GGUF file, which qplay does not read"
            )));
        }
        match version {
            2 | 3 => {}
            1 => return Err(c.error("GGUF v1 (32-bit counts) is not supported: only v2 and v3 are")),
            v => return Err(c.error(format!("GGUF version {v} is not supported: only v2 and v3 are"))),
        }
        let n_tensors = c.u64("the tensor count")?;
        let n_kv = c.u64("the metadata count")?;
        if n_tensors > MAX_TENSORS {
            return Err(c.error(format!("{n_tensors} tensors: the limit is {MAX_TENSORS}")));
        }
        if n_kv > MAX_METADATA {
            return Err(c.error(format!("{n_kv} metadata entries: the limit is {MAX_METADATA}")));
        }
        // A key / value pair takes at least 8 + 4 + 1 bytes, a tensor info 8 + 4 + 4 + 8.
        let least = n_kv as u128 * 13 + n_tensors as u128 * 24;
        if least > c.remaining() as u128 {
            return Err(c.error(format!(
                "the file is truncated: {n_kv} metadata entries and {n_tensors} tensor infos need at least {least} bytes, only {} are left",
                c.remaining()
            )));
        }
        let mut metadata = Vec::with_capacity(n_kv as usize);
        let mut keys = HashMap::with_capacity(n_kv as usize);
        for i in 0..n_kv {
            let n = c.u64(&format!("the length of metadata key {i}"))?;
            if n > MAX_KEY_BYTES {
                return Err(c.error(format!("metadata key {i} is {n} bytes long: the limit is {MAX_KEY_BYTES}")));
            }
            let key = utf8(c.take(n, &format!("metadata key {i}"))?, || format!("metadata key {i}"))?;
            let ty = c.u32(&format!("the value type of metadata key {}", clip(key)))?;
            let value = read_value(&mut c, ty, key)?;
            if keys.insert(key, metadata.len()).is_some() {
                return Err(c.error(format!("metadata key {} appears twice", clip(key))));
            }
            metadata.push((key, value));
        }
        let alignment = match keys.get("general.alignment").map(|&i| metadata[i].1) {
            None => DEFAULT_ALIGNMENT,
            Some(v) => match v.integer() {
                Some(a) if a > 0 && (a as u64).is_power_of_two() && a as u64 <= MAX_ALIGNMENT => a as u64,
                _ => {
                    return Err(c.error(format!(
                        "general.alignment must be a power of two up to {MAX_ALIGNMENT}, not {v:?}"
                    )))
                }
            },
        };
        let mut infos = Vec::with_capacity(n_tensors as usize);
        for i in 0..n_tensors {
            let n = c.u64(&format!("the name length of tensor {i}"))?;
            if n > MAX_TENSOR_NAME_BYTES {
                return Err(c.error(format!(
                    "the name of tensor {i} is {n} bytes long: the limit is {MAX_TENSOR_NAME_BYTES}"
                )));
            }
            let name = utf8(c.take(n, &format!("the name of tensor {i}"))?, || format!("the name of tensor {i}"))?;
            let n_dims = c.u32(&format!("the dimension count of tensor {name}"))?;
            if n_dims > MAX_DIMS {
                return Err(c.error(format!("tensor {name} has {n_dims} dimensions: the limit is {MAX_DIMS}")));
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims.push(c.u64(&format!("the dimensions of tensor {name}"))?);
            }
            let ggml_type = c.u32(&format!("the type of tensor {name}"))?;
            let offset = c.u64(&format!("the data offset of tensor {name}"))?;
            infos.push((name, dims, ggml_type, offset));
        }
        let end_of_infos = c.pos() as u64;
        // align_offset(x) = x + (ALIGNMENT − x % ALIGNMENT) % ALIGNMENT
        let data_start = end_of_infos + (alignment - end_of_infos % alignment) % alignment;
        let mut tensors = Vec::with_capacity(infos.len());
        let mut names = HashMap::with_capacity(infos.len());
        for (name, dims, ggml_type, offset) in infos {
            let (type_name, block, type_size) = ggml_type_info(ggml_type).ok_or_else(|| LmError::Tensor {
                name: name.to_string(),
                message: format!("unknown ggml type id {ggml_type}"),
            })?;
            let elements = dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
            let elements = match elements {
                Some(e) if e <= MAX_TENSOR_ELEMENTS => e,
                _ => {
                    let shown: u128 = dims.iter().fold(1u128, |a, &d| a.saturating_mul(d as u128));
                    return Err(LmError::TooLarge {
                        what: format!("tensor {name} ({shown} elements in f32)"),
                        bytes: shown.saturating_mul(4),
                        limit: MAX_TENSOR_ELEMENTS as u128 * 4,
                    });
                }
            };
            let ne0 = dims.first().copied().unwrap_or(1);
            if !ne0.is_multiple_of(block) {
                return Err(LmError::Tensor {
                    name: name.to_string(),
                    message: format!("rows of {ne0} values are not whole {type_name} blocks of {block}"),
                });
            }
            // elements ≤ 2^26 and type_size ≤ 292: no overflow.
            let len = elements / block * type_size;
            if offset % alignment != 0 {
                return Err(LmError::Tensor {
                    name: name.to_string(),
                    message: format!("data offset {offset} is not a multiple of the alignment {alignment}"),
                });
            }
            let start = data_start.checked_add(offset);
            let end = start.and_then(|s| s.checked_add(len));
            let (start, end) = match (start, end) {
                (Some(s), Some(e)) if e <= bytes.len() as u64 => (s, e),
                _ => {
                    return Err(LmError::Tensor {
                        name: name.to_string(),
                        message: format!(
                            "its {len} bytes of data at offset {offset} (file offset {}) run past the end of the file ({} bytes)",
                            data_start as u128 + offset as u128,
                            bytes.len()
                        ),
                    })
                }
            };
            if names.insert(name, tensors.len()).is_some() {
                return Err(malformed(FORMAT, format!("tensor {} appears twice", clip(name))));
            }
            tensors.push(GgufTensorInfo { name, dims, ggml_type, elements, start: start as usize, len: (end - start) as usize });
        }
        // Tensors must not share bytes.
        let mut order: Vec<usize> = (0..tensors.len()).filter(|&i| tensors[i].len > 0).collect();
        order.sort_by_key(|&i| tensors[i].start);
        for pair in order.windows(2) {
            let (a, b) = (&tensors[pair[0]], &tensors[pair[1]]);
            if b.start < a.start + a.len {
                return Err(malformed(FORMAT, format!("the data of tensors {} and {} overlap", a.name, b.name)));
            }
        }
        Ok(GgufFile { version, alignment, metadata, tensors, data_start, keys, names, bytes })
    }

    pub fn get(&self, key: &str) -> Option<&GgufValue<'a>> {
        self.keys.get(key).map(|&i| &self.metadata[i].1)
    }

    pub fn tensor(&self, name: &str) -> Option<&GgufTensorInfo<'a>> {
        self.names.get(name).map(|&i| &self.tensors[i])
    }

    /// The raw bytes of a tensor.
    pub fn data(&self, t: &GgufTensorInfo<'a>) -> &'a [u8] {
        &self.bytes[t.start..t.start + t.len]
    }

    /// A tensor's values as f32 (F32, F16, BF16, Q8_0, Q4_0, Q4_1, and the formats of
    /// [`crate::quant::ggml_read`]: Q5_0, Q5_1, Q2_K … Q6_K), checked finite.
    pub fn dequantize(&self, t: &GgufTensorInfo<'a>) -> Result<Vec<f32>, LmError> {
        check_readable(t)?;
        let data = self.data(t);
        let values = match t.ggml_type {
            GGML_F32 => f32_values(data),
            GGML_F16 => data.chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            GGML_BF16 => data.chunks_exact(2).map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            id => {
                let quant = |error| LmError::Quant { tensor: t.name.to_string(), error };
                match (block_type(id), GgmlReadType::from_id(id)) {
                    (Some(ty), _) => ggml::dequantize(ty, data).map_err(quant)?,
                    (None, Some(ty)) => ggml_read::dequantize(ty, data).map_err(quant)?,
                    (None, None) => return Err(unsupported(t)),
                }
            }
        };
        check_finite(t.name, &values)?;
        Ok(values)
    }

    /// An integer metadata value of any width, as usize.
    pub fn usize_of(&self, key: &'static str) -> Result<Option<usize>, LmError> {
        let Some(v) = self.get(key) else { return Ok(None) };
        match v.integer() {
            Some(i) if i >= 0 => usize::try_from(i)
                .map(Some)
                .map_err(|_| LmError::Config { field: key, message: format!("{i} is too large") }),
            Some(i) => Err(LmError::Config { field: key, message: format!("{i} must not be negative") }),
            None => Err(LmError::Config {
                field: key,
                message: match v {
                    GgufValue::Array { .. } => "per-layer values (an array) are not supported".into(),
                    _ => format!("a {} where an integer was expected", v.type_name()),
                },
            }),
        }
    }

    fn required_usize(&self, key: &'static str) -> Result<usize, LmError> {
        self.usize_of(key)?.ok_or(LmError::Config { field: key, message: "missing from the file's metadata".into() })
    }

    /// A float metadata value (float32 or float64).
    pub fn f64_of(&self, key: &'static str) -> Result<Option<f64>, LmError> {
        match self.get(key) {
            None => Ok(None),
            Some(GgufValue::F32(v)) => Ok(Some(*v as f64)),
            Some(GgufValue::F64(v)) => Ok(Some(*v)),
            Some(v) => Err(LmError::Config { field: key, message: format!("a {} where a float was expected", v.type_name()) }),
        }
    }

    /// A string metadata value.
    pub fn str_of(&self, key: &'static str) -> Result<Option<&'a str>, LmError> {
        match self.get(key) {
            None => Ok(None),
            Some(GgufValue::Str(s)) => Ok(Some(utf8(s, || key.to_string())?)),
            Some(v) => Err(LmError::Config { field: key, message: format!("a {} where a string was expected", v.type_name()) }),
        }
    }

    /// An array of strings (each as bytes), at most `cap` of them.
    fn strings_of(&self, key: &'static str, cap: usize) -> Result<Option<Vec<&'a [u8]>>, LmError> {
        let Some(&v) = self.get(key) else { return Ok(None) };
        let GgufValue::Array { elem: T_STRING, count, data } = v else {
            return Err(LmError::Config { field: key, message: format!("a {} where an array of strings was expected", v.type_name()) });
        };
        if count > cap as u64 {
            return Err(LmError::Config { field: key, message: format!("{count} entries: the limit is {cap}") });
        }
        let mut c = Cursor::new(data, FORMAT);
        let mut out = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let n = c.u64(key)?;
            out.push(c.take(n, key)?);
        }
        Ok(Some(out))
    }

    /// An array of 32-bit numbers, one of the element types in `types`, decoded by `f`.
    fn words_of<T>(&self, key: &'static str, types: &[u32], cap: usize, f: impl Fn([u8; 4]) -> T) -> Result<Option<Vec<T>>, LmError> {
        let Some(&v) = self.get(key) else { return Ok(None) };
        match v {
            GgufValue::Array { elem, count, data } if types.contains(&elem) => {
                if count > cap as u64 {
                    return Err(LmError::Config { field: key, message: format!("{count} entries: the limit is {cap}") });
                }
                Ok(Some(data.chunks_exact(4).map(|b| f([b[0], b[1], b[2], b[3]])).collect()))
            }
            _ => Err(LmError::Config { field: key, message: format!("a {} where an array of 32-bit numbers was expected", v.type_name()) }),
        }
    }
}

/// The error for a tensor whose type qplay does not dequantize.
fn unsupported(t: &GgufTensorInfo<'_>) -> LmError {
    LmError::Tensor {
        name: t.name.to_string(),
        message: format!(
            "type {} ({}) is not supported: qplay reads F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K and Q6_K",
            t.type_name(),
            t.ggml_type
        ),
    }
}

fn check_readable(t: &GgufTensorInfo<'_>) -> Result<(), LmError> {
    match t.ggml_type {
        GGML_F32 | GGML_F16 | GGML_BF16 => Ok(()),
        id if block_type(id).is_some() || GgmlReadType::from_id(id).is_some() => Ok(()),
        _ => Err(unsupported(t)),
    }
}

/// The GGUF name of a role.
pub fn gguf_name(role: Role) -> String {
    match role {
        Role::TokEmbeddings => "token_embd.weight".into(),
        Role::AttentionNorm(l) => format!("blk.{l}.attn_norm.weight"),
        Role::Wq(l) => format!("blk.{l}.attn_q.weight"),
        Role::Wk(l) => format!("blk.{l}.attn_k.weight"),
        Role::Wv(l) => format!("blk.{l}.attn_v.weight"),
        Role::Wo(l) => format!("blk.{l}.attn_output.weight"),
        Role::FfnNorm(l) => format!("blk.{l}.ffn_norm.weight"),
        Role::W1(l) => format!("blk.{l}.ffn_gate.weight"),
        Role::W2(l) => format!("blk.{l}.ffn_down.weight"),
        Role::W3(l) => format!("blk.{l}.ffn_up.weight"),
        Role::Norm => "output_norm.weight".into(),
        Role::Output => "output.weight".into(),
    }
}

/// ggml's dimensions of a [out, in] (or [n]) shape: reversed, ne[0] = in.
fn ggml_dims(shape: &[usize]) -> Vec<u64> {
    shape.iter().rev().map(|&d| d as u64).collect()
}

/// `dims` equal to `want`, up to trailing dimensions of 1 (ggml tensors are 4-D at heart).
fn same_dims(dims: &[u64], want: &[u64]) -> bool {
    let n = dims.len().max(want.len());
    (0..n).all(|i| dims.get(i).copied().unwrap_or(1) == want.get(i).copied().unwrap_or(1))
}

/// A GGUF Llama model: its weights, its vocabulary (when the file has `tokenizer.ggml.tokens`),
/// the format version, and notes on what was assumed or ignored.
#[derive(Clone, Debug)]
pub struct GgufModel {
    pub weights: LmWeights,
    pub vocab: Option<Vocabulary>,
    pub version: u32,
    pub notes: Vec<String>,
    /// The quantized types the file stored ("Q4_0 ×44"), dequantized on load; None when every
    /// tensor was a float.
    pub dequantized: Option<String>,
    /// `general.name`, the model's name as its maker wrote it (cut to 80 characters).
    pub title: Option<String>,
}

/// The metadata keys that mean a RoPE or attention variant qplay does not run.
const REFUSED_KEYS: [(&str, &str); 5] = [
    ("llama.rope.scale_linear", "linear RoPE scaling"),
    ("llama.rope.scaling.factor", "RoPE scaling"),
    ("llama.expert_count", "a mixture of experts"),
    ("llama.attention.key_length", "a key head size other than D / H"),
    ("llama.attention.value_length", "a value head size other than D / H"),
];

/// Reads a Llama GGUF model.
pub fn read_gguf(bytes: &[u8]) -> Result<GgufModel, LmError> {
    let f = GgufFile::parse(bytes)?;
    let mut notes = Vec::new();
    let arch = f
        .str_of("general.architecture")?
        .ok_or(LmError::Config { field: "general.architecture", message: "missing from the file's metadata".into() })?;
    if arch != "llama" {
        return Err(LmError::Config {
            field: "general.architecture",
            message: format!("{:?}: only \"llama\" models are supported", clip(arch)),
        });
    }
    let dim = f.required_usize("llama.embedding_length")?;
    let n_layers = f.required_usize("llama.block_count")?;
    let hidden_dim = f.required_usize("llama.feed_forward_length")?;
    let n_heads = f.required_usize("llama.attention.head_count")?;
    let n_kv_heads = f.usize_of("llama.attention.head_count_kv")?.unwrap_or(n_heads);
    let norm_eps = f.f64_of("llama.attention.layer_norm_rms_epsilon")?.ok_or(LmError::Config {
        field: "llama.attention.layer_norm_rms_epsilon",
        message: "missing from the file's metadata".into(),
    })?;
    let rope_theta = match f.f64_of("llama.rope.freq_base")? {
        Some(v) => v,
        None => {
            notes.push("llama.rope.freq_base is absent: 10000 assumed (llama.cpp's default)".into());
            10000.0
        }
    };
    let context = f.required_usize("llama.context_length")?;
    let head_dim = dim.checked_div(n_heads).unwrap_or(0);
    if let Some(r) = f.usize_of("llama.rope.dimension_count")? {
        if r != head_dim {
            return Err(LmError::Config {
                field: "llama.rope.dimension_count",
                message: format!("{r} rotary dimensions per head of {head_dim}: partial rotary embeddings are not supported"),
            });
        }
    }
    if let Some(t) = f.str_of("llama.rope.scaling.type")? {
        if t != "none" {
            return Err(LmError::Config {
                field: "llama.rope.scaling.type",
                message: format!("{:?}: RoPE scaling is not supported", clip(t)),
            });
        }
    }
    for (key, what) in REFUSED_KEYS {
        let Some(v) = f.get(key) else { continue };
        let neutral = match (key, v) {
            ("llama.expert_count", v) => v.integer() == Some(0),
            ("llama.attention.key_length" | "llama.attention.value_length", v) => v.integer() == Some(head_dim as i128),
            (_, GgufValue::F32(x)) => *x == 1.0 || *x == 0.0,
            (_, GgufValue::F64(x)) => *x == 1.0 || *x == 0.0,
            _ => false,
        };
        if !neutral {
            return Err(LmError::Config { field: key, message: format!("{v:?}: {what} is not supported") });
        }
    }
    if f.tensor("rope_freqs.weight").is_some() {
        return Err(LmError::Tensor {
            name: "rope_freqs.weight".into(),
            message: "per-frequency RoPE factors (Llama 3.1-style scaling) are not supported".into(),
        });
    }
    // V from the embedding: ne = [D, V].
    let embd = f.tensor("token_embd.weight").ok_or(LmError::Tensor {
        name: "token_embd.weight".into(),
        message: "missing from the file".into(),
    })?;
    let vocab_size = match embd.dims.as_slice() {
        [d, v, rest @ ..] if rest.iter().all(|&x| x == 1) && *d == dim as u64 => usize::try_from(*v).unwrap_or(usize::MAX),
        _ => {
            return Err(LmError::Tensor {
                name: "token_embd.weight".into(),
                message: format!(
                    "shape {:?} (ggml order, ne[0] first), [{dim}, vocabulary size] expected ({dim}: llama.embedding_length)",
                    embd.dims
                ),
            })
        }
    };
    if let Some(v) = f.usize_of("llama.vocab_size")? {
        if v != vocab_size {
            return Err(LmError::Config {
                field: "llama.vocab_size",
                message: format!("{v}, but token_embd.weight has {vocab_size} rows"),
            });
        }
    }
    let tied = f.tensor("output.weight").is_none();
    if tied {
        notes.push("no output.weight: the output head is tied to token_embd.weight".into());
    }
    let config = LmConfig {
        dim,
        n_layers,
        n_heads,
        n_kv_heads,
        hidden_dim,
        vocab_size,
        seq_len: clamp_seq_len(context, "llama.context_length", &mut notes),
        norm_eps: norm_eps as f32,
        rope_theta: rope_theta as f32,
        tied,
    };
    config.validate_named(GGUF_KEYS)?;
    let vocab = read_vocab(&f, vocab_size)?;
    let alphabet = match f.str_of("qplay.alphabet") {
        Ok(Some(a)) if a.chars().count() <= vocab_size => Some(a.to_string()),
        Ok(Some(_)) | Err(_) => {
            notes.push("qplay.alphabet ignored: not a string of at most V characters".into());
            None
        }
        Ok(None) => None,
    };
    // Every tensor present, of a readable type and the right shape, before any is dequantized.
    let roles = Role::all(&config);
    for &role in &roles {
        locate(&f, role, &config)?;
    }
    let used: std::collections::HashSet<String> = roles.iter().map(|&r| gguf_name(r)).collect();
    let ignored: Vec<&str> = f.tensors.iter().map(|t| t.name).filter(|n| !used.contains(*n)).collect();
    if !ignored.is_empty() {
        let shown: Vec<String> = ignored.iter().take(5).map(|n| clip(n)).collect();
        let more = if ignored.len() > 5 { format!(" and {} more", ignored.len() - 5) } else { String::new() };
        notes.push(format!("ignored tensors: {}{more}", shown.join(", ")));
    }
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    for &role in &roles {
        let name = locate(&f, role, &config)?.type_name();
        match counts.iter_mut().find(|(n, _)| *n == name) {
            Some((_, k)) => *k += 1,
            None => counts.push((name, 1)),
        }
    }
    let types: Vec<String> = counts.iter().map(|(n, k)| format!("{n} ×{k}")).collect();
    notes.push(format!("GGUF v{}: {} tensors read ({})", f.version, roles.len(), types.join(", ")));
    let quantized: Vec<String> = counts.iter().filter(|(n, _)| !matches!(*n, "F32" | "F16" | "BF16")).map(|(n, k)| format!("{n} ×{k}")).collect();
    let dequantized = (!quantized.is_empty()).then(|| quantized.join(", "));
    let weights = assemble(config.clone(), alphabet, |role, _| f.dequantize(locate(&f, role, &config)?))?;
    // The model's own name: shown beside the file's, never needed, so a malformed one is a note.
    let title = match f.str_of("general.name") {
        Ok(name) => name.map(str::trim).filter(|n| !n.is_empty()).map(clip),
        Err(e) => {
            notes.push(format!("general.name not shown: {e}"));
            None
        }
    };
    Ok(GgufModel { weights, vocab, version: f.version, notes, dequantized, title })
}

/// The tensor of `role`: present, of a readable type, with the shape the configuration needs.
fn locate<'f, 'a>(f: &'f GgufFile<'a>, role: Role, c: &LmConfig) -> Result<&'f GgufTensorInfo<'a>, LmError> {
    let name = gguf_name(role);
    let t = f.tensor(&name).ok_or_else(|| LmError::Tensor { name: name.clone(), message: "missing from the file".into() })?;
    let want = ggml_dims(&role.shape(c));
    if !same_dims(&t.dims, &want) {
        return Err(LmError::Tensor {
            name,
            message: format!("shape {:?} (ggml order, ne[0] first), the configuration needs {want:?}", t.dims),
        });
    }
    check_readable(t)?;
    Ok(t)
}

/// `tokenizer.ggml.*`, when the file has a token list.
fn read_vocab(f: &GgufFile<'_>, vocab_size: usize) -> Result<Option<Vocabulary>, LmError> {
    let Some(tokens) = f.strings_of("tokenizer.ggml.tokens", MAX_VOCAB)? else { return Ok(None) };
    let n = tokens.len();
    if n != vocab_size {
        return Err(LmError::Config {
            field: "tokenizer.ggml.tokens",
            message: format!("{n} tokens, but token_embd.weight has {vocab_size} rows"),
        });
    }
    let same_length = |field: &'static str, len: usize| {
        if len == n {
            Ok(())
        } else {
            Err(LmError::Config { field, message: format!("{len} entries for {n} tokens") })
        }
    };
    let scores = f.words_of("tokenizer.ggml.scores", &[T_F32], MAX_VOCAB, f32::from_le_bytes)?.unwrap_or_default();
    if !scores.is_empty() {
        same_length("tokenizer.ggml.scores", scores.len())?;
    }
    let token_types =
        f.words_of("tokenizer.ggml.token_type", &[T_I32, T_U32], MAX_VOCAB, i32::from_le_bytes)?.unwrap_or_default();
    if !token_types.is_empty() {
        same_length("tokenizer.ggml.token_type", token_types.len())?;
    }
    let merges = match f.strings_of("tokenizer.ggml.merges", MAX_MERGES)? {
        None => Vec::new(),
        Some(m) => m
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                std::str::from_utf8(s).map(str::to_string).map_err(|_| LmError::Config {
                    field: "tokenizer.ggml.merges",
                    message: format!("merge {i} is not valid UTF-8"),
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let id = |key: &'static str| -> Result<Option<u32>, LmError> {
        match f.usize_of(key)? {
            None => Ok(None),
            Some(i) if i < n => Ok(Some(i as u32)),
            Some(i) => Err(LmError::Config { field: key, message: format!("id {i} is not below the {n} tokens") }),
        }
    };
    let add_bos = match f.get("tokenizer.ggml.add_bos_token") {
        Some(GgufValue::Bool(b)) => Some(*b),
        _ => None,
    };
    Ok(Some(Vocabulary {
        model: f.str_of("tokenizer.ggml.model")?.map(str::to_string),
        tokens: tokens.into_iter().map(<[u8]>::to_vec).collect(),
        scores,
        token_types,
        merges,
        bos_id: id("tokenizer.ggml.bos_token_id")?,
        eos_id: id("tokenizer.ggml.eos_token_id")?,
        unknown_id: id("tokenizer.ggml.unknown_token_id")?,
        padding_id: id("tokenizer.ggml.padding_token_id")?,
        add_bos,
        max_token_length: None,
        pre: f.str_of("tokenizer.ggml.pre")?.map(str::to_string),
        add_space_prefix: match f.get("tokenizer.ggml.add_space_prefix") {
            Some(GgufValue::Bool(b)) => Some(*b),
            _ => None,
        },
    }))
}

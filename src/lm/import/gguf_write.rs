//! A model as a Llama GGUF v3 file that llama.cpp and the PyPI `gguf` package read:
//! norms in F32, every matrix (and the token embedding) in F32, F16 or a ggml block
//! format quantized by [`crate::quant::ggml`] (bit-exact with ggml's reference
//! quantizers), tensors in [`LmWeights::tensors`] order under their GGUF names
//! ([`super::gguf::gguf_name`]), q / k kept in the interleaved layout GGUF expects.
//!
//! ```text
//! "GGUF" · u32 3 · u64 n_tensors · u64 n_kv
//! metadata: general.architecture "llama" · general.name (the model's own, else its file's) · general.file_type (u32: 0 F32, 1 F16,
//!   2 Q4_0, 3 Q4_1, 7 Q8_0) · general.quantization_version 2 (block formats) ·
//!   llama.vocab_size · context_length · embedding_length · block_count · feed_forward_length ·
//!   rope.dimension_count · attention.head_count · attention.head_count_kv (u32) ·
//!   attention.layer_norm_rms_epsilon · rope.freq_base (f32) · qplay.alphabet (string, when the
//!   model has a character alphabet) · tokenizer.ggml.* (the vocabulary given in a form llama.cpp
//!   knows: GGUF's as it is, llama2.c's as "llama", a tokenizer.json's as "gpt2", see
//!   [`gguf_vocabulary`]; else the alphabet as a "llama" vocabulary, [`Vocabulary::from_alphabet`]:
//!   llama.cpp refuses a file without one)
//! tensor infos: name · n_dims · ne (ne[0] = in) · type · offset (multiples of 32)
//! zero padding to 32 · tensor data, each padded to 32
//! ```
//!
//! Integers are written as the `gguf` package's `GGUFWriter` writes them (u32 for counts and
//! ids, i32 token types, f32 scores), so `GGUFReader` reads back the same values.

use std::borrow::Cow;

use half::f16;

use super::assemble::Role;
use super::gguf::{gguf_name, DEFAULT_ALIGNMENT, GGML_F16, GGML_F32, GGUF_MAGIC, GGUF_VERSION, T_ARRAY, T_BOOL, T_F32, T_I32, T_STRING, T_U32};
use super::tokenizer::gguf_vocabulary;
use super::vocab::{RawVocab, Vocabulary};
use crate::lm::weights::ALPHABET_KEY;
use crate::lm::{LmError, LmWeights};
use crate::quant::ggml::{self, GgmlType, QK};

/// The storage of the matrices (norms are always F32).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GgufWeightType {
    F32,
    /// IEEE half, rounded to nearest even (numpy's `astype(float16)`).
    F16,
    /// A ggml block format (Q8_0, Q4_0, Q4_1): rows must be whole blocks of 32.
    Block(GgmlType),
}

impl GgufWeightType {
    /// The ggml type id.
    pub fn ggml_type(self) -> u32 {
        match self {
            GgufWeightType::F32 => GGML_F32,
            GgufWeightType::F16 => GGML_F16,
            GgufWeightType::Block(t) => t.id(),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            GgufWeightType::F32 => "F32",
            GgufWeightType::F16 => "F16",
            GgufWeightType::Block(t) => t.name(),
        }
    }

    /// `general.file_type` (llama_ftype: ALL_F32 0, MOSTLY_F16 1, Q4_0 2, Q4_1 3, Q8_0 7).
    pub fn file_type(self) -> u32 {
        match self {
            GgufWeightType::F32 => 0,
            GgufWeightType::F16 => 1,
            GgufWeightType::Block(GgmlType::Q4_0) => 2,
            GgufWeightType::Block(GgmlType::Q4_1) => 3,
            GgufWeightType::Block(GgmlType::Q8_0) => 7,
        }
    }

    /// Parses "f32", "f16", "q8_0", "q4_0", "q4_1" (any case).
    pub fn parse(s: &str) -> Option<GgufWeightType> {
        Some(match s.to_ascii_lowercase().as_str() {
            "f32" => GgufWeightType::F32,
            "f16" => GgufWeightType::F16,
            "q8_0" => GgufWeightType::Block(GgmlType::Q8_0),
            "q4_0" => GgufWeightType::Block(GgmlType::Q4_0),
            "q4_1" => GgufWeightType::Block(GgmlType::Q4_1),
            _ => return None,
        })
    }
}

/// GGML_QNT_VERSION.
const QUANTIZATION_VERSION: u32 = 2;

/// Little-endian GGUF serialisation helpers.
#[derive(Default)]
struct Out {
    bytes: Vec<u8>,
    n_kv: u64,
}

impl Out {
    fn u32(&mut self, v: u32) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    fn string(&mut self, s: &[u8]) {
        self.u64(s.len() as u64);
        self.bytes.extend_from_slice(s);
    }
    fn key(&mut self, key: &str, ty: u32) {
        self.n_kv += 1;
        self.string(key.as_bytes());
        self.u32(ty);
    }
    fn kv_u32(&mut self, key: &str, v: u32) {
        self.key(key, T_U32);
        self.u32(v);
    }
    fn kv_f32(&mut self, key: &str, v: f32) {
        self.key(key, T_F32);
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    fn kv_bool(&mut self, key: &str, v: bool) {
        self.key(key, T_BOOL);
        self.bytes.push(v as u8);
    }
    fn kv_str(&mut self, key: &str, v: &str) {
        self.key(key, T_STRING);
        self.string(v.as_bytes());
    }
    fn kv_array_header(&mut self, key: &str, elem: u32, count: usize) {
        self.key(key, T_ARRAY);
        self.u32(elem);
        self.u64(count as u64);
    }
    fn pad_to(&mut self, alignment: usize) {
        let pad = (alignment - self.bytes.len() % alignment) % alignment;
        self.bytes.resize(self.bytes.len() + pad, 0);
    }
}

/// u32 of a validated dimension (every dimension is far below 2^32 once validated).
fn u32_of(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// The bytes of one tensor in `ty`, with a typed error naming it when the type cannot hold it.
fn encode(name: &str, values: &[f32], cols: usize, ty: GgufWeightType) -> Result<Vec<u8>, LmError> {
    match ty {
        GgufWeightType::F32 => Ok(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
        GgufWeightType::F16 => {
            let mut out = Vec::with_capacity(2 * values.len());
            for (i, &v) in values.iter().enumerate() {
                let h = f16::from_f32(v);
                if h.is_infinite() {
                    return Err(LmError::Tensor {
                        name: name.to_string(),
                        message: format!("value {i} ({v}) overflows F16 (largest 65504)"),
                    });
                }
                out.extend_from_slice(&h.to_le_bytes());
            }
            Ok(out)
        }
        GgufWeightType::Block(t) => {
            if !cols.is_multiple_of(QK) {
                return Err(LmError::Tensor {
                    name: name.to_string(),
                    message: format!("rows of {cols} values are not whole {} blocks of {QK}", t.name()),
                });
            }
            let bytes = ggml::quantize(t, values).map_err(|error| LmError::Quant { tensor: name.to_string(), error })?;
            // The f16 block scale (and Q4_1's f16 minimum) must be finite for the file to read back.
            let scales = if t == GgmlType::Q4_1 { 2 } else { 1 };
            for (b, block) in bytes.chunks_exact(t.type_size()).enumerate() {
                for s in 0..scales {
                    if f16::from_le_bytes([block[2 * s], block[2 * s + 1]]).is_infinite() {
                        return Err(LmError::Tensor {
                            name: name.to_string(),
                            message: format!("block {b}'s f16 scale overflows: values too large for {}", t.name()),
                        });
                    }
                }
            }
            Ok(bytes)
        }
    }
}

/// Writes `w` as a Llama GGUF v3 file named `name` (`general.name`, cut to 80 characters),
/// matrices in `ty`, with `vocab` as `tokenizer.ggml.*` (in GGUF's form, [`gguf_vocabulary`]: a
/// tokenizer it cannot carry is an error). Without `vocab` or an alphabet the file has no
/// tokenizer keys.
pub fn write_gguf(w: &LmWeights, name: &str, ty: GgufWeightType, vocab: Option<&RawVocab>) -> Result<Vec<u8>, LmError> {
    w.validate()?;
    let c = &w.config;
    let mut out = Out::default();
    // Header; the counts are patched at the end.
    out.bytes.extend_from_slice(GGUF_MAGIC);
    out.u32(GGUF_VERSION);
    out.u64(0);
    out.u64(0);
    out.kv_str("general.architecture", "llama");
    out.kv_str("general.name", &crate::clip::clip(name.trim(), 80));
    out.kv_u32("general.file_type", ty.file_type());
    if matches!(ty, GgufWeightType::Block(_)) {
        out.kv_u32("general.quantization_version", QUANTIZATION_VERSION);
    }
    out.kv_u32("llama.vocab_size", u32_of(c.vocab_size));
    out.kv_u32("llama.context_length", u32_of(c.seq_len));
    out.kv_u32("llama.embedding_length", u32_of(c.dim));
    out.kv_u32("llama.block_count", u32_of(c.n_layers));
    out.kv_u32("llama.feed_forward_length", u32_of(c.hidden_dim));
    out.kv_u32("llama.rope.dimension_count", u32_of(c.head_dim()));
    out.kv_u32("llama.attention.head_count", u32_of(c.n_heads));
    out.kv_u32("llama.attention.head_count_kv", u32_of(c.n_kv_heads));
    out.kv_f32("llama.attention.layer_norm_rms_epsilon", c.norm_eps);
    out.kv_f32("llama.rope.freq_base", c.rope_theta);
    if let Some(a) = &w.alphabet {
        out.kv_str(ALPHABET_KEY, a);
    }
    // llama.cpp needs a vocabulary it knows: the files' own in GGUF's form, else the alphabet's.
    let gguf_vocab = match (vocab, &w.alphabet) {
        (Some(raw), _) => Some(gguf_vocabulary(raw, c.vocab_size)?),
        (None, Some(a)) => Some(Cow::Owned(Vocabulary::from_alphabet(a, c.vocab_size)?)),
        (None, None) => None,
    };
    if let Some(v) = &gguf_vocab {
        write_vocab(&mut out, v, c.vocab_size)?;
    }
    // Tensor data first (to know the offsets), then the infos.
    let alignment = DEFAULT_ALIGNMENT as usize;
    let mut data: Vec<u8> = Vec::new();
    let mut infos: Vec<(String, Vec<usize>, u32, u64)> = Vec::new();
    for role in Role::all(c) {
        let name = gguf_name(role);
        let shape = role.shape(c);
        let values = role_values(w, role);
        let t = if role.is_norm() { GgufWeightType::F32 } else { ty };
        let cols = *shape.last().unwrap_or(&1);
        let bytes = encode(&name, values, cols, t)?;
        infos.push((name, shape, t.ggml_type(), data.len() as u64));
        data.extend_from_slice(&bytes);
        let pad = (alignment - data.len() % alignment) % alignment;
        data.resize(data.len() + pad, 0);
    }
    for (name, shape, t, offset) in &infos {
        out.string(name.as_bytes());
        out.u32(shape.len() as u32);
        for &d in shape.iter().rev() {
            out.u64(d as u64); // ne[0] = the innermost dimension
        }
        out.u32(*t);
        out.u64(*offset);
    }
    out.pad_to(alignment);
    out.bytes.extend_from_slice(&data);
    let (n_tensors, n_kv) = (infos.len() as u64, out.n_kv);
    out.bytes[8..16].copy_from_slice(&n_tensors.to_le_bytes());
    out.bytes[16..24].copy_from_slice(&n_kv.to_le_bytes());
    Ok(out.bytes)
}

/// The weights of a role.
fn role_values(w: &LmWeights, role: Role) -> &[f32] {
    match role {
        Role::TokEmbeddings => &w.tok_embeddings,
        Role::AttentionNorm(l) => &w.layers[l].attention_norm,
        Role::Wq(l) => &w.layers[l].wq,
        Role::Wk(l) => &w.layers[l].wk,
        Role::Wv(l) => &w.layers[l].wv,
        Role::Wo(l) => &w.layers[l].wo,
        Role::FfnNorm(l) => &w.layers[l].ffn_norm,
        Role::W1(l) => &w.layers[l].w1,
        Role::W2(l) => &w.layers[l].w2,
        Role::W3(l) => &w.layers[l].w3,
        Role::Norm => &w.norm,
        Role::Output => w.output_weights(),
    }
}

/// `tokenizer.ggml.*` from a vocabulary (tokens must be UTF-8, as GGUF strings are).
fn write_vocab(out: &mut Out, v: &Vocabulary, vocab_size: usize) -> Result<(), LmError> {
    let n = v.tokens.len();
    let bad = |field: &'static str, message: String| LmError::Config { field, message };
    if n != vocab_size {
        return Err(bad("tokenizer.ggml.tokens", format!("{n} tokens for a vocabulary of {vocab_size}")));
    }
    for (field, len) in [("tokenizer.ggml.scores", v.scores.len()), ("tokenizer.ggml.token_type", v.token_types.len())] {
        if len != 0 && len != n {
            return Err(bad(field, format!("{len} entries for {n} tokens")));
        }
    }
    if let Some(i) = v.tokens.iter().position(|t| std::str::from_utf8(t).is_err()) {
        return Err(bad("tokenizer.ggml.tokens", format!("token {i} is not valid UTF-8, which GGUF strings must be")));
    }
    if let Some(m) = &v.model {
        out.kv_str("tokenizer.ggml.model", m);
    }
    out.kv_array_header("tokenizer.ggml.tokens", T_STRING, n);
    for t in &v.tokens {
        out.string(t);
    }
    if !v.scores.is_empty() {
        out.kv_array_header("tokenizer.ggml.scores", T_F32, n);
        for s in &v.scores {
            out.bytes.extend_from_slice(&s.to_le_bytes());
        }
    }
    if !v.token_types.is_empty() {
        out.kv_array_header("tokenizer.ggml.token_type", T_I32, n);
        for t in &v.token_types {
            out.bytes.extend_from_slice(&t.to_le_bytes());
        }
    }
    if !v.merges.is_empty() {
        out.kv_array_header("tokenizer.ggml.merges", T_STRING, v.merges.len());
        for m in &v.merges {
            out.string(m.as_bytes());
        }
    }
    for (key, id) in [
        ("tokenizer.ggml.bos_token_id", v.bos_id),
        ("tokenizer.ggml.eos_token_id", v.eos_id),
        ("tokenizer.ggml.unknown_token_id", v.unknown_id),
        ("tokenizer.ggml.padding_token_id", v.padding_id),
    ] {
        if let Some(id) = id {
            if id as usize >= n {
                return Err(LmError::Config { field: "tokenizer.ggml", message: format!("{key} {id} is not below the {n} tokens") });
            }
            out.kv_u32(key, id);
        }
    }
    if let Some(b) = v.add_bos {
        out.kv_bool("tokenizer.ggml.add_bos_token", b);
    }
    if let Some(b) = v.add_space_prefix {
        out.kv_bool("tokenizer.ggml.add_space_prefix", b);
    }
    if let Some(p) = &v.pre {
        out.kv_str("tokenizer.ggml.pre", p);
    }
    Ok(())
}

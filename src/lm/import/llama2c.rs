//! llama2.c checkpoints (`model.bin`, versions 0, 1 and 2) and its `tokenizer.bin`, as
//! llama2.c's `export.py` writes them and `run.c` / `runq.c` read them. All values are
//! little-endian; tensors are stacked by kind across layers (every layer's wq, then every
//! layer's wk, …), each [out, in] row-major, already in Meta's interleaved RoPE layout.
//!
//! ```text
//! header (7 × i32): dim D, hidden_dim F, n_layers L, n_heads H, n_kv_heads Hkv, vocab_size V, seq_len T
//!
//! v0 (legacy_export, run.c): header (28 B); V < 0 means an unshared classifier (|V| is the vocabulary)
//!    f32: tok_embeddings [V,D] · attention_norm L×[D] · wq L×[D,D] · wk L×[Hkv·hd,D] · wv L×[Hkv·hd,D]
//!         · wo L×[D,D] · ffn_norm L×[D] · w1 L×[F,D] · w2 L×[D,F] · w3 L×[F,D] · norm [D]
//!         · freq_cis_real [T, hd/2] · freq_cis_imag [T, hd/2] (skipped) · output [V,D] when V < 0
//! v1 (version1_export): u32 magic 0x616b3432 ("ak42"; the file starts with the bytes "24ka")
//!    · i32 version · header · u8 shared_classifier · zeros to 256 B
//!    f32: attention_norm L×[D] · ffn_norm L×[D] · norm [D] · tok_embeddings · wq L · wk L · wv L
//!         · wo L · w1 L · w2 L · w3 L · output (unless shared)
//! v2 (version2_export, runq.c): magic · version · header · u8 shared_classifier · i32 group_size G
//!    (at byte 37, unaligned) · zeros to 256 B
//!    f32: attention_norm L×[D] · ffn_norm L×[D] · norm [D]
//!    Q8_0 per tensor, in v1's order from tok_embeddings on: i8 q[n] then f32 s[n / G]
//!         x[i] = q[i] · s[i / G]            (groups of G over the flattened tensor)
//! ```
//!
//! `run.c` fixes rms_norm_eps = 1e-5 and rope θ = 10000; so does this reader. The file's
//! length must be exactly what the header describes (a truncated file or one with trailing
//! bytes is an error that gives both sizes). seq_len is clamped to
//! [`super::IMPORT_MAX_SEQ_LEN`] with a note (the v0 tables are sized by the header's T).
//!
//! `tokenizer.bin` (llama2.c's `tokenizer.py`): i32 max_token_length, then per token
//! f32 score · i32 len · len bytes, until the end of the file.

use std::collections::HashMap;

use super::assemble::{assemble, Role};
use super::cursor::{check_finite, f32_values, malformed, Cursor};
use super::vocab::{Vocabulary, MAX_VOCAB};
use super::{check_file_size, clamp_seq_len};
use crate::lm::{LmConfig, LmError, LmWeights};

const FORMAT: &str = "llama2.c model.bin";
const TOKENIZER_FORMAT: &str = "llama2.c tokenizer.bin";

/// `0x616b3432` ("ak42"), written as a little-endian u32: the file's first bytes are `b"24ka"`.
pub const LLAMA2C_MAGIC: u32 = 0x616b_3432;
/// Header size of versions 1 and 2.
pub const VERSIONED_HEADER_BYTES: usize = 256;
/// Header size of version 0 (seven i32).
pub const LEGACY_HEADER_BYTES: usize = 28;
/// run.c's constants.
pub const LLAMA2C_NORM_EPS: f32 = 1e-5;
pub const LLAMA2C_ROPE_THETA: f32 = 10000.0;

/// Whether `bytes` start with the magic of a versioned (v1, v2) llama2.c checkpoint.
pub fn has_llama2c_magic(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) == LLAMA2C_MAGIC
}

/// Whether `bytes` read whole as a llama2.c `tokenizer.bin` with at least one token
/// ([`walk_tokenizer`]), without copying a token: so a tokenizer named `tok512.bin` (as llama2.c
/// ships for stories260K) is not taken for a model, whose floats read as lengths fail within a
/// few tokens. Linear in the file's length.
pub fn reads_as_llama2c_tokenizer(bytes: &[u8]) -> bool {
    walk_tokenizer(bytes, |_, _| ()).is_ok_and(|(_, count)| count > 0)
}

/// A llama2.c model: its weights, version and notes.
#[derive(Clone, Debug)]
pub struct Llama2cModel {
    pub weights: LmWeights,
    pub version: u32,
    pub notes: Vec<String>,
    /// Version 2's "Q8_0 (groups of G)", dequantized on load; None for version 0's floats.
    pub dequantized: Option<String>,
}

/// How a tensor is stored.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Storage {
    F32,
    /// int8 values then f32 scales, one per `group` values.
    Q8 { group: usize },
}

/// One stretch of the file: a tensor, or `n` f32 to skip (v0's RoPE tables).
#[derive(Clone, Copy, Debug)]
enum Segment {
    Tensor(Role, Storage),
    Skip(u128),
}

/// The seven header integers.
struct Header {
    dim: i32,
    hidden_dim: i32,
    n_layers: i32,
    n_heads: i32,
    n_kv_heads: i32,
    vocab_size: i32,
    seq_len: i32,
}

fn read_header(c: &mut Cursor<'_>) -> Result<Header, LmError> {
    Ok(Header {
        dim: c.i32("the header's dim")?,
        hidden_dim: c.i32("the header's hidden_dim")?,
        n_layers: c.i32("the header's n_layers")?,
        n_heads: c.i32("the header's n_heads")?,
        n_kv_heads: c.i32("the header's n_kv_heads")?,
        vocab_size: c.i32("the header's vocab_size")?,
        seq_len: c.i32("the header's seq_len")?,
    })
}

impl Header {
    /// The configuration (vocab_size as |V|); `seq_len` is the header's, unclamped.
    fn config(&self, tied: bool) -> Result<(LmConfig, usize), LmError> {
        let positive = |field: &'static str, v: i32| -> Result<usize, LmError> {
            if v > 0 {
                Ok(v as usize)
            } else {
                Err(LmError::Config { field, message: format!("{v} in the header: must be at least 1") })
            }
        };
        let vocab = self.vocab_size.unsigned_abs() as usize;
        if vocab == 0 {
            return Err(LmError::Config { field: "vocab_size", message: "0 in the header: must be at least 1".into() });
        }
        let seq_len = positive("seq_len", self.seq_len)?;
        Ok((
            LmConfig {
                dim: positive("dim", self.dim)?,
                n_layers: positive("n_layers", self.n_layers)?,
                n_heads: positive("n_heads", self.n_heads)?,
                n_kv_heads: positive("n_kv_heads", self.n_kv_heads)?,
                hidden_dim: positive("hidden_dim", self.hidden_dim)?,
                vocab_size: vocab,
                seq_len,
                norm_eps: LLAMA2C_NORM_EPS,
                rope_theta: LLAMA2C_ROPE_THETA,
                tied,
            },
            seq_len,
        ))
    }
}

/// Every role of one kind, for all layers.
fn stacked(c: &LmConfig, kind: fn(usize) -> Role) -> impl Iterator<Item = Role> {
    (0..c.n_layers).map(kind)
}

/// The file's segments after the header, in order.
fn layout(c: &LmConfig, version: u32, header_seq_len: usize, group: usize) -> Vec<Segment> {
    let t = |r: Role, s: Storage| Segment::Tensor(r, s);
    let mut v = Vec::new();
    match version {
        0 => {
            let f = Storage::F32;
            v.push(t(Role::TokEmbeddings, f));
            for kind in [Role::AttentionNorm, Role::Wq, Role::Wk, Role::Wv, Role::Wo, Role::FfnNorm, Role::W1, Role::W2, Role::W3] {
                v.extend(stacked(c, kind).map(|r| t(r, f)));
            }
            v.push(t(Role::Norm, f));
            // freq_cis_real and freq_cis_imag: [T, hd/2] each.
            v.push(Segment::Skip(2 * header_seq_len as u128 * (c.head_dim() / 2) as u128));
            if !c.tied {
                v.push(t(Role::Output, f));
            }
        }
        _ => {
            let m = if version == 2 { Storage::Q8 { group } } else { Storage::F32 };
            v.extend(stacked(c, Role::AttentionNorm).map(|r| t(r, Storage::F32)));
            v.extend(stacked(c, Role::FfnNorm).map(|r| t(r, Storage::F32)));
            v.push(t(Role::Norm, Storage::F32));
            v.push(t(Role::TokEmbeddings, m));
            for kind in [Role::Wq, Role::Wk, Role::Wv, Role::Wo, Role::W1, Role::W2, Role::W3] {
                v.extend(stacked(c, kind).map(|r| t(r, m)));
            }
            if !c.tied {
                v.push(t(Role::Output, m));
            }
        }
    }
    v
}

fn numel(r: Role, c: &LmConfig) -> usize {
    r.shape(c).iter().product()
}

/// Bytes of a segment (u128: the header is checked by [`LmConfig::validate`] first, but stay safe).
fn segment_bytes(s: Segment, c: &LmConfig) -> u128 {
    match s {
        Segment::Skip(n) => 4 * n,
        Segment::Tensor(r, Storage::F32) => 4 * numel(r, c) as u128,
        Segment::Tensor(r, Storage::Q8 { group }) => {
            let n = numel(r, c) as u128;
            n + 4 * (n / group.max(1) as u128)
        }
    }
}

/// What a llama2.c header describes, checked against the file: every byte accounted for.
struct Plan {
    version: u32,
    config: LmConfig,
    tied: bool,
    group: usize,
    data_start: usize,
    segments: Vec<Segment>,
    notes: Vec<String>,
}

/// Whether `bytes` are a llama2.c model: a header (v0, v1 or v2) whose layout is exactly the
/// file's length. Reads the header alone.
pub fn describes_a_model(bytes: &[u8]) -> bool {
    plan(bytes).is_ok()
}

/// Reads a llama2.c `model.bin` (v0, v1 or v2).
pub fn read_llama2c(bytes: &[u8]) -> Result<Llama2cModel, LmError> {
    let Plan { version, config, tied, group, data_start, segments, mut notes } = plan(bytes)?;
    let c_ = &config;
    // The whole file is accounted for: read the segments in order.
    let mut c = Cursor::at(bytes, data_start, FORMAT);
    let mut tensors: HashMap<Role, Vec<f32>> = HashMap::with_capacity(segments.len());
    for s in segments {
        match s {
            Segment::Skip(n) => {
                // 4·n ≤ the file's length: checked above.
                c.take((4 * n) as u64, "the RoPE tables")?;
            }
            Segment::Tensor(r, Storage::F32) => {
                let name = r.meta_name();
                let values = f32_values(c.take(4 * numel(r, c_) as u64, &name)?);
                check_finite(&name, &values)?;
                tensors.insert(r, values);
            }
            Segment::Tensor(r, Storage::Q8 { group }) => {
                let name = r.meta_name();
                let n = numel(r, c_);
                let q = c.take(n as u64, &name)?;
                let scales = f32_values(c.take(4 * (n / group) as u64, &name)?);
                // A NaN among the scales is most often int8 bytes read as f32: a file whose
                // tensors are laid out otherwise than runq.c reads them (values, then scales, per tensor).
                check_finite(&format!("{name} (scales)"), &scales).map_err(|e| match e {
                    LmError::NonFinite { tensor, index } => LmError::Tensor {
                        name: tensor,
                        message: format!(
                            "value {index} is NaN or infinite: a version-2 file stores each tensor's int8 values and then its f32 scales (runq.c's layout, as llama2.c's export.py writes it now); a file that stores them otherwise reads as garbage here"
                        ),
                    },
                    e => e,
                })?;
                // x[i] = q[i] · s[i / G]
                let values: Vec<f32> = q.iter().enumerate().map(|(i, &q)| q as i8 as f32 * scales[i / group]).collect();
                tensors.insert(r, values);
            }
        }
    }
    if tied {
        notes.push("shared classifier: the output head is the token embedding".into());
    }
    if version == 2 {
        notes.push(format!("Q8_0 weights (groups of {group}) dequantized to f32; the norms are f32"));
    }
    let weights = assemble(config, None, |role, _| {
        tensors.remove(&role).ok_or_else(|| LmError::Tensor { name: role.meta_name(), message: "missing from the file".into() })
    })?;
    let dequantized = (version == 2).then(|| format!("Q8_0 (groups of {group})"));
    Ok(Llama2cModel { weights, version, notes, dequantized })
}

/// The header of a llama2.c `model.bin` and the layout it describes, checked against the file.
fn plan(bytes: &[u8]) -> Result<Plan, LmError> {
    check_file_size(bytes.len(), "the llama2.c model")?;
    let mut c = Cursor::new(bytes, FORMAT);
    let mut notes = Vec::new();
    let (version, header, tied, group, data_start) = if has_llama2c_magic(bytes) {
        c.u32("the magic")?;
        let version = c.i32("the version")?;
        let header = read_header(&mut c)?;
        let shared = c.u8("the shared_classifier flag")?;
        if shared > 1 {
            return Err(c.error(format!("the shared_classifier flag is {shared}: it must be 0 or 1")));
        }
        let group = match version {
            1 => 0,
            2 => {
                let g = c.i32("the group size")?;
                if g <= 0 {
                    return Err(LmError::Config { field: "group_size", message: format!("{g} in the header: must be at least 1") });
                }
                g as usize
            }
            v => return Err(c.error(format!("version {v} is not supported: only 0 (no magic), 1 and 2 are"))),
        };
        (version as u32, header, shared == 1, group, VERSIONED_HEADER_BYTES)
    } else {
        let header = read_header(&mut c)?;
        let tied = header.vocab_size > 0;
        (0, header, tied, 0, LEGACY_HEADER_BYTES)
    };
    // A file without the magic is read as a version-0 header: a header that makes no model then
    // says so (a magic one bit off "ak42" read as dim 1634415667 gave only "heads do not divide dim").
    let as_v0 = |e: LmError| match (version, e) {
        (0, LmError::Config { field, message }) => LmError::Config {
            field,
            message: format!("{message} (the file does not start with llama2.c's magic \"ak42\" of versions 1 and 2, so its first 28 bytes were read as a version-0 header)"),
        },
        (_, e) => e,
    };
    let (mut config, header_seq_len) = header.config(tied).map_err(as_v0)?;
    config.seq_len = clamp_seq_len(header_seq_len, "seq_len", &mut notes);
    config.validate().map_err(as_v0)?;
    // Every parameter takes at least one byte (a Q8_0 value): refuse a header that describes more
    // than the file holds before laying it out, as the layout has segments per layer (a header of
    // 2^31 layers would otherwise take minutes and gigabytes to refuse).
    let params = config.param_count();
    if params > bytes.len() as u128 {
        return Err(malformed(
            FORMAT,
            format!(
                "the header (v{version}: dim {}, hidden_dim {}, {} layers, vocab {}) describes {params} parameters, more than the file's {} bytes can hold (truncated, or not a llama2.c model)",
                config.dim, config.hidden_dim, config.n_layers, config.vocab_size, bytes.len()
            ),
        ));
    }
    let c_ = &config;
    let segments = layout(c_, version, header_seq_len, group);
    let expected: u128 = data_start as u128 + segments.iter().map(|&s| segment_bytes(s, c_)).sum::<u128>();
    if expected != bytes.len() as u128 {
        return Err(malformed(
            FORMAT,
            format!(
                "the header (v{version}: dim {}, hidden_dim {}, {} layers, {} heads, {} kv heads, vocab {}, seq_len {header_seq_len}{}) describes {expected} bytes, the file has {}{}",
                c_.dim,
                c_.hidden_dim,
                c_.n_layers,
                c_.n_heads,
                c_.n_kv_heads,
                header.vocab_size,
                if version == 2 { format!(", group size {group}") } else { String::new() },
                bytes.len(),
                if (bytes.len() as u128) < expected { " (truncated)" } else { " (trailing bytes, or not this version)" }
            ),
        ));
    }
    for s in &segments {
        if let Segment::Tensor(r, Storage::Q8 { group }) = *s {
            let n = numel(r, c_);
            if !n.is_multiple_of(group) {
                return Err(LmError::Tensor {
                    name: r.meta_name(),
                    message: format!("{n} values are not whole groups of {group} (the header's group size)"),
                });
            }
        }
    }
    Ok(Plan { version, config, tied, group, data_start, segments, notes })
}

/// Reads a llama2.c `tokenizer.bin` ([`walk_tokenizer`]'s layout). BOS = 1 and EOS = 2, as run.c assumes (when there are that many tokens).
pub fn read_llama2c_tokenizer(bytes: &[u8]) -> Result<Vocabulary, LmError> {
    check_file_size(bytes.len(), "the llama2.c tokenizer")?;
    let mut tokens = Vec::new();
    let mut scores = Vec::new();
    let (max_len, _) = walk_tokenizer(bytes, |score, token| {
        tokens.push(token.to_vec());
        scores.push(score);
    })?;
    let n = tokens.len();
    let special = |id: u32| if (id as usize) < n { Some(id) } else { None };
    Ok(Vocabulary {
        model: Some("llama2.c".into()),
        tokens,
        scores,
        bos_id: special(1),
        eos_id: special(2),
        max_token_length: Some(max_len),
        ..Vocabulary::default()
    })
}

/// Walks a llama2.c `tokenizer.bin`: i32 `max_token_length`, then per token until the end of the
/// file an f32 score (not NaN), an i32 length (0 to max_token_length) and that many bytes, at most
/// [`MAX_VOCAB`] tokens. `visit` sees each (score, bytes); returns (max_token_length, count).
/// Every check of the layout is here, for the reader and for [`reads_as_llama2c_tokenizer`].
fn walk_tokenizer<'a>(bytes: &'a [u8], mut visit: impl FnMut(f32, &'a [u8])) -> Result<(u32, usize), LmError> {
    let mut c = Cursor::new(bytes, TOKENIZER_FORMAT);
    let max_len = c.i32("max_token_length")?;
    if max_len < 0 {
        return Err(c.error(format!("max_token_length is {max_len}: it must not be negative")));
    }
    let mut count = 0usize;
    while !c.is_empty() {
        let i = count;
        if i == MAX_VOCAB {
            return Err(c.error(format!("more than {MAX_VOCAB} tokens")));
        }
        let score = c.f32(&format!("the score of token {i}"))?;
        if score.is_nan() {
            return Err(c.error(format!("the score of token {i} is NaN")));
        }
        let len = c.i32(&format!("the length of token {i}"))?;
        if len < 0 || len > max_len {
            return Err(c.error(format!("token {i} is {len} bytes long: it must be 0 to max_token_length = {max_len}")));
        }
        visit(score, c.take(len as u64, &format!("token {i}"))?);
        count += 1;
    }
    Ok((max_len as u32, count))
}

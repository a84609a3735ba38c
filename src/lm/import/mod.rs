//! The user's own language models: GGUF, llama2.c and Hugging Face checkpoints read
//! into FP32 [`LmWeights`] (quantized tensors dequantized with our own code), and
//! [`gguf_write`] to export a model as GGUF.
//!
//! ```text
//! import_model(files) ── names + magic bytes ──┬─ "GGUF" magic or *.gguf ... gguf::read_gguf       (v2, v3; F32 F16 BF16 Q8_0 Q4_0 Q4_1)
//!                                              ├─ *.safetensors + config.json  hf::read_hf     (F32 F16 BF16; q, k un-permuted)
//!                                              │   (+ tokenizer.json, passed through)
//!                                              └─ *.bin: "24ka" magic (v1, v2) or a legacy header whose sizes
//!                                                  match the file (v0) ...  llama2c::read_llama2c
//!                                                  (+ tokenizer*.bin ... llama2c::read_llama2c_tokenizer)
//! ```
//!
//! Every reader is linear in the file, recurses on nothing the file controls, and checks
//! each count and length against the bytes left and a limit before it allocates. Limits:
//!
//! - a file (and all files together) at most [`MAX_IMPORT_FILE_BYTES`] (2 GiB);
//! - the model at most [`crate::lm::config::MAX_PARAMS`] parameters (64 Mi, 256 MiB of f32),
//!   checked by [`crate::lm::LmConfig::validate`] before any weight is converted;
//! - the context clamped to [`IMPORT_MAX_SEQ_LEN`] with a note, so that a 128 k-token model does
//!   not allocate a 128 k-position KV cache;
//! - vocabularies at most [`vocab::MAX_VOCAB`] tokens and [`vocab::MAX_MERGES`] merges.
//!
//! Every tensor is checked finite (NaN or ±Inf: [`LmError::NonFinite`] naming the file's
//! tensor) and shaped as the configuration requires. Layouts: GGUF and llama2.c store q / k
//! in Meta's interleaved RoPE layout, which qplay uses; Hugging Face's rotate-half layout is
//! un-permuted (see [`hf`]).

pub mod assemble;
pub(crate) mod cursor;
pub mod gguf;
pub mod gguf_write;
pub mod hf;
pub mod llama2c;
pub mod vocab;

mod tokenizer;
pub use assemble::Role;
pub use gguf::{read_gguf, GgufFile, GgufModel};
pub use gguf_write::{write_gguf, GgufWeightType};
pub use hf::{read_hf, HfModel};
pub use llama2c::{read_llama2c, read_llama2c_tokenizer, Llama2cModel};
pub use tokenizer::{gguf_vocabulary, tokenizer_for};
pub use vocab::{RawVocab, Vocabulary};

use crate::lm::{LmError, LmWeights};
use cursor::malformed;

/// Largest file read, and largest total of the files given to [`import_model`].
pub const MAX_IMPORT_FILE_BYTES: u64 = 2 << 30;

/// Longest context of an imported model; a longer one is clamped, with a note.
pub const IMPORT_MAX_SEQ_LEN: usize = 2048;

/// Which reader a model came through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelFormat {
    Gguf { version: u32 },
    Llama2c { version: u32 },
    HuggingFace,
}

impl ModelFormat {
    pub fn name(self) -> String {
        match self {
            ModelFormat::Gguf { version } => format!("GGUF v{version}"),
            ModelFormat::Llama2c { version } => format!("llama2.c model.bin v{version}"),
            ModelFormat::HuggingFace => "Hugging Face safetensors".into(),
        }
    }
}

/// A model read from the user's files.
#[derive(Clone, Debug)]
pub struct ImportedModel {
    pub weights: LmWeights,
    pub format: ModelFormat,
    /// What was assumed, clamped, ignored or converted, one sentence each.
    pub notes: Vec<String>,
    /// The vocabulary the files carry, raw (None when they carry none).
    pub vocab: Option<RawVocab>,
    /// The names of the files given that the model does not use (each has a note).
    pub unused: Vec<String>,
    /// The quantized formats the file stored its weights in ("Q4_0 ×44"), dequantized to f32 on
    /// load: the model's FP32 is then that file's, not the float model it was made from.
    pub dequantized: Option<String>,
    /// The model's own name in its files (GGUF `general.name`, config.json `_name_or_path`;
    /// a llama2.c file has none), cut to 80 characters.
    pub title: Option<String>,
}

/// Fails when a file is larger than [`MAX_IMPORT_FILE_BYTES`].
pub(crate) fn check_file_size(len: usize, what: &str) -> Result<(), LmError> {
    if len as u64 > MAX_IMPORT_FILE_BYTES {
        return Err(LmError::TooLarge { what: what.to_string(), bytes: len as u128, limit: MAX_IMPORT_FILE_BYTES as u128 });
    }
    Ok(())
}

/// min(declared, [`IMPORT_MAX_SEQ_LEN`]), with a note when it clamps.
pub(crate) fn clamp_seq_len(declared: usize, field: &str, notes: &mut Vec<String>) -> usize {
    if declared > IMPORT_MAX_SEQ_LEN {
        notes.push(format!(
            "{field} {declared} clamped to {IMPORT_MAX_SEQ_LEN} (qplay's limit for imported models: the KV cache grows with it)"
        ));
        IMPORT_MAX_SEQ_LEN
    } else {
        declared
    }
}

/// An error about the set of files given (which is which, what is missing).
fn files_error(message: impl Into<String>) -> LmError {
    LmError::Files(message.into())
}

/// Files named in a message: the first 8, each cut to 80 characters, then how many more
/// ("a.json, b.json, … and 292 more"), so 300 files dropped together make a short message.
pub fn listed<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    const SHOWN: usize = 8;
    let (mut shown, mut more) = (Vec::with_capacity(SHOWN), 0usize);
    for n in names {
        if shown.len() < SHOWN {
            shown.push(cursor::clip(n));
        } else {
            more += 1;
        }
    }
    match more {
        0 => shown.join(", "),
        _ => format!("{} and {more} more", shown.join(", ")),
    }
}

/// A file's name as a page or message shows it: its last path component, cut to 80 characters,
/// control and bidirectional-formatting characters shown as U+FFFD.
pub fn shown_file_name(name: &str) -> String {
    cursor::clip(base_name(name))
}

/// The file that names a model whose files give it no name (a GGUF export's `general.name`, a
/// download's file name): the first that holds weights (`.gguf`, `.safetensors`, `.bin`, not a
/// tokenizer's), else the first file; its last path component without the extension
/// ("models/tied_f32.gguf" → "tied_f32"; "config.json", "model.safetensors" → "model").
pub fn model_stem<'a>(mut names: impl Iterator<Item = &'a str> + Clone) -> Option<&'a str> {
    let holds_weights = |n: &&str| {
        let n = base_name(n);
        [".gguf", ".safetensors", ".bin"].iter().any(|e| n.ends_with(e)) && !n.starts_with("tokenizer")
    };
    let file = base_name(names.clone().find(holds_weights).or_else(|| names.next())?);
    Some(file.rsplit_once('.').map_or(file, |(stem, _)| stem)).filter(|s| !s.is_empty())
}

/// The fingerprint of a model's files, for a link to tell the files it was made with from
/// others of the same names: their bytes together, and a 48-bit FNV-1a hash over each file's
/// name (its last path component) and content, the files taken in name order (the order they
/// were given in does not count):
/// ```text
/// "<bytes>-<12 hex digits>"      h = FNV-1a-64(name₁ · 0 · len₁ (u64 LE) · bytes₁ · name₂ · …) >> 16
/// ```
pub fn files_fingerprint(files: &[(&str, &[u8])]) -> String {
    let mut sorted: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (base_name(n), *b)).collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let total: u64 = sorted.iter().map(|(_, b)| b.len() as u64).sum();
    let mut chunks: Vec<Vec<u8>> = Vec::with_capacity(sorted.len());
    for (name, bytes) in &sorted {
        let mut head = name.as_bytes().to_vec();
        head.push(0);
        head.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        chunks.push(head);
    }
    let mut parts: Vec<&[u8]> = Vec::with_capacity(2 * sorted.len());
    for ((_, bytes), head) in sorted.iter().zip(&chunks) {
        parts.push(head);
        parts.push(bytes);
    }
    format!("{total}-{:012x}", crate::data::fnv1a64(&parts) >> 16)
}

/// The message when files given under a link's names are not the files it was made with
/// (both [`files_fingerprint`]s).
pub fn files_differ(linked: &str, given: &str) -> String {
    let shown = |f: &str| match f.split_once('-') {
        Some((bytes, hash)) => format!("{} bytes, hash {hash}", bytes.parse::<u128>().map_or(bytes.to_string(), crate::units::grouped)),
        None => f.to_string(),
    };
    format!(
        "these files have the link's names but not its files' contents (the link's: {}; these: {}): its figures may not be reproduced",
        shown(linked),
        shown(given)
    )
}

/// Whether `v` reads as a [`files_fingerprint`].
pub fn is_fingerprint(v: &str) -> bool {
    v.split_once('-').is_some_and(|(bytes, hash)| {
        !bytes.is_empty() && bytes.len() <= 20 && bytes.bytes().all(|c| c.is_ascii_digit()) && hash.len() == 12 && hash.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// The last component of a path-like name.
fn base_name(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name)
}

/// What a file given to [`import_model`] is, from its name and first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FileKind {
    Gguf,
    Safetensors,
    HfConfig,
    HfTokenizer,
    Llama2cTokenizer,
    Llama2cModel,
    Other,
}

fn classify(name: &str, bytes: &[u8]) -> FileKind {
    let base = base_name(name).to_ascii_lowercase();
    if bytes.starts_with(gguf::GGUF_MAGIC) || base.ends_with(".gguf") {
        FileKind::Gguf
    } else if base.ends_with(".safetensors") {
        FileKind::Safetensors
    } else if base == "config.json" {
        FileKind::HfConfig
    } else if base == "tokenizer.json" {
        FileKind::HfTokenizer
    } else if base.starts_with("tokenizer") && base.ends_with(".bin") {
        FileKind::Llama2cTokenizer
    } else if llama2c::has_llama2c_magic(bytes) {
        FileKind::Llama2cModel
    } else if base.ends_with(".bin") && llama2c::reads_as_llama2c_tokenizer(bytes) {
        // By its content: llama2.c ships stories260K's as tok512.bin.
        FileKind::Llama2cTokenizer
    } else if base.ends_with(".bin") {
        FileKind::Llama2cModel
    } else {
        FileKind::Other
    }
}

/// Whether a .safetensors file is qplay's packed export ([`crate::formats::lm_safetensors`]), by
/// its header's metadata alone.
pub fn is_packed_export(bytes: &[u8]) -> bool {
    use crate::formats::lm_safetensors::{FORMAT_NAME, MAX_LM_SAFETENSORS_BYTES};
    crate::formats::safetensors::SafetensorsHeader::parse(bytes, MAX_LM_SAFETENSORS_BYTES)
        .is_ok_and(|h| h.metadata().get("format").map(String::as_str) == Some(FORMAT_NAME))
}

/// Reads a model from the files the user gave (name, bytes): one GGUF file; or a Hugging Face
/// folder (`config.json`, `*.safetensors`, optionally `tokenizer.json`); or a llama2.c
/// `model.bin` (optionally with `tokenizer.bin`). Other files are ignored with a note.
pub fn import_model(files: &[(String, &[u8])]) -> Result<ImportedModel, LmError> {
    let total: u128 = files.iter().map(|(_, b)| b.len() as u128).sum();
    if total > MAX_IMPORT_FILE_BYTES as u128 {
        return Err(LmError::TooLarge { what: "the model's files".into(), bytes: total, limit: MAX_IMPORT_FILE_BYTES as u128 });
    }
    // Each file is classified once (a `.bin` may be read through to tell a tokenizer from a model).
    let kinds: Vec<FileKind> = files.iter().map(|(n, b)| classify(n, b)).collect();
    let of = |k: FileKind| -> Vec<(&str, &[u8])> {
        files.iter().zip(&kinds).filter(|&(_, &kind)| kind == k).map(|((n, b), _)| (n.as_str(), *b)).collect()
    };
    let (ggufs, shards, configs, hf_tok, l2c_tok, l2c) = (
        of(FileKind::Gguf),
        of(FileKind::Safetensors),
        of(FileKind::HfConfig),
        of(FileKind::HfTokenizer),
        of(FileKind::Llama2cTokenizer),
        of(FileKind::Llama2cModel),
    );
    let mut unused: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    // Files of a kind the chosen format does not read are named, not dropped in silence: one note
    // per reason, naming the first few.
    let ignored = |notes: &mut Vec<String>, unused: &mut Vec<String>, list: &[(&str, &[u8])], why: &str| {
        if !list.is_empty() {
            notes.push(format!("{} ignored: {why}", listed(list.iter().map(|(n, _)| *n))));
        }
        unused.extend(list.iter().map(|(n, _)| n.to_string()));
    };
    ignored(&mut notes, &mut unused, &of(FileKind::Other), "not a model, config or tokenizer file qplay reads");
    let formats = [!ggufs.is_empty(), !shards.is_empty(), !l2c.is_empty()].iter().filter(|&&k| k).count();
    let names = || listed(files.iter().map(|(n, _)| n.as_str()));
    if formats == 0 {
        return Err(files_error(
            format!("no model file among [{}]: give a .gguf file, a llama2.c model.bin, or config.json with model.safetensors", names()),
        ));
    }
    if formats > 1 {
        return Err(files_error(format!("files of several model formats in [{}]: give one model", names())));
    }
    if !ggufs.is_empty() {
        at_most_one(&ggufs, "GGUF")?;
        let m = read_gguf(ggufs[0].1)?;
        notes.extend(m.notes);
        ignored(&mut notes, &mut unused, &configs, "a GGUF file carries its own configuration");
        // Its own vocabulary, unless it is of a kind qplay does not run and a tokenizer file came with it.
        let given = !(hf_tok.is_empty() && l2c_tok.is_empty());
        let vocab = match m.vocab {
            Some(v) if given && !tokenizer::runs_gguf_vocabulary(&v) => {
                notes.push(format!(
                    "the GGUF's own tokenizer (\"{}\") is not one qplay runs: the tokenizer file given with it is used",
                    cursor::clip(v.model.as_deref().unwrap_or(""))
                ));
                given_tokenizer(&l2c_tok, &hf_tok, m.weights.config.vocab_size, &mut notes, &mut unused)?
            }
            Some(v) => {
                ignored(&mut notes, &mut unused, &hf_tok, "a GGUF file carries its own tokenizer");
                ignored(&mut notes, &mut unused, &l2c_tok, "a GGUF file carries its own tokenizer");
                Some(RawVocab::Tokens(v))
            }
            // A GGUF without tokenizer.ggml.* metadata: the tokenizer file given with it.
            None => given_tokenizer(&l2c_tok, &hf_tok, m.weights.config.vocab_size, &mut notes, &mut unused)?,
        };
        return Ok(ImportedModel { weights: m.weights, format: ModelFormat::Gguf { version: m.version }, notes, vocab, unused, dequantized: m.dequantized, title: m.title });
    }
    if !shards.is_empty() {
        let [config] = configs.as_slice() else {
            // qplay's own packed export is not a Hugging Face shard: say what it is.
            if let Some((name, _)) = shards.iter().find(|(_, b)| is_packed_export(b)) {
                return Err(files_error(format!(
                    "{} is a packed quantized export written by qplay (integers, scales and minimums, described in its metadata): \
                     models are read in float (GGUF, llama2.c, Hugging Face safetensors with config.json); load the model it was \
                     quantized from, or its GGUF export",
                    cursor::clip(name)
                )));
            }
            return Err(files_error(
                if configs.is_empty() {
                    "config.json is missing: a Hugging Face model needs it beside model.safetensors".to_string()
                } else {
                    "several config.json files: give one model".to_string()
                },
            ));
        };
        at_most_one(&hf_tok, "tokenizer.json")?;
        let m = read_hf(config.1, &shards)?;
        notes.extend(m.notes);
        ignored(&mut notes, &mut unused, &l2c_tok, "a llama2.c tokenizer.bin goes with a llama2.c model.bin; a Hugging Face model's tokenizer is tokenizer.json");
        let vocab = hf_tok.first().map(|(_, bytes)| tokenizer_json(bytes, m.end_of_text)).transpose()?;
        return Ok(ImportedModel { weights: m.weights, format: ModelFormat::HuggingFace, notes, vocab, unused, dequantized: None, title: m.title });
    }
    if l2c.len() > 1 {
        broken_tokenizers_among(&l2c)?;
    }
    at_most_one(&l2c, "llama2.c model")?;
    let m = read_llama2c(l2c[0].1)?;
    notes.extend(m.notes);
    ignored(&mut notes, &mut unused, &configs, "a llama2.c model.bin carries its configuration in its header");
    let vocab = given_tokenizer(&l2c_tok, &hf_tok, m.weights.config.vocab_size, &mut notes, &mut unused)?;
    Ok(ImportedModel { weights: m.weights, format: ModelFormat::Llama2c { version: m.version }, notes, vocab, unused, dequantized: m.dequantized, title: None })
}

/// At most one file of a kind: more are an error naming them ("2 GGUF files (a.gguf, b.gguf): give one").
fn at_most_one(list: &[(&str, &[u8])], what: &str) -> Result<(), LmError> {
    if list.len() > 1 {
        return Err(files_error(format!("{} {what} files ({}): give one", list.len(), listed(list.iter().map(|(n, _)| *n)))));
    }
    Ok(())
}

/// The tokenizer file given with a model that carries none (a llama2.c model.bin, a GGUF without
/// `tokenizer.ggml.*`): a llama2.c tokenizer.bin, else a Hugging Face tokenizer.json (the Llama 2
/// models' own); at most one of each, and a tokenizer.json beside a tokenizer.bin is ignored.
fn given_tokenizer(
    l2c_tok: &[(&str, &[u8])],
    hf_tok: &[(&str, &[u8])],
    vocab_size: usize,
    notes: &mut Vec<String>,
    unused: &mut Vec<String>,
) -> Result<Option<RawVocab>, LmError> {
    at_most_one(l2c_tok, "tokenizer.bin")?;
    at_most_one(hf_tok, "tokenizer.json")?;
    match (l2c_tok.first(), hf_tok.first()) {
        (None, None) => Ok(None),
        (None, Some((_, bytes))) => Ok(Some(tokenizer_json(bytes, Vec::new())?)),
        (Some((name, bytes)), json) => {
            if let Some((j, _)) = json {
                notes.push(format!("{} ignored: the tokenizer.bin given with it is used", cursor::clip(j)));
                unused.push(j.to_string());
            }
            let v = read_llama2c_tokenizer(bytes)?;
            if v.tokens.len() != vocab_size {
                notes.push(format!("{} has {} tokens for a vocabulary of {vocab_size}", cursor::clip(name), v.tokens.len()));
            }
            Ok(Some(RawVocab::Tokens(v)))
        }
    }
}

/// Several files taken for llama2.c models, of which exactly one is a model (its header's layout
/// is the file's length): the others are tokenizers that do not read whole (a tokenizer.bin cut
/// short, under a name of its own such as tok512.bin), each named with its tokenizer error, not
/// "2 llama2.c model files".
fn broken_tokenizers_among(l2c: &[(&str, &[u8])]) -> Result<(), LmError> {
    let (models, others): (Vec<_>, Vec<_>) = l2c.iter().partition(|(_, b)| llama2c::describes_a_model(b));
    if let ([(model, _)], [(name, bytes), ..]) = (models.as_slice(), others.as_slice()) {
        let why = read_llama2c_tokenizer(bytes).err().map_or_else(|| "it reads whole".to_string(), |e| e.to_string());
        return Err(files_error(format!(
            "{} is not a llama2.c model (its header does not describe the file) and, read as the tokenizer of {}, it breaks: {why}",
            cursor::clip(name),
            cursor::clip(model)
        )));
    }
    Ok(())
}

/// A `tokenizer.json` passed through as text: within its size limit and UTF-8.
fn tokenizer_json(bytes: &[u8], end_of_text: Vec<u32>) -> Result<RawVocab, LmError> {
    if bytes.len() > vocab::MAX_TOKENIZER_JSON_BYTES {
        return Err(LmError::TooLarge { what: "tokenizer.json".into(), bytes: bytes.len() as u128, limit: vocab::MAX_TOKENIZER_JSON_BYTES as u128 });
    }
    // Past a UTF-8 byte-order mark, which JSON does not allow.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|_| malformed("tokenizer.json", "the file is not valid UTF-8"))?;
    Ok(RawVocab::TokenizerJson { json: text.to_string(), end_of_text })
}

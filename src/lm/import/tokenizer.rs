//! The tokenizer of a model: the built-in model's characters (`qplay.alphabet`), or what the
//! user's files carry — a GGUF vocabulary ("llama" SentencePiece-style or "gpt2" byte-level
//! BPE), a llama2.c `tokenizer.bin`, or a Hugging Face `tokenizer.json`.

use std::borrow::Cow;

use super::vocab::{RawVocab, Vocabulary};
use crate::lm::tokenizer_bpe::BpeTokenizer;
use crate::lm::tokenizer_json;
use crate::lm::tokenizer_spm::SpmTokenizer;
use crate::lm::tokenizers::{GgufVocab, Tokenizer};
use crate::lm::{CharTokenizer, LmError, LmWeights};

fn from_tokens(v: &Vocabulary) -> Result<Tokenizer, LmError> {
    match v.model.as_deref() {
        Some("llama2.c") => SpmTokenizer::from_llama2c_pieces(v.tokens.clone(), v.scores.clone()).map(Tokenizer::Spm),
        model => Tokenizer::from_gguf(GgufVocab {
            model: model.unwrap_or("llama").to_string(),
            pre: v.pre.clone(),
            tokens: v.tokens.clone(),
            scores: v.scores.clone(),
            token_types: v.token_types.clone(),
            merges: v.merges.clone(),
            bos: v.bos_id,
            eos: v.eos_id,
            add_space_prefix: v.add_space_prefix,
        }),
    }
}

/// Whether a GGUF vocabulary's `tokenizer.ggml.model` is one [`Tokenizer::from_gguf`] runs (none
/// is read as "llama", as [`tokenizer_for`] reads it).
pub(crate) fn runs_gguf_vocabulary(v: &Vocabulary) -> bool {
    crate::lm::tokenizers::GGUF_TOKENIZER_MODELS.contains(&v.model.as_deref().unwrap_or("llama"))
}

/// The tokenizer for `w`: the model's own alphabet when it has one (`qplay.alphabet`, which
/// qplay's GGUF export also spells as a `tokenizer.ggml` vocabulary for llama.cpp), else from
/// `vocab`. Its vocabulary must fit the model's (ids beyond `vocab_size` could not run).
pub fn tokenizer_for(w: &LmWeights, vocab: Option<&RawVocab>) -> Result<Tokenizer, LmError> {
    let t = match (vocab, &w.alphabet) {
        (_, Some(a)) => Tokenizer::Char(CharTokenizer::new(a.chars().collect())?),
        // One qplay cannot run (a setting it does not implement) is still another model's when
        // its ids pass the model's vocabulary: that is said first, as a bad set of files.
        (Some(RawVocab::Tokens(v)), None) => match from_tokens(v) {
            Err(LmError::Config { .. }) if v.tokens.len() > w.config.vocab_size => {
                return Err(ids_beyond(v.tokens.len() as u64 - 1, w.config.vocab_size))
            }
            t => t?,
        },
        (Some(RawVocab::TokenizerJson { json, end_of_text }), None) => match Tokenizer::from_tokenizer_json(json) {
            Ok(mut t) => {
                t.set_end_of_text(end_of_text)?;
                t
            }
            Err(e @ LmError::Config { .. }) => {
                return Err(match tokenizer_json::top_id(json) {
                    Some(top) if top >= w.config.vocab_size as u64 => ids_beyond(top, w.config.vocab_size),
                    _ => e,
                })
            }
            Err(e) => return Err(e),
        },
        (None, None) => {
            return Err(LmError::Tokens("the model has no tokenizer: give its tokenizer.json / tokenizer.bin with it".into()))
        }
    };
    // A tokenizer of more ids than the model has rows is another model's: the files given are
    // not one model (refused like a bad file, on the page and in the CLI).
    if t.vocab_len() > w.config.vocab_size {
        return Err(ids_beyond(t.vocab_len() as u64 - 1, w.config.vocab_size));
    }
    Ok(t)
}

/// A tokenizer whose highest id is `top` is another model's when `top` ≥ `vocab_size`.
fn ids_beyond(top: u64, vocab_size: usize) -> LmError {
    LmError::Files(format!(
        "the tokenizer's ids (its tokens and added tokens) reach {top}, beyond the model's vocabulary of {vocab_size} (ids 0–{})",
        vocab_size.saturating_sub(1)
    ))
}

/// The vocabulary a GGUF export writes as `tokenizer.ggml.*` for a model of `vocab_size` ids, in
/// a form llama.cpp knows and qplay reads back as the same tokenizer: a GGUF vocabulary as it is;
/// a llama2.c `tokenizer.bin` as the SentencePiece ("llama") vocabulary it came from
/// ([`Vocabulary::llama2c_as_sentencepiece`]); a byte-level BPE `tokenizer.json` as a "gpt2" one
/// ([`BpeTokenizer::to_gguf_vocab`]); the last two padded to `vocab_size` ([`Vocabulary::pad_to`]).
/// A tokenizer GGUF cannot carry faithfully is an error that names why and points to the
/// .safetensors export, never a file without a tokenizer.
pub fn gguf_vocabulary(raw: &RawVocab, vocab_size: usize) -> Result<Cow<'_, Vocabulary>, LmError> {
    let refuse = |what: &str, why: String| {
        LmError::Tokens(format!("a GGUF file cannot carry this {what}: {why}. Export to .safetensors instead and keep the {what} beside it"))
    };
    let mut v = match raw {
        RawVocab::Tokens(v) if v.model.as_deref() == Some("llama2.c") => {
            v.llama2c_as_sentencepiece().map_err(|why| refuse("tokenizer.bin", why))?
        }
        RawVocab::Tokens(v) => return Ok(Cow::Borrowed(v)),
        RawVocab::TokenizerJson { json, end_of_text } => {
            let mut t = BpeTokenizer::from_tokenizer_json(json).map_err(|e| refuse("tokenizer.json", format!("qplay does not read it ({e})")))?;
            // GGUF has one EOS id: the first of config.json's.
            t.set_end_of_text(end_of_text);
            let g = t.to_gguf_vocab().map_err(|why| refuse("tokenizer.json", why))?;
            Vocabulary {
                model: Some(g.model),
                tokens: g.tokens,
                scores: g.scores,
                token_types: g.token_types,
                merges: g.merges,
                bos_id: g.bos,
                eos_id: g.eos,
                // qplay prepends BOS whenever the tokenizer has one; llama.cpp's default varies.
                add_bos: Some(g.bos.is_some()),
                pre: g.pre,
                ..Vocabulary::default()
            }
        }
    };
    let what = if matches!(raw, RawVocab::TokenizerJson { .. }) { "tokenizer.json" } else { "tokenizer.bin" };
    v.pad_to(vocab_size).map_err(|why| refuse(what, why))?;
    Ok(Cow::Owned(v))
}

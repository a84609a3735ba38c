//! The tokenizer of a model: the built-in model's characters (`qplay.alphabet`), or what the
//! user's files carry — a GGUF vocabulary ("llama" SentencePiece-style or "gpt2" byte-level
//! BPE), a llama2.c `tokenizer.bin`, or a Hugging Face `tokenizer.json`.

use super::vocab::{RawVocab, Vocabulary};
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

/// The tokenizer for `w`: the model's own alphabet when it has one (`qplay.alphabet`, which
/// qplay's GGUF export also spells as a `tokenizer.ggml` vocabulary for llama.cpp), else from
/// `vocab`. Its vocabulary must fit the model's (ids beyond `vocab_size` could not run).
pub fn tokenizer_for(w: &LmWeights, vocab: Option<&RawVocab>) -> Result<Tokenizer, LmError> {
    let t = match (vocab, &w.alphabet) {
        (_, Some(a)) => Tokenizer::Char(CharTokenizer::new(a.chars().collect())?),
        (Some(RawVocab::Tokens(v)), None) => from_tokens(v)?,
        (Some(RawVocab::TokenizerJson(json)), None) => Tokenizer::from_tokenizer_json(json)?,
        (None, None) => {
            return Err(LmError::Setting {
                name: "tokenizer",
                message: "the model has no tokenizer: give its tokenizer.json / tokenizer.bin with it".into(),
            })
        }
    };
    if t.vocab_len() > w.config.vocab_size {
        return Err(LmError::Setting {
            name: "tokenizer",
            message: format!("the tokenizer has {} tokens, more than the model's vocabulary of {}", t.vocab_len(), w.config.vocab_size),
        });
    }
    Ok(t)
}

//! The raw vocabulary a model file carries, handed as it is to the tokenizers
//! (`lm::tokenizer_bpe`, `lm::tokenizer_spm`): nothing here tokenizes.
//!
//! - GGUF: the `tokenizer.ggml.*` metadata (model name, tokens, scores, token types, merges,
//!   special ids);
//! - llama2.c: `tokenizer.bin` (`max_token_length`, then per token an f32 score and the bytes);
//! - Hugging Face: `tokenizer.json` passed through as text ([`RawVocab::TokenizerJson`]).
//!
//! Every list is capped ([`MAX_VOCAB`] tokens, [`MAX_MERGES`] merges) and every length is
//! checked against the bytes left before anything is allocated.

pub use crate::lm::config::MAX_VOCAB;

/// Most BPE merges kept (Llama 3 has 280 147; GPT-2 50 000).
pub const MAX_MERGES: usize = 1 << 20;

/// Largest `tokenizer.json` passed through (Llama 3's is 9 MB).
pub const MAX_TOKENIZER_JSON_BYTES: usize = 64 << 20;

/// A vocabulary as the file stores it. Lists that the file does not have are empty;
/// when present, `scores` and `token_types` have one entry per token.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Vocabulary {
    /// `tokenizer.ggml.model` (`"llama"` = SentencePiece, `"gpt2"` = byte-level BPE, …);
    /// `"llama2.c"` for a llama2.c `tokenizer.bin`.
    pub model: Option<String>,
    /// The tokens in id order, as bytes (GGUF strings are UTF-8 by the spec; llama2.c's are
    /// whatever its export wrote, e.g. `"<0x0A>"` for a byte token and `" the"` for `"▁the"`).
    pub tokens: Vec<Vec<u8>>,
    /// `tokenizer.ggml.scores` / llama2.c's scores (SentencePiece log-probabilities, merge ranks).
    pub scores: Vec<f32>,
    /// `tokenizer.ggml.token_type`: 1 normal, 2 unknown, 3 control, 4 user defined, 5 unused, 6 byte.
    pub token_types: Vec<i32>,
    /// `tokenizer.ggml.merges`: "left right" pairs, best first.
    pub merges: Vec<String>,
    pub bos_id: Option<u32>,
    pub eos_id: Option<u32>,
    pub unknown_id: Option<u32>,
    pub padding_id: Option<u32>,
    /// `tokenizer.ggml.add_bos_token`, when the file says.
    pub add_bos: Option<bool>,
    /// llama2.c's `max_token_length` header (every token is at most this many bytes).
    pub max_token_length: Option<u32>,
    /// `tokenizer.ggml.pre`: the pre-tokenizer of a "gpt2" vocabulary (llama-bpe, qwen2, …).
    pub pre: Option<String>,
    /// `tokenizer.ggml.add_space_prefix`, when the file says.
    pub add_space_prefix: Option<bool>,
}

/// The vocabulary of an imported model, in the form its files hold it.
#[derive(Clone, Debug, PartialEq)]
pub enum RawVocab {
    /// Tokens (and scores, merges, …) read from GGUF metadata or a llama2.c `tokenizer.bin`.
    Tokens(Vocabulary),
    /// A Hugging Face `tokenizer.json`, as text (UTF-8 checked, not parsed).
    TokenizerJson(String),
}

//! The tokenizer of a language model, whatever its kind: the built-in model's characters, the
//! byte-level BPE of Hugging Face `tokenizer.json` files and GGUF "gpt2" vocabularies
//! ([`tokenizer_bpe`](super::tokenizer_bpe); the same engine runs the SentencePiece-style
//! `tokenizer.json` of Llama 2 / Mistral, [`tokenizer_pieces`](super::tokenizer_pieces)), or the
//! SentencePiece-style BPE by score of
//! llama2.c's `tokenizer.bin` and GGUF "llama" vocabularies ([`tokenizer_spm`](super::tokenizer_spm)).
//!
//! ```text
//! encode: text → ids (no BOS / EOS: the caller prepends bos() when the model wants it)
//! decode: ids → text (special tokens as their text for BPE, as nothing for SentencePiece)
//! decode(encode(s)) = s for every s the vocabulary can spell (byte-level BPE and byte fallback
//! spell everything), except where an added token strips the whitespace next to it
//! ```
//!
//! Why not the `tokenizers` crate: with `default-features = false, features = ["unstable_wasm"]`
//! (fancy-regex instead of the C library onig) it does build for wasm32-unknown-unknown, but a
//! cdylib that loads a tokenizer.json, encodes and decodes is 2 368 551 bytes after
//! `wasm-opt -Oz` (818 793 gzipped) against 70 811 (36 479 gzipped) for the same cdylib using only
//! serde_json: about 780 KB gzipped added to a worker of ~520 KB (the budget was 150 KB), and 98 s
//! to build from scratch on one core against 5 s (the Unicode tables of regex, fancy-regex and its
//! normalizers, rayon, esaxx, …; tokenizers 0.22.2, rustc 1.95, opt-level 3, LTO, panic=abort).
//! Its maintainers also call the fancy-regex build "unstable" (not guaranteed to tokenize as onig
//! does). The three regexes that matter (GPT-2, Llama 3, Qwen2) are small enough to scan by hand,
//! and the merge loops are short: the same cdylib built on these modules (all three constructors,
//! encode, decode) is 197 241 bytes after wasm-opt, 87 135 gzipped, so at most ~51 KB gzipped over
//! the serde_json baseline (less inside the app, which links serde_json and core::fmt already).
//! tests/suite/lm_tokenizers.rs holds them to the PyPI `tokenizers` and `sentencepiece`.

use super::tokenizer_bpe::{unsupported, BpeTokenizer};
use super::tokenizer_spm::SpmTokenizer;
use super::{CharTokenizer, LmError};

/// Plain English, in characters the validation text is made of: what every tokenizer of a model
/// that reads that text must spell ([`Tokenizer::check_reads_text`]).
pub const PROBE_TEXT: &str = "The king is here, and all is well.";

/// The `tokenizer.ggml.model` values [`Tokenizer::from_gguf`] runs.
pub const GGUF_TOKENIZER_MODELS: [&str; 2] = ["llama", "gpt2"];

/// A language model's tokenizer (one per loaded model, so the variants' sizes do not matter).
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Tokenizer {
    /// The built-in model's: one id per character of a fixed alphabet.
    Char(CharTokenizer),
    /// Byte-level BPE (GPT-2, Llama 3, Qwen2, SmolLM).
    Bpe(BpeTokenizer),
    /// SentencePiece-style BPE by score (Llama 2, TinyLlama, llama2.c).
    Spm(SpmTokenizer),
}

/// The tokenizer keys of a GGUF file, as its reader hands them over.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GgufVocab {
    /// `tokenizer.ggml.model`: "llama" (SentencePiece-style) or "gpt2" (byte-level BPE).
    pub model: String,
    /// `tokenizer.ggml.pre` (byte-level BPE's pre-tokenizer name; `None`: GPT-2's regex).
    pub pre: Option<String>,
    /// `tokenizer.ggml.tokens`, by id.
    pub tokens: Vec<Vec<u8>>,
    /// `tokenizer.ggml.scores` (SentencePiece; may be empty for "gpt2").
    pub scores: Vec<f32>,
    /// `tokenizer.ggml.token_type` (may be empty: all normal).
    pub token_types: Vec<i32>,
    /// `tokenizer.ggml.merges` ("gpt2"), "a b" in rank order.
    pub merges: Vec<String>,
    /// `tokenizer.ggml.bos_token_id`, `tokenizer.ggml.eos_token_id`.
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    /// `tokenizer.ggml.add_space_prefix` ("llama"; `None`: true, llama.cpp's default).
    pub add_space_prefix: Option<bool>,
}

impl From<CharTokenizer> for Tokenizer {
    fn from(t: CharTokenizer) -> Tokenizer {
        Tokenizer::Char(t)
    }
}

impl Tokenizer {
    /// From the text of a Hugging Face `tokenizer.json` (byte-level BPE, or SentencePiece-style BPE
    /// with "▁" pieces; anything else is refused
    /// with an error that names it). BOS comes from a TemplateProcessing post-processor when it has
    /// one; EOS is not in tokenizer.json: set it with [`Tokenizer::set_end_of_text`] from the
    /// model's config.json.
    pub fn from_tokenizer_json(json: &str) -> Result<Tokenizer, LmError> {
        BpeTokenizer::from_tokenizer_json(json).map(Tokenizer::Bpe)
    }

    /// From llama2.c's `tokenizer.bin`.
    pub fn from_llama2c_bin(bytes: &[u8]) -> Result<Tokenizer, LmError> {
        SpmTokenizer::from_llama2c_bin(bytes).map(Tokenizer::Spm)
    }

    /// From a GGUF file's tokenizer keys (`pre` and `add_space_prefix` at their defaults; see
    /// [`Tokenizer::from_gguf`] to pass them).
    pub fn from_gguf_vocab(
        model: &str,
        tokens: Vec<Vec<u8>>,
        scores: Vec<f32>,
        token_types: Vec<i32>,
        merges: Vec<String>,
        bos: Option<u32>,
        eos: Option<u32>,
    ) -> Result<Tokenizer, LmError> {
        Tokenizer::from_gguf(GgufVocab {
            model: model.to_string(),
            pre: None,
            tokens,
            scores,
            token_types,
            merges,
            bos,
            eos,
            add_space_prefix: None,
        })
    }

    /// From all of a GGUF file's tokenizer keys (`tokenizer.ggml.model` one of [`GGUF_TOKENIZER_MODELS`]).
    pub fn from_gguf(v: GgufVocab) -> Result<Tokenizer, LmError> {
        match v.model.as_str() {
            "llama" => SpmTokenizer::from_gguf(
                v.tokens,
                v.scores,
                &v.token_types,
                v.bos,
                v.eos,
                v.add_space_prefix.unwrap_or(true),
            )
            .map(Tokenizer::Spm),
            "gpt2" => BpeTokenizer::from_gguf(v.tokens, &v.token_types, &v.merges, v.pre.as_deref(), v.bos, v.eos)
                .map(Tokenizer::Bpe),
            other => Err(unsupported(
                "tokenizer.ggml.model",
                format!("tokenizer model {other:?} is not implemented ({} are)", GGUF_TOKENIZER_MODELS.map(|m| format!("{m:?}")).join(" and ")),
            )),
        }
    }

    /// What kind of tokenizer this is, for display.
    pub fn kind(&self) -> &'static str {
        match self {
            Tokenizer::Char(_) => "characters",
            Tokenizer::Bpe(t) if t.is_sentencepiece_style() => "SentencePiece-style BPE (tokenizer.json)",
            Tokenizer::Bpe(_) => "byte-level BPE",
            Tokenizer::Spm(_) => "SentencePiece BPE",
        }
    }

    /// Text → ids, without BOS / EOS. The character tokenizer refuses a character outside its
    /// alphabet; the others spell any text.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LmError> {
        match self {
            Tokenizer::Char(t) => t.encode(text),
            Tokenizer::Bpe(t) => t.encode(text),
            Tokenizer::Spm(t) => t.encode(text),
        }
    }

    /// Fails, as [`Tokenizer::encode`] does, when the tokenizer cannot spell [`PROBE_TEXT`]: one
    /// that cannot read plain English cannot read the validation text either, and a reader can
    /// refuse it when the files are given (the model in use stays) rather than at the first run.
    pub fn check_reads_text(&self) -> Result<(), LmError> {
        match self.encode(PROBE_TEXT)? {
            ids if ids.is_empty() => Err(LmError::Tokens(format!("the tokenizer spells {PROBE_TEXT:?} as no tokens at all"))),
            _ => Ok(()),
        }
    }

    /// A document's ids as the model reads it: BOS first when the tokenizer has one (as
    /// llama.cpp starts a text it scores or continues), then [`Tokenizer::encode`]'s. The page
    /// and the CLI read the validation text and a prompt so, and get the same numbers.
    pub fn encode_document(&self, text: &str) -> Result<Vec<u32>, LmError> {
        let mut ids: Vec<u32> = self.bos().into_iter().collect();
        ids.extend(self.encode(text)?);
        Ok(ids)
    }

    /// Ids → text; an id no token has decodes as U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        match self {
            Tokenizer::Char(t) => t.decode(ids),
            Tokenizer::Bpe(t) => t.decode(ids),
            Tokenizer::Spm(t) => t.decode(ids),
        }
    }

    /// The number of ids (one more than the largest).
    pub fn vocab_len(&self) -> usize {
        match self {
            Tokenizer::Char(t) => t.vocab_len(),
            Tokenizer::Bpe(t) => t.vocab_len(),
            Tokenizer::Spm(t) => t.vocab_len(),
        }
    }

    /// The beginning-of-sequence id, when the tokenizer has one.
    pub fn bos(&self) -> Option<u32> {
        match self {
            Tokenizer::Char(_) => None,
            Tokenizer::Bpe(t) => t.bos(),
            Tokenizer::Spm(t) => t.bos(),
        }
    }

    /// The end-of-sequence id, when the tokenizer has one.
    pub fn eos(&self) -> Option<u32> {
        match self {
            Tokenizer::Char(_) => None,
            Tokenizer::Bpe(t) => t.eos(),
            Tokenizer::Spm(t) => t.eos(),
        }
    }

    /// The ids after which a generated text ends: EOS, config.json's other `eos_token_id`s, and
    /// for a llama2.c tokenizer.bin BOS (llama2.c's run.c stops there); none for characters.
    pub fn end_of_text(&self) -> Vec<u32> {
        match self {
            Tokenizer::Char(_) => Vec::new(),
            Tokenizer::Bpe(t) => t.end_of_text(),
            Tokenizer::Spm(t) => t.end_of_text(),
        }
    }

    /// Makes `ids` (config.json's `eos_token_id`s) end a generated text, the first of them
    /// within the vocabulary as EOS ([`BpeTokenizer::set_end_of_text`]). Only a tokenizer.json
    /// takes them: the other tokenizers carry their own.
    pub fn set_end_of_text(&mut self, ids: &[u32]) -> Result<(), LmError> {
        match self {
            Tokenizer::Bpe(t) => {
                t.set_end_of_text(ids);
                Ok(())
            }
            _ if ids.is_empty() => Ok(()),
            _ => Err(LmError::Config {
                field: "eos_token_id",
                message: format!("a {} tokenizer takes no end-of-text ids from config.json", self.kind()),
            }),
        }
    }
}

/// Text written token by token as the whole decodes (generation): the text a new id adds is
/// decode(ids[prefix..]) past decode(ids[prefix..read]), `prefix..read` being the ids written
/// last. Decoding one id alone would lose what depends on its neighbours: a SentencePiece
/// piece's "▁" is a space except at the start of the text (a lone "▁a" decodes as "a"), and a
/// character whose UTF-8 bytes span several byte tokens decodes as U+FFFD per part. So an id
/// whose text ends in U+FFFD (an incomplete character) adds "" and waits: the id that completes
/// it writes the character whole.
#[derive(Clone, Copy, Debug)]
pub struct TextStream {
    prefix: usize,
    read: usize,
}

impl TextStream {
    /// After the ids already shown (the prompt's, BOS included). The window starts at the last
    /// of them whose text is the end of the prompt's and begins on a whole character (a
    /// character spelt in byte tokens has up to 4), or at the start.
    pub fn after(tok: &Tokenizer, prompt: &[u32]) -> Self {
        let read = prompt.len();
        let full = tok.decode(prompt);
        let whole = |p: &usize| {
            let w = tok.decode(&prompt[*p..]);
            !w.is_empty() && !w.starts_with('\u{FFFD}') && full.ends_with(w.as_str())
        };
        let prefix = (read.saturating_sub(8)..read).rev().find(whole).unwrap_or(0);
        TextStream { prefix, read }
    }

    /// The window's text without and with the ids not yet written: decode(ids[prefix..read]) and
    /// decode(ids[prefix..]).
    fn window(&self, tok: &Tokenizer, ids: &[u32]) -> (String, String) {
        let (prefix, read) = (self.prefix.min(ids.len()), self.read.min(ids.len()));
        (tok.decode(&ids[prefix..read]), tok.decode(&ids[prefix..]))
    }

    /// The text that the last of `ids` (all of them so far, the prompt's first) adds.
    pub fn next(&mut self, tok: &Tokenizer, ids: &[u32]) -> String {
        let (before, now) = self.window(tok, ids);
        if now.ends_with('\u{FFFD}') {
            return String::new();
        }
        (self.prefix, self.read) = (self.read.min(ids.len()), ids.len());
        match now.strip_prefix(before.as_str()) {
            Some(added) => added.to_string(),
            // The ids before changed their text (they ended inside a character that this id
            // completes): what differs from the common start.
            None => {
                let common = now.char_indices().zip(before.chars()).take_while(|((_, a), b)| a == b).last().map_or(0, |((i, a), _)| i + a.len_utf8());
                now[common..].to_string()
            }
        }
    }

    /// What waited and never completed (an incomplete character at the end), as U+FFFD.
    pub fn rest(&self, tok: &Tokenizer, ids: &[u32]) -> String {
        let (before, now) = self.window(tok, ids);
        now.strip_prefix(before.as_str()).unwrap_or_default().to_string()
    }
}

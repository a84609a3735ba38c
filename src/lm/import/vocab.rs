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

use crate::lm::tokenizer_spm::byte_piece;

/// Most BPE merges kept (Llama 3 has 280 147; GPT-2 50 000): the same limit as a
/// `tokenizer.json`'s, so that one tokenizer reads in both formats or in neither.
pub use crate::lm::tokenizer_bpe::MAX_MERGES;

/// Largest `tokenizer.json` passed through (Llama 3's is 9 MB): the reader's own limit.
pub use crate::lm::tokenizer_bpe::MAX_TOKENIZER_JSON_BYTES;

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
    /// A Hugging Face `tokenizer.json`, as text (UTF-8 checked, not parsed), with the ids that
    /// end a text (config.json's `eos_token_id`s; tokenizer.json has none).
    TokenizerJson { json: String, end_of_text: Vec<u32> },
}

/// `tokenizer.ggml.token_type` values (sentencepiece's).
const NORMAL: i32 = 1;
const UNKNOWN: i32 = 2;
const CONTROL: i32 = 3;
const UNUSED: i32 = 5;
const BYTE: i32 = 6;

impl Vocabulary {
    /// A character alphabet (the built-in model's `qplay.alphabet`, id = position) as a
    /// SentencePiece-style ("llama") vocabulary, so that llama.cpp, which needs
    /// `tokenizer.ggml.*`, can load and tokenize the model:
    ///
    /// ```text
    /// id < A (the alphabet's length):  the character, ' ' written "▁" (llama.cpp escapes spaces);
    ///                                  normal, score 0: no two pieces concatenate to another, so
    ///                                  llama.cpp's merges leave one piece per character
    /// then, when V − A ≥ 3:            "<unk>" (unknown), "<s>" (BOS), "</s>" (EOS), control
    /// the rest up to V:                "<unused{i}>" (unused)
    /// add_bos_token false, add_space_prefix false (the model was trained on bare characters)
    /// ```
    /// Without room for the three special pieces they are left out (llama.cpp then takes ids
    /// 0 / 1 / 2 for them). An alphabet that holds "▁" itself (it would stand for two
    /// characters), a character twice, or more characters than V is an error.
    pub fn from_alphabet(alphabet: &str, vocab_size: usize) -> Result<Vocabulary, crate::lm::LmError> {
        use crate::lm::tokenizer_spm::SPACE_SYMBOL;
        let chars: Vec<char> = alphabet.chars().collect();
        let bad = |message: String| crate::lm::LmError::Config { field: "qplay.alphabet", message };
        if chars.len() > vocab_size {
            return Err(bad(format!("{} characters for a vocabulary of {vocab_size}", chars.len())));
        }
        crate::lm::CharTokenizer::new(chars.clone()).map_err(|e| bad(e.to_string()))?;
        if alphabet.contains(SPACE_SYMBOL) {
            return Err(bad(format!("holds {SPACE_SYMBOL:?}, which llama.cpp's vocabulary uses for the space")));
        }
        let mut v = Vocabulary { model: Some("llama".into()), add_bos: Some(false), add_space_prefix: Some(false), ..Vocabulary::default() };
        for c in &chars {
            let piece = if *c == ' ' { SPACE_SYMBOL.to_string() } else { c.to_string() };
            v.tokens.push(piece.into_bytes());
            v.token_types.push(NORMAL);
        }
        let a = chars.len() as u32;
        if vocab_size - chars.len() >= 3 {
            for (piece, ty) in [("<unk>", UNKNOWN), ("<s>", CONTROL), ("</s>", CONTROL)] {
                v.tokens.push(piece.as_bytes().to_vec());
                v.token_types.push(ty);
            }
            (v.unknown_id, v.bos_id, v.eos_id) = (Some(a), Some(a + 1), Some(a + 2));
        }
        while v.tokens.len() < vocab_size {
            v.tokens.push(format!("<unused{}>", v.tokens.len()).into_bytes());
            v.token_types.push(UNUSED);
        }
        v.scores = vec![0.0; vocab_size];
        Ok(v)
    }

    /// A llama2.c `tokenizer.bin` vocabulary (`model` "llama2.c") as the SentencePiece ("llama")
    /// vocabulary it was exported from, which llama.cpp loads and qplay reads back as the tokenizer
    /// [`SpmTokenizer::from_llama2c_pieces`](crate::lm::tokenizer_spm::SpmTokenizer::from_llama2c_pieces)
    /// makes. llama2.c's tokenizer.py wrote every piece with "▁" replaced by ' ', and BOS / EOS
    /// as "\n<s>\n" / "\n</s>\n"; run.c takes BOS = 1 and EOS = 2. Undone here:
    ///
    /// ```text
    /// piece        ' ' → "▁" everywhere; "\n<s>\n" → "<s>", "\n</s>\n" → "</s>"; scores kept
    /// bos / eos    the id of "\n<s>\n" / "\n</s>\n", as qplay's llama2.c tokenizer takes them
    ///              (none without them, so no text gains a BOS it did not have)
    /// token_type   "<0xXX>" 6 byte · "<unk>" 2 unknown · BOS, EOS 3 control · the rest 1 normal
    /// unknown_token_id the id of "<unk>" · add_space_prefix true (SentencePiece's dummy prefix,
    ///              which run.c's encode adds too) · add_bos_token true when there is a BOS
    /// ```
    ///
    /// Every text keeps its ids but "▁" itself: llama2.c spells it with its bytes, SentencePiece
    /// as a space.
    /// `Err` names what cannot be carried: a piece that holds "▁" (it would read back as a space).
    pub fn llama2c_as_sentencepiece(&self) -> Result<Vocabulary, String> {
        use crate::lm::tokenizer_spm::SPACE_SYMBOL;
        let find = |p: &[u8]| self.tokens.iter().position(|t| t == p).map(|i| i as u32);
        let (bos, eos) = (find(b"\n<s>\n"), find(b"\n</s>\n"));
        let mut v = Vocabulary {
            model: Some("llama".into()),
            scores: self.scores.clone(),
            bos_id: bos,
            eos_id: eos,
            unknown_id: find(b"<unk>"),
            add_bos: Some(bos.is_some()),
            add_space_prefix: Some(true),
            ..Vocabulary::default()
        };
        for (i, piece) in self.tokens.iter().enumerate() {
            if piece.windows(SPACE_SYMBOL.len()).any(|w| w == SPACE_SYMBOL.as_bytes()) {
                return Err(format!("its piece {i} holds {SPACE_SYMBOL:?}, which SentencePiece reads as a space"));
            }
            let spelling = match piece.as_slice() {
                b"\n<s>\n" => b"<s>".to_vec(),
                b"\n</s>\n" => b"</s>".to_vec(),
                p => {
                    let mut out = Vec::with_capacity(p.len());
                    for &b in p {
                        if b == b' ' {
                            out.extend_from_slice(SPACE_SYMBOL.as_bytes());
                        } else {
                            out.push(b);
                        }
                    }
                    out
                }
            };
            let ty = match piece.as_slice() {
                b"\n<s>\n" | b"\n</s>\n" => CONTROL,
                b"<unk>" => UNKNOWN,
                p if byte_piece(p).is_some() => BYTE,
                _ => NORMAL,
            };
            v.tokens.push(spelling);
            v.token_types.push(ty);
        }
        Ok(v)
    }

    /// Unused tokens after the last up to `vocab_size` (a model's embedding often has more rows
    /// than its tokenizer has tokens): "[PAD{id}]" in a "gpt2" vocabulary (convert_hf_to_gguf.py's
    /// name), "<unused{id}>" otherwise; score 0, type 5. Then every spelling must be distinct
    /// (llama.cpp looks tokens up by their text).
    pub fn pad_to(&mut self, vocab_size: usize) -> Result<(), String> {
        while self.tokens.len() < vocab_size {
            let id = self.tokens.len();
            let name = if self.model.as_deref() == Some("gpt2") { format!("[PAD{id}]") } else { format!("<unused{id}>") };
            self.tokens.push(name.into_bytes());
            if !self.scores.is_empty() {
                self.scores.push(0.0);
            }
            if !self.token_types.is_empty() {
                self.token_types.push(UNUSED);
            }
        }
        let mut seen = std::collections::HashMap::with_capacity(self.tokens.len());
        for (id, t) in self.tokens.iter().enumerate() {
            if let Some(first) = seen.insert(t.as_slice(), id) {
                return Err(format!("tokens {first} and {id} are both {:?}, and llama.cpp looks tokens up by their text", String::from_utf8_lossy(t)));
            }
        }
        Ok(())
    }
}

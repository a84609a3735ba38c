//! SentencePiece-style BPE by score: the tokenizer of Llama 1/2, TinyLlama and llama2.c models,
//! read from llama2.c's `tokenizer.bin` or from a GGUF vocabulary whose `tokenizer.ggml.model` is
//! "llama". The algorithm of sentencepiece's bpe_model.cc, llama.cpp's llm_tokenizer_spm and
//! llama2.c's run.c `encode` (tests/suite/lm_tokenizers.rs compares the ids with the PyPI
//! `sentencepiece` package's on a model it trained).
//!
//! ```text
//! text ──normalize──► "▁" + text with every ' ' replaced by "▁"     (the dummy prefix; not for "")
//!     (llama2.c's tokenizer.bin stores "▁" as ' ', so there the space symbol is ' ' itself)
//! ──split──► symbols: a user-defined piece where one starts (longest, frozen), else one character
//! ──merge──► while some adjacent pair (a, b) of unfrozen symbols has a‖b in the vocabulary:
//!                merge the pair of highest score(a‖b), leftmost first on ties
//!            (a heap of (score, position) over a linked list: O(n log n); a candidate is stale when
//!             either symbol has been merged since — their lengths no longer add up)
//! ──ids──► each symbol's piece id; a symbol with no piece: its UTF-8 bytes as the byte tokens
//!          "<0xXX>", or the unknown token when the vocabulary has no byte tokens
//! decode: pieces with "▁" → ' ', byte tokens → their byte, control tokens (BOS, EOS) → nothing,
//!         the unknown token → " ⁇ "; the first piece of the text loses its leading space (the
//!         dummy prefix; after BOS too, as run.c does); invalid UTF-8 → U+FFFD per maximal
//!         invalid sequence (sentencepiece writes one U+FFFD per byte there)
//! ```
//!
//! Token types are sentencepiece's, which GGUF's `tokenizer.ggml.token_type` copies: 1 normal,
//! 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte (0 is taken as normal). Merges may
//! produce normal and user-defined pieces only. Unused pieces are never produced (sentencepiece
//! merges through them and splits them back afterwards; no released vocabulary we know of has any).
//!
//! llama2.c's `tokenizer.bin` (written by its tokenizer.py): `i32 max_token_length`, then for
//! every token `f32 score, i32 len, len bytes`, little-endian, until the end of the file (the
//! file does not store the count). It stores no token types: "<0xXX>" pieces are byte tokens,
//! "<unk>" is the unknown token, "\n<s>\n" and "\n</s>\n" (how tokenizer.py writes BOS and EOS)
//! are control tokens, everything else is normal — so, as in run.c, a user-defined piece is not
//! matched whole there.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::tokenizer_bpe::{malformed, ByteTrie, VocabMap, MAX_TOKEN_BYTES, MAX_VOCAB};
use super::LmError;

/// The symbol sentencepiece puts for a space: U+2581 LOWER ONE EIGHTH BLOCK.
pub const SPACE_SYMBOL: &str = "\u{2581}";
/// What decoding the unknown token gives (sentencepiece's default unk_surface).
pub const UNKNOWN_SURFACE: &str = " \u{2047} ";

const LLAMA2C: &str = "llama2.c tokenizer.bin";
const GGUF: &str = "GGUF";

/// A token's role (sentencepiece's ModelProto.SentencePiece.Type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpmTokenType {
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

impl SpmTokenType {
    /// GGUF's numbering (llama.cpp's LLAMA_TOKEN_TYPE_*): 0 undefined (taken as normal), 1 normal,
    /// 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
    pub fn from_gguf(t: i32) -> Option<SpmTokenType> {
        Some(match t {
            0 | 1 => SpmTokenType::Normal,
            2 => SpmTokenType::Unknown,
            3 => SpmTokenType::Control,
            4 => SpmTokenType::UserDefined,
            5 => SpmTokenType::Unused,
            6 => SpmTokenType::Byte,
            _ => return None,
        })
    }
}

/// "<0xXX>" → the byte XX.
pub(crate) fn byte_piece(piece: &[u8]) -> Option<u8> {
    let hex = piece.strip_prefix(b"<0x")?.strip_suffix(b">")?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
}

/// A SentencePiece-style BPE tokenizer.
#[derive(Clone, Debug)]
pub struct SpmTokenizer {
    /// id → piece (with the space symbol), its score and type.
    pieces: Vec<Vec<u8>>,
    scores: Vec<f32>,
    types: Vec<SpmTokenType>,
    /// piece → id for the pieces a symbol may be: normal and user-defined.
    lookup: VocabMap<Vec<u8>, u32>,
    /// The user-defined pieces, matched whole in the normalized text.
    user_defined: ByteTrie,
    /// The id of "<0xXX>" for every byte.
    byte_ids: [Option<u32>; 256],
    /// "▁" (sentencepiece, GGUF) or " " (llama2.c's tokenizer.bin).
    space: &'static str,
    add_dummy_prefix: bool,
    unk: Option<u32>,
    bos: Option<u32>,
    eos: Option<u32>,
    /// Ids besides EOS after which a generated text ends.
    more_ends: Vec<u32>,
}

/// How a vocabulary spells text: the space symbol, and whether a text gets one in front.
#[derive(Clone, Copy, Debug)]
struct Spelling {
    space: &'static str,
    add_dummy_prefix: bool,
}

/// A symbol: the span [start, start + len) of the normalized text; len 0 once merged away.
#[derive(Clone, Copy, Debug)]
struct Symbol {
    start: usize,
    len: usize,
    prev: usize,
    next: usize,
    /// A user-defined piece: never merged.
    frozen: Option<u32>,
}

const NONE: usize = usize::MAX;

/// A candidate merge of `left` and `right` into a piece of `len` bytes with `score` (u32 indices:
/// 16 bytes a candidate; texts are limited to [`MAX_SPM_TEXT_BYTES`]).
#[derive(Clone, Copy, Debug)]
struct Candidate {
    score: f32,
    left: u32,
    right: u32,
    len: u32,
}

/// Longest text `encode` takes (symbol indices and lengths are u32 in the heap).
pub const MAX_SPM_TEXT_BYTES: usize = 1 << 30;

impl PartialEq for Candidate {
    fn eq(&self, other: &Candidate) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate {}

impl Ord for Candidate {
    /// Max-heap: the highest score first, then the leftmost (scores are never NaN).
    fn cmp(&self, other: &Candidate) -> Ordering {
        self.score.total_cmp(&other.score).then(other.left.cmp(&self.left))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Candidate) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl SpmTokenizer {
    fn build(
        pieces: Vec<Vec<u8>>,
        scores: Vec<f32>,
        types: Vec<SpmTokenType>,
        spelling: Spelling,
        (bos, eos): (Option<u32>, Option<u32>),
        format: &'static str,
    ) -> Result<SpmTokenizer, LmError> {
        let Spelling { space, add_dummy_prefix } = spelling;
        let n = pieces.len();
        let mut lookup = VocabMap::with_capacity(n);
        let mut user_defined = ByteTrie::new();
        let mut byte_ids = [None; 256];
        let mut unk = None;
        for (id, (piece, &kind)) in pieces.iter().zip(&types).enumerate() {
            let id = id as u32;
            if let Some(&s) = scores.get(id as usize) {
                if s.is_nan() {
                    return Err(malformed(format, format!("token {id} has a NaN score")));
                }
            }
            match kind {
                SpmTokenType::Normal => {
                    lookup.entry(piece.clone()).or_insert(id);
                }
                SpmTokenType::UserDefined => {
                    lookup.entry(piece.clone()).or_insert(id);
                    if !piece.is_empty() {
                        user_defined.insert(piece, id).map_err(|why| malformed(format, format!("user-defined token {id} {why}")))?;
                    }
                }
                SpmTokenType::Byte => match byte_piece(piece) {
                    Some(b) => byte_ids[b as usize] = byte_ids[b as usize].or(Some(id)),
                    None => {
                        return Err(malformed(
                            format,
                            format!(
                                "token {id} is a byte token but its piece {:?} is not <0xXX>",
                                String::from_utf8_lossy(piece)
                            ),
                        ))
                    }
                },
                SpmTokenType::Unknown => unk = unk.or(Some(id)),
                SpmTokenType::Control | SpmTokenType::Unused => {}
            }
        }
        for (name, id) in [("bos", bos), ("eos", eos)] {
            if let Some(id) = id {
                if id as usize >= n {
                    return Err(malformed(format, format!("the {name} id {id} is not below the vocabulary size {n}")));
                }
            }
        }
        Ok(SpmTokenizer {
            pieces,
            scores,
            types,
            lookup,
            user_defined,
            byte_ids,
            space,
            add_dummy_prefix,
            unk,
            bos,
            eos,
            more_ends: Vec::new(),
        })
    }

    /// From llama2.c's `tokenizer.bin` (format in the module doc). Every count and length is
    /// checked against the bytes that remain before anything is allocated for it.
    pub fn from_llama2c_bin(data: &[u8]) -> Result<SpmTokenizer, LmError> {
        let Some(head) = data.get(..4) else {
            return Err(malformed(
                LLAMA2C,
                format!("truncated: {} bytes, the header (max_token_length) needs 4", data.len()),
            ));
        };
        let max_len = i32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        if max_len < 0 || max_len as usize > MAX_TOKEN_BYTES {
            return Err(malformed(LLAMA2C, format!("max_token_length {max_len} is not in 0..={MAX_TOKEN_BYTES}")));
        }
        let max_len = max_len as usize;
        let mut pieces = Vec::new();
        let mut scores = Vec::new();
        let mut pos = 4;
        while pos < data.len() {
            let id = pieces.len();
            if id >= MAX_VOCAB {
                return Err(malformed(LLAMA2C, format!("more than {MAX_VOCAB} tokens")));
            }
            let Some(h) = data.get(pos..pos + 8) else {
                return Err(malformed(
                    LLAMA2C,
                    format!(
                        "truncated: token {id} at byte {pos} needs an 8-byte header (score, length), {} bytes remain",
                        data.len() - pos
                    ),
                ));
            };
            let score = f32::from_le_bytes([h[0], h[1], h[2], h[3]]);
            let len = i32::from_le_bytes([h[4], h[5], h[6], h[7]]);
            pos += 8;
            if score.is_nan() {
                return Err(malformed(LLAMA2C, format!("token {id} has a NaN score")));
            }
            if len < 0 || len as usize > max_len {
                return Err(malformed(
                    LLAMA2C,
                    format!("token {id} has length {len}, not in 0..=max_token_length ({max_len})"),
                ));
            }
            let len = len as usize;
            if len > data.len() - pos {
                return Err(malformed(
                    LLAMA2C,
                    format!("truncated: token {id} has length {len} but {} bytes remain", data.len() - pos),
                ));
            }
            pieces.push(data[pos..pos + len].to_vec());
            scores.push(score);
            pos += len;
        }
        SpmTokenizer::from_llama2c_pieces(pieces, scores)
    }

    /// From the pieces and scores of a llama2.c `tokenizer.bin` already read (by id; spaces
    /// stored as ' ').
    pub fn from_llama2c_pieces(pieces: Vec<Vec<u8>>, scores: Vec<f32>) -> Result<SpmTokenizer, LmError> {
        if pieces.is_empty() {
            return Err(malformed(LLAMA2C, "no tokens after the header"));
        }
        if pieces.len() != scores.len() || pieces.len() > MAX_VOCAB {
            return Err(malformed(LLAMA2C, format!("{} pieces and {} scores", pieces.len(), scores.len())));
        }
        if let Some(id) = scores.iter().position(|s| s.is_nan()) {
            return Err(malformed(LLAMA2C, format!("token {id} has a NaN score")));
        }
        let find = |p: &[u8]| pieces.iter().position(|q| q == p).map(|i| i as u32);
        // tokenizer.py writes BOS / EOS as "\n<s>\n" / "\n</s>\n" (run.c takes them to be ids 1
        // and 2; a file without them has no BOS / EOS here).
        let bos = find(b"\n<s>\n");
        let eos = find(b"\n</s>\n");
        let types = pieces
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let i = Some(i as u32);
                if byte_piece(p).is_some() {
                    SpmTokenType::Byte
                } else if p == b"<unk>" {
                    SpmTokenType::Unknown
                } else if i == bos || i == eos {
                    SpmTokenType::Control
                } else {
                    SpmTokenType::Normal
                }
            })
            .collect();
        let mut t = SpmTokenizer::build(pieces, scores, types, Spelling { space: " ", add_dummy_prefix: true }, (bos, eos), LLAMA2C)?;
        // llama2.c's models (TinyStories) are trained on texts that each begin with BOS and
        // have no EOS, so they end a text by writing BOS; run.c stops there.
        t.more_ends = bos.into_iter().collect();
        Ok(t)
    }

    /// From a GGUF vocabulary with `tokenizer.ggml.model` = "llama": pieces by id (with "▁"),
    /// scores (empty: all 0), token types (empty: all normal), BOS / EOS, and
    /// `tokenizer.ggml.add_space_prefix` (llama.cpp's default: true).
    pub fn from_gguf(
        tokens: Vec<Vec<u8>>,
        scores: Vec<f32>,
        token_types: &[i32],
        bos: Option<u32>,
        eos: Option<u32>,
        add_space_prefix: bool,
    ) -> Result<SpmTokenizer, LmError> {
        let n = tokens.len();
        if n == 0 {
            return Err(malformed(GGUF, "tokenizer.ggml.tokens is empty"));
        }
        if n > MAX_VOCAB {
            return Err(malformed(GGUF, format!("{n} tokens, more than {MAX_VOCAB}")));
        }
        let scores = if scores.is_empty() { vec![0.0; n] } else { scores };
        if scores.len() != n {
            return Err(malformed(GGUF, format!("tokenizer.ggml.scores has {} entries for {n} tokens", scores.len())));
        }
        if !token_types.is_empty() && token_types.len() != n {
            return Err(malformed(
                GGUF,
                format!("tokenizer.ggml.token_type has {} entries for {n} tokens", token_types.len()),
            ));
        }
        let types = (0..n)
            .map(|i| {
                let t = token_types.get(i).copied().unwrap_or(1);
                SpmTokenType::from_gguf(t)
                    .ok_or_else(|| malformed(GGUF, format!("token {i} has token type {t} (0..=6 expected)")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some((i, t)) = tokens.iter().enumerate().find(|(_, t)| t.len() > MAX_TOKEN_BYTES) {
            return Err(malformed(GGUF, format!("token {i} is {} bytes long", t.len())));
        }
        let spelling = Spelling { space: SPACE_SYMBOL, add_dummy_prefix: add_space_prefix };
        SpmTokenizer::build(tokens, scores, types, spelling, (bos, eos), GGUF)
    }

    pub fn vocab_len(&self) -> usize {
        self.pieces.len()
    }

    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    /// The ids after which a generated text ends: EOS and the others.
    pub fn end_of_text(&self) -> Vec<u32> {
        self.eos.into_iter().chain(self.more_ends.iter().copied()).collect()
    }

    pub fn token_type(&self, id: u32) -> Option<SpmTokenType> {
        self.types.get(id as usize).copied()
    }

    pub fn score(&self, id: u32) -> Option<f32> {
        self.scores.get(id as usize).copied()
    }

    /// Text → ids, without BOS / EOS (sentencepiece's encode(text)).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LmError> {
        if text.is_empty() {
            return Ok(Vec::new());
        }
        if text.len() > MAX_SPM_TEXT_BYTES {
            return Err(LmError::TooLarge {
                what: "the text to tokenize".into(),
                bytes: text.len() as u128,
                limit: MAX_SPM_TEXT_BYTES as u128,
            });
        }
        // normalized = [space] + text with ' ' → space
        let space = self.space.as_bytes();
        let mut norm = Vec::with_capacity(text.len() + text.len() / 2 + space.len());
        if self.add_dummy_prefix {
            norm.extend_from_slice(space);
        }
        for &b in text.as_bytes() {
            if b == b' ' {
                norm.extend_from_slice(space);
            } else {
                norm.push(b);
            }
        }

        let mut symbols: Vec<Symbol> = Vec::new();
        let mut p = 0;
        while p < norm.len() {
            let (len, frozen) = match self.user_defined.longest_prefix(&norm[p..]) {
                Some((len, id)) => (len, Some(id)),
                None => (utf8_len(norm[p]).min(norm.len() - p), None),
            };
            let k = symbols.len();
            symbols.push(Symbol { start: p, len, prev: if k == 0 { NONE } else { k - 1 }, next: k + 1, frozen });
            p += len;
        }
        if let Some(last) = symbols.last_mut() {
            last.next = NONE;
        }

        let mut first = Vec::new();
        for k in 1..symbols.len() {
            self.push_candidate(&norm, &symbols, k - 1, k, &mut first);
        }
        let mut heap = BinaryHeap::from(first);
        let mut found = Vec::with_capacity(2);
        while let Some(c) = heap.pop() {
            let (left, right, len) = (c.left as usize, c.right as usize, c.len as usize);
            let (l, r) = (symbols[left], symbols[right]);
            // Stale: one of the two has been merged since (symbols only grow, and the left one of
            // a merge keeps its index, so unchanged lengths mean both are as they were).
            if l.len == 0 || r.len == 0 || l.len + r.len != len {
                continue;
            }
            symbols[left].len = len;
            symbols[left].next = r.next;
            symbols[right].len = 0;
            if r.next != NONE {
                symbols[r.next].prev = left;
            }
            self.push_candidate(&norm, &symbols, l.prev, left, &mut found);
            self.push_candidate(&norm, &symbols, left, r.next, &mut found);
            heap.extend(found.drain(..));
        }

        let mut ids = Vec::with_capacity(symbols.len());
        let mut k = if symbols.is_empty() { NONE } else { 0 };
        while k != NONE {
            let s = symbols[k];
            k = s.next;
            if let Some(id) = s.frozen {
                ids.push(id);
                continue;
            }
            let piece = &norm[s.start..s.start + s.len];
            if let Some(&id) = self.lookup.get(piece) {
                ids.push(id);
            } else if let Some(bytes) = piece.iter().map(|&b| self.byte_ids[b as usize]).collect::<Option<Vec<u32>>>() {
                ids.extend(bytes);
            } else if let Some(unk) = self.unk {
                ids.push(unk);
            } else {
                return Err(LmError::Tokens(format!(
                    "{:?} is not in the vocabulary, which has neither byte tokens nor an unknown token",
                    String::from_utf8_lossy(piece)
                )));
            }
        }
        Ok(ids)
    }

    fn push_candidate(&self, norm: &[u8], symbols: &[Symbol], left: usize, right: usize, out: &mut Vec<Candidate>) {
        if left == NONE || right == NONE {
            return;
        }
        let (l, r) = (symbols[left], symbols[right]);
        if l.frozen.is_some() || r.frozen.is_some() {
            return;
        }
        // Adjacent symbols are adjacent spans, so l‖r is a slice of the normalized text.
        let len = l.len + r.len;
        if let Some(&id) = self.lookup.get(&norm[l.start..l.start + len]) {
            out.push(Candidate {
                score: self.scores[id as usize],
                left: left as u32,
                right: right as u32,
                len: len as u32,
            });
        }
    }

    /// Ids → text (module doc); an id beyond the vocabulary decodes as U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::new();
        let mut at_start = true;
        for &id in ids {
            let Some(&kind) = self.types.get(id as usize) else {
                bytes.extend_from_slice("\u{FFFD}".as_bytes());
                at_start = false;
                continue;
            };
            let piece = &self.pieces[id as usize];
            match kind {
                SpmTokenType::Control | SpmTokenType::Unused => continue,
                SpmTokenType::Unknown => bytes.extend_from_slice(UNKNOWN_SURFACE.as_bytes()),
                SpmTokenType::Byte => bytes.extend(byte_piece(piece)),
                SpmTokenType::Normal | SpmTokenType::UserDefined => {
                    let space = self.space.as_bytes();
                    let mut rest: &[u8] = piece;
                    if at_start && self.add_dummy_prefix {
                        rest = rest.strip_prefix(space).unwrap_or(rest);
                    }
                    // piece with every space symbol → ' '
                    while !rest.is_empty() {
                        if rest.starts_with(space) {
                            bytes.push(b' ');
                            rest = &rest[space.len()..];
                        } else {
                            bytes.push(rest[0]);
                            rest = &rest[1..];
                        }
                    }
                }
            }
            at_start = false;
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// The length of the UTF-8 sequence a leading byte starts (1 for a stray continuation byte).
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xF0..=0xF7 => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

//! Byte-level BPE: the tokenizer of GPT-2, Llama 3, Qwen2 and SmolLM, read from a Hugging Face
//! `tokenizer.json` (model "BPE" with a ByteLevel pre-tokenizer) or from a GGUF vocabulary whose
//! `tokenizer.ggml.model` is "gpt2". Written to give the ids of the PyPI `tokenizers` package
//! (tests/suite/lm_tokenizers.rs compares them on fixtures that package made).
//!
//! ```text
//! text ──added tokens, matched first (leftmost-longest)──► added ids | plain segments
//! segment ──pre-tokenizer steps──► words
//!     Split(regex)    the GPT-2, Llama-3 or Qwen2 regex, scanned by hand (below), each match a word
//!     Digits          every \p{N} (or every run of them) its own word
//!     ByteLevel       optional leading ' ', then (use_regex) the GPT-2 regex
//! word ──UTF-8 bytes──► one symbol per byte b, spelt with the character B(b):
//!     B(b) = b        for the 188 printable bytes '!'..='~', '¡'..='¬', '®'..='ÿ'
//!     B(b) = 256 + k  for the k-th of the other 68 bytes in increasing order (' ' → 'Ġ' U+0120)
//! symbols ──merge──► ids:
//!     while some adjacent pair (a, b) has a rank r(a, b) (its line in `merges`):
//!         merge the pair of lowest (r, position) into the token a‖b
//!     ignore_merges (Llama 3): a word that is itself a token is that token, unmerged
//! decode: ids → token strings → B⁻¹ per character → bytes → UTF-8, invalid sequences → U+FFFD
//! ```
//!
//! The merge loop is `tokenizers`' own (models/bpe/word.rs `merge_all`): a heap of candidate
//! merges ordered by (rank, position) over a linked list of symbols, a candidate being stale when
//! its pair no longer merges to the same token. Each merge pushes at most two candidates, so a word
//! of n bytes costs O(n log n): 100 KB of 'a' (one word for every regex) is fine.
//!
//! The regexes are not run by a regex engine: each known pattern is a hand-written scanner over
//! character classes that follows the engine's leftmost-first alternation and backtracking
//! (`\s+(?!\S)` gives back the last whitespace before a non-space; `\s*[\r\n]+` ends after the last
//! newline of a whitespace run). `\p{L}` and `\p{N}` are the Unicode general categories L* and N*
//! from the tables at the end of this file (Unicode 14.0, the version of the Oniguruma that
//! `tokenizers` links); `\s` is the White_Space property (`char::is_whitespace`). A pattern that is
//! not one of the known ones is refused with an error that quotes it.
//!
//! SentencePiece-style BPE in a tokenizer.json (Llama 2, Mistral: "▁" pieces and "<0xXX>" byte
//! fallback instead of byte-level tokens) runs through the same vocabulary, merges and merge loop;
//! what differs — the normalizer or Metaspace pre-tokenizer, the characters as symbols, the
//! decoder — is in [`super::tokenizer_pieces`].
//!
//! Not implemented, refused by name: other models (WordPiece, Unigram, WordLevel), a
//! `continuing_subword_prefix` / `end_of_word_suffix`, dropout, normalizers other than NFC (and
//! for SentencePiece-style files Prepend("▁") / Replace(" ", "▁")), other pre-tokenizers and
//! decoders. NFC (Qwen2's tokenizer.json) is applied as `tokenizers` applies it: to the text
//! between the added tokens that are matched before normalizing. A GGUF vocabulary carries no
//! normalizer, and is read as llama.cpp reads it, without one.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::ops::Range;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::tokenizer_json::{small_value, MergeJson, MergesJson, VocabJson};
use super::tokenizer_pieces::{self, byte_token, Metaspace, Normalizer, PieceRules};
use super::tokenizers::GgufVocab;
use super::LmError;
use crate::formats::FormatError;

/// Largest vocabulary accepted (ids 0..MAX_VOCAB; Gemma 3 has 262 144 tokens).
pub const MAX_VOCAB: usize = 1 << 20;
/// Most merges accepted.
pub const MAX_MERGES: usize = 1 << 21;
/// Longest token accepted, in bytes.
pub const MAX_TOKEN_BYTES: usize = 1 << 16;
/// Largest tokenizer.json accepted (Llama 3's is 9 MB).
pub const MAX_TOKENIZER_JSON_BYTES: usize = 64 << 20;

const JSON: &str = "tokenizer.json";

pub(crate) fn malformed(format: &'static str, message: impl Into<String>) -> LmError {
    LmError::Format(FormatError::Malformed { format, message: message.into() })
}

pub(crate) fn unsupported(field: &'static str, message: impl Into<String>) -> LmError {
    LmError::Config { field, message: message.into() }
}

// ------------------------------------------------------------------------------------------------
// The vocabulary and merge tables

/// A table keyed by what the user's file chose (token texts, id pairs): std's SipHash with its
/// per-map keys, whose buckets names chosen to collide (or merely sequential ones, "t0000001",
/// "t0000002", …) cannot pile into. An unkeyed multiply-rotate hash took 656 s to build a
/// 989,001-token vocabulary of such names, and 19 s for a million sequential ones.
pub(crate) type VocabMap<K, V> = HashMap<K, V>;

// ------------------------------------------------------------------------------------------------
// GPT-2's byte ↔ character table

/// B(b) for every byte b.
pub const BYTE_CHARS: [char; 256] = byte_chars();

const fn is_printable_byte(b: u32) -> bool {
    (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
}

const fn byte_chars() -> [char; 256] {
    let mut out = ['\0'; 256];
    let mut k = 0u32;
    let mut b = 0u32;
    while b < 256 {
        let cp = if is_printable_byte(b) {
            b
        } else {
            k += 1;
            256 + k - 1
        };
        out[b as usize] = match char::from_u32(cp) {
            Some(c) => c,
            None => panic!("below U+0144"),
        };
        b += 1;
    }
    out
}

/// B⁻¹: the byte a character stands for (characters U+0000..U+0143 only).
const CHAR_BYTES: [i16; 324] = char_bytes();

const fn char_bytes() -> [i16; 324] {
    let mut out = [-1i16; 324];
    let mut b = 0;
    while b < 256 {
        out[BYTE_CHARS[b] as usize] = b as i16;
        b += 1;
    }
    out
}

/// The bytes a byte-level token string stands for; `None` when a character is not some B(b)
/// (then `tokenizers`' ByteLevel decoder keeps the token's own UTF-8, and so do we).
pub fn byte_level_bytes(token: &str) -> Option<Vec<u8>> {
    token.chars().map(|c| CHAR_BYTES.get(c as usize).copied().filter(|&b| b >= 0).map(|b| b as u8)).collect()
}

/// The byte-level spelling of raw bytes: B(b) for each.
pub fn byte_level_string(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| BYTE_CHARS[b as usize]).collect()
}

// ------------------------------------------------------------------------------------------------
// Character classes of the regexes

/// `\p{L}`: general category Lu, Ll, Lt, Lm or Lo.
pub fn is_letter(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphabetic()
    } else {
        in_ranges(&LETTER_RANGES, c as u32)
    }
}

/// `\p{N}`: general category Nd, Nl or No.
pub fn is_number(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_digit()
    } else {
        in_ranges(&NUMBER_RANGES, c as u32)
    }
}

/// `\s`: the White_Space property (U+0009..U+000D, U+0020, U+0085, U+00A0, U+1680, U+2000..U+200A,
/// U+2028, U+2029, U+202F, U+205F, U+3000).
fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// `[^\s\p{L}\p{N}]`
fn is_other(c: char) -> bool {
    !is_space(c) && !is_letter(c) && !is_number(c)
}

fn is_newline(c: char) -> bool {
    c == '\r' || c == '\n'
}

fn in_ranges(table: &[(u32, u32)], cp: u32) -> bool {
    table
        .binary_search_by(|&(lo, hi)| {
            if hi < cp {
                Ordering::Less
            } else if lo > cp {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        })
        .is_ok()
}

// ------------------------------------------------------------------------------------------------
// The pre-tokenizer regexes, scanned by hand

/// A pre-tokenizer regex this module implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitPattern {
    /// GPT-2 (also the ByteLevel pre-tokenizer's own regex).
    Gpt2,
    /// Llama 3: case-insensitive contractions, digits in groups of at most 3.
    Llama3,
    /// Qwen2: as Llama 3 with single digits.
    Qwen2,
}

impl SplitPattern {
    pub const GPT2_REGEX: &'static str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
    pub const LLAMA3_REGEX: &'static str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    pub const QWEN2_REGEX: &'static str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    pub fn from_regex(regex: &str) -> Option<SplitPattern> {
        match regex {
            Self::GPT2_REGEX => Some(SplitPattern::Gpt2),
            Self::LLAMA3_REGEX => Some(SplitPattern::Llama3),
            Self::QWEN2_REGEX => Some(SplitPattern::Qwen2),
            _ => None,
        }
    }

    pub fn regex(self) -> &'static str {
        match self {
            SplitPattern::Gpt2 => Self::GPT2_REGEX,
            SplitPattern::Llama3 => Self::LLAMA3_REGEX,
            SplitPattern::Qwen2 => Self::QWEN2_REGEX,
        }
    }

    /// The byte ranges of the successive matches of the regex in `text` (they cover all of it:
    /// every character is a letter, a number, whitespace or "other").
    pub fn split(self, text: &str, out: &mut Vec<Range<usize>>) {
        let t = Scan::new(text);
        let mut i = 0;
        while i < t.len() {
            let end = match self {
                SplitPattern::Gpt2 => t.gpt2_match(i),
                SplitPattern::Llama3 => t.llama3_match(i, 3),
                SplitPattern::Qwen2 => t.llama3_match(i, 1),
            };
            debug_assert!(end > i);
            out.push(t.offset(i)..t.offset(end));
            i = end;
        }
    }
}

/// A text as characters with their byte offsets; indices below are character indices.
struct Scan<'a> {
    text: &'a str,
    chars: Vec<(usize, char)>,
}

impl<'a> Scan<'a> {
    fn new(text: &'a str) -> Scan<'a> {
        Scan { text, chars: text.char_indices().collect() }
    }

    fn len(&self) -> usize {
        self.chars.len()
    }

    fn at(&self, k: usize) -> Option<char> {
        self.chars.get(k).map(|&(_, c)| c)
    }

    fn offset(&self, k: usize) -> usize {
        self.chars.get(k).map_or(self.text.len(), |&(o, _)| o)
    }

    /// The first index ≥ k whose character is not in the class.
    fn run(&self, k: usize, class: fn(char) -> bool) -> usize {
        let mut e = k;
        while e < self.len() && class(self.chars[e].1) {
            e += 1;
        }
        e
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d` after an apostrophe at k − 1: the number of characters it takes.
    /// `case_insensitive` is `(?i:…)`: ASCII case, and 'ſ' (U+017F) folds to 's'.
    fn contraction(&self, k: usize, case_insensitive: bool) -> Option<usize> {
        let is = |idx: usize, lower: char| {
            self.at(idx).is_some_and(|c| {
                c == lower
                    || (case_insensitive && (c == lower.to_ascii_uppercase() || (lower == 's' && c == '\u{17F}')))
            })
        };
        if is(k, 's') || is(k, 't') || is(k, 'm') || is(k, 'd') {
            Some(1)
        } else if (is(k, 'r') || is(k, 'v')) && is(k + 1, 'e') || is(k, 'l') && is(k + 1, 'l') {
            Some(2)
        } else {
            None
        }
    }

    /// `\s+(?!\S)|\s+` from whitespace at i: the whole run when it ends the text or is one
    /// character, else the run minus its last character (which then starts the next word).
    fn whitespace(&self, i: usize) -> usize {
        let e = self.run(i, is_space);
        if e == self.len() || e - i == 1 {
            e
        } else {
            e - 1
        }
    }

    /// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`, the end
    /// of the match starting at i.
    fn gpt2_match(&self, i: usize) -> usize {
        let c = self.chars[i].1;
        if c == '\'' {
            if let Some(m) = self.contraction(i + 1, false) {
                return i + 1 + m;
            }
        }
        // ` ?` takes a literal space only when what follows matches.
        let j = if c == ' ' && i + 1 < self.len() { i + 1 } else { i };
        let d = self.chars[j].1;
        if is_letter(d) {
            self.run(j, is_letter)
        } else if is_number(d) {
            self.run(j, is_number)
        } else if !is_space(d) {
            self.run(j, is_other)
        } else {
            self.whitespace(i)
        }
    }

    /// Llama 3 / Qwen2 (`max_digits` 3 / 1): `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|
    /// \p{N}{1,max_digits}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
    fn llama3_match(&self, i: usize, max_digits: usize) -> usize {
        let c = self.chars[i].1;
        if c == '\'' {
            if let Some(m) = self.contraction(i + 1, true) {
                return i + 1 + m;
            }
        }
        if is_letter(c) {
            return self.run(i, is_letter);
        }
        if !is_newline(c) && !is_number(c) && self.at(i + 1).is_some_and(is_letter) {
            return self.run(i + 1, is_letter);
        }
        if is_number(c) {
            return self.run(i, is_number).min(i + max_digits);
        }
        let j = if c == ' ' && i + 1 < self.len() { i + 1 } else { i };
        if is_other(self.chars[j].1) {
            let e = self.run(j, is_other);
            return self.run(e, is_newline);
        }
        // c is whitespace. `\s*[\r\n]+`: greedy \s* backtracks to the last newline of the run.
        let e = self.run(i, is_space);
        if let Some(k) = (i..e).rev().find(|&k| is_newline(self.chars[k].1)) {
            return k + 1;
        }
        self.whitespace(i)
    }
}

/// One step of the pre-tokenizer; each applies to every word the previous steps made.
#[derive(Clone, Debug, PartialEq)]
pub enum PreTokenizerStep {
    /// `Split` with behaviour Isolated: every match of the regex a word.
    Split(SplitPattern),
    /// `Digits`: every `\p{N}` its own word (individual) or every run of them.
    Digits { individual: bool },
    /// `ByteLevel`: a leading ' ' when the word has none (add_prefix_space), then the GPT-2 regex
    /// (use_regex). The byte → character mapping itself happens after the last step.
    ByteLevel { add_prefix_space: bool, use_regex: bool },
}

impl PreTokenizerStep {
    fn apply<'a>(&self, word: Cow<'a, str>, out: &mut Vec<Cow<'a, str>>, ranges: &mut Vec<Range<usize>>) {
        ranges.clear();
        match *self {
            PreTokenizerStep::Split(p) => p.split(&word, ranges),
            PreTokenizerStep::Digits { individual } => digit_ranges(&word, individual, ranges),
            PreTokenizerStep::ByteLevel { add_prefix_space, use_regex } => {
                let word =
                    if add_prefix_space && !word.starts_with(' ') { Cow::Owned(format!(" {word}")) } else { word };
                if use_regex {
                    SplitPattern::Gpt2.split(&word, ranges);
                    push_ranges(word, ranges, out);
                } else {
                    out.push(word);
                }
                return;
            }
        }
        push_ranges(word, ranges, out);
    }
}

fn push_ranges<'a>(word: Cow<'a, str>, ranges: &[Range<usize>], out: &mut Vec<Cow<'a, str>>) {
    match word {
        Cow::Borrowed(s) => out.extend(ranges.iter().map(|r| Cow::Borrowed(&s[r.clone()]))),
        Cow::Owned(s) => out.extend(ranges.iter().map(|r| Cow::Owned(s[r.clone()].to_string()))),
    }
}

fn digit_ranges(text: &str, individual: bool, out: &mut Vec<Range<usize>>) {
    let mut start = 0;
    let mut in_digits = false;
    for (o, c) in text.char_indices() {
        let digit = is_number(c);
        if o > start && (digit != in_digits || (digit && individual)) {
            out.push(start..o);
            start = o;
        }
        in_digits = digit;
    }
    if start < text.len() {
        out.push(start..text.len());
    }
}

// ------------------------------------------------------------------------------------------------
// Added tokens

/// A token matched in the text before pre-tokenization (`added_tokens` of tokenizer.json, the
/// control and user-defined tokens of a GGUF vocabulary).
#[derive(Clone, Debug, PartialEq)]
pub struct AddedToken {
    pub id: u32,
    pub content: String,
    /// Special tokens (BOS, EOS, …); ordinary added tokens are not.
    pub special: bool,
    /// Matches only between non-word characters (`\w` taken as alphanumeric or '_').
    pub single_word: bool,
    /// Absorbs the whitespace on its left / right.
    pub lstrip: bool,
    pub rstrip: bool,
    /// Matched after normalization (a second pass), else on the raw text (the first pass).
    pub normalized: bool,
}

/// Longest string a [`ByteTrie`] takes (added tokens, SentencePiece user-defined pieces):
/// matching tries at most this many bytes from each position of a text, so splitting a text
/// of n bytes is at most n · 512 steps (linear in the text).
pub const MAX_MATCHED_TOKEN_BYTES: usize = 512;
/// Most bytes of all the strings of a [`ByteTrie`] together (its nodes, and so its memory, are
/// at most this many).
pub const MAX_MATCHED_TOTAL_BYTES: usize = 1 << 20;

/// A byte trie for leftmost-longest matching of a set of strings.
#[derive(Clone, Debug, Default)]
pub(crate) struct ByteTrie {
    /// children of node k: sorted (byte, child node); value: the entry that ends at node k.
    children: Vec<Vec<(u8, u32)>>,
    value: Vec<Option<u32>>,
    /// Bytes of every key inserted.
    bytes: usize,
}

impl ByteTrie {
    pub(crate) fn new() -> ByteTrie {
        ByteTrie { children: vec![Vec::new()], value: vec![None], bytes: 0 }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.children[0].is_empty()
    }

    /// Adds a non-empty key; a key added twice keeps its last value. Err: the key is longer than
    /// [`MAX_MATCHED_TOKEN_BYTES`] or the keys together pass [`MAX_MATCHED_TOTAL_BYTES`].
    pub(crate) fn insert(&mut self, key: &[u8], value: u32) -> Result<(), String> {
        if key.len() > MAX_MATCHED_TOKEN_BYTES {
            return Err(format!("is {} bytes long; qplay matches such tokens up to {MAX_MATCHED_TOKEN_BYTES} bytes", key.len()));
        }
        self.bytes += key.len();
        if self.bytes > MAX_MATCHED_TOTAL_BYTES {
            return Err(format!("brings the matched tokens past {MAX_MATCHED_TOTAL_BYTES} bytes together"));
        }
        let mut node = 0usize;
        for &b in key {
            node = match self.children[node].binary_search_by_key(&b, |&(k, _)| k) {
                Ok(i) => self.children[node][i].1 as usize,
                Err(i) => {
                    let new = self.children.len();
                    self.children.push(Vec::new());
                    self.value.push(None);
                    self.children[node].insert(i, (b, new as u32));
                    new
                }
            };
        }
        self.value[node] = Some(value);
        Ok(())
    }

    /// The longest key that is a prefix of `text`: (its length, its value).
    pub(crate) fn longest_prefix(&self, text: &[u8]) -> Option<(usize, u32)> {
        let mut node = 0usize;
        let mut best = None;
        for (k, &b) in text.iter().enumerate() {
            match self.children[node].binary_search_by_key(&b, |&(key, _)| key) {
                Ok(i) => node = self.children[node][i].1 as usize,
                Err(_) => break,
            }
            if let Some(v) = self.value[node] {
                best = Some((k + 1, v));
            }
        }
        best
    }
}

#[derive(Clone, Debug, Default)]
struct AddedVocab {
    tokens: Vec<AddedToken>,
    /// Index into `tokens`, for the raw-text pass and the normalized pass.
    raw: ByteTrie,
    normalized: ByteTrie,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl AddedVocab {
    /// `key(t)`: the string a token is matched as (its content, or for a normalized token of a
    /// SentencePiece-style tokenizer its normalized content).
    fn new(tokens: Vec<AddedToken>, format: &'static str, key: impl Fn(&AddedToken) -> String) -> Result<AddedVocab, LmError> {
        let mut raw = ByteTrie::new();
        let mut normalized = ByteTrie::new();
        for (k, t) in tokens.iter().enumerate() {
            let key = key(t);
            if key.is_empty() {
                continue;
            }
            let trie = if t.normalized { &mut normalized } else { &mut raw };
            trie.insert(key.as_bytes(), k as u32)
                .map_err(|why| malformed(format, format!("added token {} {why}", t.id)))?;
        }
        Ok(AddedVocab { tokens, raw, normalized })
    }

    /// `tokenizers`' AddedVocabulary::find_matches: the text cut into added-token matches (with
    /// their id) and the plain text between them. A match is leftmost-longest; single_word drops
    /// a match inside a word; lstrip / rstrip extend it over the adjacent whitespace.
    fn split(&self, text: &str, normalized: bool) -> Vec<(Option<u32>, Range<usize>)> {
        let trie = if normalized { &self.normalized } else { &self.raw };
        if trie.is_empty() || text.is_empty() {
            return vec![(None, 0..text.len())];
        }
        let bytes = text.as_bytes();
        let mut out = Vec::new();
        let mut done = 0; // end of the last match
        let mut at = 0; // where the search resumes
        while at < bytes.len() {
            let Some((len, k)) = trie.longest_prefix(&bytes[at..]) else {
                at += 1;
                continue;
            };
            let token = &self.tokens[k as usize];
            let (mut start, mut stop) = (at, at + len);
            at = stop;
            if token.single_word {
                let before = text[..start].chars().next_back().is_some_and(is_word_char);
                let after = text[stop..].chars().next().is_some_and(is_word_char);
                if before || after {
                    continue;
                }
            }
            if token.lstrip {
                // Only back to the last match: scanning all the whitespace before it would make
                // a text of n blank lines cost n² (an lstrip "\n" token).
                start = done + text[done..start].trim_end_matches(char::is_whitespace).len();
            }
            if token.rstrip {
                stop = text.len() - text[stop..].trim_start_matches(char::is_whitespace).len();
                at = stop;
            }
            if done < start {
                out.push((None, done..start));
            }
            out.push((Some(token.id), start..stop));
            done = stop;
        }
        if done < text.len() {
            out.push((None, done..text.len()));
        }
        out
    }
}

// ------------------------------------------------------------------------------------------------
// The merge loop

const NONE: usize = usize::MAX;

#[derive(Clone, Copy, Debug)]
struct Symbol {
    id: u32,
    prev: usize,
    next: usize,
    alive: bool,
}

/// A candidate merge of the symbol at `pos` with its right neighbour into `merged`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Candidate {
    rank: u32,
    pos: usize,
    merged: u32,
}

impl Ord for Candidate {
    /// BinaryHeap is a max-heap: the greatest candidate is the lowest (rank, pos).
    fn cmp(&self, other: &Candidate) -> Ordering {
        other.rank.cmp(&self.rank).then(other.pos.cmp(&self.pos)).then(other.merged.cmp(&self.merged))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Candidate) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A byte-level BPE tokenizer.
#[derive(Clone, Debug)]
pub struct BpeTokenizer {
    /// token (byte-level spelling) → id: the model's vocabulary.
    vocab: VocabMap<String, u32>,
    /// (left id, right id) → (rank, id of left‖right).
    merges: VocabMap<(u32, u32), (u32, u32)>,
    /// The id of B(b) for every byte b.
    byte_ids: [Option<u32>; 256],
    /// id → the bytes it decodes to (`None`: no token has this id); byte-level only, empty for
    /// SentencePiece-style pieces.
    id_bytes: Vec<Option<Vec<u8>>>,
    /// Ids run from 0 to len − 1.
    len: usize,
    steps: Vec<PreTokenizerStep>,
    ignore_merges: bool,
    unk: Option<u32>,
    fuse_unk: bool,
    added: AddedVocab,
    bos: Option<u32>,
    eos: Option<u32>,
    /// Ids besides EOS after which a generated text ends.
    more_ends: Vec<u32>,
    /// SentencePiece-style tokens ("▁" for the space, "<0xXX>" byte tokens) instead of
    /// byte-level ones: [`tokenizer_pieces`].
    pieces: Option<Pieces>,
    /// Byte-level: the normalizer applied before the pre-tokenizer, NFC at most (SentencePiece-style
    /// pieces apply theirs, in [`PieceRules`]).
    normalizer: Normalizer,
}

/// What a SentencePiece-style tokenizer needs beyond the vocabulary and merges.
#[derive(Clone, Debug)]
struct Pieces {
    rules: PieceRules,
    /// The id of "<0xXX>" for every byte.
    byte_tokens: [Option<u32>; 256],
    /// id → the string the decoder starts from (a normalized added token: its normalized spelling).
    id_tokens: Vec<Option<String>>,
}

/// What a tokenizer is built from, whatever the file.
struct BpeParts {
    vocab: Vec<(String, u32)>,
    merges: Vec<(String, String)>,
    added: Vec<AddedToken>,
    steps: Vec<PreTokenizerStep>,
    ignore_merges: bool,
    unk_token: Option<String>,
    fuse_unk: bool,
    bos: Option<u32>,
    eos: Option<u32>,
    pieces: Option<PieceRules>,
    normalizer: Normalizer,
}

impl BpeTokenizer {
    fn build(p: BpeParts, format: &'static str) -> Result<BpeTokenizer, LmError> {
        if p.vocab.len() > MAX_VOCAB {
            return Err(too_large("the vocabulary", p.vocab.len(), MAX_VOCAB));
        }
        if p.merges.len() > MAX_MERGES {
            return Err(too_large("the merges", p.merges.len(), MAX_MERGES));
        }
        let check_id = |what: &str, id: u32| {
            if (id as usize) < MAX_VOCAB {
                Ok(())
            } else {
                Err(malformed(format, format!("{what} has id {id}, beyond the limit of {MAX_VOCAB} tokens")))
            }
        };
        let mut vocab = VocabMap::with_capacity(p.vocab.len());
        let mut n = 0usize;
        for (token, id) in p.vocab {
            check_id(&format!("token {token:?}"), id)?;
            if token.len() > MAX_TOKEN_BYTES {
                return Err(malformed(format, format!("token {id} is {} bytes long", token.len())));
            }
            n = n.max(id as usize + 1);
            vocab.insert(token, id);
        }
        for t in &p.added {
            check_id(&format!("added token {:?}", t.content), t.id)?;
            n = n.max(t.id as usize + 1);
        }
        if n == 0 {
            return Err(malformed(format, "the vocabulary is empty"));
        }
        // Byte-level decoding: each id's bytes (SentencePiece-style decoding keeps pieces instead).
        let mut id_bytes: Vec<Option<Vec<u8>>> = Vec::new();
        if p.pieces.is_none() {
            id_bytes = vec![None; n];
            for (token, &id) in &vocab {
                id_bytes[id as usize] = Some(byte_level_bytes(token).unwrap_or_else(|| token.as_bytes().to_vec()));
            }
            for t in &p.added {
                // tokenizers' decoder maps an added token through B⁻¹ as well (with its own bytes as
                // the fallback); for "<|endoftext|>" and the like both are the content.
                id_bytes[t.id as usize] =
                    Some(byte_level_bytes(&t.content).unwrap_or_else(|| t.content.as_bytes().to_vec()));
            }
        }

        let mut merges = VocabMap::with_capacity(p.merges.len());
        for (rank, (a, b)) in p.merges.iter().enumerate() {
            let id = |s: &str| {
                vocab.get(s).copied().ok_or_else(|| {
                    malformed(format, format!("merge {rank} ({a:?} {b:?}): {s:?} is not in the vocabulary"))
                })
            };
            let pair = (id(a)?, id(b)?);
            let merged = id(&format!("{a}{b}"))?;
            merges.insert(pair, (rank as u32, merged));
        }

        let mut byte_ids = [None; 256];
        for (b, slot) in byte_ids.iter_mut().enumerate() {
            *slot = vocab.get(BYTE_CHARS[b].encode_utf8(&mut [0; 4]) as &str).copied();
        }
        let unk = match &p.unk_token {
            Some(u) => Some(
                vocab
                    .get(u)
                    .copied()
                    .ok_or_else(|| malformed(format, format!("the unknown token {u:?} is not in the vocabulary")))?,
            ),
            None => None,
        };
        for (name, id) in [("bos", p.bos), ("eos", p.eos)] {
            if let Some(id) = id {
                if id as usize >= n {
                    return Err(malformed(format, format!("the {name} id {id} is not below the vocabulary size {n}")));
                }
            }
        }
        // An added token's spelling: SentencePiece-style, a normalized one is matched (and
        // decodes) as normalized.
        let spelling = |t: &AddedToken| match &p.pieces {
            Some(rules) if t.normalized => rules.normalizer.apply(&t.content),
            _ => t.content.clone(),
        };
        let pieces = p.pieces.as_ref().map(|rules| {
            let mut byte_tokens = [None; 256];
            let mut id_tokens: Vec<Option<String>> = vec![None; n];
            for (token, &id) in &vocab {
                if let Some(b) = byte_token(token) {
                    byte_tokens[b as usize] = Some(id);
                }
                id_tokens[id as usize] = Some(token.clone());
            }
            for t in &p.added {
                id_tokens[t.id as usize] = Some(spelling(t));
            }
            Pieces { rules: rules.clone(), byte_tokens, id_tokens }
        });
        let added = AddedVocab::new(p.added, format, spelling)?;
        Ok(BpeTokenizer {
            vocab,
            merges,
            byte_ids,
            id_bytes,
            len: n,
            steps: p.steps,
            ignore_merges: p.ignore_merges,
            unk,
            fuse_unk: p.fuse_unk,
            added,
            bos: p.bos,
            eos: p.eos,
            more_ends: Vec::new(),
            pieces,
            normalizer: p.normalizer,
        })
    }

    /// From the text of a Hugging Face `tokenizer.json`.
    pub fn from_tokenizer_json(json: &str) -> Result<BpeTokenizer, LmError> {
        if json.len() > MAX_TOKENIZER_JSON_BYTES {
            return Err(LmError::Format(FormatError::TooLarge { bytes: json.len(), limit: MAX_TOKENIZER_JSON_BYTES }));
        }
        let file: TokenizerJson = serde_json::from_str(json).map_err(|e| malformed(JSON, format!("{e}")))?;
        let m = file.model;
        match m.kind.as_deref() {
            None | Some("BPE") => {}
            Some(other) => {
                return Err(unsupported(
                    "tokenizer.model.type",
                    format!("model type {:?} is not implemented (qplay runs BPE: byte-level, or SentencePiece-style with byte fallback)", crate::clip::clip(other, 40)),
                ))
            }
        }
        if m.dropout.is_some_and(|d| d != 0.0) {
            return Err(unsupported("tokenizer.model.dropout", "BPE dropout is not implemented"));
        }
        for (field, v) in
            [("continuing_subword_prefix", &m.continuing_subword_prefix), ("end_of_word_suffix", &m.end_of_word_suffix)]
        {
            if v.as_deref().is_some_and(|s| !s.is_empty()) {
                return Err(unsupported("tokenizer.model", format!("{field} {v:?} is not implemented")));
            }
        }
        let section = |raw: Option<&RawValue>, field: &str| small_value(raw, field).map_err(|e| malformed(JSON, e));
        let (normalizer_json, pre_json) = (section(file.normalizer, "normalizer")?, section(file.pre_tokenizer, "pre_tokenizer")?);
        let (decoder_json, post_json) = (section(file.decoder, "decoder")?, section(file.post_processor, "post_processor")?);
        let normalizer = Normalizer::parse(normalizer_json.as_ref())?;
        let pre = pre_json.as_ref().filter(|v| !v.is_null());
        let metaspace = match pre {
            Some(v) if type_of(v) == "Metaspace" => Some(Metaspace::parse(v)?),
            _ => None,
        };
        // SentencePiece-style ("▁" pieces): a Metaspace pre-tokenizer, or none with a normalizer
        // that spells the spaces (Llama 2's legacy layout). Else byte-level BPE.
        let (steps, pieces) = if metaspace.is_some() || (pre.is_none() && normalizer.replace_space) {
            let decoder = tokenizer_pieces::parse_decoder(decoder_json.as_ref())?;
            (Vec::new(), Some(PieceRules { normalizer, metaspace, byte_fallback: m.byte_fallback, decoder }))
        } else {
            if !normalizer.is_identity() {
                return Err(unsupported(
                    "tokenizer.normalizer",
                    "Prepend / Replace with a byte-level pre-tokenizer is not implemented",
                ));
            }
            let steps = match pre {
                Some(v) => parse_pre_tokenizer(v)?,
                None => {
                    return Err(unsupported(
                        "tokenizer.pre_tokenizer",
                        "no pre-tokenizer and no Replace(\" \", \"▁\") normalizer: neither byte-level nor SentencePiece-style BPE",
                    ))
                }
            };
            check_steps(&steps)?;
            check_decoder(decoder_json.as_ref())?;
            (steps, None)
        };

        let vocab = m.vocab.map(|r| serde_json::from_str::<VocabJson>(r.get())).transpose().map_err(|e| malformed(JSON, format!("{e}")))?;
        let merges = m.merges.map(|r| serde_json::from_str::<MergesJson>(r.get())).transpose().map_err(|e| malformed(JSON, format!("{e}")))?;
        let vocab = match vocab {
            Some(VocabJson(map)) => map
                .into_iter()
                .map(|(token, id)| match id {
                    id if id < MAX_VOCAB as u64 => Ok((token, id as u32)),
                    _ => Err(malformed(
                        JSON,
                        format!("model.vocab: token {token:?} has id {id}, not an integer below {MAX_VOCAB}"),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => return Err(malformed(JSON, "missing field `vocab` in model")),
        };
        let merges = match merges {
            Some(MergesJson(list)) => list.into_iter().enumerate().map(|(k, v)| parse_merge(k, v)).collect::<Result<Vec<_>, _>>()?,
            None => return Err(malformed(JSON, "missing field `merges` in model")),
        };
        let added: Vec<AddedToken> = file
            .added_tokens
            .into_iter()
            .map(|t| AddedToken {
                id: t.id,
                content: t.content,
                special: t.special,
                single_word: t.single_word,
                lstrip: t.lstrip,
                rstrip: t.rstrip,
                normalized: t.normalized,
            })
            .collect();
        let bos = template_bos(post_json.as_ref(), &added, &vocab);
        BpeTokenizer::build(
            BpeParts {
                vocab,
                merges,
                added,
                steps,
                ignore_merges: m.ignore_merges,
                unk_token: m.unk_token,
                fuse_unk: m.fuse_unk,
                bos,
                eos: None,
                normalizer: if pieces.is_none() { normalizer } else { Normalizer::default() },
                pieces,
            },
            JSON,
        )
    }

    /// From a GGUF vocabulary with `tokenizer.ggml.model` = "gpt2": tokens by id (byte-level
    /// spelling), token types (3 control and 4 user-defined are added tokens, matched in the text
    /// first; 0 / 1 / 2 / 5 / 6 are ordinary), merges "a b" in rank order, the
    /// `tokenizer.ggml.pre` name (llama.cpp's; `None` is GPT-2's regex).
    pub fn from_gguf(
        tokens: Vec<Vec<u8>>,
        token_types: &[i32],
        merges: &[String],
        pre: Option<&str>,
        bos: Option<u32>,
        eos: Option<u32>,
    ) -> Result<BpeTokenizer, LmError> {
        const GGUF: &str = "GGUF";
        if tokens.len() > MAX_VOCAB {
            return Err(too_large("the vocabulary", tokens.len(), MAX_VOCAB));
        }
        if !token_types.is_empty() && token_types.len() != tokens.len() {
            return Err(malformed(
                GGUF,
                format!("tokenizer.ggml.token_type has {} entries for {} tokens", token_types.len(), tokens.len()),
            ));
        }
        if merges.len() > MAX_MERGES {
            return Err(too_large("the merges", merges.len(), MAX_MERGES));
        }
        let (steps, ignore_merges) = gguf_pre_tokenizer(pre)?;
        let mut vocab = Vec::with_capacity(tokens.len());
        let mut added = Vec::new();
        for (id, bytes) in tokens.into_iter().enumerate() {
            let token = String::from_utf8(bytes)
                .map_err(|_| malformed(GGUF, format!("token {id} of tokenizer.ggml.tokens is not UTF-8")))?;
            let kind = token_types.get(id).copied().unwrap_or(1);
            if !(0..=6).contains(&kind) {
                return Err(malformed(GGUF, format!("token {id} has token type {kind} (0..=6 expected)")));
            }
            if kind == 3 || kind == 4 {
                added.push(AddedToken {
                    id: id as u32,
                    content: token.clone(),
                    special: kind == 3,
                    single_word: false,
                    lstrip: false,
                    rstrip: false,
                    normalized: false,
                });
            }
            vocab.push((token, id as u32));
        }
        let merges = merges
            .iter()
            .enumerate()
            .map(|(k, m)| split_merge(k, m).map_err(|e| malformed(GGUF, format!("tokenizer.ggml.merges: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        BpeTokenizer::build(
            BpeParts { vocab, merges, added, steps, ignore_merges, unk_token: None, fuse_unk: false, bos, eos, pieces: None, normalizer: Normalizer::default() },
            GGUF,
        )
    }

    /// Ids run from 0 to vocab_len − 1 (an id no token has decodes as U+FFFD).
    pub fn vocab_len(&self) -> usize {
        self.len
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

    /// Makes `ids` end a generated text, the first as EOS (a model's config.json
    /// `eos_token_id`s; tokenizer.json has no EOS); ids past the vocabulary are left out, and
    /// none leaves the tokenizer as it was.
    pub fn set_end_of_text(&mut self, ids: &[u32]) {
        let mut ids = ids.iter().copied().filter(|&id| (id as usize) < self.len);
        if let Some(eos) = ids.next() {
            self.eos = Some(eos);
            self.more_ends = ids.collect();
        }
    }

    /// "▁" pieces with byte fallback (a Llama 2 / Mistral tokenizer.json), not byte-level tokens.
    pub fn is_sentencepiece_style(&self) -> bool {
        self.pieces.is_some()
    }

    /// The pre-tokenizer steps (for display and tests).
    pub fn pre_tokenizer(&self) -> &[PreTokenizerStep] {
        &self.steps
    }

    /// This tokenizer as a GGUF "gpt2" vocabulary (what llama.cpp's convert_hf_to_gguf.py writes),
    /// which [`BpeTokenizer::from_gguf`] and llama.cpp read back as the same tokenizer:
    ///
    /// ```text
    /// tokens      by id: the vocabulary's byte-level spelling, an added token's content;
    ///             an id no token has: "[PAD{id}]" (type 5, unused: never produced)
    /// token_type  3 control (added, special) · 4 user-defined (added, not special) · 1 normal
    /// merges      "left right" in rank order
    /// pre         the llama.cpp name whose steps and ignore_merges are this tokenizer's
    ///             (gguf_pre_tokenizer inverted over gpt-2, llama-bpe, qwen2, smollm, dbrx)
    /// bos, eos    this tokenizer's
    /// ```
    ///
    /// `Err` says what GGUF cannot carry: SentencePiece-style pieces; a pre-tokenizer with no
    /// llama.cpp name; added tokens with lstrip / rstrip / single_word; a raw and a normalized added
    /// token that can overlap (`tokenizers` matches the raw ones first, GGUF all in one pass); a
    /// byte without a token (llama.cpp needs all 256); an id given two spellings; a merge
    /// that "left right" would split elsewhere; with ignore_merges, an added token outside the
    /// vocabulary that some word spells (GGUF puts it in the vocabulary, where the word finds it).
    /// A spelling of two ids is left to [`Vocabulary::pad_to`](crate::lm::import::vocab::Vocabulary::pad_to).
    pub fn to_gguf_vocab(&self) -> Result<GgufVocab, String> {
        if self.pieces.is_some() {
            return Err("its SentencePiece-style pieces (\"▁\" and <0xXX> byte fallback, with their normalizer / Metaspace pre-tokenizer) are not a byte-level BPE (\"gpt2\") vocabulary".into());
        }
        const PRE_NAMES: [&str; 5] = ["gpt-2", "llama-bpe", "qwen2", "smollm", "dbrx"];
        let pre = PRE_NAMES
            .into_iter()
            .find(|name| {
                gguf_pre_tokenizer(Some(name)).is_ok_and(|(steps, ignore)| steps == self.steps && ignore == self.ignore_merges)
            })
            .ok_or_else(|| {
                format!(
                    "its pre-tokenizer {:?} (ignore_merges {}) is none of llama.cpp's ({})",
                    self.steps,
                    self.ignore_merges,
                    PRE_NAMES.join(", ")
                )
            })?;
        let added = &self.added.tokens;
        if let Some(t) = added.iter().find(|t| t.lstrip || t.rstrip || t.single_word) {
            return Err(format!(
                "its added token {:?} (id {}) has lstrip / rstrip / single_word, which GGUF does not carry",
                t.content, t.id
            ));
        }
        let (raw, normalized): (Vec<&AddedToken>, Vec<&AddedToken>) =
            added.iter().filter(|t| !t.content.is_empty()).partition(|t| !t.normalized);
        // Checking a pair costs up to |a|·|b| byte comparisons: bound the sum over all pairs, not
        // the count (a million pairs of 512-byte tokens would take minutes).
        let bytes = |v: &[&AddedToken]| v.iter().map(|t| t.content.len()).sum::<usize>();
        if bytes(&raw).saturating_mul(bytes(&normalized)) > 1 << 24 {
            return Err("it mixes too many raw and normalized added tokens to check that GGUF's single pass matches them alike".into());
        }
        for r in &raw {
            if let Some(n) = normalized.iter().find(|n| can_overlap(&r.content, &n.content)) {
                return Err(format!(
                    "its added tokens {:?} (matched in the raw text first) and {:?} (after normalization) can overlap, and GGUF matches all added tokens in one pass",
                    r.content, n.content
                ));
            }
        }
        if let Some(b) = self.byte_ids.iter().position(Option::is_none) {
            return Err(format!("byte 0x{b:02X} has no token ({:?}): llama.cpp needs one for each of the 256 bytes", BYTE_CHARS[b]));
        }
        let mut tokens: Vec<Option<String>> = vec![None; self.len];
        for (token, &id) in &self.vocab {
            if let Some(other) = &tokens[id as usize] {
                return Err(format!("id {id} is both {other:?} and {token:?}: a GGUF token has one spelling"));
            }
            tokens[id as usize] = Some(token.clone());
        }
        // The merges, before added tokens take their ids' spellings.
        let mut ranked: Vec<(u32, u32, u32)> = self.merges.iter().map(|(&(a, b), &(rank, _))| (rank, a, b)).collect();
        ranked.sort_unstable();
        let mut merges = Vec::with_capacity(ranked.len());
        for (k, &(_, a, b)) in ranked.iter().enumerate() {
            let (a, b) = (tokens[a as usize].as_deref().unwrap_or(""), tokens[b as usize].as_deref().unwrap_or(""));
            let line = format!("{a} {b}");
            if split_merge(k, &line).ok() != Some((a.to_string(), b.to_string())) {
                return Err(format!("its merge ({a:?}, {b:?}) would read back split elsewhere from \"left right\""));
            }
            merges.push(line);
        }
        let mut token_types = vec![1; self.len];
        for t in added {
            let id = t.id as usize;
            match &tokens[id] {
                Some(other) if *other != t.content => {
                    return Err(format!("id {id} is both {other:?} and the added token {:?}: a GGUF token has one spelling", t.content));
                }
                Some(_) => {}
                None => {
                    if self.ignore_merges && byte_level_bytes(&t.content).as_deref() != Some(t.content.as_bytes()) {
                        return Err(format!(
                            "its added token {:?} is outside the vocabulary and spells another text in byte-level form, which with ignore_merges GGUF would tokenize as it",
                            t.content
                        ));
                    }
                    tokens[id] = Some(t.content.clone());
                }
            }
            token_types[id] = if t.special { 3 } else { 4 };
        }
        // Two ids of one spelling are refused by Vocabulary::pad_to, which every GGUF vocabulary
        // goes through before it is written.
        let mut out = Vec::with_capacity(self.len);
        for (id, token) in tokens.iter().enumerate() {
            let token = match token {
                Some(t) => t.clone(),
                None => {
                    token_types[id] = 5;
                    format!("[PAD{id}]")
                }
            };
            out.push(token);
        }
        Ok(GgufVocab {
            model: "gpt2".into(),
            pre: Some(pre.to_string()),
            tokens: out.into_iter().map(String::into_bytes).collect(),
            scores: Vec::new(),
            token_types,
            merges,
            bos: self.bos,
            eos: self.eos,
            add_space_prefix: None,
        })
    }

    /// The id of a token given in its byte-level spelling, or of an added token by its content.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.added.tokens.iter().find(|t| t.content == token).map(|t| t.id).or_else(|| self.vocab.get(token).copied())
    }

    /// Text → ids, without BOS / EOS (`tokenizers`' encode(text, add_special_tokens=False)).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LmError> {
        if let Some(p) = &self.pieces {
            return self.encode_pieces(p, text);
        }
        let mut ids = Vec::new();
        let mut scratch = Scratch::default();
        for (id, range) in self.added.split(text, false) {
            if let Some(id) = id {
                ids.push(id);
                continue;
            }
            let outer = &text[range];
            let outer: Cow<str> = if self.normalizer == Normalizer::default() { Cow::Borrowed(outer) } else { Cow::Owned(self.normalizer.apply(outer)) };
            for (id, range) in self.added.split(&outer, true) {
                match id {
                    Some(id) => ids.push(id),
                    None => self.encode_segment(&outer[range], &mut ids, &mut scratch)?,
                }
            }
        }
        Ok(ids)
    }

    /// The words the pre-tokenizer alone makes of a text (added tokens not matched), in byte-level
    /// spelling: `tokenizers`' pre_tokenizer.pre_tokenize_str(text).
    pub fn pre_tokenize(&self, text: &str) -> Vec<String> {
        self.words(text, &mut Vec::new()).iter().map(|w| byte_level_string(w.as_bytes())).collect()
    }

    fn words<'a>(&self, segment: &'a str, ranges: &mut Vec<Range<usize>>) -> Vec<Cow<'a, str>> {
        if segment.is_empty() {
            return Vec::new();
        }
        let mut words: Vec<Cow<str>> = vec![Cow::Borrowed(segment)];
        let mut next = Vec::new();
        for step in &self.steps {
            next.clear();
            for w in words.drain(..) {
                step.apply(w, &mut next, ranges);
            }
            std::mem::swap(&mut words, &mut next);
        }
        words
    }

    /// Words of a segment (no added tokens in it) through the pre-tokenizer, then BPE.
    fn encode_segment(&self, segment: &str, ids: &mut Vec<u32>, s: &mut Scratch) -> Result<(), LmError> {
        for w in &self.words(segment, &mut s.ranges) {
            self.encode_word(w.as_bytes(), ids, s)?;
        }
        Ok(())
    }

    fn encode_word(&self, word: &[u8], ids: &mut Vec<u32>, s: &mut Scratch) -> Result<(), LmError> {
        if word.is_empty() {
            return Ok(());
        }
        if self.ignore_merges {
            if let Some(&id) = self.vocab.get(&byte_level_string(word)) {
                ids.push(id);
                return Ok(());
            }
        }
        let symbols = &mut s.symbols;
        symbols.clear();
        let mut last_unk = false;
        for &b in word {
            let id = match self.byte_ids[b as usize] {
                Some(id) => id,
                None => match self.unk {
                    Some(unk) => {
                        if self.fuse_unk && last_unk {
                            continue;
                        }
                        last_unk = true;
                        push_symbol(symbols, unk);
                        continue;
                    }
                    None => {
                        return Err(LmError::Tokens(format!(
                            "byte 0x{b:02X} has no token: {:?} is not in the vocabulary and there is no unknown token",
                            BYTE_CHARS[b as usize]
                        )))
                    }
                },
            };
            last_unk = false;
            push_symbol(symbols, id);
        }
        self.merge_all(symbols, &mut s.heap);
        ids.extend(symbols.iter().filter(|sym| sym.alive).map(|sym| sym.id));
        Ok(())
    }

    /// SentencePiece-style: raw added tokens, then each segment normalized, its normalized added
    /// tokens, then the Metaspace words (if any), each through BPE over its characters.
    fn encode_pieces(&self, p: &Pieces, text: &str) -> Result<Vec<u32>, LmError> {
        let mut ids = Vec::new();
        let mut scratch = Scratch::default();
        for (id, outer) in self.added.split(text, false) {
            if let Some(id) = id {
                ids.push(id);
                continue;
            }
            let normalized = p.rules.normalizer.apply(&text[outer.clone()]);
            for (id, inner) in self.added.split(&normalized, true) {
                if let Some(id) = id {
                    ids.push(id);
                    continue;
                }
                let segment = &normalized[inner.clone()];
                match p.rules.metaspace {
                    Some(ms) => {
                        for w in ms.words(segment, outer.start == 0 && inner.start == 0) {
                            self.encode_piece_word(p, &w, &mut ids, &mut scratch)?;
                        }
                    }
                    None => self.encode_piece_word(p, segment, &mut ids, &mut scratch)?,
                }
            }
        }
        Ok(ids)
    }

    /// `tokenizers`' BPE merge_word over characters: a character in the vocabulary is a symbol;
    /// a missing one becomes its "<0xXX>" byte tokens when all exist (`byte_fallback`), else
    /// the unknown token (consecutive ones fused with `fuse_unk`; a pending unknown token is
    /// written when the next character in the vocabulary, or the end, comes, as `tokenizers`
    /// does); then the merges.
    fn encode_piece_word(&self, p: &Pieces, word: &str, ids: &mut Vec<u32>, s: &mut Scratch) -> Result<(), LmError> {
        if word.is_empty() {
            return Ok(());
        }
        if self.ignore_merges {
            if let Some(&id) = self.vocab.get(word) {
                ids.push(id);
                return Ok(());
            }
        }
        let symbols = &mut s.symbols;
        symbols.clear();
        let mut pending_unk = false;
        let mut buf = [0u8; 4];
        for c in word.chars() {
            let ch: &str = c.encode_utf8(&mut buf);
            if let Some(&id) = self.vocab.get(ch) {
                if std::mem::take(&mut pending_unk) {
                    push_symbol(symbols, self.unk.expect("pending only with an unknown token"));
                }
                push_symbol(symbols, id);
                continue;
            }
            if p.rules.byte_fallback {
                if let Some(bytes) = ch.bytes().map(|b| p.byte_tokens[b as usize]).collect::<Option<Vec<u32>>>() {
                    bytes.into_iter().for_each(|id| push_symbol(symbols, id));
                    continue;
                }
            }
            match self.unk {
                Some(unk) => {
                    if pending_unk && !self.fuse_unk {
                        push_symbol(symbols, unk);
                    }
                    pending_unk = true;
                }
                None => {
                    return Err(LmError::Tokens(format!(
                        "{c:?} has no token: it is not in the vocabulary, {}and there is no unknown token",
                        if p.rules.byte_fallback { "its bytes have no <0xXX> tokens, " } else { "" }
                    )))
                }
            }
        }
        if pending_unk {
            push_symbol(symbols, self.unk.expect("pending only with an unknown token"));
        }
        self.merge_all(symbols, &mut s.heap);
        ids.extend(symbols.iter().filter(|sym| sym.alive).map(|sym| sym.id));
        Ok(())
    }

    /// `tokenizers`' Word::merge_all (without dropout).
    fn merge_all(&self, symbols: &mut [Symbol], heap: &mut BinaryHeap<Candidate>) {
        // The first candidates, heapified at once (O(n)) rather than pushed one by one.
        let mut first = std::mem::take(heap).into_vec();
        first.clear();
        first.extend((0..symbols.len().saturating_sub(1)).filter_map(|pos| {
            let &(rank, merged) = self.merges.get(&(symbols[pos].id, symbols[pos + 1].id))?;
            Some(Candidate { rank, pos, merged })
        }));
        *heap = BinaryHeap::from(first);
        while let Some(top) = heap.pop() {
            let left = symbols[top.pos];
            if !left.alive || left.next == NONE {
                continue;
            }
            let right = symbols[left.next];
            // Stale: the pair at this position no longer merges into the same token.
            match self.merges.get(&(left.id, right.id)) {
                Some(&(_, merged)) if merged == top.merged => {}
                _ => continue,
            }
            symbols[top.pos].id = top.merged;
            symbols[top.pos].next = right.next;
            symbols[left.next].alive = false;
            if right.next != NONE {
                symbols[right.next].prev = top.pos;
            }
            let cur = symbols[top.pos];
            if cur.prev != NONE {
                if let Some(&(rank, merged)) = self.merges.get(&(symbols[cur.prev].id, cur.id)) {
                    heap.push(Candidate { rank, pos: cur.prev, merged });
                }
            }
            if cur.next != NONE {
                if let Some(&(rank, merged)) = self.merges.get(&(cur.id, symbols[cur.next].id)) {
                    heap.push(Candidate { rank, pos: top.pos, merged });
                }
            }
        }
    }

    /// Ids → text (special tokens included, as `tokenizers`' decode(ids, skip_special_tokens=False));
    /// an unknown id decodes as U+FFFD, invalid UTF-8 as U+FFFD per maximal invalid sequence.
    pub fn decode(&self, ids: &[u32]) -> String {
        if let Some(p) = &self.pieces {
            let tokens = ids.iter().map(|&id| p.id_tokens.get(id as usize).cloned().flatten().unwrap_or_else(|| "\u{FFFD}".into())).collect();
            return tokenizer_pieces::decode(tokens, &p.rules.decoder);
        }
        let mut bytes = Vec::new();
        for &id in ids {
            match self.id_bytes.get(id as usize) {
                Some(Some(b)) => bytes.extend_from_slice(b),
                _ => bytes.extend_from_slice("\u{FFFD}".as_bytes()),
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

#[derive(Default)]
struct Scratch {
    ranges: Vec<Range<usize>>,
    symbols: Vec<Symbol>,
    heap: BinaryHeap<Candidate>,
}

fn push_symbol(symbols: &mut Vec<Symbol>, id: u32) {
    let k = symbols.len();
    if let Some(last) = symbols.last_mut() {
        last.next = k;
    }
    symbols.push(Symbol { id, prev: if k == 0 { NONE } else { k - 1 }, next: NONE, alive: true });
}

/// Whether some text holds overlapping matches of `a` and `b`: one inside the other, or a proper
/// suffix of one the start of the other (bytes, so at worst a false alarm inside a character).
fn can_overlap(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let tail_starts = |x: &[u8], y: &[u8]| (1..x.len()).any(|k| y.starts_with(&x[k..]));
    a.windows(b.len().max(1)).any(|w| w == b) || b.windows(a.len().max(1)).any(|w| w == a) || tail_starts(a, b) || tail_starts(b, a)
}

fn too_large(what: &str, count: usize, limit: usize) -> LmError {
    LmError::TooLarge { what: format!("{what} ({count} entries)"), bytes: count as u128, limit: limit as u128 }
}

// ------------------------------------------------------------------------------------------------
// tokenizer.json

/// The file's fields; the large ones and the objects read within bounds ([`super::tokenizer_json`]).
#[derive(Deserialize)]
struct TokenizerJson<'a> {
    #[serde(default)]
    added_tokens: Vec<AddedTokenJson>,
    #[serde(default, borrow)]
    normalizer: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pre_tokenizer: Option<&'a RawValue>,
    #[serde(default, borrow)]
    post_processor: Option<&'a RawValue>,
    #[serde(default, borrow)]
    decoder: Option<&'a RawValue>,
    #[serde(borrow)]
    model: ModelJson<'a>,
}

#[derive(Deserialize)]
struct AddedTokenJson {
    id: u32,
    content: String,
    #[serde(default)]
    single_word: bool,
    #[serde(default)]
    lstrip: bool,
    #[serde(default)]
    rstrip: bool,
    #[serde(default = "yes")]
    normalized: bool,
    #[serde(default)]
    special: bool,
}

fn yes() -> bool {
    true
}

/// `vocab` and `merges` are kept as their text until `type` says they are BPE's (a Unigram
/// model's vocabulary is a list of [token, score], named as a model type qplay does not run,
/// not as a malformed BPE vocabulary).
#[derive(Deserialize)]
struct ModelJson<'a> {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default, borrow)]
    vocab: Option<&'a RawValue>,
    #[serde(default, borrow)]
    merges: Option<&'a RawValue>,
    #[serde(default)]
    dropout: Option<f64>,
    #[serde(default)]
    unk_token: Option<String>,
    #[serde(default)]
    continuing_subword_prefix: Option<String>,
    #[serde(default)]
    end_of_word_suffix: Option<String>,
    #[serde(default)]
    fuse_unk: bool,
    #[serde(default)]
    ignore_merges: bool,
    #[serde(default)]
    byte_fallback: bool,
}

/// A merge as "a b" (before tokenizers 0.20) or ["a", "b"].
fn parse_merge(k: usize, v: MergeJson) -> Result<(String, String), LmError> {
    match v {
        MergeJson::Text(s) => split_merge(k, &s).map_err(|e| malformed(JSON, format!("model.merges: {e}"))),
        MergeJson::Pair(Some(pair)) => Ok(pair),
        MergeJson::Pair(None) => Err(malformed(JSON, format!("model.merges: entry {k} is not a pair of strings"))),
    }
}

/// "a b" → (a, b), split at the first space after the first character (llama.cpp's rule).
fn split_merge(k: usize, s: &str) -> Result<(String, String), String> {
    let cut = s.char_indices().skip(1).find(|&(_, c)| c == ' ').map(|(o, _)| o);
    match cut {
        Some(o) => Ok((s[..o].to_string(), s[o + 1..].to_string())),
        None => Err(format!("entry {k} ({s:?}) is not two tokens separated by a space")),
    }
}

fn type_of(v: &Value) -> &str {
    v.get("type").and_then(Value::as_str).unwrap_or("(no type)")
}

fn parse_pre_tokenizer(v: &Value) -> Result<Vec<PreTokenizerStep>, LmError> {
    const FIELD: &str = "tokenizer.pre_tokenizer";
    let flag = |name: &str, default: bool| v.get(name).and_then(Value::as_bool).unwrap_or(default);
    match type_of(v) {
        "ByteLevel" => Ok(vec![PreTokenizerStep::ByteLevel {
            add_prefix_space: flag("add_prefix_space", true),
            use_regex: flag("use_regex", true),
        }]),
        "Digits" => Ok(vec![PreTokenizerStep::Digits { individual: flag("individual_digits", false) }]),
        "Split" => {
            let pattern = v.get("pattern");
            let regex = pattern.and_then(|p| p.get("Regex")).and_then(Value::as_str);
            let Some(regex) = regex else {
                return Err(unsupported(
                    FIELD,
                    format!("Split with pattern {} is not implemented", pattern.unwrap_or(&Value::Null)),
                ));
            };
            let Some(p) = SplitPattern::from_regex(regex) else {
                return Err(unsupported(
                    FIELD,
                    format!(
                        "Split with regex {regex:?} is not implemented (known: the GPT-2, Llama-3 and Qwen2 regexes)"
                    ),
                ));
            };
            let behavior = v.get("behavior").and_then(Value::as_str).unwrap_or("(none)");
            if behavior != "Isolated" || flag("invert", false) {
                return Err(unsupported(
                    FIELD,
                    format!("Split with behavior {behavior:?} / invert is not implemented (Isolated only)"),
                ));
            }
            Ok(vec![PreTokenizerStep::Split(p)])
        }
        "Sequence" => {
            let list = v
                .get("pretokenizers")
                .and_then(Value::as_array)
                .ok_or_else(|| malformed(JSON, "pre_tokenizer Sequence without `pretokenizers`"))?;
            let mut steps = Vec::new();
            for p in list {
                steps.extend(parse_pre_tokenizer(p)?);
            }
            Ok(steps)
        }
        other => Err(unsupported(
            FIELD,
            format!("pre-tokenizer {other:?} is not implemented (byte-level BPE only: ByteLevel, Split, Digits)"),
        )),
    }
}

/// Most pre-tokenizer steps (real tokenizers have 1 to 4): every step passes over the whole
/// text, so their number multiplies the time of tokenizing.
pub const MAX_PRE_TOKENIZER_STEPS: usize = 16;

/// Exactly one ByteLevel step, and it comes last (the byte mapping follows all splitting).
fn check_steps(steps: &[PreTokenizerStep]) -> Result<(), LmError> {
    if steps.len() > MAX_PRE_TOKENIZER_STEPS {
        return Err(malformed(JSON, format!("the pre-tokenizer has {} steps; qplay reads at most {MAX_PRE_TOKENIZER_STEPS}", steps.len())));
    }
    let is_byte_level = |s: &PreTokenizerStep| matches!(s, PreTokenizerStep::ByteLevel { .. });
    match steps.iter().position(is_byte_level) {
        Some(k) if k + 1 == steps.len() => Ok(()),
        Some(_) => {
            Err(unsupported("tokenizer.pre_tokenizer", "a ByteLevel step before other steps is not implemented"))
        }
        None => Err(unsupported("tokenizer.pre_tokenizer", "no ByteLevel step: only byte-level BPE is implemented")),
    }
}

fn check_decoder(v: Option<&Value>) -> Result<(), LmError> {
    let Some(v) = v.filter(|v| !v.is_null()) else { return Ok(()) };
    match type_of(v) {
        "ByteLevel" => Ok(()),
        "Sequence" => {
            let list = v.get("decoders").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
            list.iter().try_for_each(|d| check_decoder(Some(d)))
        }
        other => {
            Err(unsupported("tokenizer.decoder", format!("decoder {other:?} is not implemented (ByteLevel only)")))
        }
    }
}

/// BOS from a TemplateProcessing post-processor whose single-sequence template starts with a
/// special token (Llama 3: "<|begin_of_text|> $A").
fn template_bos(v: Option<&Value>, added: &[AddedToken], vocab: &[(String, u32)]) -> Option<u32> {
    let v = v.filter(|v| !v.is_null())?;
    match type_of(v) {
        "TemplateProcessing" => {
            let first = v.get("single")?.as_array()?.first()?;
            let name = first.get("SpecialToken")?.get("id")?.as_str()?;
            let from_table = v
                .get("special_tokens")
                .and_then(|t| t.get(name))
                .and_then(|t| t.get("ids"))
                .and_then(Value::as_array)
                .and_then(|ids| ids.first())
                .and_then(Value::as_u64)
                // An id past u32 is no id (it used to wrap: 2^32 + 1 became 1).
                .and_then(|id| u32::try_from(id).ok());
            from_table.or_else(|| {
                added
                    .iter()
                    .find(|t| t.content == name)
                    .map(|t| t.id)
                    .or_else(|| vocab.iter().find(|(t, _)| t == name).map(|&(_, id)| id))
            })
        }
        // The first template of the sequence is the one that adds the BOS: looking each one up would
        // cost a scan of the vocabulary per step (13,000 steps naming a missing token took 44 s).
        "Sequence" => {
            let first = v.get("processors")?.as_array()?.iter().find(|p| matches!(type_of(p), "TemplateProcessing" | "Sequence"))?;
            template_bos(Some(first), added, vocab)
        }
        _ => None,
    }
}

/// llama.cpp's `tokenizer.ggml.pre` names → steps (and ignore_merges, which llama.cpp sets for
/// the Llama-3 family).
fn gguf_pre_tokenizer(pre: Option<&str>) -> Result<(Vec<PreTokenizerStep>, bool), LmError> {
    let byte_level = PreTokenizerStep::ByteLevel { add_prefix_space: false, use_regex: true };
    let bytes_only = PreTokenizerStep::ByteLevel { add_prefix_space: false, use_regex: false };
    Ok(match pre.unwrap_or("default") {
        "default" | "gpt-2" | "gpt2" | "phi-2" | "mpt" | "olmo" | "exaone4" => (vec![byte_level], false),
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" => {
            (vec![PreTokenizerStep::Split(SplitPattern::Llama3), bytes_only], true)
        }
        "dbrx" | "smaug-bpe" => (vec![PreTokenizerStep::Split(SplitPattern::Llama3), bytes_only], false),
        "qwen2" | "deepseek-r1-qwen" | "stablelm2" | "megrez" => {
            (vec![PreTokenizerStep::Split(SplitPattern::Qwen2), bytes_only], false)
        }
        "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone" | "minerva-7b" => {
            (vec![PreTokenizerStep::Digits { individual: true }, byte_level], false)
        }
        other => {
            return Err(unsupported(
                "tokenizer.ggml.pre",
                format!(
                "pre-tokenizer {other:?} is not implemented (known: gpt-2, llama-bpe, qwen2, smollm and their aliases)"
            ),
            ))
        }
    })
}

// ------------------------------------------------------------------------------------------------
// \p{L} and \p{N}

// Unicode 14.0.0, generated by scripts/make_tokenizer_fixtures.py --unicode-tables
#[rustfmt::skip]
const LETTER_RANGES: [(u32, u32); 648] = [
    (0x41, 0x5A), (0x61, 0x7A), (0xAA, 0xAA), (0xB5, 0xB5), (0xBA, 0xBA), (0xC0, 0xD6),
    (0xD8, 0xF6), (0xF8, 0x2C1), (0x2C6, 0x2D1), (0x2E0, 0x2E4), (0x2EC, 0x2EC), (0x2EE, 0x2EE),
    (0x370, 0x374), (0x376, 0x377), (0x37A, 0x37D), (0x37F, 0x37F), (0x386, 0x386), (0x388, 0x38A),
    (0x38C, 0x38C), (0x38E, 0x3A1), (0x3A3, 0x3F5), (0x3F7, 0x481), (0x48A, 0x52F), (0x531, 0x556),
    (0x559, 0x559), (0x560, 0x588), (0x5D0, 0x5EA), (0x5EF, 0x5F2), (0x620, 0x64A), (0x66E, 0x66F),
    (0x671, 0x6D3), (0x6D5, 0x6D5), (0x6E5, 0x6E6), (0x6EE, 0x6EF), (0x6FA, 0x6FC), (0x6FF, 0x6FF),
    (0x710, 0x710), (0x712, 0x72F), (0x74D, 0x7A5), (0x7B1, 0x7B1), (0x7CA, 0x7EA), (0x7F4, 0x7F5),
    (0x7FA, 0x7FA), (0x800, 0x815), (0x81A, 0x81A), (0x824, 0x824), (0x828, 0x828), (0x840, 0x858),
    (0x860, 0x86A), (0x870, 0x887), (0x889, 0x88E), (0x8A0, 0x8C9), (0x904, 0x939), (0x93D, 0x93D),
    (0x950, 0x950), (0x958, 0x961), (0x971, 0x980), (0x985, 0x98C), (0x98F, 0x990), (0x993, 0x9A8),
    (0x9AA, 0x9B0), (0x9B2, 0x9B2), (0x9B6, 0x9B9), (0x9BD, 0x9BD), (0x9CE, 0x9CE), (0x9DC, 0x9DD),
    (0x9DF, 0x9E1), (0x9F0, 0x9F1), (0x9FC, 0x9FC), (0xA05, 0xA0A), (0xA0F, 0xA10), (0xA13, 0xA28),
    (0xA2A, 0xA30), (0xA32, 0xA33), (0xA35, 0xA36), (0xA38, 0xA39), (0xA59, 0xA5C), (0xA5E, 0xA5E),
    (0xA72, 0xA74), (0xA85, 0xA8D), (0xA8F, 0xA91), (0xA93, 0xAA8), (0xAAA, 0xAB0), (0xAB2, 0xAB3),
    (0xAB5, 0xAB9), (0xABD, 0xABD), (0xAD0, 0xAD0), (0xAE0, 0xAE1), (0xAF9, 0xAF9), (0xB05, 0xB0C),
    (0xB0F, 0xB10), (0xB13, 0xB28), (0xB2A, 0xB30), (0xB32, 0xB33), (0xB35, 0xB39), (0xB3D, 0xB3D),
    (0xB5C, 0xB5D), (0xB5F, 0xB61), (0xB71, 0xB71), (0xB83, 0xB83), (0xB85, 0xB8A), (0xB8E, 0xB90),
    (0xB92, 0xB95), (0xB99, 0xB9A), (0xB9C, 0xB9C), (0xB9E, 0xB9F), (0xBA3, 0xBA4), (0xBA8, 0xBAA),
    (0xBAE, 0xBB9), (0xBD0, 0xBD0), (0xC05, 0xC0C), (0xC0E, 0xC10), (0xC12, 0xC28), (0xC2A, 0xC39),
    (0xC3D, 0xC3D), (0xC58, 0xC5A), (0xC5D, 0xC5D), (0xC60, 0xC61), (0xC80, 0xC80), (0xC85, 0xC8C),
    (0xC8E, 0xC90), (0xC92, 0xCA8), (0xCAA, 0xCB3), (0xCB5, 0xCB9), (0xCBD, 0xCBD), (0xCDD, 0xCDE),
    (0xCE0, 0xCE1), (0xCF1, 0xCF2), (0xD04, 0xD0C), (0xD0E, 0xD10), (0xD12, 0xD3A), (0xD3D, 0xD3D),
    (0xD4E, 0xD4E), (0xD54, 0xD56), (0xD5F, 0xD61), (0xD7A, 0xD7F), (0xD85, 0xD96), (0xD9A, 0xDB1),
    (0xDB3, 0xDBB), (0xDBD, 0xDBD), (0xDC0, 0xDC6), (0xE01, 0xE30), (0xE32, 0xE33), (0xE40, 0xE46),
    (0xE81, 0xE82), (0xE84, 0xE84), (0xE86, 0xE8A), (0xE8C, 0xEA3), (0xEA5, 0xEA5), (0xEA7, 0xEB0),
    (0xEB2, 0xEB3), (0xEBD, 0xEBD), (0xEC0, 0xEC4), (0xEC6, 0xEC6), (0xEDC, 0xEDF), (0xF00, 0xF00),
    (0xF40, 0xF47), (0xF49, 0xF6C), (0xF88, 0xF8C), (0x1000, 0x102A), (0x103F, 0x103F), (0x1050, 0x1055),
    (0x105A, 0x105D), (0x1061, 0x1061), (0x1065, 0x1066), (0x106E, 0x1070), (0x1075, 0x1081), (0x108E, 0x108E),
    (0x10A0, 0x10C5), (0x10C7, 0x10C7), (0x10CD, 0x10CD), (0x10D0, 0x10FA), (0x10FC, 0x1248), (0x124A, 0x124D),
    (0x1250, 0x1256), (0x1258, 0x1258), (0x125A, 0x125D), (0x1260, 0x1288), (0x128A, 0x128D), (0x1290, 0x12B0),
    (0x12B2, 0x12B5), (0x12B8, 0x12BE), (0x12C0, 0x12C0), (0x12C2, 0x12C5), (0x12C8, 0x12D6), (0x12D8, 0x1310),
    (0x1312, 0x1315), (0x1318, 0x135A), (0x1380, 0x138F), (0x13A0, 0x13F5), (0x13F8, 0x13FD), (0x1401, 0x166C),
    (0x166F, 0x167F), (0x1681, 0x169A), (0x16A0, 0x16EA), (0x16F1, 0x16F8), (0x1700, 0x1711), (0x171F, 0x1731),
    (0x1740, 0x1751), (0x1760, 0x176C), (0x176E, 0x1770), (0x1780, 0x17B3), (0x17D7, 0x17D7), (0x17DC, 0x17DC),
    (0x1820, 0x1878), (0x1880, 0x1884), (0x1887, 0x18A8), (0x18AA, 0x18AA), (0x18B0, 0x18F5), (0x1900, 0x191E),
    (0x1950, 0x196D), (0x1970, 0x1974), (0x1980, 0x19AB), (0x19B0, 0x19C9), (0x1A00, 0x1A16), (0x1A20, 0x1A54),
    (0x1AA7, 0x1AA7), (0x1B05, 0x1B33), (0x1B45, 0x1B4C), (0x1B83, 0x1BA0), (0x1BAE, 0x1BAF), (0x1BBA, 0x1BE5),
    (0x1C00, 0x1C23), (0x1C4D, 0x1C4F), (0x1C5A, 0x1C7D), (0x1C80, 0x1C88), (0x1C90, 0x1CBA), (0x1CBD, 0x1CBF),
    (0x1CE9, 0x1CEC), (0x1CEE, 0x1CF3), (0x1CF5, 0x1CF6), (0x1CFA, 0x1CFA), (0x1D00, 0x1DBF), (0x1E00, 0x1F15),
    (0x1F18, 0x1F1D), (0x1F20, 0x1F45), (0x1F48, 0x1F4D), (0x1F50, 0x1F57), (0x1F59, 0x1F59), (0x1F5B, 0x1F5B),
    (0x1F5D, 0x1F5D), (0x1F5F, 0x1F7D), (0x1F80, 0x1FB4), (0x1FB6, 0x1FBC), (0x1FBE, 0x1FBE), (0x1FC2, 0x1FC4),
    (0x1FC6, 0x1FCC), (0x1FD0, 0x1FD3), (0x1FD6, 0x1FDB), (0x1FE0, 0x1FEC), (0x1FF2, 0x1FF4), (0x1FF6, 0x1FFC),
    (0x2071, 0x2071), (0x207F, 0x207F), (0x2090, 0x209C), (0x2102, 0x2102), (0x2107, 0x2107), (0x210A, 0x2113),
    (0x2115, 0x2115), (0x2119, 0x211D), (0x2124, 0x2124), (0x2126, 0x2126), (0x2128, 0x2128), (0x212A, 0x212D),
    (0x212F, 0x2139), (0x213C, 0x213F), (0x2145, 0x2149), (0x214E, 0x214E), (0x2183, 0x2184), (0x2C00, 0x2CE4),
    (0x2CEB, 0x2CEE), (0x2CF2, 0x2CF3), (0x2D00, 0x2D25), (0x2D27, 0x2D27), (0x2D2D, 0x2D2D), (0x2D30, 0x2D67),
    (0x2D6F, 0x2D6F), (0x2D80, 0x2D96), (0x2DA0, 0x2DA6), (0x2DA8, 0x2DAE), (0x2DB0, 0x2DB6), (0x2DB8, 0x2DBE),
    (0x2DC0, 0x2DC6), (0x2DC8, 0x2DCE), (0x2DD0, 0x2DD6), (0x2DD8, 0x2DDE), (0x2E2F, 0x2E2F), (0x3005, 0x3006),
    (0x3031, 0x3035), (0x303B, 0x303C), (0x3041, 0x3096), (0x309D, 0x309F), (0x30A1, 0x30FA), (0x30FC, 0x30FF),
    (0x3105, 0x312F), (0x3131, 0x318E), (0x31A0, 0x31BF), (0x31F0, 0x31FF), (0x3400, 0x4DBF), (0x4E00, 0xA48C),
    (0xA4D0, 0xA4FD), (0xA500, 0xA60C), (0xA610, 0xA61F), (0xA62A, 0xA62B), (0xA640, 0xA66E), (0xA67F, 0xA69D),
    (0xA6A0, 0xA6E5), (0xA717, 0xA71F), (0xA722, 0xA788), (0xA78B, 0xA7CA), (0xA7D0, 0xA7D1), (0xA7D3, 0xA7D3),
    (0xA7D5, 0xA7D9), (0xA7F2, 0xA801), (0xA803, 0xA805), (0xA807, 0xA80A), (0xA80C, 0xA822), (0xA840, 0xA873),
    (0xA882, 0xA8B3), (0xA8F2, 0xA8F7), (0xA8FB, 0xA8FB), (0xA8FD, 0xA8FE), (0xA90A, 0xA925), (0xA930, 0xA946),
    (0xA960, 0xA97C), (0xA984, 0xA9B2), (0xA9CF, 0xA9CF), (0xA9E0, 0xA9E4), (0xA9E6, 0xA9EF), (0xA9FA, 0xA9FE),
    (0xAA00, 0xAA28), (0xAA40, 0xAA42), (0xAA44, 0xAA4B), (0xAA60, 0xAA76), (0xAA7A, 0xAA7A), (0xAA7E, 0xAAAF),
    (0xAAB1, 0xAAB1), (0xAAB5, 0xAAB6), (0xAAB9, 0xAABD), (0xAAC0, 0xAAC0), (0xAAC2, 0xAAC2), (0xAADB, 0xAADD),
    (0xAAE0, 0xAAEA), (0xAAF2, 0xAAF4), (0xAB01, 0xAB06), (0xAB09, 0xAB0E), (0xAB11, 0xAB16), (0xAB20, 0xAB26),
    (0xAB28, 0xAB2E), (0xAB30, 0xAB5A), (0xAB5C, 0xAB69), (0xAB70, 0xABE2), (0xAC00, 0xD7A3), (0xD7B0, 0xD7C6),
    (0xD7CB, 0xD7FB), (0xF900, 0xFA6D), (0xFA70, 0xFAD9), (0xFB00, 0xFB06), (0xFB13, 0xFB17), (0xFB1D, 0xFB1D),
    (0xFB1F, 0xFB28), (0xFB2A, 0xFB36), (0xFB38, 0xFB3C), (0xFB3E, 0xFB3E), (0xFB40, 0xFB41), (0xFB43, 0xFB44),
    (0xFB46, 0xFBB1), (0xFBD3, 0xFD3D), (0xFD50, 0xFD8F), (0xFD92, 0xFDC7), (0xFDF0, 0xFDFB), (0xFE70, 0xFE74),
    (0xFE76, 0xFEFC), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A), (0xFF66, 0xFFBE), (0xFFC2, 0xFFC7), (0xFFCA, 0xFFCF),
    (0xFFD2, 0xFFD7), (0xFFDA, 0xFFDC), (0x10000, 0x1000B), (0x1000D, 0x10026), (0x10028, 0x1003A), (0x1003C, 0x1003D),
    (0x1003F, 0x1004D), (0x10050, 0x1005D), (0x10080, 0x100FA), (0x10280, 0x1029C), (0x102A0, 0x102D0), (0x10300, 0x1031F),
    (0x1032D, 0x10340), (0x10342, 0x10349), (0x10350, 0x10375), (0x10380, 0x1039D), (0x103A0, 0x103C3), (0x103C8, 0x103CF),
    (0x10400, 0x1049D), (0x104B0, 0x104D3), (0x104D8, 0x104FB), (0x10500, 0x10527), (0x10530, 0x10563), (0x10570, 0x1057A),
    (0x1057C, 0x1058A), (0x1058C, 0x10592), (0x10594, 0x10595), (0x10597, 0x105A1), (0x105A3, 0x105B1), (0x105B3, 0x105B9),
    (0x105BB, 0x105BC), (0x10600, 0x10736), (0x10740, 0x10755), (0x10760, 0x10767), (0x10780, 0x10785), (0x10787, 0x107B0),
    (0x107B2, 0x107BA), (0x10800, 0x10805), (0x10808, 0x10808), (0x1080A, 0x10835), (0x10837, 0x10838), (0x1083C, 0x1083C),
    (0x1083F, 0x10855), (0x10860, 0x10876), (0x10880, 0x1089E), (0x108E0, 0x108F2), (0x108F4, 0x108F5), (0x10900, 0x10915),
    (0x10920, 0x10939), (0x10980, 0x109B7), (0x109BE, 0x109BF), (0x10A00, 0x10A00), (0x10A10, 0x10A13), (0x10A15, 0x10A17),
    (0x10A19, 0x10A35), (0x10A60, 0x10A7C), (0x10A80, 0x10A9C), (0x10AC0, 0x10AC7), (0x10AC9, 0x10AE4), (0x10B00, 0x10B35),
    (0x10B40, 0x10B55), (0x10B60, 0x10B72), (0x10B80, 0x10B91), (0x10C00, 0x10C48), (0x10C80, 0x10CB2), (0x10CC0, 0x10CF2),
    (0x10D00, 0x10D23), (0x10E80, 0x10EA9), (0x10EB0, 0x10EB1), (0x10F00, 0x10F1C), (0x10F27, 0x10F27), (0x10F30, 0x10F45),
    (0x10F70, 0x10F81), (0x10FB0, 0x10FC4), (0x10FE0, 0x10FF6), (0x11003, 0x11037), (0x11071, 0x11072), (0x11075, 0x11075),
    (0x11083, 0x110AF), (0x110D0, 0x110E8), (0x11103, 0x11126), (0x11144, 0x11144), (0x11147, 0x11147), (0x11150, 0x11172),
    (0x11176, 0x11176), (0x11183, 0x111B2), (0x111C1, 0x111C4), (0x111DA, 0x111DA), (0x111DC, 0x111DC), (0x11200, 0x11211),
    (0x11213, 0x1122B), (0x11280, 0x11286), (0x11288, 0x11288), (0x1128A, 0x1128D), (0x1128F, 0x1129D), (0x1129F, 0x112A8),
    (0x112B0, 0x112DE), (0x11305, 0x1130C), (0x1130F, 0x11310), (0x11313, 0x11328), (0x1132A, 0x11330), (0x11332, 0x11333),
    (0x11335, 0x11339), (0x1133D, 0x1133D), (0x11350, 0x11350), (0x1135D, 0x11361), (0x11400, 0x11434), (0x11447, 0x1144A),
    (0x1145F, 0x11461), (0x11480, 0x114AF), (0x114C4, 0x114C5), (0x114C7, 0x114C7), (0x11580, 0x115AE), (0x115D8, 0x115DB),
    (0x11600, 0x1162F), (0x11644, 0x11644), (0x11680, 0x116AA), (0x116B8, 0x116B8), (0x11700, 0x1171A), (0x11740, 0x11746),
    (0x11800, 0x1182B), (0x118A0, 0x118DF), (0x118FF, 0x11906), (0x11909, 0x11909), (0x1190C, 0x11913), (0x11915, 0x11916),
    (0x11918, 0x1192F), (0x1193F, 0x1193F), (0x11941, 0x11941), (0x119A0, 0x119A7), (0x119AA, 0x119D0), (0x119E1, 0x119E1),
    (0x119E3, 0x119E3), (0x11A00, 0x11A00), (0x11A0B, 0x11A32), (0x11A3A, 0x11A3A), (0x11A50, 0x11A50), (0x11A5C, 0x11A89),
    (0x11A9D, 0x11A9D), (0x11AB0, 0x11AF8), (0x11C00, 0x11C08), (0x11C0A, 0x11C2E), (0x11C40, 0x11C40), (0x11C72, 0x11C8F),
    (0x11D00, 0x11D06), (0x11D08, 0x11D09), (0x11D0B, 0x11D30), (0x11D46, 0x11D46), (0x11D60, 0x11D65), (0x11D67, 0x11D68),
    (0x11D6A, 0x11D89), (0x11D98, 0x11D98), (0x11EE0, 0x11EF2), (0x11FB0, 0x11FB0), (0x12000, 0x12399), (0x12480, 0x12543),
    (0x12F90, 0x12FF0), (0x13000, 0x1342E), (0x14400, 0x14646), (0x16800, 0x16A38), (0x16A40, 0x16A5E), (0x16A70, 0x16ABE),
    (0x16AD0, 0x16AED), (0x16B00, 0x16B2F), (0x16B40, 0x16B43), (0x16B63, 0x16B77), (0x16B7D, 0x16B8F), (0x16E40, 0x16E7F),
    (0x16F00, 0x16F4A), (0x16F50, 0x16F50), (0x16F93, 0x16F9F), (0x16FE0, 0x16FE1), (0x16FE3, 0x16FE3), (0x17000, 0x187F7),
    (0x18800, 0x18CD5), (0x18D00, 0x18D08), (0x1AFF0, 0x1AFF3), (0x1AFF5, 0x1AFFB), (0x1AFFD, 0x1AFFE), (0x1B000, 0x1B122),
    (0x1B150, 0x1B152), (0x1B164, 0x1B167), (0x1B170, 0x1B2FB), (0x1BC00, 0x1BC6A), (0x1BC70, 0x1BC7C), (0x1BC80, 0x1BC88),
    (0x1BC90, 0x1BC99), (0x1D400, 0x1D454), (0x1D456, 0x1D49C), (0x1D49E, 0x1D49F), (0x1D4A2, 0x1D4A2), (0x1D4A5, 0x1D4A6),
    (0x1D4A9, 0x1D4AC), (0x1D4AE, 0x1D4B9), (0x1D4BB, 0x1D4BB), (0x1D4BD, 0x1D4C3), (0x1D4C5, 0x1D505), (0x1D507, 0x1D50A),
    (0x1D50D, 0x1D514), (0x1D516, 0x1D51C), (0x1D51E, 0x1D539), (0x1D53B, 0x1D53E), (0x1D540, 0x1D544), (0x1D546, 0x1D546),
    (0x1D54A, 0x1D550), (0x1D552, 0x1D6A5), (0x1D6A8, 0x1D6C0), (0x1D6C2, 0x1D6DA), (0x1D6DC, 0x1D6FA), (0x1D6FC, 0x1D714),
    (0x1D716, 0x1D734), (0x1D736, 0x1D74E), (0x1D750, 0x1D76E), (0x1D770, 0x1D788), (0x1D78A, 0x1D7A8), (0x1D7AA, 0x1D7C2),
    (0x1D7C4, 0x1D7CB), (0x1DF00, 0x1DF1E), (0x1E100, 0x1E12C), (0x1E137, 0x1E13D), (0x1E14E, 0x1E14E), (0x1E290, 0x1E2AD),
    (0x1E2C0, 0x1E2EB), (0x1E7E0, 0x1E7E6), (0x1E7E8, 0x1E7EB), (0x1E7ED, 0x1E7EE), (0x1E7F0, 0x1E7FE), (0x1E800, 0x1E8C4),
    (0x1E900, 0x1E943), (0x1E94B, 0x1E94B), (0x1EE00, 0x1EE03), (0x1EE05, 0x1EE1F), (0x1EE21, 0x1EE22), (0x1EE24, 0x1EE24),
    (0x1EE27, 0x1EE27), (0x1EE29, 0x1EE32), (0x1EE34, 0x1EE37), (0x1EE39, 0x1EE39), (0x1EE3B, 0x1EE3B), (0x1EE42, 0x1EE42),
    (0x1EE47, 0x1EE47), (0x1EE49, 0x1EE49), (0x1EE4B, 0x1EE4B), (0x1EE4D, 0x1EE4F), (0x1EE51, 0x1EE52), (0x1EE54, 0x1EE54),
    (0x1EE57, 0x1EE57), (0x1EE59, 0x1EE59), (0x1EE5B, 0x1EE5B), (0x1EE5D, 0x1EE5D), (0x1EE5F, 0x1EE5F), (0x1EE61, 0x1EE62),
    (0x1EE64, 0x1EE64), (0x1EE67, 0x1EE6A), (0x1EE6C, 0x1EE72), (0x1EE74, 0x1EE77), (0x1EE79, 0x1EE7C), (0x1EE7E, 0x1EE7E),
    (0x1EE80, 0x1EE89), (0x1EE8B, 0x1EE9B), (0x1EEA1, 0x1EEA3), (0x1EEA5, 0x1EEA9), (0x1EEAB, 0x1EEBB), (0x20000, 0x2A6DF),
    (0x2A700, 0x2B738), (0x2B740, 0x2B81D), (0x2B820, 0x2CEA1), (0x2CEB0, 0x2EBE0), (0x2F800, 0x2FA1D), (0x30000, 0x3134A),
];
#[rustfmt::skip]
const NUMBER_RANGES: [(u32, u32); 134] = [
    (0x30, 0x39), (0xB2, 0xB3), (0xB9, 0xB9), (0xBC, 0xBE), (0x660, 0x669), (0x6F0, 0x6F9),
    (0x7C0, 0x7C9), (0x966, 0x96F), (0x9E6, 0x9EF), (0x9F4, 0x9F9), (0xA66, 0xA6F), (0xAE6, 0xAEF),
    (0xB66, 0xB6F), (0xB72, 0xB77), (0xBE6, 0xBF2), (0xC66, 0xC6F), (0xC78, 0xC7E), (0xCE6, 0xCEF),
    (0xD58, 0xD5E), (0xD66, 0xD78), (0xDE6, 0xDEF), (0xE50, 0xE59), (0xED0, 0xED9), (0xF20, 0xF33),
    (0x1040, 0x1049), (0x1090, 0x1099), (0x1369, 0x137C), (0x16EE, 0x16F0), (0x17E0, 0x17E9), (0x17F0, 0x17F9),
    (0x1810, 0x1819), (0x1946, 0x194F), (0x19D0, 0x19DA), (0x1A80, 0x1A89), (0x1A90, 0x1A99), (0x1B50, 0x1B59),
    (0x1BB0, 0x1BB9), (0x1C40, 0x1C49), (0x1C50, 0x1C59), (0x2070, 0x2070), (0x2074, 0x2079), (0x2080, 0x2089),
    (0x2150, 0x2182), (0x2185, 0x2189), (0x2460, 0x249B), (0x24EA, 0x24FF), (0x2776, 0x2793), (0x2CFD, 0x2CFD),
    (0x3007, 0x3007), (0x3021, 0x3029), (0x3038, 0x303A), (0x3192, 0x3195), (0x3220, 0x3229), (0x3248, 0x324F),
    (0x3251, 0x325F), (0x3280, 0x3289), (0x32B1, 0x32BF), (0xA620, 0xA629), (0xA6E6, 0xA6EF), (0xA830, 0xA835),
    (0xA8D0, 0xA8D9), (0xA900, 0xA909), (0xA9D0, 0xA9D9), (0xA9F0, 0xA9F9), (0xAA50, 0xAA59), (0xABF0, 0xABF9),
    (0xFF10, 0xFF19), (0x10107, 0x10133), (0x10140, 0x10178), (0x1018A, 0x1018B), (0x102E1, 0x102FB), (0x10320, 0x10323),
    (0x10341, 0x10341), (0x1034A, 0x1034A), (0x103D1, 0x103D5), (0x104A0, 0x104A9), (0x10858, 0x1085F), (0x10879, 0x1087F),
    (0x108A7, 0x108AF), (0x108FB, 0x108FF), (0x10916, 0x1091B), (0x109BC, 0x109BD), (0x109C0, 0x109CF), (0x109D2, 0x109FF),
    (0x10A40, 0x10A48), (0x10A7D, 0x10A7E), (0x10A9D, 0x10A9F), (0x10AEB, 0x10AEF), (0x10B58, 0x10B5F), (0x10B78, 0x10B7F),
    (0x10BA9, 0x10BAF), (0x10CFA, 0x10CFF), (0x10D30, 0x10D39), (0x10E60, 0x10E7E), (0x10F1D, 0x10F26), (0x10F51, 0x10F54),
    (0x10FC5, 0x10FCB), (0x11052, 0x1106F), (0x110F0, 0x110F9), (0x11136, 0x1113F), (0x111D0, 0x111D9), (0x111E1, 0x111F4),
    (0x112F0, 0x112F9), (0x11450, 0x11459), (0x114D0, 0x114D9), (0x11650, 0x11659), (0x116C0, 0x116C9), (0x11730, 0x1173B),
    (0x118E0, 0x118F2), (0x11950, 0x11959), (0x11C50, 0x11C6C), (0x11D50, 0x11D59), (0x11DA0, 0x11DA9), (0x11FC0, 0x11FD4),
    (0x12400, 0x1246E), (0x16A60, 0x16A69), (0x16AC0, 0x16AC9), (0x16B50, 0x16B59), (0x16B5B, 0x16B61), (0x16E80, 0x16E96),
    (0x1D2E0, 0x1D2F3), (0x1D360, 0x1D378), (0x1D7CE, 0x1D7FF), (0x1E140, 0x1E149), (0x1E2F0, 0x1E2F9), (0x1E8C7, 0x1E8CF),
    (0x1E950, 0x1E959), (0x1EC71, 0x1ECAB), (0x1ECAD, 0x1ECAF), (0x1ECB1, 0x1ECB4), (0x1ED01, 0x1ED2D), (0x1ED2F, 0x1ED3D),
    (0x1F100, 0x1F10C), (0x1FBF0, 0x1FBF9),
];

//! SentencePiece-style BPE in a Hugging Face `tokenizer.json` (Llama 2, TinyLlama, Mistral: what
//! transformers' `LlamaConverter` writes): the tokens are UTF-8 pieces with "▁" (U+2581) for the
//! space rather than byte-level spellings, a character missing from the vocabulary falls back to
//! its bytes as "<0xXX>" tokens, and the spaces are handled by one of two layouts:
//!
//! ```text
//! legacy:  normalizer Sequence[Prepend("▁"), Replace(" " → "▁")], no pre-tokenizer
//!          segment s (text between added tokens) → "▁" + s with ' ' → "▁"   (nothing for "")
//! newer:   no normalizer, pre-tokenizer Metaspace(replacement "▁", prepend_scheme, split)
//!          s → s with ' ' → "▁", then "▁" in front unless it already starts with one, when
//!          prepend_scheme is "always", or "first" and s starts the text; split: cut before each "▁"
//! decoder: Sequence[Replace("▁" → " "), ByteFallback, Fuse, Strip(" ", 1, 0)] (or Metaspace)
//! ```
//!
//! As `tokenizers` 0.23.3 does it (tests/suite/lm_tokenizers.rs checks its ids and decodings on
//! fixtures from scripts/make_tokenizer_fixtures.py): added tokens with `normalized: true` are
//! matched in the normalized text under their normalized spelling (legacy: "<sep>" is matched as
//! "▁<sep>", so "a<sep>" does not contain it) and decode to that spelling; a word's characters
//! are looked up one by one, a missing one becomes its "<0xXX>" byte tokens when all exist
//! (`byte_fallback`), else the unknown token; then the merges run as for byte-level BPE
//! ([`super::tokenizer_bpe`]).

use serde_json::Value;

use super::LmError;

/// The space as sentencepiece spells it.
pub const SPACE: char = '\u{2581}';

fn unsupported(field: &'static str, message: String) -> LmError {
    LmError::Config { field, message }
}

fn type_of(v: &Value) -> &str {
    v.get("type").and_then(Value::as_str).unwrap_or("(no type)")
}

/// When the Metaspace pre-tokenizer puts a "▁" in front of a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrependScheme {
    Always,
    /// Only the segment that starts the text.
    First,
    Never,
}

/// The normalizer of a tokenizer.json: NFC (Unicode's canonical composition, the
/// `unicode-normalization` crate's), Prepend("▁"), Replace(" " → "▁").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Normalizer {
    pub nfc: bool,
    pub prepend: bool,
    pub replace_space: bool,
}

impl Normalizer {
    pub fn parse(v: Option<&Value>) -> Result<Normalizer, LmError> {
        const FIELD: &str = "tokenizer.normalizer";
        let mut n = Normalizer::default();
        let Some(v) = v.filter(|v| !v.is_null()) else { return Ok(n) };
        let mut stack = vec![v];
        let mut steps = 0;
        while let Some(v) = stack.pop() {
            steps += 1;
            if steps > 64 {
                return Err(unsupported(FIELD, "more than 64 normalizers".into()));
            }
            match type_of(v) {
                "NFC" => n.nfc = true,
                "Sequence" => {
                    let list = v.get("normalizers").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
                    // Nested sequences are walked without recursion; the order of Prepend and
                    // Replace does not change the result.
                    stack.extend(list.iter().rev());
                }
                "Prepend" if v.get("prepend").and_then(Value::as_str) == Some("\u{2581}") => n.prepend = true,
                "Replace" if v.get("pattern").and_then(|p| p.get("String")).and_then(Value::as_str) == Some(" ")
                    && v.get("content").and_then(Value::as_str) == Some("\u{2581}") =>
                {
                    n.replace_space = true
                }
                other => return Err(unsupported(FIELD, format!("normalizer {other:?} ({v}) is not implemented (NFC, Prepend(\"▁\"), Replace(\" \", \"▁\"))"))),
            }
        }
        Ok(n)
    }

    /// Neither Prepend nor Replace (NFC aside).
    pub fn is_identity(&self) -> bool {
        !self.prepend && !self.replace_space
    }

    /// `tokenizers`' NFC, then Prepend (only a non-empty string), then Replace. (NFC maps no
    /// character to or from a space or "▁", so its place in a Sequence does not matter.)
    pub fn apply(&self, s: &str) -> String {
        let composed: String;
        let s = if self.nfc {
            composed = unicode_normalization::UnicodeNormalization::nfc(s).collect();
            composed.as_str()
        } else {
            s
        };
        let mut out = String::with_capacity(s.len() + 3);
        if self.prepend && !s.is_empty() {
            out.push(SPACE);
        }
        if self.replace_space {
            out.extend(s.chars().map(|c| if c == ' ' { SPACE } else { c }));
        } else {
            out.push_str(s);
        }
        out
    }
}

/// The Metaspace pre-tokenizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metaspace {
    pub prepend: PrependScheme,
    pub split: bool,
}

impl Metaspace {
    /// From `{"type": "Metaspace", "replacement": "▁", "prepend_scheme": …, "split": …}` (or the
    /// older `add_prefix_space` flag).
    pub fn parse(v: &Value) -> Result<Metaspace, LmError> {
        const FIELD: &str = "tokenizer.pre_tokenizer";
        let replacement = v.get("replacement").and_then(Value::as_str).unwrap_or("\u{2581}");
        if replacement != "\u{2581}" {
            return Err(unsupported(FIELD, format!("Metaspace with replacement {replacement:?} is not implemented (\"▁\" only)")));
        }
        let prepend = match v.get("prepend_scheme").and_then(Value::as_str) {
            Some("always") => PrependScheme::Always,
            Some("first") => PrependScheme::First,
            Some("never") => PrependScheme::Never,
            Some(other) => return Err(unsupported(FIELD, format!("Metaspace prepend_scheme {other:?} is not one of always, first, never"))),
            None => match v.get("add_prefix_space").and_then(Value::as_bool) {
                Some(false) => PrependScheme::Never,
                _ => PrependScheme::Always,
            },
        };
        Ok(Metaspace { prepend, split: v.get("split").and_then(Value::as_bool).unwrap_or(true) })
    }

    /// The words of a segment; `first`: the segment starts the text.
    pub fn words(&self, s: &str, first: bool) -> Vec<String> {
        if s.is_empty() {
            return Vec::new();
        }
        let mut t = String::with_capacity(s.len() + 3);
        let starts_with_space = s.starts_with([' ', SPACE]);
        if !starts_with_space && (self.prepend == PrependScheme::Always || (self.prepend == PrependScheme::First && first)) {
            t.push(SPACE);
        }
        t.extend(s.chars().map(|c| if c == ' ' { SPACE } else { c }));
        if !self.split {
            return vec![t];
        }
        // MergedWithNext: each "▁" begins a word.
        let mut words = Vec::new();
        let mut start = 0;
        for (i, c) in t.char_indices() {
            if c == SPACE && i > start {
                words.push(t[start..i].to_string());
                start = i;
            }
        }
        words.push(t[start..].to_string());
        words
    }
}

/// One step of the decoder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeStep {
    /// Replace("▁" → " ").
    SpaceBack,
    /// Consecutive "<0xXX>" tokens → their bytes as UTF-8 (each byte "\u{FFFD}" when invalid).
    ByteFallback,
    /// All tokens → one.
    Fuse,
    /// Up to `start` leading and `stop` trailing `content` characters off every token.
    Strip { content: char, start: usize, stop: usize },
    /// "▁" → " ", the first token's dropped when the scheme prepends.
    Metaspace(PrependScheme),
}

/// The decoder of a SentencePiece-style tokenizer.json.
pub fn parse_decoder(v: Option<&Value>) -> Result<Vec<DecodeStep>, LmError> {
    const FIELD: &str = "tokenizer.decoder";
    let Some(v) = v.filter(|v| !v.is_null()) else { return Ok(Vec::new()) };
    let list: Vec<&Value> = match type_of(v) {
        "Sequence" => v.get("decoders").and_then(Value::as_array).map(|l| l.iter().collect()).unwrap_or_default(),
        _ => vec![v],
    };
    if list.len() > 16 {
        return Err(unsupported(FIELD, format!("{} decoders: qplay reads at most 16", list.len())));
    }
    list.into_iter()
        .map(|d| match type_of(d) {
            "Replace"
                if d.get("pattern").and_then(|p| p.get("String")).and_then(Value::as_str) == Some("\u{2581}")
                    && d.get("content").and_then(Value::as_str) == Some(" ") =>
            {
                Ok(DecodeStep::SpaceBack)
            }
            "ByteFallback" => Ok(DecodeStep::ByteFallback),
            "Fuse" => Ok(DecodeStep::Fuse),
            "Strip" => {
                let content = d.get("content").and_then(Value::as_str).and_then(|s| s.chars().next()).unwrap_or(' ');
                let n = |k: &str| d.get(k).and_then(Value::as_u64).unwrap_or(0).min(1 << 16) as usize;
                Ok(DecodeStep::Strip { content, start: n("start"), stop: n("stop") })
            }
            "Metaspace" => Ok(DecodeStep::Metaspace(Metaspace::parse(d)?.prepend)),
            other => Err(unsupported(FIELD, format!("decoder {other:?} ({d}) is not implemented for SentencePiece-style BPE (Replace(\"▁\", \" \"), ByteFallback, Fuse, Strip, Metaspace)"))),
        })
        .collect()
}

/// The byte of a "<0xXX>" token (two uppercase hex digits, as sentencepiece writes them).
pub fn byte_token(token: &str) -> Option<u8> {
    let hex = token.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)) {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

/// `tokenizers`' decode of the tokens' strings through `steps`, then concatenated.
pub fn decode(tokens: Vec<String>, steps: &[DecodeStep]) -> String {
    let mut tokens = tokens;
    for step in steps {
        tokens = match step {
            DecodeStep::SpaceBack => tokens.into_iter().map(|t| t.replace(SPACE, " ")).collect(),
            DecodeStep::ByteFallback => {
                let mut out = Vec::with_capacity(tokens.len());
                let mut bytes = Vec::new();
                let flush = |bytes: &mut Vec<u8>, out: &mut Vec<String>| {
                    if bytes.is_empty() {
                        return;
                    }
                    match String::from_utf8(std::mem::take(bytes)) {
                        Ok(s) => out.push(s),
                        Err(e) => out.extend(std::iter::repeat_n("\u{FFFD}".to_string(), e.as_bytes().len())),
                    }
                };
                for t in tokens {
                    match byte_token(&t) {
                        Some(b) => bytes.push(b),
                        None => {
                            flush(&mut bytes, &mut out);
                            out.push(t);
                        }
                    }
                }
                flush(&mut bytes, &mut out);
                out
            }
            DecodeStep::Fuse => vec![tokens.concat()],
            DecodeStep::Strip { content, start, stop } => tokens
                .into_iter()
                .map(|t| {
                    let chars: Vec<char> = t.chars().collect();
                    let a = chars.iter().take(*start).take_while(|&&c| c == *content).count();
                    let b = chars[a..].iter().rev().take(*stop).take_while(|&&c| c == *content).count();
                    chars[a..chars.len() - b].iter().collect()
                })
                .collect(),
            DecodeStep::Metaspace(scheme) => tokens
                .into_iter()
                .enumerate()
                .map(|(i, t)| {
                    t.chars()
                        .filter_map(|c| match c {
                            SPACE if i == 0 && *scheme != PrependScheme::Never => None,
                            SPACE => Some(' '),
                            c => Some(c),
                        })
                        .collect()
                })
                .collect(),
        };
    }
    tokens.concat()
}

/// How a SentencePiece-style tokenizer.json spells and decodes its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PieceRules {
    pub normalizer: Normalizer,
    /// The Metaspace pre-tokenizer (the newer layout), or none (legacy: the normalizer does it).
    pub metaspace: Option<Metaspace>,
    /// `model.byte_fallback`.
    pub byte_fallback: bool,
    pub decoder: Vec<DecodeStep>,
}

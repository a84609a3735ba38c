//! The parts of a Hugging Face `tokenizer.json` read with memory bounded by qplay's limits,
//! not by the text: a 64 MiB file of `[0,0,0,…]` parsed into `serde_json::Value`s would take
//! some 16 bytes per 2 bytes of text (0.5–1 GiB).
//!
//! - `model.vocab` ([`VocabJson`]): token → id pairs, at most [`MAX_VOCAB`] of them, ids integers;
//! - `model.merges` ([`MergesJson`]): at most [`MAX_MERGES`] entries, each "a b" or [a, b],
//!   an array entry holding at most 3 strings while it is read;
//! - the small objects (normalizer, pre-tokenizer, post-processor, decoder) ([`small_value`]):
//!   kept as their text, and parsed into a `Value` only within [`MAX_SECTION_BYTES`].
//!
//! Past a limit the parse stops with a message naming the field and the limit.

use serde::de::{Deserializer, Error, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::tokenizer_bpe::{MAX_MERGES, MAX_VOCAB};

/// Largest normalizer / pre-tokenizer / post-processor / decoder section (real ones: < 10 KB).
pub const MAX_SECTION_BYTES: usize = 1 << 20;

/// `model.vocab`: (token, id) in file order.
pub struct VocabJson(pub Vec<(String, u64)>);

impl<'de> Deserialize<'de> for VocabJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = VocabJson;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("model.vocab as an object of token → id")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<VocabJson, A::Error> {
                let mut out = Vec::new();
                while let Some(token) = m.next_key::<String>()? {
                    if out.len() == MAX_VOCAB {
                        return Err(A::Error::custom(format!("model.vocab has more than {MAX_VOCAB} tokens, qplay's limit")));
                    }
                    let id = m.next_value::<u64>().map_err(|e| A::Error::custom(format!("model.vocab: the id of token {:?}: {e}", clip(&token))))?;
                    out.push((token, id));
                }
                Ok(VocabJson(out))
            }
        }
        d.deserialize_map(Entries)
    }
}

/// One entry of `model.merges`.
pub enum MergeJson {
    /// "a b" (before tokenizers 0.20).
    Text(String),
    /// [a, b] (an array of another length, or not of strings: `None`).
    Pair(Option<(String, String)>),
}

/// `model.merges`, in file order.
pub struct MergesJson(pub Vec<MergeJson>);

impl<'de> Deserialize<'de> for MergesJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = MergesJson;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("model.merges as a list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<MergesJson, A::Error> {
                let mut out = Vec::new();
                while let Some(m) = s.next_element::<MergeJson>()? {
                    if out.len() == MAX_MERGES {
                        return Err(A::Error::custom(format!("model.merges has more than {MAX_MERGES} entries, qplay's limit")));
                    }
                    out.push(m);
                }
                Ok(MergesJson(out))
            }
        }
        d.deserialize_seq(Entries)
    }
}

impl<'de> Deserialize<'de> for MergeJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entry;
        impl<'de> Visitor<'de> for Entry {
            type Value = MergeJson;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a merge: \"a b\" or [a, b]")
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<MergeJson, E> {
                Ok(MergeJson::Text(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<MergeJson, A::Error> {
                let (a, b) = (s.next_element::<MaybeString>()?, s.next_element::<MaybeString>()?);
                // A third element (or more) makes it no pair; they are skipped, not kept.
                let mut more = false;
                while s.next_element::<IgnoredAny>()?.is_some() {
                    more = true;
                }
                Ok(MergeJson::Pair(match (a, b, more) {
                    (Some(MaybeString(Some(a))), Some(MaybeString(Some(b))), false) => Some((a, b)),
                    _ => None,
                }))
            }
        }
        d.deserialize_any(Entry)
    }
}

/// A string, or `None` for any other value (skipped without being kept).
struct MaybeString(Option<String>);

impl<'de> Deserialize<'de> for MaybeString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Any;
        impl<'de> Visitor<'de> for Any {
            type Value = MaybeString;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<MaybeString, E> {
                Ok(MaybeString(Some(v.to_string())))
            }
            fn visit_bool<E: Error>(self, _: bool) -> Result<MaybeString, E> {
                Ok(MaybeString(None))
            }
            fn visit_i64<E: Error>(self, _: i64) -> Result<MaybeString, E> {
                Ok(MaybeString(None))
            }
            fn visit_u64<E: Error>(self, _: u64) -> Result<MaybeString, E> {
                Ok(MaybeString(None))
            }
            fn visit_f64<E: Error>(self, _: f64) -> Result<MaybeString, E> {
                Ok(MaybeString(None))
            }
            fn visit_unit<E: Error>(self) -> Result<MaybeString, E> {
                Ok(MaybeString(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<MaybeString, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(MaybeString(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<MaybeString, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(MaybeString(None))
            }
        }
        d.deserialize_any(Any)
    }
}

/// A section kept as text ([`RawValue`], a copy of its bytes) and parsed into a `Value` only
/// when it is at most [`MAX_SECTION_BYTES`] long; longer is an error naming `field`.
pub fn small_value(raw: Option<&RawValue>, field: &str) -> Result<Option<Value>, String> {
    let Some(raw) = raw else { return Ok(None) };
    let text = raw.get();
    if text.len() > MAX_SECTION_BYTES {
        return Err(format!("{field} is {} bytes long: qplay reads up to {MAX_SECTION_BYTES}", text.len()));
    }
    serde_json::from_str(text).map(Some).map_err(|e| format!("{field}: {e}"))
}

/// A token cut to 40 characters for a message ([`crate::clip::clip`]).
fn clip(token: &str) -> String {
    crate::clip::clip(token, 40)
}

/// The highest id a `tokenizer.json` names, read without running it and without keeping its
/// tokens: `model.vocab`'s ids (token → id, as BPE, WordPiece and WordLevel write it; a Unigram
/// model's list of [token, score] numbers its entries from 0) and `added_tokens`' ids. `None`
/// for a file that does not parse this far or names no id. It tells another model's tokenizer
/// from one qplay cannot run ([`crate::lm::import::tokenizer_for`]).
pub fn top_id(json: &str) -> Option<u64> {
    #[derive(Deserialize)]
    struct File {
        #[serde(default)]
        added_tokens: TopId,
        #[serde(default)]
        model: Option<Model>,
    }
    #[derive(Deserialize)]
    struct Model {
        #[serde(default)]
        vocab: TopId,
    }
    let file: File = serde_json::from_str(json).ok()?;
    file.added_tokens.0.max(file.model.and_then(|m| m.vocab.0))
}

/// The highest id of a list of added tokens (`{"id": …}`), of an object of token → id, or of a
/// list of entries numbered from 0 (a Unigram vocabulary): each entry is read and dropped.
#[derive(Default)]
struct TopId(Option<u64>);

impl<'de> Deserialize<'de> for TopId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Added {
            id: u64,
        }
        /// An entry of a list: an added token's id, or any other value (counted only).
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Entry {
            Added(Added),
            Other(IgnoredAny),
        }
        struct Ids;
        impl<'de> Visitor<'de> for Ids {
            type Value = TopId;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of tokens or an object of token → id")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<TopId, A::Error> {
                let mut top = None;
                while let Some((_, id)) = m.next_entry::<IgnoredAny, u64>()? {
                    top = top.max(Some(id));
                }
                Ok(TopId(top))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<TopId, A::Error> {
                // Entry k of a list without ids is id k.
                let (mut top, mut k) = (None, 0u64);
                while let Some(e) = s.next_element::<Entry>()? {
                    top = top.max(Some(match e {
                        Entry::Added(a) => a.id,
                        Entry::Other(_) => k,
                    }));
                    k += 1;
                }
                Ok(TopId(top))
            }
        }
        d.deserialize_any(Ids)
    }
}

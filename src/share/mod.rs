//! The one place that owns the URL: which page a hash shows, and every
//! shareable setting of each page, with its name in the link, its default,
//! and how it is read back. Reading a link never fails: a key that is
//! unknown, or a value that is invalid, is skipped with a notice.
//!
//! - [`tensor`]: the Tensor page's table of keys (`#/tensor?method=clip&bits=8&x=…`).
//! - [`experiment`]: an experiment description as dotted keys, the same paths as its TOML
//!   (`#/model?model=cnn-fashion&ptq.weight_bits=4`).
//! - [`lm`]: a language-model experiment (`#/lm?weights=rtn&bits=4&group=32`).
//! - [`view`]: what a teacher hides or locks on a page (`hide=…`, `lock=…`).

pub mod experiment;
pub mod lm;
pub mod tensor;
pub mod view;

pub use tensor::*;

/// The pages of the app, by the path at the start of the hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    /// `#/tensor?…` (and an empty or unknown path).
    Tensor,
    /// `#/model?…`: run an experiment on a model.
    Model,
    /// `#/lab?…`: the guided walkthrough of the lab handout.
    Lab,
    /// `#/bench`: the benchmarks, run in this browser.
    Bench,
    /// `#/lm?…`: quantize the built-in language model ([`lm`] holds its keys).
    Lm,
}

impl Page {
    pub const ALL: [Page; 5] = [Page::Tensor, Page::Model, Page::Lab, Page::Bench, Page::Lm];

    /// The path of the page in the hash, e.g. `/model`.
    pub fn path(self) -> &'static str {
        match self {
            Page::Tensor => "/tensor",
            Page::Model => "/model",
            Page::Lab => "/lab",
            Page::Bench => "/bench",
            Page::Lm => "/lm",
        }
    }

    pub fn from_hash(hash: &str) -> Page {
        let path = hash.strip_prefix('#').unwrap_or(hash).split('?').next().unwrap_or("");
        Page::ALL.into_iter().find(|p| p.path() == path).unwrap_or(Page::Tensor)
    }
}

/// The hash of a page with a query: `#/model?…`, or `#/model` when the query is empty.
pub fn page_hash(page: Page, query: &str) -> String {
    if query.is_empty() {
        format!("#{}", page.path())
    } else {
        format!("#{}?{query}", page.path())
    }
}

/// The query part of a hash (after `?`), or "".
pub fn query_of(hash: &str) -> &str {
    hash.split_once('?').map_or("", |(_, q)| q)
}

/// A notice naming the keys of a link whose %-escapes do not decode to UTF-8 (`%E2%98` cut short, `%FF`):
/// the decoder reads each as U+FFFD (�) and the page would otherwise show it as if typed. None when
/// every escape decodes, or when the link itself holds U+FFFD (literally or as `%EF%BF%BD`), which
/// then may be meant. One pass over the link.
pub fn broken_escapes(query: &str) -> Option<String> {
    if query.contains('\u{FFFD}') || query.to_ascii_uppercase().contains("%EF%BF%BD") {
        return None;
    }
    let broken = form_urlencoded::parse(query.as_bytes()).filter(|(k, v)| k.contains('\u{FFFD}') || v.contains('\u{FFFD}')).map(|(k, _)| k);
    let (named, count) = named_keys(broken)?;
    Some(format!("the link's {named} {} a %-escape that is not UTF-8 (cut short or mistyped?): it reads as \u{FFFD}", if count == 1 { "has" } else { "have" }))
}

/// A notice naming the keys of a link with a `%` that starts no %-escape (`prompt=%ZZ`, a `%` at
/// the end): the decoder keeps such a `%` as it is, so the value reads as typed, which a page's
/// own link never holds (it writes a `%` as `%25`). None when every `%` starts an escape. One
/// pass over the link.
pub fn stray_percents(query: &str) -> Option<String> {
    // Whether `raw` has a `%` not followed by two hex digits.
    let stray = |raw: &str| {
        let b = raw.as_bytes();
        b.iter().enumerate().any(|(i, &c)| c == b'%' && !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit) && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)))
    };
    let keys = query.split('&').filter(|pair| stray(pair)).map(|pair| {
        let key = pair.split_once('=').map_or(pair, |(k, _)| k);
        form_urlencoded::parse(key.as_bytes()).next().map(|(k, _)| k).unwrap_or_default()
    });
    let (named, count) = named_keys(keys)?;
    Some(format!("the link's {named} {} a % that starts no %-escape (mistyped? a % itself is %25): it reads as typed", if count == 1 { "has" } else { "have" }))
}

/// Every page's notices about a link's %-escapes: those that do not decode to UTF-8
/// ([`broken_escapes`]) and a `%` that starts none ([`stray_percents`]).
pub fn escape_notices(query: &str) -> impl Iterator<Item = String> {
    broken_escapes(query).into_iter().chain(stray_percents(query))
}

/// The notices for a Benchmark page link (`#/bench?…`), which takes no settings: its keys are
/// named as ignored (at most 8, then a count), so a hand-edited link is not read in silence.
pub fn bench_notices(hash: &str) -> Vec<String> {
    let keys = form_urlencoded::parse(query_of(hash).as_bytes()).map(|(k, _)| k);
    named_keys(keys).map(|(named, _)| format!("Ignored {named} in the link: the Benchmark page takes no settings.")).into_iter().collect()
}

/// The distinct keys of a link for a notice, each clipped and quoted: the first 8 joined by
/// commas, then "and N more"; with how many distinct keys there were. None when there is none.
/// Linear in the link: keys are compared through a hash set.
pub(crate) fn named_keys<'a>(keys: impl Iterator<Item = std::borrow::Cow<'a, str>>) -> Option<(String, usize)> {
    let mut seen = std::collections::HashSet::new();
    let mut shown: Vec<String> = Vec::new();
    for k in keys {
        if seen.insert(k.clone()) && shown.len() < 8 {
            shown.push(format!("\"{}\"", clip(&k)));
        }
    }
    let more = seen.len() - shown.len();
    let rest = if more > 0 { format!(" and {more} more") } else { String::new() };
    (!shown.is_empty()).then(|| (shown.join(", ") + &rest, seen.len()))
}

/// User text cut to 40 characters for a notice ([`crate::clip::clip`]).
pub fn clip(text: &str) -> String {
    crate::clip::clip(text, 40)
}

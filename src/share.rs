//! The one place that owns the URL: every shareable setting, its name in the
//! link, its default, and how it is read back.
//!
//! The hash looks like `#/tensor?method=clip&bits=8&x=1.4243,-0.7382`.
//! Reading never fails: a key that is unknown, or a value that is invalid,
//! is skipped (its default stays) and a notice says so.

use crate::examples::LAB_NORMAL;
use crate::parse::{format_numbers, parse_numbers};
use crate::quant::scheme::{MAX_BITS, MIN_BITS};
use crate::quant::Method;

/// Tensors up to this many values travel in the link; larger ones are left out with a notice.
pub const MAX_LINK_VALUES: usize = 256;

/// Longest hash that is read at all.
pub const MAX_HASH_LEN: usize = 16 * 1024;

/// The Tensor page's shareable settings.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorSettings {
    pub method: Method,
    pub bits: u8,
    /// The tensor as the user typed it.
    pub text: String,
}

impl Default for TensorSettings {
    fn default() -> Self {
        TensorSettings { method: Method::Normal, bits: 8, text: format_numbers(&LAB_NORMAL) }
    }
}

/// The settings table: each key of the link, in the order it is written.
pub const TENSOR_KEYS: [&str; 3] = ["method", "bits", "x"];

impl TensorSettings {
    /// The hash for these settings, starting with `#`. The tensor goes in
    /// only when it parses and has at most [`MAX_LINK_VALUES`] values.
    pub fn to_hash(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("method", self.method.name());
        query.append_pair("bits", &self.bits.to_string());
        if let Ok(parsed) = parse_numbers(&self.text) {
            if parsed.values.len() <= MAX_LINK_VALUES {
                let x: Vec<String> = parsed.values.iter().map(|v| v.to_string()).collect();
                query.append_pair("x", &x.join(","));
            }
        }
        format!("#/tensor?{}", query.finish())
    }

    /// Reads settings from a hash (with or without the leading `#`). Never
    /// fails: returns the settings and a notice for each thing it ignored.
    pub fn from_hash(hash: &str) -> (TensorSettings, Vec<String>) {
        let mut s = TensorSettings::default();
        let mut notices = Vec::new();
        let hash = hash.strip_prefix('#').unwrap_or(hash);
        if hash.is_empty() {
            return (s, notices);
        }
        if hash.len() > MAX_HASH_LEN {
            notices.push(format!("The link is longer than {MAX_HASH_LEN} characters; defaults are shown."));
            return (s, notices);
        }
        let (path, query) = hash.split_once('?').unwrap_or((hash, ""));
        if path != "/tensor" && path != "/" && !path.is_empty() {
            notices.push(format!("Unknown page \"{}\" in the link; showing the Tensor page.", clip(path)));
        }
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "method" => match Method::from_name(&value) {
                    Some(m) => s.method = m,
                    None => notices.push(format!("Ignored method \"{}\": use normal or clip.", clip(&value))),
                },
                "bits" => match value.parse::<u8>() {
                    Ok(b) if (MIN_BITS..=MAX_BITS).contains(&b) => s.bits = b,
                    _ => notices.push(format!(
                        "Ignored bits \"{}\": use a whole number from {MIN_BITS} to {MAX_BITS}.",
                        clip(&value)
                    )),
                },
                "x" => match parse_numbers(&value) {
                    Ok(p) if p.values.len() <= MAX_LINK_VALUES => s.text = format_numbers(&p.values),
                    Ok(_) => notices.push(format!("Ignored the tensor: a link holds at most {MAX_LINK_VALUES} values.")),
                    Err(e) => notices.push(format!("Ignored the tensor in the link: {e}.")),
                },
                other => notices.push(format!("Ignored unknown key \"{}\" in the link.", clip(other))),
            }
        }
        (s, notices)
    }
}

/// Cuts user text to 40 characters for a notice.
fn clip(text: &str) -> String {
    let mut s: String = text.chars().take(40).collect();
    if text.chars().count() > 40 {
        s.push('…');
    }
    s
}

//! An experiment description in a link. Every field that differs from its
//! default travels as its dotted path, the same path the TOML file uses:
//!
//! ```text
//! #/model?model=cnn-fashion&ptq.weight_bits=4&ptq.granularity.kind=per_group&ptq.granularity.group_size=16&ptq.skip=fc
//! ```
//!
//! - scalars are written as they are (`ptq.bias_correction=true`, `seed=7`);
//! - lists are comma separated (`ptq.skip=nn1,nn3`, `sweep.bits=2,4,8`);
//! - tagged settings give their tag and their fields (`ptq.act_calibration.method=percentile`,
//!   `ptq.act_calibration.percentile=99.9`), maps their keys (`ptq.layer_bits.nn1=4`).
//!
//! Reading starts from the default description and applies every key. A key
//! that does not belong to the description, a value of the wrong type, or one
//! that fails validation is dropped (its default stays) with a notice naming
//! it. Reading never fails and nothing from the link is ever used as HTML.

use serde_json::{Map, Value};

use super::clip;
use crate::experiment::Experiment;

/// Longest query that is read at all.
pub const MAX_QUERY_LEN: usize = 16 * 1024;

/// The description as sorted `(dotted path, value)` pairs of every leaf.
fn leaves(v: &Value, prefix: &str, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                leaves(child, &path, out);
            }
        }
        _ => out.push((prefix.to_string(), v.clone())),
    }
}

/// JSON of a description, with floats in their shortest form (0.02, not 0.0199999995…).
fn to_json(exp: &Experiment) -> Value {
    let text = serde_json::to_string(exp).expect("an experiment serialises");
    serde_json::from_str(&text).expect("its own JSON reads back")
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The query for a description: its leaves that differ from the default's, `key=value&…`.
pub fn to_query(exp: &Experiment) -> String {
    let mut mine = Vec::new();
    leaves(&to_json(exp), "", &mut mine);
    let mut defaults = Vec::new();
    leaves(&to_json(&Experiment::default()), "", &mut defaults);
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (path, v) in &mine {
        if defaults.iter().any(|(p, d)| p == path && d == v) {
            continue;
        }
        let text = match v {
            Value::Array(items) => items.iter().map(scalar_text).collect::<Vec<_>>().join(","),
            other => scalar_text(other),
        };
        q.append_pair(path, &text);
    }
    q.finish()
}

/// The value a link's text stands for, typed like the default's leaf at that path when there is one.
fn typed(text: &str, like: Option<&Value>) -> Value {
    let guess = |t: &str| -> Value {
        if let Ok(i) = t.parse::<i64>() {
            return Value::from(i);
        }
        if let Some(n) = t.parse::<f64>().ok().filter(|x| x.is_finite()).and_then(serde_json::Number::from_f64) {
            return Value::Number(n);
        }
        match t {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(t.to_string()),
        }
    };
    match like {
        Some(Value::Array(_)) => Value::Array(if text.is_empty() { Vec::new() } else { text.split(',').map(|t| guess(t.trim())).collect() }),
        Some(Value::String(_)) => Value::String(text.to_string()),
        Some(Value::Bool(_)) => match text {
            "1" | "true" => Value::Bool(true),
            "0" | "false" => Value::Bool(false),
            _ => Value::String(text.to_string()),
        },
        _ => guess(text),
    }
}

/// Sets the leaf at a dotted path, making objects along the way.
fn set_path(root: &mut Value, path: &str, v: Value) {
    let mut cur = root;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let m = cur.as_object_mut().expect("made an object above");
        if i + 1 == parts.len() {
            m.insert(part.to_string(), v);
            return;
        }
        cur = m.entry(part.to_string()).or_insert(Value::Null);
    }
}

fn get_path<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(root, |v, p| v.get(p))
}

/// A list of strings read as numbers where they look like numbers: also try them as strings
/// (layer names such as PyTorch's "0", "2").
fn as_strings(v: &Value) -> Option<Value> {
    match v {
        Value::Array(items) if items.iter().any(|i| !i.is_string()) => Some(Value::Array(items.iter().map(|i| Value::String(scalar_text(i))).collect())),
        Value::Number(_) | Value::Bool(_) => Some(Value::String(scalar_text(v))),
        _ => None,
    }
}

/// Builds a description from the default and the given keys, or says it does not deserialise.
fn build(keys: &[(String, Value)]) -> Result<Experiment, String> {
    let mut root = to_json(&Experiment::default());
    for (k, v) in keys {
        set_path(&mut root, k, v.clone());
    }
    serde_json::from_value(root).map_err(|e| e.to_string())
}

/// Reads a description from a link's query. Never fails: returns the description and a notice
/// for each key it dropped.
pub fn from_query(query: &str) -> (Experiment, Vec<String>) {
    let mut notices = Vec::new();
    if query.len() > MAX_QUERY_LEN {
        notices.push(format!("The link is longer than {MAX_QUERY_LEN} characters; the default experiment is shown."));
        return (Experiment::default(), notices);
    }
    let defaults = to_json(&Experiment::default());
    let mut keys: Vec<(String, Value)> = Vec::new();
    for (k, text) in form_urlencoded::parse(query.as_bytes()) {
        if k.is_empty() || k.split('.').any(|p| p.is_empty()) {
            notices.push(format!("Ignored the key \"{}\" in the link: it is not a setting.", clip(&k)));
            continue;
        }
        keys.retain(|(p, _)| *p != k); // the last one wins
        keys.push((k.to_string(), typed(&text, get_path(&defaults, &k))));
    }
    // Drop keys until the rest deserialises: first whichever single key is to blame, else the key
    // and everything beside it under the same parent (a tagged setting travels as a group).
    let mut exp = loop {
        match build(&keys) {
            Ok(e) => break e,
            Err(why) => {
                if let Some(i) = (0..keys.len()).find(|&i| {
                    let mut t = keys.clone();
                    let fix = as_strings(&t[i].1);
                    match fix {
                        Some(v) => {
                            t[i].1 = v;
                            build(&t).is_ok()
                        }
                        None => false,
                    }
                }) {
                    keys[i].1 = as_strings(&keys[i].1).expect("checked above");
                    continue;
                }
                let blame = (0..keys.len()).rev().find(|&i| {
                    let mut t = keys.clone();
                    t.remove(i);
                    build(&t).is_ok()
                });
                let i = blame.unwrap_or(keys.len() - 1);
                let (k, _) = keys.remove(i);
                notices.push(format!("Ignored \"{}\" in the link: {}.", clip(&k), clip_reason(&why)));
            }
        }
    };
    // Then drop whatever fails validation, named by its field.
    for _ in 0..keys.len() + 1 {
        match exp.validate() {
            Ok(()) => break,
            Err(e) => {
                let before = keys.len();
                keys.retain(|(k, _)| !(k == &e.field || k.starts_with(&format!("{}.", e.field)) || e.field.starts_with(&format!("{k}."))));
                if keys.len() == before {
                    notices.push(format!("The link's experiment is invalid ({e}); the default experiment is shown."));
                    return (Experiment::default(), notices);
                }
                notices.push(format!("Ignored {} in the link: {}.", clip(&e.field), e.message));
                exp = build(&keys).unwrap_or_default();
            }
        }
    }
    (exp, notices)
}

fn clip_reason(why: &str) -> String {
    // serde's messages end with "at line 1 column N" for JSON; keep the first clause.
    let first = why.split(" at line ").next().unwrap_or(why);
    let mut s: String = first.chars().take(120).collect();
    if first.chars().count() > 120 {
        s.push('…');
    }
    s
}

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

/// Most bytes of settings one link holds, counted decoded (keys and values without their
/// %-escapes), so that the link written for them, which may escape every byte, reads back.
pub const MAX_SETTINGS_BYTES: usize = 16 * 1024;

/// Longest query that is read at all: [`MAX_SETTINGS_BYTES`] written with every byte
/// %-escaped (3 bytes each), with a `=` and an `&` per key.
pub const MAX_QUERY_LEN: usize = 3 * MAX_SETTINGS_BYTES + 2 * MAX_KEYS;

/// Most keys read from one link; the rest are ignored with a notice. Decoding is linear in the
/// number of keys (each key is placed by walking the default description once, and only a key
/// whose group fails is deserialised on its own), so 2,048 keys decode in milliseconds.
pub const MAX_KEYS: usize = 2048;

/// Most dotted segments in one key (the deepest setting, `ptq.rounding.stochastic.seed`, has 4).
/// A longer key is not a setting and is never split, nested or recursed into.
pub const MAX_SEGMENTS: usize = 8;

/// Most keys under one tagged setting (e.g. `ptq.act_calibration.*`): a tagged setting has a tag
/// and at most two fields.
pub const MAX_GROUP_KEYS: usize = 16;

/// Most notices listed one by one; the rest are counted in one last notice.
pub const MAX_NOTICES: usize = 20;

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
    to_query_on(exp, &Experiment::default())
}

/// [`to_query`] against another starting point `base` (the Lab's own experiment): the leaves
/// that differ from `base`'s. [`from_query_on`] with the same `base` reads it back.
pub fn to_query_on(exp: &Experiment, base: &Experiment) -> String {
    let mut mine = Vec::new();
    leaves(&to_json(exp), "", &mut mine);
    let mut defaults = Vec::new();
    leaves(&to_json(base), "", &mut defaults);
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

/// A float that is a whole number below 2^53 (`1e1`, `10.0`) as that integer; past 2^53 an
/// exponent form may not name one integer exactly.
fn as_whole(v: &Value) -> Option<Value> {
    crate::decimal::exact_whole(v.as_f64().filter(|_| v.is_f64())?).map(Value::from)
}

/// The value a link's text stands for, typed like the default's leaf at that path when there is one.
fn typed(text: &str, like: Option<&Value>) -> Value {
    let guess = |t: &str| -> Value {
        if let Ok(i) = t.parse::<i64>() {
            return Value::from(i);
        }
        // 2^63 … 2^64 − 1: a u64 setting (a seed) that i64 cannot hold and f64 would round.
        if let Ok(u) = t.parse::<u64>() {
            return Value::from(u);
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
        // An integer setting: a whole number written as a float (8.0, 1e1) is that integer, as
        // in language-model links. Past 2^53 an exponent form may not name one integer exactly,
        // so it stays a float and is refused, named as the link wrote it.
        Some(Value::Number(n)) if !n.is_f64() => {
            let v = guess(text);
            as_whole(&v).unwrap_or(v)
        }
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

/// Sets the leaf at a dotted path, making objects along the way (paths have at most
/// [`MAX_SEGMENTS`] segments, checked when the link is read).
fn set_path(root: &mut Value, path: &str, v: Value) {
    let mut cur = root;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let m = cur.as_object_mut().expect("made an object above");
        if parts.peek().is_none() {
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

/// One key of a link, typed, with the group it is checked in.
struct Key {
    path: String,
    value: Value,
    /// The value as the link wrote it, for notices (serde writes 99999999999999999999 as 1e+20).
    text: String,
    /// The setting the key belongs to: the key itself, or for a field of a tagged setting
    /// (`ptq.act_calibration.percentile`) the tagged setting (`ptq.act_calibration`), since a
    /// tag and its fields only deserialise together.
    group: String,
    /// The link gives the key more than once (said in a notice once).
    twice: bool,
}

/// Where a key sits in the default description `defaults`: its group, or why it is not a
/// setting. One walk down at most [`MAX_SEGMENTS`] levels, no recursion.
fn place(defaults: &Value, key: &str) -> Result<String, Unread> {
    let parts: Vec<&str> = key.split('.').collect();
    let mut cur = defaults;
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        match cur {
            Value::Object(m) if !m.is_empty() => {
                // A tagged setting (serde's internally tagged enums: a calibration, a granularity)
                // is an object of a `method` or `kind` tag and at most two fields.
                let tagged = m.len() <= 3 && tag_of(m).is_some();
                let parent = || parts[..i].join(".");
                match m.get(*part) {
                    Some(child) if last => {
                        if child.is_object() {
                            return Err(Unread::AGroup);
                        }
                        return Ok(if tagged { parent() } else { key.to_string() });
                    }
                    Some(child) => cur = child,
                    // A field of another variant of a tagged setting (`…act_calibration.percentile`).
                    None if tagged && last => return Ok(parent()),
                    None => return Err(Unread::NotASetting),
                }
            }
            // An empty map (`ptq.layer_bits`): the one remaining segment is the entry's name.
            Value::Object(_) => return if last { Ok(key.to_string()) } else { Err(Unread::NotASetting) },
            // A leaf whose value becomes an object: a variant with fields (`ptq.rounding.stochastic.seed`).
            _ => return Ok(parts[..i].join(".")),
        }
    }
    Err(Unread::NotASetting)
}

/// Why a link's key is no setting.
#[derive(Clone, Copy, PartialEq)]
enum Unread {
    NotASetting,
    TooDeep,
    AGroup,
}

impl Unread {
    /// Said of one key, or of `count` keys.
    fn said(self, count: usize) -> &'static str {
        match (self, count == 1) {
            (Unread::NotASetting, true) => "it is not a setting",
            (Unread::NotASetting, false) => "they are not settings",
            (Unread::TooDeep, true) => "it has more dotted parts than any setting",
            (Unread::TooDeep, false) => "they have more dotted parts than any setting",
            (Unread::AGroup, true) => "it names a group of settings, not one setting",
            (Unread::AGroup, false) => "they name groups of settings, not one setting each",
        }
    }
}

/// Builds a description from the default JSON and the given keys, or says why it does not deserialise.
fn build<'a>(defaults: &Value, keys: impl IntoIterator<Item = (&'a str, &'a Value)>) -> Result<Experiment, String> {
    let mut root = defaults.clone();
    for (k, v) in keys {
        set_path(&mut root, k, v.clone());
    }
    serde_json::from_value(root).map_err(|e| e.to_string())
}

/// [`build`]; with `dataset_of_model`, a built-in model on the dataset it was trained on.
fn build_on(defaults: &Value, keys: &[Key], dataset_of_model: bool) -> Result<Experiment, String> {
    let mut e = build(defaults, pairs(keys))?;
    if let Some(d) = Experiment::builtin_dataset(&e.model).filter(|_| dataset_of_model) {
        e.dataset = d.to_string();
    }
    Ok(e)
}

/// The `(path, value)` pairs of keys, for [`build`].
fn pairs(keys: &[Key]) -> Vec<(&str, &Value)> {
    keys.iter().map(|k| (k.path.as_str(), &k.value)).collect()
}

/// Whether a validation error about `field` concerns the key `key`.
fn concerns(field: &str, key: &str) -> bool {
    field == key || key.strip_prefix(field).is_some_and(|r| r.starts_with('.')) || field.strip_prefix(key).is_some_and(|r| r.starts_with('.'))
}

/// Notices, at most [`MAX_NOTICES`] of them listed one by one.
#[derive(Default)]
struct Notices {
    list: Vec<String>,
    more: usize,
}

impl Notices {
    fn push(&mut self, n: String) {
        if self.list.len() < MAX_NOTICES {
            self.list.push(n);
        } else {
            self.more += 1;
        }
    }

    /// A notice that is always listed, first.
    fn first(&mut self, n: String) {
        self.list.insert(0, n);
    }

    fn finish(mut self) -> Vec<String> {
        if self.more > 0 {
            self.list.push(format!("…and {} more notices about the link.", self.more));
        }
        self.list
    }
}

/// Why the link's number for `field` fails its check when it is one an f32 setting cannot hold
/// (1e308 became ∞, 1e-50 became 0): the setting then reads back as no number or as 0 while the
/// link gave a finite, nonzero one, and the check's own message would name ∞ or 0.
fn beyond_f32(exp: &Experiment, group: &[Key], field: &str) -> Option<String> {
    let given = group.iter().find(|k| k.path == field)?.value.as_f64().filter(|v| v.is_finite() && *v != 0.0)?;
    let built = to_json(exp);
    let held = get_path(&built, field)?;
    let lost = held.is_null() || held.as_f64() == Some(0.0);
    (lost && crate::decimal::narrow_to_f32(given).is_none())
        .then(|| format!("{} is {}", crate::decimal::short_text(given), crate::decimal::BEYOND_F32))
}

/// Checks one group of keys on top of the default description: fixes what reads better as text,
/// drops the keys to blame (each named with the reason its own group gave), and returns the rest.
/// The cost is bounded by the group's size (≤ [`MAX_GROUP_KEYS`]), not the link's.
fn check_group(defaults: &Value, mut group: Vec<Key>, notices: &mut Notices) -> Vec<Key> {
    loop {
        if group.is_empty() {
            return group;
        }
        let why = match build(defaults, pairs(&group)) {
            Ok(exp) => match exp.validate() {
                Err(e) if group.iter().any(|k| concerns(&e.field, &k.path)) => {
                    let message = beyond_f32(&exp, &group, &e.field).unwrap_or(e.message);
                    group.retain(|k| !concerns(&e.field, &k.path));
                    notices.push(format!("Ignored {} in the link: {message}.", clip(&e.field)));
                    continue;
                }
                // Fine alone (an error about another field is a combination, checked at the end).
                _ => return group,
            },
            Err(why) => why,
        };
        // A choice with settings of its own given as a bare name (`ptq.rounding=stochastic`) or
        // given a value of its own (`ptq.rounding.stochastic=1`): serde's "…, expected struct
        // variant". The setting it needs is the one serde names missing when the choice comes
        // with none.
        if why.contains("expected struct variant") {
            let needs = |base: &str, choice: &str| {
                let empty = Value::Object(Map::new());
                let e = build(defaults, [(format!("{base}.{choice}").as_str(), &empty)]).err()?;
                e.strip_prefix("missing field `")?.split('`').next().map(str::to_string)
            };
            let choices = group.iter().enumerate().flat_map(|(i, k)| {
                let bare = k.value.as_str().map(|choice| (i, k.path.clone(), choice.to_string()));
                let valued = k.path.rsplit_once('.').filter(|_| !k.value.is_object()).map(|(base, choice)| (i, base.to_string(), choice.to_string()));
                // `ptq.rounding.stochastic=x` is the choice "stochastic" given a value, not "x".
                valued.into_iter().chain(bare)
            });
            let named = choices.clone().find_map(|(i, base, choice)| Some((i, needs(&base, &choice)?, base, choice)));
            let bare = || {
                let (i, k) = group.iter().enumerate().find(|(_, k)| k.value.is_string())?;
                Some((i, "<setting>".to_string(), k.path.clone(), k.value.as_str()?.to_string()))
            };
            if let Some((i, setting, base, choice)) = named.or_else(bare) {
                let k = group.remove(i);
                notices.push(format!(
                    "Ignored \"{}\" in the link: \"{}\" has settings of its own: write {}.{}.{setting}=… instead.",
                    clip(&k.path),
                    clip(&choice),
                    clip(&base),
                    clip(&choice)
                ));
                continue;
            }
        }
        // A whole number written as a float (`1e1`, `10.0`) for an integer setting the defaults
        // do not show (`ptq.rounding.stochastic.seed` under another rounding): that integer,
        // as `typed` reads it where they do.
        if retype(defaults, &mut group, as_whole) {
            continue;
        }
        // A value that reads as a number or a flag but is meant as text (a layer named "0").
        if retype(defaults, &mut group, as_strings) {
            continue;
        }
        // The key whose value serde names (`…group_size=-4` beside its kind: removing the kind
        // would build too, as the default kind skips the group size); else the one key whose
        // removal fixes the group, last first (a later key is the likelier typo).
        let named = serde_found(&why).and_then(|found| (0..group.len()).rev().find(|&i| as_typed(&group[i].value.to_string()) == found));
        let blame = named.or_else(|| {
            (0..group.len()).rev().find(|&i| {
                let mut t = pairs(&group);
                t.remove(i);
                build(defaults, t).is_ok()
            })
        });
        match blame {
            Some(i) if group.len() > 1 => {
                let k = group.remove(i);
                let reason = range_reason(defaults, &group, &k, &why).unwrap_or_else(|| clip_reason(&why, Some(&k)));
                notices.push(format!("Ignored \"{}\" in the link: {reason}.", clip(&k.path)));
            }
            _ => {
                let names: Vec<String> = group.iter().map(|k| format!("\"{}\"", clip(&k.path))).collect();
                let reason = match group.as_slice() {
                    [k] => range_reason(defaults, &[], k, &why).unwrap_or_else(|| clip_reason(&why, Some(k))),
                    _ => clip_reason(&why, None),
                };
                notices.push(format!("Ignored {} in the link: {reason}.", names.join(", ")));
                return Vec::new();
            }
        }
    }
}

/// Why a whole number beyond its setting's integer type (`ptq.act_bits=300` for a u8,
/// `seed=1e400`, `qat.epochs=-1` for a usize) is refused, in the setting's own range: the
/// type's nearest bound is put in its place and the setting's check says what it says of that
/// bound, of the link's number ("300 bits is outside 1–16", "-1 is outside 1–100"). Where the
/// check takes the bound, the type's limit is the setting's ("… is too large: at most
/// 18446744073709551615"). `None` when `why` is not about an integer type, or the number is
/// not whole: the serde message says it then.
fn range_reason(defaults: &Value, others: &[Key], k: &Key, why: &str) -> Option<String> {
    let expected = why.split(" at line ").next()?.rsplit_once(", expected ")?.1.trim();
    // The type holds lowest ≤ x < 2^bits (each bound exact in f64).
    let (lowest, highest, bits): (Value, Value, i32) = match expected {
        "u8" => (0.into(), u8::MAX.into(), 8),
        "u16" => (0.into(), u16::MAX.into(), 16),
        "u32" => (0.into(), u32::MAX.into(), 32),
        "u64" => (0.into(), u64::MAX.into(), 64),
        "usize" => (0.into(), (usize::MAX as u64).into(), usize::BITS as i32),
        "i32" => (i32::MIN.into(), i32::MAX.into(), 31),
        "i64" => (i64::MIN.into(), i64::MAX.into(), 63),
        _ => return None,
    };
    let text = k.text.trim();
    let x = text.parse::<f64>().ok().filter(|x| x.is_infinite() || x.fract() == 0.0)?;
    if x < 2f64.powi(bits) && x >= lowest.as_f64()? {
        return None;
    }
    let bound = if x > 0.0 { highest } else { lowest };
    let mut probe = pairs(others);
    probe.push((k.path.as_str(), &bound));
    let bound_text = bound.to_string();
    let shown = clip(text);
    let said = match build(defaults, probe).ok()?.validate() {
        Err(e) if concerns(&e.field, &k.path) => match e.message.strip_prefix(bound_text.as_str()) {
            Some(rest) if !rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '.') => format!("{shown}{rest}"),
            _ => format!("{shown}: {}", e.message),
        },
        // The setting takes the bound: the type's limit is its own.
        _ if x > 0.0 => format!("{shown} is too large: at most {bound_text}"),
        _ => return None,
    };
    Some(crate::clip::clip(&said, 120))
}

/// Gives the first key of `group` whose value `as_other` reads otherwise, and for which the
/// group then builds, that other value; whether there was one.
fn retype(defaults: &Value, group: &mut [Key], as_other: fn(&Value) -> Option<Value>) -> bool {
    let fixed = (0..group.len()).find_map(|i| {
        let v = as_other(&group[i].value)?;
        let mut t = pairs(group);
        t[i].1 = &v;
        build(defaults, t).is_ok().then_some((i, v))
    });
    fixed.map(|(i, v)| group[i].value = v).is_some()
}

/// Reads a description from a link's query. Never fails: returns the description and a notice
/// for each key it dropped, naming the key and the reason.
///
/// Cost: linear in the query's length. Keys are placed by one walk down the default description
/// each; when every key together deserialises and validates (the usual case) that is all; else
/// each group is checked on its own on top of the default, so one bad key costs one small
/// deserialisation, never a search over every combination of keys.
///
/// A built-in model runs on the dataset it was trained on, as the Model page's select and the
/// CLI make it: a link's other `dataset` is named in a notice and left out.
pub fn from_query(query: &str) -> (Experiment, Vec<String>) {
    read(query, &Experiment::default(), true)
}

/// Drops the layers `ptq.skip` and `ptq.layer_bits` name that `layers` (the model's quantizable
/// layers) does not hold, a notice for each: a link names layers before any model is loaded.
pub fn drop_unknown_layers(exp: &mut Experiment, layers: &[String]) -> Vec<String> {
    let mut notices = Vec::new();
    let known = |n: &String| layers.contains(n);
    let model = if exp.model == crate::experiment::spec::FILE_MODEL { "the model file" } else { exp.model.as_str() };
    let why = |n: &String| format!("{model} has no quantizable layer \"{}\" (its layers are {})", clip(n), layers.join(", "));
    // The skip list's unknown names in one notice, each once (x,x,…,x was a line per x).
    let unknown = exp.ptq.skip.iter().filter(|n| !known(n));
    if let Some((named, count)) = crate::share::named_keys(unknown.clone().map(|n| std::borrow::Cow::Borrowed(n.as_str()))) {
        match unknown.clone().next() {
            Some(n) if count == 1 => notices.push(format!("Ignored ptq.skip's \"{}\" in the link: {}.", clip(n), why(n))),
            _ => notices.push(format!("Ignored ptq.skip's {named} in the link: {model} has no quantizable layers of these names (its layers are {}).", layers.join(", "))),
        }
    }
    for n in exp.ptq.layer_bits.keys().filter(|n| !known(n)) {
        notices.push(format!("Ignored ptq.layer_bits.{} in the link: {}.", clip(n), why(n)));
    }
    exp.ptq.skip.retain(|n| layers.contains(n));
    exp.ptq.layer_bits.retain(|n, _| layers.contains(n));
    notices.truncate(MAX_NOTICES);
    notices
}

/// [`from_query`] starting from `base` instead of the default experiment: a key the link
/// leaves out keeps `base`'s value, and a link that cannot be read gives `base`. The dataset
/// is the link's (the Lab picks its model by the dataset).
pub fn from_query_on(query: &str, base: &Experiment) -> (Experiment, Vec<String>) {
    read(query, base, false)
}

/// The bytes of a query's decoded keys and values.
fn settings_bytes(query: &str) -> usize {
    form_urlencoded::parse(query.as_bytes()).map(|(k, v)| k.len() + v.len()).sum()
}

/// Whether a link is too long to be read at all: the default experiment is shown instead.
pub fn too_long(query: &str) -> bool {
    query.len() > MAX_QUERY_LEN || settings_bytes(query) > MAX_SETTINGS_BYTES
}

fn read(query: &str, base: &Experiment, dataset_of_model: bool) -> (Experiment, Vec<String>) {
    let mut notices = Notices::default();
    if query.len() > MAX_QUERY_LEN {
        notices.push(format!("The link is longer than {MAX_QUERY_LEN} characters; the default experiment is shown."));
        return (base.clone(), notices.finish());
    }
    let settings = settings_bytes(query);
    if settings > MAX_SETTINGS_BYTES {
        notices.push(format!("The link's settings take {settings} bytes, more than the limit of {MAX_SETTINGS_BYTES}; the default experiment is shown."));
        return (base.clone(), notices.finish());
    }
    for n in crate::share::escape_notices(query) {
        notices.push(n);
    }
    let defaults = to_json(base);
    let mut keys: Vec<Key> = Vec::new();
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut total = 0usize;
    // The keys that are no setting, by reason: a notice per reason, not per key.
    let mut not_read: Vec<(Unread, Vec<String>)> = Vec::new();
    for (k, text) in form_urlencoded::parse(query.as_bytes()) {
        total += 1;
        if total > MAX_KEYS {
            continue;
        }
        let segments = k.bytes().filter(|&b| b == b'.').count() + 1;
        let why = if k.is_empty() || k.split('.').any(str::is_empty) {
            Err(Unread::NotASetting)
        } else if segments > MAX_SEGMENTS {
            Err(Unread::TooDeep)
        } else {
            place(&defaults, &k)
        };
        match why {
            Err(why) => match not_read.iter_mut().find(|(w, _)| *w == why) {
                Some((_, keys)) => keys.push(k.into_owned()),
                None => not_read.push((why, vec![k.into_owned()])),
            },
            Ok(group) => {
                let value = typed(&text, get_path(&defaults, &k));
                match seen.get(k.as_ref()) {
                    Some(&i) => {
                        // The last one wins, and the page says so once per key.
                        if !keys[i].twice {
                            keys[i].twice = true;
                            notices.push(format!("The key \"{}\" is given more than once in the link: the last value counts.", clip(&k)));
                        }
                        keys[i].value = value;
                        keys[i].text = text.into_owned();
                    }
                    None => {
                        seen.insert(k.to_string(), keys.len());
                        keys.push(Key { path: k.into_owned(), value, text: text.into_owned(), group, twice: false });
                    }
                }
            }
        }
    }
    for (why, keys) in &not_read {
        if let Some((named, count)) = crate::share::named_keys(keys.iter().map(|k| std::borrow::Cow::Borrowed(k.as_str()))) {
            let s = if count == 1 { "" } else { "s" };
            notices.push(format!("Ignored the key{s} {named} in the link: {}.", why.said(count)));
        }
    }
    if total > MAX_KEYS {
        notices.first(format!("The link has {total} keys, more than the limit of {MAX_KEYS}; the keys after the first {MAX_KEYS} were ignored."));
    }
    let fine = matches!(build(&defaults, pairs(&keys)).map(|e| e.validate()), Ok(Ok(())));
    if !fine {
        // Check each group alone: a group of a bad key is dropped with that key's own reason.
        let mut groups: Vec<Vec<Key>> = Vec::new();
        let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for k in keys.drain(..) {
            let i = *index.entry(k.group.clone()).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[i].push(k);
        }
        for group in groups {
            if group.len() > MAX_GROUP_KEYS {
                notices.push(format!("Ignored the {} keys under \"{}\" in the link: a setting has at most {MAX_GROUP_KEYS}.", group.len(), clip(&group[0].group)));
                continue;
            }
            keys.extend(check_group(&defaults, group, &mut notices));
        }
    }
    // A built-in model runs on the dataset it was trained on, as the page's model select and the
    // CLI make it; a link asking for the other one is told so.
    if let Some(k) = keys.iter().position(|k| k.path == "dataset").filter(|_| dataset_of_model) {
        let model = keys.iter().find(|k| k.path == "model").and_then(|k| k.value.as_str().map(String::from)).unwrap_or_else(|| base.model.clone());
        if let Some(d) = Experiment::builtin_dataset(&model).filter(|d| keys[k].value.as_str() != Some(d)) {
            notices.push(format!("Ignored dataset in the link: {model} is trained on {d}, and runs on it."));
            keys.remove(k);
        }
    }
    let mut exp = match build_on(&defaults, &keys, dataset_of_model) {
        Ok(e) => e,
        Err(why) => {
            notices.push(format!("The link's experiment is invalid ({}); the default experiment is shown.", clip_reason(&why, None)));
            return (base.clone(), notices.finish());
        }
    };
    // What fails only in combination (a size-budget task without a budget): drop the keys the
    // error names; a handful of rules, so a handful of rounds.
    let mut rounds = 0;
    while let Err(e) = exp.validate() {
        let before = keys.len();
        keys.retain(|k| !concerns(&e.field, &k.path));
        if keys.len() == before || rounds == MAX_NOTICES {
            notices.push(format!("The link's experiment is invalid ({e}); the default experiment is shown."));
            return (base.clone(), notices.finish());
        }
        rounds += 1;
        notices.push(format!("Ignored {} in the link: {}.", clip(&e.field), e.message));
        exp = build_on(&defaults, &keys, dataset_of_model).unwrap_or_else(|_| base.clone());
    }
    note_unused(&exp, &keys, &mut notices);
    // The narrow range is of a symmetric grid (`PtqConfig::weight_scheme`): with asymmetric
    // weights it would change nothing, so the page's check box is off and the link is told.
    if exp.ptq.narrow_range && !exp.ptq.weight_symmetric {
        exp.ptq.narrow_range = false;
        notices.push("Ignored ptq.narrow_range in the link: the narrow range is of symmetric weights (ptq.weight_symmetric=true).".into());
    }
    (exp, notices.finish())
}

/// The tag of a tagged setting (serde's internally tagged enums: a calibration, a granularity):
/// its `method` or `kind` key and that key's value.
fn tag_of(m: &Map<String, Value>) -> Option<(&'static str, &str)> {
    ["method", "kind"].into_iter().find_map(|t| m.get(t).and_then(Value::as_str).map(|v| (t, v)))
}

/// A notice for each key the description read does not hold: a field of another variant of a
/// tagged setting (`ptq.granularity.group_size` while the kind is per_tensor), which serde skips.
fn note_unused(exp: &Experiment, keys: &[Key], notices: &mut Notices) {
    let json = to_json(exp);
    for k in keys.iter().filter(|k| get_path(&json, &k.path).is_none()) {
        let tag = get_path(&json, &k.group)
            .and_then(Value::as_object)
            .and_then(tag_of)
            .map(|(t, v)| format!("{}.{t}={v}", clip(&k.group)));
        notices.push(match tag {
            Some(tag) => format!("Ignored \"{}\" in the link: it does not apply with {tag}.", clip(&k.path)),
            None => format!("Ignored \"{}\" in the link: it does not apply to these settings.", clip(&k.path)),
        });
    }
}

/// What a Rust type name in a serde message asks for, in words.
fn wanted(expected: &str) -> String {
    match expected {
        // Each setting checks its own range (bits 1–16) after this: not the type's 0–255.
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number, 0 or more".into(),
        "i32" | "i64" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "a boolean" => "true or false".into(),
        other => other.into(),
    }
}

/// A value as serde names it ("integer `-4`", "string \"x\"", "floating point `1.5`") as the
/// link spelt it.
fn as_typed(found: &str) -> String {
    let found = found.trim();
    for prefix in ["integer ", "floating point ", "string ", "boolean "] {
        if let Some(v) = found.strip_prefix(prefix) {
            return v.trim_matches('`').to_string();
        }
    }
    found.to_string()
}

/// The value serde's message is about ("invalid value: integer `-4`, expected usize" → "-4",
/// "invalid type: string \"abc\", …" → "\"abc\""), as [`as_typed`] writes it.
fn serde_found(why: &str) -> Option<String> {
    let rest = ["invalid value: ", "invalid type: "].iter().find_map(|h| why.strip_prefix(h))?;
    Some(as_typed(rest.split_once(", expected ")?.0))
}

/// serde's message in the words of a link: "invalid value: integer `-4`, expected usize" →
/// "-4: a whole number, 0 or more was expected"; "invalid type: string \"abc\", expected u8" →
/// "\"abc\" is not a whole number"; a whole number past the type ("integer `300`, expected u8",
/// "floating point `1e20`, expected usize") → "300 is too large"; "unknown variant `banana`,
/// expected one of `a`, `b`" → "\"banana\" is not one of a, b". Other messages stay as serde wrote them.
///
/// `key`: the one key the message is about, when known: a number is then named as the link
/// wrote it.
fn plain_reason(why: &str, key: Option<&Key>) -> String {
    let unquote = |s: &str| s.replace('`', "");
    if why.contains("unit variant") && why.contains("expected struct variant") {
        return "this choice has settings of its own: write them as <key>.<choice>.<setting>=…".into();
    }
    for head in ["invalid value: ", "invalid type: "] {
        if let Some((found, expected)) = why.strip_prefix(head).and_then(|r| r.split_once(", expected ")) {
            let (found, expected) = (found.trim(), expected.trim());
            let serde_number = ["integer ", "floating point "].iter().any(|p| found.starts_with(p));
            let value = match key {
                Some(k) if serde_number && as_typed(found).parse::<f64>().ok() == k.value.as_f64() => k.text.trim().to_string(),
                _ => as_typed(found),
            };
            if ["u8", "u16", "u32", "u64", "usize", "i32", "i64"].contains(&expected) {
                let number = value.parse::<f64>().ok().filter(|_| !found.starts_with("string "));
                // The type holds min ≤ x < 2^bits (each bound exact in f64).
                let (bits, signed) = match expected {
                    "u8" => (8, false),
                    "u16" => (16, false),
                    "u32" => (32, false),
                    "usize" => (usize::BITS as i32, false),
                    "i32" => (31, true),
                    "i64" => (63, true),
                    _ => (64, false),
                };
                let end = 2f64.powi(bits);
                let min = if signed { -end } else { 0.0 };
                match number {
                    // A whole number in range that serde read as a float: to 2^53 an integer
                    // setting reads it as that integer (`typed`), a setting with no default
                    // does not; past 2^53 an exponent form may not name one integer exactly.
                    Some(x) if found.starts_with("floating point") && x.fract() == 0.0 && x >= min && x < end => {
                        if let Some(whole) = crate::decimal::exact_whole(x) {
                            return format!("{value}: write the whole number {whole} in digits, without a decimal point or exponent");
                        }
                        return format!("{value} is too large to read exactly in exponent form: write it in digits");
                    }
                    // A whole number serde could not hold: negative for an unsigned type is said below.
                    Some(x) if x.fract() == 0.0 && !(x < 0.0 && expected.starts_with('u')) => return format!("{value} is too large"),
                    Some(x) if x.fract() != 0.0 => return format!("{value} is not a whole number"),
                    None if found.starts_with("string ") => return format!("{value} is not a whole number"),
                    _ => {}
                }
            }
            return format!("{value}: {} was expected", wanted(expected));
        }
    }
    // A choice that needs a setting of its own the link does not give (per_group without its
    // group_size, kl without its bins).
    if let Some(field) = why.strip_prefix("missing field ") {
        return format!("this choice needs its {} as well", unquote(field.trim()));
    }
    for (head, what) in [("unknown variant ", "a choice"), ("unknown field ", "a setting here")] {
        if let Some((name, expected)) = why.strip_prefix(head).and_then(|r| r.split_once(", expected ")) {
            let options = expected.strip_prefix("one of ").unwrap_or(expected);
            return format!("\"{}\" is not {what}: use {}", unquote(name), unquote(options));
        }
    }
    why.to_string()
}

fn clip_reason(why: &str, key: Option<&Key>) -> String {
    // serde's messages end with "at line 1 column N" for JSON; keep the first clause.
    let first = why.split(" at line ").next().unwrap_or(why);
    let first = &plain_reason(first, key);
    let mut s: String = first.chars().take(120).collect();
    if first.chars().count() > 120 {
        s.push('…');
    }
    s
}

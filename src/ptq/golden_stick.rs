//! MindSpore Golden Stick's `PTQConfig`, read and written. The seeds configure a language
//! model's quantization with it, as a Python call:
//!
//! ```text
//! ptq_config = PTQConfig(weight_quant_dtype=msdtype.int8, act_quant_dtype=msdtype.int8, kvcache_quant_dtype=None,
//!                        outliers_suppression=OutliersSuppressionType.SMOOTH)
//! ```
//!
//! so qplay reads that call as written (the `ptq_config =` and a `mindspore_gs.ptq.` prefix
//! optional, values as `msdtype.int8`, `ms.dtype.int8` or `int8`, enums with or without their
//! class) and says its own settings as one. The fields and what each means here:
//!
//! ```text
//! field                      value                        qplay (LmQuantConfig)
//! weight_quant_dtype         int8 (the class's default)   weights = rtn, bits = 8, symmetric
//!                            qint4x2                      weights = rtn, bits = 4, symmetric
//!                            None                         weights = f32
//! weight_quant_granularity   PER_CHANNEL (default)        group = 0
//!                            PER_GROUP with group_size g  group = g
//! act_quant_dtype            int8 / None (default)        int8_acts
//! act_quant_granularity      PER_TENSOR (default)         static_acts: one scale per Linear input, from calibration text
//!                            PER_TOKEN                    a scale per token, at run time
//! kvcache_quant_dtype        int8 / None (default)        kv = int8 / f32
//! kvcache_quant_granularity  PER_TOKEN                    qplay's int8 cache: a scale per token and head
//!                            PER_CHANNEL (default)        the same cache, with a note (no static per-channel scales here)
//! outliers_suppression       NONE (default) / SMOOTH / AWQ   method = rtn / smoothquant / awq
//! precision_recovery         NONE (default) / GPTQ        GPTQ rounds: method = gptq, or AWQ's scaled weights (awq_gptq)
//! opname_blacklist           [names]                      skip = tok_embeddings (Golden Stick quantizes Linears only) + the names
//! mode, backend              any                          a note: qplay quantizes and runs in one go, on its own kernels
//! ```
//!
//! A blacklist entry "fuzzy matches" a layer name in Golden Stick (any substring); here it
//! matches whole parts of a name (`lm_head`, `w2`, `attention`, `layers.3`, see
//! [`super::lm`]'s skip list), after MindFormers' `model.` prefix is dropped and Hugging Face's
//! part names are taken as qplay's (`q_proj` = `attention.wq`, `down_proj` = `feed_forward.w2`, …).
//! Everything else is refused with a message naming it: `OUTLIER_SUPPRESSION_PLUS` / `_LITE`,
//! `algo_args` and `weight_clip` (qplay's own keys `alpha`, `damp`, `calib_tokens`, `awq_clip`
//! take their place), a keyword given twice, an unknown keyword or value. The text is read in one
//! pass over its characters, at most [`MAX_PTQ_CONFIG_CHARS`] of them, lists one level deep.

use super::lm::{LmMethod, LmQuantConfig, LmWeightFormat};
use crate::lm::{KvFormat, LmConfig, LmError};

/// Longest `PTQConfig(...)` text read.
pub const MAX_PTQ_CONFIG_CHARS: usize = 64 << 10;
/// Most entries in `opname_blacklist`.
pub const MAX_BLACKLIST: usize = 1024;

/// A value in the call.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    /// `None`.
    Nothing,
    /// A name, `msdtype.int8` or `OutliersSuppressionType.SMOOTH`: its dotted parts.
    Name(Vec<String>),
    Text(String),
    Number(String),
    List(Vec<Value>),
    Bool(bool),
}

/// How much of a name or value from the call a message quotes: a 64 KiB field name is not
/// repeated whole.
const SHOWN_CHARS: usize = 64;

/// A key from the call, cut for a message.
fn named(key: &str) -> String {
    crate::clip::clip(key, SHOWN_CHARS)
}

impl Value {
    /// The value as the call wrote it, cut to [`SHOWN_CHARS`] for a message.
    fn shown(&self) -> String {
        crate::clip::clip(&self.written(), SHOWN_CHARS)
    }

    fn written(&self) -> String {
        match self {
            Value::Nothing => "None".into(),
            Value::Name(parts) => parts.join("."),
            Value::Text(s) => format!("{s:?}"),
            Value::Number(n) => n.clone(),
            Value::List(v) => format!("[{}]", v.iter().map(Value::written).collect::<Vec<_>>().join(", ")),
            Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        }
    }

    /// The last part of a name, or a string's text, upper-cased: an enum member (`SMOOTH` of
    /// `OutliersSuppressionType.SMOOTH`, `"smooth"`) or a dtype (`INT8` of `msdtype.int8`).
    fn member(&self) -> Option<String> {
        match self {
            Value::Name(parts) => parts.last().map(|p| p.to_ascii_uppercase()),
            Value::Text(s) => Some(s.rsplit('.').next().unwrap_or(s).to_ascii_uppercase()),
            Value::Nothing => Some("NONE".into()),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Number(String),
    Punct(char),
}

/// Splits the text into tokens in one pass; `#` starts a comment to the end of the line, a
/// backslash before a line break continues it.
fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            c if c.is_whitespace() || c == '\\' => {}
            '#' => {
                while chars.next_if(|&(_, c)| c != '\n').is_some() {}
            }
            '(' | ')' | '[' | ']' | '{' | '}' | ',' | '=' | ':' => out.push(Token::Punct(c)),
            '"' | '\'' => {
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some((_, q)) if q == c => break,
                        Some((_, '\n')) | None => return Err(format!("the string that starts at character {} is not closed", text[..at].chars().count() + 1)),
                        // Python's escapes: \' \" \\ stand for the character, \n and \t for a
                        // line break and a tab, a backslash before a line break continues the
                        // line. Python reads more (\x68, \u0068, octal, \N{…}): refused by name,
                        // not read as something else.
                        Some((_, '\\')) => match chars.next() {
                            Some((_, e @ ('\'' | '"' | '\\'))) => s.push(e),
                            Some((_, 'n')) => s.push('\n'),
                            Some((_, 't')) => s.push('\t'),
                            Some((_, '\n')) => {}
                            Some((e_at, e)) => {
                                return Err(format!(
                                    "the escape \\{} at character {} is not read here: write the character itself",
                                    crate::clip::clip(&e.to_string(), 1),
                                    text[..e_at].chars().count()
                                ))
                            }
                            None => return Err(format!("the string that starts at character {} is not closed", text[..at].chars().count() + 1)),
                        },
                        Some((_, ch)) => s.push(ch),
                    }
                }
                out.push(Token::Text(s));
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' => {
                let mut s = String::from(c);
                while let Some((_, d)) = chars.next_if(|&(_, d)| d.is_ascii_alphanumeric() || d == '.' || d == '_') {
                    s.push(d);
                }
                out.push(Token::Number(s));
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut s = String::from(c);
                while let Some((_, d)) = chars.next_if(|&(_, d)| d.is_alphanumeric() || d == '_' || d == '.') {
                    s.push(d);
                }
                out.push(Token::Word(s));
            }
            other => return Err(format!("{other:?} at character {} is not part of a PTQConfig(...) call", text[..at].chars().count() + 1)),
        }
    }
    Ok(out)
}

/// The keywords of the call, in order, from `[name =] [module.]PTQConfig(k=v, …)`.
fn keywords(text: &str) -> Result<Vec<(String, Value)>, String> {
    if text.chars().count() > MAX_PTQ_CONFIG_CHARS {
        return Err(format!("the text is longer than {MAX_PTQ_CONFIG_CHARS} characters"));
    }
    let t = tokens(text)?;
    let mut i = 0;
    // `ptq_config = PTQConfig(` : an assignment before the call is skipped.
    if matches!((t.first(), t.get(1), t.get(2)), (Some(Token::Word(_)), Some(Token::Punct('=')), Some(Token::Word(_)))) {
        i = 2;
    }
    match t.get(i) {
        Some(Token::Word(w)) if w == "PTQConfig" || w.ends_with(".PTQConfig") => i += 1,
        _ => return Err("expected PTQConfig(...), as Golden Stick's guides write it".into()),
    }
    if t.get(i) != Some(&Token::Punct('(')) {
        return Err("expected ( after PTQConfig".into());
    }
    i += 1;
    let mut out: Vec<(String, Value)> = Vec::new();
    loop {
        match t.get(i) {
            Some(Token::Punct(')')) => {
                i += 1;
                break;
            }
            Some(Token::Word(k)) if t.get(i + 1) == Some(&Token::Punct('=')) => {
                let (v, next) = value(&t, i + 2, k)?;
                if out.iter().any(|(seen, _)| seen == k) {
                    return Err(format!("{} is given twice (Python refuses a repeated keyword argument)", named(k)));
                }
                out.push((k.clone(), v));
                i = next;
                match t.get(i) {
                    Some(Token::Punct(',')) => i += 1,
                    Some(Token::Punct(')')) => {}
                    None => return Err("the call is not closed: ) missing".into()),
                    _ => return Err(format!("expected , or ) after {}=…", named(k))),
                }
            }
            Some(Token::Word(k)) => return Err(format!("{}: PTQConfig takes keyword arguments (name=value)", named(k))),
            None => return Err("the call is not closed: ) missing".into()),
            Some(_) => return Err("PTQConfig takes keyword arguments (name=value)".into()),
        }
    }
    if i != t.len() {
        return Err("text after PTQConfig(...)'s closing )".into());
    }
    Ok(out)
}

/// One value starting at token `i`; returns it and the index after it. Lists hold plain values
/// (one level: no list in a list).
fn value(t: &[Token], i: usize, key: &str) -> Result<(Value, usize), String> {
    let key = named(key);
    let plain = |tok: Option<&Token>| -> Option<Value> {
        match tok? {
            Token::Word(w) if w == "None" => Some(Value::Nothing),
            Token::Word(w) if w == "True" || w == "False" => Some(Value::Bool(w == "True")),
            Token::Word(w) => Some(Value::Name(w.split('.').map(str::to_string).collect())),
            Token::Text(s) => Some(Value::Text(s.clone())),
            Token::Number(n) => Some(Value::Number(n.clone())),
            Token::Punct(_) => None,
        }
    };
    match t.get(i) {
        Some(Token::Punct('[')) => {
            let mut items = Vec::new();
            let mut j = i + 1;
            loop {
                if t.get(j) == Some(&Token::Punct(']')) {
                    return Ok((Value::List(items), j + 1));
                }
                let item = plain(t.get(j)).ok_or_else(|| format!("{key}: a list of names, such as [\"lm_head\"]"))?;
                if items.len() == MAX_BLACKLIST {
                    return Err(format!("{key}: more than {MAX_BLACKLIST} entries"));
                }
                items.push(item);
                j += 1;
                match t.get(j) {
                    Some(Token::Punct(',')) => j += 1,
                    Some(Token::Punct(']')) => {}
                    _ => return Err(format!("{key}: the list is not closed: ] missing")),
                }
            }
        }
        Some(Token::Punct('{')) => Err(format!("{key}: a dict is not read here (qplay's own settings alpha, damp, calib_tokens and awq_clip stand for algo_args)")),
        tok => plain(tok).map(|v| (v, i + 1)).ok_or_else(|| format!("{key}= has no value")),
    }
}

/// A `PTQConfig(...)` read as qplay's settings, with what the reading had to say.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadPtqConfig {
    pub quant: LmQuantConfig,
    /// Where qplay does something other than the field says, or the field changes nothing here.
    pub notes: Vec<String>,
}

fn member_of(key: &str, v: &Value, allowed: &[&str]) -> Result<String, String> {
    match v.member() {
        Some(m) if allowed.contains(&m.as_str()) => Ok(m),
        _ => Err(format!("{key}={}: use one of {}", v.shown(), allowed.join(", "))),
    }
}

impl ReadPtqConfig {
    /// Checks the call's settings against the model in use (of configuration `c`): an
    /// `opname_blacklist` entry that names none of its Linears is refused, naming the entry,
    /// rather than applied to a form that would then stop Run over it.
    pub fn check_fits(&self, c: &LmConfig) -> Result<(), String> {
        self.quant.check_fits(c).map_err(|e| match e {
            LmError::Setting { name: "skip", message } => format!("opname_blacklist: {message}"),
            e => format!("the PTQConfig's settings do not fit this model: {e}"),
        })
    }
}

/// Reads a `PTQConfig(...)` call; `base` gives the settings the call has no field for (calibration
/// tokens, α, …). Each refusal names the field.
pub fn read_ptq_config(text: &str, base: &LmQuantConfig) -> Result<ReadPtqConfig, String> {
    let mut q = LmQuantConfig {
        weights: LmWeightFormat::Rtn,
        skip: Vec::new(),
        // What the call has no field for stays as the base has it.
        calib_tokens: base.calib_tokens,
        damp: base.damp,
        alpha: base.alpha,
        outliers: base.outliers,
        outlier_scale: base.outlier_scale,
        ..LmQuantConfig::default()
    };
    let mut notes = Vec::new();
    let (mut per_group, mut group_size, mut act_per_tensor) = (false, None::<usize>, true);
    let (mut suppression, mut gptq, mut kv_per_token) = ("NONE".to_string(), false, false);
    for (key, v) in keywords(text)? {
        match key.as_str() {
            "weight_quant_dtype" => match member_of(&key, &v, &["INT8", "QINT4X2", "NONE"])?.as_str() {
                "INT8" => q.bits = 8,
                "QINT4X2" => q.bits = 4,
                _ => q.weights = LmWeightFormat::F32,
            },
            "act_quant_dtype" => q.int8_acts = member_of(&key, &v, &["INT8", "NONE"])? == "INT8",
            "kvcache_quant_dtype" => q.kv = if member_of(&key, &v, &["INT8", "NONE"])? == "INT8" { KvFormat::Int8 } else { KvFormat::F32 },
            "weight_quant_granularity" => per_group = member_of(&key, &v, &["PER_CHANNEL", "PER_GROUP"])? == "PER_GROUP",
            "group_size" => {
                group_size = Some(match &v {
                    Value::Number(n) => n.parse::<usize>().map_err(|_| format!("group_size={}: a whole number of weights", v.shown()))?,
                    _ => return Err(format!("group_size={}: a whole number of weights", v.shown())),
                })
            }
            "act_quant_granularity" => act_per_tensor = member_of(&key, &v, &["PER_TENSOR", "PER_TOKEN"])? == "PER_TENSOR",
            "kvcache_quant_granularity" => kv_per_token = member_of(&key, &v, &["PER_CHANNEL", "PER_TOKEN"])? == "PER_TOKEN",
            "outliers_suppression" => {
                suppression = member_of(&key, &v, &["NONE", "SMOOTH", "AWQ", "OUTLIER_SUPPRESSION_PLUS", "OUTLIER_SUPPRESSION_LITE"])?;
                if suppression.starts_with("OUTLIER_SUPPRESSION") {
                    return Err(format!("outliers_suppression={}: qplay has SmoothQuant (SMOOTH) and AWQ, not Outlier Suppression+ / Lite", v.shown()));
                }
            }
            "precision_recovery" => gptq = member_of(&key, &v, &["NONE", "GPTQ"])? == "GPTQ",
            "opname_blacklist" => {
                let Value::List(items) = &v else {
                    return Err(format!("opname_blacklist={}: a list of names, such as [\"lm_head\"]", v.shown()));
                };
                for item in items {
                    let name = match item {
                        Value::Text(s) => s.trim().to_string(),
                        other => return Err(format!("opname_blacklist: {} is not a string", other.shown())),
                    };
                    if name.is_empty() {
                        return Err("opname_blacklist: an empty name would match every layer".into());
                    }
                    if !is_layer_name(&name) {
                        return Err(format!("opname_blacklist: {:?} is not a layer name (letters, digits, _ . -)", name.chars().take(64).collect::<String>()));
                    }
                    let ours = qplay_name(&name);
                    if !q.skip.contains(&ours) {
                        q.skip.push(ours);
                    }
                }
            }
            "mode" => {
                notes.push(format!("mode={}: qplay quantizes and evaluates in one run (QUANTIZE and DEPLOY at once)", v.shown()));
            }
            "backend" => {
                notes.push(format!("backend={}: qplay runs on its own WebAssembly kernels", v.shown()));
            }
            "algo_args" | "weight_clip" => {
                return Err(format!("{key}: not read here; qplay's own settings alpha, damp, calib_tokens and awq_clip take its place"));
            }
            other => {
                return Err(format!(
                    "{}: not a PTQConfig field (they are mode, backend, opname_blacklist, weight_quant_dtype, act_quant_dtype, \
                     kvcache_quant_dtype, outliers_suppression, precision_recovery, weight_quant_granularity, group_size, \
                     act_quant_granularity, kvcache_quant_granularity)",
                    named(other)
                ))
            }
        }
    }
    if q.weights == LmWeightFormat::F32 && per_group {
        notes.push("weight_quant_granularity=PER_GROUP changes nothing: weight_quant_dtype=None leaves the weights in FP32".into());
        per_group = false;
        group_size = None;
    }
    match (per_group, group_size) {
        (true, Some(g)) if g > 0 => q.group = g,
        (true, _) => return Err("weight_quant_granularity=PER_GROUP needs a group_size above 0".into()),
        (false, Some(g)) if g > 0 => return Err(format!("group_size={g} is read only with weight_quant_granularity=QuantGranularity.PER_GROUP")),
        (false, _) => {}
    }
    q.static_acts = q.int8_acts && act_per_tensor;
    if q.kv == KvFormat::Int8 && !kv_per_token {
        notes.push("kvcache_quant_granularity is PER_CHANNEL (the default): qplay's int8 cache has a scale per token and head (PER_TOKEN), not static per-channel scales".into());
    }
    // Golden Stick quantizes Linears only: the token embedding (a table, not a Linear) stays float.
    if !q.skip.iter().any(|s| s == "tok_embeddings") {
        q.skip.push("tok_embeddings".into());
    }
    q.method = match (suppression.as_str(), gptq) {
        ("SMOOTH", true) => return Err("outliers_suppression=SMOOTH with precision_recovery=GPTQ: qplay's SmoothQuant rounds with RTN".into()),
        ("SMOOTH", false) => LmMethod::SmoothQuant,
        ("AWQ", g) => {
            q.awq_gptq = g;
            LmMethod::Awq
        }
        (_, true) => LmMethod::Gptq,
        _ => LmMethod::Rtn,
    };
    if !q.gptq_rounds() {
        q.act_order = false;
    }
    q.validate().map_err(|e| format!("the PTQConfig gives settings qplay cannot run: {e}"))?;
    Ok(ReadPtqConfig { quant: q, notes })
}

/// Letters, digits, `_`, `.` and `-`: what a layer name is made of (and what a call can quote).
fn is_layer_name(name: &str) -> bool {
    name.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Hugging Face's part names and MindFormers' `model.` prefix, as qplay names the Linears.
fn qplay_name(entry: &str) -> String {
    let entry = entry.strip_prefix("model.").unwrap_or(entry);
    if entry == "lm_head" {
        return "output".into();
    }
    entry
        .split('.')
        .map(|part| match part {
            "self_attn" => "attention",
            "mlp" => "feed_forward",
            "q_proj" => "wq",
            "k_proj" => "wk",
            "v_proj" => "wv",
            "o_proj" => "wo",
            "gate_proj" => "w1",
            "down_proj" => "w2",
            "up_proj" => "w3",
            "embed_tokens" => "tok_embeddings",
            other => other,
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// qplay's settings said as a `PTQConfig(...)`: the call, and each setting it cannot say.
#[derive(Clone, Debug, PartialEq)]
pub struct SaidPtqConfig {
    pub text: String,
    pub unsaid: Vec<String>,
}

/// Writes `q` as the call Golden Stick's guides write, with `msdtype` for `mindspore.dtype`.
pub fn write_ptq_config(q: &LmQuantConfig) -> SaidPtqConfig {
    let mut unsaid = Vec::new();
    let mut args: Vec<String> = Vec::new();
    let float = matches!(q.weights, LmWeightFormat::F32 | LmWeightFormat::F16 | LmWeightFormat::Bf16);
    let (skipped, unquotable): (Vec<&String>, Vec<&String>) = q.skip.iter().filter(|s| s.as_str() != "tok_embeddings").partition(|s| is_layer_name(s));
    if !unquotable.is_empty() {
        unsaid.push(format!("skip entries that are no layer name: {:?}", unquotable));
    }
    if !skipped.is_empty() {
        let names: Vec<String> = skipped.iter().map(|s| format!("\"{}\"", if s.as_str() == "output" { "lm_head" } else { s.as_str() })).collect();
        args.push(format!("opname_blacklist=[{}]", names.join(", ")));
    }
    if !float && !q.skip.iter().any(|s| s == "tok_embeddings") {
        unsaid.push("the token embedding quantized (Golden Stick quantizes Linears only)".into());
    }
    // The weights' dtype and group; llama.cpp's blocks are said as their nearest grid.
    let (dtype, group) = match q.weights {
        LmWeightFormat::F32 => ("None", 0),
        LmWeightFormat::F16 | LmWeightFormat::Bf16 => {
            unsaid.push(format!("{} weights (PTQConfig has int8 and qint4x2)", q.weights.name().to_uppercase()));
            ("None", 0)
        }
        LmWeightFormat::Rtn => {
            if !matches!(q.bits, 4 | 8) {
                unsaid.push(format!("{}-bit weights (PTQConfig has int8 and qint4x2; the call says 8)", q.bits));
            }
            if !q.symmetric {
                unsaid.push("asymmetric weights (Golden Stick's RTN grid is symmetric)".into());
            }
            if q.narrow {
                unsaid.push("the narrow range ±(2^(b−1) − 1)".into());
            }
            if !q.layer_bits.is_empty() {
                unsaid.push("per-layer bits (PTQConfig sets one width for every layer)".into());
            }
            (if q.bits == 4 { "msdtype.qint4x2" } else { "msdtype.int8" }, q.group)
        }
        f @ (LmWeightFormat::Q8_0 | LmWeightFormat::Q4_0 | LmWeightFormat::Q4_1) => {
            let bits = if f == LmWeightFormat::Q8_0 { 8 } else { 4 };
            unsaid.push(format!("llama.cpp's {} blocks (the call says their nearest: {bits} bits in groups of 32)", f.name().to_uppercase()));
            (if bits == 4 { "msdtype.qint4x2" } else { "msdtype.int8" }, 32)
        }
    };
    args.push(format!("weight_quant_dtype={dtype}"));
    args.push(format!("act_quant_dtype={}", if q.int8_acts { "msdtype.int8" } else { "None" }));
    args.push(format!(
        "kvcache_quant_dtype={}",
        match q.kv {
            KvFormat::Int8 => "msdtype.int8",
            KvFormat::F32 => "None",
            KvFormat::F16 => {
                unsaid.push("an FP16 KV cache".into());
                "None"
            }
        }
    ));
    let suppression = match q.method {
        LmMethod::SmoothQuant => "SMOOTH",
        LmMethod::Awq => "AWQ",
        _ => "NONE",
    };
    args.push(format!("outliers_suppression=OutliersSuppressionType.{suppression}"));
    if q.gptq_rounds() {
        args.push("precision_recovery=PrecisionRecovery.GPTQ".into());
    }
    if group > 0 {
        args.push(format!("weight_quant_granularity=QuantGranularity.PER_GROUP, group_size={group}"));
    }
    if q.int8_acts && !q.static_acts {
        args.push("act_quant_granularity=QuantGranularity.PER_TOKEN".into());
    }
    if q.kv == KvFormat::Int8 {
        args.push("kvcache_quant_granularity=QuantGranularity.PER_TOKEN".into());
    }
    if q.outliers > 0 {
        unsaid.push(format!("{} injected outlier channels (a qplay experiment)", q.outliers));
    }
    SaidPtqConfig { text: format!("PTQConfig({})", args.join(", ")), unsaid }
}

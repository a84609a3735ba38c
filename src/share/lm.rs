//! A language-model experiment as a share link, with the same key names as its TOML
//! (`qplay lm … --config`): `#/lm?weights=rtn&bits=4&group=32&kv=int8&prompt=ROMEO%3A&seed=7`.
//!
//! Keys at their default are left out. Reading never fails and is linear in the link's length:
//! each `key=value` pair is looked up in one match (no nesting, no recursion); an invalid value
//! is skipped with a notice that names its key and says why, and the unknown keys are named
//! together in one notice.
//!
//! | key | value | default |
//! | --- | --- | --- |
//! | `weights` | f32, f16, bf16, rtn, q8_0, q4_0, q4_1 | f32 |
//! | `bits` | 2–8 (RTN) | 8 |
//! | `group` | 0 (per channel), 32, 64, 128, … (multiples of 32 up to 4096) | 0 |
//! | `symmetric`, `narrow`, `int8_acts` | true / false | true, false, false |
//! | `static_acts` | true / false: with `int8_acts`, one calibrated scale per Linear input | false |
//! | `kv` | f32, f16, int8 | f32 |
//! | `skip` | comma-separated layer names or patterns (empty: none) | output,tok_embeddings |
//! | `layer_bits.NAME` | 2–8 | — |
//! | `method` | rtn, gptq, awq, smoothquant | rtn |
//! | `calib_tokens` | calibration tokens, 1–65,536 | 2,048 |
//! | `damp`, `alpha` | GPTQ's dampening, SmoothQuant's α, 0–1 | 0.01, 0.5 |
//! | `act_order`, `awq_clip`, `awq_gptq` | true / false | false |
//! | `outliers`, `outlier_scale` | injected outlier channels 0–64, their scale 1–1,000 | 0, 50 |
//! | `temperature`, `top_k`, `top_p`, `seed` | sampling (0 = greedy) | 0.8, 40, 0.95, 42 |
//! | `prompt` | up to 1,024 characters | `ROMEO:` |
//! | `max_new` | 1–4,096 tokens | 200 |
//! | `tokens` | validation tokens scored, 2–1,000,000 | 8,193 |
//! | `model` | the user's own model files, by name (the files themselves never travel in a link) | — (built-in) |
//! | `files` | with `model`: the files' fingerprint, their bytes and a hash of them (`bytes-hash`, [`crate::lm::import::files_fingerprint`]), so that other files of the same names are told apart | — |
//! | `builtin` | which built-in model (used when `model` is absent): small (1.2 M parameters), large (3.2 M) | small |
//! | `search_low`, `search_high` | the mixed-precision search's two widths, 2–8, low < high | 4, 8 |
//! | `search_bpw` / `search_kl` | its target: at most this many bits per weight (0.5–32), or the smallest model of at most this mean KL (0–10) | bpw 6 |
//! | `search_tokens` | validation tokens the search scores, 2–65,537 | 1,025 |

use crate::lm::corpus::BuiltinLm;
use crate::lm::sample::SampleConfig;
use crate::lm::KvFormat;
use crate::ptq::lm::{LmMethod, LmQuantConfig, LmWeightFormat, MethodSwitch};
use crate::ptq::lm_sensitivity::{SearchSettings, SearchTarget};

/// Longest link accepted (characters after `?`): 64 KiB, more than the link written for the
/// longest settings a link accepts (a 1,024-character prompt and a 512-character model name, each
/// character up to 12 bytes as %-escapes, 64 skip names and 64 per-layer widths of 64 bytes, each
/// byte up to 3: about 44 kB), so every link qplay writes reads back whole.
pub const MAX_QUERY_LEN: usize = 64 * 1024;
/// Most keys read from one link.
pub const MAX_KEYS: usize = 256;
/// Longest prompt in a link (characters).
pub const MAX_PROMPT_CHARS: usize = 1024;
/// The largest seed a link or the page's Seed box takes: 2^53 − 1, the largest whole number a
/// browser's number box holds exactly (a link's larger seed would show rounded in the box).
pub const MAX_SEED: u64 = (1 << 53) - 1;
/// Longest model name in a link (characters).
pub const MAX_MODEL_CHARS: usize = 512;
/// Most per-layer widths (`layer_bits.NAME` keys) a link holds.
pub const MAX_LAYER_BITS: usize = 64;
/// Most validation tokens a search scores (one FP32 reference and ~90 evaluations of them).
pub const MAX_SEARCH_TOKENS: usize = 65_537;
/// Most notices listed (then one "… and N more").
pub const MAX_NOTICES: usize = 20;

/// Everything a language-model run depends on.
#[derive(Clone, Debug, PartialEq)]
pub struct LmExperiment {
    pub quant: LmQuantConfig,
    pub sample: SampleConfig,
    pub prompt: String,
    pub max_new: usize,
    pub tokens: usize,
    /// The user's model the experiment used, by its files' names ("stories260K.bin, tok512.bin");
    /// empty for the built-in model. A link cannot carry the files: whoever opens it is asked
    /// to drop the same ones.
    pub model: String,
    /// With `model`: the files' fingerprint ("1234567-0123456789ab", their bytes and a hash), so
    /// that opening the link with other files of the same names says so. Empty when unknown.
    pub model_files: String,
    /// The built-in model used when `model` is empty.
    pub builtin: BuiltinLm,
    /// The mixed-precision search's widths and target, and the validation tokens it scores.
    pub search: SearchSettings,
    pub search_tokens: usize,
}

/// The search's settings when the link says nothing: W4 / W8 within 6 bits per weight.
pub const DEFAULT_SEARCH: SearchSettings = SearchSettings { low_bits: 4, high_bits: 8, target: SearchTarget::BitsPerWeight(6.0) };

impl Default for LmExperiment {
    fn default() -> Self {
        LmExperiment { quant: LmQuantConfig::default(), sample: SampleConfig::default(), prompt: "ROMEO:".into(), max_new: 200, tokens: 8193, model: String::new(), model_files: String::new(), builtin: BuiltinLm::Small, search: DEFAULT_SEARCH, search_tokens: 1025 }
    }
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The link form: only keys that differ from the default, in a fixed order.
pub fn to_query(e: &LmExperiment) -> String {
    let d = LmExperiment::default();
    let mut kv: Vec<(String, String)> = Vec::new();
    let q = &e.quant;
    if q.weights != d.quant.weights {
        kv.push(("weights".into(), q.weights.name().into()));
    }
    // RTN's grid (bits, group, symmetric, narrow, per-layer bits) only with RTN weights: another
    // format has its own, and the link reader names these keys as ignored under it.
    let rtn = q.weights == LmWeightFormat::Rtn;
    if rtn && q.bits != d.quant.bits {
        kv.push(("bits".into(), q.bits.to_string()));
    }
    if rtn && q.group != d.quant.group {
        kv.push(("group".into(), q.group.to_string()));
    }
    for (k, v, dv) in [("symmetric", q.symmetric && rtn, d.quant.symmetric && rtn), ("narrow", q.narrow && rtn, d.quant.narrow && rtn), ("int8_acts", q.int8_acts, d.quant.int8_acts), ("static_acts", q.static_acts, d.quant.static_acts)] {
        if v != dv {
            kv.push((k.into(), v.to_string()));
        }
    }
    if q.kv != d.quant.kv {
        kv.push(("kv".into(), q.kv.name().into()));
    }
    if q.skip != d.quant.skip {
        kv.push(("skip".into(), q.skip.join(",")));
    }
    for (name, b) in q.layer_bits.iter().filter(|_| rtn) {
        kv.push((format!("layer_bits.{name}"), b.to_string()));
    }
    if q.method != d.quant.method {
        kv.push(("method".into(), q.method.name().into()));
    }
    if q.calib_tokens != d.quant.calib_tokens {
        kv.push(("calib_tokens".into(), q.calib_tokens.to_string()));
    }
    // Injected outliers change only integer weights; under float weights the page turns them off.
    let outlier_scale = if q.integer_weights() { q.outlier_scale } else { d.quant.outlier_scale };
    for (k, v, dv) in [("damp", q.damp, d.quant.damp), ("alpha", q.alpha, d.quant.alpha), ("outlier_scale", outlier_scale, d.quant.outlier_scale)] {
        if v != dv {
            kv.push((k.into(), v.to_string()));
        }
    }
    for s in MethodSwitch::ALL {
        if s.is_on(q) != s.is_on(&d.quant) {
            kv.push((s.key().into(), s.is_on(q).to_string()));
        }
    }
    if q.outliers != d.quant.outliers && q.integer_weights() {
        kv.push(("outliers".into(), q.outliers.to_string()));
    }
    let s = &e.sample;
    if s.temperature != d.sample.temperature {
        kv.push(("temperature".into(), s.temperature.to_string()));
    }
    if s.top_k != d.sample.top_k {
        kv.push(("top_k".into(), s.top_k.to_string()));
    }
    if s.top_p != d.sample.top_p {
        kv.push(("top_p".into(), s.top_p.to_string()));
    }
    if s.seed != d.sample.seed {
        kv.push(("seed".into(), s.seed.to_string()));
    }
    if e.prompt != d.prompt {
        kv.push(("prompt".into(), e.prompt.clone()));
    }
    if e.max_new != d.max_new {
        kv.push(("max_new".into(), e.max_new.to_string()));
    }
    if e.tokens != d.tokens {
        kv.push(("tokens".into(), e.tokens.to_string()));
    }
    if !e.model.is_empty() {
        // At most what a link reads (the names of many dropped files could be more).
        kv.push(("model".into(), e.model.chars().take(MAX_MODEL_CHARS).collect::<String>().trim().to_string()));
        if !e.model_files.is_empty() {
            kv.push(("files".into(), e.model_files.clone()));
        }
    }
    if e.builtin != d.builtin {
        kv.push(("builtin".into(), e.builtin.key().into()));
    }
    let (s, ds) = (&e.search, &d.search);
    if s.low_bits != ds.low_bits {
        kv.push(("search_low".into(), s.low_bits.to_string()));
    }
    if s.high_bits != ds.high_bits {
        kv.push(("search_high".into(), s.high_bits.to_string()));
    }
    if s.target != ds.target {
        match s.target {
            SearchTarget::BitsPerWeight(b) => kv.push(("search_bpw".into(), b.to_string())),
            SearchTarget::Kl(k) => kv.push(("search_kl".into(), k.to_string())),
            // Not offered by the page; the link keeps the bits per weight it is worth.
            SearchTarget::Bytes(_) => {}
        }
    }
    if e.search_tokens != d.search_tokens {
        kv.push(("search_tokens".into(), e.search_tokens.to_string()));
    }
    kv.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

/// The link keys whose values differ between `a` and `b` (`layer_bits.NAME` counts as
/// `layer_bits`), in link order: what a teacher's lock on those keys forbids changing.
pub fn changed_keys(a: &LmExperiment, b: &LmExperiment) -> Vec<String> {
    let pairs = |e: &LmExperiment| -> Vec<(String, String)> {
        form_urlencoded::parse(to_query(e).as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
    };
    let (pa, pb) = (pairs(a), pairs(b));
    let mut keys: Vec<String> = Vec::new();
    for (k, _) in pa.iter().chain(&pb) {
        let same = pa.iter().find(|(ka, _)| ka == k).map(|(_, va)| va) == pb.iter().find(|(kb, _)| kb == k).map(|(_, vb)| vb);
        // Per-layer widths are one setting; which built-in model is the `model` lock's.
        let key = match k.as_str() {
            k if k.starts_with("layer_bits.") => "layer_bits".to_string(),
            "builtin" | "files" => "model".to_string(),
            _ => k.clone(),
        };
        if !same && !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

/// The settings a teacher's link fixes (hidden or locked in `view`) that changing the
/// experiment from `from` to `to` would change: empty when the change may be made.
pub fn locked_changes(view: &crate::share::view::View, from: &LmExperiment, to: &LmExperiment) -> Vec<String> {
    changed_keys(from, to).into_iter().filter(|k| view.is_locked(k)).collect()
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!("{:?} is not true or false", crate::share::clip(v))),
    }
}

fn parse_num<T: std::str::FromStr + PartialOrd + std::fmt::Display>(v: &str, lo: T, hi: T) -> Result<T, String> {
    let t = v.trim();
    // What the link wrote, quoted at most 40 characters long in a message.
    let shown = crate::share::clip(t);
    let x: T = match t.parse() {
        Ok(x) => x,
        // Not T's own syntax, but a number: a whole one in exponent form ("1e3") is read as
        // such; otherwise the message says what is wrong with it rather than "not a number".
        Err(_) => match t.parse::<f64>() {
            Ok(f) if crate::decimal::exact_whole(f).is_some() => {
                (f as i64).to_string().parse().map_err(|_| format!("{shown} is outside {lo}–{hi}"))?
            }
            Ok(f) if f.is_finite() && f.fract() != 0.0 => return Err(format!("{shown} is not a whole number ({lo}–{hi})")),
            // Past 2^53 an exponent form may not name one integer exactly: in range, ask for digits.
            Ok(f) if f.is_finite() => {
                let within = |b: &T| b.to_string().parse::<f64>().ok();
                return Err(match (within(&lo), within(&hi)) {
                    (Some(l), Some(h)) if (l..=h).contains(&f) => format!("{shown} is too large to read exactly in exponent form: write it in digits"),
                    _ => format!("{shown} is outside {lo}–{hi}"),
                });
            }
            // 1e400: a number, but past any a setting holds (f64's ±1.8e308 included).
            Ok(f) if f.is_infinite() && !t.to_ascii_lowercase().contains("inf") => return Err(format!("{shown} is outside {lo}–{hi}")),
            _ => return Err(format!("{:?} is not a number", crate::share::clip(v))),
        },
    };
    // Written so that NaN (which compares false with everything) is refused too.
    if !(x >= lo && x <= hi) {
        return Err(format!("{shown} is outside {lo}–{hi}"));
    }
    Ok(x)
}

/// A skip list as typed: names or patterns separated by commas ("output, layers.5.feed_forward.w2").
pub fn parse_skip(v: &str) -> Result<Vec<String>, String> {
    // "none" is no name, as `qplay lm --skip none` reads it (a link with skip=none stopped Run:
    // "none" names no Linear).
    let names: Vec<String> = v.split(',').map(str::trim).filter(|s| !s.is_empty() && *s != "none").map(String::from).collect();
    if names.len() > 64 || names.iter().any(|n| n.len() > 64) {
        return Err("at most 64 names of at most 64 characters".into());
    }
    Ok(names)
}

/// Per-layer bits as typed: `NAME=BITS` pairs separated by commas ("feed_forward.w2=8,
/// layers.0.attention.wq=4"); each name as the skip list matches it, bits 2–8, a name given
/// twice with other bits refused.
pub fn parse_layer_bits(v: &str) -> Result<std::collections::BTreeMap<String, u8>, String> {
    let mut out = std::collections::BTreeMap::new();
    for pair in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, bits) = pair.split_once('=').ok_or_else(|| format!("{:?}: write NAME=BITS", crate::share::clip(pair)))?;
        let name = name.trim();
        if name.is_empty() || name.len() > 64 {
            return Err(format!("{:?}: a layer name of 1 to 64 characters", crate::share::clip(pair)));
        }
        if out.len() >= MAX_LAYER_BITS && !out.contains_key(name) {
            return Err(format!("at most {MAX_LAYER_BITS} per-layer bits"));
        }
        let b = parse_num(bits, 2u8, 8).map_err(|e| format!("{name}: {e}"))?;
        // A name given twice with other bits: which was meant is not the box's to guess.
        match out.insert(name.to_string(), b) {
            Some(before) if before != b => {
                return Err(format!("{:?} is given twice, with {before} and {b} bits: give each name once", crate::share::clip(name)))
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Why a key of a link was not read.
enum Refused {
    /// The key is none of the page's settings.
    NotASetting,
    /// The key is a setting and its value is refused: why.
    Value(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Refused::NotASetting => f.write_str("not a setting"),
            Refused::Value(why) => f.write_str(why),
        }
    }
}

impl From<String> for Refused {
    fn from(why: String) -> Self {
        Refused::Value(why)
    }
}

/// Applies one key; Err is the reason it was skipped.
fn apply(e: &mut LmExperiment, key: &str, v: &str) -> Result<(), Refused> {
    match key {
        "weights" => {
            e.quant.weights = LmWeightFormat::parse(v).ok_or_else(|| format!("{:?} is not one of f32, f16, bf16, rtn, q8_0, q4_0, q4_1", crate::share::clip(v)))?
        }
        "bits" => e.quant.bits = parse_num(v, 2u8, 8)?,
        "group" => {
            let g = parse_num(v, 0usize, 4096)?;
            if g % 32 != 0 {
                return Err(format!("{g} is not 0 (per channel) or a multiple of 32").into());
            }
            e.quant.group = g;
        }
        "symmetric" => e.quant.symmetric = parse_bool(v)?,
        "narrow" => e.quant.narrow = parse_bool(v)?,
        "int8_acts" => e.quant.int8_acts = parse_bool(v)?,
        "static_acts" => e.quant.static_acts = parse_bool(v)?,
        "kv" => e.quant.kv = KvFormat::parse(v).ok_or_else(|| format!("{:?} is not f32, f16 or int8", crate::share::clip(v)))?,
        "skip" => e.quant.skip = parse_skip(v)?,
        "method" => e.quant.method = LmMethod::parse(v).ok_or_else(|| format!("{:?} is not one of rtn, gptq, awq, smoothquant", crate::share::clip(v)))?,
        "calib_tokens" => e.quant.calib_tokens = parse_num(v, 1usize, crate::ptq::lm_calib::MAX_CALIB_TOKENS)?,
        "damp" => e.quant.damp = parse_num(v, 0f32, 1.0)? + 0.0,
        "alpha" => e.quant.alpha = parse_num(v, 0f32, 1.0)? + 0.0,
        "act_order" => e.quant.act_order = parse_bool(v)?,
        "awq_clip" => e.quant.awq_clip = parse_bool(v)?,
        "awq_gptq" => e.quant.awq_gptq = parse_bool(v)?,
        "outliers" => e.quant.outliers = parse_num(v, 0usize, 64)?,
        "outlier_scale" => e.quant.outlier_scale = parse_num(v, 1f32, 1000.0)?,
        // + 0.0: a -0 in the link is 0 (written back as "0", not "-0").
        "temperature" => e.sample.temperature = parse_num(v, 0f32, 10.0)? + 0.0,
        "top_k" => e.sample.top_k = parse_num(v, 0usize, 1 << 20)?,
        "top_p" => {
            let p = parse_num(v, 0f32, 1.0)?;
            if p == 0.0 {
                return Err(Refused::Value("0 keeps no token: use a value in (0, 1]".into()));
            }
            e.sample.top_p = p;
        }
        "seed" => e.sample.seed = parse_num(v, 0u64, MAX_SEED)?,
        "prompt" => {
            if v.chars().count() > MAX_PROMPT_CHARS {
                return Err(format!("longer than {MAX_PROMPT_CHARS} characters").into());
            }
            e.prompt = v.to_string();
        }
        "max_new" => e.max_new = parse_num(v, 1usize, 4096)?,
        "tokens" => e.tokens = parse_num(v, 2usize, 1_000_000)?,
        "model" => {
            if v.chars().count() > MAX_MODEL_CHARS {
                return Err(format!("longer than {MAX_MODEL_CHARS} characters").into());
            }
            e.model = v.trim().to_string();
        }
        "files" => {
            if !crate::lm::import::is_fingerprint(v) {
                return Err(format!("{:?} is not a files' fingerprint (bytes-hash, as 1234567-0123456789ab)", crate::share::clip(v)).into());
            }
            e.model_files = v.to_string();
        }
        "search_low" => e.search.low_bits = parse_num(v, 2u8, 8)?,
        "search_high" => e.search.high_bits = parse_num(v, 2u8, 8)?,
        "search_bpw" => e.search.target = SearchTarget::BitsPerWeight(parse_num(v, 0.5f64, 32.0)?),
        "search_kl" => e.search.target = SearchTarget::Kl(parse_num(v, 0f64, 10.0)? + 0.0),
        "search_tokens" => e.search_tokens = parse_num(v, 2usize, MAX_SEARCH_TOKENS)?,
        "builtin" => e.builtin = BuiltinLm::from_key(v).ok_or_else(|| format!("{:?} is not small or large", crate::share::clip(v)))?,
        _ => match key.strip_prefix("layer_bits.") {
            Some(name) if !name.is_empty() && name.len() <= 64 => {
                if e.quant.layer_bits.len() >= MAX_LAYER_BITS && !e.quant.layer_bits.contains_key(name) {
                    return Err(format!("at most {MAX_LAYER_BITS} per-layer bits").into());
                }
                e.quant.layer_bits.insert(name.to_string(), parse_num(v, 2u8, 8)?);
            }
            _ => return Err(Refused::NotASetting),
        },
    }
    Ok(())
}

/// Why the search's settings cannot run (the ranges a link accepts), if they cannot.
pub fn search_problem(e: &LmExperiment) -> Option<String> {
    let s = &e.search;
    if !(2..=8).contains(&s.low_bits) || !(2..=8).contains(&s.high_bits) || s.low_bits >= s.high_bits {
        return Some(format!("the search's widths must be 2–8 bits with low < high (now {} and {})", s.low_bits, s.high_bits));
    }
    match s.target {
        SearchTarget::BitsPerWeight(b) if !(0.5..=32.0).contains(&b) => return Some(format!("the budget {b} bits per weight is outside 0.5–32")),
        SearchTarget::Kl(k) if !(0.0..=10.0).contains(&k) => return Some(format!("the KL target {k} is outside 0–10")),
        _ => {}
    }
    if !(2..=MAX_SEARCH_TOKENS).contains(&e.search_tokens) {
        return Some(format!("the search's tokens {} are outside 2–{MAX_SEARCH_TOKENS}", e.search_tokens));
    }
    None
}

/// What a link key given more than once came to.
enum Repeat {
    /// Its last value was read.
    Read,
    /// Its last value was read; one before it was refused: why.
    ReadAfterRefusal(String),
    /// Its last value was refused (why), so an earlier one counts.
    Refused(String),
}

/// Adds a notice, or counts it as one of the "… and N more" once `MAX_NOTICES` are listed.
fn push_capped(notices: &mut Vec<String>, skipped: &mut usize, notice: String) {
    if notices.len() >= MAX_NOTICES {
        *skipped += 1;
    } else {
        notices.push(notice);
    }
}

/// Reads a link's query (after `?`): the experiment and a notice per key that was skipped.
pub fn from_query(query: &str) -> (LmExperiment, Vec<String>) {
    let mut e = LmExperiment::default();
    let mut notices = Vec::new();
    let mut skipped = 0usize;
    let mut seen = std::collections::HashSet::new();
    // The keys whose values were read (for the notice on settings the weight format ignores).
    let mut accepted = std::collections::HashSet::new();
    // The keys given more than once after a value that read, in the order first repeated: the
    // key, the key as shown, and what its values came to.
    let mut repeated: Vec<(String, String, Repeat)> = Vec::new();
    // The keys that are no setting, each once.
    let mut not_settings: Vec<std::borrow::Cow<str>> = Vec::new();
    let query = if query.len() > MAX_QUERY_LEN {
        notices.push(format!("the link is {} characters; only the first {MAX_QUERY_LEN} are read", query.len()));
        let mut end = MAX_QUERY_LEN;
        while !query.is_char_boundary(end) {
            end -= 1;
        }
        &query[..end]
    } else {
        query
    };
    notices.extend(crate::share::escape_notices(query));
    for (i, (k, v)) in form_urlencoded::parse(query.as_bytes()).enumerate() {
        if i == MAX_KEYS {
            notices.push(format!("the link has more than the limit of {MAX_KEYS} keys; the rest are ignored"));
            break;
        }
        if matches!(k.as_ref(), "hide" | "lock") {
            continue; // the teacher's view, read by `share::view`
        }
        let twice = !seen.insert(k.to_string());
        let applied = apply(&mut e, &k, &v);
        if applied.is_ok() {
            accepted.insert(k.to_string());
        }
        let key = crate::share::clip(&k);
        match (applied, twice) {
            // A key given again is said once, after the loop, with what its values came to.
            (applied, true) if accepted.contains(k.as_ref()) => {
                let at = match repeated.iter().position(|(raw, ..)| *raw == k) {
                    Some(at) => at,
                    None => {
                        repeated.push((k.to_string(), key, Repeat::Read));
                        repeated.len() - 1
                    }
                };
                let now = &mut repeated[at].2;
                *now = match (applied, std::mem::replace(now, Repeat::Read)) {
                    (Ok(()), Repeat::Read) => Repeat::Read,
                    (Ok(()), Repeat::ReadAfterRefusal(why) | Repeat::Refused(why)) => Repeat::ReadAfterRefusal(why),
                    (Err(refused), _) => Repeat::Refused(refused.to_string()),
                };
            }
            // A key never read (each value refused, or no setting) was named when first seen.
            (_, true) => {}
            (Err(Refused::NotASetting), false) => not_settings.push(k),
            (Err(Refused::Value(why)), false) => push_capped(&mut notices, &mut skipped, format!("link key {key:?} ignored: {why}")),
            (Ok(()), false) => {}
        }
    }
    // The keys that are no setting, in one notice (twenty unknown keys are one line, not twenty).
    if let Some((named, count)) = crate::share::named_keys(not_settings.into_iter()) {
        let (s, them) = if count == 1 { ("", "a setting") } else { ("s", "settings") };
        push_capped(&mut notices, &mut skipped, format!("link key{s} {named} ignored: not {them}"));
    }
    // One notice per repeated key (3,000 × bits=4 is one, not 3,000): the last value that reads counts.
    for (_, key, repeat) in repeated {
        let n = match repeat {
            Repeat::Read => format!("link key {key:?} is given more than once: the last value counts"),
            Repeat::ReadAfterRefusal(why) => format!("link key {key:?} is given more than once: the last value counts (one before it was refused: {why})"),
            Repeat::Refused(why) => format!("link key {key:?} is given more than once and its later value is ignored ({why}): the earlier one counts"),
        };
        push_capped(&mut notices, &mut skipped, n);
    }
    // Two targets for one search: the later key counts, and is named.
    if accepted.contains("search_bpw") && accepted.contains("search_kl") {
        let later = if matches!(e.search.target, SearchTarget::Kl(_)) { "search_kl" } else { "search_bpw" };
        notices.push(format!("link keys \"search_bpw\" and \"search_kl\" both give the search's target: the later one, \"{later}\", counts"));
    }
    // Static scales are scales of int8 activations: alone they would change nothing, silently.
    if e.quant.static_acts && !e.quant.int8_acts {
        notices.push("link key \"static_acts\" ignored: static scales need int8 activations (int8_acts=true)".into());
        e.quant.static_acts = false;
    }
    // A method's switches under another method would change nothing, silently.
    for s in e.quant.inert_switches() {
        notices.push(format!("link key {:?} ignored: {}", s.key(), s.needs()));
    }
    e.quant.drop_inert_switches();
    // Injected outliers leave the FP32 function as it is: under float weights they would change
    // nothing, silently (the page turns their boxes off).
    if !e.quant.integer_weights() {
        let given: Vec<String> = ["outliers", "outlier_scale"].into_iter().filter(|k| accepted.contains(*k)).map(|k| format!("{k:?}")).collect();
        if !given.is_empty() {
            notices.push(format!(
                "link key{} {} ignored: injected outliers change only integer weights (weights=rtn, q8_0, q4_0 or q4_1), not {}",
                if given.len() > 1 { "s" } else { "" },
                given.join(", "),
                e.quant.weights.name()
            ));
        }
        let d = LmQuantConfig::default();
        (e.quant.outliers, e.quant.outlier_scale) = (d.outliers, d.outlier_scale);
    }
    // Widths, groups and their options shape RTN weights; under another weight format they
    // would change nothing, silently: named and reset, as a method's switches are.
    if e.quant.weights != LmWeightFormat::Rtn {
        let mut inert: Vec<&str> = ["bits", "group", "symmetric", "narrow"].into_iter().filter(|k| accepted.contains(*k)).collect();
        if accepted.iter().any(|k| k.starts_with("layer_bits.")) {
            inert.push("layer_bits");
        }
        if !inert.is_empty() {
            let keys = inert.iter().map(|k| format!("{k:?}")).collect::<Vec<_>>().join(", ");
            let (s, they) = if inert.len() == 1 { ("", "it sets") } else { ("s", "they set") };
            notices.push(format!("link key{s} {keys} ignored: {they} the weights of rtn (weights=rtn), not {}", e.quant.weights.name()));
        }
        let d = LmQuantConfig::default();
        (e.quant.bits, e.quant.group, e.quant.symmetric, e.quant.narrow) = (d.bits, d.group, d.symmetric, d.narrow);
        e.quant.layer_bits.clear();
    }
    if e.quant.narrow && !e.quant.symmetric {
        notices.push("link key \"narrow\" ignored: the narrow range is of a symmetric grid (symmetric=true)".into());
        e.quant.narrow = false;
    }
    // Settings that are valid one by one but not together fall back to the default quantization.
    if let Err(err) = e.quant.validate() {
        notices.push(format!("the quantization settings do not fit together ({err}); using the defaults"));
        e.quant = LmQuantConfig::default();
    }
    if e.search.low_bits >= e.search.high_bits {
        notices.push(format!("the search's widths {} and {} are not low < high; using 4 and 8", e.search.low_bits, e.search.high_bits));
        e.search = SearchSettings { target: e.search.target, ..DEFAULT_SEARCH };
    }
    if skipped > 0 {
        notices.push(format!("… and {skipped} more"));
    }
    (e, notices)
}

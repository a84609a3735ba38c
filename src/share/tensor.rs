//! The Tensor page's share link: every shareable setting, its name in the
//! link, its default, and how it is read back.
//!
//! The hash looks like `#/tensor?method=clip&bits=8&x=1.4243,-0.7382`. A typed 2-D tensor
//! travels flat in `x` with its `shape=rows,cols`; with a generator, `shape` is the generator's.
//! [`TENSOR_FIELDS`] is the table of keys (as in TensorFlow Playground's
//! `state.ts`): each entry writes its setting (or nothing, when it is at its
//! default) and reads it back. Reading never fails: a key that is unknown, or
//! a value that is invalid, is skipped (its default stays) and a notice says so.

use crate::examples::LAB_NORMAL;
use crate::generate::Distribution;
use crate::parse::{format_numbers, format_rows, parse_at_most, parse_numbers, Parsed};
use crate::decimal::short_text;
use crate::quant::calibration::{Calibration, CalibrationKind};
use crate::quant::scheme::{MAX_BITS, MIN_BITS};
use crate::quant::{Granularity, Method, QuantError, Rounding, Scheme};

use super::clip;

/// Largest generated matrix side.
pub const MAX_GEN_SIDE: usize = 1024;

/// Tensors up to this many values travel in the link; larger ones are left out with a notice.
pub const MAX_LINK_VALUES: usize = 256;

/// Longest hash that is read at all.
pub const MAX_HASH_LEN: usize = 16 * 1024;

/// Most keys read from one link (the table has 16; a teacher's `hide` and `lock` add two); the
/// rest are ignored with one notice. Reading is linear in the number of keys.
pub const MAX_KEYS: usize = 64;

/// The Tensor page's shareable settings.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorSettings {
    pub method: Method,
    pub bits: u8,
    pub signed: bool,
    pub symmetric: bool,
    pub narrow_range: bool,
    /// The rounding mode (a stochastic mode's own seed is ignored: `seed` is used).
    pub rounding: Rounding,
    /// The seed of everything random on the page.
    pub seed: u64,
    /// A float range [α, β] set by hand (the range sliders), instead of the data's.
    pub range: Option<(f32, f32)>,
    /// Per-tensor, per-channel or per-group (with its axis and group size).
    pub granularity: Granularity,
    /// How the range [α, β] is chosen from the data, with its setting.
    pub calibration: Calibration,
    /// A generated tensor [rows, cols] instead of the text (seeded with `seed`).
    pub generator: Option<Generator>,
    /// The tensor as the user typed it.
    pub text: String,
}

/// A seeded test tensor of shape [rows, cols].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Generator {
    pub distribution: Distribution,
    pub rows: usize,
    pub cols: usize,
}

impl Generator {
    /// The generator after choosing `distribution`: its example shape
    /// ([`Distribution::example_shape`]), unless the user had set another shape than the one
    /// `previous` started with, which is kept.
    pub fn switched(previous: Option<Generator>, distribution: Distribution) -> Generator {
        let (rows, cols) = match previous {
            Some(g) if (g.rows, g.cols) != g.distribution.example_shape() => (g.rows, g.cols),
            _ => distribution.example_shape(),
        };
        Generator { distribution, rows, cols }
    }
}

/// The generator's distributions by name, with the parameters they use.
pub fn distribution_by_name(name: &str) -> Option<Distribution> {
    Distribution::examples().into_iter().find(|d| d.name() == name)
}

impl Default for TensorSettings {
    fn default() -> Self {
        TensorSettings {
            method: Method::Normal,
            bits: 8,
            signed: true,
            symmetric: false,
            narrow_range: false,
            rounding: Rounding::HalfEven,
            seed: 0,
            range: None,
            granularity: Granularity::PerTensor,
            calibration: Calibration::MinMax,
            generator: None,
            text: format_numbers(&LAB_NORMAL),
        }
    }
}

impl TensorSettings {
    /// The quantization scheme these settings describe.
    pub fn scheme(&self) -> Scheme {
        Scheme {
            bits: self.bits,
            signed: self.signed,
            symmetric: self.symmetric,
            narrow_range: self.narrow_range,
            method: self.method,
            rounding: match self.rounding {
                Rounding::Stochastic { .. } => Rounding::Stochastic { seed: self.seed },
                r => r,
            },
        }
    }
}

/// One row of the settings table.
pub struct Field {
    pub key: &'static str,
    /// What the value means, for the README and for notices.
    pub help: &'static str,
    /// The value to write, or `None` to leave the key out (it is at its default). The second
    /// argument is the typed tensor when it travels in the link (see [`linked_tensor`]).
    pub write: fn(&TensorSettings, Option<&Parsed>) -> Option<String>,
    /// Reads the value into the settings, or says why it cannot.
    pub read: fn(&mut TensorSettings, &str) -> Result<(), String>,
}

fn flag(v: &str) -> Result<bool, String> {
    match v {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err("use 1 or 0".into()),
    }
}

fn finite(v: &str) -> Result<f32, String> {
    v.trim().parse::<f32>().ok().filter(|x| x.is_finite()).ok_or_else(|| "use a finite number".to_string())
}

/// The Tensor page's keys, in the order they are written.
pub const TENSOR_FIELDS: &[Field] = &[
    Field {
        key: "method",
        help: "normal or clip",
        write: |s, _| Some(s.method.name().into()),
        read: |s, v| Method::from_name(v).map(|m| s.method = m).ok_or_else(|| "use normal or clip".into()),
    },
    Field {
        key: "bits",
        help: "1 to 16",
        write: |s, _| Some(s.bits.to_string()),
        read: |s, v| match v.parse::<u8>() {
            Ok(b) if (MIN_BITS..=MAX_BITS).contains(&b) => {
                s.bits = b;
                Ok(())
            }
            _ => Err(format!("use a whole number from {MIN_BITS} to {MAX_BITS}")),
        },
    },
    Field {
        key: "signed",
        help: "1 signed (default), 0 unsigned",
        write: |s, _| (!s.signed).then(|| "0".into()),
        read: |s, v| flag(v).map(|b| s.signed = b),
    },
    Field {
        key: "sym",
        help: "1 symmetric, 0 asymmetric (default)",
        write: |s, _| s.symmetric.then(|| "1".into()),
        read: |s, v| flag(v).map(|b| s.symmetric = b),
    },
    Field {
        key: "narrow",
        help: "1 narrow range (drops the lowest level), 0 full range (default)",
        write: |s, _| s.narrow_range.then(|| "1".into()),
        read: |s, v| flag(v).map(|b| s.narrow_range = b),
    },
    Field {
        key: "round",
        help: "half_even (default), half_away, floor, stochastic",
        write: |s, _| (s.rounding != Rounding::HalfEven).then(|| s.rounding.name().into()),
        read: |s, v| {
            s.rounding = Rounding::from_name(v, 0).ok_or("use half_even, half_away, floor or stochastic")?;
            Ok(())
        },
    },
    Field {
        key: "seed",
        help: "the seed of everything random (stochastic rounding, generated tensors); default 0",
        write: |s, _| (s.seed != 0).then(|| s.seed.to_string()),
        read: |s, v| v.parse().map(|seed| s.seed = seed).map_err(|_| format!("use a whole number from 0 to {}", u64::MAX)),
    },
    Field {
        key: "range",
        help: "α,β: a float range set by hand instead of the data's min and max",
        write: |s, _| s.range.map(|(a, b)| format!("{},{}", short_text(a), short_text(b))),
        read: |s, v| {
            let (a, b) = v.split_once(',').filter(|(_, b)| !b.contains(',')).ok_or("use two numbers α,β")?;
            let (a, b) = (finite(a)?, finite(b)?);
            if a > b {
                return Err("α must not exceed β".into());
            }
            s.range = Some((a, b));
            Ok(())
        },
    },
    Field {
        key: "gran",
        help: "per_tensor (default), per_channel, per_group",
        write: |s, _| match s.granularity {
            Granularity::PerTensor => None,
            Granularity::PerChannel { .. } => Some("per_channel".into()),
            Granularity::PerGroup { .. } => Some("per_group".into()),
        },
        read: |s, v| {
            let (axis, group_size) = axis_and_group(s.granularity);
            s.granularity = match v {
                "per_tensor" => Granularity::PerTensor,
                "per_channel" => Granularity::PerChannel { axis },
                "per_group" => Granularity::PerGroup { axis, group_size },
                _ => return Err("use per_tensor, per_channel or per_group".into()),
            };
            Ok(())
        },
    },
    Field {
        key: "axis",
        help: "the channel axis of per-channel / per-group quantization (0 rows, 1 columns)",
        write: |s, _| {
            let (axis, _) = axis_and_group(s.granularity);
            (s.granularity != Granularity::PerTensor && axis != 0).then(|| axis.to_string())
        },
        read: |s, v| {
            let axis: usize = v.parse().ok().filter(|&a| a <= 1).ok_or("use 0 or 1")?;
            s.granularity = match s.granularity {
                Granularity::PerChannel { .. } => Granularity::PerChannel { axis },
                Granularity::PerGroup { group_size, .. } => Granularity::PerGroup { axis, group_size },
                Granularity::PerTensor => return Err("per_tensor has no axis: give gran=per_channel or gran=per_group with it".into()),
            };
            Ok(())
        },
    },
    Field {
        key: "group",
        help: "the group size of per-group quantization",
        write: |s, _| match s.granularity {
            Granularity::PerGroup { group_size, .. } => Some(group_size.to_string()),
            _ => None,
        },
        read: |s, v| {
            let g: usize = v.parse().ok().filter(|&g| (1..=MAX_GEN_SIDE).contains(&g)).ok_or("use a whole number from 1 to 1024")?;
            let Granularity::PerGroup { axis, .. } = s.granularity else {
                return Err("a group size needs gran=per_group".into());
            };
            s.granularity = Granularity::PerGroup { axis, group_size: g };
            Ok(())
        },
    },
    Field {
        key: "calib",
        help: "min_max (default), moving_average_min_max, percentile, removal_outlier, kl, mse",
        write: |s, _| (s.calibration.kind() != CalibrationKind::MinMax).then(|| s.calibration.name().into()),
        read: |s, v| {
            let kind = CalibrationKind::from_name(v).ok_or("use min_max, moving_average_min_max, percentile, removal_outlier, kl or mse")?;
            s.calibration = Calibration::default_for(kind);
            Ok(())
        },
    },
    Field {
        key: "cparam",
        help: "the calibration's setting: percentile (0, 100], removal ratio [0, 0.5), KL bins, MSE steps, moving-average momentum",
        write: |s, _| {
            let default = calibration_param(&Calibration::default_for(s.calibration.kind()));
            calibration_param(&s.calibration).filter(|v| Some(v) != default.as_ref())
        },
        read: |s, v| {
            // As an f32 first, so that the shortest text of an f32 reads back to that f32; the
            // integer settings (KL bins, MSE steps) as f64, so that a refusal quotes 1e30 as 1e30.
            let finite = |x: f64| x.is_finite().then_some(x);
            let integer = matches!(s.calibration.kind(), CalibrationKind::Kl | CalibrationKind::Mse);
            let as_f32 = v.parse::<f32>().ok().map(f64::from).and_then(finite).filter(|_| !integer);
            let x = match as_f32.or_else(|| v.parse::<f64>().ok().and_then(finite)) {
                Some(x) => x,
                // "1e400" reads as ±∞: a number, beyond what any setting takes.
                None if v.parse::<f64>().is_ok_and(f64::is_infinite) && v.contains(|c: char| c.is_ascii_digit()) => return Err(format!("{} is beyond f64's range", clip(v))),
                None => return Err("use a finite number".into()),
            };
            if s.calibration.kind() == CalibrationKind::MinMax {
                return Err("min_max has no setting: give calib=… with it".into());
            }
            s.calibration = with_calibration_param(s.calibration, x).map_err(|e| e.to_string())?;
            Ok(())
        },
    },
    Field {
        key: "gen",
        help: "generate the tensor: normal, uniform, laplace, bimodal, with_outliers",
        write: |s, _| s.generator.map(|g| g.distribution.name().into()),
        read: |s, v| {
            let d = distribution_by_name(v).ok_or("use normal, uniform, laplace, bimodal or with_outliers")?;
            s.generator = Some(Generator::switched(s.generator, d));
            Ok(())
        },
    },
    Field {
        key: "shape",
        help: "rows,cols of the generated tensor (each 1 to 1024), or of a typed 2-D tensor x (rows × cols = its count)",
        write: |s, typed| match (s.generator, typed.map(|p| &p.shape[..])) {
            (Some(g), _) => Some(format!("{},{}", g.rows, g.cols)),
            // A typed tensor's shape goes with its values, when they go.
            (None, Some(&[rows, cols])) => Some(format!("{rows},{cols}")),
            (None, _) => None,
        },
        read: |s, v| {
            let (rows, cols) = parse_shape(v)?;
            // Without a generator the shape is the typed tensor's: `from_hash` applies it once `x` is read.
            if let Some(g) = &mut s.generator {
                (g.rows, g.cols) = (rows, cols);
            }
            Ok(())
        },
    },
    Field {
        key: "x",
        help: "the tensor, comma separated (at most 256 values)",
        // Each value's shortest text that reads back the same f32, in exponent form when tiny or huge (1e-30).
        write: |_, typed| typed.map(|p| p.values.iter().map(|&v| crate::decimal::short_text(v)).collect::<Vec<_>>().join(",")),
        read: |s, v| match parse_numbers(v) {
            Ok(p) if p.values.len() <= MAX_LINK_VALUES => {
                s.text = format_numbers(&p.values);
                Ok(())
            }
            Ok(_) => Err(format!("a link holds at most {MAX_LINK_VALUES} values")),
            Err(e) => Err(e.to_string()),
        },
    },
];

/// The typed tensor as it travels in a link: when it parses and holds at most
/// [`MAX_LINK_VALUES`] values (larger ones are left out with a notice).
pub fn linked_tensor(text: &str) -> Option<Parsed> {
    // Every render writes the link: a pasted million values stop the parse at value 257.
    parse_at_most(text, MAX_LINK_VALUES).ok()
}

/// `rows,cols` with each side from 1 to [`MAX_GEN_SIDE`].
fn parse_shape(v: &str) -> Result<(usize, usize), String> {
    let (r, c) = v.split_once(',').ok_or("use rows,cols")?;
    let side = |t: &str| t.trim().parse::<usize>().ok().filter(|&n| (1..=MAX_GEN_SIDE).contains(&n)).ok_or("use sides from 1 to 1024");
    Ok((side(r)?, side(c)?))
}

/// Gives the typed tensor the link's `shape`, which must hold as many values as it has.
fn shape_text(s: &mut TensorSettings, v: &str) -> Result<(), String> {
    let (rows, cols) = parse_shape(v)?;
    let p = parse_numbers(&s.text).map_err(|e| e.to_string())?;
    let n = p.values.len();
    if rows * cols != n {
        return Err(format!("it holds {} values, the tensor x has {n}", rows * cols));
    }
    s.text = format_rows(&p.values, &[rows, cols]);
    Ok(())
}

/// The axis and group size stored in a granularity (defaults 0 and 4).
pub fn axis_and_group(g: Granularity) -> (usize, usize) {
    match g {
        Granularity::PerTensor => (0, 4),
        Granularity::PerChannel { axis } => (axis, 4),
        Granularity::PerGroup { axis, group_size } => (axis, group_size),
    }
}

/// The calibration's setting as the page shows it and the link writes it: the shortest decimal
/// that reads back to the same f32 (99.99, not the widened f64's 99.98999786376953), or the
/// whole number of bins or steps.
pub fn calibration_param(c: &Calibration) -> Option<String> {
    match *c {
        Calibration::MinMax => None,
        Calibration::MovingAverageMinMax { momentum, .. } => Some(short_text(momentum)),
        Calibration::Percentile { percentile } => Some(short_text(percentile)),
        Calibration::RemovalOutlier { ratio } => Some(short_text(ratio)),
        Calibration::Kl { bins } => Some(bins.to_string()),
        Calibration::Mse { steps } => Some(steps.to_string()),
    }
}

/// `c` with its tuning number set to `x`, validated: the integer settings (KL bins, MSE steps)
/// refuse a fraction, and every refusal names `x` itself (1e30, not what a cast made of it).
pub fn with_calibration_param(c: Calibration, x: f64) -> Result<Calibration, QuantError> {
    use crate::quant::calibration::{kl, mse};
    let whole = |setting: &'static str, allowed: &'static str| -> Result<usize, QuantError> {
        match x.fract() == 0.0 && (0.0..=1e9).contains(&x) {
            true => Ok(x as usize),
            false => Err(QuantError::OutOfRange { setting, value: x, allowed }),
        }
    };
    let c = match c {
        Calibration::MinMax => c,
        Calibration::MovingAverageMinMax { batch, .. } => Calibration::MovingAverageMinMax { momentum: x as f32, batch },
        Calibration::Percentile { .. } => Calibration::Percentile { percentile: x as f32 },
        Calibration::RemovalOutlier { .. } => Calibration::RemovalOutlier { ratio: x as f32 },
        Calibration::Kl { .. } => Calibration::Kl { bins: whole("KL bins", kl::ALLOWED_BINS)? },
        Calibration::Mse { .. } => Calibration::Mse { steps: whole("MSE steps", mse::ALLOWED_STEPS)? },
    };
    c.validate()?;
    Ok(c)
}

/// Whether a link (with or without its `#`) is too long to be read at all: defaults are shown.
pub fn too_long(hash: &str) -> bool {
    hash.strip_prefix('#').unwrap_or(hash).len() > MAX_HASH_LEN
}

impl TensorSettings {
    /// The hash for these settings, starting with `#`.
    pub fn to_hash(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        // Parsed once for every key that writes it (`shape` and `x`).
        let typed = linked_tensor(&self.text);
        for f in TENSOR_FIELDS {
            if let Some(v) = (f.write)(self, typed.as_ref()) {
                query.append_pair(f.key, &v);
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
        if too_long(hash) {
            notices.push(format!("The link is longer than {MAX_HASH_LEN} characters; defaults are shown."));
            return (s, notices);
        }
        let (path, query) = hash.split_once('?').unwrap_or((hash, ""));
        if path != "/tensor" && path != "/" && !path.is_empty() {
            notices.push(format!("Unknown page \"{}\" in the link; showing the Tensor page.", clip(path)));
        }
        // Keys are applied in the table's order, whatever their order in the link,
        // so `axis` before `gran` (or `shape` before `gen`) reads the same.
        notices.extend(crate::share::escape_notices(query));
        let total = form_urlencoded::parse(query.as_bytes()).count();
        if total > MAX_KEYS {
            notices.push(format!("The link has {total} keys, more than the limit of {MAX_KEYS}; the keys after the first {MAX_KEYS} were ignored."));
        }
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).take(MAX_KEYS).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let mut seen = std::collections::HashSet::new();
        let mut twice = std::collections::HashSet::new();
        // Each unknown key named once ("&&=&==" has the empty key three times).
        let mut unknown = std::collections::HashSet::new();
        for (key, _) in &pairs {
            if !TENSOR_FIELDS.iter().any(|f| f.key == key) && key != "hide" && key != "lock" {
                if unknown.insert(key.as_str()) {
                    notices.push(format!("Ignored unknown key \"{}\" in the link.", clip(key)));
                }
            } else if !seen.insert(key.as_str()) && twice.insert(key.as_str()) && key != "hide" && key != "lock" {
                notices.push(format!("The key \"{}\" is given more than once in the link: the last value that reads counts.", clip(key)));
            }
        }
        let mut shapes = Vec::new();
        let mut have_x = false;
        for f in TENSOR_FIELDS {
            for (_, value) in pairs.iter().filter(|(k, _)| k == f.key) {
                match (f.read)(&mut s, value) {
                    Err(why) => {
                        let what = if f.key == "x" { "the tensor".to_string() } else { format!("{} \"{}\"", f.key, clip(value)) };
                        notices.push(format!("Ignored {what} in the link: {why}."));
                    }
                    Ok(()) if f.key == "shape" => shapes.push(value),
                    Ok(()) if f.key == "x" => have_x = true,
                    Ok(()) => {}
                }
            }
        }
        // A valid shape without a generator shapes the typed tensor x (the last one counts).
        if let (None, Some(v)) = (s.generator, shapes.last()) {
            let applied = if have_x { shape_text(&mut s, v) } else { Err("a shape needs gen=… or the tensor x=…".into()) };
            if let Err(why) = applied {
                notices.push(format!("Ignored shape \"{}\" in the link: {why}.", clip(v)));
            }
        }
        (s, notices)
    }
}

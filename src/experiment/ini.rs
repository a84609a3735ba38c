//! MindSpore Lite's post-training quantization config (the converter's INI
//! file) read as an [`Experiment`]. The sections and keys are the ones the
//! MindSpore Lite documentation lists; a key qplay does not know is an error
//! that names it.
//!
//! | section / key | becomes |
//! | --- | --- |
//! | `[common_quant_param]` `quant_type` = WEIGHT_QUANT / FULL_QUANT / DYNAMIC_QUANT | `ptq.mode` = weight_only / full / dynamic |
//! | `bit_num` = 1–16 | `ptq.weight_bits` (and `act_bits` for full / dynamic); 0 → task `mixed_bit` |
//! | `min_quant_weight_size`, `min_quant_weight_channel` | weight quantization skips layers with at most that many weights / output channels |
//! | `skip_quant_node` = a,b | `ptq.skip` |
//! | `debug_info_save_path` | where `qplay run` writes its reports |
//! | `enable_encode` | accepted (qplay does not entropy-code weights; sizes are of the packed integers) |
//! | `[weight_quant_param]` `per_channel`, `bias_correction` | `ptq.granularity`, `ptq.bias_correction` (weight quantization) |
//! | `dequant_strategy` = ON_THE_FLY | accepted: weight-only layers are dequantized on the fly |
//! | `[mixed_bit_weight_quant_param]` `init_scale`, `auto_tune` | `mixed_bit.init_scale`, `mixed_bit.auto_tune` |
//! | `[full_quant_param]` `activation_quant_method` = MAX_MIN / KL / REMOVAL_OUTLIER | `ptq.act_calibration` |
//! | `bias_correction`, `per_channel` | as above (full quantization) |
//! | `target_device` | accepted with a note: qplay runs the universal kernels |
//! | `[dynamic_quant_param]` `quant_strategy` = ALWC / ACWL | `ptq.dynamic_strategy` |
//! | `[data_preprocess_param]` `calibrate_size` | `calib_size` (the other keys describe files and preprocessing qplay does not need) |

use ini::Ini;

use super::spec::{Experiment, Task};
use crate::model::Model;
use crate::ptq::config::{field_error, ConfigError};
use crate::ptq::{quantizable_layers, QuantMode, WeightGranularity};
use crate::quant::calibration::{Calibration, CalibrationKind};
use crate::ptq::config::DynamicMode;

/// What an INI file says beyond the experiment itself.
#[derive(Clone, Debug, PartialEq)]
pub struct IniConfig {
    pub experiment: Experiment,
    /// Weight quantization skips layers with at most this many weights.
    pub min_quant_weight_size: usize,
    /// Weight quantization skips layers with at most this many output channels.
    pub min_quant_weight_channel: usize,
    pub debug_info_save_path: Option<String>,
    /// What qplay accepted but does not act on.
    pub notes: Vec<String>,
}

const DATA_KEYS_IGNORED: [&str; 11] = [
    "calibrate_path",
    "input_type",
    "image_to_format",
    "normalize_mean",
    "normalize_std",
    "resize_width",
    "resize_height",
    "resize_method",
    "center_crop_width",
    "center_crop_height",
    "calibrate_file",
];

fn err(section: &str, key: &str, message: impl Into<String>) -> ConfigError {
    field_error(format!("[{section}] {key}"), message)
}

fn boolean(section: &str, key: &str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(err(section, key, format!("\"{v}\" is not true or false"))),
    }
}

fn number<T: std::str::FromStr>(section: &str, key: &str, v: &str) -> Result<T, ConfigError> {
    v.trim().parse().map_err(|_| err(section, key, format!("\"{v}\" is not a valid number")))
}

/// Parses the INI text. Model and dataset are not part of MindSpore Lite's config: they keep
/// `base`'s values (the CLI's `--model`).
pub fn from_ini(text: &str, base: Experiment) -> Result<IniConfig, ConfigError> {
    let ini = Ini::load_from_str(text).map_err(|e| field_error("ini", e.to_string()))?;
    let mut e = base;
    let mut cfg = IniConfig { experiment: Experiment::default(), min_quant_weight_size: 0, min_quant_weight_channel: 16, debug_info_save_path: None, notes: Vec::new() };
    let mut quant_type = None;
    let mut bit_num: Option<u8> = None;
    // Settings shared by [weight_quant_param] and [full_quant_param], applied once the type is known.
    let (mut weight_per_channel, mut weight_bc, mut full_per_channel, mut full_bc) = (None, None, None, None);
    // A key given twice is refused (as Python's configparser does), not read as its last value.
    let mut seen = std::collections::HashSet::new();
    let mut seen_sections = std::collections::HashSet::new();
    let sections: Vec<&str> = ini.sections().flatten().collect();
    for (section, props) in ini.iter() {
        let Some(section) = section else {
            if let Some((k, _)) = props.iter().next() {
                return Err(field_error(k, "keys must sit in a section such as [common_quant_param]"));
            }
            continue;
        };
        for (key, v) in props.iter() {
            if !seen.insert((section, key)) {
                return Err(err(section, key, "given more than once: give each setting once"));
            }
            match (section, key) {
                ("common_quant_param", "quant_type") => {
                    quant_type = Some(match v.trim() {
                        "WEIGHT_QUANT" => QuantMode::WeightOnly,
                        "FULL_QUANT" => QuantMode::Full,
                        "DYNAMIC_QUANT" => QuantMode::Dynamic,
                        _ => return Err(err(section, key, format!("\"{v}\": use WEIGHT_QUANT, FULL_QUANT or DYNAMIC_QUANT"))),
                    })
                }
                ("common_quant_param", "bit_num") => {
                    let b: u8 = number(section, key, v)?;
                    if b > 16 {
                        return Err(err(section, key, format!("{b} is outside 0–16")));
                    }
                    bit_num = Some(b);
                }
                ("common_quant_param", "min_quant_weight_size") => cfg.min_quant_weight_size = number(section, key, v)?,
                ("common_quant_param", "min_quant_weight_channel") => cfg.min_quant_weight_channel = number(section, key, v)?,
                ("common_quant_param", "skip_quant_node") => {
                    e.ptq.skip = v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
                }
                ("common_quant_param", "debug_info_save_path") => cfg.debug_info_save_path = Some(v.trim().to_string()),
                ("common_quant_param", "enable_encode") => {
                    boolean(section, key, v)?;
                    cfg.notes.push("enable_encode: qplay does not entropy-code weights; sizes are of the packed integers".into());
                }
                ("weight_quant_param", "dequant_strategy") => {
                    if v.trim() != "ON_THE_FLY" {
                        return Err(err(section, key, format!("\"{v}\": the only strategy is ON_THE_FLY")));
                    }
                }
                ("weight_quant_param", "per_channel") => weight_per_channel = Some(boolean(section, key, v)?),
                ("weight_quant_param", "bias_correction") => weight_bc = Some(boolean(section, key, v)?),
                ("mixed_bit_weight_quant_param", "init_scale") => e.mixed_bit.init_scale = number(section, key, v)?,
                ("mixed_bit_weight_quant_param", "auto_tune") => e.mixed_bit.auto_tune = boolean(section, key, v)?,
                ("full_quant_param", "activation_quant_method") => {
                    let kind = match v.trim() {
                        "MAX_MIN" => CalibrationKind::MinMax,
                        "KL" => CalibrationKind::Kl,
                        "REMOVAL_OUTLIER" | "RemovalOutlier" => CalibrationKind::RemovalOutlier,
                        _ => return Err(err(section, key, format!("\"{v}\": use MAX_MIN, KL or REMOVAL_OUTLIER"))),
                    };
                    e.ptq.act_calibration = Calibration::default_for(kind);
                }
                ("full_quant_param", "bias_correction") => full_bc = Some(boolean(section, key, v)?),
                ("full_quant_param", "per_channel") => full_per_channel = Some(boolean(section, key, v)?),
                ("full_quant_param", "target_device") => {
                    cfg.notes.push(format!("target_device={}: qplay runs its own universal kernels", v.trim()));
                }
                ("dynamic_quant_param", "quant_strategy") => {
                    e.ptq.dynamic_strategy = match v.trim() {
                        "ALWC" => DynamicMode::Alwc,
                        "ACWL" => DynamicMode::Acwl,
                        _ => return Err(err(section, key, format!("\"{v}\": use ALWC or ACWL"))),
                    }
                }
                ("data_preprocess_param", "calibrate_size") => e.calib_size = number(section, key, v)?,
                ("data_preprocess_param", k) if DATA_KEYS_IGNORED.contains(&k) => {
                    cfg.notes.push(format!("{k}: qplay calibrates on the embedded dataset's training images"));
                }
                (
                    "common_quant_param" | "weight_quant_param" | "mixed_bit_weight_quant_param" | "full_quant_param" | "dynamic_quant_param"
                    | "data_preprocess_param",
                    _,
                ) => return Err(err(section, key, "unsupported key")),
                // The converter's other sections (its Ascend options): not quantization, read by no one here.
                ("ascend_context" | "acl_option_cfg_param" | "micro_param" | "cpu_option_cfg_param" | "registry", _) => {
                    if seen_sections.insert(section) {
                        cfg.notes.push(format!("[{section}]: converter options for a device, not quantization: ignored"));
                    }
                }
                _ => return Err(field_error(format!("[{section}]"), "unsupported section")),
            }
        }
    }
    let mode = quant_type.ok_or_else(|| err("common_quant_param", "quant_type", "is required"))?;
    e.ptq.mode = mode;
    let bits = bit_num.unwrap_or(8);
    // What MindSpore Lite would refuse or never read, said rather than silently run.
    let type_name = match mode {
        QuantMode::WeightOnly => "WEIGHT_QUANT",
        QuantMode::Full => "FULL_QUANT",
        QuantMode::Dynamic => "DYNAMIC_QUANT",
    };
    for (section, read_under) in [
        ("weight_quant_param", mode == QuantMode::WeightOnly),
        ("mixed_bit_weight_quant_param", mode == QuantMode::WeightOnly && bits == 0),
        ("full_quant_param", mode == QuantMode::Full),
        ("dynamic_quant_param", mode == QuantMode::Dynamic),
    ] {
        if sections.contains(&section) && !read_under {
            let when = if section == "mixed_bit_weight_quant_param" { "only with WEIGHT_QUANT and bit_num=0" } else { "under another quant_type" };
            cfg.notes.push(format!("[{section}] is not read under quant_type={type_name} (it is read {when}): its keys were ignored"));
        }
    }
    if mode == QuantMode::Full && !sections.contains(&"data_preprocess_param") {
        cfg.notes.push(
            "[data_preprocess_param] is missing: MindSpore Lite's full quantization requires it (calibrate_path, calibrate_size, input_type); qplay calibrates on the embedded dataset's training images".into(),
        );
    }
    if mode != QuantMode::WeightOnly && bits != 8 && bits != 0 {
        cfg.notes.push(format!(
            "bit_num={bits}: MindSpore Lite's {type_name} supports 8 bits only; qplay runs W{bits}A{bits}, simulated where no integer kernel takes it"
        ));
    }
    match (mode, bits) {
        (QuantMode::WeightOnly, 0) => e.task = Task::MixedBit,
        (QuantMode::WeightOnly, b) => e.ptq.weight_bits = b,
        (_, 0) => return Err(err("common_quant_param", "bit_num", "0 (mixed bit) is for WEIGHT_QUANT only")),
        (_, b) => {
            e.ptq.weight_bits = b;
            e.ptq.act_bits = b;
        }
    }
    let (pc, bc) = match mode {
        QuantMode::WeightOnly => (weight_per_channel, weight_bc),
        _ => (full_per_channel, full_bc),
    };
    // MindSpore Lite's defaults: per_channel = true; bias_correction = true in [weight_quant_param]
    // and in [full_quant_param] (its tables give True for both); dynamic quantization has none.
    e.ptq.granularity = if pc.unwrap_or(true) { WeightGranularity::PerChannel } else { WeightGranularity::PerTensor };
    e.ptq.bias_correction = bc.unwrap_or(mode != QuantMode::Dynamic);
    e.validate()?;
    cfg.experiment = e;
    Ok(cfg)
}

impl IniConfig {
    /// Weight quantization's thresholds: layers with at most `min_quant_weight_size` weights or
    /// `min_quant_weight_channel` output channels join the skip list. Returns the layers added.
    pub fn apply_thresholds(&mut self, model: &Model) -> Vec<String> {
        let mut added = Vec::new();
        if self.experiment.ptq.mode != QuantMode::WeightOnly {
            return added;
        }
        for (i, name) in quantizable_layers(model) {
            let (w, _, out, _) = model.layers[i].kind.weight().expect("quantizable layers have weights");
            if (w.len() <= self.min_quant_weight_size || out <= self.min_quant_weight_channel) && !self.experiment.ptq.skip.contains(&name) {
                self.experiment.ptq.skip.push(name.clone());
                added.push(name);
            }
        }
        added
    }
}

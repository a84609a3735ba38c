//! What post-training quantization does to a model: the mode, the bits, the
//! granularity, the calibration, the skip list and the two corrections.
//!
//! The modes follow MindSpore Lite's `quant_type` and Golden Stick's configs:
//!
//! | mode          | weights                         | activations                                  |
//! | ------------- | ------------------------------- | -------------------------------------------- |
//! | `weight_only` | b-bit integers, dequantized     | float (the seeds' W8A16 / W4A16 RTN)          |
//! | `full`        | b-bit integers                  | static: one (s, Z) per tensor from calibration |
//! | `dynamic`     | int8, per channel (ALWC) or per layer (ACWL) | from each batch's own range, per layer (ALWC) or per channel (ACWL) |

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::quant::calibration::Calibration;
use crate::quant::scheme::{MAX_BITS, MIN_BITS};
use crate::quant::{Method, Rounding, Scheme};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuantMode {
    WeightOnly,
    Full,
    Dynamic,
}

impl QuantMode {
    pub const ALL: [QuantMode; 3] = [QuantMode::WeightOnly, QuantMode::Full, QuantMode::Dynamic];

    pub fn name(self) -> &'static str {
        match self {
            QuantMode::WeightOnly => "weight_only",
            QuantMode::Full => "full",
            QuantMode::Dynamic => "dynamic",
        }
    }

    pub fn from_name(name: &str) -> Option<QuantMode> {
        QuantMode::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// Dynamic mode's strategy (MindSpore Lite's `[dynamic_quant_param] quant_strategy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DynamicMode {
    /// Activation per layer (one (s, Z) per batch), weight per channel: runs on the int8 GEMM.
    Alwc,
    /// Activation per channel (one (s, Z) per input feature over the batch), weight per layer:
    /// the activation scale varies along the summed axis, so no integer GEMM can take it out.
    Acwl,
}

impl DynamicMode {
    /// MindSpore Lite's name.
    pub fn name(self) -> &'static str {
        match self {
            DynamicMode::Alwc => "ALWC",
            DynamicMode::Acwl => "ACWL",
        }
    }
}

/// Which weights share one (scale, zero point). Weights are viewed as
/// [out, fan_in] (a Conv2d's [oc, ic, k, k] as [oc, ic·k·k]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum WeightGranularity {
    /// One pair for the whole weight (MindSpore Lite's `per_channel=false`).
    PerTensor,
    /// One pair per output channel (row).
    PerChannel,
    /// One pair per block of `group_size` consecutive inputs of a row (group-wise, as in W4A16 LLM
    /// quantization). A layer whose fan-in is not a multiple of it falls back to per-channel, with a note.
    PerGroup { group_size: usize },
}

impl WeightGranularity {
    pub fn name(self) -> &'static str {
        match self {
            WeightGranularity::PerTensor => "per_tensor",
            WeightGranularity::PerChannel => "per_channel",
            WeightGranularity::PerGroup { .. } => "per_group",
        }
    }
}

/// Everything that decides how a model is quantized.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PtqConfig {
    pub mode: QuantMode,
    /// Weight bits, 1–16, for every layer not in `layer_bits`.
    pub weight_bits: u8,
    /// Per-layer weight bits by layer name (a mixed-bit selection).
    pub layer_bits: BTreeMap<String, u8>,
    /// Activation bits, 1–16 (full and dynamic modes).
    pub act_bits: u8,
    pub granularity: WeightGranularity,
    /// Symmetric weights: Z = 0, s = max|w| / ((qmax − qmin) / 2), as integer kernels want.
    pub weight_symmetric: bool,
    /// Symmetric weights on the narrow range, without the lowest level (int8: [−127, 127], int4:
    /// [−7, 7]), as TFLite does; off (the default, as ONNX Runtime's `quantize_static`): the full
    /// range (int8: [−128, 127], int4: [−8, 7]), one level more, which matters at low bits.
    /// Ignored for asymmetric weights and at 1 bit.
    pub narrow_range: bool,
    /// The lab's method for weights and activations.
    pub method: Method,
    pub rounding: Rounding,
    /// How the weights' ranges are chosen (MinMax for RTN).
    pub weight_calibration: Calibration,
    /// How the activations' ranges are chosen from the calibration set (full mode).
    pub act_calibration: Calibration,
    /// Dynamic mode's strategy: ALWC (activation per layer, weight per channel) or ACWL.
    pub dynamic_strategy: DynamicMode,
    /// Layers left in FP32, by name (`skip_quant_node`, `opname_blacklist`).
    pub skip: Vec<String>,
    /// Add each layer's mean output error on the calibration set back to its bias (MindSpore Lite).
    pub bias_correction: bool,
    /// SmoothQuant's migration strength α ∈ [0, 1]: s_j = max|X_j|^α / max|W_j|^(1−α).
    pub smooth_quant: Option<f32>,
}

impl Default for PtqConfig {
    /// Full W8A8, per-channel symmetric weights, MinMax: the lab's PTQ with per-channel weights.
    fn default() -> PtqConfig {
        PtqConfig {
            mode: QuantMode::Full,
            weight_bits: 8,
            layer_bits: BTreeMap::new(),
            act_bits: 8,
            granularity: WeightGranularity::PerChannel,
            weight_symmetric: true,
            narrow_range: false,
            method: Method::Normal,
            rounding: Rounding::HalfEven,
            weight_calibration: Calibration::MinMax,
            act_calibration: Calibration::MinMax,
            dynamic_strategy: DynamicMode::Alwc,
            skip: Vec::new(),
            bias_correction: false,
            smooth_quant: None,
        }
    }
}

/// An invalid setting, named by its field.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigError {
    /// The field's name as it is written in TOML, a share link or the CLI (e.g. `weight_bits`).
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ConfigError {}

pub fn field_error(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError { field: field.into(), message: message.into() }
}

fn check_bits(field: &str, bits: u8) -> Result<(), ConfigError> {
    if !(MIN_BITS..=MAX_BITS).contains(&bits) {
        return Err(field_error(field, format!("{bits} bits is outside 1–16")));
    }
    Ok(())
}

impl PtqConfig {
    /// Checks every setting on its own; [`PtqConfig::validate_for`] also checks layer names.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_bits("weight_bits", self.weight_bits)?;
        check_bits("act_bits", self.act_bits)?;
        for (name, &b) in &self.layer_bits {
            check_bits(&format!("layer_bits.{name}"), b)?;
        }
        if let WeightGranularity::PerGroup { group_size: 0 } = self.granularity {
            return Err(field_error("granularity.group_size", "0 is below 1, the smallest group"));
        }
        self.weight_calibration.validate().map_err(|e| field_error("weight_calibration", e.to_string()))?;
        self.act_calibration.validate().map_err(|e| field_error("act_calibration", e.to_string()))?;
        if let Some(a) = self.smooth_quant {
            if !(0.0..=1.0).contains(&a) {
                return Err(field_error("smooth_quant", format!("α = {a} is outside [0, 1]")));
            }
        }
        for s in [self.weight_scheme(self.weight_bits), self.act_scheme()] {
            s.validate().map_err(|e| field_error("weight_bits", e.to_string()))?;
        }
        Ok(())
    }

    /// Whether quantizing reads the calibration images: full (static) quantization calibrates
    /// the activations' ranges on them, bias correction measures each layer's mean output error
    /// on them, SmoothQuant their channels' ranges (under full and dynamic quantization).
    /// Weight-only and dynamic PTQ without these read none.
    pub fn reads_calibration(&self) -> bool {
        self.mode == QuantMode::Full || self.bias_correction || (self.smooth_quant.is_some() && self.mode == QuantMode::Dynamic)
    }

    /// Also checks that every layer named in `skip` and `layer_bits` is one of `quantizable`.
    pub fn validate_for(&self, quantizable: &[String]) -> Result<(), ConfigError> {
        self.validate()?;
        let known = |n: &String| quantizable.iter().any(|q| q == n);
        let list = quantizable.join(", ");
        if let Some(n) = self.skip.iter().find(|n| !known(n)) {
            return Err(field_error("skip", format!("no quantizable layer is named \"{n}\" (the layers are: {list})")));
        }
        if let Some(n) = self.layer_bits.keys().find(|n| !known(n)) {
            return Err(field_error("layer_bits", format!("no quantizable layer is named \"{n}\" (the layers are: {list})")));
        }
        Ok(())
    }

    /// The weight bits of a layer.
    pub fn bits_of(&self, layer: &str) -> u8 {
        self.layer_bits.get(layer).copied().unwrap_or(self.weight_bits)
    }

    /// The scheme of a weight at `bits`: signed; symmetric when `weight_symmetric`, on the narrow
    /// range when also `narrow_range` (at 1 bit the narrow range would leave a single level, so
    /// 1-bit keeps the full range {−1, 0}).
    pub fn weight_scheme(&self, bits: u8) -> Scheme {
        Scheme {
            bits,
            signed: true,
            symmetric: self.weight_symmetric,
            narrow_range: self.weight_symmetric && self.narrow_range && bits > 1,
            method: self.method,
            rounding: self.rounding,
        }
    }

    /// The scheme of an activation: signed, asymmetric (as in the lab).
    pub fn act_scheme(&self) -> Scheme {
        Scheme { bits: self.act_bits, signed: true, symmetric: false, narrow_range: false, method: self.method, rounding: self.rounding }
    }
}

//! Calibrating and quantizing a model: from an FP32 [`Model`], a [`PtqConfig`]
//! and a calibration batch to a [`QuantModel`].
//!
//! 1. Run the FP32 model on the calibration batch; keep the input of every layer to quantize.
//! 2. Per layer: SmoothQuant's factors (if on), the weights quantized at the layer's bits and
//!    granularity, the input's (s, Z) calibrated on its FP32 values (full mode), and the bias
//!    correction (if on).
//!
//! [`Flow::AllAtOnce`] calibrates every layer on FP32 activations, in one pass: the lab's "all
//! layers at the same time". [`Flow::Sequential`] calibrates layer i on the output of the model
//! whose layers before i are already quantized, so each range sees the error upstream of it.
//! [`Scope::Only`] quantizes one layer and leaves the rest in FP32: the lab's "layer by layer",
//! where each layer's error is seen alone.

use super::config::{field_error, ConfigError, DynamicMode, PtqConfig, QuantMode, WeightGranularity};
use super::qmodel::{channel_of, quantize_input, ActParams, InputQuant, QuantLayer, QuantModel};
use crate::model::forward::{layer_forward, Fp32Runner};
use crate::model::outline::WeightOutline;
use crate::model::{Layer, LayerKind, Model, ModelError, ModelOutline, Shape};
use crate::quant::calibration::calibrate;
use crate::quant::granularity::{quantize_granular, Granularity};
use crate::quant::{QParams, QuantError};
use crate::runtime::gemm_f32::PackedWf32;

/// Where each layer's activation range is calibrated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    /// On the FP32 model's activations (one pass).
    AllAtOnce,
    /// On the activations of the model with the layers before it already quantized.
    Sequential,
}

/// Which layers a build quantizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every Linear / Conv2d not in the skip list.
    All,
    /// Only the layer at this index (the others stay FP32).
    Only(usize),
}

#[derive(Clone, Debug, PartialEq)]
pub enum PtqError {
    Config(ConfigError),
    Model(ModelError),
    /// Quantizing a layer's weight or input failed.
    Layer { layer: String, error: QuantError },
}

impl std::fmt::Display for PtqError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PtqError::Config(e) => write!(f, "{e}"),
            PtqError::Model(e) => write!(f, "{e}"),
            PtqError::Layer { layer, error } => write!(f, "layer {layer}: {error}"),
        }
    }
}

impl std::error::Error for PtqError {}

impl From<ConfigError> for PtqError {
    fn from(e: ConfigError) -> PtqError {
        PtqError::Config(e)
    }
}

impl From<ModelError> for PtqError {
    fn from(e: ModelError) -> PtqError {
        PtqError::Model(e)
    }
}

/// A quantized model and notes on what the build had to decide (fallbacks).
pub struct Quantization {
    pub model: QuantModel,
    pub notes: Vec<String>,
}

/// The Linear and Conv2d layers of a model: (index, name).
pub fn quantizable_layers(model: &Model) -> Vec<(usize, String)> {
    model
        .layers
        .iter()
        .enumerate()
        .filter(|(_, l)| matches!(l.kind, LayerKind::Linear(_) | LayerKind::Conv2d(_)))
        .map(|(i, l)| (i, l.name.clone()))
        .collect()
}

/// Quantizes `model` under `cfg`, calibrating on `calib` ([N, input] floats), all at once.
pub fn quantize_model(model: &Model, cfg: &PtqConfig, calib: &[f32], scope: Scope) -> Result<Quantization, PtqError> {
    quantize_model_with(model, cfg, calib, scope, Flow::AllAtOnce)
}

/// Quantizes `model` with the calibration `flow` of choice.
pub fn quantize_model_with(model: &Model, cfg: &PtqConfig, calib: &[f32], scope: Scope, flow: Flow) -> Result<Quantization, PtqError> {
    build(model, cfg, calib, scope, flow, &[])
}

/// [`quantize_model`] with static activation ranges given, as quantization-aware training learns
/// them (PyTorch's convert keeps its observers' ranges rather than calibrating anew): `ranges[i]`
/// is the range of layer i's input, `ranges[model.layers.len()]` the output's; a missing one, or
/// the input of a smoothed layer (whose range is of x / s), is calibrated as usual.
pub fn quantize_model_with_ranges(model: &Model, cfg: &PtqConfig, calib: &[f32], ranges: &[Option<(f32, f32)>]) -> Result<Quantization, PtqError> {
    build(model, cfg, calib, Scope::All, Flow::AllAtOnce, ranges)
}

fn build(model: &Model, cfg: &PtqConfig, calib: &[f32], scope: Scope, flow: Flow, ranges: &[Option<(f32, f32)>]) -> Result<Quantization, PtqError> {
    let given = |i: usize| ranges.get(i).copied().flatten().filter(|(a, b)| a.is_finite() && b.is_finite() && a <= b);
    let quantizable = quantizable_layers(model);
    let names: Vec<String> = quantizable.iter().map(|(_, n)| n.clone()).collect();
    cfg.validate_for(&names)?;
    let sample = model.input.len();
    if calib.is_empty() {
        return Err(field_error("calib_size", "the calibration set is empty: it needs at least one sample").into());
    }
    if !calib.len().is_multiple_of(sample) {
        return Err(ModelError::BatchLength { expected_multiple_of: sample, found: calib.len() }.into());
    }
    if let Some(i) = calib.iter().position(|v| !v.is_finite()) {
        return Err(PtqError::Layer { layer: "calibration data".into(), error: QuantError::NonFinite { index: i, value: calib[i] } });
    }
    let batch = calib.len() / sample;
    // The calibration set runs through the model at once: its working memory is checked first.
    crate::model::working_bytes(&model.layers, &model.shapes, batch, crate::model::MAX_CALIB_WORKING_BYTES)?;
    let chosen: Vec<usize> = quantizable
        .into_iter()
        .filter(|(i, n)| !cfg.skip.contains(n) && matches!(scope, Scope::All) || scope == Scope::Only(*i))
        .map(|(i, _)| i)
        .collect();
    if let Scope::Only(i) = scope {
        if !chosen.contains(&i) {
            return Err(field_error("layer", format!("layer #{i} is not a Linear or Conv2d")).into());
        }
    }

    // 1. FP32 inputs of the chosen layers, and the FP32 output.
    let runner = Fp32Runner::new(model.clone());
    let mut inputs: Vec<Option<Vec<f32>>> = vec![None; model.layers.len()];
    let mut logits = Vec::new();
    let last = model.layers.len() - 1;
    runner.run_hooked(
        calib,
        &mut |i, _, x| {
            if chosen.contains(&i) {
                inputs[i] = Some(x.to_vec());
            }
        },
        &mut |i, y| {
            if i == last {
                logits = y.to_vec();
            }
        },
    )?;

    let mut notes = Vec::new();
    let mut layers: Vec<Option<QuantLayer>> = vec![None; model.layers.len()];
    for &i in &chosen {
        let layer = &model.layers[i];
        let (w, b, out, fan_in) = layer.kind.weight().expect("chosen layers are Linear or Conv2d");
        let x = match flow {
            Flow::AllAtOnce => inputs[i].take().expect("recorded above"),
            // The input of layer i in the model quantized so far.
            Flow::Sequential if i == 0 => calib.to_vec(),
            Flow::Sequential => {
                let partial = QuantModel::new(model.clone(), layers.clone(), None)?;
                let mut x = Vec::new();
                partial.run(calib, &mut |j, y| {
                    if j + 1 == i {
                        x = y.to_vec();
                    }
                })?;
                x
            }
        };
        let in_shape = model.shapes[i];
        let err = |error: QuantError| PtqError::Layer { layer: layer.name.clone(), error };

        // SmoothQuant: s_j = max|X_j|^α / max|W_:,j|^(1−α); w′[:, j] = w[:, j]·s_j, x̃_j = x_j / s_j.
        let smooth = match (cfg.smooth_quant, cfg.mode) {
            (Some(alpha), QuantMode::Full | QuantMode::Dynamic) => Some(smooth_factors(&x, in_shape, w, out, fan_in, alpha)),
            _ => None,
        };
        let mut w_eff = w.to_vec();
        if let Some(s) = &smooth {
            let per_channel = fan_in / s.len(); // k·k taps per input channel (1 for Linear)
            for (idx, v) in w_eff.iter_mut().enumerate() {
                *v *= s[(idx % fan_in) / per_channel];
            }
        }

        // Weights.
        let bits = cfg.bits_of(&layer.name);
        let scheme = cfg.weight_scheme(bits);
        let wanted = match cfg.mode {
            QuantMode::Dynamic => match cfg.dynamic_strategy {
                DynamicMode::Alwc => WeightGranularity::PerChannel,
                DynamicMode::Acwl => WeightGranularity::PerTensor,
            },
            _ => cfg.granularity,
        };
        let granularity = match wanted {
            WeightGranularity::PerTensor => Granularity::PerTensor,
            WeightGranularity::PerChannel => Granularity::PerChannel { axis: 0 },
            WeightGranularity::PerGroup { group_size } if fan_in.is_multiple_of(group_size) => Granularity::PerGroup { axis: 1, group_size },
            WeightGranularity::PerGroup { group_size } => {
                notes.push(format!(
                    "{}: per_group fell back to per_channel: the group size {group_size} does not divide its {fan_in} inputs per output",
                    layer.name
                ));
                Granularity::PerChannel { axis: 0 }
            }
        };
        let weight = quantize_granular(&w_eff, &[out, fan_in], &scheme, granularity, &cfg.weight_calibration).map_err(err)?;
        if weight.dequant.iter().all(|&v| v == 0.0) && w_eff.iter().any(|&w| w != 0.0) {
            // Symmetric 1-bit: the levels {−1, 0} with s = 2·max|w| put every |w/s| ≤ 0.5, which rounds to 0.
            let why = if scheme.symmetric && bits == 1 {
                ": a symmetric 1-bit grid has the levels −1 and 0 with a step of 2·max|w|, so every |w| / s ≤ 0.5 rounds to 0 \
                 (use an asymmetric grid, or 2 bits or more)"
            } else {
                ""
            };
            let plural = if bits == 1 { "" } else { "s" };
            notes.push(format!("{}: every weight was quantized to zero at {bits} bit{plural}{why}", layer.name));
        }

        // The input.
        let act_scheme = cfg.act_scheme();
        let input = match cfg.mode {
            QuantMode::WeightOnly => InputQuant::Float,
            QuantMode::Dynamic => InputQuant::Dynamic { strategy: cfg.dynamic_strategy, scheme: act_scheme },
            QuantMode::Full => {
                let mut xs = x.clone();
                if let Some(s) = &smooth {
                    let (channels, plane) = channel_of(in_shape);
                    for (idx, v) in xs.iter_mut().enumerate() {
                        *v /= s[(idx / plane) % channels];
                    }
                }
                let (a, bb) = match given(i).filter(|_| smooth.is_none()) {
                    Some(r) => r,
                    None => calibrate(&xs, &act_scheme, &cfg.act_calibration).map_err(err)?,
                };
                let (params, _) = QParams::from_range(a, bb, &act_scheme).map_err(err)?;
                InputQuant::Static(ActParams { params, scheme: act_scheme })
            }
        };

        let mut ql = QuantLayer {
            index: i,
            name: layer.name.clone(),
            weight,
            weight_shape: layer.kind.weight_shape(),
            bias: b.to_vec(),
            bias_delta: vec![0.0; out],
            input,
            smooth,
        };
        if cfg.bias_correction {
            // Δ[o] = mean over samples and positions of (y_fp32 − y_q), on this layer alone.
            let delta = bias_delta(model, i, &ql, &x, batch)?;
            for ((bq, d), dst) in ql.bias.iter_mut().zip(&delta).zip(&mut ql.bias_delta) {
                *bq += d;
                *dst = *d;
            }
        }
        layers[i] = Some(ql);
    }

    // The output (full mode), when the last layer is quantized.
    let output = match (cfg.mode, layers[last].is_some()) {
        (QuantMode::Full, true) => {
            if flow == Flow::Sequential {
                logits = QuantModel::new(model.clone(), layers.clone(), None)?.forward(calib)?;
            }
            let s = cfg.act_scheme();
            let err = |error| PtqError::Layer { layer: format!("{} (output)", model.layers[last].name), error };
            let (a, b) = match given(model.layers.len()) {
                Some(r) => r,
                None => calibrate(&logits, &s, &cfg.act_calibration).map_err(err)?,
            };
            let (params, _) = QParams::from_range(a, b, &s).map_err(err)?;
            Some(ActParams { params, scheme: s })
        }
        _ => None,
    };
    Ok(Quantization { model: QuantModel::new(model.clone(), layers, output)?, notes })
}

/// SmoothQuant's per-input-channel factors for a layer with inputs x ([B, shape]) and weight
/// [out, fan_in]: s_j = max|X_j|^α / max|W_:,j|^(1−α), 1 where either maximum is 0, kept in [1e−5, 1e5].
fn smooth_factors(x: &[f32], shape: Shape, w: &[f32], out: usize, fan_in: usize, alpha: f32) -> Vec<f32> {
    let (channels, plane) = channel_of(shape);
    let mut x_max = vec![0f32; channels];
    for (idx, v) in x.iter().enumerate() {
        let j = (idx / plane) % channels;
        x_max[j] = x_max[j].max(v.abs());
    }
    let per_channel = fan_in / channels;
    let mut w_max = vec![0f32; channels];
    for o in 0..out {
        for (t, v) in w[o * fan_in..(o + 1) * fan_in].iter().enumerate() {
            let j = t / per_channel;
            w_max[j] = w_max[j].max(v.abs());
        }
    }
    x_max
        .iter()
        .zip(&w_max)
        .map(|(&xm, &wm)| if xm > 0.0 && wm > 0.0 { (xm.powf(alpha) / wm.powf(1.0 - alpha)).clamp(1e-5, 1e5) } else { 1.0 })
        .collect()
}

/// The bias correction of layer i: Δ[o] = mean(y_fp32[o] − y_q[o]) over the calibration batch and
/// every output position, where y_fp32 = layer(x; w, b) and y_q = layer(x̂; ŵ, b).
fn bias_delta(model: &Model, i: usize, ql: &QuantLayer, x: &[f32], batch: usize) -> Result<Vec<f32>, PtqError> {
    let layer = &model.layers[i];
    let (inp, outp) = (model.shapes[i], model.shapes[i + 1]);
    let (w, _, out, fan_in) = layer.kind.weight().expect("a Linear or Conv2d");
    let run = |l: &Layer, wv: &[f32], xin: &[f32]| {
        let packed = PackedWf32::pack(wv, out, fan_in);
        let mut y = Vec::new();
        layer_forward(l, Some(&packed), inp, outp, batch, xin, &mut y);
        y
    };
    let y_fp = run(layer, w, x);
    let mut xq = x.to_vec();
    quantize_input(ql, inp, batch, &mut xq);
    let y_q = run(layer, &ql.weight.dequant, &xq);
    let (_, plane) = channel_of(outp);
    let mut sum = vec![0f64; out];
    for (idx, (a, b)) in y_fp.iter().zip(&y_q).enumerate() {
        sum[(idx / plane) % out] += (*a - *b) as f64;
    }
    let count = (batch * plane) as f64;
    Ok(sum.iter().map(|s| (s / count) as f32).collect())
}

/// The size in bytes each layer will have under `cfg`, without quantizing: `Some` for a layer
/// that will be quantized ([`crate::ptq::qmodel::QuantLayer::bytes`] of the result), `None` for
/// one that stays FP32 (skipped, or without weights). Used for the layer table before a run; it
/// needs only the architecture ([`ModelOutline::of`] the model).
pub fn planned_bytes(model: &ModelOutline, cfg: &PtqConfig) -> Vec<Option<usize>> {
    use super::qmodel::LayerSize;
    model
        .layers
        .iter()
        .enumerate()
        .map(|(i, layer)| {
            let WeightOutline { weights, biases, out, fan_in } = layer.weight?;
            if cfg.skip.contains(&layer.name) {
                return None;
            }
            let wanted = match cfg.mode {
                QuantMode::Dynamic => match cfg.dynamic_strategy {
                    DynamicMode::Alwc => WeightGranularity::PerChannel,
                    DynamicMode::Acwl => WeightGranularity::PerTensor,
                },
                _ => cfg.granularity,
            };
            let slices = match wanted {
                WeightGranularity::PerTensor => 1,
                WeightGranularity::PerChannel => out,
                WeightGranularity::PerGroup { group_size } if group_size > 0 && fan_in.is_multiple_of(group_size) => out * (fan_in / group_size),
                WeightGranularity::PerGroup { .. } => out,
            };
            let smooth = match (cfg.smooth_quant, cfg.mode) {
                (Some(_), QuantMode::Full | QuantMode::Dynamic) => channel_of(model.shapes[i]).0,
                _ => 0,
            };
            Some(
                LayerSize {
                    weights,
                    bits: cfg.bits_of(&layer.name),
                    slices,
                    symmetric: cfg.weight_symmetric,
                    bias: biases,
                    smooth,
                    static_act_bits: (cfg.mode == QuantMode::Full).then_some(cfg.act_bits),
                }
                .bytes(),
            )
        })
        .collect()
}

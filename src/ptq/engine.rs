//! Which engine runs each quantized layer, decided once, here: [`executable`] turns a model and a
//! [`PtqConfig`] into an [`ExecModel`] whose every quantized layer carries its [`Engine`].
//!
//! | mode                  | engine                                                         |
//! | --------------------- | -------------------------------------------------------------- |
//! | full (static)         | the integer-only int8 network ([`crate::runtime::int8_model`]) when the whole model fits it, else the simulation |
//! | dynamic ALWC          | the int8 GEMM with per-batch activation (s, Z) ([`crate::runtime::dynamic`]) |
//! | dynamic ACWL          | the simulation: a per-channel activation scale varies along the summed axis |
//! | weight-only, 1/2/4/8 bits | 8/4 bits on [`crate::runtime::qmatmul`]'s kernels, 2/1 bits packed and dequantized row by row; float activations ([`crate::runtime::weight_only`]) |
//! | any other bit width   | the simulation (fake-quant on the f32 GEMM)                    |
//!
//! Every fall-back to the simulation carries a typed [`FallbackReason`]. The kernels take the
//! integers and (s, Z) that [`super::build`] chose, so a kernel run differs from the simulation
//! only in rounding: the integer requantization of the static engine (at most one step per
//! value), float summation order elsewhere.

use serde::{Deserialize, Serialize};

use super::build::{quantize_model, PtqError, Quantization, Scope};
use super::config::{DynamicMode, PtqConfig};
use super::int8::int8_engine;
use super::qmodel::{smooth_input, InputQuant, QuantLayer, QuantModel};
use crate::data::Dataset;
use crate::model::{argmax_rows, LayerKind, Model, ModelError, Shape};
use crate::quant::{kernels, Granularity, QuantError};
use crate::runtime::dynamic::DynamicLayer;
use crate::runtime::int8_model::{Int8ChainError, Int8Mlp, Int8Scratch};
use crate::runtime::qconv::ConvGeometry;
use crate::runtime::weight_only::{PackedIntWeights, WeightOnlyLayer, PACKABLE_BITS};

/// Why a quantized layer runs in the simulation rather than on a kernel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum FallbackReason {
    /// No kernel multiplies these widths: the int8 kernels take weights of at most 8 bits and
    /// signed 8-bit activations; weight-only packs 1, 2, 4 or 8 bits. `act_bits` is `None` for
    /// float activations.
    BitsWithoutKernel { layer: String, weight_bits: u8, act_bits: Option<u8> },
    /// ACWL: one activation (s, Z) per input channel; a scale that varies along the summed axis
    /// cannot be taken out of an integer dot product.
    PerChannelActivations { layer: String },
    /// The int8 GEMMs fold the activation zero point into the bias, which needs weights with Z = 0.
    AsymmetricWeights { layer: String },
    /// The int8 GEMMs take one weight scale per output channel, not one per group.
    PerGroupWeights { layer: String, group_size: usize },
    /// A weight layout no kernel reads (a per-channel axis other than the output).
    WeightLayout { layer: String },
    /// SmoothQuant's per-channel input division has no place in an integer-only network.
    SmoothQuantStatic { layer: String },
    /// The layer's int32 accumulator could overflow for some input: the result would wrap.
    Accumulator { layer: String, channel: usize, bound: String, fan_in: usize },
    /// The integer-only network keeps every tensor int8: a layer left in FP32 breaks it.
    LayerSkipped { layer: String },
    /// The integer-only network needs the model's output quantized.
    OutputNotQuantized,
    /// The model ends in Softmax, whose probabilities stay float: the integer-only network would
    /// need its logits quantized.
    EndsInSoftmax,
    /// An average pool between quantized layers: the int8 chain requantizes the values to the
    /// next layer's input grid (calibrated on the averages) before averaging them, so it would
    /// clip and round where the model averages first.
    AveragePool { layer: String },
    /// A ReLU or pooling before the first quantized layer would run on floats.
    OpBeforeFirstQuantizedLayer { layer: String },
    /// The tensor a layer reads would be quantized with two different (s, Z).
    InputRequantized { layer: String },
    /// The integer-only network runs Linear, Conv2d, pooling, ReLU and Flatten only.
    UnsupportedLayer { layer: String, kind: String },
    /// The model has no Linear or Conv2d layer.
    NoWeightedLayer,
    /// A Conv2d or pooling layer that reads a flat tensor.
    FlatTensor { layer: String },
    /// A padded Conv2d whose input zero point lies outside int8: the padding's real 0 has no
    /// int8 value, so the integer convolution cannot pad with it.
    PaddingZeroPoint { layer: String, zero_point: i32 },
}

impl FallbackReason {
    /// The layer the reason is about, if it is about one (three are about the whole model).
    pub fn layer(&self) -> Option<&str> {
        use FallbackReason::*;
        match self {
            BitsWithoutKernel { layer, .. }
            | PerChannelActivations { layer }
            | AsymmetricWeights { layer }
            | PerGroupWeights { layer, .. }
            | WeightLayout { layer }
            | SmoothQuantStatic { layer }
            | Accumulator { layer, .. }
            | LayerSkipped { layer }
            | AveragePool { layer }
            | OpBeforeFirstQuantizedLayer { layer }
            | InputRequantized { layer }
            | UnsupportedLayer { layer, .. }
            | FlatTensor { layer }
            | PaddingZeroPoint { layer, .. } => Some(layer),
            OutputNotQuantized | EndsInSoftmax | NoWeightedLayer => None,
        }
    }
}

impl std::fmt::Display for FallbackReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use FallbackReason::*;
        match self {
            BitsWithoutKernel { layer, weight_bits, act_bits: Some(a) } => write!(
                f,
                "layer {layer}: no kernel for W{weight_bits}A{a} (the int8 kernels take weights of at most 8 bits and signed 8-bit activations)"
            ),
            BitsWithoutKernel { layer, weight_bits, act_bits: None } => {
                write!(f, "layer {layer}: no weight-only kernel for {weight_bits}-bit weights (they pack 1, 2, 4 or 8 bits to a byte)")
            }
            PerChannelActivations { layer } => write!(
                f,
                "layer {layer}: ACWL gives each input channel its own activation scale, which varies along the summed axis, so no integer GEMM takes it"
            ),
            AsymmetricWeights { layer } => write!(f, "layer {layer}: the int8 kernels need symmetric weights (zero point 0)"),
            PerGroupWeights { layer, group_size } => {
                write!(f, "layer {layer}: the int8 kernels take one weight scale per output channel, not one per group of {group_size}")
            }
            WeightLayout { layer } => write!(f, "layer {layer}: no kernel reads weights quantized along their input axis"),
            SmoothQuantStatic { layer } => write!(f, "layer {layer}: SmoothQuant's per-channel input scaling runs in the simulation only"),
            Accumulator { layer, channel, bound, fan_in } => write!(
                f,
                "layer {layer}: output channel {channel}'s int32 accumulator could reach {bound} (fan-in {fan_in}), more than 2^31 − 1"
            ),
            LayerSkipped { layer } => write!(f, "layer {layer} is not quantized (skipped), so the model cannot stay in int8 throughout"),
            OutputNotQuantized => f.write_str("the model's output is not quantized"),
            EndsInSoftmax => f.write_str(
                "the model ends in Softmax, whose probabilities stay float, and the integer-only network needs quantized logits \
                 (the same model without its final Softmax, which changes no prediction, runs on it)",
            ),
            AveragePool { layer } => write!(
                f,
                "layer {layer} averages: the integer-only network would round and clip the values to the next layer's input grid \
                 (calibrated on the averages) before averaging them"
            ),
            OpBeforeFirstQuantizedLayer { layer } => write!(f, "layer {layer} comes before the first quantized layer"),
            InputRequantized { layer } => write!(f, "layer {layer}'s input is quantized twice"),
            UnsupportedLayer { layer, kind } => {
                write!(f, "layer {layer} is a {kind}; the integer engine runs Linear, Conv2d, pooling, ReLU and Flatten layers")
            }
            NoWeightedLayer => f.write_str("the model has no Linear or Conv2d layer"),
            FlatTensor { layer } => write!(f, "layer {layer} reads a flat tensor"),
            PaddingZeroPoint { layer, zero_point } => write!(
                f,
                "layer {layer}: its input's zero point {zero_point} lies outside int8, so its padding (a real 0) has no int8 value"
            ),
        }
    }
}

/// What runs a quantized layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Engine {
    /// The integer-only network: int8 in, int8 out, TFLite's requantization.
    Int8Static,
    /// The int8 GEMM with the activation's (s, Z) from each batch (ALWC).
    Int8Dynamic,
    /// `bits`-bit integer weights, float activations ([`crate::runtime::weight_only`]).
    WeightOnly { bits: u8 },
    /// Fake-quant values on the f32 GEMM.
    Simulated { reason: FallbackReason },
}

impl Engine {
    /// A short name: "int8", "int8 dynamic", "weight-only W4", "simulated".
    pub fn name(&self) -> String {
        match self {
            Engine::Int8Static => "int8".into(),
            Engine::Int8Dynamic => "int8 dynamic".into(),
            Engine::WeightOnly { bits } => format!("weight-only W{bits}"),
            Engine::Simulated { .. } => "simulated".into(),
        }
    }

    pub fn reason(&self) -> Option<&FallbackReason> {
        match self {
            Engine::Simulated { reason } => Some(reason),
            _ => None,
        }
    }
}

/// Building or running an executable model failed.
#[derive(Clone, Debug, PartialEq)]
pub enum EngineError {
    /// No kernel runs this model (what [`int8_engine`] says; [`executable`] simulates instead).
    NoKernel(FallbackReason),
    /// Quantizing the model failed.
    Ptq(PtqError),
    /// The integer layers do not chain.
    Chain(Int8ChainError),
    /// A kernel rejected a layer's parameters or input.
    Kernel { layer: String, error: QuantError },
    Model(ModelError),
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineError::NoKernel(r) => write!(f, "{r}"),
            EngineError::Ptq(e) => write!(f, "{e}"),
            EngineError::Chain(e) => write!(f, "int8 engine: {e}"),
            EngineError::Kernel { layer, error } => write!(f, "layer {layer}: {error}"),
            EngineError::Model(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for EngineError {}

impl From<FallbackReason> for EngineError {
    fn from(r: FallbackReason) -> EngineError {
        EngineError::NoKernel(r)
    }
}

impl From<PtqError> for EngineError {
    fn from(e: PtqError) -> EngineError {
        EngineError::Ptq(e)
    }
}

impl From<ModelError> for EngineError {
    fn from(e: ModelError) -> EngineError {
        EngineError::Model(e)
    }
}

/// A kernel for one layer that runs on float tensors.
enum LayerKernel {
    Dynamic(DynamicLayer),
    WeightOnly(WeightOnlyLayer),
}

enum Runner {
    /// The whole model in int8.
    Int8(Box<Int8Mlp>),
    /// Layer by layer on float tensors: `Some` layers on their kernel, the rest as the
    /// simulation runs them (FP32 layers in FP32).
    Layers(Vec<Option<LayerKernel>>),
    /// Every quantized layer simulated.
    Simulation,
}

/// A quantized model, ready to run on the engines chosen for it.
pub struct ExecModel {
    /// The quantized model (its simulation is the reference the kernels are checked against).
    pub quant: QuantModel,
    /// What the build decided (fall-backs of the granularity).
    pub notes: Vec<String>,
    /// One entry per model layer: the engine of each quantized layer, `None` for the others.
    pub engines: Vec<Option<Engine>>,
    runner: Runner,
}

/// Images per pass of [`ExecModel::predict`] on float runners.
pub const PREDICT_BATCH: usize = 500;

/// Quantizes `model` under `cfg` (calibrating on `calib`, [N, input] floats, all at once) and
/// chooses the engine of every quantized layer.
pub fn executable(model: &Model, cfg: &PtqConfig, calib: &[f32]) -> Result<ExecModel, EngineError> {
    ExecModel::new(quantize_model(model, cfg, calib, Scope::All)?)
}

impl ExecModel {
    /// Chooses the engine of every layer of an already quantized model.
    pub fn new(q: Quantization) -> Result<ExecModel, EngineError> {
        let Quantization { model: quant, notes } = q;
        let quantized: Vec<&QuantLayer> = quant.quantized().collect();
        let is_static = quantized.iter().any(|ql| matches!(ql.input, InputQuant::Static(_)));
        let mut engines: Vec<Option<Engine>> = vec![None; quant.layers.len()];
        let runner = if is_static {
            // Static layers only run inside the integer-only network, all of them or none.
            let (engine, runner) = match int8_engine(&quant) {
                Ok(net) => (Engine::Int8Static, Runner::Int8(Box::new(net))),
                Err(EngineError::NoKernel(reason)) => (Engine::Simulated { reason }, Runner::Simulation),
                Err(e) => return Err(e),
            };
            for ql in &quantized {
                engines[ql.index] = Some(engine.clone());
            }
            runner
        } else {
            let mut kernels: Vec<Option<LayerKernel>> = (0..quant.layers.len()).map(|_| None).collect();
            for ql in &quantized {
                match layer_kernel(&quant, ql)? {
                    Ok((engine, kernel)) => {
                        engines[ql.index] = Some(engine);
                        kernels[ql.index] = Some(kernel);
                    }
                    Err(reason) => engines[ql.index] = Some(Engine::Simulated { reason }),
                }
            }
            if kernels.iter().any(Option::is_some) { Runner::Layers(kernels) } else { Runner::Simulation }
        };
        Ok(ExecModel { quant, notes, engines, runner })
    }

    /// Whether any layer runs on a kernel (else [`ExecModel::predict`] is the simulation's).
    pub fn on_kernels(&self) -> bool {
        !matches!(self.runner, Runner::Simulation)
    }

    /// The engine of every quantized layer, in model order: (layer index, engine).
    pub fn layer_engines(&self) -> impl Iterator<Item = (usize, &Engine)> {
        self.engines.iter().enumerate().filter_map(|(i, e)| e.as_ref().map(|e| (i, e)))
    }

    /// Predicted classes of a dataset's images on the chosen engines.
    pub fn predict(&self, data: &Dataset) -> Result<Vec<u8>, EngineError> {
        let model_input = self.quant.fp32.input.len();
        if data.image_len() != model_input {
            return Err(ModelError::BatchLength { expected_multiple_of: model_input, found: data.image_len() }.into());
        }
        if let Runner::Int8(net) = &self.runner {
            return Ok(net.predict(&data.pixels, &mut Int8Scratch::default()));
        }
        let classes = self.quant.fp32.output().len();
        let mut pred = Vec::with_capacity(data.len());
        for start in (0..data.len()).step_by(PREDICT_BATCH) {
            let n = PREDICT_BATCH.min(data.len() - start);
            pred.extend(argmax_rows(&self.forward(&data.images_f32(start, n))?, classes));
        }
        Ok(pred)
    }

    /// The output for a float batch x: [B, input] → [B, output], on the float runners (the
    /// integer-only network reads pixels: see [`ExecModel::predict`]; here it is simulated).
    pub fn forward(&self, x: &[f32]) -> Result<Vec<f32>, EngineError> {
        let Runner::Layers(kernels) = &self.runner else { return Ok(self.quant.forward(x)?) };
        let model = &self.quant.fp32;
        let sample = model.input.len();
        if !x.len().is_multiple_of(sample) {
            return Err(ModelError::BatchLength { expected_multiple_of: sample, found: x.len() }.into());
        }
        let batch = x.len() / sample;
        let mut cur = x.to_vec();
        let mut next = Vec::new();
        for (i, kernel) in kernels.iter().enumerate() {
            match (kernel, &self.quant.layers[i]) {
                (Some(k), Some(ql)) => {
                    smooth_input(ql, model.shapes[i], &mut cur);
                    let err = |error| EngineError::Kernel { layer: ql.name.clone(), error };
                    next = match k {
                        LayerKernel::Dynamic(d) => d.forward(&cur, batch).map_err(err)?,
                        LayerKernel::WeightOnly(w) => w.forward(&cur, batch).map_err(err)?,
                    };
                }
                _ => self.quant.forward_layer(i, batch, &mut cur, &mut next),
            }
            std::mem::swap(&mut cur, &mut next);
        }
        if let Some(a) = self.quant.output {
            let y = cur.clone();
            kernels::fake_quant(&y, &a.params, a.scheme.rounding, 0, &mut cur);
        }
        Ok(cur)
    }
}

/// The kernel of a dynamic or weight-only layer, or why it has none. The outer error is a
/// kernel rejecting parameters it should take.
#[allow(clippy::type_complexity)]
fn layer_kernel(qm: &QuantModel, ql: &QuantLayer) -> Result<Result<(Engine, LayerKernel), FallbackReason>, EngineError> {
    let layer = ql.name.clone();
    let (n, k) = (ql.weight_shape[0], ql.weight.q.len() / ql.weight_shape[0].max(1));
    let conv = match (&qm.fp32.layers[ql.index].kind, qm.fp32.shapes[ql.index]) {
        (LayerKind::Conv2d(c), Shape::Chw(_, in_h, in_w)) => {
            Some(ConvGeometry { in_channels: c.in_channels, out_channels: c.out_channels, kernel: c.kernel, stride: c.stride, padding: c.padding, in_h, in_w })
        }
        (LayerKind::Conv2d(_), Shape::Flat(_)) => return Ok(Err(FallbackReason::FlatTensor { layer })),
        _ => None,
    };
    let kernel_err = |error| EngineError::Kernel { layer: ql.name.clone(), error };
    let bits = ql.bits();
    match ql.input {
        InputQuant::Static(_) => Ok(Err(FallbackReason::UnsupportedLayer { layer, kind: "static layer outside the int8 network".into() })),
        InputQuant::Dynamic { strategy: DynamicMode::Acwl, .. } => Ok(Err(FallbackReason::PerChannelActivations { layer })),
        InputQuant::Dynamic { strategy: DynamicMode::Alwc, scheme } => {
            if scheme.bits != 8 || !scheme.signed || bits > 8 {
                return Ok(Err(FallbackReason::BitsWithoutKernel { layer, weight_bits: bits, act_bits: Some(scheme.bits) }));
            }
            if ql.weight.slices.iter().any(|s| s.params.zero_point != 0) {
                return Ok(Err(FallbackReason::AsymmetricWeights { layer }));
            }
            let scales: Vec<f32> = match ql.weight.layout.granularity {
                Granularity::PerTensor | Granularity::PerChannel { axis: 0 } => ql.weight.slices.iter().map(|s| s.params.scale).collect(),
                Granularity::PerGroup { group_size, .. } => return Ok(Err(FallbackReason::PerGroupWeights { layer, group_size })),
                Granularity::PerChannel { .. } => return Ok(Err(FallbackReason::WeightLayout { layer })),
            };
            let w: Vec<i8> = ql.weight.q.iter().map(|&v| v as i8).collect();
            let d = DynamicLayer::new(&w, n, k, &scales, &ql.bias, scheme, conv).map_err(kernel_err)?;
            Ok(Ok((Engine::Int8Dynamic, LayerKernel::Dynamic(d))))
        }
        InputQuant::Float => {
            if !PACKABLE_BITS.contains(&bits) {
                return Ok(Err(FallbackReason::BitsWithoutKernel { layer, weight_bits: bits, act_bits: None }));
            }
            let group = match ql.weight.layout.granularity {
                Granularity::PerTensor | Granularity::PerChannel { axis: 0 } => k,
                Granularity::PerGroup { axis: 1, group_size } => group_size,
                _ => return Ok(Err(FallbackReason::WeightLayout { layer })),
            };
            // The (s, Z) of pair [o, g]: the parameters of its first value.
            let pairs: Vec<_> = (0..n).flat_map(|o| (0..k / group.max(1)).map(move |g| o * k + g * group)).map(|flat| *ql.weight.params_of(flat)).collect();
            let scales: Vec<f32> = pairs.iter().map(|p| p.scale).collect();
            let zero_points: Vec<i32> = pairs.iter().map(|p| p.zero_point).collect();
            let packed = PackedIntWeights::from_quantized(&ql.weight.q, n, k, bits, group, &scales, &zero_points).map_err(kernel_err)?;
            let w = WeightOnlyLayer::new(packed, &ql.bias, conv).map_err(kernel_err)?;
            Ok(Ok((Engine::WeightOnly { bits }, LayerKernel::WeightOnly(w))))
        }
    }
}

//! The integer-only engine for a quantized model: when a [`QuantModel`] is one
//! that int8 kernels can run (static W8A8, symmetric weights per tensor or per
//! channel; Linear, Conv2d, pooling, ReLU, Flatten), its parameters become [`QLinear`]
//! and [`QConv2d`] layers with TFLite's requantization, pooling runs on int8 values
//! ([`QPool2d`]), and inference is int8 × int8 → int32 on the SIMD GEMM.
//!
//! The same (s, Z) as the simulation are used everywhere, so the two differ
//! only where TFLite's integer requantization rounds differently from float
//! fake-quantization (by at most one step per value).
//!
//! Every layer is proved, at build time, to keep its accumulator inside int32
//! ([`QLinear::try_new`]); a layer that cannot (a large bias, a huge fan-in) makes the
//! whole model fall back to the simulation with [`FallbackReason::Accumulator`], which
//! the report shows: never a wrapped, silently wrong integer result.

use super::engine::{EngineError, FallbackReason};
use super::qmodel::{ActParams, InputQuant, QuantModel};
use crate::model::{LayerKind, Shape};
use crate::quant::kernels;
use crate::runtime::int8_model::{Int8Mlp, Int8Op};
use crate::runtime::qconv::{ConvGeometry, QConv2d, QConvSpec};
use crate::runtime::qlinear::{AccumulatorOverflow, QLinear, QLinearSpec};

/// The reason for a layer whose accumulator could leave int32.
fn accumulator(layer: &str, o: AccumulatorOverflow) -> EngineError {
    FallbackReason::Accumulator { layer: layer.into(), channel: o.channel, bound: o.bound.to_string(), fan_in: o.k }.into()
}
use crate::runtime::qpool::{PoolKind, QPool2d};

/// Why the model's output has no (s, Z): a final Softmax keeps it float, else it is not quantized.
fn output_reason(qm: &QuantModel) -> FallbackReason {
    match qm.fp32.layers.last().map(|l| &l.kind) {
        Some(LayerKind::Softmax) => FallbackReason::EndsInSoftmax,
        _ => FallbackReason::OutputNotQuantized,
    }
}

/// The static (s, Z) of the tensor a weighted layer at `from` or after it reads, or of the
/// model's output when none follows: what the layers between must produce.
fn next_static_input(qm: &QuantModel, from: usize) -> Result<ActParams, EngineError> {
    let layers = &qm.fp32.layers;
    let next = layers.iter().enumerate().skip(from).find(|(_, l)| matches!(l.kind, LayerKind::Linear(_) | LayerKind::Conv2d(_)));
    let y = match next {
        Some((j, _)) => match qm.layers[j].as_ref().map(|q| q.input) {
            Some(InputQuant::Static(a)) => a,
            _ => return Err(FallbackReason::LayerSkipped { layer: layers[j].name.clone() }.into()),
        },
        None => qm.output.ok_or_else(|| output_reason(qm))?,
    };
    if y.scheme.bits != 8 || !y.scheme.signed {
        let (layer, weight_bits) = match next {
            Some((j, _)) => (layers[j].name.clone(), qm.layers[j].as_ref().map_or(0, |q| q.bits())),
            None => (format!("{} (output)", layers.last().map_or("", |l| l.name.as_str())), 8),
        };
        return Err(FallbackReason::BitsWithoutKernel { layer, weight_bits, act_bits: Some(y.scheme.bits) }.into());
    }
    Ok(y)
}

/// Builds the integer engine, or says why this model cannot run on it
/// ([`EngineError::NoKernel`] with the reason; another error is a bug in the layers built).
///
/// Each Linear / Conv2d becomes a [`QLinear`] / [`QConv2d`] with the ReLU after it fused, its
/// output requantized straight to the (s, Z) of the next weighted layer's input (or the model's
/// output); pooling and Flatten between them run on those int8 values ([`QPool2d`]), and a ReLU
/// no layer could fuse clamps at Z.
pub fn int8_engine(qm: &QuantModel) -> Result<Int8Mlp, EngineError> {
    let layers = &qm.fp32.layers;
    let mut out = Vec::new();
    let mut input_lut = None;
    // The (s, Z) of the int8 tensor between layers, once the first weighted layer has run.
    let mut current: Option<ActParams> = None;
    let mut i = 0;
    while i < layers.len() {
        match &layers[i].kind {
            LayerKind::Flatten => i += 1,
            LayerKind::Softmax if i + 1 == layers.len() => i += 1, // argmax is the same without it
            LayerKind::Relu => {
                let a = current.ok_or_else(|| FallbackReason::OpBeforeFirstQuantizedLayer { layer: layers[i].name.clone() })?;
                out.push(Int8Op::Relu { zero_point: a.params.zero_point.clamp(-128, 127) as i8 });
                i += 1;
            }
            // Requantized before the average, an average pool's int8 values would round and clip
            // on the grid of the averages (a max pool commutes with that rounding; an average does not).
            LayerKind::AvgPool2d(_) => return Err(FallbackReason::AveragePool { layer: layers[i].name.clone() }.into()),
            LayerKind::MaxPool2d(p) => {
                current.ok_or_else(|| FallbackReason::OpBeforeFirstQuantizedLayer { layer: layers[i].name.clone() })?;
                let Shape::Chw(channels, in_h, in_w) = qm.fp32.shapes[i] else {
                    return Err(FallbackReason::FlatTensor { layer: layers[i].name.clone() }.into());
                };
                out.push(Int8Op::Pool(QPool2d { kind: PoolKind::Max, channels, in_h, in_w, kernel: p.kernel, stride: p.stride }));
                i += 1;
            }
            LayerKind::Linear(_) | LayerKind::Conv2d(_) => {
                let layer = || layers[i].name.clone();
                let ql = qm.layers[i].as_ref().ok_or_else(|| FallbackReason::LayerSkipped { layer: layer() })?;
                let InputQuant::Static(x) = ql.input else {
                    return Err(FallbackReason::UnsupportedLayer { layer: layer(), kind: "layer without a static input".into() }.into());
                };
                if x.scheme.bits != 8 || !x.scheme.signed || ql.bits() > 8 {
                    return Err(FallbackReason::BitsWithoutKernel { layer: layer(), weight_bits: ql.bits(), act_bits: Some(x.scheme.bits) }.into());
                }
                if !ql.weight.scheme.symmetric || ql.weight.slices.iter().any(|s| s.params.zero_point != 0) {
                    return Err(FallbackReason::AsymmetricWeights { layer: layer() }.into());
                }
                if ql.smooth.is_some() {
                    return Err(FallbackReason::SmoothQuantStatic { layer: layer() }.into());
                }
                let w_scales: Vec<f32> = match ql.weight.layout.granularity {
                    crate::quant::Granularity::PerTensor => vec![ql.weight.slices[0].params.scale],
                    crate::quant::Granularity::PerChannel { axis: 0 } => ql.weight.slices.iter().map(|s| s.params.scale).collect(),
                    crate::quant::Granularity::PerGroup { group_size, .. } => return Err(FallbackReason::PerGroupWeights { layer: layer(), group_size }.into()),
                    crate::quant::Granularity::PerChannel { .. } => return Err(FallbackReason::WeightLayout { layer: layer() }.into()),
                };
                let relu = matches!(layers.get(i + 1).map(|l| &l.kind), Some(LayerKind::Relu));
                let out_index = if relu { i + 1 } else { i };
                // The output's (s, Z): the next quantized layer's input, or the model's output.
                let y = next_static_input(qm, out_index + 1)?;
                match current {
                    None => {
                        // q of pixel p: the input p / 255 through the same kernel as the simulation.
                        let pixels: Vec<f32> = (0..256).map(|p| p as f32 * (1.0 / 255.0)).collect();
                        let mut q = vec![0i32; 256];
                        kernels::quantize(&pixels, &x.params, x.scheme.rounding, 0, &mut q);
                        input_lut = Some(std::array::from_fn(|p| q[p].clamp(-128, 127) as i8));
                    }
                    // What the layers before produced must be what this one reads.
                    Some(c) if c.params != x.params => return Err(FallbackReason::InputRequantized { layer: layer() }.into()),
                    Some(_) => {}
                }
                let w: Vec<i8> = ql.weight.q.iter().map(|&v| v.clamp(-128, 127) as i8).collect();
                let overflow = |o| accumulator(&layers[i].name, o);
                let op = match &layers[i].kind {
                    LayerKind::Linear(l) => Int8Op::Linear(
                        QLinear::try_new(&QLinearSpec {
                            w: &w,
                            n: l.out_features,
                            k: l.in_features,
                            w_scales: &w_scales,
                            bias: &ql.bias,
                            x_scale: x.params.scale,
                            x_zero_point: x.params.zero_point,
                            y_scale: y.params.scale,
                            y_zero_point: y.params.zero_point,
                            relu,
                        })
                        .map_err(overflow)?,
                    ),
                    LayerKind::Conv2d(c) => {
                        let Shape::Chw(_, in_h, in_w) = qm.fp32.shapes[i] else {
                            return Err(FallbackReason::FlatTensor { layer: layer() }.into());
                        };
                        if c.padding > 0 && !(-128..=127).contains(&x.params.zero_point) {
                            return Err(FallbackReason::PaddingZeroPoint { layer: layer(), zero_point: x.params.zero_point }.into());
                        }
                        let geometry = ConvGeometry { in_channels: c.in_channels, out_channels: c.out_channels, kernel: c.kernel, stride: c.stride, padding: c.padding, in_h, in_w };
                        Int8Op::Conv(
                            QConv2d::try_new(&QConvSpec {
                                geometry,
                                w: &w,
                                w_scales: &w_scales,
                                bias: &ql.bias,
                                x_scale: x.params.scale,
                                x_zero_point: x.params.zero_point,
                                y_scale: y.params.scale,
                                y_zero_point: y.params.zero_point,
                                relu,
                            })
                            .map_err(overflow)?,
                        )
                    }
                    _ => unreachable!("matched above"),
                };
                out.push(op);
                current = Some(y);
                i = out_index + 1;
            }
            other => return Err(FallbackReason::UnsupportedLayer { layer: layers[i].name.clone(), kind: other.name().into() }.into()),
        }
    }
    let output = qm.output.ok_or_else(|| output_reason(qm))?;
    let lut = input_lut.ok_or(FallbackReason::NoWeightedLayer)?;
    Int8Mlp::from_parts(out, lut, output.params.scale, output.params.zero_point).map_err(EngineError::Chain)
}

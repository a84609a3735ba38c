//! A quantized model ([`QuantModel`]) as ONNX in QDQ form: QuantizeLinear / DequantizeLinear
//! nodes around float operators, which ONNX Runtime loads, runs, and may fuse into integer kernels.
//! Opset [`QDQ_OPSET`].
//!
//! For each quantized Linear / Conv2d (qplay's fake-quant formulas on the left):
//!
//! ```text
//! x̃ = x / s_smooth[j]          → Div(x, s_smooth)          s_smooth: [F] or [C, 1, 1]   (SmoothQuant, if on)
//! x̂ = (clamp(round(x̃/s + Z), qmin, qmax) − Z)·s
//!                              → [Clip(x̃, (qmin − Z)·s, (qmax − Z)·s)] → QuantizeLinear(s, Z) → DequantizeLinear(s, Z)
//! ŵ = (q_w − Z_w)·s_w          → DequantizeLinear(q_w, s_w, Z_w)   q_w: an integer initializer
//!                                  per-tensor: s_w, Z_w scalars
//!                                  per-channel: s_w, Z_w [out], axis = 0
//!                                  per-group: s_w, Z_w [out, fan_in / g], axis = 1, block_size = g, on the
//!                                  weight as [out, fan_in] (a Conv2d's then Reshaped to [oc, ic, k, k])
//! y = layer(x̂; ŵ, b′)          → Gemm / Conv with b′ (float, after any bias correction)
//! ```
//!
//! and, when the model's output is quantized ([`QuantModel::output`]), the same Clip / Q / DQ on
//! the output. Layers left in FP32 are written as by [`super::write_onnx`].
//!
//! Integer types: the smallest of int8, uint8, int16, uint16 that holds [qmin, qmax] and every
//! zero point (so 1–8-bit grids use int8 / uint8 containers holding the grid's own values, 9–16
//! bits int16 / uint16); a grid narrower than its container is clamped first by a Clip to its float
//! clamp limits, so that QuantizeLinear's saturation gives exactly the narrower grid. A zero point
//! outside every container is an [`FormatError::Export`] error.
//!
//! Rounding: ONNX's QuantizeLinear computes `saturate(round(x / s) + Z)` rounding half to even,
//! qplay's default mode; qplay rounds x / s + Z (the lab's formula, REFERENCE.md). The two differ
//! at ties when Z is odd (x / s = 2.5, Z = 1: round(3.5) = 4 against round(2.5) + 1 = 3) and
//! where adding Z in f32 moves a near-tie onto a tie (x / s = 35.499996, Z = 50): about 1 to 4 in a
//! million values of a normal tensor. qplay's other modes (half away from zero,
//! floor, stochastic) are not representable and an activation that uses one is an
//! [`FormatError::Export`] error; weights are stored as integers, so their rounding is already done.
//!
//! Dynamic quantization (`InputQuant::Dynamic`) has no static activation parameters: its
//! activations stay float and only the weights are exported (weights-only QDQ), with a note.

use super::graph::{Attr, GraphBuilder, IntType};
use super::writer::emit_layer;
use super::{QDQ_IR_VERSION, QDQ_OPSET};
use crate::formats::FormatError;
use crate::model::{LayerKind, Shape};
use crate::ptq::{ActParams, InputQuant, QuantLayer, QuantModel};
use crate::quant::granularity::Granularity;
use crate::quant::Rounding;

/// The exported bytes, and notes on what the export had to decide.
pub struct QdqExport {
    pub bytes: Vec<u8>,
    pub notes: Vec<String>,
}

/// Writes a quantized model as QDQ ONNX (see the module header).
pub fn write_qdq_onnx(qm: &QuantModel) -> Result<QdqExport, FormatError> {
    let model = &qm.fp32;
    let mut g = GraphBuilder::default();
    let mut notes = Vec::new();
    let input = g.unique("input");
    let mut cur = input.clone();
    for (i, layer) in model.layers.iter().enumerate() {
        let shape_in = model.shapes[i];
        let Some(ql) = &qm.layers[i] else {
            cur = emit_layer(&mut g, layer, shape_in, &cur, None, None)?;
            continue;
        };
        let name = layer.name.as_str();
        let mut x = cur.clone();
        if let Some(s) = &ql.smooth {
            // x̃ = x / s, s broadcast along the features ([F]) or the channels ([C, 1, 1]).
            let dims: Vec<usize> = match shape_in {
                Shape::Flat(f) => vec![f],
                Shape::Chw(c, _, _) => vec![c, 1, 1],
            };
            if dims[0] != s.len() {
                return Err(FormatError::Export(format!("layer {name}: {} SmoothQuant factors for {shape_in}", s.len())));
            }
            let s = g.init_f32(&format!("{name}.smooth"), &dims, s);
            x = g.node("Div", &format!("{name}.smooth"), &[&x, &s], vec![]);
        }
        match ql.input {
            InputQuant::Float => {}
            InputQuant::Static(a) => x = act_qdq(&mut g, &x, &a, &format!("{name}.input"))?,
            InputQuant::Dynamic { .. } => {
                if notes.is_empty() {
                    notes.push(
                        "dynamic quantization takes each batch's own activation range, which has no static QDQ form: \
                         activations are left in float and only the weights are exported quantized (weights-only QDQ)"
                            .to_string(),
                    );
                }
            }
        }
        let w = weight_dq(&mut g, ql, layer)?;
        cur = emit_layer(&mut g, layer, shape_in, &x, Some(&w), Some(&ql.bias))?;
    }
    if let Some(a) = &qm.output {
        cur = act_qdq(&mut g, &cur, a, "output")?;
    }
    let doc = "Quantized model exported by qplay as QDQ: integer weights with DequantizeLinear, activations through QuantizeLinear/DequantizeLinear";
    let bytes = g.finish((&input, model.input), (&cur, model.output()), QDQ_OPSET, QDQ_IR_VERSION, doc);
    Ok(QdqExport { bytes, notes })
}

/// The container for integers in [lo, hi], or an export error naming `what`.
fn container(lo: i32, hi: i32, what: &str) -> Result<IntType, FormatError> {
    IntType::holding(lo, hi).ok_or_else(|| {
        FormatError::Export(format!("{what}: integers in [{lo}, {hi}] (with the zero point) fit no ONNX int8 / uint8 / int16 / uint16 type"))
    })
}

/// [Clip] → QuantizeLinear → DequantizeLinear of value `x` with static parameters `a`.
fn act_qdq(g: &mut GraphBuilder, x: &str, a: &ActParams, name: &str) -> Result<String, FormatError> {
    if a.scheme.rounding != Rounding::HalfEven {
        return Err(FormatError::Export(format!(
            "{name} rounds {}: ONNX QuantizeLinear only rounds half to even",
            a.scheme.rounding.name()
        )));
    }
    let p = &a.params;
    let ty = container(p.qmin.min(p.zero_point), p.qmax.max(p.zero_point), name)?;
    let mut x = x.to_string();
    if ty.range() != (p.qmin, p.qmax) {
        // The grid is narrower than its container: clamp to the grid's float limits first.
        let (lo, hi) = p.clamp_limits();
        let lo = g.init_f32(&format!("{name}.clip_min"), &[], &[lo]);
        let hi = g.init_f32(&format!("{name}.clip_max"), &[], &[hi]);
        x = g.node("Clip", &format!("{name}.clip"), &[&x, &lo, &hi], vec![]);
    }
    let s = g.init_f32(&format!("{name}.scale"), &[], &[p.scale]);
    let z = g.init_int(&format!("{name}.zero_point"), &[], ty, &[p.zero_point]);
    let q = g.node("QuantizeLinear", &format!("{name}.quantize"), &[&x, &s, &z], vec![]);
    Ok(g.node("DequantizeLinear", &format!("{name}.dequantize"), &[&q, &s, &z], vec![]))
}

/// The integer weight and its DequantizeLinear; returns the float weight value in the layer's
/// own shape.
fn weight_dq(g: &mut GraphBuilder, ql: &QuantLayer, layer: &crate::model::Layer) -> Result<String, FormatError> {
    let name = layer.name.as_str();
    let w = &ql.weight;
    let (qmin, qmax) = w.scheme.clamp_range();
    let zps: Vec<i32> = w.slices.iter().map(|s| s.params.zero_point).collect();
    let scales: Vec<f32> = w.slices.iter().map(|s| s.params.scale).collect();
    let lo = zps.iter().copied().fold(qmin, i32::min);
    let hi = zps.iter().copied().fold(qmax, i32::max);
    let ty = container(lo, hi, &format!("layer {name}'s weight"))?;
    let [out, fan_in] = w.layout.shape[..] else {
        return Err(FormatError::Export(format!("layer {name}: the weight is not viewed as [out, fan_in]")));
    };
    let is_conv = matches!(layer.kind, LayerKind::Conv2d(_));
    let weight_q = format!("{name}.weight_quantized");
    let dq_name = format!("{name}.weight.dequantize");
    let dq = match w.layout.granularity {
        Granularity::PerTensor => {
            let q = g.init_int(&weight_q, &ql.weight_shape, ty, &w.q);
            let s = g.init_f32(&format!("{name}.weight_scale"), &[], &scales);
            let z = g.init_int(&format!("{name}.weight_zero_point"), &[], ty, &zps);
            g.node("DequantizeLinear", &dq_name, &[&q, &s, &z], vec![])
        }
        Granularity::PerChannel { axis: 0 } => {
            let q = g.init_int(&weight_q, &ql.weight_shape, ty, &w.q);
            let s = g.init_f32(&format!("{name}.weight_scale"), &[out], &scales);
            let z = g.init_int(&format!("{name}.weight_zero_point"), &[out], ty, &zps);
            g.node("DequantizeLinear", &dq_name, &[&q, &s, &z], vec![("axis", Attr::Int(0))])
        }
        Granularity::PerGroup { axis: 1, group_size } => {
            // Blocks of `group_size` along the fan-in of the [out, fan_in] view.
            let groups = fan_in / group_size;
            let q = g.init_int(&weight_q, &[out, fan_in], ty, &w.q);
            let s = g.init_f32(&format!("{name}.weight_scale"), &[out, groups], &scales);
            let z = g.init_int(&format!("{name}.weight_zero_point"), &[out, groups], ty, &zps);
            let dq = g.node(
                "DequantizeLinear",
                &dq_name,
                &[&q, &s, &z],
                vec![("axis", Attr::Int(1)), ("block_size", Attr::Int(group_size as i64))],
            );
            if is_conv {
                let shape: Vec<i64> = ql.weight_shape.iter().map(|&d| d as i64).collect();
                let shape = g.init_i64(&format!("{name}.weight_shape"), &[shape.len()], &shape);
                g.node("Reshape", &format!("{name}.weight.reshape"), &[&dq, &shape], vec![])
            } else {
                dq
            }
        }
        other => return Err(FormatError::Export(format!("layer {name}: granularity {other:?} of the [out, fan_in] weight has no QDQ form"))),
    };
    Ok(dq)
}

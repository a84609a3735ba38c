//! An FP32 [`Model`] as an ONNX model: opset [`FP32_OPSET`], input `"input"` and output
//! `"output"` with a dynamic batch dimension `"N"`.
//!
//! ```text
//! Linear    → Gemm(x, W [out, in], b [out], transB = 1)         y = x · Wᵀ + b
//! Conv2d    → Conv(x, W [oc, ic, k, k], b [oc], kernel_shape = [k, k], strides = [s, s], pads = [p, p, p, p])
//! ReLU      → Relu          MaxPool2d / AvgPool2d → MaxPool / AveragePool (kernel_shape, strides, no padding)
//! Flatten   → Flatten(axis = 1)                 Softmax → Softmax(axis = −1) on [N, F]
//! ```
//!
//! Weights are `raw_data` initializers named `<layer>.weight` / `<layer>.bias` and nodes are named
//! after their layers, so [`super::read_onnx`] gives back the same model (same names, same weights
//! bit for bit, hence the same outputs bit for bit). A Softmax over an image ([C, H, W]) has no
//! opset-13 form (qplay's takes the whole sample) and is an [`FormatError::Export`] error.

use super::graph::{Attr, GraphBuilder};
use super::{FP32_IR_VERSION, FP32_OPSET};
use crate::formats::FormatError;
use crate::model::{Layer, LayerKind, Model, Shape};

/// Writes an FP32 model as ONNX.
pub fn write_onnx(model: &Model) -> Result<Vec<u8>, FormatError> {
    let mut g = GraphBuilder::default();
    let input = g.unique("input");
    let mut cur = input.clone();
    for (i, layer) in model.layers.iter().enumerate() {
        cur = emit_layer(&mut g, layer, model.shapes[i], &cur, None, None)?;
    }
    let doc = "FP32 model exported by qplay";
    Ok(g.finish((&input, model.input), (&cur, model.output()), FP32_OPSET, FP32_IR_VERSION, doc))
}

/// Emits one layer reading value `x` (per-sample shape `shape_in`); returns its output value.
/// `weight` replaces a Linear's / Conv2d's FP32 weight initializer by a value already in the
/// graph (the QDQ writer's dequantized weight), `bias` replaces its bias.
pub(super) fn emit_layer(
    g: &mut GraphBuilder,
    layer: &Layer,
    shape_in: Shape,
    x: &str,
    weight: Option<&str>,
    bias: Option<&[f32]>,
) -> Result<String, FormatError> {
    let name = layer.name.as_str();
    Ok(match &layer.kind {
        LayerKind::Linear(l) => {
            let w = match weight {
                Some(w) => w.to_string(),
                None => g.init_f32(&format!("{name}.weight"), &[l.out_features, l.in_features], &l.w),
            };
            let b = g.init_f32(&format!("{name}.bias"), &[l.out_features], bias.unwrap_or(&l.b));
            g.node("Gemm", name, &[x, &w, &b], vec![("transB", Attr::Int(1))])
        }
        LayerKind::Conv2d(c) => {
            let w = match weight {
                Some(w) => w.to_string(),
                None => g.init_f32(&format!("{name}.weight"), &[c.out_channels, c.in_channels, c.kernel, c.kernel], &c.w),
            };
            let b = g.init_f32(&format!("{name}.bias"), &[c.out_channels], bias.unwrap_or(&c.b));
            let (k, s, p) = (c.kernel as i64, c.stride as i64, c.padding as i64);
            g.node(
                "Conv",
                name,
                &[x, &w, &b],
                vec![
                    ("kernel_shape", Attr::Ints(vec![k, k])),
                    ("strides", Attr::Ints(vec![s, s])),
                    ("pads", Attr::Ints(vec![p, p, p, p])),
                    ("dilations", Attr::Ints(vec![1, 1])),
                    ("group", Attr::Int(1)),
                ],
            )
        }
        LayerKind::Relu => g.node("Relu", name, &[x], vec![]),
        LayerKind::MaxPool2d(p) | LayerKind::AvgPool2d(p) => {
            let op = if matches!(layer.kind, LayerKind::MaxPool2d(_)) { "MaxPool" } else { "AveragePool" };
            let (k, s) = (p.kernel as i64, p.stride as i64);
            g.node(op, name, &[x], vec![("kernel_shape", Attr::Ints(vec![k, k])), ("strides", Attr::Ints(vec![s, s]))])
        }
        LayerKind::Flatten => g.node("Flatten", name, &[x], vec![("axis", Attr::Int(1))]),
        LayerKind::Softmax => match shape_in {
            Shape::Flat(_) => g.node("Softmax", name, &[x], vec![("axis", Attr::Int(-1))]),
            Shape::Chw(..) => {
                return Err(FormatError::Export(format!(
                    "layer {name}: a Softmax over an image ({shape_in}) has no ONNX opset-{FP32_OPSET} form; add a Flatten before it"
                )))
            }
        },
        LayerKind::BatchNorm(bn) => {
            // Model::new folds every BatchNorm; kept for models assembled by hand.
            let n = [bn.gamma.len()];
            let inputs = [
                g.init_f32(&format!("{name}.weight"), &n, &bn.gamma),
                g.init_f32(&format!("{name}.bias"), &n, &bn.beta),
                g.init_f32(&format!("{name}.running_mean"), &n, &bn.mean),
                g.init_f32(&format!("{name}.running_var"), &n, &bn.var),
            ];
            g.node(
                "BatchNormalization",
                name,
                &[x, &inputs[0], &inputs[1], &inputs[2], &inputs[3]],
                vec![("epsilon", Attr::Float(bn.eps))],
            )
        }
    })
}

//! Layers and the shapes they take and give.
//!
//! Shapes are per sample (the batch dimension B is implicit):
//! `Flat(F)` for features, `Chw(C, H, W)` for images.

use serde::{Deserialize, Serialize};

use super::ModelError;

/// Largest size of any one dimension.
pub const MAX_DIM: usize = 1 << 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Shape {
    Flat(usize),
    Chw(usize, usize, usize),
}

impl Shape {
    pub fn len(&self) -> usize {
        match self {
            Shape::Flat(f) => *f,
            Shape::Chw(c, h, w) => c.saturating_mul(*h).saturating_mul(*w),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shape::Flat(n) => write!(f, "[{n}]"),
            Shape::Chw(c, h, w) => write!(f, "[{c}, {h}, {w}]"),
        }
    }
}

/// y = x · wᵀ + b.   w: [out, in], b: [out].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Linear {
    pub in_features: usize,
    pub out_features: usize,
    pub w: Vec<f32>,
    pub b: Vec<f32>,
}

/// 2-D convolution.   w: [out_c, in_c, k, k], b: [out_c]; square kernel, equal stride and padding on both axes.
/// Output size: ⌊(H + 2·padding − k) / stride⌋ + 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conv2d {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub w: Vec<f32>,
    pub b: Vec<f32>,
}

/// Max or average pooling over k×k windows; output ⌊(H − k) / stride⌋ + 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool2d {
    pub kernel: usize,
    pub stride: usize,
}

/// y = γ · (x − mean) / √(var + ε) + β per channel; folded into the layer before it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchNorm {
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
    pub mean: Vec<f32>,
    pub var: Vec<f32>,
    pub eps: f32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum LayerKind {
    Linear(Linear),
    Conv2d(Conv2d),
    Relu,
    MaxPool2d(Pool2d),
    AvgPool2d(Pool2d),
    Flatten,
    Softmax,
    BatchNorm(BatchNorm),
}

impl LayerKind {
    pub fn name(&self) -> &'static str {
        match self {
            LayerKind::Linear(_) => "Linear",
            LayerKind::Conv2d(_) => "Conv2d",
            LayerKind::Relu => "ReLU",
            LayerKind::MaxPool2d(_) => "MaxPool2d",
            LayerKind::AvgPool2d(_) => "AvgPool2d",
            LayerKind::Flatten => "Flatten",
            LayerKind::Softmax => "Softmax",
            LayerKind::BatchNorm(_) => "BatchNorm",
        }
    }

    /// The weight of a Linear or Conv2d as (w, b, out, fan_in): one row of w per output, each of
    /// fan_in = in_features (Linear) or in_channels · k · k (Conv2d) values; `None` for the
    /// kinds without one.
    pub fn weight(&self) -> Option<(&[f32], &[f32], usize, usize)> {
        match self {
            LayerKind::Linear(l) => Some((&l.w, &l.b, l.out_features, l.in_features)),
            LayerKind::Conv2d(c) => Some((&c.w, &c.b, c.out_channels, c.in_channels * c.kernel * c.kernel)),
            _ => None,
        }
    }

    /// The weight's shape: [out, in] (Linear), [out, in, k, k] (Conv2d); empty for the other kinds.
    pub fn weight_shape(&self) -> Vec<usize> {
        match self {
            LayerKind::Linear(l) => vec![l.out_features, l.in_features],
            LayerKind::Conv2d(c) => vec![c.out_channels, c.in_channels, c.kernel, c.kernel],
            _ => Vec::new(),
        }
    }

    /// Number of parameters (weights and biases).
    pub fn params(&self) -> usize {
        match self {
            LayerKind::Linear(l) => l.w.len() + l.b.len(),
            LayerKind::Conv2d(c) => c.w.len() + c.b.len(),
            LayerKind::BatchNorm(b) => 4 * b.gamma.len(),
            _ => 0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    pub name: String,
    pub kind: LayerKind,
}

fn dim(layer: &str, what: &'static str, value: usize) -> Result<usize, ModelError> {
    if value == 0 || value > MAX_DIM {
        return Err(ModelError::BadDimension { layer: layer.into(), what, value });
    }
    Ok(value)
}

/// The tensor `t` holds the product of `dims` values (counted in u128), all finite.
fn tensor(layer: &str, name: &'static str, t: &[f32], dims: &[usize]) -> Result<(), ModelError> {
    let expected = dims.iter().fold(1u128, |a, &d| a.saturating_mul(d as u128));
    if t.len() as u128 != expected {
        return Err(ModelError::TensorLength { layer: layer.into(), tensor: name, expected, found: t.len() });
    }
    match t.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(ModelError::NonFinite { layer: layer.into(), tensor: name, index }),
        None => Ok(()),
    }
}

impl Layer {
    /// The output shape for `input`, checking every dimension and tensor length.
    pub fn output_shape(&self, input: Shape) -> Result<Shape, ModelError> {
        let n = self.name.as_str();
        let mismatch = |expected: String| ModelError::ShapeMismatch { layer: n.into(), expected, found: input.to_string() };
        match (&self.kind, input) {
            (LayerKind::Linear(l), Shape::Flat(f)) => {
                dim(n, "in_features", l.in_features)?;
                dim(n, "out_features", l.out_features)?;
                if f != l.in_features {
                    return Err(mismatch(format!("[{}]", l.in_features)));
                }
                tensor(n, "weight", &l.w, &[l.in_features, l.out_features])?;
                tensor(n, "bias", &l.b, &[l.out_features])?;
                Ok(Shape::Flat(l.out_features))
            }
            (LayerKind::Linear(l), _) => Err(mismatch(format!("[{}] (add a Flatten first)", l.in_features))),
            (LayerKind::Conv2d(c), Shape::Chw(ch, h, w)) => {
                dim(n, "in_channels", c.in_channels)?;
                dim(n, "out_channels", c.out_channels)?;
                dim(n, "kernel", c.kernel)?;
                dim(n, "stride", c.stride)?;
                if c.padding > MAX_DIM {
                    return Err(ModelError::BadDimension { layer: n.into(), what: "padding", value: c.padding });
                }
                if ch != c.in_channels || h + 2 * c.padding < c.kernel || w + 2 * c.padding < c.kernel {
                    return Err(mismatch(format!("[{}, ≥{k}, ≥{k}] with padding {}", c.in_channels, c.padding, k = c.kernel)));
                }
                tensor(n, "weight", &c.w, &[c.out_channels, c.in_channels, c.kernel, c.kernel])?;
                tensor(n, "bias", &c.b, &[c.out_channels])?;
                let out = |x: usize| (x + 2 * c.padding - c.kernel) / c.stride + 1;
                Ok(Shape::Chw(c.out_channels, out(h), out(w)))
            }
            (LayerKind::MaxPool2d(p) | LayerKind::AvgPool2d(p), Shape::Chw(ch, h, w)) => {
                dim(n, "kernel", p.kernel)?;
                dim(n, "stride", p.stride)?;
                if h < p.kernel || w < p.kernel {
                    return Err(mismatch(format!("[C, ≥{k}, ≥{k}]", k = p.kernel)));
                }
                Ok(Shape::Chw(ch, (h - p.kernel) / p.stride + 1, (w - p.kernel) / p.stride + 1))
            }
            (LayerKind::Conv2d(_) | LayerKind::MaxPool2d(_) | LayerKind::AvgPool2d(_), Shape::Flat(_)) => {
                Err(mismatch("[C, H, W]".into()))
            }
            (LayerKind::BatchNorm(b), s) => {
                let c = match s {
                    Shape::Flat(f) => f,
                    Shape::Chw(c, _, _) => c,
                };
                for (name, t) in [("gamma", &b.gamma), ("beta", &b.beta), ("running_mean", &b.mean), ("running_var", &b.var)] {
                    tensor(n, name, t, &[c])?;
                }
                Ok(s)
            }
            (LayerKind::Flatten, s) => Ok(Shape::Flat(s.len())),
            (LayerKind::Relu | LayerKind::Softmax, s) => Ok(s),
        }
    }
}

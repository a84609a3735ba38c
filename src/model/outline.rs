//! A model's architecture without its weights: what the Model page shows and plans from (each
//! layer's name, kind, shapes and parameter counts). The worker reads a user's model file and
//! sends this back, a few hundred bytes whatever the model's size, so the page never holds or
//! parses the weights.

use serde::{Deserialize, Serialize};

use super::{Model, Shape};

/// One layer: its name, kind and, for a Linear or Conv2d, the sizes of its weight and bias.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerOutline {
    pub name: String,
    /// [`super::LayerKind::name`]: "Linear", "Conv2d", "ReLU", …
    pub kind: String,
    /// The weight's shape: [out, in] for a Linear, [OC, IC, K, K] for a Conv2d; empty otherwise.
    pub weight_shape: Vec<usize>,
    /// Parameters (weights and biases; a BatchNorm's four vectors).
    pub params: usize,
    /// For a Linear or Conv2d: (weights, biases, output channels, fan-in = in or IC·K·K).
    pub weight: Option<WeightOutline>,
}

/// The sizes of a Linear's or Conv2d's weight: what a quantization plan needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightOutline {
    /// w.len() = out · fan_in.
    pub weights: usize,
    /// b.len() = out.
    pub biases: usize,
    pub out: usize,
    pub fan_in: usize,
}

/// A model's architecture: its input, its layers and every layer's input shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelOutline {
    pub input: Shape,
    pub layers: Vec<LayerOutline>,
    /// shapes[i] is the input of layer i; shapes[len] is the output.
    pub shapes: Vec<Shape>,
}

impl ModelOutline {
    pub fn of(model: &Model) -> ModelOutline {
        let layers = model
            .layers
            .iter()
            .map(|l| {
                let weight = l.kind.weight().map(|(w, b, out, fan_in)| WeightOutline { weights: w.len(), biases: b.len(), out, fan_in });
                let weight_shape = l.kind.weight_shape();
                LayerOutline { name: l.name.clone(), kind: l.kind.name().to_string(), weight_shape, params: l.kind.params(), weight }
            })
            .collect();
        ModelOutline { input: model.input, layers, shapes: model.shapes.clone() }
    }

    /// Parameters in all.
    pub fn params(&self) -> usize {
        self.layers.iter().map(|l| l.params).fold(0, usize::saturating_add)
    }

    /// The names of the layers PTQ quantizes (the Linears and Conv2ds), in order: the same as
    /// [`crate::ptq::quantizable_layers`] of the model.
    pub fn quantizable(&self) -> Vec<String> {
        self.layers.iter().filter(|l| l.weight.is_some()).map(|l| l.name.clone()).collect()
    }
}

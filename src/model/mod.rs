//! Models: a sequence of named layers, checked at load time, with FP32 inference.
//!
//! Shape legend: B = batch, F = features, C = channels, H × W = image size.
//! Activations are stored as [B, F] or [B, C, H, W] in C order.
//!
//! - [`layer`]: the layers and the shapes they take and give.
//! - [`error`]: what can be wrong with a model, as a typed error.
//! - [`forward`]: FP32 inference on the GEMM kernels.

pub mod error;
pub mod forward;
pub mod layer;
pub mod zoo;

pub use error::ModelError;
pub use layer::{BatchNorm, Conv2d, Layer, LayerKind, Linear, Pool2d, Shape};

/// The predicted class of each row of `classes` scores: the index of the first maximum (ties go
/// to the lower class, as NumPy's argmax), for f32 logits and int8 outputs alike.
pub fn argmax_rows<T: PartialOrd>(scores: &[T], classes: usize) -> Vec<u8> {
    scores
        .chunks_exact(classes.max(1))
        .map(|row| {
            let mut best = 0;
            for c in 1..row.len() {
                if row[c] > row[best] {
                    best = c;
                }
            }
            best as u8
        })
        .collect()
}

/// Largest input sample (values per sample).
pub const MAX_INPUT: usize = 1 << 24;

/// Default limit on the number of parameters of a model (16 Mi ≈ 64 MB in f32).
pub const DEFAULT_MAX_PARAMS: usize = 16 << 20;

#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// Shape of one input sample.
    pub input: Shape,
    /// The layers, BatchNorm already folded away.
    pub layers: Vec<Layer>,
    /// shapes[i] is the input of layer i; shapes[len] is the output.
    pub shapes: Vec<Shape>,
}

impl Model {
    /// Checks every shape and tensor, folds each BatchNorm into the layer before
    /// it, and enforces `max_params`.
    pub fn new(input: Shape, layers: Vec<Layer>, max_params: usize) -> Result<Model, ModelError> {
        if layers.is_empty() {
            return Err(ModelError::Empty);
        }
        let params: usize = layers.iter().map(|l| l.kind.params()).fold(0usize, usize::saturating_add);
        if params > max_params {
            return Err(ModelError::TooLarge { params, limit: max_params });
        }
        if input.is_empty() || input.len() > MAX_INPUT {
            return Err(ModelError::BadDimension { layer: "input".into(), what: "size", value: input.len() });
        }
        // Validate shapes with BatchNorm in place, then fold.
        let mut shape = input;
        for l in &layers {
            shape = l.output_shape(shape)?;
        }
        let mut folded: Vec<Layer> = Vec::with_capacity(layers.len());
        for l in layers {
            match l.kind {
                LayerKind::BatchNorm(bn) => match folded.last_mut() {
                    Some(prev) => fold_batchnorm(prev, &bn).ok_or(ModelError::Unfoldable { layer: l.name })?,
                    None => return Err(ModelError::Unfoldable { layer: l.name }),
                },
                _ => folded.push(l),
            }
        }
        let mut shapes = vec![input];
        for l in &folded {
            let next = l.output_shape(*shapes.last().expect("starts with the input"))?;
            shapes.push(next);
        }
        Ok(Model { input, layers: folded, shapes })
    }

    pub fn output(&self) -> Shape {
        *self.shapes.last().expect("a model has at least its input shape")
    }

    pub fn params(&self) -> usize {
        self.layers.iter().map(|l| l.kind.params()).sum()
    }
}

/// Folds y = γ·(x − mean)/√(var + ε) + β into the Linear or Conv2d before it:
/// w'[o] = w[o] · g[o],  b'[o] = (b[o] − mean[o]) · g[o] + β[o],  g = γ / √(var + ε).
/// Returns None when `prev` is not a Linear or Conv2d.
fn fold_batchnorm(prev: &mut Layer, bn: &BatchNorm) -> Option<()> {
    let (w, b) = match &mut prev.kind {
        LayerKind::Linear(l) => (&mut l.w, &mut l.b),
        LayerKind::Conv2d(c) => (&mut c.w, &mut c.b),
        _ => return None,
    };
    let per_out = w.len() / b.len().max(1);
    for o in 0..b.len() {
        let g = bn.gamma[o] / (bn.var[o] + bn.eps).sqrt();
        for v in &mut w[o * per_out..(o + 1) * per_out] {
            *v *= g;
        }
        b[o] = (b[o] - bn.mean[o]) * g + bn.beta[o];
    }
    Some(())
}

//! Models: a sequence of named layers, checked at load time, with FP32 inference.
//!
//! Shape legend: B = batch, F = features, C = channels, H × W = image size.
//! Activations are stored as [B, F] or [B, C, H, W] in C order.
//!
//! - [`layer`]: the layers and the shapes they take and give.
//! - [`error`]: what can be wrong with a model, as a typed error.
//! - [`forward`]: FP32 inference on the GEMM kernels.
//! - [`outline`]: the architecture without the weights, for the page.

pub mod error;
pub mod forward;
pub mod layer;
pub mod outline;
pub mod zoo;

pub use error::ModelError;
pub use layer::{BatchNorm, Conv2d, Layer, LayerKind, Linear, Pool2d, Shape};
pub use outline::ModelOutline;

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

/// The batch a model's working memory is budgeted for: the experiments evaluate and analyse
/// 500 images at a time.
pub const WORKING_BATCH: usize = 500;

/// The most working memory one batch of [`WORKING_BATCH`] samples may need (256 MiB): every
/// layer's f32 output (the per-layer reports keep them all), the input, and the largest scratch
/// of one layer (a Conv2d's im2col matrix [B·OH·OW, IC·K·K] and its product [B·OH·OW, OC]).
/// Checked when a model is built ([`Model::new`]), in u128, so a file with an absurd padding or
/// size is refused with [`ModelError::TooMuchMemory`] naming the layer, never run out of memory.
pub const MAX_WORKING_BYTES: usize = 256 << 20;

/// Largest working memory of a calibration pass (PTQ runs the whole calibration set at once):
/// 1 GiB, so a large set on a large model is refused with a message instead of exhausting the
/// worker's memory.
pub const MAX_CALIB_WORKING_BYTES: usize = 1 << 30;

/// Values in a shape, exactly (no saturation).
fn values(s: Shape) -> u128 {
    match s {
        Shape::Flat(f) => f as u128,
        Shape::Chw(c, h, w) => c as u128 * h as u128 * w as u128,
    }
}

/// The working memory of `layers` (input shapes `shapes[i]`, output `shapes[i + 1]`) for a batch of
/// `batch` samples, in bytes; or the first layer at which it passes `limit`.
pub fn working_bytes(layers: &[Layer], shapes: &[Shape], batch: usize, limit: usize) -> Result<u128, ModelError> {
    const F32: u128 = 4;
    let b = batch as u128;
    let mut kept = F32 * b * values(shapes[0]); // the input
    let mut scratch = 0u128;
    for (i, l) in layers.iter().enumerate() {
        let out = F32 * b * values(shapes[i + 1]);
        // im2col cols [B·OH·OW, IC·K·K] and their product [B·OH·OW, OC].
        let own = match (&l.kind, shapes[i + 1]) {
            (LayerKind::Conv2d(c), Shape::Chw(_, oh, ow)) => {
                let pixels = b * oh as u128 * ow as u128;
                F32 * pixels * (c.in_channels as u128 * c.kernel as u128 * c.kernel as u128 + c.out_channels as u128)
            }
            _ => 0,
        };
        kept += out;
        scratch = scratch.max(own);
        if out > limit as u128 {
            return Err(ModelError::TooMuchMemory { layer: l.name.clone(), what: "its output", batch, bytes: Some(out), limit });
        }
        if kept + scratch > limit as u128 {
            return Err(ModelError::TooMuchMemory { layer: l.name.clone(), what: "the working memory up to it", batch, bytes: Some(kept + scratch), limit });
        }
    }
    Ok(kept + scratch)
}

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
            return Err(ModelError::TooLarge { params: params as u128, limit: max_params });
        }
        if input.is_empty() || input.len() > MAX_INPUT {
            return Err(ModelError::InputSize { shape: input.to_string(), limit: MAX_INPUT });
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
        working_bytes(&folded, &shapes, WORKING_BATCH, MAX_WORKING_BYTES)?;
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

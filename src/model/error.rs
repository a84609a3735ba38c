//! What can be wrong with a model definition. Never a panic.

use std::fmt;

use crate::units::grouped;

#[derive(Clone, Debug, PartialEq)]
pub enum ModelError {
    /// A layer gets an input of the wrong shape.
    ShapeMismatch { layer: String, expected: String, found: String },
    /// A dimension that is zero, or absurdly large.
    BadDimension { layer: String, what: &'static str, value: usize },
    /// The model's input holds no value or more than `limit`; `shape` as the file gives it
    /// ("[1, 99999, 99999]": a count would saturate in wasm32's usize).
    InputSize { shape: String, limit: usize },
    /// A tensor whose length does not match the shape it is declared with.
    /// `expected` is the shape's product in u128: on wasm32 a usize product of dimensions up to
    /// 2^16 wraps (65,536 × 65,536 is 0), and an empty tensor would pass.
    TensorLength { layer: String, tensor: &'static str, expected: u128, found: usize },
    /// A layer kind that qplay does not run.
    UnknownLayer { layer: String, kind: String },
    /// The model has more parameters than the configured limit.
    /// `params` is counted in u128: a file's declared dimensions may multiply past a usize
    /// (wasm32's is 32 bits), and the message gives the real count.
    TooLarge { params: u128, limit: usize },
    /// A weight or bias that is NaN or infinite.
    NonFinite { layer: String, tensor: &'static str, index: usize },
    /// The model has no layers.
    Empty,
    /// A BatchNorm that does not follow a Linear or Conv2d, so it cannot be folded.
    Unfoldable { layer: String },
    /// A batch whose length is not a whole number of samples.
    BatchLength { expected_multiple_of: usize, found: usize },
    /// A layer whose output, or the whole model's working memory for one batch, is larger than
    /// the limit (see [`crate::model::MAX_WORKING_BYTES`]); `bytes` is `None` when it does not
    /// even fit in a usize.
    TooMuchMemory { layer: String, what: &'static str, batch: usize, bytes: Option<u128>, limit: usize },
    /// A layer of an integer engine whose int32 accumulator could overflow.
    Int32Overflow { layer: String, detail: String },
    /// A layer's FP32 output that is not finite although its inputs were: the activations passed
    /// f32's range (weights scaled far too large). `sample` and `index` count from 0.
    ActivationOverflow { layer: String, sample: usize, index: usize, value: f32 },
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelError::ShapeMismatch { layer, expected, found } => {
                write!(f, "layer {layer}: expects an input of shape {expected}, gets {found}")
            }
            ModelError::BadDimension { layer, what, value } => write!(f, "layer {layer}: {what} = {value} is not allowed"),
            ModelError::InputSize { shape, limit } => {
                write!(f, "the model's input {shape} must hold 1 to {} values", grouped(*limit as u128))
            }
            ModelError::TensorLength { layer, tensor, expected, found } => {
                write!(f, "layer {layer}: {tensor} has {found} values, its shape needs {expected}")
            }
            ModelError::UnknownLayer { layer, kind } => write!(f, "layer {layer}: unknown layer kind \"{kind}\""),
            ModelError::TooLarge { params, limit } => {
                write!(f, "the model has {} parameters; the limit is {}", grouped(*params), grouped(*limit as u128))
            }
            ModelError::NonFinite { layer, tensor, index } => {
                write!(f, "layer {layer}: {tensor}[{index}] is NaN or infinite")
            }
            ModelError::Empty => write!(f, "the model has no layers"),
            ModelError::Unfoldable { layer } => {
                write!(f, "layer {layer}: a BatchNorm must follow a Linear or Conv2d layer, to be folded into it")
            }
            ModelError::BatchLength { expected_multiple_of, found } => {
                write!(f, "the batch holds {found} values, not a multiple of the sample size {expected_multiple_of}")
            }
            ModelError::TooMuchMemory { layer, what, batch, bytes, limit } => {
                let mib = |b: f64| b / (1024.0 * 1024.0);
                match bytes {
                    Some(b) => write!(f, "layer {layer}: {what} for a batch of {batch} needs {:.1} MiB, more than the limit of {:.0} MiB", mib(*b as f64), mib(*limit as f64)),
                    None => write!(f, "layer {layer}: {what} for a batch of {batch} is too large to count (more than the limit of {:.0} MiB)", mib(*limit as f64)),
                }
            }
            ModelError::Int32Overflow { layer, detail } => write!(f, "layer {layer}: {detail}"),
            ModelError::ActivationOverflow { layer, sample, index, value } => write!(
                f,
                "layer {layer}: its FP32 output is {value} (sample #{}, value #{}): the activations pass f32's range (±3.4e38), \
                 so the model cannot run on this data (are its weights scaled far too large?)",
                sample + 1,
                index + 1
            ),
        }
    }
}

impl std::error::Error for ModelError {}

//! What can go wrong with a language model, as a typed error.

use std::fmt;

use crate::clip::clip_middle;
use crate::formats::{FormatError, MESSAGE_KEEP};
use crate::quant::QuantError;
use crate::units::bytes_exact;

#[derive(Clone, Debug, PartialEq)]
pub enum LmError {
    /// A configuration that does not describe a valid model (names the field and why).
    Config { field: &'static str, message: String },
    /// A tensor that is missing or has the wrong shape.
    Tensor { name: String, message: String },
    /// A weight that is NaN or infinite.
    NonFinite { tensor: String, index: usize },
    /// The forward pass overflowed f32: value `index` of the activations `at` is NaN or ±∞.
    Overflow { at: String, index: usize },
    /// A model, cache or buffer larger than its documented limit.
    TooLarge { what: String, bytes: u128, limit: u128 },
    /// A prompt or token sequence that does not fit the model.
    Tokens(String),
    /// A setting out of range (names the setting).
    Setting { name: &'static str, message: String },
    /// The file could not be read.
    Format(FormatError),
    /// The set of files given is not one model (a file missing, two of one kind): the message
    /// names the files.
    Files(String),
    /// Quantizing a weight failed (names the tensor).
    Quant { tensor: String, error: QuantError },
}

impl fmt::Display for LmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Messages that may quote the user's files have their middle cut (crate::formats::MESSAGE_KEEP).
            LmError::Config { field, message } => write!(f, "model configuration: {field}: {}", clip_middle(message, MESSAGE_KEEP)),
            LmError::Tensor { name, message } => write!(f, "tensor {name}: {}", clip_middle(message, MESSAGE_KEEP)),
            LmError::NonFinite { tensor, index } => {
                write!(f, "tensor {tensor}: value {index} is NaN or infinite")
            }
            LmError::Overflow { at, index } => write!(
                f,
                "the model's activations overflow f32: value {index} of {at} is NaN or infinite (its weights or inputs are too large for f32 arithmetic)"
            ),
            // A count that saturated (sizes are multiplied with saturating_mul) is not a size.
            LmError::TooLarge { what, bytes: u128::MAX, limit } => write!(f, "{what} needs more bytes than can be counted (2^128); the limit is {}", bytes_exact(*limit)),
            LmError::TooLarge { what, bytes, limit } => {
                write!(f, "{what} needs {}; the limit is {}", bytes_exact(*bytes), bytes_exact(*limit))
            }
            LmError::Tokens(m) => write!(f, "{}", clip_middle(m, MESSAGE_KEEP)),
            LmError::Setting { name, message } => write!(f, "setting {name}: {message}"),
            LmError::Format(e) => write!(f, "{e}"),
            LmError::Files(m) => write!(f, "{}", clip_middle(m, MESSAGE_KEEP)),
            LmError::Quant { tensor, error } => write!(f, "quantizing {tensor}: {error}"),
        }
    }
}

impl std::error::Error for LmError {}

impl From<FormatError> for LmError {
    fn from(e: FormatError) -> LmError {
        LmError::Format(e)
    }
}

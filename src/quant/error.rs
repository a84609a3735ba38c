//! Typed errors of the quantization core. None of them is ever a panic.

use std::fmt;

#[derive(Clone, Debug, PartialEq)]
pub enum QuantError {
    /// The tensor has no values.
    Empty,
    /// A NaN or ±Inf at this (flat) index.
    NonFinite { index: usize, value: f32 },
    /// Bits outside 1..=16.
    Bits(u32),
    /// A scheme that has no two distinct levels (for example signed 1-bit narrow range).
    DegenerateGrid { bits: u8 },
    /// α > β, or a bound that is not finite.
    BadRange { alpha: f32, beta: f32 },
    /// The zero point does not fit: the range is too narrow for its distance from 0.
    ZeroPointOverflow { alpha: f32, beta: f32 },
    /// Any other invalid setting, with the setting's name.
    Setting { name: &'static str, message: String },
}

impl fmt::Display for QuantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuantError::Empty => write!(f, "the tensor is empty: enter at least one number"),
            QuantError::NonFinite { index, value } => {
                write!(f, "value #{} is {}: only finite numbers can be quantized", index + 1, value)
            }
            QuantError::Bits(b) => write!(f, "bits must be between 1 and 16, not {b}"),
            QuantError::DegenerateGrid { bits } => {
                write!(f, "{bits}-bit with this scheme leaves fewer than two integer levels")
            }
            QuantError::BadRange { alpha, beta } => {
                write!(f, "the range [{alpha}, {beta}] is invalid: α must be ≤ β and both finite")
            }
            QuantError::ZeroPointOverflow { alpha, beta } => write!(
                f,
                "the range [{alpha}, {beta}] is too narrow for its distance from 0: the zero point overflows"
            ),
            QuantError::Setting { name, message } => write!(f, "{name}: {message}"),
        }
    }
}

impl std::error::Error for QuantError {}

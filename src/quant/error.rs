//! Typed errors of the quantization core. None of them is ever a panic.

use std::fmt;

use crate::decimal::short_text;

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
    /// The scale underflows f32 to 0: the range is too narrow (e.g. ±1e-45, subnormal).
    ScaleUnderflow { alpha: f32, beta: f32 },
    /// β − α, or the scale, overflows f32: the range is too wide (e.g. ±3e38).
    RangeTooWide { alpha: f32, beta: f32 },
    /// Any other invalid setting, with the setting's name.
    Setting { name: &'static str, message: String },
    /// A numeric setting outside its allowed interval, e.g. `percentile` = 101 (allowed "(0, 100]").
    OutOfRange { setting: &'static str, value: f64, allowed: &'static str },
    /// The shape's element count (`None` when the product overflows) differs from the number of values.
    ShapeMismatch { shape: Vec<usize>, elements: Option<usize>, values: usize },
    /// The quantization axis does not exist in a shape of `ndim` dimensions.
    Axis { axis: usize, ndim: usize },
    /// The group size is 0 or does not divide the length of the axis it splits.
    GroupSize { group_size: usize, axis_len: usize },
    /// More elements than a generator or buffer accepts (`None` when the count overflows).
    TooLarge { elements: Option<usize>, limit: usize },
    /// Two tensors that must be compared element by element differ in length.
    LengthMismatch { left: usize, right: usize },
    /// A report could not be written in this format (csv, json).
    Export { format: &'static str, message: String },
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
                write!(f, "the range [{}, {}] is invalid: α must be ≤ β and both finite", short_text(*alpha), short_text(*beta))
            }
            QuantError::ZeroPointOverflow { alpha, beta } => write!(
                f,
                "the range [{}, {}] is too narrow for its distance from 0: the zero point overflows",
                short_text(*alpha),
                short_text(*beta)
            ),
            QuantError::ScaleUnderflow { alpha, beta } => write!(
                f,
                "the range [{}, {}] is too narrow: its scale s, its width over the grid's steps, underflows f32 to 0 (below 1.4e-45)",
                short_text(*alpha),
                short_text(*beta)
            ),
            QuantError::RangeTooWide { alpha, beta } => write!(
                f,
                "the range [{}, {}] is too wide for f32: its width β − α, its scale s or the grid's outermost level (q − Z)·s passes f32's largest, 3.4e38",
                short_text(*alpha),
                short_text(*beta)
            ),
            QuantError::Setting { name, message } => write!(f, "{name}: {message}"),
            QuantError::OutOfRange { setting, value, allowed } => {
                // 1e30 as written, not as thirty-one digits.
                let value = short_text(*value);
                // An interval ("[128, 8192]") or words that name one ("a whole number in [1, 10000]").
                let is = if allowed.starts_with(['[', '(']) { "in " } else { "" };
                write!(f, "{setting} = {value} is not allowed: it must be {is}{allowed}")
            }
            QuantError::ShapeMismatch { shape, elements: Some(n), values } => {
                write!(f, "shape {shape:?} holds {n} elements but the tensor has {values} values")
            }
            QuantError::ShapeMismatch { shape, elements: None, values } => {
                write!(f, "shape {shape:?} holds more elements than can be counted, but the tensor has {values} values")
            }
            QuantError::Axis { axis, ndim } => write!(
                f,
                "axis {axis} does not exist: the shape has {ndim} dimension(s), so the axis must be below {ndim}"
            ),
            QuantError::GroupSize { group_size: 0, .. } => write!(f, "group size must be at least 1, not 0"),
            QuantError::GroupSize { group_size, axis_len } => write!(
                f,
                "group size {group_size} does not divide the axis length {axis_len}: choose a divisor of {axis_len}"
            ),
            QuantError::TooLarge { elements: Some(n), limit } => {
                write!(f, "{n} elements is too many: at most {limit} are allowed")
            }
            QuantError::TooLarge { elements: None, limit } => {
                write!(f, "the element count overflows: at most {limit} elements are allowed")
            }
            QuantError::LengthMismatch { left, right } => {
                write!(f, "the two tensors differ in length ({left} and {right} values): compare equal lengths")
            }
            QuantError::Export { format, message } => write!(f, "could not write the {format} report: {message}"),
        }
    }
}

impl std::error::Error for QuantError {}

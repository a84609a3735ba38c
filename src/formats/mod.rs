//! Reading and writing tensors from bytes (the browser hands a file over as
//! bytes). Every reader enforces a size limit and returns a typed error.

pub mod npy;

use std::fmt;

/// A dense tensor of f32 in C (row-major) order.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum FormatError {
    /// The file is larger than the limit for its kind.
    TooLarge { bytes: usize, limit: usize },
    /// The file does not start with the format's magic bytes.
    BadMagic { format: &'static str },
    /// The header or body cannot be read (truncated, corrupt).
    Malformed { format: &'static str, message: String },
    /// A dtype the reader does not take (strings, objects, complex, …).
    UnsupportedDtype { dtype: String },
    /// The declared shape does not match the data.
    ShapeMismatch { expected: usize, found: usize },
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::TooLarge { bytes, limit } => {
                write!(f, "the file is {bytes} bytes; the limit is {limit} bytes")
            }
            FormatError::BadMagic { format } => write!(f, "this is not a {format} file (wrong magic bytes)"),
            FormatError::Malformed { format, message } => write!(f, "the {format} file is malformed: {message}"),
            FormatError::UnsupportedDtype { dtype } => {
                write!(f, "dtype {dtype} is not supported: use a float (f2, f4, f8), integer or bool array")
            }
            FormatError::ShapeMismatch { expected, found } => {
                write!(f, "the shape says {expected} values but the data holds {found}")
            }
        }
    }
}

impl std::error::Error for FormatError {}

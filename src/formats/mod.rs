//! Reading and writing tensors and models from bytes (the browser hands a file
//! over as bytes). Every reader enforces a size limit and returns a typed
//! error, never a panic, whatever the bytes.
//!
//! - [`text`]: numbers as text (comma / space / newline separated) or a JSON array (1-D, 2-D).
//! - [`npy`], [`npz`]: NumPy arrays, and archives of them.
//! - [`safetensors`]: tensors, and models saved as a PyTorch `state_dict`.
//! - [`onnx`]: FP32 models in and out; quantized models out as QDQ (QuantizeLinear / DequantizeLinear).
//! - [`quantized`]: a quantized model as `.safetensors` (packed integers and their parameters), and back.
//! - [`lm_safetensors`]: a quantized language model as `.safetensors` (packed integers and scales), and back.
//! - [`files`]: which reader a named file goes to (the page's drops, the CLI's paths).

pub mod files;
pub mod lm_safetensors;
pub mod npy;
pub mod npz;
pub mod onnx;
pub mod onnx_lm;
pub mod quantized;
pub mod safetensors;
pub mod text;
pub mod zip_texts;

use std::fmt;

use crate::model::ModelError;
use crate::parse::ParseError;
use crate::clip::clip_middle;
use crate::units::bytes_exact;

/// How many characters of a malformed file's message are kept at each end (the middle, which may
/// quote 100,000 characters of the file, is cut): a message is at most about 500 characters.
pub const MESSAGE_KEEP: usize = 240;

/// A dense tensor of f32 in C (row-major) order.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

impl Tensor {
    /// How many values its shape holds (saturating: a product past `usize::MAX` is more than any
    /// buffer holds). The same as `values.len()`, but for a tensor that travelled by its shape
    /// alone ([`pack_tensors`]).
    pub fn count(&self) -> usize {
        shape_count(&self.shape)
    }
}

/// The product of a shape's dimensions, saturating (a zero dimension after a saturated product
/// still gives the true product, 0).
pub fn shape_count(shape: &[usize]) -> usize {
    shape.iter().fold(1usize, |a, &d| a.saturating_mul(d))
}

/// Tensors as they travel between the page and the worker: each one's name and shape, and the
/// values of those that hold at most `max_values`, one tensor after the other, as f32
/// little-endian bytes. A larger tensor travels by its shape alone: the page takes at most
/// `max_values`, so the 128 MB of a 32 M-value weight would be copied onto the page's thread
/// only to be refused.
pub fn pack_tensors(tensors: &[(String, Tensor)], max_values: usize) -> (Vec<(String, Vec<usize>)>, Vec<u8>) {
    let shapes = tensors.iter().map(|(n, t)| (n.clone(), t.shape.clone())).collect();
    let sent = || tensors.iter().filter(|(_, t)| t.values.len() <= max_values);
    let total: usize = sent().map(|(_, t)| t.values.len()).sum();
    let mut bytes = Vec::with_capacity(total * 4);
    for (_, t) in sent() {
        for v in &t.values {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    }
    (shapes, bytes)
}

/// The tensors [`pack_tensors`] sent with the same `max_values`: one that holds more arrives
/// with its shape and no values. An error, before anything is allocated, when the shapes do not
/// account for exactly the bytes' values.
pub fn unpack_tensors(shapes: Vec<(String, Vec<usize>)>, bytes: &[u8], max_values: usize) -> Result<Vec<(String, Tensor)>, FormatError> {
    let starts = packed_starts(&shapes, bytes.len(), max_values)?;
    Ok(shapes.into_iter().enumerate().map(|(i, (name, shape))| (name, Tensor { shape, values: f32_values(&bytes[starts[i]..starts[i + 1]]) })).collect())
}

/// Where each tensor's bytes start in [`pack_tensors`]'s `len` bytes (one more entry: the end);
/// an error when the shapes do not account for exactly that many values.
fn packed_starts(shapes: &[(String, Vec<usize>)], len: usize, max_values: usize) -> Result<Vec<usize>, FormatError> {
    let sent = |shape: &[usize]| Some(shape_count(shape)).filter(|&n| n <= max_values).unwrap_or(0);
    let total = shapes.iter().fold(0usize, |a, (_, s)| a.saturating_add(sent(s)));
    if !len.is_multiple_of(4) || total.checked_mul(4) != Some(len) {
        return Err(FormatError::ShapeMismatch { expected: total, found: len / 4 });
    }
    // total · 4 fits in usize, so every prefix does.
    let ends = shapes.iter().scan(0, |end, (_, s)| {
        *end += sent(s) * 4;
        Some(*end)
    });
    Ok(std::iter::once(0).chain(ends).collect())
}

fn f32_values(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|w| f32::from_le_bytes([w[0], w[1], w[2], w[3]])).collect()
}

/// [`pack_tensors`]'s bytes kept as they arrived, each tensor unpacked only when asked for: the
/// page shows one tensor of a file at a time, and converting every other one (up to a reader's
/// 64 Mi values) on its thread would hold it for nothing.
#[derive(Debug)]
pub struct PackedTensors {
    shapes: Vec<(String, Vec<usize>)>,
    /// Where each tensor's bytes start (one more entry: the end).
    starts: Vec<usize>,
    bytes: Vec<u8>,
}

impl PackedTensors {
    /// Checks that the shapes account for exactly the bytes' values (each tensor of at most
    /// `max_values` sent, the others by their shape alone).
    pub fn new(shapes: Vec<(String, Vec<usize>)>, bytes: Vec<u8>, max_values: usize) -> Result<PackedTensors, FormatError> {
        Ok(PackedTensors { starts: packed_starts(&shapes, bytes.len(), max_values)?, shapes, bytes })
    }

    pub fn len(&self) -> usize {
        self.shapes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shapes.is_empty()
    }

    /// Each tensor's name and shape.
    pub fn shapes(&self) -> &[(String, Vec<usize>)] {
        &self.shapes
    }

    /// Tensor `i`, its values converted now (none when it travelled by its shape alone).
    pub fn tensor(&self, i: usize) -> Option<(String, Tensor)> {
        let (name, shape) = self.shapes.get(i)?;
        let values = f32_values(&self.bytes[self.starts[i]..self.starts[i + 1]]);
        Some((name.clone(), Tensor { shape: shape.clone(), values }))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum FormatError {
    /// The file is larger than the limit for its kind.
    TooLarge { bytes: usize, limit: usize },
    /// An array of more values than the reader converts to f32 (`count`; `limit` at most).
    TooManyValues { count: usize, limit: usize },
    /// An archive whose members decompress to more than the limit (a zip bomb stops here):
    /// `member` is the one that passed it, `bytes` the file's own (compressed) size.
    DecompressedTooLarge { member: String, bytes: usize, limit: usize },
    /// The file does not start with the format's magic bytes.
    BadMagic { format: &'static str },
    /// The header or body cannot be read (truncated, corrupt).
    Malformed { format: &'static str, message: String },
    /// A dtype the reader does not take (strings, objects, complex, …).
    UnsupportedDtype { dtype: String },
    /// The declared shape does not match the data.
    ShapeMismatch { expected: usize, found: usize },
    /// A model file whose architecture is missing, invalid or cannot be inferred.
    Architecture(String),
    /// A model that reads but is not a valid model (shapes, dimensions, size limit).
    Model(ModelError),
    /// An operator qplay does not run, with the node that uses it.
    UnsupportedOp { op: String, node: String },
    /// Text that is not a list of numbers (the parser's own message).
    Text(ParseError),
    /// A model that cannot be written in the chosen format, and why.
    Export(String),
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::TooLarge { bytes, limit } => {
                write!(f, "the file is {}; the limit is {}", bytes_exact(*bytes as u128), bytes_exact(*limit as u128))
            }
            FormatError::TooManyValues { count, limit } => {
                write!(f, "the array holds {count} values; at most {limit} are read ({} MiB as f32)", limit / (1 << 18))
            }
            FormatError::DecompressedTooLarge { member, bytes, limit } => write!(
                f,
                "the archive ({}) decompresses to more than the limit of {} (at member \"{member}\")",
                bytes_exact(*bytes as u128),
                bytes_exact(*limit as u128)
            ),
            // safetensors has no magic: a file starts with its header's length, then the header's '{'.
            FormatError::BadMagic { format: ".safetensors" } => {
                f.write_str("this is not a .safetensors file (it does not start with a header length and a JSON header)")
            }
            FormatError::BadMagic { format } => write!(f, "this is not a {format} file (wrong magic bytes)"),
            // The message may quote the file (a parser's "invalid type: string \"…\""): its middle is cut.
            FormatError::Malformed { format, message } => write!(f, "the {format} file is malformed: {}", clip_middle(message, MESSAGE_KEEP)),
            FormatError::UnsupportedDtype { dtype } => {
                write!(f, "dtype {dtype} is not supported: use a float (f2, f4, f8), integer or bool array")
            }
            FormatError::ShapeMismatch { expected, found } => {
                write!(f, "the shape says {expected} values but the data holds {found}")
            }
            FormatError::Architecture(message) => write!(f, "the model's architecture: {}", clip_middle(message, MESSAGE_KEEP)),
            FormatError::Model(e) => write!(f, "the model is invalid: {e}"),
            FormatError::UnsupportedOp { op, node } => {
                write!(
                    f,
                    "operator {op} (node \"{node}\") is not supported: qplay reads Gemm, MatMul (+ Add), Conv, \
                     BatchNormalization, Relu, MaxPool, AveragePool, GlobalAveragePool, Flatten, Reshape \
                     (flattening), Softmax, Identity and Dropout"
                )
            }
            FormatError::Text(e) => write!(f, "{e}"),
            FormatError::Export(message) => write!(f, "cannot export the model: {message}"),
        }
    }
}

impl std::error::Error for FormatError {}

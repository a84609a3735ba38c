//! ONNX models in and out.
//!
//! Parsing and writing the protobuf is the `onnx-protobuf` crate's (rust-protobuf messages
//! generated from `onnx.proto`); this module maps ONNX graphs to qplay's [`crate::model::Model`]
//! and back.
//!
//! - [`reader`]: an FP32 ONNX model → a [`crate::model::Model`]: Gemm, MatMul (+ Add), Conv,
//!   BatchNormalization (folded), Relu, MaxPool, AveragePool, Flatten, Reshape (flattening),
//!   Softmax, Identity / Dropout (skipped). Anything else is [`super::FormatError::UnsupportedOp`].
//! - [`writer`]: a [`crate::model::Model`] → FP32 ONNX (opset [`FP32_OPSET`], dynamic batch).
//! - [`qdq`]: a [`crate::ptq::QuantModel`] → ONNX with QuantizeLinear / DequantizeLinear nodes
//!   (opset [`QDQ_OPSET`]), which ONNX Runtime loads and runs.
//! - [`graph`]: the graph builder and tensor helpers both writers share.
//!
//! Layouts (ONNX's, which are PyTorch's): activations [N, F] or [N, C, H, W]; a Gemm weight
//! [out, in] with `transB = 1`; a Conv weight [out_c, in_c, k, k]. The batch dimension N is the
//! dynamic dimension `"N"`.

pub mod graph;
pub mod message_counts;
pub mod qdq;
pub mod reader;
pub mod writer;

pub use qdq::{write_qdq_onnx, QdqExport};
pub use reader::read_onnx;
pub use writer::write_onnx;

/// Largest `.onnx` file accepted: 256 MiB.
pub const MAX_ONNX_BYTES: usize = 256 << 20;

/// The opset of FP32 exports (Softmax over the last axis, as qplay's).
pub const FP32_OPSET: i64 = 13;
/// The IR version that goes with [`FP32_OPSET`].
pub const FP32_IR_VERSION: i64 = 7;

/// The opset of QDQ exports: 21 has int16 QuantizeLinear and blocked (per-group) DequantizeLinear.
pub const QDQ_OPSET: i64 = 21;
/// The IR version that goes with [`QDQ_OPSET`].
pub const QDQ_IR_VERSION: i64 = 10;

/// The name of the batch dimension in exported models.
pub const BATCH_DIM: &str = "N";

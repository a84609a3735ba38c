//! The model runtime: integer kernels with TensorFlow Lite's reference semantics.
//!
//! - [`requant`]: fixed-point multiplier and shift, and the requantization of an int32 accumulator.

pub mod requant;

//! Training, deterministic from a seed: forward with caches, backward
//! (gradients named `d*`), cross-entropy loss, SGD with momentum and Adam,
//! and quantization-aware training with fake-quant and a straight-through
//! estimator.
//!
//! Shape legend: B = batch, F_in / F_out = features, C = channels, H × W = image.
//!
//! - [`net`]: a trainable copy of a [`crate::model::Model`]: forward / backward per layer.
//! - [`optim`]: SGD with momentum, Adam.
//! - [`fit`]: the training loop (epochs, batches, progress, cancel).

pub mod fit;
pub mod net;
pub mod optim;

//! Moving-average MinMax (PyTorch's `MovingAverageMinMaxObserver`): the tensor is
//! read as a stream of batches of `batch` consecutive values (flat order; the last
//! batch may be shorter), and the running min and max follow each batch's own
//! min and max with an exponential moving average:
//!
//! ```text
//! m_min ← min(batch₀)                 m_max ← max(batch₀)                   (first batch)
//! m_min ← m_min + c·(min(batch_k) − m_min)   m_max ← m_max + c·(max(batch_k) − m_max)
//! (α, β) = (m_min, m_max)             c = momentum (PyTorch's averaging_constant, 0.01)
//! ```
//!
//! Each update is a convex combination, so α ≥ min x and β ≤ max x: a batch with an
//! outlier moves the range by only c of the way. With one batch (`batch` ≥ n) this
//! is plain MinMax. The averages run in f64.

use crate::quant::{check_finite, QuantError};

/// PyTorch's default averaging constant.
pub const DEFAULT_MOMENTUM: f32 = 0.01;
/// Values per batch when the user does not choose.
pub const DEFAULT_BATCH: usize = 256;

/// The most values per batch (a larger batch is plain MinMax on any tensor the app can hold).
pub const MAX_BATCH: usize = 1 << 20;

pub fn default_momentum() -> f32 {
    DEFAULT_MOMENTUM
}

pub fn default_batch() -> usize {
    DEFAULT_BATCH
}

/// momentum ∈ (0, 1], batch ∈ [1, 1048576].
pub fn validate(momentum: f32, batch: usize) -> Result<(), QuantError> {
    if !(momentum > 0.0 && momentum <= 1.0) {
        return Err(QuantError::OutOfRange { setting: "momentum", value: momentum as f64, allowed: "(0, 1]" });
    }
    if !(1..=MAX_BATCH).contains(&batch) {
        return Err(QuantError::OutOfRange { setting: "batch", value: batch as f64, allowed: "[1, 1048576]" });
    }
    Ok(())
}

pub fn moving_average_range(x: &[f32], momentum: f32, batch: usize) -> Result<(f32, f32), QuantError> {
    validate(momentum, batch)?;
    if x.is_empty() {
        return Err(QuantError::Empty);
    }
    check_finite(x)?;
    let c = momentum as f64;
    let mut running: Option<(f64, f64)> = None;
    for chunk in x.chunks(batch) {
        let (lo, hi) =
            chunk.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v as f64), hi.max(v as f64)));
        running = Some(match running {
            None => (lo, hi),
            // m = m + c·(x − m)
            Some((m_min, m_max)) => (m_min + c * (lo - m_min), m_max + c * (hi - m_max)),
        });
    }
    let (m_min, m_max) = running.unwrap_or((0.0, 0.0)); // x is non-empty: at least one batch ran
    Ok((m_min as f32, m_max as f32))
}

//! MinMax (MindSpore Lite's `MAX_MIN`): the range is the data's own extent,
//!
//! ```text
//! (α, β) = (min x, max x)
//! ```
//!
//! Nothing is clipped; a single outlier stretches the step s for every other value.

use crate::quant::{min_max, QuantError};

/// (min x, max x); [`QuantError::Empty`] or [`QuantError::NonFinite`] on bad input.
pub fn min_max_range(x: &[f32]) -> Result<(f32, f32), QuantError> {
    min_max(x)
}

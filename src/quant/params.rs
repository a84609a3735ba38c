//! Scale and zero point from a float range [α, β] under a scheme.
//!
//! ```text
//! asymmetric:  s = (β − α) / (βq − αq)                 Z = round(αq − α / s)
//! symmetric:   s = max(|α|, |β|) / ((βq − αq) / 2)      Z = ⌊(qmin + qmax + 1) / 2⌋  (0 when signed)
//! ```
//!
//! The arithmetic is in f32, as in the lab's PyTorch code, so the handout's
//! integers come out exactly.

use serde::{Deserialize, Serialize};

use super::{QuantError, Scheme};

/// The parameters that map floats to integers and back.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct QParams {
    /// The float range [α, β] that was mapped (after any guard).
    pub alpha: f32,
    pub beta: f32,
    /// [αq, βq]: the integer range that [α, β] was mapped onto.
    pub grid_min: i32,
    pub grid_max: i32,
    /// s, the float value of one integer step.
    pub scale: f32,
    /// Z, the integer that represents the float 0.
    pub zero_point: i32,
    /// [qmin, qmax]: the clamp limits.
    pub qmin: i32,
    pub qmax: i32,
}

/// What the scale guard did to a range that had zero width.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum RangeGuard {
    /// The range was used as given.
    None,
    /// β − α was 0 (a constant tensor, or a slider pushed onto the other):
    /// the range was widened to include 0, that is [min(α, 0), max(β, 0)],
    /// so the constant lands exactly on an end of the grid; an all-zero
    /// tensor gets [−1, 1]. Without the guard s would be 0 and r / s undefined.
    Widened { from_alpha: f32, from_beta: f32 },
}

/// Largest |Z| accepted: beyond 2^24 an f32 no longer holds every integer.
const MAX_ZERO_POINT: f32 = (1 << 24) as f32;

impl QParams {
    pub fn from_range(alpha: f32, beta: f32, scheme: &Scheme) -> Result<(QParams, RangeGuard), QuantError> {
        scheme.validate()?;
        if !alpha.is_finite() || !beta.is_finite() || alpha > beta {
            return Err(QuantError::BadRange { alpha, beta });
        }
        let (mut a, mut b, mut guard) = (alpha, beta, RangeGuard::None);
        if b - a <= 0.0 {
            guard = RangeGuard::Widened { from_alpha: alpha, from_beta: beta };
            (a, b) = (a.min(0.0), b.max(0.0));
            if b - a <= 0.0 {
                (a, b) = (-1.0, 1.0);
            }
        }
        // The asymmetric scale divides β − α; the symmetric one only max(|α|, |β|), which a range
        // as wide as [−3e38, 3e38] still has.
        if !scheme.symmetric && !(b - a).is_finite() {
            return Err(QuantError::RangeTooWide { alpha, beta });
        }
        let (qmin, qmax) = scheme.clamp_range();
        let (grid_min, grid_max) = scheme.grid_range();
        let span = (grid_max - grid_min) as f32; // βq − αq
        let (scale, zero_point) = if scheme.symmetric {
            // s = max(|α|, |β|) / ((βq − αq) / 2)
            let amax = a.abs().max(b.abs());
            (amax / (span / 2.0), (qmin + qmax + 1).div_euclid(2))
        } else {
            // s = (β − α) / (βq − αq),  Z = round(αq − α / s)
            let s = (b - a) / span;
            if !s.is_finite() {
                return Err(QuantError::RangeTooWide { alpha, beta });
            }
            if s <= 0.0 {
                return Err(QuantError::ScaleUnderflow { alpha, beta });
            }
            let z = (grid_min as f32 - a / s).round_ties_even();
            if !z.is_finite() || z.abs() > MAX_ZERO_POINT {
                return Err(QuantError::ZeroPointOverflow { alpha, beta });
            }
            (s, z as i32)
        };
        if !scale.is_finite() {
            return Err(QuantError::RangeTooWide { alpha, beta });
        }
        if scale <= 0.0 {
            return Err(QuantError::ScaleUnderflow { alpha, beta });
        }
        let params = QParams { alpha: a, beta: b, grid_min, grid_max, scale, zero_point, qmin, qmax };
        // The grid's outermost levels (qmin − Z)·s and (qmax − Z)·s must be floats too: with
        // |β| near f32's largest, −128·s or 65535·s is past it, and r' would be ±∞.
        let (lo, hi) = params.clamp_limits();
        if !lo.is_finite() || !hi.is_finite() {
            return Err(QuantError::RangeTooWide { alpha, beta });
        }
        Ok((params, guard))
    }

    /// The float values of every clamp-range level, r' = (q − Z) · s for q in [qmin, qmax].
    /// At most `limit` of them (evenly strided) so a 16-bit grid stays drawable.
    pub fn grid_values(&self, limit: usize) -> Vec<f32> {
        let levels = (self.qmax - self.qmin) as usize + 1;
        let stride = levels.div_ceil(limit.max(1)).max(1);
        (self.qmin..=self.qmax).step_by(stride).map(|q| self.dequantize(q)).collect()
    }

    /// The float interval that is not clamped: [(qmin − Z)·s, (qmax − Z)·s].
    pub fn clamp_limits(&self) -> (f32, f32) {
        (self.dequantize(self.qmin), self.dequantize(self.qmax))
    }

    /// r' = (q − Z) · s
    #[inline]
    pub fn dequantize(&self, q: i32) -> f32 {
        (q - self.zero_point) as f32 * self.scale
    }
}

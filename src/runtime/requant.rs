//! Integer requantization with TensorFlow Lite's reference semantics
//! (`kernels/internal/common.h`, gemmlowp's fixed-point helpers).
//!
//! A real multiplier `real = s_x · s_w / s_y` (0 < real < 2^31) is stored as a
//! 31-bit fixed-point multiplier M0 and a power-of-two shift:
//!
//! ```text
//! real = q · 2^shift, q ∈ [0.5, 1)          (frexp)
//! M0   = round(q · 2^31)                     (half away from zero; 2^31 folds into shift + 1)
//! requantize(acc) = RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(acc · 2^max(shift, 0), M0), max(−shift, 0))
//! ```

/// A real multiplier as TFLite stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuantizedMultiplier {
    /// M0 ∈ [2^30, 2^31 − 1], or 0 for a zero multiplier.
    pub multiplier: i32,
    /// real = M0 · 2^(shift − 31).
    pub shift: i32,
}

/// TFLite's `QuantizeMultiplier`. Multipliers below 2^−31 become 0; above
/// 2^30 they saturate (TFLite does the same).
pub fn quantize_multiplier(real: f64) -> QuantizedMultiplier {
    if !real.is_finite() || real <= 0.0 {
        return QuantizedMultiplier { multiplier: 0, shift: 0 };
    }
    let (q, mut shift) = frexp(real);
    // round(q · 2^31), half away from zero like std::round.
    let mut q_fixed = (q * (1i64 << 31) as f64).round() as i64;
    if q_fixed == 1i64 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        return QuantizedMultiplier { multiplier: 0, shift: 0 };
    }
    if shift > 30 {
        return QuantizedMultiplier { multiplier: i32::MAX, shift: 30 };
    }
    QuantizedMultiplier { multiplier: q_fixed as i32, shift }
}

/// x = q · 2^e with q ∈ [0.5, 1), for finite x > 0 (C's frexp).
fn frexp(x: f64) -> (f64, i32) {
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        // Subnormal: scale up by 2^64 first.
        let (q, e) = frexp(x * f64::from_bits(0x43f0_0000_0000_0000));
        return (q, e - 64);
    }
    let q = f64::from_bits((bits & !(0x7ff << 52)) | (1022u64 << 52));
    (q, exp - 1022)
}

/// gemmlowp's SaturatingRoundingDoublingHighMul: round(a · b / 2^31), with the
/// single overflow case (INT32_MIN · INT32_MIN) saturating to INT32_MAX.
#[inline]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == b && a == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge = if ab >= 0 { 1i64 << 30 } else { 1 - (1i64 << 30) };
    // C++ integer division truncates toward zero; so does Rust's.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp's RoundingDivideByPOT: x / 2^exponent rounded half away from zero.
#[inline]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    debug_assert!((0..=31).contains(&exponent));
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + (x < 0) as i32;
    (x >> exponent) + (remainder > threshold) as i32
}

/// TFLite's MultiplyByQuantizedMultiplier: acc · real, in integers.
/// The left shift wraps on overflow, where TFLite's C++ would be undefined;
/// real multipliers in a quantized model are < 1, so it does not occur there.
#[inline]
pub fn multiply_by_quantized_multiplier(acc: i32, m: QuantizedMultiplier) -> i32 {
    let left = m.shift.max(0);
    let right = (-m.shift).max(0);
    rounding_divide_by_pot(saturating_rounding_doubling_high_mul(acc.wrapping_shl(left as u32), m.multiplier), right)
}

/// out = clamp(requantize(acc) + zp_y, act_min, act_max): the output stage of
/// a quantized layer, with ReLU fused as act_min = zp_y.
#[inline]
pub fn requantize(acc: i32, m: QuantizedMultiplier, zp_y: i32, act_min: i32, act_max: i32) -> i32 {
    (multiply_by_quantized_multiplier(acc, m).saturating_add(zp_y)).clamp(act_min, act_max)
}

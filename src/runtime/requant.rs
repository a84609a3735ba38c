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

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod simd128;

/// The output stage of a quantized layer, one entry per output channel n:
///
/// ```text
/// y[m, n] = clamp(requantize(acc[m, n] + bias[n], multipliers[n]) + zp_y, act_min, act_max)
/// ```
///
/// `bias` already holds the folded zero-point term (see `qlinear`). The
/// constructor also lays the per-channel constants out for 4-lane SIMD
/// ([`OutputStage::lanes`]), so the SIMD requantization and the fused GEMM
/// read one contiguous block per group of 4 channels.
///
/// The fields are private so that they cannot drift from the lane constants
/// derived from them; read them through the accessors.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputStage {
    n: usize,
    bias: Vec<i32>,
    multipliers: Vec<QuantizedMultiplier>,
    zp_y: i32,
    /// act_min ≤ act_max; the int8 outputs need [act_min, act_max] ⊆ [−128, 127].
    act_min: i32,
    act_max: i32,
    lanes: Vec<i32>,
}

/// i32x4 vectors per group of 4 channels in [`OutputStage::lanes`].
pub const LANE_VECS: usize = 12;
/// Index of each per-channel constant inside a group (each is 4 lanes).
pub mod lane {
    /// bias[n]
    pub const BIAS: usize = 0;
    /// 2^left as a wrapping i32 (left = max(shift, 0)): `x · 2^left` is `acc.wrapping_shl(left)`.
    pub const LEFT_MUL: usize = 1;
    /// M0
    pub const M0: usize = 2;
    /// −1 where M0 = i32::MIN (then INT32_MIN · INT32_MIN must saturate), else 0.
    pub const SAT: usize = 3;
    /// 2^e − 1 with e = max(−shift, 0), the remainder mask of the rounding shift.
    pub const MASK: usize = 4;
    /// mask >> 1, the rounding threshold for x ≥ 0.
    pub const HALF: usize = 5;
    /// 2^(31 − e) as u32: floor(x / 2^e) = floor((x + 2^31) · 2^(31−e) / 2^31) − 2^(31−e).
    pub const F: usize = 6;
    /// clamp bounds after removing zp_y, clamped to i32: lo' = act_min − zp_y, hi' = act_max − zp_y.
    pub const LO: usize = 7;
    pub const HI: usize = 8;
    /// zp_y, act_min, act_max (the same in every lane; stored here so a group is one block).
    pub const ZP: usize = 9;
    pub const AMIN: usize = 10;
    pub const AMAX: usize = 11;
}

impl OutputStage {
    pub fn new(bias: Vec<i32>, multipliers: Vec<QuantizedMultiplier>, zp_y: i32, act_min: i32, act_max: i32) -> OutputStage {
        let n = bias.len();
        assert_eq!(multipliers.len(), n, "OutputStage: one multiplier per channel");
        assert!(act_min <= act_max, "OutputStage: act_min > act_max");
        // Whole panels of up to 16 channels, so a kernel may load the groups of its last panel.
        let groups = n.div_ceil(16) * 4;
        let mut lanes = vec![0i32; groups * LANE_VECS * 4];
        // Bounds of the pre-clamp, so that the SIMD code never overflows adding zp_y (see simd128).
        let lo = (act_min as i64 - zp_y as i64).clamp(i32::MIN as i64, i32::MAX as i64) as i32;
        let hi = (act_max as i64 - zp_y as i64).clamp(i32::MIN as i64, i32::MAX as i64) as i32;
        for ch in 0..groups * 4 {
            let (g, l) = (ch / 4, ch % 4);
            let at = |v: usize| (g * LANE_VECS + v) * 4 + l;
            let (b, m) = if ch < n { (bias[ch], multipliers[ch]) } else { (0, QuantizedMultiplier { multiplier: 0, shift: 0 }) };
            let left = m.shift.max(0) as u32;
            let e = (-m.shift).max(0);
            // rounding_divide_by_pot requires e ≤ 31; so does the scalar reference.
            assert!(e <= 31, "OutputStage: shift {} below −31", m.shift);
            let mask = ((1i64 << e) - 1) as i32;
            lanes[at(lane::BIAS)] = b;
            lanes[at(lane::LEFT_MUL)] = 1i32.wrapping_shl(left);
            lanes[at(lane::M0)] = m.multiplier;
            lanes[at(lane::SAT)] = -((m.multiplier == i32::MIN) as i32);
            lanes[at(lane::MASK)] = mask;
            lanes[at(lane::HALF)] = mask >> 1;
            lanes[at(lane::F)] = (1u32 << (31 - e)) as i32;
            lanes[at(lane::LO)] = lo;
            lanes[at(lane::HI)] = hi;
            lanes[at(lane::ZP)] = zp_y;
            lanes[at(lane::AMIN)] = act_min;
            lanes[at(lane::AMAX)] = act_max;
        }
        OutputStage { n, bias, multipliers, zp_y, act_min, act_max, lanes }
    }

    /// Output channels.
    pub fn n(&self) -> usize {
        self.n
    }

    /// bias[n] (the folded zero-point term included).
    pub fn bias(&self) -> &[i32] {
        &self.bias
    }

    pub fn multipliers(&self) -> &[QuantizedMultiplier] {
        &self.multipliers
    }

    pub fn zp_y(&self) -> i32 {
        self.zp_y
    }

    /// The clamp [act_min, act_max].
    pub fn clamp(&self) -> (i32, i32) {
        (self.act_min, self.act_max)
    }

    /// The per-channel constants, [4·⌈n/16⌉][LANE_VECS][4] i32 (channels past n are padding).
    pub fn lanes(&self) -> &[i32] {
        &self.lanes
    }

    /// Whether the outputs fit int8 (the kernels store `as i8` only then).
    pub fn fits_i8(&self) -> bool {
        self.act_min >= -128 && self.act_max <= 127
    }

    /// The scalar reference for one accumulator of channel `ch`.
    #[inline]
    pub fn apply(&self, acc: i32, ch: usize) -> i32 {
        requantize(acc.wrapping_add(self.bias[ch]), self.multipliers[ch], self.zp_y, self.act_min, self.act_max)
    }
}

/// The scalar reference: y [M, N] i8 from acc [M, N] i32 through `stage`
/// (each output is `requantize(...) as i8`, so [act_min, act_max] should lie in [−128, 127]).
pub fn requantize_rows(acc: &[i32], stage: &OutputStage, y: &mut [i8]) {
    let n = stage.n();
    assert!(acc.len() == y.len() && (n == 0 || acc.len().is_multiple_of(n)), "requantize_rows: shapes");
    for (row_acc, row_y) in acc.chunks_exact(n.max(1)).zip(y.chunks_exact_mut(n.max(1))) {
        for ch in 0..n {
            row_y[ch] = stage.apply(row_acc[ch], ch) as i8;
        }
    }
}

/// One requantization implementation: y [M, N] i8 from acc [M, N] i32.
#[derive(Clone, Copy)]
pub struct Requant {
    pub name: &'static str,
    pub run: fn(acc: &[i32], stage: &OutputStage, y: &mut [i8]),
}

pub const SCALAR: Requant = Requant { name: "scalar", run: requantize_rows };

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub const SIMD128: Requant = Requant { name: "simd128", run: simd128::requantize_rows };

/// Every implementation in this build, reference first.
pub fn all() -> Vec<Requant> {
    #[allow(unused_mut)]
    let mut v = vec![SCALAR];
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    v.push(SIMD128);
    v
}

/// The fastest implementation in this build.
pub fn best() -> Requant {
    // The last entry of [`all`], without building the list on every call.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return SIMD128;
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    SCALAR
}

//! 16-bit float round trips, x' = f32(f16(x)) and x' = f32(bf16(x)), so that a
//! low-bit integer grid can be compared with the 16-bit float formats on the
//! same metrics.
//!
//! ```text
//! FP16 (IEEE binary16): 1 sign, 5 exponent, 10 mantissa bits. max 65504, ε = 2⁻¹⁰,
//!                       subnormals down to 2⁻²⁴ ≈ 6.0e−8; |x| ≥ 65520 rounds to ±Inf.
//! BF16 (bfloat16):      1 sign, 8 exponent, 7 mantissa bits. f32's range, ε = 2⁻⁷.
//! ```
//!
//! Both conversions round to nearest, ties to even (the `half` crate, in
//! software where the CPU has no instruction), so native and wasm give the same
//! bits. NaN stays NaN; ±Inf stays ±Inf. The functions are total: they never fail.

use half::{bf16, f16};
use serde::{Deserialize, Serialize};

/// The 16-bit float formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Float16Format {
    Fp16,
    Bf16,
}

impl Float16Format {
    pub const ALL: [Float16Format; 2] = [Float16Format::Fp16, Float16Format::Bf16];

    pub fn name(self) -> &'static str {
        match self {
            Float16Format::Fp16 => "fp16",
            Float16Format::Bf16 => "bf16",
        }
    }

    /// Largest finite value: 65504 (FP16), ≈ 3.39e38 (BF16).
    pub fn max_finite(self) -> f32 {
        match self {
            Float16Format::Fp16 => f16::MAX.to_f32(),
            Float16Format::Bf16 => bf16::MAX.to_f32(),
        }
    }

    /// Machine epsilon, the gap from 1 to the next value: 2⁻¹⁰ (FP16), 2⁻⁷ (BF16).
    /// The relative rounding error of a normal value is at most ε / 2.
    pub fn epsilon(self) -> f32 {
        match self {
            Float16Format::Fp16 => f16::EPSILON.to_f32(),
            Float16Format::Bf16 => bf16::EPSILON.to_f32(),
        }
    }

    /// x' = f32(format(x)), element by element.
    pub fn round_trip(self, x: &[f32]) -> Vec<f32> {
        match self {
            Float16Format::Fp16 => fp16_round_trip(x),
            Float16Format::Bf16 => bf16_round_trip(x),
        }
    }
}

/// x' = f32(f16(x)): round to the nearest FP16 (ties to even), back to f32 exactly.
pub fn fp16_round_trip(x: &[f32]) -> Vec<f32> {
    x.iter().map(|&v| f16::from_f32(v).to_f32()).collect()
}

/// x' = f32(bf16(x)): round to the nearest BF16 (ties to even), back to f32 exactly.
pub fn bf16_round_trip(x: &[f32]) -> Vec<f32> {
    x.iter().map(|&v| bf16::from_f32(v).to_f32()).collect()
}

//! Rounding modes. Every mode is a pure function of the value (and, for
//! stochastic rounding, of the seed and the element's index), so scalar and
//! SIMD kernels give identical integers whatever order they run in.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Round half to even (banker's rounding): torch.round, numpy.round, IEEE default.
    HalfEven,
    /// Round half away from zero: C's round(), TFLite's reference.
    HalfAway,
    /// Round toward −∞.
    Floor,
    /// Round up with probability equal to the fractional part; seeded, so repeatable.
    Stochastic { seed: u64 },
}

impl Rounding {
    pub fn name(self) -> &'static str {
        match self {
            Rounding::HalfEven => "half_even",
            Rounding::HalfAway => "half_away",
            Rounding::Floor => "floor",
            Rounding::Stochastic { .. } => "stochastic",
        }
    }

    /// The mode [`Rounding::name`] calls `name` (stochastic with `seed`); `None` for another name.
    pub fn from_name(name: &str, seed: u64) -> Option<Rounding> {
        match name {
            "half_even" => Some(Rounding::HalfEven),
            "half_away" => Some(Rounding::HalfAway),
            "floor" => Some(Rounding::Floor),
            "stochastic" => Some(Rounding::Stochastic { seed }),
            _ => None,
        }
    }

    /// Rounds `x` (the element at flat index `index`) to an integer-valued float.
    #[inline]
    pub fn round(self, x: f32, index: usize) -> f32 {
        match self {
            Rounding::HalfEven => x.round_ties_even(),
            Rounding::HalfAway => x.round(),
            Rounding::Floor => x.floor(),
            Rounding::Stochastic { seed } => {
                let fl = x.floor();
                // u ∈ [0, 1) with 24 random bits; round up when u < frac(x).
                if uniform24(seed, index) < x - fl {
                    fl + 1.0
                } else {
                    fl
                }
            }
        }
    }
}

/// A counter-based uniform number in [0, 1) for element `index` under `seed`:
/// splitmix64's finaliser over (seed, index), top 24 bits, so it is exact in f32.
#[inline]
pub fn uniform24(seed: u64, index: usize) -> f32 {
    let mut z = seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 40) as f32 * (1.0 / (1u32 << 24) as f32)
}

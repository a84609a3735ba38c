//! Seeded test tensors: the same (distribution, shape, seed) gives the same
//! values on every platform, native and wasm32.
//!
//! Why it is reproducible: ChaCha8 (`rand_chacha`) is a counter-based stream
//! defined bit for bit, and every draw below is a 64-bit one (no `usize`, whose
//! width differs between wasm32 and 64-bit hosts). Values are formed in f64 with
//! IEEE-754 basic operations only (+, −, ×, ÷, which Rust never fuses), then
//! rounded once to f32. The only transcendental calls are inside `rand_distr`'s
//! ziggurat samplers (`StandardNormal`, `Exp1`), in their rare tail and wedge
//! branches, on f64: a last-ulp difference between two platforms' `exp`/`ln`
//! there would also have to survive the rounding to f32 to show.
//!
//! ```text
//! normal         x = μ + σ·z,                 z ~ N(0, 1)
//! uniform        x ~ U[low, high)             (rand's Uniform<f32>)
//! laplace        x = μ ± b·e,                 e ~ Exp(1), sign from a fair coin
//! bimodal        x = μ_a + σ_a·z with probability w_a, else μ_b + σ_b·z
//! with_outliers  x = μ + σ·z, then k = round(fraction · n) values at distinct seeded positions
//!                are replaced by x = μ ± magnitude·(1 + u),   u ~ U[0, 1)
//!                (|x − μ| ∈ [magnitude, 2·magnitude)), signs alternating +, −, +, … so both
//!                tails get them
//! ```
//!
//! The outliers are counted, not drawn one coin per value: a tensor the user asks to hold
//! outliers always holds round(fraction · n) of them (a coin per value left the Tensor page's
//! 1,024-value default with none at all a third of the time).
//!
//! Limits: at most [`MAX_ELEMENTS`] values ([`QuantError::TooLarge`]); an empty
//! shape product is [`QuantError::Empty`]; every parameter must be finite with
//! magnitude ≤ [`MAX_PARAM`] (so that no draw overflows f32), σ, b ≥ 0 (0 gives a
//! constant tensor), low < high, probabilities in [0, 1] ([`QuantError::OutOfRange`]).

use rand::distr::{Distribution as _, Uniform};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Exp1, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::quant::QuantError;

/// At most 2²² ≈ 4.2 million values (16 MiB of f32).
pub const MAX_ELEMENTS: usize = 1 << 22;
/// Largest |parameter|: even a 40σ draw stays far below f32::MAX ≈ 3.4e38.
pub const MAX_PARAM: f32 = 1e30;

/// A distribution and its parameters, serialised with a `distribution` tag,
/// e.g. `{"distribution":"normal","mean":0.0,"std":1.0}`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "distribution", rename_all = "snake_case")]
pub enum Distribution {
    Normal {
        mean: f32,
        std: f32,
    },
    Uniform {
        low: f32,
        high: f32,
    },
    Laplace {
        mean: f32,
        scale: f32,
    },
    /// A mixture of N(mean_a, std_a²) with weight `weight_a` and N(mean_b, std_b²).
    Bimodal {
        mean_a: f32,
        std_a: f32,
        mean_b: f32,
        std_b: f32,
        weight_a: f32,
    },
    /// N(mean, std²) with round(fraction · n) values replaced by outliers `magnitude`..2·`magnitude`
    /// from the mean, on both sides.
    WithOutliers {
        mean: f32,
        std: f32,
        fraction: f32,
        magnitude: f32,
    },
}

impl Default for Distribution {
    fn default() -> Distribution {
        Distribution::Normal { mean: 0.0, std: 1.0 }
    }
}

impl Distribution {
    pub fn name(&self) -> &'static str {
        match self {
            Distribution::Normal { .. } => "normal",
            Distribution::Uniform { .. } => "uniform",
            Distribution::Laplace { .. } => "laplace",
            Distribution::Bimodal { .. } => "bimodal",
            Distribution::WithOutliers { .. } => "with_outliers",
        }
    }

    /// One example of each distribution, with settings that show its character (the Tensor
    /// page's defaults). With outliers: N(0, 1) and one value in 20,000 at 20–40 σ, so the page's
    /// default tensor for it ([`example_shape`]: 128 × 256) holds two, one in each tail, and the
    /// calibrators visibly disagree: MinMax spans them, percentile (99.99 %) and KL clip them.
    pub fn examples() -> [Distribution; 5] {
        [
            Distribution::Normal { mean: 0.0, std: 1.0 },
            Distribution::Uniform { low: -1.0, high: 1.0 },
            Distribution::Laplace { mean: 0.0, scale: 1.0 },
            Distribution::Bimodal { mean_a: -2.0, std_a: 0.5, mean_b: 2.0, std_b: 0.5, weight_a: 0.5 },
            Distribution::WithOutliers { mean: 0.0, std: 1.0, fraction: 0.00005, magnitude: 20.0 },
        ]
    }

    /// The [rows, cols] the Tensor page generates this distribution at unless the user changes
    /// it: 16 × 64, and 128 × 256 (32,768 values) with outliers, enough values for the default
    /// percentile (99.99 %, 0.005 % cut from each tail = 1.6 values) to leave an outlier out.
    pub fn example_shape(&self) -> (usize, usize) {
        match self {
            Distribution::WithOutliers { .. } => (128, 256),
            _ => (16, 64),
        }
    }

    /// Checks every parameter (see the module header).
    pub fn validate(&self) -> Result<(), QuantError> {
        fn param(setting: &'static str, v: f32) -> Result<(), QuantError> {
            if v.is_nan() || v.abs() > MAX_PARAM {
                return Err(QuantError::OutOfRange { setting, value: v as f64, allowed: "[-1e30, 1e30]" });
            }
            Ok(())
        }
        fn non_negative(setting: &'static str, v: f32) -> Result<(), QuantError> {
            param(setting, v)?;
            if v < 0.0 {
                return Err(QuantError::OutOfRange { setting, value: v as f64, allowed: "[0, 1e30]" });
            }
            Ok(())
        }
        fn probability(setting: &'static str, v: f32) -> Result<(), QuantError> {
            if !(0.0..=1.0).contains(&v) {
                return Err(QuantError::OutOfRange { setting, value: v as f64, allowed: "[0, 1]" });
            }
            Ok(())
        }
        match *self {
            Distribution::Normal { mean, std } => {
                param("normal mean", mean)?;
                non_negative("normal std", std)
            }
            Distribution::Uniform { low, high } => {
                param("uniform low", low)?;
                param("uniform high", high)?;
                if low >= high {
                    return Err(QuantError::OutOfRange {
                        setting: "uniform high",
                        value: high as f64,
                        allowed: "(low, 1e30]: high must exceed low",
                    });
                }
                Ok(())
            }
            Distribution::Laplace { mean, scale } => {
                param("laplace mean", mean)?;
                non_negative("laplace scale", scale)
            }
            Distribution::Bimodal { mean_a, std_a, mean_b, std_b, weight_a } => {
                param("bimodal mean_a", mean_a)?;
                non_negative("bimodal std_a", std_a)?;
                param("bimodal mean_b", mean_b)?;
                non_negative("bimodal std_b", std_b)?;
                probability("bimodal weight_a", weight_a)
            }
            Distribution::WithOutliers { mean, std, fraction, magnitude } => {
                param("outliers mean", mean)?;
                non_negative("outliers std", std)?;
                probability("outliers fraction", fraction)?;
                non_negative("outliers magnitude", magnitude)
            }
        }
    }
}

/// The number of elements of `shape`, within [`MAX_ELEMENTS`].
fn element_count(shape: &[usize]) -> Result<usize, QuantError> {
    let n = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    match n {
        None => Err(QuantError::TooLarge { elements: None, limit: MAX_ELEMENTS }),
        Some(n) if n > MAX_ELEMENTS => Err(QuantError::TooLarge { elements: Some(n), limit: MAX_ELEMENTS }),
        Some(0) => Err(QuantError::Empty),
        Some(n) => Ok(n),
    }
}

/// `shape`'s product of values from `dist`, seeded by `seed` (row-major order).
pub fn generate(dist: &Distribution, shape: &[usize], seed: u64) -> Result<Vec<f32>, QuantError> {
    dist.validate()?;
    let n = element_count(shape)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n);
    // z ~ N(0, 1) and e ~ Exp(1), drawn as f64.
    let normal = |rng: &mut ChaCha8Rng| -> f64 { StandardNormal.sample(rng) };
    let coin = |rng: &mut ChaCha8Rng, p: f32| -> bool { rng.random::<f64>() < p as f64 };
    match *dist {
        Distribution::Normal { mean, std } => {
            for _ in 0..n {
                // x = μ + σ·z
                out.push((mean as f64 + std as f64 * normal(&mut rng)) as f32);
            }
        }
        Distribution::Uniform { low, high } => {
            let u = Uniform::new(low, high).map_err(|_| QuantError::OutOfRange {
                setting: "uniform high",
                value: high as f64,
                allowed: "(low, 1e30]: high must exceed low",
            })?;
            out.extend((0..n).map(|_| u.sample(&mut rng)));
        }
        Distribution::Laplace { mean, scale } => {
            for _ in 0..n {
                // x = μ ± b·e
                let e: f64 = Exp1.sample(&mut rng);
                let sign = if coin(&mut rng, 0.5) { 1.0 } else { -1.0 };
                out.push((mean as f64 + sign * scale as f64 * e) as f32);
            }
        }
        Distribution::Bimodal { mean_a, std_a, mean_b, std_b, weight_a } => {
            for _ in 0..n {
                let (m, s) = if coin(&mut rng, weight_a) { (mean_a, std_a) } else { (mean_b, std_b) };
                out.push((m as f64 + s as f64 * normal(&mut rng)) as f32);
            }
        }
        Distribution::WithOutliers { mean, std, fraction, magnitude } => {
            for _ in 0..n {
                // x = μ + σ·z
                out.push((mean as f64 + std as f64 * normal(&mut rng)) as f32);
            }
            // k distinct positions by a partial Fisher–Yates shuffle of 0..n, kept sparse (only
            // the swapped slots are stored), each from a 64-bit draw.
            let k = ((fraction as f64 * n as f64).round() as usize).min(n);
            let mut swapped = std::collections::HashMap::new();
            for j in 0..k {
                let r = j + (rng.random::<u64>() % (n - j) as u64) as usize;
                let at_r = *swapped.get(&r).unwrap_or(&r);
                let at_j = *swapped.get(&j).unwrap_or(&j);
                swapped.insert(r, at_j);
                let u: f64 = rng.random();
                let sign = if j % 2 == 0 { 1.0 } else { -1.0 };
                // x = μ ± magnitude·(1 + u)
                out[at_r] = (mean as f64 + sign * magnitude as f64 * (1.0 + u)) as f32;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_outlier_tensor_has_outliers_the_calibrators_disagree_on() {
        use crate::quant::calibration::{calibrate, Calibration, CalibrationKind};
        use crate::quant::{Method, Scheme};
        // The Tensor page's defaults: the example distribution at its example shape, seed 0.
        let d = Distribution::examples().into_iter().find(|d| d.name() == "with_outliers").unwrap();
        let (rows, cols) = d.example_shape();
        let x = generate(&d, &[rows, cols], 0).unwrap();
        let outliers = x.iter().filter(|v| v.abs() >= 10.0).count();
        assert_eq!(outliers, 2, "values at ≥ 10 σ");
        let scheme = Scheme::lab(Method::Normal, 8);
        let range = |kind| calibrate(&x, &scheme, &Calibration::default_for(kind)).unwrap();
        let (min_max, percentile) = (range(CalibrationKind::MinMax), range(CalibrationKind::Percentile));
        let (kl, mse) = (range(CalibrationKind::Kl), range(CalibrationKind::Mse));
        let width = |r: (f32, f32)| r.1 - r.0;
        eprintln!("{outliers} outliers; ranges: min_max {min_max:?}, percentile {percentile:?}, kl {kl:?}, mse {mse:?}");
        assert!(min_max.0 <= -20.0 && min_max.1 >= 20.0, "MinMax spans both outliers: {min_max:?}");
        // The body of 32,766 N(0, 1) values reaches about ±4.5 σ.
        assert!(percentile.0 > -6.0 && percentile.1 < 6.0, "percentile leaves the outliers out: {percentile:?}");
        assert!(width(kl) < 0.5 * width(min_max), "KL {kl:?} against MinMax {min_max:?}");
        assert!(width(mse) <= width(min_max), "MSE {mse:?} against MinMax {min_max:?}");
    }

    #[test]
    fn outlier_magnitudes_fall_in_their_band() {
        let d = Distribution::WithOutliers { mean: 0.0, std: 0.1, fraction: 0.01, magnitude: 50.0 };
        let x = generate(&d, &[20_000], 3).unwrap();
        let outliers: Vec<f32> = x.iter().copied().filter(|v| v.abs() > 10.0).collect();
        assert_eq!(outliers.len(), 200, "exactly round(0.01 · 20,000)");
        assert!(outliers.iter().all(|v| (50.0..100.0).contains(&v.abs())));
        assert_eq!(outliers.iter().filter(|v| **v > 0.0).count(), 100, "both tails alike");
        // Every value an outlier, and none.
        let all = Distribution::WithOutliers { mean: 0.0, std: 0.1, fraction: 1.0, magnitude: 50.0 };
        assert!(generate(&all, &[999], 3).unwrap().iter().all(|v| v.abs() >= 50.0));
        let none = Distribution::WithOutliers { mean: 0.0, std: 0.1, fraction: 0.0, magnitude: 50.0 };
        assert!(generate(&none, &[999], 3).unwrap().iter().all(|v| v.abs() < 10.0));
    }
}

//! Calibration: choosing the float range (α, β) that a tensor (or one slice of
//! it) is mapped onto. The calibrator only picks the range; the scheme then
//! gives the scale and zero point:
//!
//! ```text
//! (α, β) = calibrate(x, scheme, method)
//! (s, Z) = QParams::from_range(α, β, scheme)
//! ```
//!
//! One file per method:
//! - [`minmax`]: (min x, max x) (MindSpore Lite's `MAX_MIN`);
//! - [`moving_average`]: an exponential moving average of per-batch min / max (PyTorch);
//! - [`percentile`]: the range holding `percentile` % of the values;
//! - [`removal_outlier`]: min / max after dropping a fraction from each tail (MindSpore Lite);
//! - [`kl`]: TensorRT's entropy calibration (MindSpore Lite's `KL`);
//! - [`mse`]: a grid search for the clip range with the least quantization MSE.
//!
//! KL and MSE depend on the scheme (the number of levels, symmetry, the rounding);
//! the others only on the data (percentile also on symmetry). Every method
//! validates its setting first ([`QuantError::OutOfRange`] names it), then the
//! data ([`QuantError::Empty`], [`QuantError::NonFinite`] with the index), and
//! returns α ≤ β. [`compare`] runs several methods side by side on one tensor.

pub mod kl;
pub mod minmax;
pub mod moving_average;
pub mod mse;
pub mod percentile;
pub mod removal_outlier;

use serde::{Deserialize, Serialize};

use super::{check_finite, kernels, QParams, QuantError, RangeGuard, Scheme};
use crate::metrics::{clip_ratio, sqnr_from_sums};

/// A calibration method and its setting. Serialised with a `method` tag, e.g.
/// `{"method":"percentile","percentile":99.99}` or `{"method":"min_max"}`. A setting left out
/// takes its default (`{ method = "kl" }` is 2048 bins); an unknown field is an error.
///
/// The allowed settings, the one limit checked wherever a setting is read (a link, TOML,
/// MindSpore Lite INI, the CLI), see [`Calibration::validate`]:
///
/// | method | setting | allowed |
/// | --- | --- | --- |
/// | moving_average_min_max | momentum, batch | (0, 1], 1 ..= 1,048,576 |
/// | percentile | percentile | (0, 100] |
/// | removal_outlier | ratio | [0, 0.5) |
/// | kl | bins | 128 ..= 8192 ([`kl::MIN_BINS`], [`kl::MAX_BINS`]) |
/// | mse | steps | 1 ..= 10,000 |
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum Calibration {
    /// (min x, max x).
    MinMax,
    /// m ← m + momentum·(batch min/max − m) over batches of `batch` values.
    MovingAverageMinMax {
        #[serde(default = "moving_average::default_momentum")]
        momentum: f32,
        #[serde(default = "moving_average::default_batch")]
        batch: usize,
    },
    /// The range holding `percentile` % of the values, percentile ∈ (0, 100].
    Percentile {
        #[serde(default = "percentile::default_percentile")]
        percentile: f32,
    },
    /// Drop a fraction `ratio` ∈ [0, 0.5) of the values from each tail.
    RemovalOutlier {
        #[serde(default = "removal_outlier::default_ratio")]
        ratio: f32,
    },
    /// TensorRT entropy calibration over a histogram of `bins` ∈ [128, 8192] bins.
    Kl {
        #[serde(default = "kl::default_bins")]
        bins: usize,
    },
    /// Grid search over `steps` ∈ [1, 10000] shrunken ranges for the least MSE.
    Mse {
        #[serde(default = "mse::default_steps")]
        steps: usize,
    },
}

/// The methods without their settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalibrationKind {
    MinMax,
    MovingAverageMinMax,
    Percentile,
    RemovalOutlier,
    Kl,
    Mse,
}

impl CalibrationKind {
    pub const ALL: [CalibrationKind; 6] = [
        CalibrationKind::MinMax,
        CalibrationKind::MovingAverageMinMax,
        CalibrationKind::Percentile,
        CalibrationKind::RemovalOutlier,
        CalibrationKind::Kl,
        CalibrationKind::Mse,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CalibrationKind::MinMax => "min_max",
            CalibrationKind::MovingAverageMinMax => "moving_average_min_max",
            CalibrationKind::Percentile => "percentile",
            CalibrationKind::RemovalOutlier => "removal_outlier",
            CalibrationKind::Kl => "kl",
            CalibrationKind::Mse => "mse",
        }
    }

    pub fn from_name(name: &str) -> Option<CalibrationKind> {
        CalibrationKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl Default for Calibration {
    /// MinMax, the lab's and MindSpore Lite's default.
    fn default() -> Calibration {
        Calibration::MinMax
    }
}

impl Calibration {
    /// The method with its default setting: momentum 0.01 and batches of 256,
    /// percentile 99.99, ratio 0.0001 (MindSpore Lite), 2048 KL bins (TensorRT), 100 MSE steps.
    pub fn default_for(kind: CalibrationKind) -> Calibration {
        match kind {
            CalibrationKind::MinMax => Calibration::MinMax,
            CalibrationKind::MovingAverageMinMax => Calibration::MovingAverageMinMax {
                momentum: moving_average::DEFAULT_MOMENTUM,
                batch: moving_average::DEFAULT_BATCH,
            },
            CalibrationKind::Percentile => Calibration::Percentile { percentile: percentile::DEFAULT_PERCENTILE },
            CalibrationKind::RemovalOutlier => Calibration::RemovalOutlier { ratio: removal_outlier::DEFAULT_RATIO },
            CalibrationKind::Kl => Calibration::Kl { bins: kl::DEFAULT_BINS },
            CalibrationKind::Mse => Calibration::Mse { steps: mse::DEFAULT_STEPS },
        }
    }

    /// Every method with its default setting, in [`CalibrationKind::ALL`] order.
    pub fn all_defaults() -> Vec<Calibration> {
        CalibrationKind::ALL.into_iter().map(Calibration::default_for).collect()
    }

    pub fn kind(&self) -> CalibrationKind {
        match self {
            Calibration::MinMax => CalibrationKind::MinMax,
            Calibration::MovingAverageMinMax { .. } => CalibrationKind::MovingAverageMinMax,
            Calibration::Percentile { .. } => CalibrationKind::Percentile,
            Calibration::RemovalOutlier { .. } => CalibrationKind::RemovalOutlier,
            Calibration::Kl { .. } => CalibrationKind::Kl,
            Calibration::Mse { .. } => CalibrationKind::Mse,
        }
    }

    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// Checks the setting alone (no data needed).
    pub fn validate(&self) -> Result<(), QuantError> {
        match *self {
            Calibration::MinMax => Ok(()),
            Calibration::MovingAverageMinMax { momentum, batch } => moving_average::validate(momentum, batch),
            Calibration::Percentile { percentile } => percentile::validate(percentile),
            Calibration::RemovalOutlier { ratio } => removal_outlier::validate(ratio),
            Calibration::Kl { bins } => kl::validate(bins),
            Calibration::Mse { steps } => mse::validate(steps),
        }
    }
}

/// (α, β) for x under `scheme` by `calibration`. Order of checks: the setting,
/// the scheme, then the data (empty, then the first non-finite value).
pub fn calibrate(x: &[f32], scheme: &Scheme, calibration: &Calibration) -> Result<(f32, f32), QuantError> {
    calibration.validate()?;
    scheme.validate()?;
    if x.is_empty() {
        return Err(QuantError::Empty);
    }
    check_finite(x)?;
    match *calibration {
        Calibration::MinMax => minmax::min_max_range(x),
        Calibration::MovingAverageMinMax { momentum, batch } => {
            moving_average::moving_average_range(x, momentum, batch)
        }
        Calibration::Percentile { percentile } => percentile::percentile_range(x, scheme, percentile),
        Calibration::RemovalOutlier { ratio } => removal_outlier::removal_outlier_range(x, ratio),
        Calibration::Kl { bins } => kl::kl_range(x, scheme, bins),
        Calibration::Mse { steps } => mse::mse_range(x, scheme, steps),
    }
}

/// (α, β), then the scale and zero point: `QParams::from_range(calibrate(x))`.
pub fn calibrate_params(
    x: &[f32],
    scheme: &Scheme,
    calibration: &Calibration,
) -> Result<(QParams, RangeGuard), QuantError> {
    let (alpha, beta) = calibrate(x, scheme, calibration)?;
    QParams::from_range(alpha, beta, scheme)
}

/// One calibrator's outcome on a tensor, for a side-by-side chart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CalibrationOutcome {
    /// The method's name, e.g. "percentile".
    pub name: String,
    pub calibration: Calibration,
    /// The range the calibrator chose (before any guard; `params` holds the one used).
    pub alpha: f32,
    pub beta: f32,
    pub params: QParams,
    pub guard: RangeGuard,
    /// The clamp limits [(qmin − Z)·s, (qmax − Z)·s]: where the chart draws the thresholds.
    pub clamp_lo: f32,
    pub clamp_hi: f32,
    /// 10·log10(Σ x² / Σ (x − x')²) in dB, capped as in [`crate::metrics`].
    pub sqnr_db: f64,
    /// (1/n) Σ (x − x')²
    pub mse: f64,
    /// Fraction of x outside the clamp limits.
    pub clip_ratio: f64,
}

/// Runs each calibration on the same tensor and quantizes it with the resulting
/// parameters (flat indices from 0 for stochastic rounding). The first error
/// (a bad setting, empty or non-finite data, a zero point that overflows) is returned.
pub fn compare(
    x: &[f32],
    scheme: &Scheme,
    calibrations: &[Calibration],
) -> Result<Vec<CalibrationOutcome>, QuantError> {
    let mut out = Vec::with_capacity(calibrations.len());
    let mut dequant = vec![0f32; x.len()];
    for calibration in calibrations {
        let (alpha, beta) = calibrate(x, scheme, calibration)?;
        let (params, guard) = QParams::from_range(alpha, beta, scheme)?;
        kernels::fake_quant(x, &params, scheme.rounding, 0, &mut dequant);
        let (mut signal, mut noise) = (0.0f64, 0.0f64);
        for (&a, &b) in x.iter().zip(&dequant) {
            let e = a as f64 - b as f64;
            signal += a as f64 * a as f64;
            noise += e * e;
        }
        let (clamp_lo, clamp_hi) = params.clamp_limits();
        out.push(CalibrationOutcome {
            name: calibration.name().to_string(),
            calibration: *calibration,
            alpha,
            beta,
            params,
            guard,
            clamp_lo,
            clamp_hi,
            sqnr_db: sqnr_from_sums(signal, noise),
            mse: noise / x.len() as f64,
            clip_ratio: clip_ratio(x, &params),
        });
    }
    Ok(out)
}

/// [`compare`] with every method at its default setting.
pub fn compare_all(x: &[f32], scheme: &Scheme) -> Result<Vec<CalibrationOutcome>, QuantError> {
    compare(x, scheme, &Calibration::all_defaults())
}

//! One entry for every way of quantizing a language model: the method of the configuration
//! (RTN, GPTQ, AWQ, SmoothQuant), after the optional outlier injection, with what each method
//! found (AWQ's α and scales, SmoothQuant's channel ranges before and after).
//!
//! ```text
//! outliers > 0:   W ← inject_outliers(W)          (the FP32 function is unchanged)
//! RTN:            quantize_lm(W)
//! GPTQ:           quantize_lm_gptq(W, calibration)  (block by block, the inverse-Hessian update)
//! AWQ:            W ← awq_lm(W, calibration); quantize_lm(W)
//!                 (awq_gptq: quantize_lm_gptq(W, calibration) instead, AWQ + GPTQ)
//! SmoothQuant:    W ← smooth_lm(W, calibration); quantize_lm(W)
//! static_acts:    then each int8 input's static scale from the FP32 model the method rounded
//!                 (after smoothing), over the calibration text (lm_static_acts)
//! ```

use serde::Serialize;

use super::awq::{awq_lm, AwqReport};
use super::gptq::quantize_lm_gptq;
use super::lm::{quantize_lm, LmMethod, LmQuantConfig, QuantizedLm};
use super::lm_outliers::inject_outliers;
use super::lm_static_acts::calibrate_static_acts;
use super::smoothquant::{smooth_lm, SmoothReport};
use crate::lm::{LmError, LmWeights};

/// What the method reports besides the quantized model.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MethodReport {
    /// The channels the outlier injection scaled (empty when off).
    pub outlier_channels: Vec<usize>,
    pub awq: Option<AwqReport>,
    pub smooth: Option<SmoothReport>,
}

impl MethodReport {
    /// Whether the method divided a projection's output rows by a scale (AWQ's groups folded
    /// into w3 or wv, not into an RMSNorm): that projection's output then differs from FP32's by
    /// the scale, so its error is measured against the weights the method rounded
    /// ([`crate::lm::eval::compare_layers_against`]).
    pub fn rescales_outputs(&self) -> bool {
        self.awq.as_ref().is_some_and(|a| a.groups.iter().any(|g| !g.prev.ends_with("_norm")))
    }
}

pub struct MethodResult {
    pub quantized: QuantizedLm,
    pub report: MethodReport,
    /// The FP32 weights the method started from (after any outlier injection): the model to
    /// compare against.
    pub reference: Option<LmWeights>,
    /// The FP32 weights that were rounded when the method changed them first (AWQ's and
    /// SmoothQuant's scaled weights, or the injected outliers): what to hold a quantized row
    /// against. None when the input weights were rounded as they are.
    pub rounded: Option<LmWeights>,
}

/// Quantizes `w` with `cfg.method`; `calib` is calibration text (token ids from the training
/// split) for the calibrated methods. `progress(done, total)` as the method advances.
pub fn quantize_with_method(w: &LmWeights, cfg: &LmQuantConfig, calib: &[u32], progress: &mut dyn FnMut(usize, usize)) -> Result<MethodResult, LmError> {
    cfg.validate()?;
    if cfg.calibrated() && calib.is_empty() {
        let what = if cfg.method.calibrated() { cfg.method.name() } else { "static activation scales" };
        return Err(LmError::Setting { name: "method", message: format!("{what} needs calibration text") });
    }
    let mut report = MethodReport::default();
    let injected;
    let w = if cfg.outliers > 0 {
        let mut v = w.clone();
        report.outlier_channels = inject_outliers(&mut v, cfg.outliers, cfg.outlier_scale)?;
        injected = v;
        &injected
    } else {
        w
    };
    let reference = (cfg.outliers > 0).then(|| w.clone());
    let (mut quantized, rounded) = match cfg.method {
        LmMethod::Rtn => (quantize_lm(w, cfg)?, reference.clone()),
        LmMethod::Gptq => (quantize_lm_gptq(w, cfg, calib, progress)?, reference.clone()),
        LmMethod::Awq => {
            let mut v = w.clone();
            report.awq = Some(awq_lm(&mut v, calib, cfg, progress)?);
            let q = if cfg.awq_gptq {
                quantize_lm_gptq(&v, cfg, calib, progress)?
            } else {
                let mut q = quantize_lm(&v, cfg)?;
                q.note_outside_the_blocks("AWQ scales the blocks' Linears; this one is rounded to nearest (RTN) without a scale");
                q
            };
            (q, Some(v))
        }
        LmMethod::SmoothQuant => {
            let mut v = w.clone();
            report.smooth = Some(smooth_lm(&mut v, calib, cfg)?);
            progress(1, 1);
            let mut q = quantize_lm(&v, cfg)?;
            q.note_outside_the_blocks("SmoothQuant smooths the blocks' Linears; this one is quantized without smoothing");
            (q, Some(v))
        }
    };
    if cfg.static_scales() {
        calibrate_static_acts(&mut quantized, rounded.as_ref().unwrap_or(w), calib, cfg)?;
    }
    Ok(MethodResult { quantized, report, reference, rounded })
}

impl MethodResult {
    /// The FP32 weights each projection's output error is measured against when they are not
    /// the reference's own: see [`MethodReport::rescales_outputs`].
    pub fn layer_reference(&self) -> Option<&LmWeights> {
        self.rounded.as_ref().filter(|_| self.report.rescales_outputs())
    }
}

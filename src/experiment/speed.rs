//! FP32 against the quantized model's speed, beside their accuracy, as Neural Compressor's GPT-J
//! benchmark prints it ("Batch size = 1, Accuracy, Latency, Throughput" for each model) and as
//! Golden Stick's before / after tables put size, accuracy and speed together.
//!
//! Both models do the same work: the evaluation set's images (bytes) in, predicted classes out —
//! FP32 on the f32 GEMM (`Fp32Runner`, as the baseline is evaluated), the quantized model on the
//! engines `ExecModel::predict` chose (the integer-only int8 network reads the bytes; the float
//! runners convert them, as FP32 does). Each pair is timed interleaved after an untimed call of
//! each (which also makes a model that cannot run an error here, never inside the timing):
//! latency = median seconds of one image, throughput = images / median seconds of a batch.

use serde::{Deserialize, Serialize};

use super::run::predict_with;
use super::ExperimentError;
use crate::bench::{measure, Plan};
use crate::data::Dataset;
use crate::model::forward::Fp32Runner;
use crate::model::Model;
use crate::ptq::ExecModel;

/// Images per throughput call (fewer when the evaluation set is smaller, or when FP32 would take
/// longer than [`THROUGHPUT_CALL_S`] over them: a large model dropped on the page is timed on
/// fewer images rather than for minutes).
pub const THROUGHPUT_BATCH: usize = 100;
pub const THROUGHPUT_CALL_S: f64 = 0.25;
/// Trials per model and case, each at least [`SPEED_TRIAL_S`]: a worker's clock ticks every
/// 0.1 ms (100 ticks a trial) and one image of the MLP takes about 10 µs, so a trial repeats its
/// call. The four medians take about a quarter of a second after each run.
pub const SPEED_TRIALS: usize = 5;
pub const SPEED_TRIAL_S: f64 = 0.01;

/// [FP32, quantized] latency and throughput of one run's two models.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelSpeed {
    /// Milliseconds per image at batch size 1.
    pub latency_ms: [f64; 2],
    /// Images per second at batch size `batch`.
    pub throughput: [f64; 2],
    pub batch: usize,
    /// Every quantized layer ran on the fake-quant simulation (f32 arithmetic plus rounding): its
    /// time is the simulation's, not a deployment's.
    pub simulated: bool,
}

impl ModelSpeed {
    /// FP32's latency over the quantized model's (above 1: the quantized model is faster).
    pub fn latency_speedup(&self) -> f64 {
        ratio(self.latency_ms[0], self.latency_ms[1])
    }

    /// The quantized model's throughput over FP32's.
    pub fn throughput_speedup(&self) -> f64 {
        ratio(self.throughput[1], self.throughput[0])
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if a > 0.0 && b > 0.0 { a / b } else { 0.0 }
}

/// [`ModelSpeed`] of `model` in FP32 against `exec`, on the first images of `eval` (`clock` in
/// seconds).
#[allow(clippy::single_range_in_vec_init)] // `select` takes a list of ranges; here one.
pub fn model_speed(clock: &dyn Fn() -> f64, model: &Model, exec: &ExecModel, eval: &Dataset) -> Result<ModelSpeed, ExperimentError> {
    if eval.is_empty() {
        return Err(crate::ptq::config::field_error("eval_images", "no evaluation images to time the models on").into());
    }
    let fp32 = Fp32Runner::new(model.clone());
    let classes = model.output().len();
    let run_fp32 = |d: &Dataset| predict_with(d, classes, |x| Ok(fp32.forward(x)?));
    let run_quant = |d: &Dataset| exec.predict(d).map_err(ExperimentError::from);
    let checked = |d: &Dataset| -> Result<(), ExperimentError> {
        run_fp32(d)?;
        run_quant(d)?;
        Ok(())
    };
    let plan = Plan::fixed(SPEED_TRIALS, SPEED_TRIAL_S);
    // Each dataset's calls are checked first; a failure inside the timing cannot happen, and is dropped.
    let timed = |d: &Dataset| {
        let t = measure(clock, &mut [&mut || drop(std::hint::black_box(run_fp32(d))), &mut || drop(std::hint::black_box(run_quant(d)))], plan);
        [t[0].median_s, t[1].median_s]
    };
    let one = eval.select(&[0..1]);
    checked(&one)?;
    let [l32, lq] = timed(&one);
    let affordable = if l32 > 0.0 { (THROUGHPUT_CALL_S / l32) as usize } else { usize::MAX };
    let batch = affordable.clamp(1, THROUGHPUT_BATCH.min(eval.len()));
    let many = eval.select(&[0..batch]);
    checked(&many)?;
    let [b32, bq] = timed(&many);
    let rate = |s: f64| if s > 0.0 { batch as f64 / s } else { 0.0 };
    Ok(ModelSpeed { latency_ms: [l32 * 1e3, lq * 1e3], throughput: [rate(b32), rate(bq)], batch, simulated: !exec.on_kernels() })
}

//! Quantization experiments: the seeds' PTQ flows and the lab's comparisons, on
//! a real model and a real test set. Defined once here; the app and the CLI
//! both run them.
//!
//! - [`spec`]: the experiment description ([`Experiment`]), from TOML or a share link.
//! - [`run`]: one PTQ run and its report ([`run::PtqReport`]).
//! - [`layerwise`]: the lab's layer-by-layer against all-at-once comparison, and the sensitivity ranking.
//! - [`mixed_bit`]: MindSpore Lite's mixed-bit search, the size-budget search, and the Pareto front.
//! - [`sweep`]: accuracy and SQNR against bits, granularity and calibration method.
//! - [`qat`]: quantization-aware training and the lab's FP32 / PTQ / QAT table.
//! - [`ini`]: MindSpore Lite's converter config (INI) as an experiment.
//! - [`progress`]: progress reports and cancellation.
//! - [`speed`]: FP32 against the quantized model's latency and throughput, beside their accuracy.
//! - [`shard`]: a job's independent items shared among workers, merged back in one run's order.
//! - [`debug_rounds`]: MindSpore Lite's debug mode round by round (`report_<round>.csv`, `output_summary.csv`).
//! - [`download_name`]: the file names of downloads (model, task, and the bits that ran).

pub mod debug_rounds;
pub mod download_name;
pub mod ini;
pub mod layerwise;
pub mod mixed_bit;
pub mod progress;
pub mod qat;
pub mod run;
pub mod shard;
pub mod speed;
pub mod spec;
pub mod sweep;
pub mod tensor_charts;
pub mod tensor_view;

pub use progress::{Progress, ProgressFn};
pub use spec::{Experiment, Task};

use crate::model::ModelError;
use crate::ptq::{ConfigError, PtqError};
use crate::quant::QuantError;

#[derive(Clone, Debug, PartialEq)]
pub enum ExperimentError {
    Config(ConfigError),
    Ptq(PtqError),
    Model(ModelError),
    Quant(QuantError),
    /// Building or running the quantized model's engines.
    Engine(crate::ptq::EngineError),
    /// The user stopped it.
    Cancelled,
    /// A report could not be written (the file or archive says why).
    Write(String),
}

impl std::fmt::Display for ExperimentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExperimentError::Config(e) => write!(f, "{e}"),
            ExperimentError::Ptq(e) => write!(f, "{e}"),
            ExperimentError::Model(e) => write!(f, "{e}"),
            ExperimentError::Quant(e) => write!(f, "{e}"),
            ExperimentError::Engine(e) => write!(f, "{e}"),
            ExperimentError::Cancelled => write!(f, "cancelled"),
            ExperimentError::Write(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ExperimentError {}

impl From<ConfigError> for ExperimentError {
    fn from(e: ConfigError) -> Self {
        ExperimentError::Config(e)
    }
}

impl From<PtqError> for ExperimentError {
    fn from(e: PtqError) -> Self {
        match e {
            PtqError::Config(c) => ExperimentError::Config(c),
            e => ExperimentError::Ptq(e),
        }
    }
}

impl From<crate::ptq::EngineError> for ExperimentError {
    fn from(e: crate::ptq::EngineError) -> Self {
        match e {
            crate::ptq::EngineError::Ptq(e) => e.into(),
            crate::ptq::EngineError::Model(e) => ExperimentError::Model(e),
            e => ExperimentError::Engine(e),
        }
    }
}

impl From<ModelError> for ExperimentError {
    fn from(e: ModelError) -> Self {
        ExperimentError::Model(e)
    }
}

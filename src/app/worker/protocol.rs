//! The messages between the page and the worker. Every message is a JS object
//! `{ json: string, bytes: Uint8Array | null }`: the serde JSON of a [`Job`]
//! or a [`Reply`], and the bytes of a file that travels with it (a model the
//! user loaded, an exported file), transferred rather than copied.

use serde::{Deserialize, Serialize};

use crate::experiment::layerwise::LayerwiseReport;
use crate::experiment::mixed_bit::MixedBitReport;
use crate::experiment::qat::QatReport;
use crate::experiment::run::PtqReport;
use crate::experiment::sweep::SweepReport;
use crate::experiment::{Experiment, Progress};

/// Where the model comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ModelSource {
    /// A built-in baseline, fetched from `models/<file>`.
    Builtin(String),
    /// A file the user loaded; its bytes travel with the job. `sidecar` is an architecture JSON.
    File { name: String, sidecar: Option<String> },
}

/// What an export job writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExportFormat {
    /// The quantized model as `.safetensors` (packed integers and their parameters).
    QuantizedSafetensors,
    /// The quantized model as ONNX with QuantizeLinear / DequantizeLinear nodes.
    QdqOnnx,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Run the experiment's task.
    Run { exp: Experiment, model: ModelSource },
    /// Quantize as the experiment says and write the model.
    Export { exp: Experiment, model: ModelSource, format: ExportFormat },
    /// The benchmarks, in the worker (its own thread): kernels, GEMMs, the MLP, a PTQ run.
    Bench,
}

/// One benchmark line, as the page shows it (`crate::bench::BenchLine`, owned).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchRow {
    pub suite: String,
    pub case: String,
    pub kernel: String,
    pub median_s: f64,
    pub rate: f64,
    pub unit: String,
    /// The parseable line (`bench suite=… case=…`).
    pub line: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: u32,
    pub request: Request,
}

/// One test image with its label and both models' predictions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Index in the evaluation set.
    pub index: usize,
    pub pixels: Vec<u8>,
    pub label: u8,
    pub fp32: u8,
    pub quantized: u8,
}

/// A PTQ run, with what the page shows beside the report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PtqView {
    pub report: PtqReport,
    /// The first test images and the first disagreements, with their predictions.
    pub samples: Vec<Sample>,
    /// Calibrating, quantizing and evaluating, in milliseconds (the FP32 baseline is cached).
    pub millis: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    Ptq(Box<PtqView>),
    Layerwise(Box<LayerwiseReport>),
    Sweep(Box<SweepReport>),
    MixedBit(Box<MixedBitReport>),
    Qat(Box<QatReport>),
    /// An exported file: its bytes travel with the reply.
    File { name: String, mime: String },
    /// Every benchmark line, and the ratio lines.
    Bench { rows: Vec<BenchRow>, ratios: Vec<String> },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// Downloading or decoding an asset.
    Loading { what: String, done: u64, total: u64 },
    Progress(Progress),
    /// The benchmark lines so far (each case adds its own).
    BenchLines { rows: Vec<BenchRow>, ratios: Vec<String> },
    Done(Outcome),
    Failed(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub id: u32,
    pub event: Event,
}

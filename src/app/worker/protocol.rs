//! The messages between the page and the worker. A job is a JS object
//! `{ json: string, buffer?: ArrayBuffer, blob?: Blob }`: the serde JSON of a [`Job`] and the
//! file that travels with it (a tensor or model the user loaded), transferred or passed by
//! reference ([`super::FileBytes`]). A
//! reply is `{ json: string, bytes: Uint8Array | null }`: the serde JSON of a [`Reply`] and the
//! bytes it carries (an exported file, a view's values), transferred rather than copied.

use serde::{Deserialize, Serialize};

use crate::experiment::layerwise::LayerwiseReport;
use crate::experiment::mixed_bit::MixedBitReport;
use crate::experiment::qat::QatReport;
use crate::experiment::run::PtqReport;
use crate::experiment::shard::Shard;
use crate::experiment::sweep::SweepReport;
use crate::experiment::tensor_view::TensorViewParts;
use crate::experiment::{Experiment, Progress};
use crate::lm::corpus::BuiltinLm;
use crate::model::ModelOutline;
use crate::lm::eval::{merge_windows, Comparison, WindowScore};
use crate::lm::inspect::WeightView;
use crate::lm::sample::SampleConfig;
use crate::ptq::lm::LmQuantConfig;
use crate::ptq::lm_sensitivity::{LayerSensitivity, LmCandidate, SearchFrame, SearchReport, SearchSettings};

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
    /// MindSpore Lite's debug folder as a `.zip`: `report_<round>.csv` per calibration image,
    /// `output_summary.csv`, `quant_param.csv`.
    DebugInfo,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Run the experiment's task, or this worker's share of it (only a sweep can be shared:
    /// the page merges the shards' reports with `SweepReport::merge`).
    Run {
        exp: Experiment,
        model: ModelSource,
        #[serde(default)]
        shard: Shard,
    },
    /// Quantize as the experiment says and write the model.
    Export { exp: Experiment, model: ModelSource, format: ExportFormat },
    /// The benchmarks, in the worker (its own thread): kernels, GEMMs, the MLP, a PTQ run.
    Bench,
    /// The Language-model page: quantize the model and score it against FP32 on the first
    /// `tokens` validation tokens.
    LmRun {
        #[serde(default)]
        model: LmModelRef,
        quant: LmQuantConfig,
        tokens: usize,
        /// This worker's windows of the text (the page merges the shards' with `LmRunView::merge`).
        #[serde(default)]
        shard: Shard,
    },
    /// The Language-model page: FP32 and quantized generation from one prompt with one seed.
    LmGenerate {
        #[serde(default)]
        model: LmModelRef,
        quant: LmQuantConfig,
        sample: SampleConfig,
        prompt: String,
        max_new: usize,
    },
    /// The Language-model page: read the user's model files (their bytes travel with the job,
    /// one after the other, in `files` order) and keep the model if it reads.
    LmLoad { key: u64, files: Vec<LmFile> },
    /// The Language-model page: the model quantized as `quant` says, written as a file.
    LmExport {
        #[serde(default)]
        model: LmModelRef,
        quant: LmQuantConfig,
        format: LmExportFormat,
    },
    /// The Language-model page: the mixed-precision search (RTN at two widths) under `quant`'s
    /// other settings, scored against FP32 on the first `tokens` validation tokens.
    LmSearch {
        #[serde(default)]
        model: LmModelRef,
        quant: LmQuantConfig,
        settings: SearchSettings,
        tokens: usize,
        /// The whole search, or one stage of it shared among workers (`shard`'s items).
        #[serde(default)]
        stage: SearchStage,
        #[serde(default)]
        shard: Shard,
    },
    /// The Tensor page, for a large tensor or a slow calibrator: the view of the settings in
    /// `hash` (the page's link), of the loaded tensor when there is one (its values travel as
    /// the job's bytes, f32 little-endian).
    TensorView { hash: String, loaded: Option<LoadedTensorRef> },
    /// The Tensor page: read the tensors of the file the user dropped (its bytes travel with
    /// the job), off the page's thread.
    ReadTensors { name: String },
    /// The Model page: read the model the user dropped (its bytes travel with the job) and
    /// keep it for the runs; the page gets its architecture.
    ReadModel { model: ModelSource },
    /// The Language-model page: one row of projection `layer` in FP32 and quantized, its
    /// group grids and the histograms of the matrix.
    LmWeights {
        #[serde(default)]
        model: LmModelRef,
        quant: LmQuantConfig,
        layer: String,
        row: usize,
    },
}

/// The files the Language-model page exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LmExportFormat {
    /// GGUF with F16 weights (the FP32 weights rounded to half; the settings are not applied).
    GgufF16,
    /// GGUF with llama.cpp's Q8_0 / Q4_0 / Q4_1 blocks (norms F32), from the FP32 weights.
    GgufQ8_0,
    GgufQ4_0,
    GgufQ4_1,
    /// The quantized model as ONNX with QuantizeLinear / DequantizeLinear nodes (the settings).
    QdqOnnx,
    /// The quantized model as `.safetensors`: packed integers, scales and minimums, each
    /// layer's format in the metadata (`crate::formats::lm_safetensors`).
    PackedSafetensors,
}

/// A tensor the user loaded on the Tensor page: its name and shape (its values are the job's bytes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadedTensorRef {
    pub name: String,
    pub shape: Vec<usize>,
}

/// One of the user's model files inside the bytes that travel with an [`Request::LmLoad`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LmFile {
    pub name: String,
    pub len: usize,
}

/// Which language model a job uses.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum LmModelRef {
    /// A Shakespeare model trained here, fetched by the worker.
    Builtin(BuiltinLm),
    /// The user's model loaded by the [`Request::LmLoad`] with this key. A worker that does not
    /// hold it (a fresh worker after Cancel) fails with [`LM_MODEL_MISSING`]; the page then loads
    /// it again and repeats the job.
    User { key: u64 },
}

impl Default for LmModelRef {
    fn default() -> LmModelRef {
        LmModelRef::Builtin(BuiltinLm::default())
    }
}

/// The failure of a job whose user model the worker no longer holds.
pub const LM_MODEL_MISSING: &str = "lm: the worker does not hold this model";

/// What the worker read from the user's model files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LmModelInfo {
    pub key: u64,
    /// The file names, comma separated.
    pub name: String,
    /// "GGUF v3", "llama2.c model.bin v0", "Hugging Face safetensors".
    pub format: String,
    pub params: u64,
    pub dim: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub hidden_dim: usize,
    pub vocab_size: usize,
    pub seq_len: usize,
    /// The tokenizer's kind ("byte-level BPE", …), or None when the files carry no vocabulary.
    pub tokenizer: Option<String>,
    /// What the reader assumed, clamped or converted (and why a tokenizer is missing).
    pub notes: Vec<String>,
    /// The quantized formats the file stored ("Q4_0 ×44"), dequantized on load.
    #[serde(default)]
    pub dequantized: Option<String>,
    /// The model's own name in its files ([`crate::lm::import::ImportedModel::title`]).
    #[serde(default)]
    pub title: Option<String>,
    /// The files' [`crate::lm::import::files_fingerprint`], which links carry as `files`.
    #[serde(default)]
    pub fingerprint: String,
}

/// One Linear of a quantized language model, with its output error against FP32.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LmLayerRow {
    pub name: String,
    /// [N, K]: output and input features.
    #[serde(default)]
    pub shape: [usize; 2],
    pub format: String,
    pub engine: String,
    pub bytes: usize,
    pub weights: usize,
    pub note: Option<String>,
    /// Output SQNR against FP32 (dB), when measured.
    pub sqnr_db: Option<f64>,
    pub cosine: Option<f64>,
}

/// A language-model run: the quantized model against FP32 (`crate::lm::eval::Comparison`, owned).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LmRunView {
    /// The model's name ("Shakespeare (built-in)" or the user's file).
    #[serde(default)]
    pub model: String,
    pub quant: LmQuantConfig,
    pub label: String,
    /// Predictions scored.
    pub tokens: usize,
    pub fp32_ppl: f64,
    pub quant_ppl: f64,
    pub delta_pct: f64,
    pub mean_kl: f64,
    pub top1_same: f64,
    pub rms_delta_p: f64,
    pub fp32_bytes: usize,
    pub weight_bytes: usize,
    /// Over every parameter but the norms.
    pub bits_per_weight: f64,
    /// The KV cache over the whole context, in the chosen format.
    pub kv_bytes: u64,
    pub layers: Vec<LmLayerRow>,
    /// Quantizing and scoring both models, in milliseconds (loading excluded).
    pub millis: f64,
    /// The quantization method alone (GPTQ's and AWQ's searches included), in milliseconds, as
    /// long as it took when these settings were first quantized in this worker.
    #[serde(default)]
    pub quantize_millis: f64,
    /// The projection names (for the weight view's choice).
    #[serde(default)]
    pub projections: Vec<String>,
    /// Per-channel activation ranges before and after AWQ's or SmoothQuant's scaling.
    #[serde(default)]
    pub act_ranges: Vec<LmActRange>,
    /// Decoding and prefill tokens/s of FP32 and the quantized model in this worker, timed after
    /// the scoring (by the worker that scored the first window).
    #[serde(default)]
    pub speed: Option<crate::lm::bench::PairSpeed>,
    /// A shard's view only: its windows' scores, for [`LmRunView::merge`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<LmShare>,
}

/// The windows a shard scored, in window order, and how many windows the whole run has.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LmShare {
    pub windows: Vec<WindowScore>,
    pub total: usize,
}

impl LmRunView {
    /// The figures of a comparison in place: perplexities, KL, top-1, Δp and each layer's error.
    pub fn score(&mut self, c: &Comparison) {
        if c.quantized.tokens == 0 {
            return; // a shard with no window: nothing scored (and no NaN to send)
        }
        self.tokens = c.quantized.tokens;
        self.fp32_ppl = c.fp32.perplexity;
        self.quant_ppl = c.quantized.perplexity;
        self.delta_pct = c.delta_pct;
        self.mean_kl = c.mean_kl;
        self.top1_same = c.top1_same;
        self.rms_delta_p = c.rms_delta_p;
        for row in &mut self.layers {
            let e = c.layers.iter().find(|e| e.name == row.name);
            row.sqnr_db = e.map(|e| e.sqnr_db).filter(|v| v.is_finite());
            row.cosine = e.map(|e| e.cosine).filter(|v| v.is_finite());
        }
    }

    /// The view of one run from its shards' (in shard order): the windows' scores put back in
    /// window order and summed as one run sums them, so every figure is the one-run figure.
    pub fn merge(parts: Vec<LmRunView>) -> Result<LmRunView, String> {
        let mut first = parts.first().ok_or("no worker reported")?.clone();
        let millis = parts.iter().map(|p| p.millis).fold(0.0, f64::max);
        let total = first.share.as_ref().map_or(0, |s| s.total);
        let mut shares = Vec::with_capacity(parts.len());
        for p in parts {
            if p.quant != first.quant || p.model != first.model || p.weight_bytes != first.weight_bytes {
                return Err("the workers scored different models or settings".into());
            }
            let share = p.share.ok_or("a worker's result came without its windows")?;
            if share.total != total {
                return Err("the workers scored different texts".into());
            }
            shares.push(share.windows);
        }
        let windows = merge_windows(shares, total)?;
        first.score(&Comparison::from_windows(&windows, Vec::new()));
        first.millis = millis;
        first.share = None;
        Ok(first)
    }
}

/// One smoothed input: the statistic of every channel j before and after dividing by s_j.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LmActRange {
    /// What s was folded into ("layers.0.attention_norm") and the Linears that read the input.
    pub input: String,
    pub linears: Vec<String>,
    /// "max |X_j|" (SmoothQuant) or "mean |X_j|" (AWQ).
    pub stat: String,
    pub before: Vec<f32>,
    pub after: Vec<f32>,
    /// AWQ's search of this group's α; None for SmoothQuant, whose α is a setting.
    #[serde(default)]
    pub alpha_search: Option<LmAlphaSearch>,
}

/// AWQ's grid search of one group: the output error of the group's Linears rounded after
/// scaling their inputs' channels by s = x̄^α (normalised), for each α of the grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LmAlphaSearch {
    /// α_i = i / 20.
    pub alphas: Vec<f32>,
    /// loss(α_i): the mean squared error of the module's output (α = 0 is plain RTN).
    pub losses: Vec<f64>,
    /// The index of the chosen α: the first of least loss.
    pub chosen: usize,
}

/// One generated token: its text, and the probability the FP32 model gave it (and, for the
/// quantized column, the quantized model's own).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LmToken {
    pub id: u32,
    pub text: String,
    pub p_fp32: f64,
    pub p_own: f64,
    /// The model's end-of-text token, which ended its column.
    pub ends_text: bool,
}

/// Both generations from one prompt with one seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LmGenView {
    pub label: String,
    pub prompt: String,
    pub fp32: Vec<LmToken>,
    pub quant: Vec<LmToken>,
    /// Generated tokens per second, FP32 and quantized.
    pub fp32_tps: f64,
    pub quant_tps: f64,
}

/// One benchmark line, as the page shows it (`crate::bench::Measured`, owned).
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
    /// Calibrating, quantizing and evaluating, in milliseconds (the FP32 baseline is cached);
    /// for a run shared among workers, the slowest worker's.
    pub millis: f64,
    /// FP32 against the quantized model's latency and throughput, timed after the run by the
    /// worker that evaluated the first batch (`None` from the others, or if timing failed).
    pub speed: Option<crate::experiment::speed::ModelSpeed>,
}

/// The images a PTQ run shows: the first 16 of the `n` evaluation images, then the first 16
/// disagreements with FP32 not among them.
pub fn sample_indices(n: usize, disagreements: &[usize]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..16.min(n)).collect();
    for &i in disagreements.iter().take(16) {
        if !idx.contains(&i) {
            idx.push(i);
        }
    }
    idx
}

impl PtqView {
    /// The view of one run from its shards' (in shard order): the merged report
    /// ([`PtqReport::merge`]) and, among the samples each shard picked from its own images, the
    /// ones one run picks.
    pub fn merge(parts: Vec<PtqView>) -> Result<PtqView, String> {
        let millis = parts.iter().map(|p| p.millis).fold(0.0, f64::max);
        let speed = parts.iter().find_map(|p| p.speed);
        let mut pool: Vec<Sample> = Vec::new();
        let mut reports = Vec::with_capacity(parts.len());
        for p in parts {
            pool.extend(p.samples);
            reports.push(p.report);
        }
        let report = PtqReport::merge(reports)?;
        let samples = sample_indices(report.eval_images, &report.disagreements)
            .into_iter()
            .map(|i| pool.iter().find(|s| s.index == i).cloned().ok_or_else(|| format!("no shard sent image {i}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PtqView { report, samples, millis, speed })
    }
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
    LmRun(Box<LmRunView>),
    LmGenerate(Box<LmGenView>),
    LmLoaded(Box<LmModelInfo>),
    LmWeights(Box<WeightView>),
    LmSearch(Box<SearchReport>),
    /// One worker's part of a stage of a shared search.
    LmSearchPart(Box<SearchPart>),
    /// The tensors of a file, each one's name and shape; their values travel as the reply's
    /// bytes (`crate::formats::pack_tensors`), which the page's host puts into `bytes`.
    Tensors {
        tensors: Vec<(String, Vec<usize>)>,
        /// The tensor the page shows first: the largest it can take (a weight rather than its
        /// bias), the first of equals.
        chosen: usize,
        /// Per tensor, why the page cannot show it (`page_can_take`); None: it can.
        #[serde(default)]
        cannot_show: Vec<Option<String>>,
        /// What reading the file has to say: members not read, lines read as one row (`TensorFile::note`).
        file_note: Option<String>,
        #[serde(skip)]
        bytes: Vec<u8>,
    },
    /// The architecture of the model file the worker read (and keeps for the runs).
    Model(Box<ModelOutline>),
    /// The Tensor page's view; its values (x, q, r′) travel as the reply's bytes, which the page's
    /// host puts into `bytes`.
    TensorView {
        parts: Box<TensorViewParts>,
        #[serde(skip)]
        bytes: Vec<u8>,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// Downloading or decoding an asset.
    Loading { what: String, done: u64, total: u64 },
    Progress(Progress),
    /// The benchmark lines so far (each case adds its own).
    BenchLines { rows: Vec<BenchRow>, ratios: Vec<String> },
    /// Tokens generated since the last such event, streamed: the FP32 column's and the quantized
    /// column's (the two models step in turn, so both grow together; `p_fp32` of a quantized
    /// token comes from the FP32 model reading that text).
    LmTokens { fp32: Vec<LmToken>, quant: Vec<LmToken> },
    Done(Outcome),
    Failed(String),
    /// The job names a user model the worker does not hold (a fresh worker after Cancel or a
    /// crash): the page sends the model's files again, then the job.
    LmModelMissing,
    /// The user cancelled the job (the page's host says so; the worker never sends it).
    #[serde(skip)]
    Cancelled,
}

impl Event {
    /// Whether this is the job's last event.
    pub fn ends_job(&self) -> bool {
        matches!(self, Event::Done(_) | Event::Failed(_) | Event::LmModelMissing | Event::Cancelled)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub id: u32,
    pub event: Event,
}

/// Which part of the mixed-precision search a worker runs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum SearchStage {
    /// All of it, in this worker.
    #[default]
    Whole,
    /// Step 1 for the shard's Linears: each alone at the low width.
    Sensitivities,
    /// Step 2 for the shard's candidates of the greedy order that these sensitivities (of every
    /// searched Linear) give.
    Candidates(Vec<LayerSensitivity>),
}

/// A worker's part of one stage of a shared search: the frame (the same in every worker) and
/// its sensitivities (step 1) or candidates (step 2), in shard order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchPart {
    pub frame: SearchFrame,
    pub sensitivities: Vec<LayerSensitivity>,
    pub candidates: Vec<LmCandidate>,
}

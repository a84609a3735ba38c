//! One experiment description: everything about a run, as serde, so the same
//! description comes from a TOML file, a share link or the app's controls, and
//! gives the same numbers wherever it runs.
//!
//! ```toml
//! model = "mlp-fashion"         # a built-in baseline, or "file" (a model the user loaded)
//! dataset = "fashion"           # fashion | mnist
//! task = "ptq"                  # ptq | layerwise | sweep | mixed_bit | size_budget | qat
//! calib_size = 256              # calibration images (the training split's first ones, class-balanced)
//! eval_size = 10000             # test images evaluated (0 = all)
//! seed = 0                      # picks the calibration images (0 = the first ones)
//!
//! [ptq]                         # see qplay::ptq::PtqConfig
//! mode = "full"                 # weight_only | full | dynamic
//! weight_bits = 8
//! act_bits = 8
//! granularity = { kind = "per_channel" }
//! skip = ["nn3"]
//! bias_correction = false
//! rounding = "half_even"        # half_away | floor | { stochastic = { seed = 7 } }
//!
//! [mixed_bit]                   # task = "mixed_bit" / "size_budget"
//! init_scale = 0.02
//! auto_tune = false
//! target_cosine = 0.995
//! size_budget = 60000           # bytes
//! max_bits = 8                  # the most bits a layer gets (2–16)
//!
//! [qat]                         # task = "qat"
//! epochs = 1
//!
//! [sweep]                       # task = "sweep"
//! bits = [2, 3, 4, 5, 6, 7, 8, 16]
//! ```

use serde::{Deserialize, Serialize};

use crate::ptq::config::{field_error, ConfigError, PtqConfig, WeightGranularity};
use crate::quant::calibration::{Calibration, CalibrationKind};
use crate::quant::scheme::{MAX_BITS, MIN_BITS};

/// The built-in pretrained baselines: (name, dataset, file under www/models/).
pub const BUILTIN_MODELS: [(&str, &str, &str); 3] = [
    ("mlp-fashion", "fashion", "mlp-fashion.safetensors"),
    ("mlp-mnist", "mnist", "mlp-mnist.safetensors"),
    ("cnn-fashion", "fashion", "cnn-fashion.safetensors"),
];

/// The embedded datasets.
pub const DATASETS: [&str; 2] = ["fashion", "mnist"];

/// The model name of a model the user loaded from a file (it cannot travel in a link).
pub const FILE_MODEL: &str = "file";

/// Largest calibration set.
pub const MAX_CALIB: usize = 8192;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Quantize once and report everything.
    Ptq,
    /// The lab's comparison: layer by layer against all layers at once, and the sensitivity ranking.
    Layerwise,
    /// Accuracy and SQNR against bits, per-tensor against per-channel, for each calibration method.
    Sweep,
    /// MindSpore Lite's mixed-bit weight quantization (`bit_num = 0`, `init_scale`, `auto_tune`).
    MixedBit,
    /// The smallest-error bits per layer that fit a size budget.
    SizeBudget,
    /// Quantization-aware training from the FP32 baseline: the lab's FP32 / PTQ / QAT table.
    Qat,
}

impl Task {
    pub const ALL: [Task; 6] = [Task::Ptq, Task::Layerwise, Task::Sweep, Task::MixedBit, Task::SizeBudget, Task::Qat];

    pub fn name(self) -> &'static str {
        match self {
            Task::Ptq => "ptq",
            Task::Layerwise => "layerwise",
            Task::Sweep => "sweep",
            Task::MixedBit => "mixed_bit",
            Task::SizeBudget => "size_budget",
            Task::Qat => "qat",
        }
    }

    pub fn from_name(name: &str) -> Option<Task> {
        Task::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// MindSpore Lite's mixed-bit settings and the size-budget search.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MixedBitConfig {
    /// The target relative weight error per layer, (0, 1): larger → fewer bits, more error.
    pub init_scale: f32,
    /// Search `init_scale` so that the output's cosine similarity on the calibration set is about `target_cosine`.
    pub auto_tune: bool,
    pub target_cosine: f64,
    /// The size-budget search's limit, in bytes of the quantized model.
    pub size_budget: usize,
    /// The most bits the search gives a layer (2–16): 8 unless the user widens the range.
    pub max_bits: u8,
}

impl Default for MixedBitConfig {
    fn default() -> MixedBitConfig {
        MixedBitConfig { init_scale: 0.02, auto_tune: false, target_cosine: 0.995, size_budget: 0, max_bits: 8 }
    }
}

/// Quantization-aware training.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QatSettings {
    pub epochs: usize,
    /// Adam's learning rate for fine-tuning.
    pub lr: f32,
    pub batch: usize,
    /// Training images used per epoch (0 = all).
    pub train_size: usize,
}

impl Default for QatSettings {
    fn default() -> QatSettings {
        QatSettings { epochs: 1, lr: 2e-4, batch: 64, train_size: 0 }
    }
}

/// Most granularities one sweep compares (per tensor, per channel and a few group sizes).
pub const MAX_SWEEP_GRANULARITIES: usize = 8;

/// A sweep list names each value once and has at most `max` entries.
fn distinct<T: PartialEq + std::fmt::Debug>(field: &'static str, list: &[T], max: usize) -> Result<(), ConfigError> {
    if list.len() > max {
        return Err(field_error(field, format!("{} entries: a sweep compares at most {max}", list.len())));
    }
    if let Some((i, v)) = list.iter().enumerate().find(|(i, v)| list[..*i].contains(v)) {
        return Err(field_error(field, format!("{v:?} is listed twice (entries {} and {})", list.iter().position(|x| x == v).map_or(0, |p| p + 1), i + 1)));
    }
    Ok(())
}

/// What a sweep covers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SweepSettings {
    pub bits: Vec<u8>,
    pub granularities: Vec<WeightGranularity>,
    pub calibrations: Vec<CalibrationKind>,
}

impl SweepSettings {
    /// The number of cells: bit widths × granularities × calibration methods (saturating; a
    /// validated sweep has at most 16 × 8 × 6).
    pub fn cells(&self) -> usize {
        self.bits.len().saturating_mul(self.granularities.len()).saturating_mul(self.calibrations.len())
    }
}

impl Default for SweepSettings {
    fn default() -> SweepSettings {
        SweepSettings {
            bits: vec![2, 3, 4, 5, 6, 7, 8, 16],
            granularities: vec![WeightGranularity::PerTensor, WeightGranularity::PerChannel],
            calibrations: CalibrationKind::ALL.to_vec(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Experiment {
    pub model: String,
    pub dataset: String,
    pub task: Task,
    pub calib_size: usize,
    pub eval_size: usize,
    pub seed: u64,
    pub ptq: PtqConfig,
    pub mixed_bit: MixedBitConfig,
    pub qat: QatSettings,
    pub sweep: SweepSettings,
}

impl Default for Experiment {
    /// W8A8 PTQ of the Fashion-MNIST MLP, calibrated on 256 images, evaluated on the 10,000 test images.
    fn default() -> Experiment {
        Experiment {
            model: "mlp-fashion".into(),
            dataset: "fashion".into(),
            task: Task::Ptq,
            calib_size: 256,
            eval_size: 0,
            seed: 0,
            ptq: PtqConfig::default(),
            mixed_bit: MixedBitConfig::default(),
            qat: QatSettings::default(),
            sweep: SweepSettings::default(),
        }
    }
}

impl Experiment {
    /// Whether the experiment reads the calibration images (`calib_size` of them): a PTQ run
    /// when its settings do ([`crate::ptq::PtqConfig::reads_calibration`]); the other tasks
    /// always (the searches score their candidates on them, QAT starts its ranges from them,
    /// the sweep and the lab's comparison calibrate their cells).
    pub fn reads_calibration(&self) -> bool {
        self.task != Task::Ptq || self.ptq.reads_calibration()
    }

    /// Checks every field that can be checked without the model; the error names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.model != FILE_MODEL && !BUILTIN_MODELS.iter().any(|(n, _, _)| *n == self.model) {
            let names: Vec<&str> = BUILTIN_MODELS.iter().map(|(n, _, _)| *n).collect();
            return Err(field_error("model", format!("unknown model \"{}\": use {} or load a file", self.model, names.join(", "))));
        }
        if !DATASETS.contains(&self.dataset.as_str()) {
            return Err(field_error("dataset", format!("unknown dataset \"{}\": use fashion or mnist", self.dataset)));
        }
        if self.calib_size == 0 {
            return Err(field_error("calib_size", "the calibration set is empty: use at least 1 image"));
        }
        // A count past the split would read as more images than are used.
        let (train, test) = crate::data::split_sizes(&self.dataset).unwrap_or((MAX_CALIB, crate::data::TEST_IMAGES));
        if self.eval_size > test {
            return Err(field_error("eval_size", format!("{} images is more than the {test} test images of {} (0 = all of them)", self.eval_size, self.dataset)));
        }
        if self.calib_size > MAX_CALIB {
            return Err(field_error("calib_size", format!("{} images is more than the limit of {MAX_CALIB}", self.calib_size)));
        }
        if self.calib_size > train {
            return Err(field_error("calib_size", format!("{} images is more than the {train} training images of {}", self.calib_size, self.dataset)));
        }
        self.ptq.validate().map_err(|e| field_error(format!("ptq.{}", e.field), e.message))?;
        let m = &self.mixed_bit;
        if !(m.init_scale > 0.0 && m.init_scale < 1.0) {
            return Err(field_error("mixed_bit.init_scale", format!("{} is outside (0, 1)", crate::decimal::short_text(m.init_scale))));
        }
        if !(m.target_cosine > 0.0 && m.target_cosine < 1.0) {
            return Err(field_error("mixed_bit.target_cosine", format!("{} is outside (0, 1)", crate::decimal::short_text(m.target_cosine))));
        }
        if !(2..=16).contains(&m.max_bits) {
            return Err(field_error("mixed_bit.max_bits", format!("{} is outside 2–16", m.max_bits)));
        }
        if self.task == Task::SizeBudget && m.size_budget == 0 {
            return Err(field_error("mixed_bit.size_budget", "a size-budget search needs a budget in bytes"));
        }
        let q = &self.qat;
        if q.epochs == 0 || q.epochs > 100 {
            return Err(field_error("qat.epochs", format!("{} is outside 1–100", q.epochs)));
        }
        if !(q.lr > 0.0 && q.lr < 1.0) {
            return Err(field_error("qat.lr", format!("{} is outside (0, 1)", crate::decimal::short_text(q.lr))));
        }
        if q.batch == 0 || q.batch > 4096 {
            return Err(field_error("qat.batch", format!("{} is outside 1–4096", q.batch)));
        }
        let sw = &self.sweep;
        if sw.bits.is_empty() || sw.bits.iter().any(|b| !(MIN_BITS..=MAX_BITS).contains(b)) {
            return Err(field_error("sweep.bits", format!("{:?}: give bit widths from 1 to 16", sw.bits)));
        }
        if sw.granularities.is_empty() {
            return Err(field_error("sweep.granularities", "give at least one granularity"));
        }
        if sw.calibrations.is_empty() {
            return Err(field_error("sweep.calibrations", "give at least one calibration method"));
        }
        // Distinct entries bound the sweep: at most 16 bit widths × 8 granularities × 6 methods.
        distinct("sweep.bits", &sw.bits, usize::from(MAX_BITS - MIN_BITS + 1))?;
        distinct("sweep.granularities", &sw.granularities, MAX_SWEEP_GRANULARITIES)?;
        distinct("sweep.calibrations", &sw.calibrations, CalibrationKind::ALL.len())?;
        Ok(())
    }

    /// The TOML form.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("an experiment serialises to TOML")
    }

    /// Reads and validates a TOML description; the error names the field.
    pub fn from_toml(text: &str) -> Result<Experiment, ConfigError> {
        let e: Experiment = toml::from_str(text).map_err(|e| {
            let field = e.span().map(|s| field_at(text, s.start)).unwrap_or_else(|| "toml".into());
            field_error(field, e.message().trim().to_string())
        })?;
        e.validate()?;
        Ok(e)
    }

    /// Brings the image counts within the dataset's splits (after the dataset changes, as when
    /// MNIST, 2,000 test images, replaces Fashion-MNIST, 10,000).
    pub fn fit_sizes_to_dataset(&mut self) {
        if let Some((train, test)) = crate::data::split_sizes(&self.dataset) {
            self.eval_size = self.eval_size.min(test);
            self.calib_size = self.calib_size.min(train);
        }
    }

    /// The dataset a built-in model was trained on.
    pub fn builtin_dataset(model: &str) -> Option<&'static str> {
        BUILTIN_MODELS.iter().find(|(n, _, _)| *n == model).map(|(_, d, _)| *d)
    }

    /// The activation calibration with its setting, for reports.
    pub fn act_calibration(&self) -> Calibration {
        self.ptq.act_calibration
    }
}

/// The dotted name of the TOML key on the line at `offset`: `[table]` headers above it give the prefix.
fn field_at(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or("").trim();
    let header = |l: &str| l.trim().strip_prefix('[').and_then(|l| l.split(']').next()).map(|t| t.trim_matches(|c| c == '[' || c == ' ').to_string());
    if let Some(table) = header(line) {
        return table;
    }
    let key = line.split('=').next().unwrap_or("").trim().trim_matches('"').to_string();
    let table = text[..start].lines().rev().find_map(header).unwrap_or_default();
    let name = if table.is_empty() { key } else { format!("{table}.{key}") };
    if name.is_empty() { "toml".into() } else { clip(&name) }
}

fn clip(text: &str) -> String {
    crate::clip::clip(text, 60)
}

/// The architecture of a built-in model (its weights are not needed for the layer table, nor to
/// know its layers' names); the MLP's for any other name.
pub fn builtin_architecture(name: &str) -> crate::model::ModelOutline {
    use crate::model::zoo::{lab_mlp, small_cnn};
    let model = match name {
        "cnn-fashion" => small_cnn(0).unwrap_or_else(|_| lab_mlp(0)),
        _ => lab_mlp(0),
    };
    crate::model::ModelOutline::of(&model)
}

//! Structure-aware: builds a small arbitrary model (Linear, Conv2d, Max/AvgPool2d, ReLU,
//! Flatten, Softmax, BatchNorm with bounded sizes and weights of an arbitrary style), an arbitrary
//! experiment description (every PtqConfig field, in and out of range) and runs it on a few
//! inputs: the FP32 runner, the PTQ build (all at once or sequential, all layers or one), the
//! quantized model's forward pass, the int8 engine when it accepts the model, and the file
//! formats' writers read back. Everything runs on a 1 MiB stack (qplay_fuzz::on_small_stack).
//!
//! Invariants beyond "no panic": a file qplay writes reads back, and a description that
//! validates survives TOML.
#![no_main]
use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use qplay::experiment::spec::Experiment;
use qplay::model::forward::Fp32Runner;
use qplay::model::{BatchNorm, Conv2d, Layer, LayerKind, Linear, Model, Pool2d, Shape, DEFAULT_MAX_PARAMS};
use qplay::ptq::build::Flow;
use qplay::ptq::{int8::int8_engine, quantize_model_with, PtqConfig, QuantMode, Scope, WeightGranularity};
use qplay::quant::{Calibration, Method, Rounding};
use qplay::ptq::config::DynamicMode;
use qplay_fuzz::on_small_stack;

#[derive(Arbitrary, Debug)]
enum InputSpec {
    Flat(u8),
    Chw(u8, u8, u8),
}

#[derive(Arbitrary, Debug)]
enum LayerSpec {
    Linear { out: u8, bad_in: bool },
    Conv2d { out: u8, kernel: u8, stride: u8, padding: u8 },
    MaxPool { kernel: u8, stride: u8 },
    AvgPool { kernel: u8, stride: u8 },
    Relu,
    Flatten,
    Softmax,
    BatchNorm { eps: u8, style: Style },
}

/// How a tensor's values look.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Style {
    Small,
    Wide,
    Zeros,
    Constant(i8),
    /// Mostly small with one huge outlier (1e30).
    Outlier,
    Tiny,
    Negative,
    Huge,
}

#[derive(Arbitrary, Debug)]
enum CalibSpec {
    MinMax,
    MovingAverage { momentum: u8, batch: u16 },
    Percentile(u8),
    RemovalOutlier(u8),
    Kl(u8),
    Mse(u8),
}

#[derive(Arbitrary, Debug)]
enum GranSpec {
    PerTensor,
    PerChannel,
    PerGroup(u8),
}

#[derive(Arbitrary, Debug)]
enum RoundSpec {
    HalfEven,
    HalfAway,
    Floor,
    Stochastic(u64),
}

#[derive(Arbitrary, Debug)]
struct CfgSpec {
    mode: u8,
    weight_bits: u8,
    act_bits: u8,
    layer_bits: Vec<(u8, u8)>,
    granularity: GranSpec,
    weight_symmetric: bool,
    narrow_range: bool,
    clip: bool,
    rounding: RoundSpec,
    weight_calibration: CalibSpec,
    act_calibration: CalibSpec,
    acwl: bool,
    skip: Vec<u8>,
    bias_correction: bool,
    smooth_quant: Option<u8>,
    sequential: bool,
    only: Option<u8>,
}

#[derive(Arbitrary, Debug)]
struct Case {
    input: InputSpec,
    layers: Vec<LayerSpec>,
    /// Put a Flatten before a Linear on an image (most real models do).
    auto_flatten: bool,
    weights: Style,
    data: Style,
    batch: u8,
    calib: u8,
    seed: u64,
    cfg: CfgSpec,
}

/// A small deterministic generator (splitmix64).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [−1, 1).
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    fn values(&mut self, n: usize, style: Style) -> Vec<f32> {
        (0..n)
            .map(|i| match style {
                Style::Small => self.unit() * 0.5,
                Style::Wide => self.unit() * 1e4,
                Style::Zeros => 0.0,
                Style::Constant(c) => c as f32 / 16.0,
                Style::Outlier if i == 0 => 1e30,
                Style::Outlier => self.unit(),
                Style::Tiny => self.unit() * 1e-38,
                Style::Negative => -self.unit().abs() - 1e-3,
                Style::Huge => self.unit() * 3e38,
            })
            .collect()
    }
}

fn calibration(c: &CalibSpec) -> Calibration {
    match *c {
        CalibSpec::MinMax => Calibration::MinMax,
        // momentum in (0, 1] (and 0, out of range); batch 0 ..= 65535.
        CalibSpec::MovingAverage { momentum, batch } => {
            Calibration::MovingAverageMinMax { momentum: momentum as f32 / 255.0, batch: batch as usize }
        }
        CalibSpec::Percentile(p) => Calibration::Percentile { percentile: [0.0, 50.0, 99.0, 99.9, 99.99, 100.0, 100.5, -1.0][p as usize % 8] },
        CalibSpec::RemovalOutlier(r) => Calibration::RemovalOutlier { ratio: [0.0, 0.001, 0.1, 0.49, 0.5, -0.1][r as usize % 6] },
        // Up to 2,048 bins: 8,192 (allowed, within the search's work limit) on every channel of a
        // few layers took a generated model 30 s under AddressSanitizer, past the case's budget.
        CalibSpec::Kl(b) => Calibration::Kl { bins: [128, 129, 256, 1000, 2048, 127, 8193, 0][b as usize % 8] },
        // Up to 1,000 steps: the limit is 10,000, which a fuzz case on 1 s cannot afford.
        CalibSpec::Mse(s) => Calibration::Mse { steps: [1, 2, 10, 100, 1000, 0, 10_001][s as usize % 7] },
    }
}

fn small(x: u8, max: u8) -> usize {
    (x % max) as usize + 1
}

/// Builds the layers, tracking the shape so most models are valid; a layer that does not fit is
/// still added (Model::new must refuse it cleanly), then the building stops.
fn build(case: &Case, rng: &mut Rng) -> (Shape, Vec<Layer>) {
    let input = match case.input {
        InputSpec::Flat(f) => Shape::Flat(small(f, 64)),
        InputSpec::Chw(c, h, w) => Shape::Chw(small(c, 3), small(h, 12), small(w, 12)),
    };
    let mut shape = input;
    let mut layers = Vec::new();
    for (i, spec) in case.layers.iter().take(8).enumerate() {
        let name = format!("l{i}");
        if let (LayerSpec::Linear { .. }, Shape::Chw(..), true) = (spec, shape, case.auto_flatten) {
            layers.push(Layer { name: format!("{name}_flatten"), kind: LayerKind::Flatten });
            shape = Shape::Flat(shape.len());
        }
        let kind = match *spec {
            LayerSpec::Linear { out, bad_in } => {
                let in_features = shape.len() + bad_in as usize;
                let out_features = small(out, 32);
                if in_features * out_features > 1 << 16 {
                    break;
                }
                LayerKind::Linear(Linear {
                    in_features,
                    out_features,
                    w: rng.values(in_features * out_features, case.weights),
                    b: rng.values(out_features, case.weights),
                })
            }
            LayerSpec::Conv2d { out, kernel, stride, padding } => {
                let in_channels = match shape {
                    Shape::Chw(c, _, _) => c,
                    Shape::Flat(_) => 1,
                };
                let (out_channels, kernel) = (small(out, 8), small(kernel, 5));
                LayerKind::Conv2d(Conv2d {
                    in_channels,
                    out_channels,
                    kernel,
                    stride: small(stride, 3),
                    padding: (padding % 3) as usize,
                    w: rng.values(out_channels * in_channels * kernel * kernel, case.weights),
                    b: rng.values(out_channels, case.weights),
                })
            }
            LayerSpec::MaxPool { kernel, stride } => LayerKind::MaxPool2d(Pool2d { kernel: small(kernel, 3), stride: small(stride, 3) }),
            LayerSpec::AvgPool { kernel, stride } => LayerKind::AvgPool2d(Pool2d { kernel: small(kernel, 3), stride: small(stride, 3) }),
            LayerSpec::Relu => LayerKind::Relu,
            LayerSpec::Flatten => LayerKind::Flatten,
            LayerSpec::Softmax => LayerKind::Softmax,
            LayerSpec::BatchNorm { eps, style } => {
                let c = match shape {
                    Shape::Flat(f) => f,
                    Shape::Chw(c, _, _) => c,
                };
                LayerKind::BatchNorm(BatchNorm {
                    gamma: rng.values(c, style),
                    beta: rng.values(c, style),
                    mean: rng.values(c, style),
                    var: rng.values(c, Style::Small).into_iter().map(f32::abs).collect(),
                    eps: [1e-5, 0.0, 1e-3, 1.0, -1.0, f32::MIN_POSITIVE][eps as usize % 6],
                })
            }
        };
        let layer = Layer { name, kind };
        match layer.output_shape(shape) {
            Ok(next) => {
                shape = next;
                layers.push(layer);
            }
            Err(_) => {
                layers.push(layer);
                break;
            }
        }
    }
    (input, layers)
}

fn config(c: &CfgSpec, names: &[String]) -> PtqConfig {
    let name = |i: u8| if names.is_empty() || i == 255 { "nope".to_string() } else { names[i as usize % names.len()].clone() };
    let bits = |b: u8| if b >= 0xf0 { [0, 17, 32, 255][b as usize % 4] } else { b % 16 + 1 };
    PtqConfig {
        mode: [QuantMode::Full, QuantMode::WeightOnly, QuantMode::Dynamic][c.mode as usize % 3],
        weight_bits: bits(c.weight_bits),
        layer_bits: c.layer_bits.iter().take(4).map(|&(n, b)| (name(n), bits(b))).collect::<BTreeMap<_, _>>(),
        act_bits: bits(c.act_bits),
        granularity: match c.granularity {
            GranSpec::PerTensor => WeightGranularity::PerTensor,
            GranSpec::PerChannel => WeightGranularity::PerChannel,
            GranSpec::PerGroup(g) => WeightGranularity::PerGroup { group_size: [0, 1, 2, 3, 4, 8, 16, 32, 64, 1000][g as usize % 10] },
        },
        weight_symmetric: c.weight_symmetric,
        narrow_range: c.narrow_range,
        method: if c.clip { Method::Clip } else { Method::Normal },
        rounding: match c.rounding {
            RoundSpec::HalfEven => Rounding::HalfEven,
            RoundSpec::HalfAway => Rounding::HalfAway,
            RoundSpec::Floor => Rounding::Floor,
            RoundSpec::Stochastic(seed) => Rounding::Stochastic { seed },
        },
        weight_calibration: calibration(&c.weight_calibration),
        act_calibration: calibration(&c.act_calibration),
        dynamic_strategy: if c.acwl { DynamicMode::Acwl } else { DynamicMode::Alwc },
        skip: c.skip.iter().take(3).map(|&n| name(n)).collect(),
        bias_correction: c.bias_correction,
        smooth_quant: c.smooth_quant.map(|a| [0.0, 0.25, 0.5, 0.85, 1.0, -0.5, 1.5, f32::NAN][a as usize % 8]),
    }
}

fn run(case: &Case) {
    let mut rng = Rng(case.seed);
    let (input, layers) = build(case, &mut rng);
    let names: Vec<String> = layers.iter().map(|l| l.name.clone()).collect();
    let cfg = config(&case.cfg, &names);

    // The description on its own: one that validates survives TOML.
    let exp = Experiment { ptq: cfg.clone(), ..Experiment::default() };
    if exp.validate().is_ok() && cfg.smooth_quant.is_none_or(|a| !a.is_nan()) {
        let toml = exp.to_toml();
        match Experiment::from_toml(&toml) {
            Ok(back) => assert_eq!(back, exp, "TOML round trip changed the description:\n{toml}"),
            Err(e) => panic!("a valid description does not read back from its TOML: {e}\n{toml}"),
        }
    }

    let Ok(model) = Model::new(input, layers, DEFAULT_MAX_PARAMS) else { return };
    let sample = model.input.len();
    let batch = small(case.batch, 4);
    let x = rng.values(batch * sample, case.data);
    let calib = rng.values(small(case.calib, 8) * sample, case.data);

    let _ = Fp32Runner::new(model.clone()).forward(&x);
    // The FP32 writers: what qplay writes, it reads back.
    if let Ok(bytes) = qplay::formats::onnx::write_onnx(&model) {
        if let Err(e) = qplay::formats::onnx::read_onnx(&bytes, DEFAULT_MAX_PARAMS) {
            panic!("an ONNX file qplay wrote does not read back: {e}");
        }
    }
    if let Ok(bytes) = qplay::formats::safetensors::write_model(&model) {
        if let Err(e) = qplay::formats::safetensors::read_model(&bytes, None, DEFAULT_MAX_PARAMS) {
            panic!("a .safetensors model qplay wrote does not read back: {e}");
        }
    }

    let scope = match case.cfg.only {
        Some(i) => Scope::Only(i as usize % (model.layers.len() + 1)),
        None => Scope::All,
    };
    let flow = if case.cfg.sequential { Flow::Sequential } else { Flow::AllAtOnce };
    let Ok(q) = quantize_model_with(&model, &cfg, &calib, scope, flow) else { return };
    let qm = q.model;
    let _ = qm.forward(&x);
    if let Ok(engine) = int8_engine(&qm) {
        let pixels: Vec<u8> = (0..batch * sample).map(|_| rng.next() as u8).collect();
        let mut scratch = Default::default();
        let _ = engine.predict(&pixels, &mut scratch);
    }
    if let Ok(bytes) = qplay::formats::quantized::write_quantized(&qm) {
        if let Err(e) = qplay::formats::quantized::read_quantized(&bytes, DEFAULT_MAX_PARAMS) {
            panic!("a quantized .safetensors qplay wrote does not read back: {e}");
        }
    }
    let _ = qplay::formats::onnx::write_qdq_onnx(&qm);
}

fuzz_target!(|case: Case| {
    on_small_stack(|| run(&case));
});

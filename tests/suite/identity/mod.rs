//! The same experiment description gives identical results natively, in wasm under Node
//! (`tests/node/`), in headless Chromium (`tests/suite/`),
//! and after a trip through its share link and its TOML: every run must reproduce the same
//! fingerprint, committed below.
//!
//! The fingerprint is FNV-1a 64 over the quantized predictions of the integer engine and of the
//! simulation, every quantized weight, the bit patterns of every scale and zero point, and the
//! activation parameters; and the accuracy as an exact count. The data are embedded, so the test
//! needs no file system: the pretrained MNIST MLP, its training split's first 256 images for
//! calibration, and the 2,000 test images.

use qplay::data::read_qds;
use qplay::experiment::run::{calibration_images, eval_set, fp32_baseline, run_ptq};
use qplay::experiment::Experiment;
use qplay::formats::safetensors::read_model;
use qplay::model::DEFAULT_MAX_PARAMS;
use qplay::ptq::{quantize_model, InputQuant, PtqConfig, QuantMode, Scope, WeightGranularity};

/// What every platform must reproduce: (fingerprint, correct predictions of 2,000).
/// (Full-range symmetric weights, [−128, 127], since issue 11: `PtqConfig::narrow_range` is off by default.)
const GOLDEN: (u64, usize) = (1168608680726254522, 1885);

fn fingerprint(exp: &Experiment) -> (u64, usize) {
    let model = read_model(include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/www/models/mlp-mnist.safetensors")), None, DEFAULT_MAX_PARAMS).unwrap();
    let train = read_qds(include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/www/data/mnist-train.qds.gz"))).unwrap();
    let test = read_qds(include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/www/data/mnist-test.qds.gz"))).unwrap();
    let calib = calibration_images(exp, &train);
    let eval = eval_set(exp, &test);
    let base = fp32_baseline(&model, &eval).unwrap();
    let report = run_ptq(exp, &model, &calib, &eval, &base).unwrap();
    let q = quantize_model(&model, &exp.ptq, &calib, Scope::All).unwrap().model;
    let mut bytes: Vec<u8> = Vec::new();
    bytes.extend(&report.predictions);
    bytes.extend((report.simulated_accuracy * eval.len() as f64).round().to_le_bytes());
    for l in q.quantized() {
        bytes.extend(l.weight.q.iter().flat_map(|v| v.to_le_bytes()));
        for s in &l.weight.slices {
            bytes.extend(s.params.scale.to_bits().to_le_bytes());
            bytes.extend(s.params.zero_point.to_le_bytes());
        }
        bytes.extend(l.bias.iter().flat_map(|v| v.to_bits().to_le_bytes()));
        if let InputQuant::Static(a) = l.input {
            bytes.extend(a.params.scale.to_bits().to_le_bytes());
            bytes.extend(a.params.zero_point.to_le_bytes());
        }
    }
    let correct = report.predictions.iter().zip(&eval.labels).filter(|(p, l)| p == l).count();
    (qplay::data::fnv1a64(&[&bytes]), correct)
}

fn experiment() -> Experiment {
    Experiment {
        model: "mlp-mnist".into(),
        dataset: "mnist".into(),
        ptq: PtqConfig { mode: QuantMode::Full, granularity: WeightGranularity::PerChannel, bias_correction: true, ..PtqConfig::default() },
        ..Experiment::default()
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn the_same_description_gives_the_same_results_everywhere() {
    let exp = experiment();
    let direct = fingerprint(&exp);
    // Through the share link and back.
    let (linked, notices) = qplay::share::experiment::from_query(&qplay::share::experiment::to_query(&exp));
    assert!(notices.is_empty(), "{notices:?}");
    assert_eq!(linked, exp);
    assert_eq!(fingerprint(&linked), direct, "the link reproduces the run");
    // Through TOML and back.
    assert_eq!(fingerprint(&Experiment::from_toml(&exp.to_toml()).unwrap()), direct);
    assert_eq!(direct, GOLDEN, "this platform's fingerprint (update GOLDEN only with a change that is meant to change results)");
}

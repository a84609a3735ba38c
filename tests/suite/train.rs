//! Training: deterministic from a seed, the loss falls, and QAT at 4 bits
//! beats PTQ at 4 bits. Native only (it reads the committed datasets from disk).
#![cfg(not(target_arch = "wasm32"))]

use qplay::data::{read_qds, Dataset};
use qplay::model::zoo::lab_mlp;
use qplay::model::LayerKind;
use qplay::train::fit::{accuracy, fit, FitConfig, FitOutcome};
use qplay::quant::Method;
use qplay::train::net::{fake_quant_weights, Net, QatConfig};
use qplay::train::optim::Optimizer;

fn dataset(name: &str) -> Dataset {
    read_qds(&std::fs::read(format!("{}/www/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()).unwrap()
}

fn weights(net: &Net) -> Vec<u32> {
    net.model
        .layers
        .iter()
        .flat_map(|l| match &l.kind {
            LayerKind::Linear(li) => li.w.iter().chain(&li.b).map(|v| v.to_bits()).collect(),
            _ => vec![],
        })
        .collect()
}

#[test]
fn training_is_deterministic_and_learns() {
    let train = dataset("mnist-train.qds.gz").take(2000);
    let test = dataset("mnist-test.qds.gz");
    let cfg = FitConfig { epochs: 1, batch: 32, optimizer: Optimizer::adam(1e-3), seed: 7, report_every: 20 };
    let run = || {
        let mut net = Net::new(lab_mlp(1)).unwrap();
        let mut losses = Vec::new();
        let outcome = fit(&mut net, &train, &cfg, &mut |p| {
            losses.push(p.loss);
            true
        });
        assert_eq!(outcome, FitOutcome::Finished);
        (net, losses)
    };
    let (mut a, losses) = run();
    let (b, _) = run();
    assert_eq!(weights(&a), weights(&b), "the same seed gives the same weights");
    assert!(losses.len() >= 3, "progress every 20 batches: {losses:?}");
    assert!(losses.last().unwrap() < &(losses[0] * 0.6), "loss falls: {losses:?}");
    let acc = accuracy(&mut a, &test);
    assert!(acc > 0.80, "one epoch on 2,000 digits: test accuracy {acc}");
    // A different seed gives different weights.
    let mut c = Net::new(lab_mlp(1)).unwrap();
    fit(&mut c, &train, &FitConfig { seed: 8, ..cfg }, &mut |_| true);
    assert_ne!(weights(&a), weights(&c));
}

#[test]
fn training_can_be_cancelled() {
    let train = dataset("mnist-train.qds.gz").take(640);
    let mut net = Net::new(lab_mlp(1)).unwrap();
    let cfg = FitConfig { epochs: 3, batch: 32, optimizer: Optimizer::sgd(0.05, 0.9), seed: 1, report_every: 5 };
    let mut calls = 0;
    let outcome = fit(&mut net, &train, &cfg, &mut |_| {
        calls += 1;
        calls < 2
    });
    assert_eq!((outcome, calls), (FitOutcome::Cancelled, 2));
}

#[test]
fn qat_at_4_bits_beats_ptq_at_4_bits() {
    let train = dataset("fashion-train.qds.gz").take(6000);
    let test = dataset("fashion-test.qds.gz").take(2000);
    let mut net = Net::new(lab_mlp(3)).unwrap();
    let cfg = FitConfig { epochs: 2, batch: 32, optimizer: Optimizer::adam(1e-3), seed: 3, report_every: 0 };
    fit(&mut net, &train, &cfg, &mut |_| true);
    let fp32 = accuracy(&mut net, &test);

    // PTQ: 4-bit weights (per channel) and 4-bit activations, ranges calibrated on 256 images, no training.
    let qat = QatConfig::symmetric(4, 4, Method::Normal);
    net.qat = Some(qat);
    net.logits(&train.images_f32(0, 256), true);
    let ptq = accuracy(&mut net, &test);

    // QAT: one epoch of fine-tuning with fake-quant and the straight-through estimator.
    let qcfg = FitConfig { epochs: 1, optimizer: Optimizer::adam(2e-4), ..cfg };
    fit(&mut net, &train, &qcfg, &mut |_| true);
    let qat_acc = accuracy(&mut net, &test);
    eprintln!("fashion MLP: fp32 {fp32:.4}, ptq4 {ptq:.4}, qat4 {qat_acc:.4}");
    assert!(fp32 > 0.75, "fp32 {fp32}");
    assert!(qat_acc > ptq, "QAT {qat_acc} must beat PTQ {ptq} at 4 bits");
}

#[test]
fn fake_quant_inference_runs_at_every_bit_width() {
    // Simulated (fake-quant) inference where no integer kernel exists: weights and
    // activations at b bits for b = 1..16; the logits approach FP32 as b grows.
    let test = dataset("mnist-test.qds.gz").take(200);
    let x = test.images_f32(0, test.len());
    let mut net = Net::new(lab_mlp(4)).unwrap();
    let fp32 = net.logits(&x, false);
    let mut errors = Vec::new();
    for bits in 1..=16u8 {
        net.qat = Some(QatConfig::symmetric(bits, bits, Method::Normal));
        net.act_ranges.iter_mut().for_each(|r| *r = None);
        let y = net.logits(&x, true);
        assert!(y.iter().all(|v| v.is_finite()), "{bits} bits");
        let err = y.iter().zip(&fp32).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>().sqrt();
        errors.push(err);
    }
    net.qat = None;
    assert!(errors[15] < errors[7] && errors[7] < errors[3] && errors[3] < errors[1], "{errors:?}");
    assert!(errors[15] < 1e-2 * errors[1], "16-bit is close to FP32: {errors:?}");
}

/// QAT trains on the experiment's grid: with the clip method its fake-quant is the clip grid's
/// (the step halved, the outer half of each weight row saturating), as the PTQ it is compared
/// with and the deployed model are; it once trained on the normal grid whatever the method was.
#[test]
fn qat_fake_quant_follows_the_lab_method() {
    use qplay::quant::granularity::{quantize_granular, Granularity};
    use qplay::quant::calibration::Calibration;
    let cfg = |method| QatConfig::symmetric(4, 4, method);
    assert_eq!(cfg(Method::Clip).weight_scheme().method, Method::Clip);
    assert_eq!(cfg(Method::Clip).act_scheme().method, Method::Clip);
    // Two rows of weights, per output channel: fake-quant = the PTQ's per-channel dequantized values.
    let w = [-1.0f32, 0.25, 0.6, 1.0, 0.3, -0.05, 0.9, -0.7];
    for m in [Method::Normal, Method::Clip] {
        let scheme = cfg(m).weight_scheme();
        let ptq = quantize_granular(&w, &[2, 4], &scheme, Granularity::PerChannel { axis: 0 }, &Calibration::MinMax).unwrap();
        assert_eq!(fake_quant_weights(&w, 2, &scheme), ptq.dequant, "{m:?}");
    }
    assert_ne!(fake_quant_weights(&w, 2, &cfg(Method::Clip).weight_scheme()), fake_quant_weights(&w, 2, &cfg(Method::Normal).weight_scheme()));
    // The grid of the PTQ it deploys as: symmetric or not, narrow or not, per channel or per tensor.
    for (symmetric, narrow, per_channel) in [(true, false, true), (false, false, true), (true, true, false), (false, false, false)] {
        let ptq = qplay::ptq::PtqConfig {
            method: Method::Clip,
            weight_bits: 4,
            weight_symmetric: symmetric,
            narrow_range: narrow,
            granularity: if per_channel { qplay::ptq::config::WeightGranularity::PerChannel } else { qplay::ptq::config::WeightGranularity::PerTensor },
            ..Default::default()
        };
        let q = QatConfig::for_ptq(&ptq);
        let g = if per_channel { Granularity::PerChannel { axis: 0 } } else { Granularity::PerTensor };
        let want = quantize_granular(&w, &[2, 4], &q.weight_scheme(), g, &Calibration::MinMax).unwrap().dequant;
        assert_eq!(fake_quant_weights(&w, q.weight_rows(2), &q.weight_scheme()), want, "{symmetric} {narrow} {per_channel}");
        assert_eq!(q.weight_scheme(), qplay::quant::Scheme { bits: 4, signed: true, symmetric, narrow_range: narrow, method: Method::Clip, rounding: qplay::quant::Rounding::HalfEven });
    }
    let x = dataset("mnist-test.qds.gz").take(20).images_f32(0, 20);
    let mut net = Net::new(lab_mlp(4)).unwrap();
    let mut logits = |m| {
        net.qat = Some(cfg(m));
        net.act_ranges.iter_mut().for_each(|r| *r = None);
        net.logits(&x, true)
    };
    assert_ne!(logits(Method::Clip), logits(Method::Normal));
}


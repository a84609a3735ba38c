//! `ptq::executable` on the built-in MLP and CNN: every mode gets the engine the module header
//! promises (or the simulation with the typed reason), and the kernels follow the simulation on
//! the Fashion-MNIST test set. Native only (reads www/).
#![cfg(not(target_arch = "wasm32"))]

use qplay::experiment::run::{accuracy_of, EVAL_BATCH};
use qplay::model::argmax_rows;
use qplay::ptq::{executable, DynamicMode, Engine, FallbackReason, PtqConfig, QuantMode, WeightGranularity};

use crate::www::{data, model};

/// A case: its label, its settings, and the engine a layer (by name) must get.
type Case = (&'static str, PtqConfig, fn(&str) -> Engine);

fn cases() -> Vec<Case> {
    let d = PtqConfig::default();
    vec![
        ("full W8A8", d.clone(), |_| Engine::Int8Static),
        // 4-bit weights are int8 values to the int8 kernels.
        ("full W4A8", PtqConfig { weight_bits: 4, ..d.clone() }, |_| Engine::Int8Static),
        ("full W8A6", PtqConfig { act_bits: 6, ..d.clone() }, |_| Engine::Int8Static),
        ("dynamic ALWC", PtqConfig { mode: QuantMode::Dynamic, ..d.clone() }, |_| Engine::Int8Dynamic),
        ("dynamic ALWC W8A6", PtqConfig { mode: QuantMode::Dynamic, act_bits: 6, ..d.clone() }, |l| {
            Engine::Simulated { reason: FallbackReason::BitsWithoutKernel { layer: l.into(), weight_bits: 8, act_bits: Some(6) } }
        }),
        ("dynamic ACWL", PtqConfig { mode: QuantMode::Dynamic, dynamic_strategy: DynamicMode::Acwl, ..d.clone() }, |l| {
            Engine::Simulated { reason: FallbackReason::PerChannelActivations { layer: l.into() } }
        }),
        ("weight-only W8", PtqConfig { mode: QuantMode::WeightOnly, ..d.clone() }, |_| Engine::WeightOnly { bits: 8 }),
        ("weight-only W4 asymmetric", PtqConfig { mode: QuantMode::WeightOnly, weight_bits: 4, weight_symmetric: false, ..d.clone() }, |_| Engine::WeightOnly { bits: 4 }),
        (
            "weight-only W4 group 8",
            PtqConfig { mode: QuantMode::WeightOnly, weight_bits: 4, granularity: WeightGranularity::PerGroup { group_size: 8 }, ..d.clone() },
            |_| Engine::WeightOnly { bits: 4 },
        ),
        ("weight-only W2", PtqConfig { mode: QuantMode::WeightOnly, weight_bits: 2, ..d.clone() }, |_| Engine::WeightOnly { bits: 2 }),
        ("weight-only W3", PtqConfig { mode: QuantMode::WeightOnly, weight_bits: 3, ..d.clone() }, |l| {
            Engine::Simulated { reason: FallbackReason::BitsWithoutKernel { layer: l.into(), weight_bits: 3, act_bits: None } }
        }),
    ]
}

/// The engines each layer gets, and the kernels' predictions against the simulation's on the
/// test images: the same class on ≥ 99.5 % of them and accuracy within 0.3 points (the
/// float kernels differ from the simulation only in summation order, the static int8 network
/// by at most one requantization step per value).
fn check(name: &str) {
    let m = model(name);
    // 2,000 test images keep the debug build's run short; `qplay run` measures all 10,000.
    let (train, test) = (data("fashion-train"), data("fashion-test").take(2000));
    let calib = train.images_f32(0, 256);
    for (label, cfg, want) in cases() {
        let exec = executable(&m, &cfg, &calib).unwrap();
        let mut engines = Vec::new();
        for (i, e) in exec.layer_engines() {
            let layer = &m.layers[i].name;
            // W8A6 static: only the int8 network could run it, all of it or nothing, and it stops at
            // the first layer; every layer says why.
            let expected = if label == "full W8A6" {
                let first = exec.quant.quantized().next().unwrap().name.clone();
                Engine::Simulated { reason: FallbackReason::BitsWithoutKernel { layer: first, weight_bits: 8, act_bits: Some(6) } }
            } else {
                want(layer)
            };
            assert_eq!(e, &expected, "{name} {label}: layer {layer}");
            engines.push(e.name());
        }
        assert_eq!(engines.len(), exec.quant.quantized().count());
        // Batch by batch as the engines run (a dynamic range is the batch's own).
        let float_runner = exec.on_kernels() && !matches!(exec.layer_engines().next().unwrap().1, Engine::Int8Static);
        let (mut sim, mut kernel) = (Vec::new(), Vec::new());
        let (mut diff, mut norm) = (0f64, 0f64);
        for start in (0..test.len()).step_by(EVAL_BATCH) {
            let xb = test.images_f32(start, EVAL_BATCH.min(test.len() - start));
            let s = exec.quant.forward(&xb).unwrap();
            sim.extend(argmax_rows(&s, 10));
            if float_runner {
                let k = exec.forward(&xb).unwrap();
                kernel.extend(argmax_rows(&k, 10));
                diff += k.iter().zip(&s).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>();
                norm += s.iter().map(|b| (*b as f64).powi(2)).sum::<f64>();
            }
        }
        let sim_acc = accuracy_of(&sim, &test.labels);
        if !exec.on_kernels() {
            eprintln!("{name} {label}: simulated {:.2} % ({})", 100.0 * sim_acc, exec.layer_engines().next().unwrap().1.reason().unwrap());
            continue;
        }
        if float_runner {
            // The logits themselves: only the summation order differs.
            let rel = (diff / norm).sqrt();
            eprintln!("{name} {label}: ‖kernel − simulation‖ / ‖simulation‖ of the logits = {rel:.2e}");
            assert!(rel < 1e-4, "{name} {label}: logits differ by {rel}");
            assert_eq!(kernel, exec.predict(&test).unwrap(), "predict runs the same kernels");
        } else {
            kernel = exec.predict(&test).unwrap();
        }
        let kernel_acc = accuracy_of(&kernel, &test.labels);
        let same = kernel.iter().zip(&sim).filter(|(a, b)| a == b).count() as f64 / sim.len() as f64;
        eprintln!(
            "{name} {label} on {} images: {engines:?}: kernels {:.2} %, simulation {:.2} %, same class {:.2} %",
            test.len(),
            100.0 * kernel_acc,
            100.0 * sim_acc,
            100.0 * same
        );
        assert!(same >= 0.995, "{name} {label}: kernels and simulation agree on {same}");
        assert!((kernel_acc - sim_acc).abs() <= 0.003, "{name} {label}: kernels {kernel_acc} vs simulation {sim_acc}");
    }
}

#[test]
fn the_mlp_runs_each_mode_on_its_engine_and_follows_the_simulation() {
    check("mlp-fashion");
}

#[test]
fn the_cnn_runs_each_mode_on_its_engine_and_follows_the_simulation() {
    check("cnn-fashion");
}

/// Every reason about a layer names it, and its message starts with that layer; the three about
/// the whole model name none.
#[test]
fn a_fallback_reason_names_its_layer() {
    use FallbackReason::*;
    let l = || "conv2".to_string();
    let about_a_layer = [
        BitsWithoutKernel { layer: l(), weight_bits: 3, act_bits: None },
        PerChannelActivations { layer: l() },
        AsymmetricWeights { layer: l() },
        PerGroupWeights { layer: l(), group_size: 32 },
        WeightLayout { layer: l() },
        SmoothQuantStatic { layer: l() },
        AveragePool { layer: l() },
        OpBeforeFirstQuantizedLayer { layer: l() },
        InputRequantized { layer: l() },
        UnsupportedLayer { layer: l(), kind: "Softmax".into() },
        FlatTensor { layer: l() },
        PaddingZeroPoint { layer: l(), zero_point: 200 },
    ];
    for r in &about_a_layer {
        assert_eq!(r.layer(), Some("conv2"), "{r:?}");
        assert!(r.to_string().starts_with("layer conv2"), "{r}");
    }
    assert_eq!(LayerSkipped { layer: l() }.layer(), Some("conv2"));
    for r in [OutputNotQuantized, EndsInSoftmax, NoWeightedLayer] {
        assert_eq!(r.layer(), None, "{r:?}");
    }
}

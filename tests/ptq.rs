//! Post-training quantization of the pretrained baselines: the simulation and the integer
//! engine agree, and the lab's accuracy targets hold. Native only (reads www/).
#![cfg(not(target_arch = "wasm32"))]

use qplay::data::{read_qds, Dataset};
use qplay::formats::safetensors::read_model;
use qplay::model::forward::Fp32Runner;
use qplay::experiment::run::accuracy_of;
use qplay::model::{argmax_rows, Model, DEFAULT_MAX_PARAMS};
use qplay::ptq::int8::int8_engine;
use qplay::ptq::{quantize_model, PtqConfig, QuantMode, Scope, WeightGranularity};
use qplay::runtime::int8_model::Int8Scratch;

fn asset(path: &str) -> Vec<u8> {
    std::fs::read(format!("{}/www/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn model(name: &str) -> Model {
    read_model(&asset(&format!("models/{name}.safetensors")), None, DEFAULT_MAX_PARAMS).unwrap()
}

fn data(name: &str) -> Dataset {
    read_qds(&asset(&format!("data/{name}.qds.gz"))).unwrap()
}

#[test]
fn fashion_mlp_w8a8_per_channel_and_w4a16() {
    let m = model("mlp-fashion");
    let (train, test) = (data("fashion-train"), data("fashion-test"));
    let x = test.images_f32(0, test.len());
    let fp32 = accuracy_of(&argmax_rows(&Fp32Runner::new(m.clone()).forward(&x).unwrap(), 10), &test.labels);
    let calib = train.images_f32(0, 256);

    let q = quantize_model(&m, &PtqConfig::default(), &calib, Scope::All).unwrap();
    let sim = accuracy_of(&argmax_rows(&q.model.forward(&x).unwrap(), 10), &test.labels);
    let int8 = int8_engine(&q.model).unwrap();
    let int8_acc = accuracy_of(&int8.predict(&test.pixels, &mut Int8Scratch::default()), &test.labels);

    let w4 = PtqConfig { mode: QuantMode::WeightOnly, weight_bits: 4, granularity: WeightGranularity::PerChannel, ..PtqConfig::default() };
    let q4 = quantize_model(&m, &w4, &calib, Scope::All).unwrap();
    let acc4 = accuracy_of(&argmax_rows(&q4.model.forward(&x).unwrap(), 10), &test.labels);
    eprintln!("fashion MLP: fp32 {fp32:.4}, W8A8 per-channel simulated {sim:.4}, int8 {int8_acc:.4}, W4A16 per-channel {acc4:.4}");
    assert!(fp32 - sim <= 0.01 && fp32 - int8_acc <= 0.01);
    assert!(fp32 - acc4 <= 0.03);
    assert!((sim - int8_acc).abs() <= 0.002, "the integer engine follows the simulation");
}

#[test]
fn planned_sizes_match_the_quantized_models() {
    use qplay::ptq::build::planned_bytes;
    let m = model("cnn-fashion");
    let calib = data("fashion-train").images_f32(0, 64);
    let configs = [
        PtqConfig::default(),
        PtqConfig { mode: QuantMode::WeightOnly, weight_bits: 3, granularity: WeightGranularity::PerGroup { group_size: 8 }, ..PtqConfig::default() },
        PtqConfig { mode: QuantMode::Dynamic, weight_symmetric: false, skip: vec!["fc".into()], ..PtqConfig::default() },
        PtqConfig { smooth_quant: Some(0.5), granularity: WeightGranularity::PerTensor, ..PtqConfig::default() },
    ];
    for cfg in configs {
        let q = quantize_model(&m, &cfg, &calib, Scope::All).unwrap().model;
        let planned = planned_bytes(&m, &cfg);
        for (i, ql) in q.layers.iter().enumerate() {
            assert_eq!(planned[i], ql.as_ref().map(|l| l.bytes()), "layer {i} under {cfg:?}");
        }
    }
}

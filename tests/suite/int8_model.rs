//! Static W8A8 PTQ of a trained MLP: integer-only inference stays within one
//! accuracy point of FP32 on the Fashion-MNIST test set. Native only (reads the datasets).
#![cfg(not(target_arch = "wasm32"))]

use qplay::data::read_qds;
use qplay::model::zoo::lab_mlp;
use qplay::ptq::int8::int8_engine;
use qplay::ptq::{quantize_model, PtqConfig, Scope};
use qplay::runtime::int8_model::Int8Scratch;
use qplay::train::fit::{accuracy, fit, FitConfig};
use qplay::train::net::Net;
use qplay::train::optim::Optimizer;

#[test]
fn w8a8_mlp_is_within_one_point_of_fp32() {
    let load = |n: &str| read_qds(&std::fs::read(format!("{}/www/data/{n}", env!("CARGO_MANIFEST_DIR"))).unwrap()).unwrap();
    let (train, test) = (load("fashion-train.qds.gz").take(6000), load("fashion-test.qds.gz"));
    let mut net = Net::new(lab_mlp(5)).unwrap();
    fit(&mut net, &train, &FitConfig { epochs: 2, batch: 32, optimizer: Optimizer::adam(1e-3), seed: 5, report_every: 0 }, &mut |_| true);
    let fp32 = accuracy(&mut net, &test);
    // The one build path: static W8A8 per-channel PTQ, then the integer engine.
    let q = quantize_model(&net.model, &PtqConfig::default(), &train.images_f32(0, 256), Scope::All).unwrap();
    let int8 = int8_engine(&q.model).unwrap();
    let pred = int8.predict(&test.pixels, &mut Int8Scratch::default());
    let acc8 = pred.iter().zip(&test.labels).filter(|(p, l)| p == l).count() as f64 / test.len() as f64;
    eprintln!("fashion MLP on 10,000 test images: fp32 {fp32:.4}, int8 {acc8:.4}");
    assert!(fp32 > 0.75, "fp32 {fp32}");
    assert!(fp32 - acc8 <= 0.01, "int8 {acc8} vs fp32 {fp32}");
}

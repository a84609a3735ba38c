//! `qplay-bench`: the kernel benchmarks, natively (`cargo run --release --bin qplay-bench`)
//! or as wasm under Node 20 (`bash scripts/bench.sh`). One parseable line per case, each a
//! median after a warm-up, with the spread of its trials (`spread=`, see `qplay::bench`).

/// Elements per quantize call: 1 Mi values (4 MiB of f32), larger than L2.
const N: usize = 1 << 20;

#[path = "common/clock.rs"]
mod clock;

fn main() {
    clock::with_platform(run);
}

fn run(clock: &dyn Fn() -> f64, print: &dyn Fn(&str)) {
    let mut lines = qplay::bench::quant_kernels(clock, N);
    // The int8 and f32 GEMMs, the ceilings and the int8 variants, timed interleaved per shape.
    lines.extend(qplay::bench::gemm_suite(clock));
    lines.extend(qplay::bench::requant(clock));
    lines.extend(qplay::bench::mlp_end_to_end(clock, 10_000));
    // Natively the GEMM is the scalar reference (0.47 s per 10,000 images measured): split 1,000.
    let (split_lines, split) = qplay::bench::mlp_split(clock, if cfg!(target_arch = "wasm32") { 10_000 } else { 1_000 });
    lines.extend(split_lines);
    lines.extend(qplay::bench::qat_epoch(clock, 10_000));
    // A full W8A8 PTQ run of the Fashion-MNIST MLP: 256 calibration images, 10,000 test images.
    // (The timing does not depend on which images calibrate, so the test set's first 256 do.)
    let model = qplay::formats::safetensors::read_model(include_bytes!("../../www/models/mlp-fashion.safetensors"), None, qplay::model::DEFAULT_MAX_PARAMS)
        .expect("the committed model reads");
    let test = qplay::data::read_qds(include_bytes!("../../www/data/fashion-test.qds.gz")).expect("the committed test set reads");
    lines.extend(qplay::bench::ptq_run(clock, &model, &test.images_f32(0, 256), &test));
    for l in &lines {
        print(&l.to_line());
    }
    for r in qplay::bench::ratios(&lines).into_iter().chain(qplay::bench::int8_vs_f32(&lines)) {
        print(&r);
    }
    for s in qplay::bench::ceiling_ratios(&lines).into_iter().chain(qplay::bench::fused_vs_two_pass(&lines)).chain(split) {
        print(&s);
    }
}

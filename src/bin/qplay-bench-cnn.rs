//! `qplay-bench-cnn`: the Fashion CNN end to end, FP32 against the integer engine (im2col Conv2d,
//! int8 pooling), at batches 1, 64 and 10,000 on the real test set, then every PTQ mode on the
//! engine the product gives it (dynamic ALWC and weight-only W8 / W4 on their kernels), natively
//! (`cargo run --release --bin qplay-bench-cnn`) or as wasm under Node (`bash scripts/bench.sh cnn`).

#[path = "common/clock.rs"]
mod clock;

fn main() {
    clock::with_platform(run);
}

fn run(clock: &dyn Fn() -> f64, print: &dyn Fn(&str)) {
    let model = qplay::formats::safetensors::read_model(include_bytes!("../../www/models/cnn-fashion.safetensors"), None, qplay::model::DEFAULT_MAX_PARAMS)
        .expect("the committed model reads");
    let train = qplay::data::read_qds(include_bytes!("../../www/data/fashion-train.qds.gz")).expect("the committed training set reads");
    let test = qplay::data::read_qds(include_bytes!("../../www/data/fashion-test.qds.gz")).expect("the committed test set reads");
    let (mut lines, mut notes) = qplay::bench::model_end_to_end(clock, "cnn_fashion", &model, &train.images_f32(0, 256), &test);
    let (mode_lines, mode_notes) = qplay::bench::modes_end_to_end(clock, "cnn_fashion_modes", &model, &train.images_f32(0, 256), &test);
    lines.extend(mode_lines);
    notes.extend(mode_notes);
    for l in &lines {
        print(&l.to_line());
    }
    for n in &notes {
        print(n);
    }
}

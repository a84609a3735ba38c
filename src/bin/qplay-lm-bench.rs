//! `qplay-lm-bench`: language-model speed, natively (`cargo run --release --bin qplay-lm-bench`)
//! or as wasm under Node 20 (`bash scripts/bench_lm.sh`): decoding tokens/s of the built-in
//! model and of a randomly initialised model of llama2.c's 15 M TinyStories shape in every
//! format, the time of a perplexity run over the default evaluation slice, and of quantizing one
//! token's activations to int8 (`lm_quantize_acts`, K = 128 and 384), and the float-activation
//! product of M rows on the register kernels and on dequantized blocks (`lm_prefill`); last, the
//! README's table: each format's perplexity, KL and top-1 against FP32 beside this run's speeds.

use qplay::lm::bench::{activation_quantizer_speed, bench_formats, decode_speed, linears_speed, perplexity_speed, prefill_product_speed, ratios_to_fp32, table};
use qplay::lm::{corpus, CharTokenizer, LmConfig, LmWeights};

#[path = "common/clock.rs"]
mod clock;

fn main() {
    clock::with_platform(run);
}

fn run(clock: &dyn Fn() -> f64, print: &dyn Fn(&str)) {
    let w = LmWeights::from_safetensors(include_bytes!("../../www/models/shakespeare.safetensors")).expect("the committed model reads");
    let formats = bench_formats();
    let mut lines = decode_speed(clock, "shakespeare", &w, &formats, 256, 15);
    lines.extend(linears_speed(clock, "shakespeare", &w, &formats, 256, 15));
    // One token's activations to int8 before a W8A8 product: the built-in model's two row lengths.
    lines.extend(activation_quantizer_speed(clock, &[128, 384], 2000, 9));
    // The float-activation product of M rows on the register kernels and on dequantized blocks.
    lines.extend(prefill_product_speed(clock, &[(384, 128), (128, 384)], &[1, 8, 16, 32, 64, 256], 9));
    for l in &lines {
        print(&l.to_line());
    }
    let text = corpus::gunzip_text(include_bytes!("../../www/data/shakespeare.val.txt.gz")).expect("the committed text reads");
    let tok = CharTokenizer::new(w.alphabet.clone().expect("an alphabet").chars().collect()).expect("a valid alphabet");
    let mut ids = tok.encode(&text).expect("the validation text encodes");
    ids.truncate(8193);
    let ppl = perplexity_speed(clock, "shakespeare_8192", &w, &formats, &ids, 3);
    for l in &ppl {
        print(&l.to_line());
    }
    lines.extend(ppl);
    let tiny = LmWeights::init(&LmConfig::tinystories_15m(), 1).expect("the TinyStories shape is valid");
    // Its tied 32,000 × 288 head is 60 % of a token's multiply-adds: quantized too here (no skip list).
    let tiny_formats: Vec<_> = formats
        .iter()
        .filter(|(l, _)| ["fp32", "w8_per_channel", "w8a8_per_channel", "w8a8_kv8", "w4_g32", "q4_0"].contains(l))
        .map(|(l, c)| (*l, qplay::ptq::lm::LmQuantConfig { skip: vec![], ..c.clone() }))
        .collect();
    let mut t = decode_speed(clock, "tinystories15m", &tiny, &tiny_formats, 64, 3);
    t.extend(linears_speed(clock, "tinystories15m", &tiny, &tiny_formats, 64, 3));
    for l in &t {
        print(&l.to_line());
    }
    lines.extend(t);
    for r in ratios_to_fp32(&lines) {
        print(&r);
    }
    // The README's table: every format's quality against FP32 on the slice beside this run's speeds.
    print("");
    print(&table("shakespeare", "shakespeare_8192", &w, &formats, &ids, &lines).expect("every format of the built-in model scores"));
}

//! Fuzzing every parser with proptest: random bytes, and structure-aware mutations (bit flips,
//! interesting integers at header-length positions, truncation, insertion, deletion, splicing
//! with another seed) of the seed files in `tests/fuzz_corpus/<target>/`.
//!
//! Every input must give `Ok` or `Err`: never a panic, and never one allocation over
//! [`MAX_ALLOCATION`] (a counting global allocator records the largest single request made while a
//! parser runs), which catches a size read from the input and trusted before the data is there.
//!
//! ```text
//! QPLAY_FUZZ_CASES=N   cases per target (default 150: a few seconds in all)
//! QPLAY_FUZZ_SEED=S    the random seed (default: a fixed one, so `cargo test` is repeatable)
//! scripts/fuzz.sh MINUTES   runs this with new seeds until MINUTES have passed, and counts the cases
//! ```
//!
//! A failing input is shrunk by proptest and written to `target/fuzz-failures/<target>-<hash>`:
//! fix the code, then add the file to the target's corpus. The corpus seeds are copies of the
//! fixtures in tests/fixtures/ (made by NumPy, safetensors, onnx) and small files written by qplay
//! itself (`cargo test --test suite -- --ignored fuzz::write_corpus_seeds` writes those).
//!
//! Targets: text, json, npy, npz, safetensors (tensors, models, quantized models), onnx, qds, and
//! the share links (`#/tensor?…`, the page, the view keys and the experiment link), the language-model
//! readers and Golden Stick's `PTQConfig(...)` call. A new parser
//! gets a line in [`TARGETS`] and a corpus folder.
#![cfg(not(target_arch = "wasm32"))]

use std::path::PathBuf;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};

use qplay::model::DEFAULT_MAX_PARAMS;

use crate::alloc_probe;
use std::cell::Cell;

/// The largest single allocation a parser may make on a fuzz input (inputs are ≤ 64 KiB).
/// rust-protobuf reserves up to 10⁷ elements of a packed repeated field before it sees that the
/// data is missing (80 MB for int64; `READ_RAW_BYTES_MAX_ALLOC`), a bound of the crate's own that
/// qplay cannot lower without decoding the protobuf itself; every other reader stays far below.
const MAX_ALLOCATION: usize = 96 << 20;
/// The largest input tried.
const MAX_INPUT: usize = 64 << 10;

// ---- the targets ----

struct Target {
    name: &'static str,
    run: fn(&[u8]),
}

fn text(bytes: &[u8]) {
    let _ = qplay::formats::text::read_text(bytes);
    let _ = qplay::parse::parse_numbers(&String::from_utf8_lossy(bytes));
}

fn json(bytes: &[u8]) {
    let s = String::from_utf8_lossy(bytes);
    let _ = qplay::formats::text::read_str(&s);
    let _ = serde_json::from_str::<qplay::formats::safetensors::Architecture>(&s);
    let _ = serde_json::from_str::<qplay::formats::quantized::QuantSpec>(&s);
    // As a sidecar of a real state_dict: the architecture is built against its tensors.
    let st = include_bytes!("../fixtures/st_sidecar_model.safetensors");
    let _ = qplay::formats::safetensors::read_model(st, Some(&s), DEFAULT_MAX_PARAMS);
}

fn npy(bytes: &[u8]) {
    let _ = qplay::formats::npy::read_npy(bytes);
}

fn npz(bytes: &[u8]) {
    let _ = qplay::formats::npz::read_npz(bytes);
    // As the Tensor page reads it: members that are not arrays passed over.
    let _ = qplay::formats::files::read_tensor_file("f.npz", bytes);
}

fn safetensors(bytes: &[u8]) {
    let _ = qplay::formats::safetensors::read_safetensors(bytes);
    let _ = qplay::formats::safetensors::read_model(bytes, None, DEFAULT_MAX_PARAMS);
    let _ = qplay::formats::quantized::read_quantized(bytes, DEFAULT_MAX_PARAMS);
}

fn onnx(bytes: &[u8]) {
    let _ = qplay::formats::onnx::read_onnx(bytes, DEFAULT_MAX_PARAMS);
}

fn qds(bytes: &[u8]) {
    let _ = qplay::data::read_qds(bytes);
}

fn share(bytes: &[u8]) {
    let s = String::from_utf8_lossy(bytes);
    let _ = qplay::share::TensorSettings::from_hash(&s);
    let _ = qplay::share::Page::from_hash(&s);
    let query = s.split_once('?').map_or(&*s, |(_, q)| q);
    let _ = qplay::share::view::split_view(query);
    // The experiment page's link (src/share/experiment.rs).
    let _ = qplay::share::experiment::from_query(query);
}

fn ptq_config(bytes: &[u8]) {
    let _ = qplay::ptq::golden_stick::read_ptq_config(&String::from_utf8_lossy(bytes), &Default::default());
}

fn lm_gguf(bytes: &[u8]) {
    let _ = qplay::lm::import::read_gguf(bytes);
}

fn lm_llama2c(bytes: &[u8]) {
    let _ = qplay::lm::import::read_llama2c(bytes);
    let _ = qplay::lm::import::read_llama2c_tokenizer(bytes);
}

fn lm_hf(bytes: &[u8]) {
    // The corpus inputs hold a config.json and a model.safetensors; as one file, each reader sees it.
    let _ = qplay::lm::import::read_hf(bytes, &[("model.safetensors", bytes)]);
}

const TARGETS: &[Target] = &[
    Target { name: "text", run: text },
    Target { name: "json", run: json },
    Target { name: "npy", run: npy },
    Target { name: "npz", run: npz },
    Target { name: "safetensors", run: safetensors },
    Target { name: "onnx", run: onnx },
    Target { name: "qds", run: qds },
    Target { name: "share", run: share },
    Target { name: "lm_gguf", run: lm_gguf },
    Target { name: "lm_llama2c", run: lm_llama2c },
    Target { name: "lm_hf", run: lm_hf },
    Target { name: "ptq_config", run: ptq_config },
];

// ---- inputs: random bytes, or mutated seeds ----

/// One edit of a seed; positions are fractions of the current length (so they stay valid and
/// shrink well).
#[derive(Clone, Debug)]
enum Mutation {
    FlipBit { at: u16, bit: u8 },
    SetByte { at: u16, byte: u8 },
    /// An interesting little-endian integer at a header-length position (0, 4, 6, 8, 10) or anywhere.
    Integer { at: Option<u16>, header: u8, width: u8, value: u64 },
    Truncate { to: u16 },
    Insert { at: u16, bytes: Vec<u8> },
    Delete { at: u16, len: u16 },
    /// A piece of another seed, copied in.
    Splice { seed: usize, from: u16, len: u16, at: u16 },
    /// A piece of this input repeated (grows counts and nesting).
    Repeat { from: u16, len: u16, times: u8 },
}

fn frac(at: u16, len: usize) -> usize {
    (at as usize * len) / (u16::MAX as usize + 1)
}

const INTERESTING: [u64; 14] = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0xffff, 0x7fff_ffff, 0xffff_ffff, 1 << 32, i64::MAX as u64, u64::MAX];

fn apply(input: &mut Vec<u8>, m: &Mutation, seeds: &[Vec<u8>]) {
    let len = input.len();
    match m {
        Mutation::FlipBit { at, bit } if len > 0 => input[frac(*at, len)] ^= 1 << (bit % 8),
        Mutation::SetByte { at, byte } if len > 0 => input[frac(*at, len)] = *byte,
        Mutation::Integer { at, header, width, value } => {
            let pos = at.map_or([0usize, 4, 6, 8, 10][*header as usize % 5], |a| frac(a, len));
            let width = [1usize, 2, 4, 8][*width as usize % 4];
            for (i, b) in value.to_le_bytes().iter().take(width).enumerate() {
                if let Some(x) = input.get_mut(pos + i) {
                    *x = *b;
                }
            }
        }
        Mutation::Truncate { to } => input.truncate(frac(*to, len + 1)),
        Mutation::Insert { at, bytes } => {
            let pos = frac(*at, len + 1);
            input.splice(pos..pos, bytes.iter().copied());
        }
        Mutation::Delete { at, len: n } if len > 0 => {
            let pos = frac(*at, len);
            let end = (pos + *n as usize % 64 + 1).min(len);
            input.drain(pos..end);
        }
        Mutation::Splice { seed, from, len: n, at } if !seeds.is_empty() => {
            let other = &seeds[seed % seeds.len()];
            let start = frac(*from, other.len());
            let piece = &other[start..(start + *n as usize % 256).min(other.len())];
            let pos = frac(*at, len + 1);
            input.splice(pos..pos, piece.iter().copied());
        }
        Mutation::Repeat { from, len: n, times } if len > 0 => {
            let start = frac(*from, len);
            let piece = input[start..(start + *n as usize % 64 + 1).min(len)].to_vec();
            for _ in 0..(*times % 8) {
                input.splice(start..start, piece.iter().copied());
            }
        }
        _ => {}
    }
    input.truncate(MAX_INPUT);
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<u16>(), any::<u8>()).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        2 => (any::<u16>(), any::<u8>()).prop_map(|(at, byte)| Mutation::SetByte { at, byte }),
        3 => (proptest::option::of(any::<u16>()), any::<u8>(), any::<u8>(), prop_oneof![proptest::sample::select(&INTERESTING[..]), any::<u64>()])
            .prop_map(|(at, header, width, value)| Mutation::Integer { at, header, width, value }),
        1 => any::<u16>().prop_map(|to| Mutation::Truncate { to }),
        1 => (any::<u16>(), proptest::collection::vec(any::<u8>(), 1..16)).prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        1 => (any::<u16>(), any::<u16>()).prop_map(|(at, len)| Mutation::Delete { at, len }),
        1 => (any::<usize>(), any::<u16>(), any::<u16>(), any::<u16>()).prop_map(|(seed, from, len, at)| Mutation::Splice { seed, from, len, at }),
        1 => (any::<u16>(), any::<u16>(), any::<u8>()).prop_map(|(from, len, times)| Mutation::Repeat { from, len, times }),
    ]
}

fn corpus_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_corpus").join(name)
}

fn seeds(name: &str) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir(name))
        .unwrap_or_else(|e| panic!("tests/fuzz_corpus/{name}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// Random bytes (1 in 5), or a seed with 1–6 mutations.
fn inputs(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let n = seeds.len();
    let mutated = (0..n, proptest::collection::vec(mutation(), 1..6)).prop_map(move |(i, ms)| {
        let mut input = seeds[i].clone();
        for m in &ms {
            apply(&mut input, m, &seeds);
        }
        input
    });
    prop_oneof![1 => proptest::collection::vec(any::<u8>(), 0..512), 4 => mutated]
}

fn env_u64(key: &str) -> Option<u64> {
    std::env::var(key).ok().and_then(|v| v.trim().parse().ok())
}

/// Runs `run` on QPLAY_FUZZ_CASES inputs made from the seeds of `corpus`; Err(why) names the
/// failure and the file the shrunk input was saved to.
fn fuzz_with(name: &str, corpus: &str, run: fn(&[u8])) -> Result<u32, String> {
    let cases = env_u64("QPLAY_FUZZ_CASES").unwrap_or(150) as u32;
    let seed = env_u64("QPLAY_FUZZ_SEED").unwrap_or(0x5eed);
    // A test's own planted target keeps index 8 (the count when it was written) whatever targets join.
    let index = TARGETS.iter().position(|t| t.name == name).unwrap_or(8) as u64;
    let config = Config {
        cases,
        rng_seed: RngSeed::Fixed(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(index)),
        failure_persistence: None,
        max_shrink_iters: 2000,
        ..Config::default()
    };
    let corpus = seeds(corpus);
    assert!(!corpus.is_empty(), "tests/fuzz_corpus/{name} has no seeds");
    let mut runner = TestRunner::new(config);
    let result = runner.run(&inputs(corpus), |input| {
        alloc_probe::reset();
        run(&input);
        let largest = alloc_probe::largest();
        if largest > MAX_ALLOCATION {
            return Err(TestCaseError::fail(format!("one allocation of {largest} bytes from a {}-byte input", input.len())));
        }
        Ok(())
    });
    match result {
        Ok(()) => Ok(cases),
        // A test's own planted target: nothing to save.
        Err(TestError::Fail(why, _)) if !TARGETS.iter().any(|t| t.name == name) => Err(format!("fuzz {name}: {why}")),
        Err(TestError::Fail(why, input)) => {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failures");
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let path = dir.join(format!("{name}-{:016x}", qplay::data::fnv1a64(&[&input])));
            std::fs::write(&path, &input).map_err(|e| e.to_string())?;
            Err(format!("fuzz {name}: {why}\n  input ({} bytes) saved to {}\n  seed {seed}", input.len(), path.display()))
        }
        Err(e) => Err(format!("fuzz {name}: {e}")),
    }
}

/// Runs one target; prints `fuzz <target>: N cases` for scripts/fuzz.sh.
fn fuzz(name: &str) {
    let target = TARGETS.iter().find(|t| t.name == name).expect("a target");
    match fuzz_with(name, name, target.run) {
        Ok(cases) => println!("fuzz {name}: {cases} cases, no panic, seed {}", env_u64("QPLAY_FUZZ_SEED").unwrap_or(0x5eed)),
        Err(why) => panic!("{why}"),
    }
}

#[test]
fn fuzz_text() {
    fuzz("text");
}

#[test]
fn fuzz_json() {
    fuzz("json");
}

#[test]
fn fuzz_npy() {
    fuzz("npy");
}

#[test]
fn fuzz_npz() {
    fuzz("npz");
}

#[test]
fn fuzz_safetensors() {
    fuzz("safetensors");
}

#[test]
fn fuzz_onnx() {
    fuzz("onnx");
}

#[test]
fn fuzz_qds() {
    fuzz("qds");
}

#[test]
fn fuzz_share_links() {
    fuzz("share");
}

#[test]
fn fuzz_lm_gguf() {
    fuzz("lm_gguf");
}

#[test]
fn fuzz_lm_llama2c() {
    fuzz("lm_llama2c");
}

#[test]
fn fuzz_lm_hf() {
    fuzz("lm_hf");
}

#[test]
fn fuzz_ptq_config() {
    fuzz("ptq_config");
}

/// The mutations do what they say (so the fuzzer explores what it claims to).
#[test]
fn mutations_edit_inputs_as_documented() {
    let seeds = vec![b"0123456789abcdef".to_vec()];
    let mut x = seeds[0].clone();
    apply(&mut x, &Mutation::Integer { at: None, header: 3, width: 2, value: 0xffff }, &seeds);
    assert_eq!(&x[8..10], &[0xff, 0xff], "a 2-byte integer at header position 8");
    let mut x = seeds[0].clone();
    apply(&mut x, &Mutation::Truncate { to: u16::MAX / 2 }, &seeds);
    assert_eq!(x.len(), 8);
    let mut x = seeds[0].clone();
    apply(&mut x, &Mutation::Splice { seed: 0, from: 0, len: 3, at: 0 }, &seeds);
    assert_eq!(&x[..6], b"012012");
    let mut x = seeds[0].clone();
    apply(&mut x, &Mutation::FlipBit { at: 0, bit: 0 }, &seeds);
    assert_eq!(x[0], b'1');
    // The allocation guard sees a large allocation.
    alloc_probe::reset();
    let v: Vec<u8> = Vec::with_capacity(MAX_ALLOCATION + 1);
    assert!(alloc_probe::largest() > MAX_ALLOCATION);
    drop(v);
}

/// The harness finds a planted bug (a panic when byte 8, a typical header length, is 0xff),
/// shrinks the input and saves it: the fuzz targets above can fail.
#[test]
fn the_harness_finds_a_planted_panic() {
    fn planted(bytes: &[u8]) {
        if bytes.get(8) == Some(&0xff) {
            panic!("planted bug");
        }
    }
    // Keep the shrinking's hundreds of planted panics off the output (this thread only).
    thread_local!(static QUIET: Cell<bool> = const { Cell::new(false) });
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !QUIET.with(|q| q.get()) {
            previous(info)
        }
    }));
    QUIET.with(|q| q.set(true));
    let why = fuzz_with("planted", "qds", planted).expect_err("the planted bug is found");
    QUIET.with(|q| q.set(false));
    assert!(why.contains("planted bug"), "{why}");
    // A huge allocation fails the case too.
    fn greedy(bytes: &[u8]) {
        if bytes.len() > 3 {
            std::hint::black_box(Vec::<u8>::with_capacity(MAX_ALLOCATION + 1));
        }
    }
    let why = fuzz_with("greedy", "qds", greedy).expect_err("the allocation is found");
    assert!(why.contains("one allocation of"), "{why}");
}

/// Writes the corpus seeds that qplay itself makes (tiny models in every format, a tiny .qds).
/// Run once by hand: `cargo test --test suite -- --ignored fuzz::write_corpus_seeds`.
#[test]
#[ignore]
fn write_corpus_seeds() {
    use qplay::formats::Tensor;
    use qplay::model::{Conv2d, Layer, LayerKind, Linear, Model, Pool2d, Shape};
    use qplay::ptq::{quantize_model, PtqConfig, QuantMode, Scope, WeightGranularity};

    let write = |target: &str, name: &str, bytes: &[u8]| {
        std::fs::create_dir_all(corpus_dir(target)).unwrap();
        std::fs::write(corpus_dir(target).join(name), bytes).unwrap();
    };
    let w = |n: usize| (0..n).map(|i| ((i * 37 % 17) as f32 - 8.0) / 16.0).collect::<Vec<f32>>();
    let mlp = Model::new(
        Shape::Flat(8),
        vec![
            Layer { name: "fc1".into(), kind: LayerKind::Linear(Linear { in_features: 8, out_features: 4, w: w(32), b: w(4) }) },
            Layer { name: "relu".into(), kind: LayerKind::Relu },
            Layer { name: "fc2".into(), kind: LayerKind::Linear(Linear { in_features: 4, out_features: 3, w: w(12), b: w(3) }) },
            Layer { name: "softmax".into(), kind: LayerKind::Softmax },
        ],
        DEFAULT_MAX_PARAMS,
    )
    .unwrap();
    let cnn = Model::new(
        Shape::Chw(1, 4, 4),
        vec![
            Layer { name: "conv".into(), kind: LayerKind::Conv2d(Conv2d { in_channels: 1, out_channels: 2, kernel: 3, stride: 1, padding: 1, w: w(18), b: w(2) }) },
            Layer { name: "relu".into(), kind: LayerKind::Relu },
            Layer { name: "pool".into(), kind: LayerKind::MaxPool2d(Pool2d { kernel: 2, stride: 2 }) },
            Layer { name: "flatten".into(), kind: LayerKind::Flatten },
            Layer { name: "fc".into(), kind: LayerKind::Linear(Linear { in_features: 8, out_features: 2, w: w(16), b: w(2) }) },
        ],
        DEFAULT_MAX_PARAMS,
    )
    .unwrap();
    let calib = |m: &Model| w(m.input.len() * 4);
    let w4 = PtqConfig { mode: QuantMode::Full, weight_bits: 4, act_bits: 6, granularity: WeightGranularity::PerGroup { group_size: 4 }, ..PtqConfig::default() };
    for (label, m) in [("mlp", &mlp), ("cnn", &cnn)] {
        write("onnx", &format!("qplay_{label}_fp32.onnx"), &qplay::formats::onnx::write_onnx(m).unwrap());
        write("safetensors", &format!("qplay_{label}_model.safetensors"), &qplay::formats::safetensors::write_model(m).unwrap());
        let q = quantize_model(m, &w4, &calib(m), Scope::All).unwrap().model;
        write("onnx", &format!("qplay_{label}_qdq.onnx"), &qplay::formats::onnx::write_qdq_onnx(&q).unwrap().bytes);
        write("safetensors", &format!("qplay_{label}_w4_quantized.safetensors"), &qplay::formats::quantized::write_quantized(&q).unwrap());
        let q8 = quantize_model(m, &PtqConfig::default(), &calib(m), Scope::All).unwrap().model;
        write("safetensors", &format!("qplay_{label}_w8_quantized.safetensors"), &qplay::formats::quantized::write_quantized(&q8).unwrap());
        if label == "mlp" {
            let f = qplay::formats::safetensors::read_safetensors(&qplay::formats::quantized::write_quantized(&q).unwrap()).unwrap();
            write("json", "quant_spec.json", f.metadata[qplay::formats::quantized::QUANTIZATION_KEY].as_bytes());
            write("json", "architecture.json", f.metadata[qplay::formats::safetensors::ARCHITECTURE_KEY].as_bytes());
        }
    }
    let arrays = vec![
        ("a".to_string(), Tensor { shape: vec![2, 2], values: vec![1.0, -2.0, 0.5, 3.0] }),
        ("b".to_string(), Tensor { shape: vec![], values: vec![7.0] }),
    ];
    write("npz", "qplay_stored.npz", &qplay::formats::npz::write_npz(&arrays, false).unwrap());
    write("npz", "qplay_deflated.npz", &qplay::formats::npz::write_npz(&arrays, true).unwrap());
    // A .qds of three 4×4 images (plain and gzip).
    let (labels, pixels): (Vec<u8>, Vec<u8>) = ((0..3).collect(), (0..48).map(|i| (i * 5) as u8).collect());
    let mut raw = b"QPDS\x01\x04\x04\x03".to_vec();
    raw.extend(3u32.to_le_bytes());
    raw.extend(qplay::data::fnv1a64(&[&labels, &pixels]).to_le_bytes());
    raw.extend(&labels);
    raw.extend(&pixels);
    assert_eq!(qplay::data::read_qds(&raw).unwrap().len(), 3);
    write("qds", "tiny.qds", &raw);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &raw).unwrap();
    write("qds", "tiny.qds.gz", &gz.finish().unwrap());
}

//! `qplay lm export --format safetensors` (src/formats/lm_safetensors.rs): the file the CLI writes
//! is read back into the same integers, scales and minimums as the model qplay quantizes in
//! memory (so the same dequantized weights and the same logits, bit for bit), and written with
//! qplay's dequantized weights to target/lm-safetensors/ for the independent check with PyPI's
//! `safetensors` and NumPy:
//!
//! ```text
//! cargo test --test suite lm_export:: && python3 scripts/check_lm_safetensors.py
//! ```
//!
//! When the check's venv (target/lm-safetensors-py) exists, the test runs the script itself.
#![cfg(not(target_arch = "wasm32"))]

use std::path::PathBuf;
use std::process::Command;

use qplay::formats::lm_safetensors::{named_linears, read_lm_safetensors, write_lm_safetensors, LinearEntry, LmPacking};
use qplay::formats::npz::write_npz;
use qplay::formats::{FormatError, Tensor};
use qplay::lm::{KvCache, KvFormat, LmLinear, LmModel, LmWeights, NoProbe};
use qplay::ptq::lm::{quantize_lm, LmQuantConfig, LmWeightFormat};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn out_dir() -> PathBuf {
    let d = PathBuf::from(ROOT).join("target").join("lm-safetensors");
    std::fs::create_dir_all(&d).expect("target/lm-safetensors");
    d
}

fn load(path: &str) -> LmWeights {
    LmWeights::from_safetensors(&std::fs::read(PathBuf::from(ROOT).join(path)).expect(path)).expect(path)
}

fn rtn(bits: u8, group: usize) -> LmQuantConfig {
    LmQuantConfig { weights: LmWeightFormat::Rtn, bits, group, ..LmQuantConfig::default() }
}

/// W [N, K] as the f32 values the model multiplies.
fn dequantized(l: &LmLinear) -> Vec<f32> {
    let mut v = vec![0f32; l.n() * l.k()];
    for (r, row) in v.chunks_exact_mut(l.k()).enumerate() {
        l.row(r, row).unwrap();
    }
    v
}

fn logits(m: &LmModel, tokens: &[u32]) -> Vec<f32> {
    let mut cache = KvCache::new(&m.config, KvFormat::F32).unwrap();
    m.forward(tokens, &mut cache, false, &mut NoProbe).unwrap()
}

/// The file read back holds the model qplay quantized in memory, Linear by Linear, bit for bit.
fn assert_same_model(read: &LmModel, mem: &LmModel, case: &str) {
    let (a, b) = (named_linears(read), named_linears(mem));
    assert_eq!(a.len(), b.len(), "{case}");
    for ((na, la), (nb, lb)) in a.iter().zip(&b) {
        assert_eq!(na, nb, "{case}");
        assert_eq!(la.format(), lb.format(), "{case} {na}");
        assert_eq!(la.act_scale().map(f32::to_bits), lb.act_scale().map(f32::to_bits), "{case} {na}: static activation scale");
        assert_eq!(la.bytes(), lb.bytes(), "{case} {na}");
        match (la, lb) {
            (LmLinear::Grouped { w: wa, int8_acts: ia, .. }, LmLinear::Grouped { w: wb, int8_acts: ib, .. }) => {
                assert_eq!(wa, wb, "{case} {na}: integers, scales and minimums");
                assert_eq!(ia, ib, "{case} {na}");
            }
            (LmLinear::Float { .. }, LmLinear::Float { .. }) => assert_eq!(la.acts_group(), lb.acts_group(), "{case} {na}"),
            _ => panic!("{case} {na}: storage differs"),
        }
        let (da, db) = (dequantized(la), dequantized(lb));
        assert!(da.iter().zip(&db).all(|(x, y)| x.to_bits() == y.to_bits()), "{case} {na}: dequantized weights");
    }
    assert_eq!(read.weight_bytes(), mem.weight_bytes(), "{case}");
    let tokens: Vec<u32> = (0..64.min(read.config.seq_len as u32)).map(|i| (i * 7 + 3) % read.config.vocab_size as u32).collect();
    let (la, lb) = (logits(read, &tokens), logits(mem, &tokens));
    assert!(la.iter().zip(&lb).all(|(x, y)| x.to_bits() == y.to_bits()), "{case}: logits");
}

/// qplay's dequantized weights `<layer>` and integers q − o `<layer>.int` for the Python check.
fn reference_npz(m: &LmModel) -> Vec<u8> {
    let mut arrays = Vec::new();
    for (name, l) in named_linears(m) {
        let shape = vec![l.n(), l.k()];
        arrays.push((name.clone(), Tensor { shape: shape.clone(), values: dequantized(l) }));
        if let LmLinear::Grouped { w, .. } = l {
            let ints = (0..w.n * w.k).map(|i| w.int_at(i / w.k, i % w.k).unwrap() as f32).collect();
            arrays.push((format!("{name}.int"), Tensor { shape, values: ints }));
        }
    }
    write_npz(&arrays, true).unwrap()
}

#[test]
fn the_cli_export_reads_back_bit_for_bit_and_is_described_by_its_metadata() {
    let w = load("www/models/shakespeare.safetensors");
    let out = out_dir();
    let cases: Vec<(&str, Vec<&str>, LmQuantConfig)> = vec![
        ("w8_per_channel", vec!["--bits", "8"], rtn(8, 0)),
        ("w4_g32", vec!["--bits", "4", "--group", "32"], rtn(4, 32)),
        (
            "w4_g64_asym_all",
            vec!["--bits", "4", "--group", "64", "--asym", "--skip", "none"],
            LmQuantConfig { symmetric: false, skip: vec![], ..rtn(4, 64) },
        ),
        ("w8_g32_asym", vec!["--bits", "8", "--group", "32", "--asym"], LmQuantConfig { symmetric: false, ..rtn(8, 32) }),
        ("q4_1", vec!["--weights", "q4_1"], LmQuantConfig { weights: LmWeightFormat::Q4_1, ..LmQuantConfig::default() }),
        (
            "q8_0_w8a8",
            vec!["--weights", "q8_0", "--int8-acts"],
            LmQuantConfig { weights: LmWeightFormat::Q8_0, int8_acts: true, ..LmQuantConfig::default() },
        ),
        ("w3_g32_simulated", vec!["--bits", "3", "--group", "32"], rtn(3, 32)),
        ("w3a8_g32_simulated", vec!["--bits", "3", "--group", "32", "--int8-acts"], LmQuantConfig { int8_acts: true, ..rtn(3, 32) }),
        (
            "mixed_layer_bits",
            vec!["--bits", "4", "--group", "32", "--layer-bits", "attention.wv=8", "layers.0=8"],
            LmQuantConfig {
                layer_bits: [("attention.wv".to_string(), 8), ("layers.0".to_string(), 8)].into_iter().collect(),
                ..rtn(4, 32)
            },
        ),
        ("f16", vec!["--weights", "f16"], LmQuantConfig { weights: LmWeightFormat::F16, ..LmQuantConfig::default() }),
    ];
    for (case, args, cfg) in &cases {
        let file = out.join(format!("{case}.safetensors"));
        let o = Command::new(env!("CARGO_BIN_EXE_qplay"))
            .args(["lm", "export", "--format", "safetensors", "--out", file.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{case}: {}", String::from_utf8_lossy(&o.stderr));
        let bytes = std::fs::read(&file).unwrap();
        let back = read_lm_safetensors(&bytes).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(&back.quant_config, cfg, "{case}: the settings in the metadata");
        let mem = quantize_lm(&w, cfg).unwrap();
        assert_same_model(&back.model, &mem.model, case);
        // The library writes the same bytes as the CLI, every time (the metadata is a map, whose
        // order once changed from run to run).
        let lib = write_lm_safetensors(&mem, w.alphabet.as_deref()).unwrap();
        assert!(lib == bytes, "{case}: the library's file is not the CLI's");
        assert!(write_lm_safetensors(&mem, w.alphabet.as_deref()).unwrap() == lib, "{case}: two writes differ");
        std::fs::write(out.join(format!("{case}.reference.npz")), reference_npz(&mem.model)).unwrap();

        // What the metadata describes, per format.
        let packed: Vec<&LinearEntry> = back.layers.iter().filter(|e| matches!(e, LinearEntry::Packed { .. })).collect();
        let expect_packed = match *case {
            "w3_g32_simulated" | "w3a8_g32_simulated" | "f16" => 0,
            "w4_g64_asym_all" => 6 * 7 + 2,
            _ => 6 * 7,
        };
        assert_eq!(packed.len(), expect_packed, "{case}");
        for e in &packed {
            let LinearEntry::Packed { bits, packing, symmetric, offset, scale_dtype, .. } = e else { unreachable!() };
            assert_eq!(*packing, if *bits == 8 { LmPacking::I8 } else { LmPacking::U4LowFirst }, "{case}");
            assert_eq!(*offset, if *bits == 4 && *symmetric { 8 } else { 0 }, "{case}");
            let ggml = matches!(*case, "q4_1" | "q8_0_w8a8");
            assert_eq!(scale_dtype, if ggml { "F16" } else { "F32" }, "{case}");
            assert_eq!(*symmetric, !matches!(*case, "w4_g64_asym_all" | "w8_g32_asym" | "q4_1"), "{case}");
        }
        if *case == "w3a8_g32_simulated" {
            // The simulated layers keep their int8 activations (group 32) through the file.
            let groups: Vec<Option<usize>> = back.layers.iter().filter_map(|e| match e {
                LinearEntry::Float { acts_group, .. } => Some(*acts_group),
                LinearEntry::Packed { .. } => None,
            }).collect();
            assert_eq!(groups.iter().filter(|g| **g == Some(32)).count(), 6 * 7, "{groups:?}");
        }
        if *case == "mixed_layer_bits" {
            let bits = |n: &str| match back.layers.iter().find(|e| e.name() == n).unwrap() {
                LinearEntry::Packed { bits, .. } => *bits,
                _ => 0,
            };
            assert_eq!((bits("layers.0.attention.wq"), bits("layers.1.attention.wv"), bits("layers.1.attention.wq")), (8, 8, 4));
        }
    }

    // A tied model (no output tensors) with a quantized embedding, through the library.
    let tied = load("tests/fixtures/lm/random_small_tied.safetensors");
    let q = quantize_lm(&tied, &LmQuantConfig { skip: vec![], ..rtn(4, 32) }).unwrap();
    let bytes = write_lm_safetensors(&q, None).unwrap();
    let back = read_lm_safetensors(&bytes).unwrap();
    assert!(back.layers.iter().any(|e| e.name() == "tok_embeddings") && !back.layers.iter().any(|e| e.name() == "output"));
    assert_same_model(&back.model, &q.model, "tied");
    // Dropped as a model, the packed file is named for what it is (not "config.json is missing").
    let e = qplay::lm::import::import_model(&[("w4.safetensors".to_string(), bytes.as_slice())]).err().expect("a packed export is not a float model");
    assert!(e.to_string().contains("w4.safetensors is a packed quantized export written by qplay"), "{e}");

    // Bad files are refused with a message, never a panic.
    let good = std::fs::read(out.join("w4_g32.safetensors")).unwrap();
    for cut in [0, 9, 100, good.len() / 2, good.len() - 1] {
        assert!(read_lm_safetensors(&good[..cut]).is_err(), "cut at {cut}");
    }
    let fp32 = std::fs::read(PathBuf::from(ROOT).join("www/models/shakespeare.safetensors")).unwrap();
    let e = read_lm_safetensors(&fp32).err().expect("an FP32 file is not a packed one");
    assert!(e.to_string().contains("not a packed model"), "{e}");
    // The description changed to say 8 bits where the file holds nibbles: named, not misread.
    let (from, to) = (br#"\"format\":\"W4 g32\",\"bits\":4"#, br#"\"format\":\"W4 g32\",\"bits\":8"#);
    let at = good.windows(from.len()).position(|w| w == from).expect("a 4-bit layer entry");
    let mut bad = good.clone();
    bad[at..at + to.len()].copy_from_slice(to);
    let e = read_lm_safetensors(&bad).err().expect("a wrong description");
    assert!(matches!(e, FormatError::Malformed { .. }) && e.to_string().contains("layers.0.attention.wq"), "{e}");

    // The independent check with PyPI safetensors + NumPy, when its venv is there.
    let py = PathBuf::from(ROOT).join("target/lm-safetensors-py/bin/python");
    if py.exists() {
        let o = Command::new(&py).arg(PathBuf::from(ROOT).join("scripts/check_lm_safetensors.py")).output().unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        eprintln!("{text}");
        assert!(o.status.success(), "{text}{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(text.lines().filter(|l| l.starts_with("ok ")).count(), cases.len(), "{text}");
    } else {
        eprintln!("note: run `python3 scripts/check_lm_safetensors.py` for the independent check (it creates its venv)");
    }
}

/// A hand-edited activation group of a simulated W3A8 layer is refused with a message, whatever
/// it is: zero, one that does not divide the row, the largest u64, or not a whole number.
#[test]
fn a_hostile_activation_group_in_the_metadata_is_refused() {
    let w = load("www/models/shakespeare.safetensors");
    let mem = quantize_lm(&w, &LmQuantConfig { int8_acts: true, ..rtn(3, 32) }).unwrap();
    let file = write_lm_safetensors(&mem, w.alphabet.as_deref()).unwrap();
    let n = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&file[8..8 + n]).unwrap();
    let body = &file[8 + n..];
    // The layers' description is a JSON string inside the header's JSON: its quotes are escaped.
    let key = r#"\"acts_group\":32"#;
    assert!(header.contains(key), "the W3A8 layers carry their group");
    for bad in ["0", "7", "18446744073709551615", "1e400", "-32", "NaN", r#"\"32\""#] {
        let edited = header.replacen(key, &format!(r#"\"acts_group\":{bad}"#), 1);
        let mut out = (edited.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(edited.as_bytes());
        out.extend_from_slice(body);
        let start = std::time::Instant::now();
        let err = read_lm_safetensors(&out).err().unwrap_or_else(|| panic!("acts_group {bad} was accepted"));
        assert!(start.elapsed().as_secs_f64() < 1.0, "acts_group {bad}");
        let msg = err.to_string();
        assert!(!msg.is_empty(), "acts_group {bad}");
        if bad == "0" || bad == "7" || bad.len() > 10 && !bad.contains('e') {
            assert!(msg.contains("activation group") || msg.contains("acts_group"), "acts_group {bad}: {msg}");
        }
    }
}

/// Static activation scales travel in the metadata, bit for bit, and a hand-edited one that is not
/// a positive finite number (or sits on a layer without int8 activations) is refused with a message.
#[test]
fn static_activation_scales_round_trip_and_hostile_ones_are_refused() {
    let w = load("www/models/shakespeare.safetensors");
    let calib: Vec<u32> = (0..600u32).map(|i| (i * 7 + 3) % w.config.vocab_size as u32).collect();
    let cfg = LmQuantConfig { int8_acts: true, static_acts: true, calib_tokens: 512, ..rtn(8, 0) };
    let mem = qplay::ptq::lm_method::quantize_with_method(&w, &cfg, &calib, &mut |_, _| {}).unwrap().quantized;
    let scale = mem.model.blocks[0].wq.act_scale().expect("calibrated");
    let file = write_lm_safetensors(&mem, w.alphabet.as_deref()).unwrap();
    let back = read_lm_safetensors(&file).unwrap();
    assert_eq!(back.quant_config, cfg);
    assert_same_model(&back.model, &mem.model, "w8a8_static");
    let n = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&file[8..8 + n]).unwrap();
    let body = &file[8 + n..];
    let key = format!(r#"\"act_scale\":{}"#, serde_json::to_string(&scale).unwrap());
    assert!(header.contains(&key), "the layers carry their scale: {key}");
    let off = format!(r#"\"int8_acts\":false,{key}"#);
    for bad in ["0.0", "-0.5", "1e400", "off"] {
        let edited = match bad {
            // A scale on a layer whose activations stay float.
            "off" => {
                let on = format!(r#"\"int8_acts\":true,{key}"#);
                assert!(header.contains(&on), "{on}");
                header.replacen(&on, &off, 1)
            }
            _ => header.replacen(&key, &format!(r#"\"act_scale\":{bad}"#), 1),
        };
        let mut out = (edited.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(edited.as_bytes());
        out.extend_from_slice(body);
        match read_lm_safetensors(&out) {
            Err(e) => assert!(!e.to_string().is_empty(), "act_scale {bad}"),
            Ok(m) => panic!("act_scale {bad} was accepted: {:?}", m.model.blocks[0].wq.act_scale()),
        }
    }
}

/// A NaN or an infinity in any float tensor of a packed file (a scale, a norm, a float weight)
/// is refused naming the tensor. A NaN scale used to load and only show as "activations overflow
/// f32" at the first forward pass.
#[test]
fn a_packed_file_with_a_value_that_is_not_finite_names_the_tensor() {
    let w = load("www/models/shakespeare.safetensors");
    let mem = quantize_lm(&w, &rtn(4, 32)).unwrap();
    let file = write_lm_safetensors(&mem, w.alphabet.as_deref()).unwrap();
    let n = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&file[8..8 + n]).unwrap();
    let poke = |tensor: &str, value: f32| {
        let info = &header[tensor];
        assert_eq!(info["dtype"], "F32", "{tensor}");
        let start = 8 + n + info["data_offsets"][0].as_u64().unwrap() as usize;
        let mut bad = file.clone();
        bad[start + 4..start + 8].copy_from_slice(&value.to_le_bytes());
        read_lm_safetensors(&bad).err().map(|e| e.to_string())
    };
    for (tensor, value) in [("layers.0.attention.wq.scales", f32::NAN), ("norm.weight", f32::INFINITY), ("layers.1.ffn_norm.weight", f32::NEG_INFINITY)] {
        let msg = poke(tensor, value).unwrap_or_else(|| panic!("{tensor} = {value} was accepted"));
        assert!(msg.contains(tensor) && msg.contains("value #2") && msg.contains("not a finite number"), "{msg}");
    }
    assert!(read_lm_safetensors(&file).is_ok());
}

//! Quantized models out: the `.safetensors` layout (bit-packed integers, per-slice parameters,
//! activation parameters) read back exactly for every bit width, granularity and mode, and the QDQ
//! ONNX export's structure and weights checked against qplay's own ŵ. (ONNX Runtime runs the QDQ
//! files in scripts/check_onnxruntime.py.) Runs natively and in the browser.

use std::collections::HashMap;

use onnx_protobuf::{Message, ModelProto, NodeProto, TensorProto};
use qplay::formats::onnx::write_qdq_onnx;
use qplay::formats::quantized::{pack_bits, packed_row_bytes, read_quantized, unpack_bits, write_quantized, QUANTIZATION_KEY};
use qplay::formats::safetensors::{read_safetensors, write_raw, RawTensor};
use qplay::formats::FormatError;
use qplay::model::{zoo, Model, DEFAULT_MAX_PARAMS};
use qplay::ptq::{quantize_model, PtqConfig, QuantMode, QuantModel, Scope, WeightGranularity};
use qplay::quant::{Method, Rounding};
use qplay::ptq::config::DynamicMode;


/// `n` 28×28 images of smooth blobs in [0, 1] (a deterministic stand-in for the dataset).
fn images(n: usize) -> Vec<f32> {
    (0..n * 784)
        .map(|i| {
            let (k, p) = (i / 784, i % 784);
            let (y, x) = ((p / 28) as f32, (p % 28) as f32);
            let (cy, cx) = (8.0 + (k * 7 % 12) as f32, 8.0 + (k * 5 % 12) as f32);
            (-((y - cy).powi(2) + (x - cx).powi(2)) / (20.0 + k as f32)).exp()
        })
        .collect()
}

fn quantize(m: &Model, cfg: PtqConfig) -> QuantModel {
    quantize_model(m, &cfg, &images(16), Scope::All).unwrap_or_else(|e| panic!("{cfg:?}: {e}")).model
}

/// Every setting the export has to carry: bits 1–16, each granularity, each mode, asymmetric
/// weights, the clip method, SmoothQuant, bias correction, a skipped layer.
fn configs() -> Vec<(&'static str, PtqConfig)> {
    let d = PtqConfig::default();
    vec![
        ("W8A8 per-channel", d.clone()),
        ("W4 weight-only per-group 16", PtqConfig { mode: QuantMode::WeightOnly, weight_bits: 4, granularity: WeightGranularity::PerGroup { group_size: 16 }, ..d.clone() }),
        ("W3A6 per-tensor asymmetric", PtqConfig { weight_bits: 3, act_bits: 6, granularity: WeightGranularity::PerTensor, weight_symmetric: false, ..d.clone() }),
        ("W1A8", PtqConfig { weight_bits: 1, ..d.clone() }),
        ("W7A4 clip method", PtqConfig { weight_bits: 7, act_bits: 4, method: Method::Clip, ..d.clone() }),
        ("W12A12", PtqConfig { weight_bits: 12, act_bits: 12, ..d.clone() }),
        ("W16A16 asymmetric", PtqConfig { weight_bits: 16, act_bits: 16, weight_symmetric: false, ..d.clone() }),
        ("dynamic ALWC", PtqConfig { mode: QuantMode::Dynamic, ..d.clone() }),
        ("dynamic ACWL", PtqConfig { mode: QuantMode::Dynamic, dynamic_strategy: DynamicMode::Acwl, ..d.clone() }),
        ("SmoothQuant + bias correction", PtqConfig { smooth_quant: Some(0.5), bias_correction: true, ..d.clone() }),
        ("mixed bits, one layer skipped", PtqConfig { layer_bits: [("nn2".to_string(), 5u8), ("conv2".to_string(), 5u8)].into(), ..d }),
    ]
}

fn models() -> Vec<(&'static str, Model)> {
    vec![("MLP", zoo::lab_mlp(5)), ("CNN", zoo::small_cnn(5).unwrap())]
}

/// The config with only the names that exist in `m` (layer_bits and skip name layers).
fn for_model(cfg: &PtqConfig, m: &Model, label: &str) -> PtqConfig {
    let names: Vec<String> = m.layers.iter().map(|l| l.name.clone()).collect();
    let mut c = cfg.clone();
    c.layer_bits.retain(|n, _| names.contains(n));
    if label.contains("skipped") {
        c.skip = vec![names.iter().find(|n| *n == "nn1" || *n == "conv1").unwrap().clone()];
    }
    c
}

fn bits_equal(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

both! {
    bit_packing_is_little_endian_two_complement_rows_padded_to_bytes {
        // 4 bits: low nibble first. 1 → 0x1, −2 → 0xE, 7 → 0x7, −8 → 0x8.
        assert_eq!(pack_bits(&[1, -2, 7, -8], 1, 4), vec![0xE1, 0x87]);
        // 3 bits: fields at bits 0–2, 3–5, 6–8; a row of 3 takes 2 bytes (9 bits, padded).
        // Row 1: −1 = 0b111 at bits 0–2, 2 = 0b010 at bits 3–5, −4 = 0b100 at bits 6–8
        //   → byte 0 = 0b0001_0111, byte 1 = 0b1 (bit 8).  Row 2: 0, 1, 3 → 0b1100_1000, 0.
        assert_eq!(pack_bits(&[-1, 2, -4, 0, 1, 3], 2, 3), vec![0b0001_0111, 0b0000_0001, 0b1100_1000, 0b0000_0000]);
        assert_eq!(packed_row_bytes(3, 3), 2);
        assert_eq!(unpack_bits(&[0b0001_0111, 0b0000_0001, 0b1100_1000, 0b0000_0000], 2, 3, 3, true), vec![-1, 2, -4, 0, 1, 3]);
        // Every width 1–7, signed and unsigned, round trips over its whole range and odd row lengths.
        for bits in 1..=7u8 {
            for signed in [true, false] {
                let (lo, hi) = if signed { (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) } else { (0, (1 << bits) - 1) };
                for cols in [1usize, 3, 7, 13] {
                    let rows = 5;
                    let q: Vec<i32> = (0..rows * cols).map(|i| lo + (i as i32 * 7 + 3) % (hi - lo + 1)).collect();
                    let packed = pack_bits(&q, rows, bits);
                    assert_eq!(packed.len(), rows * (cols * bits as usize).div_ceil(8));
                    assert_eq!(unpack_bits(&packed, rows, cols, bits, signed), q, "bits {bits}, signed {signed}, cols {cols}");
                }
            }
        }
    }

    quantized_models_round_trip_exactly_in_every_setting {
        let x = images(4);
        for (mname, m) in models() {
            for (label, cfg) in configs() {
                let cfg = for_model(&cfg, &m, label);
                let qm = quantize(&m, cfg.clone());
                let bytes = write_quantized(&qm).unwrap_or_else(|e| panic!("{mname} {label}: {e}"));
                let back = read_quantized(&bytes, DEFAULT_MAX_PARAMS).unwrap_or_else(|e| panic!("{mname} {label}: {e}"));
                // Integers, scales, zero points, ranges, guards, schemes, granularity, ŵ, biases,
                // SmoothQuant factors and activation parameters: all equal.
                assert_eq!(back.layers, qm.layers, "{mname} {label}");
                assert_eq!(back.output, qm.output, "{mname} {label}");
                assert!(bits_equal(&back.forward(&x).unwrap(), &qm.forward(&x).unwrap()), "{mname} {label}: the fake-quant outputs differ");
                // Packed storage: fewer than 8 bits take ⌈fan_in · b / 8⌉ bytes per row.
                let f = read_safetensors(&bytes).unwrap();
                for ql in qm.quantized() {
                    let t = f.get(&format!("{}.weight.q", ql.name)).unwrap();
                    let b = ql.bits() as usize;
                    let (out, fan_in) = (ql.weight.layout.shape[0], ql.weight.layout.shape[1]);
                    let want = if b < 8 { vec![out, (fan_in * b).div_ceil(8)] } else { vec![out, fan_in] };
                    assert_eq!(t.shape, want, "{mname} {label} {}", ql.name);
                }
            }
        }
    }

    quantized_files_say_what_they_hold {
        let qm = quantize(&zoo::lab_mlp(5), PtqConfig { mode: QuantMode::WeightOnly, weight_bits: 4, granularity: WeightGranularity::PerGroup { group_size: 16 }, ..PtqConfig::default() });
        let f = read_safetensors(&write_quantized(&qm).unwrap()).unwrap();
        let spec: serde_json::Value = serde_json::from_str(&f.metadata[QUANTIZATION_KEY]).unwrap();
        let l0 = &spec["layers"][0];
        assert_eq!((l0["name"].as_str(), l0["bits"].as_u64(), l0["packing"].as_str()), (Some("nn1"), Some(4), Some("bits_le")));
        assert_eq!(l0["granularity"], serde_json::json!({"per_group": {"axis": 1, "group_size": 16}}));
        assert_eq!(l0["input"], serde_json::json!({"kind": "float"}));
        assert_eq!(f.get("nn1.weight.scale").unwrap().shape, vec![128, 784 / 16]);
        assert_eq!(f.get("nn1.weight.zero_point").unwrap().shape, vec![128, 784 / 16]);
        assert_eq!(f.get("nn1.weight.range").unwrap().shape, vec![128 * 49, 4]);
        assert_eq!(f.metadata["format"], "qplay-quantized");
    }

    bad_quantized_files_get_typed_errors {
        // Narrow-range weights, so that an int8 −128 is outside the file's own grid.
        let qm = quantize(&zoo::lab_mlp(5), PtqConfig { narrow_range: true, ..PtqConfig::default() });
        let good = write_quantized(&qm).unwrap();
        assert!(read_quantized(&good[..good.len() - 3], DEFAULT_MAX_PARAMS).is_err());
        assert_eq!(read_quantized(b"not a file", DEFAULT_MAX_PARAMS).err(), Some(FormatError::BadMagic { format: ".safetensors" }));
        // A plain model file is not a quantized one.
        let plain = qplay::formats::safetensors::write_model(&zoo::lab_mlp(5)).unwrap();
        assert!(read_quantized(&plain, DEFAULT_MAX_PARAMS).err().expect("an error").to_string().contains("qplay.quantization"));
        // Rewrite one tensor of the file.
        let rewrite = |name: &str, t: RawTensor| {
            let f = read_safetensors(&good).unwrap();
            let (_, meta) = safetensors::SafeTensors::read_metadata(&good).unwrap();
            let st = safetensors::SafeTensors::deserialize(&good).unwrap();
            let mut raw: Vec<RawTensor> = f
                .tensors
                .iter()
                .map(|nt| {
                    let v = st.tensor(&nt.name).unwrap();
                    RawTensor { name: nt.name.clone(), dtype: v.dtype(), shape: v.shape().to_vec(), data: v.data().to_vec() }
                })
                .filter(|r| r.name != name)
                .collect();
            raw.push(t);
            write_raw(&raw, meta.metadata().clone().unwrap_or_default()).unwrap()
        };
        // A weight integer outside int8's narrow range [−127, 127].
        let mut q = vec![0u8; 128 * 784];
        q[5] = 0x80; // −128
        let e = read_quantized(&rewrite("nn1.weight.q", RawTensor { name: "nn1.weight.q".into(), dtype: safetensors::Dtype::I8, shape: vec![128, 784], data: q }), DEFAULT_MAX_PARAMS).err().expect("an error");
        assert!(e.to_string().contains("#5 is -128, outside [-127, 127]"), "{e}");
        // A scale of zero.
        let e = read_quantized(&rewrite("nn1.weight.scale", RawTensor::f32("nn1.weight.scale", &[128], &[0.0; 128])), DEFAULT_MAX_PARAMS).err().expect("an error");
        assert!(e.to_string().contains("positive scale"), "{e}");
        // The wrong shape of a parameter tensor.
        let e = read_quantized(&rewrite("nn2.bias", RawTensor::f32("nn2.bias", &[3], &[0.0; 3])), DEFAULT_MAX_PARAMS).err().expect("an error");
        assert!(e.to_string().contains("nn2.bias"), "{e}");
        // A missing tensor.
        let e = read_quantized(&rewrite("nn3.input.scale", RawTensor::f32("unrelated", &[1], &[1.0])), DEFAULT_MAX_PARAMS).err().expect("an error");
        assert!(e.to_string().contains("no tensor \"nn3.input.scale\""), "{e}");
        // The parameter limit.
        assert!(read_quantized(&good, 1000).is_err());
    }

    qdq_onnx_dequantizes_to_qplays_own_weights {
        for (mname, m) in models() {
            for (label, cfg) in configs() {
                let cfg = for_model(&cfg, &m, label);
                let qm = quantize(&m, cfg.clone());
                let export = write_qdq_onnx(&qm).unwrap_or_else(|e| panic!("{mname} {label}: {e}"));
                let p = ModelProto::parse_from_bytes(&export.bytes).unwrap();
                assert_eq!((p.opset_import[0].version, p.ir_version), (21, 10));
                let g = p.graph.as_ref().unwrap();
                let inits: HashMap<&str, &TensorProto> = g.initializer.iter().map(|t| (t.name.as_str(), t)).collect();
                let count = |op: &str| g.node.iter().filter(|n| n.op_type == op).count();
                let quantized = qm.quantized().count();
                let static_inputs = qm.quantized().filter(|l| matches!(l.input, qplay::ptq::InputQuant::Static(_))).count();
                let outputs = qm.output.is_some() as usize;
                assert_eq!(count("QuantizeLinear"), static_inputs + outputs, "{mname} {label}");
                assert_eq!(count("DequantizeLinear"), quantized + static_inputs + outputs, "{mname} {label}");
                assert_eq!(count("Div"), qm.quantized().filter(|l| l.smooth.is_some()).count(), "{mname} {label}");
                // Activation grids narrower than their container are clamped first.
                let narrow = cfg.mode == QuantMode::Full && cfg.act_bits != 8 && cfg.act_bits != 16;
                assert_eq!(count("Clip") > 0, narrow, "{mname} {label}");
                assert_eq!(export.notes.is_empty(), cfg.mode != QuantMode::Dynamic, "{mname} {label}: {:?}", export.notes);
                // Each weight's DequantizeLinear, evaluated by ONNX's formula, is qplay's ŵ bit for bit.
                for ql in qm.quantized() {
                    let dq = g.node.iter().find(|n| n.op_type == "DequantizeLinear" && n.input[0] == format!("{}.weight_quantized", ql.name)).unwrap();
                    let got = dequantize_linear(dq, &inits);
                    assert!(bits_equal(&got, &ql.weight.dequant), "{mname} {label} {}", ql.name);
                }
            }
        }
    }

    qdq_export_refuses_what_onnx_cannot_express {
        let qm = quantize(&zoo::lab_mlp(5), PtqConfig { rounding: Rounding::HalfAway, ..PtqConfig::default() });
        let e = write_qdq_onnx(&qm).err().unwrap();
        assert!(matches!(e, FormatError::Export(ref m) if m.contains("half_away") && m.contains("half to even")), "{e:?}");
        // Weight-only quantization with another rounding is fine: weights are stored as integers.
        let qm = quantize(&zoo::lab_mlp(5), PtqConfig { mode: QuantMode::WeightOnly, rounding: Rounding::Floor, ..PtqConfig::default() });
        assert!(write_qdq_onnx(&qm).is_ok());
    }
}

fn ints(t: &TensorProto) -> Vec<i32> {
    match t.data_type {
        3 => t.raw_data.iter().map(|&b| b as i8 as i32).collect(),
        2 => t.raw_data.iter().map(|&b| b as i32).collect(),
        5 => t.raw_data.chunks(2).map(|c| i16::from_le_bytes([c[0], c[1]]) as i32).collect(),
        4 => t.raw_data.chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]]) as i32).collect(),
        other => panic!("integer type {other}"),
    }
}

/// ONNX's DequantizeLinear y = (x − zero_point) · scale with per-tensor, per-axis or blocked
/// parameters, on initializers.
fn dequantize_linear(n: &NodeProto, inits: &HashMap<&str, &TensorProto>) -> Vec<f32> {
    let (x, s, z) = (inits[n.input[0].as_str()], inits[n.input[1].as_str()], inits[n.input[2].as_str()]);
    let q = ints(x);
    let scale: Vec<f32> = s.raw_data.chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    let zp = ints(z);
    let attr = |name: &str| n.attribute.iter().find(|a| a.name == name).map(|a| a.i);
    let dims: Vec<usize> = x.dims.iter().map(|&d| d as usize).collect();
    let inner = |axis: usize| dims[axis + 1..].iter().product::<usize>();
    (0..q.len())
        .map(|i| {
            let k = if scale.len() == 1 {
                0
            } else {
                let axis = attr("axis").unwrap() as usize;
                let along = (i / inner(axis)) % dims[axis];
                match attr("block_size") {
                    // Blocks along axis 1 of [out, fan_in]: parameters [out, fan_in / block].
                    Some(b) => (i / dims[1]) * (dims[1] / b as usize) + along / b as usize,
                    None => along,
                }
            };
            (q[i] - zp[k]) as f32 * scale[k]
        })
        .collect()
}

/// `qplay export` writes every format from the command line, and `--predictions` gives qplay's own
/// classes on the test set (what scripts/check_onnxruntime.py compares with ONNX Runtime).
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn the_export_command_writes_every_format() {
    let dir = std::env::temp_dir().join(format!("qplay-export-{}", std::process::id()));
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_qplay"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert!(out.status.success(), "qplay {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let s = run(&["export", "--model", "lab-mlp", "--seed", "2", "--format", "safetensors-quant", "--weight-bits", "4", "--granularity", "per-group", "--group-size", "16", "--calib", "32", "--out", &path("w4.safetensors")]);
    assert_eq!(s["config"]["weight_bits"], 4);
    let q = read_quantized(&std::fs::read(dir.join("w4.safetensors")).unwrap(), DEFAULT_MAX_PARAMS).unwrap();
    assert!(q.quantized().all(|l| l.bits() == 4 && l.weight.layout.group_size == 16));
    let s = run(&["export", "--model", "small-cnn", "--format", "qdq-onnx", "--calib", "32", "--out", &path("cnn.onnx"), "--predictions", &path("pred.npy")]);
    assert_eq!(s["test_images"], 10000);
    let acc = s["accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));
    let pred = qplay::formats::npy::read_npy(&std::fs::read(dir.join("pred.npy")).unwrap()).unwrap();
    assert_eq!(pred.shape, vec![10000]);
    assert!(pred.values.iter().all(|&c| (0.0..10.0).contains(&c) && c.fract() == 0.0));
    assert!(ModelProto::parse_from_bytes(&std::fs::read(dir.join("cnn.onnx")).unwrap()).is_ok());
    let s = run(&["export", "--model", "lab-mlp", "--format", "onnx", "--out", &path("mlp.onnx")]);
    assert!(s["bytes"].as_u64().unwrap() > 400_000);
    assert_eq!(qplay::formats::onnx::read_onnx(&std::fs::read(dir.join("mlp.onnx")).unwrap(), DEFAULT_MAX_PARAMS).unwrap(), zoo::lab_mlp(0));
    // Bad settings are one-line errors, not panics.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_qplay"))
        .args(["export", "--model", "lab-mlp", "--format", "qdq-onnx", "--weight-bits", "17", "--out", &path("x.onnx")])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    // A width outside its range is the argument parser's answer (status 2), naming the flag and the range.
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--weight-bits") && err.contains("17 is not in 1..=16"), "{err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_qplay"))
        .args(["export", "--model", "lab-mlp", "--format", "qdq-onnx", "--group-size", "0", "--granularity", "per-group", "--out", &path("x.onnx")])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_dir_all(&dir).ok();
}

//! `.safetensors`: tensors of every dtype and PyTorch-convention models (nn.Sequential
//! state_dicts, an architecture in the metadata, a JSON sidecar) made by
//! scripts/make_format_fixtures.py, checked against NumPy's outputs; round trips of tensors and
//! models; typed errors for bad files. Runs natively and in the browser.

use std::collections::HashMap;

use qplay::formats::safetensors::{
    read_model, read_safetensors, write_model, write_raw, write_tensors, Architecture, LayerSpec, RawTensor, ARCHITECTURE_KEY,
};
use qplay::formats::{FormatError, Tensor};
use qplay::model::forward::Fp32Runner;
use qplay::model::{zoo, LayerKind, Model, DEFAULT_MAX_PARAMS};
use safetensors::Dtype;

use crate::expected_outputs;

use expected_outputs::{assert_outputs, expected, kinds};

const BASE: [f32; 6] = [0.6004, -1.0151, 1.1885, 0.9948, -0.3187, -1.1111];


fn same_outputs(a: &Model, b: &Model, x: &[f32]) {
    let ya = Fp32Runner::new(a.clone()).forward(x).unwrap();
    let yb = Fp32Runner::new(b.clone()).forward(x).unwrap();
    assert!(ya.iter().zip(&yb).all(|(p, q)| p.to_bits() == q.to_bits()), "outputs differ");
}

both! {
    numpy_tensors_of_every_dtype_read {
        let f = read_safetensors(fixture!("st_tensors.safetensors")).unwrap();
        let get = |n: &str| f.get(n).unwrap_or_else(|| panic!("no tensor {n}"));
        assert_eq!(get("f32"), &Tensor { shape: vec![2, 3], values: BASE.to_vec() });
        assert_eq!(get("f64").values, BASE.to_vec(), "f64 rounds to the nearest f32");
        for (name, rel) in [("f16", 4.9e-4), ("bf16", 3.9e-3)] {
            for (g, w) in get(name).values.iter().zip(BASE) {
                assert!((g - w).abs() <= w.abs() * rel, "{name}: {g} vs {w}");
            }
        }
        assert_eq!(get("i8").values, vec![-128.0, -1.0, 0.0, 127.0]);
        assert_eq!(get("u8").values, vec![0.0, 1.0, 128.0, 255.0]);
        assert_eq!(get("i16").values, vec![-32768.0, 0.0, 32767.0]);
        assert_eq!(get("i32").values, vec![-(2f32.powi(31)), 0.0, 2f32.powi(31)]);
        assert_eq!(get("i64").values, vec![-(2f32.powi(40)), 0.0, 7.0]);
        assert_eq!(get("bool").values, vec![1.0, 0.0, 1.0]);
        assert_eq!(get("scalar"), &Tensor { shape: vec![], values: vec![3.5] });
        let dtypes: HashMap<_, _> = f.tensors.iter().map(|t| (t.name.as_str(), t.dtype.as_str())).collect();
        assert_eq!((dtypes["bf16"], dtypes["f16"], dtypes["bool"]), ("BF16", "F16", "BOOL"));
        assert_eq!(f.metadata.get("source").map(String::as_str), Some("scripts/make_format_fixtures.py"));
    }

    a_pytorch_sequential_mlp_is_inferred_and_runs_like_numpy {
        let m = read_model(fixture!("st_mlp_state_dict.safetensors"), None, DEFAULT_MAX_PARAMS).unwrap();
        // 784 inputs: a flattened 28×28 image.
        assert_eq!(kinds(&m), ["Flatten", "Linear", "ReLU", "Linear"]);
        assert_eq!(m.input, qplay::model::Shape::Chw(1, 28, 28));
        assert_outputs(m, &expected("img_x"), &expected("mlp_y"), "MLP");
    }

    a_pytorch_cnn_with_batchnorm_is_inferred_folded_and_runs_like_numpy {
        let bytes = fixture!("st_cnn_bn_state_dict.safetensors");
        let file = read_safetensors(bytes).unwrap();
        let arch = Architecture::infer(&file).unwrap();
        let specs: Vec<String> = arch.layers.iter().map(|l| format!("{l:?}").split([' ', '{']).next().unwrap().to_string()).collect();
        assert_eq!(specs, ["Conv2d", "BatchNorm", "Relu", "MaxPool2d", "Conv2d", "Relu", "MaxPool2d", "Flatten", "Linear"]);
        let m = read_model(bytes, None, DEFAULT_MAX_PARAMS).unwrap();
        assert_eq!(kinds(&m), ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear"], "the BatchNorm is folded");
        assert_outputs(m, &expected("img_x"), &expected("cnn_y"), "CNN + BatchNorm");
    }

    the_metadata_architecture_and_a_sidecar_take_precedence {
        let m = read_model(fixture!("st_arch_metadata.safetensors"), None, DEFAULT_MAX_PARAMS).unwrap();
        assert_eq!(kinds(&m), ["Conv2d", "ReLU", "AvgPool2d", "Flatten", "Linear", "Softmax"]);
        assert_outputs(m, &expected("meta_x"), &expected("meta_y"), "metadata architecture");

        let bytes = fixture!("st_sidecar_model.safetensors");
        let sidecar = std::str::from_utf8(fixture!("st_sidecar_model.json")).unwrap();
        let m = read_model(bytes, Some(sidecar), DEFAULT_MAX_PARAMS).unwrap();
        assert_eq!(kinds(&m), ["Linear", "ReLU", "Linear", "Softmax"]);
        assert_outputs(m, &expected("sidecar_x"), &expected("sidecar_y"), "sidecar");
        // Without the sidecar the shapes give the same layers but no Softmax: other outputs.
        let inferred = read_model(bytes, None, DEFAULT_MAX_PARAMS).unwrap();
        assert_eq!(kinds(&inferred), ["Linear", "ReLU", "Linear"]);
    }

    tensors_of_every_dtype_round_trip {
        let x: Vec<f32> = (0..24).map(|i| (i as f32 - 11.5) * 0.37).collect();
        let tensors = vec![
            ("a.weight".to_string(), Tensor { shape: vec![2, 3, 4], values: x.clone() }),
            ("b".to_string(), Tensor { shape: vec![], values: vec![f32::MIN_POSITIVE] }),
            ("c".to_string(), Tensor { shape: vec![3], values: vec![-0.0, f32::MAX, 1e-45] }),
        ];
        let meta = HashMap::from([("k".to_string(), "v".to_string())]);
        let f = read_safetensors(&write_tensors(&tensors, meta.clone()).unwrap()).unwrap();
        assert_eq!(f.metadata, meta);
        for (name, t) in &tensors {
            let back = f.get(name).unwrap();
            assert_eq!(&back.shape, &t.shape, "{name}");
            assert!(back.values.iter().zip(&t.values).all(|(a, b)| a.to_bits() == b.to_bits()), "{name}");
        }
        // Every integer and float dtype, from raw little-endian bytes.
        let ints = [-3i64, 0, 5, 100];
        let cases: Vec<(Dtype, Vec<u8>)> = vec![
            (Dtype::I8, ints.iter().map(|&v| v as i8 as u8).collect()),
            (Dtype::U8, ints.iter().map(|&v| v.unsigned_abs() as u8).collect()),
            (Dtype::I16, ints.iter().flat_map(|&v| (v as i16).to_le_bytes()).collect()),
            (Dtype::U16, ints.iter().flat_map(|&v| (v.unsigned_abs() as u16).to_le_bytes()).collect()),
            (Dtype::I32, ints.iter().flat_map(|&v| (v as i32).to_le_bytes()).collect()),
            (Dtype::U32, ints.iter().flat_map(|&v| (v.unsigned_abs() as u32).to_le_bytes()).collect()),
            (Dtype::I64, ints.iter().flat_map(|&v| v.to_le_bytes()).collect()),
            (Dtype::U64, ints.iter().flat_map(|&v| v.unsigned_abs().to_le_bytes()).collect()),
            (Dtype::F16, ints.iter().flat_map(|&v| half::f16::from_f32(v as f32).to_le_bytes()).collect()),
            (Dtype::BF16, ints.iter().flat_map(|&v| half::bf16::from_f32(v as f32).to_le_bytes()).collect()),
            (Dtype::F64, ints.iter().flat_map(|&v| (v as f64).to_le_bytes()).collect()),
            (Dtype::BOOL, vec![1, 0, 1, 1]),
        ];
        let raw: Vec<RawTensor> = cases
            .iter()
            .enumerate()
            .map(|(i, (dtype, data))| RawTensor { name: format!("t{i:02}"), dtype: *dtype, shape: vec![4], data: data.clone() })
            .collect();
        let f = read_safetensors(&write_raw(&raw, HashMap::new()).unwrap()).unwrap();
        for (i, (dtype, _)) in cases.iter().enumerate() {
            let want: Vec<f32> = match dtype {
                Dtype::U8 | Dtype::U16 | Dtype::U32 | Dtype::U64 => ints.iter().map(|v| v.unsigned_abs() as f32).collect(),
                Dtype::BOOL => vec![1.0, 0.0, 1.0, 1.0],
                _ => ints.iter().map(|&v| v as f32).collect(),
            };
            assert_eq!(f.get(&format!("t{i:02}")).unwrap().values, want, "{dtype:?}");
        }
    }

    models_round_trip_with_the_same_weights_and_outputs {
        let x = vec![0.25f32; 2 * 784];
        for m in [zoo::lab_mlp(7), zoo::small_cnn(7).unwrap()] {
            let bytes = write_model(&m).unwrap();
            let back = read_model(&bytes, None, DEFAULT_MAX_PARAMS).unwrap();
            assert_eq!(back, m, "the architecture metadata rebuilds the same model");
            same_outputs(&m, &back, &x);
            // The architecture is also what inference from the shapes would give for the MLP.
            let f = read_safetensors(&bytes).unwrap();
            assert!(f.metadata.contains_key(ARCHITECTURE_KEY));
        }
        // A model written by qplay reads in PyTorch's conventions: [out, in] weights.
        let f = read_safetensors(&write_model(&zoo::lab_mlp(1)).unwrap()).unwrap();
        assert_eq!(f.get("nn1.weight").unwrap().shape, vec![128, 784]);
        assert_eq!(f.get("nn3.bias").unwrap().shape, vec![10]);
    }

    bad_files_get_typed_errors {
        let good = fixture!("st_mlp_state_dict.safetensors");
        assert_eq!(read_safetensors(b"PK\x03\x04 not safetensors"), Err(FormatError::BadMagic { format: ".safetensors" }));
        // safetensors has no magic bytes: the message says what the file's start should be.
        let e = read_safetensors(b"PK\x03\x04 not safetensors").unwrap_err().to_string();
        assert_eq!(e, "this is not a .safetensors file (it does not start with a header length and a JSON header)");
        assert!(matches!(read_safetensors(&good[..5]), Err(FormatError::Malformed { .. })));
        for cut in [20, 100, good.len() - 1] {
            assert!(matches!(read_safetensors(&good[..cut]), Err(FormatError::Malformed { .. })), "cut {cut}");
        }
        // Cut inside the header: the message says so, with both sizes.
        let header = u64::from_le_bytes(good[..8].try_into().unwrap());
        let e = read_safetensors(&good[..100]).unwrap_err().to_string();
        assert!(e.contains(&format!("the file is 100 bytes, shorter than its header of {header} bytes")), "{e}");
        // A header length far beyond the file.
        let mut liar = good.to_vec();
        liar[..8].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
        assert!(matches!(read_safetensors(&liar), Err(FormatError::Malformed { .. })));
        // Not a state_dict: plain tensors have no "<layer>.weight".
        let e = read_model(fixture!("st_tensors.safetensors"), None, DEFAULT_MAX_PARAMS).unwrap_err();
        assert!(matches!(e, FormatError::Architecture(ref m) if m.contains("not a model")), "{e:?}");
        // A sidecar that names a missing tensor, or is not an architecture.
        let e = read_model(good, Some(r#"{"input": [784], "layers": [{"kind": "linear", "name": "9"}]}"#), DEFAULT_MAX_PARAMS).unwrap_err();
        assert!(e.to_string().contains("\"9.weight\""), "{e}");
        let e = read_model(good, Some(r#"{"input": [784], "layers": [{"kind": "lstm"}]}"#), DEFAULT_MAX_PARAMS).unwrap_err();
        assert!(e.to_string().contains("sidecar JSON is not a valid architecture"), "{e}");
        // Shapes that do not chain: a typed model error naming the layer.
        let e = read_model(good, Some(r#"{"input": [100], "layers": [{"kind": "linear", "name": "0"}]}"#), DEFAULT_MAX_PARAMS).unwrap_err();
        assert!(matches!(e, FormatError::Model(_)) && e.to_string().contains("layer 0"), "{e}");
        // The parameter limit.
        let e = read_model(good, None, 1000).unwrap_err();
        assert!(matches!(e, FormatError::Model(qplay::model::ModelError::TooLarge { .. })), "{e:?}");
        // A NaN weight.
        let mut nan = zoo::lab_mlp(1);
        if let LayerKind::Linear(l) = &mut nan.layers[1].kind {
            l.w[3] = f32::NAN;
        }
        let e = read_model(&write_model(&nan).unwrap(), None, DEFAULT_MAX_PARAMS).unwrap_err();
        assert!(e.to_string().contains("NaN"), "{e}");
    }

    architecture_json_is_readable_and_checked {
        let arch: Architecture = serde_json::from_str(
            r#"{"input": [1, 28, 28], "layers": [{"kind": "conv2d", "name": "c", "padding": 1}, {"kind": "max_pool2d", "kernel": 2}]}"#,
        )
        .unwrap();
        assert_eq!(arch.layers[0], LayerSpec::Conv2d { name: "c".into(), stride: 1, padding: 1 });
        assert_eq!(arch.layers[1], LayerSpec::MaxPool2d { name: None, kernel: 2, stride: None });
        assert!(serde_json::from_str::<Architecture>(r#"{"input": [1], "layers": [{"kind": "relu", "extra": 1}]}"#).is_err());
    }
}

/// A .safetensors file from a header text and a body.
fn raw_file(header: &str, body: usize) -> Vec<u8> {
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend(header.as_bytes());
    b.extend(vec![0u8; body]);
    b
}

both! {
    a_language_model_without_its_configuration_is_refused_before_its_tensors_are_read {
        // A tensor of a dtype no reader converts (F8_E4M3) and no configuration: the missing
        // configuration is what is named; the tensors were converted first, and a 200 MiB U8
        // tensor took 1 GB before the same message.
        let file = raw_file(r#"{"w":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}"#, 4);
        assert!(matches!(read_safetensors(&file), Err(FormatError::UnsupportedDtype { .. })));
        let e = qplay::lm::LmWeights::from_safetensors(&file).unwrap_err();
        assert!(matches!(e, qplay::lm::LmError::Config { field: "dim", .. }), "{e}");
    }

    a_tensor_file_reads_the_tensors_of_a_dtype_qplay_reads_and_names_the_others {
        use qplay::formats::files::read_tensor_file;
        let file = raw_file(r#"{"f8":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, 8);
        let read = read_tensor_file("t.safetensors", &file).unwrap();
        assert_eq!(read.tensors.iter().map(|(n, t)| (n.as_str(), t.values.clone())).collect::<Vec<_>>(), vec![("w", vec![0.0])]);
        assert_eq!(read.unread, vec![("f8".to_string(), "F8_E4M3".to_string())]);
        // A model, though, needs every tensor: the strict reader refuses it, naming the tensor.
        let e = read_safetensors(&file).unwrap_err().to_string();
        assert!(e.contains("F8_E4M3 (tensor \"f8\")"), "{e}");
        let only = raw_file(r#"{"f8":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}"#, 4);
        let e = read_tensor_file("t.safetensors", &only).unwrap_err();
        assert!(e.contains("no tensor of a dtype qplay reads") && e.contains("\"f8\" (F8_E4M3)"), "{e}");
    }

    a_header_past_16_mib_is_refused_before_it_is_parsed {
        let limit = qplay::formats::safetensors::MAX_HEADER_BYTES as usize;
        let pad = |n: usize| format!(r#"{{"__metadata__":{{"pad":"{}"}},"w":{{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}}}"#, "x".repeat(n));
        let fits = raw_file(&pad(1000), 4);
        assert_eq!(read_safetensors(&fits).unwrap().tensors.len(), 1);
        let huge = pad(limit);
        let file = raw_file(&huge, 4);
        let e = read_safetensors(&file).unwrap_err().to_string();
        assert!(e.contains(&format!("the header is {} bytes", huge.len())) && e.contains("16777216"), "{e}");
        // The language-model readers share these checks: the packed format (which had its own,
        // without the header's bound) and a Hugging Face shard, which also names a tensor twice.
        let Err(e) = qplay::formats::lm_safetensors::read_lm_safetensors(&file) else { panic!("read") };
        let e = e.to_string();
        assert!(e.contains("16777216"), "{e}");
        let config = include_bytes!("../fixtures/lm/import/hf/config.json");
        let e = qplay::lm::import::read_hf(config, &[("model.safetensors", &file)]).unwrap_err().to_string();
        assert!(e.contains("model.safetensors") && e.contains("16777216"), "{e}");
        let dup = raw_file(r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#, 16);
        let e = qplay::lm::import::read_hf(config, &[("model-2.safetensors", &dup)]).unwrap_err().to_string();
        assert!(e.contains("model-2.safetensors") && e.contains("\"w\" appears twice"), "{e}");
    }

    duplicate_names_and_dtype_mismatches_name_the_tensor {
        let dup = raw_file(r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#, 16);
        let e = read_safetensors(&dup).unwrap_err().to_string();
        assert!(e.contains("\"w\" appears twice"), "was reported as an invalid offset: {e}");
        let short = raw_file(r#"{"layer.weight":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, 8);
        let e = read_safetensors(&short).unwrap_err().to_string();
        assert!(e.contains("tensor \"layer.weight\"") && e.contains("F32") && e.contains("12 bytes"), "{e}");
        // Offsets that do not tile the data bytes name the tensors, or the bytes, at fault (the
        // crate said "invalid offset for tensor `a`" for all three).
        let same = raw_file(r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, 8);
        let e = read_safetensors(&same).unwrap_err().to_string();
        assert!(e.contains(r#"tensors "a" and "b" overlap: the second starts at data byte 0, before the first ends at 8"#), "{e}");
        let gap = raw_file(r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#, 12);
        let e = read_safetensors(&gap).unwrap_err().to_string();
        assert!(e.contains(r#"data bytes 4 to 8 (before tensor "b") belong to no tensor"#), "{e}");
        let reversed = raw_file(r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#, 8);
        let e = read_safetensors(&reversed).unwrap_err().to_string();
        assert!(e.contains(r#"tensor "a": data_offsets [8, 4] end before they begin"#), "{e}");
        let tail = raw_file(r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, 12);
        let e = read_safetensors(&tail).unwrap_err().to_string();
        assert!(e.contains("the last 8 of the 12 data bytes belong to no tensor"), "{e}");
        // Empty tensors may share an offset, in any order of the header.
        let empty = raw_file(r#"{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"f":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}"#, 8);
        assert_eq!(read_safetensors(&empty).unwrap().tensors.len(), 4);
        // A file that is right still reads.
        let ok = raw_file(r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, 8);
        assert_eq!(read_safetensors(&ok).unwrap().tensors.len(), 1);
    }

    shapes_of_many_dimensions_and_ranges_past_the_file_are_named_before_the_crate_parses {
        // 9 dimensions of 1 (a product the byte range agrees with): refused by its count, as a
        // shape of millions of 1s (16 MiB of header) would be, before it is held in memory.
        let nine = raw_file(r#"{"w":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]}}"#, 1);
        let e = read_safetensors(&nine).unwrap_err().to_string();
        assert!(e.contains("tensor \"w\" has 9 dimensions") && e.contains("up to 8"), "{e}");
        let eight = raw_file(r#"{"w":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1],"data_offsets":[0,1]}}"#, 1);
        assert_eq!(read_safetensors(&eight).unwrap().tensors[0].tensor.values.len(), 1);
        let ones = format!(r#"{{"w":{{"dtype":"U8","shape":[{}],"data_offsets":[0,1]}}}}"#, vec!["1"; 1 << 20].join(","));
        let file = raw_file(&ones, 1);
        let (r, largest) = crate::alloc_probe::largest_allocation(|| read_safetensors(&file).map(|_| ()));
        assert!(r.unwrap_err().to_string().contains("1048576 dimensions"));
        // Its million dimensions are counted, not held (as 8 bytes each: 8 MiB, before).
        assert!(largest < (1 << 20), "{largest}");
        // Metadata may use the key "shape" for a string: the tensors are still checked.
        let meta = raw_file(r#"{"__metadata__":{"shape":"x","dtype":"y"},"w":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]}}"#, 1);
        assert!(read_safetensors(&meta).unwrap_err().to_string().contains("9 dimensions"));
        // Offsets past the data: each tensor's range agrees with its shape, the file ends first
        // (the crate adds such offsets unchecked: an overflow near 2^64).
        let past = raw_file(r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}}"#, 6);
        let e = read_safetensors(&past).unwrap_err().to_string();
        assert!(e.contains("tensor \"b\": data_offsets reach byte 8, past the 6 data bytes"), "{e}");
        let huge = (1u64 << 61) - 1;
        let far = raw_file(&format!(r#"{{"a":{{"dtype":"U8","shape":[{huge}],"data_offsets":[0,{huge}]}}}}"#), 8);
        let e = read_safetensors(&far).unwrap_err().to_string();
        assert!(e.contains("past the 8 data bytes"), "{e}");
    }

    a_weight_with_an_empty_dimension_is_refused_before_its_bias_is_made {
        // [2^31, 0] holds 0 values, so the file is tiny; its 2^31 outputs once sized a zero bias
        // (8 GiB; 4 TiB at 2^40 natively) before any dimension was checked. Dimensions stay within
        // wasm32's usize, whose reader refuses larger ones itself.
        for shape in ["[2147483648, 0]", "[4294967295, 0]", "[0, 8]"] {
            let file = raw_file(&format!(r#"{{"0.weight":{{"dtype":"F32","shape":{shape},"data_offsets":[0,0]}}}}"#), 0);
            let e = read_model(&file, None, DEFAULT_MAX_PARAMS).unwrap_err().to_string();
            assert!(e.contains("\"0.weight\"") && e.contains("no empty dimension"), "{shape}: {e}");
        }
        let conv = raw_file(r#"{"c.weight":{"dtype":"F32","shape":[2147483648,0,3,3],"data_offsets":[0,0]}}"#, 0);
        let sidecar = r#"{"input": [1, 8, 8], "layers": [{"kind": "conv2d", "name": "c"}]}"#;
        let e = read_model(&conv, Some(sidecar), DEFAULT_MAX_PARAMS).unwrap_err().to_string();
        assert!(e.contains("no empty dimension"), "{e}");
    }
}

/// An architecture that names one weight many times is refused when its layers pass the
/// parameter limit, before the next copy: 3,000 × a 4 MiB weight once asked for 12 GiB.
#[test]
fn an_architecture_repeating_a_weight_stops_at_the_parameter_limit() {
    let n = 256usize;
    let body = n * n * 4;
    let file = raw_file(&format!(r#"{{"a.weight":{{"dtype":"F32","shape":[{n},{n}],"data_offsets":[0,{body}]}}}}"#), body);
    let layers = vec![r#"{"kind": "linear", "name": "a"}"#; 400].join(",");
    let sidecar = format!(r#"{{"input": [{n}], "layers": [{layers}]}}"#);
    let limit = 1 << 20;
    let e = read_model(&file, Some(&sidecar), limit).unwrap_err();
    let FormatError::Model(qplay::model::ModelError::TooLarge { params, limit: l }) = e else { panic!("{e:?}") };
    // Stopped at the first layer past the limit (16 layers of 65,792), not after all 400.
    assert_eq!((params, l), (16 * (n * n + n) as u128, limit));
}

/// Conversion to f32 is bounded by the values the header describes, before any is converted.
#[test]
fn a_file_of_more_values_than_the_limit_is_refused_before_conversion() {
    let limit = qplay::formats::safetensors::MAX_SAFETENSORS_VALUES;
    let file = raw_file(&format!(r#"{{"w":{{"dtype":"U8","shape":[{}],"data_offsets":[0,{}]}}}}"#, limit + 1, limit + 1), limit + 1);
    let (r, largest) = crate::alloc_probe::largest_allocation(|| read_safetensors(&file).map(|_| ()));
    assert!(matches!(r, Err(FormatError::TooManyValues { count, .. }) if count == limit + 1), "{r:?}");
    assert!(largest < (1 << 20), "{largest}");
}

/// Inferring an architecture is linear in the file's tensors: 200,000 empty `N.weight`
/// tensors (a 13 MB header) once cost 2·10^10 name comparisons (minutes) before any was looked at.
#[test]
fn inferring_the_layers_of_many_tensors_is_linear() {
    let entries: Vec<String> = (0..200_000).map(|i| format!(r#""{i:06}.weight":{{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}"#)).collect();
    let file = raw_file(&format!("{{{}}}", entries.join(",")), 0);
    let start = std::time::Instant::now();
    let e = read_model(&file, None, DEFAULT_MAX_PARAMS).unwrap_err().to_string();
    let took = start.elapsed();
    assert!(e.contains("000000.weight"), "{e}");
    assert!(took.as_secs_f64() < 20.0, "{took:?}");
}

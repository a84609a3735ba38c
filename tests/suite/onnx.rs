//! ONNX: models made with the `onnx` package's helper API (scripts/make_format_fixtures.py)
//! read and run like NumPy / ONNX Runtime; qplay's FP32 exports read back as the same model;
//! unsupported graphs get errors naming the op, the node or the input. In-memory tests run
//! natively and in the browser; the whole-test-set acceptance check is native.

use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::tensor_shape_proto::dimension;
use onnx_protobuf::type_proto::Value as TypeValue;
use onnx_protobuf::{AttributeProto, Message, ModelProto, NodeProto};
use protobuf::EnumOrUnknown;
use qplay::formats::onnx::{read_onnx, write_onnx};
use qplay::formats::FormatError;
use qplay::model::forward::Fp32Runner;
use qplay::model::{zoo, Layer, LayerKind, Linear, Model, Shape, DEFAULT_MAX_PARAMS};

use crate::expected_outputs;

use expected_outputs::{assert_outputs, expected, kinds};

fn read(bytes: &[u8]) -> Result<Model, FormatError> {
    read_onnx(bytes, DEFAULT_MAX_PARAMS)
}

/// A model exported by qplay, edited as a protobuf, serialised again.
fn edited(model: &Model, edit: impl FnOnce(&mut ModelProto)) -> Vec<u8> {
    let mut p = ModelProto::parse_from_bytes(&write_onnx(model).unwrap()).unwrap();
    edit(&mut p);
    p.write_to_bytes().unwrap()
}

fn node<'a>(p: &'a mut ModelProto, op: &str) -> &'a mut NodeProto {
    p.graph.as_mut().unwrap().node.iter_mut().find(|n| n.op_type == op).unwrap()
}

fn set_ints(n: &mut NodeProto, name: &str, v: Vec<i64>) {
    n.attribute.retain(|a| a.name != name);
    n.attribute.push(AttributeProto { name: name.into(), type_: EnumOrUnknown::new(AttributeType::INTS), ints: v, ..Default::default() });
}

fn set_int(n: &mut NodeProto, name: &str, v: i64) {
    n.attribute.retain(|a| a.name != name);
    n.attribute.push(AttributeProto { name: name.into(), type_: EnumOrUnknown::new(AttributeType::INT), i: v, ..Default::default() });
}

fn error_of(bytes: &[u8]) -> String {
    read(bytes).expect_err("this graph is refused").to_string()
}

both! {
    an_onnx_gemm_mlp_reads_with_its_attributes_and_runs_like_numpy {
        let m = read(fixture!("onnx_mlp_gemm.onnx")).unwrap();
        assert_eq!(kinds(&m), ["Flatten", "Linear", "ReLU", "Linear"]);
        assert_eq!(m.input, Shape::Chw(1, 28, 28));
        let names: Vec<&str> = m.layers.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["flatten", "fc1", "relu1", "fc2"], "layers are named after their nodes");
        // fc2 has transB = 0, alpha = 0.5, beta = 2; fc1's bias is in float_data.
        assert_outputs(m, &expected("img_x"), &expected("onnx_gemm_y"), "Gemm MLP");
    }

    an_onnx_matmul_add_mlp_with_a_constant_reshape_reads {
        let m = read(fixture!("onnx_mlp_matmul.onnx")).unwrap();
        assert_eq!(kinds(&m), ["Flatten", "Linear", "ReLU", "Linear", "Softmax"], "Reshape [0, -1] is a Flatten; each Add is a bias");
        assert_outputs(m, &expected("onnx_matmul_x"), &expected("onnx_matmul_y"), "MatMul + Add MLP");
    }

    an_onnx_cnn_with_batchnorm_reads_folded {
        let m = read(fixture!("onnx_cnn_bn.onnx")).unwrap();
        assert_eq!(kinds(&m), ["Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear"]);
        assert_eq!(m.input, Shape::Chw(1, 12, 12));
        assert_outputs(m, &expected("onnx_cnn_x"), &expected("onnx_cnn_y"), "Conv + BN CNN");
    }

    an_unsupported_op_is_named_with_its_node {
        let e = read(fixture!("onnx_unsupported_sigmoid.onnx")).unwrap_err();
        assert_eq!(e, FormatError::UnsupportedOp { op: "Sigmoid".into(), node: "gate".into() });
        let msg = e.to_string();
        assert!(msg.contains("Sigmoid") && msg.contains("\"gate\"") && msg.contains("Gemm"), "{msg}");
    }

    an_operator_that_is_not_read_is_named_before_the_chain_is_questioned {
        // An If reads a condition, not the previous layer: still "operator If is not supported".
        for (op, first_input) in [("If", "cond"), ("Cast", ""), ("Loop", "trip")] {
            let bytes = edited(&zoo::lab_mlp(1), |p| {
                let g = p.graph.as_mut().unwrap();
                let at = g.node.iter().position(|x| x.op_type == "Relu").unwrap();
                let relu = &mut g.node[at];
                relu.op_type = op.into();
                relu.name = "odd".into();
                if !first_input.is_empty() {
                    relu.input = vec![first_input.into()];
                }
            });
            let e = read(&bytes).unwrap_err();
            assert_eq!(e, FormatError::UnsupportedOp { op: op.into(), node: "odd".into() }, "{op}: {e}");
        }
    }

    fp32_exports_read_back_as_the_same_model {
        for m in [zoo::lab_mlp(3), zoo::small_cnn(3).unwrap()] {
            let bytes = write_onnx(&m).unwrap();
            let back = read(&bytes).unwrap();
            assert_eq!(back, m, "same layers, names, shapes and weights bit for bit");
            // A dynamic batch: the input's first dimension is the symbol "N".
            let p = ModelProto::parse_from_bytes(&bytes).unwrap();
            let g = p.graph.as_ref().unwrap();
            let Some(TypeValue::TensorType(t)) = &g.input[0].type_.value else { panic!("a tensor input") };
            assert!(matches!(&t.shape.dim[0].value, Some(dimension::Value::DimParam(s)) if s == "N"));
            assert_eq!((g.input[0].name.as_str(), g.output[0].name.as_str()), ("input", "output"));
            assert_eq!((p.opset_import[0].version, p.ir_version), (13, 7));
        }
        // A Softmax at the end of an MLP exports too.
        let mut m = zoo::lab_mlp(1);
        m.layers.push(Layer { name: "probs".into(), kind: LayerKind::Softmax });
        let m = Model::new(m.input, m.layers, DEFAULT_MAX_PARAMS).unwrap();
        assert_eq!(read(&write_onnx(&m).unwrap()).unwrap(), m);
        // A Softmax over an image has no opset-13 form: a clear export error.
        let img = Model::new(Shape::Chw(1, 4, 4), vec![Layer { name: "s".into(), kind: LayerKind::Softmax }], 10).unwrap();
        assert!(matches!(write_onnx(&img), Err(FormatError::Export(ref m)) if m.contains("add a Flatten")));
    }

    convolution_and_pooling_forms_outside_qplay_are_refused_by_name {
        let cnn = zoo::small_cnn(1).unwrap();
        let msg = error_of(&edited(&cnn, |p| set_int(node(p, "Conv"), "group", 2)));
        assert!(msg.contains("conv1") && msg.contains("group = 2"), "{msg}");
        let msg = error_of(&edited(&cnn, |p| set_ints(node(p, "Conv"), "strides", vec![1, 2])));
        assert!(msg.contains("strides [1, 2]") && msg.contains("equal strides"), "{msg}");
        // A stride of 0 is named as such, not as unequal (Conv and MaxPool alike).
        let msg = error_of(&edited(&cnn, |p| set_ints(node(p, "Conv"), "strides", vec![0, 0])));
        assert!(msg.contains("strides [0, 0]: a stride is at least 1"), "{msg}");
        let msg = error_of(&edited(&cnn, |p| set_ints(node(p, "MaxPool"), "strides", vec![0, 0])));
        assert!(msg.contains("strides [0, 0]: a stride is at least 1"), "{msg}");
        let msg = error_of(&edited(&cnn, |p| set_ints(node(p, "Conv"), "pads", vec![1, 0, 1, 0])));
        assert!(msg.contains("pads [1, 0, 1, 0]"), "{msg}");
        let msg = error_of(&edited(&cnn, |p| set_ints(node(p, "Conv"), "dilations", vec![2, 2])));
        assert!(msg.contains("dilation"), "{msg}");
        let msg = error_of(&edited(&cnn, |p| set_ints(node(p, "MaxPool"), "pads", vec![1, 1, 1, 1])));
        assert!(msg.contains("pool1") && msg.contains("padding"), "{msg}");
        let msg = error_of(&edited(&cnn, |p| set_int(node(p, "MaxPool"), "ceil_mode", 1)));
        assert!(msg.contains("ceil_mode"), "{msg}");
        // auto_pad SAME_UPPER at stride 1 with a 3×3 kernel is padding 1: the same model.
        let same = edited(&cnn, |p| {
            let n = node(p, "Conv");
            n.attribute.retain(|a| a.name != "pads");
            n.attribute.push(AttributeProto { name: "auto_pad".into(), type_: EnumOrUnknown::new(AttributeType::STRING), s: b"SAME_UPPER".to_vec(), ..Default::default() });
        });
        assert_eq!(read(&same).unwrap(), cnn);
    }

    inputs_graphs_and_tensors_outside_qplay_are_refused_clearly {
        let mlp = zoo::lab_mlp(1);
        // A dynamic dimension other than the batch names the input.
        let msg = error_of(&edited(&mlp, |p| {
            let g = p.graph.as_mut().unwrap();
            let Some(TypeValue::TensorType(t)) = &mut g.input[0].type_.as_mut().unwrap().value else { unreachable!() };
            t.shape.as_mut().unwrap().dim[2].value = Some(dimension::Value::DimParam("H".into()));
        }));
        assert!(msg.contains("input \"input\"") && msg.contains("dimension 2 is dynamic (\"H\")"), "{msg}");
        // Dimensions each within the limit whose sample is not (on wasm32 their product once
        // passed usize and read as [4294967295]): named with the real count.
        let msg = error_of(&edited(&mlp, |p| {
            let g = p.graph.as_mut().unwrap();
            let Some(TypeValue::TensorType(t)) = &mut g.input[0].type_.as_mut().unwrap().value else { unreachable!() };
            for d in 1..4 {
                t.shape.as_mut().unwrap().dim[d].value = Some(dimension::Value::DimValue(1 << 24));
            }
        }));
        assert!(msg.contains("input \"input\" of shape [16777216, 16777216, 16777216] holds 4722366482869645213696 values a sample: qplay reads inputs of up to 16777216"), "{msg}");
        // Two inputs.
        let msg = error_of(&edited(&mlp, |p| {
            let g = p.graph.as_mut().unwrap();
            let mut second = g.input[0].clone();
            second.name = "mask".into();
            g.input.push(second);
        }));
        assert!(msg.contains("2 inputs (input, mask)"), "{msg}");
        // A node that reads something other than the previous output (a branch).
        let msg = error_of(&edited(&mlp, |p| node(p, "Relu").input[0] = "input".into()));
        assert!(msg.contains("single chain"), "{msg}");
        // A second initializer of a weight's name: named, not blamed on the node that reads the
        // value it silently replaced ("bias C has shape [48]: [3] was expected").
        let msg = error_of(&edited(&mlp, |p| {
            let g = p.graph.as_mut().unwrap();
            let mut again = g.initializer.iter().find(|t| t.name == "nn1.weight").unwrap().clone();
            again.dims = vec![3, 3];
            again.raw_data = vec![0; 36];
            g.initializer.push(again);
        }));
        assert!(msg.contains("two initializers are named \"nn1.weight\""), "{msg}");
        // Two nodes writing one value (ONNX Runtime refuses the file): named.
        let msg = error_of(&edited(&mlp, |p| {
            let g = p.graph.as_mut().unwrap();
            let first = g.node[0].output[0].clone();
            let last = g.node.len() - 1;
            g.node[last].output[0] = first.clone();
            g.output[0].name = first;
        }));
        assert!(msg.contains("which the graph already defines"), "{msg}");
        // A weight that is not a constant.
        let msg = error_of(&edited(&mlp, |p| {
            let g = p.graph.as_mut().unwrap();
            g.initializer.retain(|t| t.name != "nn2.weight");
        }));
        assert!(msg.contains("nn2") && msg.contains("must be a constant"), "{msg}");
        // A weight whose data does not match its dims.
        let e = read(&edited(&mlp, |p| {
            let g = p.graph.as_mut().unwrap();
            g.initializer.iter_mut().find(|t| t.name == "nn3.bias").unwrap().raw_data.truncate(8);
        }))
        .unwrap_err();
        assert_eq!(e, FormatError::ShapeMismatch { expected: 10, found: 2 });
        // Weights in an external file.
        let msg = error_of(&edited(&mlp, |p| {
            let g = p.graph.as_mut().unwrap();
            let t = g.initializer.iter_mut().find(|t| t.name == "nn1.weight").unwrap();
            t.raw_data.clear();
            t.data_location = EnumOrUnknown::new(onnx_protobuf::tensor_proto::DataLocation::EXTERNAL);
        }));
        assert!(msg.contains("separate file"), "{msg}");
        // Dimensions declared far past the limit in a small file: the message counts them all,
        // also where a usize is 32 bits (it once said 4294967295).
        let msg = error_of(&edited(&mlp, |p| {
            let g = p.graph.as_mut().unwrap();
            let t = g.initializer.iter_mut().find(|t| t.name == "nn1.weight").unwrap();
            t.dims = vec![100_000_000, 784];
        }));
        assert!(msg.contains("78,400,000,000 parameters"), "{msg}");
        // Weights of a type qplay does not read: named in ONNX's terms, not NumPy's.
        let msg = error_of(&edited(&mlp, |p| {
            let g = p.graph.as_mut().unwrap();
            g.initializer.iter_mut().find(|t| t.name == "nn1.weight").unwrap().data_type = 8;
        }));
        assert!(msg.contains("tensor \"nn1.weight\" holds ONNX data type STRING: qplay reads weights of FLOAT"), "{msg}");
        assert!(!msg.contains("f2, f4"), "{msg}");
        // Reshape to anything but a per-sample flattening.
        let msg = error_of(&edited(&mlp, |p| {
            let g = p.graph.as_mut().unwrap();
            let n = g.node.iter_mut().find(|n| n.op_type == "Flatten").unwrap();
            n.op_type = "Reshape".into();
            n.attribute.clear();
            n.input.push("shape".into());
            let mut t = onnx_protobuf::TensorProto { name: "shape".into(), dims: vec![3], data_type: 7, ..Default::default() };
            t.int64_data = vec![-1, 28, 28];
            g.initializer.push(t);
        }));
        assert!(msg.contains("[-1, 28, 28]") && msg.contains("flattening"), "{msg}");
        // A model traced at a fixed batch of 4 reshapes to [4, -1]: a flattening of each sample
        // there (the same model as with Flatten), but not where the batch is dynamic.
        let reshape_to = |batch: Option<i64>, target: Vec<i64>| edited(&mlp, |p| {
            let g = p.graph.as_mut().unwrap();
            if let Some(b) = batch {
                let dims = &mut g.input[0].type_.as_mut().unwrap().mut_tensor_type().shape.as_mut().unwrap().dim;
                dims[0].value = Some(dimension::Value::DimValue(b));
            }
            let n = g.node.iter_mut().find(|n| n.op_type == "Flatten").unwrap();
            n.op_type = "Reshape".into();
            n.attribute.clear();
            n.input.push("shape".into());
            let mut t = onnx_protobuf::TensorProto { name: "shape".into(), dims: vec![2], data_type: 7, ..Default::default() };
            t.int64_data = target;
            g.initializer.push(t);
        });
        assert_eq!(read(&reshape_to(Some(4), vec![4, -1])).unwrap(), mlp);
        assert_eq!(read(&reshape_to(Some(4), vec![4, 784])).unwrap(), mlp);
        let msg = error_of(&reshape_to(None, vec![4, -1]));
        assert!(msg.contains("to [4, -1]: only flattening each sample") && !msg.contains("fixed batch"), "{msg}");
        let msg = error_of(&reshape_to(Some(2), vec![4, -1]));
        assert!(msg.contains("[2, -1] (the input's fixed batch)"), "{msg}");
        // The parameter limit.
        let e = read_onnx(&write_onnx(&mlp).unwrap(), 1000).unwrap_err();
        assert!(matches!(e, FormatError::Model(qplay::model::ModelError::TooLarge { limit: 1000, .. })), "{e:?}");
        // Not a protobuf at all, or no graph.
        assert!(matches!(read(b"\xff\xff\xff\xff garbage"), Err(FormatError::Malformed { .. })));
        assert!(matches!(read(&[]), Err(FormatError::Malformed { .. })));
        let no_graph = ModelProto { ir_version: 7, ..Default::default() };
        assert!(error_of(&no_graph.write_to_bytes().unwrap()).contains("no graph"));
        // An empty weight (0 values, within any budget) whose other dimension is 2^31 − 1: it
        // once sized the layer's bias first (a capacity-overflow panic on wasm32, 8 GiB natively).
        let lin = Layer { name: "fc".into(), kind: LayerKind::Linear(Linear { in_features: 3, out_features: 2, w: vec![0.0; 6], b: vec![0.0; 2] }) };
        let small = Model::new(Shape::Flat(3), vec![lin], 100).unwrap();
        for (weight, dims) in [("fc.weight", vec![0i64, 2147483647]), ("fc.weight", vec![2147483647, 0])] {
            let bytes = edited(&small, |p| {
                let g = p.graph.as_mut().unwrap();
                let t = g.initializer.iter_mut().find(|t| t.name == weight).unwrap();
                t.dims = dims.clone();
                t.raw_data.clear();
                g.initializer.retain(|t| t.name != "fc.bias");
                for n in g.node.iter_mut() {
                    n.input.truncate(2);
                }
            });
            let msg = error_of(&bytes);
            assert!(msg.contains("empty dimension"), "{dims:?}: {msg}");
        }
    }

    a_matmul_without_bias_and_a_gemm_with_a_scalar_bias_read {
        let lin = Layer { name: "fc".into(), kind: LayerKind::Linear(Linear { in_features: 3, out_features: 2, w: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], b: vec![0.5, 0.5] }) };
        let m = Model::new(Shape::Flat(3), vec![lin], 100).unwrap();
        // Gemm's bias as a one-value tensor broadcasts.
        let scalar = edited(&m, |p| {
            let g = p.graph.as_mut().unwrap();
            let t = g.initializer.iter_mut().find(|t| t.name == "fc.bias").unwrap();
            t.dims = vec![1];
            t.raw_data = 0.5f32.to_le_bytes().to_vec();
        });
        assert_eq!(read(&scalar).unwrap(), m);
        let x = [1.0, 1.0, 1.0];
        assert_eq!(Fp32Runner::new(read(&scalar).unwrap()).forward(&x).unwrap(), vec![6.5, 15.5]);
    }
}

/// The acceptance check: FP32 ONNX exports of the pretrained MLP and CNN, read back, give the native
/// model's predictions and logits, bit for bit, on the whole Fashion-MNIST test set.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn exported_models_match_the_native_ones_on_the_whole_test_set() {
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/www/data/fashion-test.qds.gz")).unwrap();
    let test = qplay::data::read_qds(&bytes).unwrap();
    let x = test.images_f32(0, test.len());
    let baseline = |name: &str| {
        let path = format!("{}/www/models/{name}.safetensors", env!("CARGO_MANIFEST_DIR"));
        qplay::formats::safetensors::read_model(&std::fs::read(path).unwrap(), None, DEFAULT_MAX_PARAMS).unwrap()
    };
    for (label, m) in [("MLP", baseline("mlp-fashion")), ("CNN", baseline("cnn-fashion"))] {
        let back = read(&write_onnx(&m).unwrap()).unwrap();
        let (native, onnx) = (Fp32Runner::new(m).forward(&x).unwrap(), Fp32Runner::new(back).forward(&x).unwrap());
        assert_eq!(native.len(), 10 * test.len());
        let same = native.iter().zip(&onnx).all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "{label}: the logits differ");
        let argmax = |y: &[f32]| y.chunks(10).map(|r| (0..10).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap()).collect::<Vec<_>>();
        assert_eq!(argmax(&native), argmax(&onnx), "{label}: predictions");
    }
}

/// The size limit comes before any parsing.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn files_over_the_limit_are_refused_unread() {
    let big = vec![0u8; qplay::formats::onnx::MAX_ONNX_BYTES + 1];
    assert!(matches!(read(&big), Err(FormatError::TooLarge { .. })));
}

/// `qplay convert` moves a model between .onnx and .safetensors and back, unchanged.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn the_convert_command_goes_both_ways() {
    let dir = std::env::temp_dir().join(format!("qplay-convert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let convert = |from: &std::path::Path, to: &std::path::Path| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_qplay")).arg("convert").arg(from).arg(to).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx_cnn_bn.onnx");
    let (st, onnx) = (dir.join("cnn.safetensors"), dir.join("cnn.onnx"));
    convert(&fixture, &st);
    convert(&st, &onnx);
    let original = read(&std::fs::read(&fixture).unwrap()).unwrap();
    let via_st = qplay::formats::safetensors::read_model(&std::fs::read(&st).unwrap(), None, DEFAULT_MAX_PARAMS).unwrap();
    assert_eq!(via_st, original);
    assert_eq!(read(&std::fs::read(&onnx).unwrap()).unwrap(), original);
    // An unsupported model is a one-line error naming the op.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_qplay"))
        .arg("convert")
        .arg(fixture.with_file_name("onnx_unsupported_sigmoid.onnx"))
        .arg(dir.join("x.safetensors"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Sigmoid"));
    std::fs::remove_dir_all(&dir).ok();
}

/// Nodes that share a name get the suffixes _2, _3, … in graph order (a name given explicitly
/// is not taken twice). 1,000 Relu nodes of one name are renamed in linear time (the renaming once
/// scanned every layer for every suffix tried: 18 s for 4,000 nodes).
#[test]
fn a_thousand_nodes_of_one_name_are_renamed_in_order() {
    let n = 1000;
    let bytes = edited(&zoo::lab_mlp(1), |p| {
        let g = p.graph.as_mut().unwrap();
        let at = g.node.iter().position(|x| x.op_type == "Relu").unwrap();
        let first = g.node[at].clone();
        let mut chain = Vec::new();
        let mut input = first.output[0].clone();
        for i in 0..n {
            let mut r = first.clone();
            r.name = if i == 1 { "r_3".into() } else { "r".into() };
            r.input = vec![input.clone()];
            input = format!("chain_{i}");
            r.output = vec![input.clone()];
            chain.push(r);
        }
        // The node after the first Relu now reads the chain's end.
        let next = g.node.iter_mut().skip(at + 1).find(|x| x.input.contains(&first.output[0])).unwrap();
        for v in next.input.iter_mut().filter(|v| **v == first.output[0]) {
            *v = input.clone();
        }
        g.node.splice(at + 1..at + 1, chain);
    });
    let m = read(&bytes).unwrap();
    let names: Vec<&str> = m.layers.iter().map(|l| l.name.as_str()).filter(|n| n.starts_with('r') && !n.starts_with("relu")).collect();
    assert_eq!(names.len(), n);
    assert_eq!(&names[..5], ["r", "r_3", "r_2", "r_4", "r_5"]);
    assert_eq!(names[n - 1], format!("r_{n}"));
    let unique: std::collections::HashSet<&str> = m.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(unique.len(), m.layers.len());
}

/// Inference Dropout is an identity, unless its mask output is read: 20,000 Dropouts in a chain
/// read in linear time (the check for a reader of each mask once scanned the whole graph per
/// Dropout), and one whose mask the graph's output reads is refused, naming it.
#[test]
fn many_dropouts_read_as_identities_and_a_used_mask_is_named() {
    let n = 20_000;
    let with_dropouts = |mask_is_output: bool| {
        edited(&zoo::lab_mlp(1), |p| {
            let g = p.graph.as_mut().unwrap();
            let at = g.node.iter().position(|x| x.op_type == "Relu").unwrap();
            let start = g.node[at].output[0].clone();
            let mut chain = Vec::new();
            let mut input = start.clone();
            for i in 0..n {
                let out = format!("d_{i}");
                chain.push(NodeProto { op_type: "Dropout".into(), name: format!("drop{i}"), input: vec![input.clone()], output: vec![out.clone(), format!("mask_{i}")], ..Default::default() });
                input = out;
            }
            let next = g.node.iter_mut().skip(at + 1).find(|x| x.input.contains(&start)).unwrap();
            for v in next.input.iter_mut().filter(|v| **v == start) {
                *v = input.clone();
            }
            g.node.splice(at + 1..at + 1, chain);
            if mask_is_output {
                let mut o = g.output[0].clone();
                o.name = format!("mask_{}", n / 2);
                g.output.push(o);
            }
        })
    };
    let start = std::time::Instant::now();
    let m = read(&with_dropouts(false)).unwrap();
    let took = start.elapsed();
    assert_eq!(m, zoo::lab_mlp(1), "Dropouts add no layer");
    assert!(took.as_secs_f64() < 10.0, "{took:?}");
    let msg = error_of(&with_dropouts(true));
    assert!(msg.contains(&format!("drop{}", n / 2)) && msg.contains("mask output is used"), "{msg}");
}

/// A field header and its bytes, in protobuf's wire format (wire type 2).
fn delimited(field: u64, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for mut v in [field << 3 | 2, body.len() as u64] {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            out.push(if v == 0 { b } else { b | 0x80 });
            if v == 0 {
                break;
            }
        }
    }
    out.extend_from_slice(body);
    out
}

/// Messages are counted before the protobuf parser builds them: 300,000 empty nodes are 600 KB
/// in the file and were 36 MB parsed (17 MiB of them, within the file limit, ~2 GB: an abort).
#[test]
fn a_graph_of_too_many_messages_is_refused_before_it_is_parsed() {
    use qplay::formats::onnx::message_counts::{MAX_DEPTH, MAX_MESSAGES};
    let empty_nodes = [0x0a, 0x00].repeat(300_000);
    let file = delimited(7, &empty_nodes);
    let (r, largest) = crate::alloc_probe::largest_allocation(|| read(&file).map(|_| ()));
    let msg = r.unwrap_err().to_string();
    assert!(msg.contains(&format!("more than {MAX_MESSAGES} nodes")), "{msg}");
    assert!(largest < (1 << 16), "{largest}");
    // Graphs inside attributes inside nodes, MAX_DEPTH + 1 deep (If / Loop bodies).
    let mut graph: Vec<u8> = Vec::new();
    for _ in 0..=MAX_DEPTH {
        graph = delimited(1, &delimited(5, &delimited(6, &graph)));
    }
    let msg = error_of(&delimited(7, &graph));
    assert!(msg.contains(&format!("nested more than {MAX_DEPTH} deep")), "{msg}");
    // Messages outside the graph and its nodes are counted too: 300,000 empty nodes in a
    // training_info's algorithm, key-value pairs in metadata_props, opset ids; and a protobuf
    // group, which the parser skips while the walk could not see past it, is refused.
    let training = delimited(20, &delimited(2, &empty_nodes));
    let metadata: Vec<u8> = delimited(14, &[]).repeat(300_000);
    let opsets: Vec<u8> = delimited(8, &[]).repeat(300_000);
    let annotations = delimited(7, &delimited(14, &[]).repeat(300_000));
    let dims = delimited(7, &delimited(11, &delimited(2, &delimited(1, &delimited(2, &[0x0a, 0x00].repeat(300_000))))));
    for (what, file) in [("training_info", &training), ("metadata_props", &metadata), ("opset_import", &opsets), ("quantization_annotation", &annotations), ("an input's dims", &dims)] {
        let (r, largest) = crate::alloc_probe::largest_allocation(|| read(file).map(|_| ()));
        let msg = r.unwrap_err().to_string();
        assert!(msg.contains(&format!("more than {MAX_MESSAGES} nodes")), "{what}: {msg}");
        assert!(largest < (1 << 16), "{what}: {largest}");
    }
    let mut grouped = vec![0x0b, 0x0c]; // field 1: start group, end group
    grouped.extend(delimited(7, &empty_nodes));
    let msg = error_of(&grouped);
    assert!(msg.contains("the field at byte 0 is a protobuf group, which ONNX does not use"), "{msg}");
    // Every model qplay writes (and the fixtures) is counted and read as before.
    for m in [zoo::lab_mlp(1), zoo::small_cnn(1).unwrap()] {
        assert_eq!(read(&write_onnx(&m).unwrap()).unwrap(), m);
    }
}

/// A file cut short at a field boundary parses as a protobuf (the parser stops at the last whole
/// field and does not say the rest is missing): the declared lengths are checked first, so every
/// cut of a fixture is an error and one inside the graph says the file is cut short.
#[test]
fn a_file_cut_anywhere_is_named_as_cut_short() {
    let whole = std::fs::read("tests/fixtures/onnx_mlp_gemm.onnx").unwrap();
    assert!(read(&whole).is_ok());
    // The graph is field 7 at byte 0 (tag 0x3a, a 2-byte length); the opset import follows it.
    assert_eq!(whole[0..2], [0x08, 0x0e], "ir_version first");
    assert_eq!(whole[2], 0x3a, "then the graph");
    let graph_end = 5 + usize::from(whole[3] & 0x7f) + (usize::from(whole[4]) << 7);
    assert!(graph_end < whole.len());
    for n in (1..graph_end).filter(|n| n % 7 == 0 || *n < 300 || graph_end - n < 300) {
        let msg = error_of(&whole[..n]);
        if n > 4 {
            assert!(msg.contains("it is cut short: the field at byte 2 declares"), "cut at {n}: {msg}");
        }
    }
    // A cut right after the graph, before the opset import, leaves a whole protobuf without the
    // opset, which IR version 3 on requires (ONNX Runtime refuses it): it is not guessed.
    let msg = error_of(&whole[..graph_end]);
    assert!(msg.contains("it declares no opset for the default ONNX domain (opset_import), which IR version 14 requires"), "{msg}");
    let mut no_opset = ModelProto::parse_from_bytes(&whole).unwrap();
    no_opset.opset_import.clear();
    no_opset.ir_version = 2;
    assert!(read(&no_opset.write_to_bytes().unwrap()).is_ok(), "IR version 2 had no opset import");
    // A length past the end of an inner message (the graph's node list) is named too.
    let node = delimited(1, b"x");
    let mut graph = delimited(1, &node);
    graph.extend_from_slice(&[0x0a, 0x40]);
    let msg = error_of(&delimited(7, &graph));
    assert!(msg.contains("it is cut short: the field at byte") && msg.contains("declares 64 bytes and 0 are left"), "{msg}");
}

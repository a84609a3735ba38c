//! The language model as ONNX (src/formats/onnx_lm): every export is checked structurally here
//! (what the ONNX checker checks that Rust can: types and sizes of the initializers, unique names,
//! topological order, opset, metadata; then the QDQ pattern of every Linear and its integers
//! decoded from the ONNX bytes as the ONNX spec lays them out, against qplay's dequantized
//! weights), and written with qplay's own logits and perplexity to target/onnx-lm/ for the
//! independent check in ONNX Runtime:
//!
//! ```text
//! cargo test --release --test suite onnx_lm:: && python3 scripts/check_onnx_lm.py
//! ```
//!
//! Native only (files).
#![cfg(not(target_arch = "wasm32"))]

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use onnx_protobuf::tensor_proto::DataType;
use onnx_protobuf::{AttributeProto, ModelProto, NodeProto, TensorProto};
use protobuf::Message;
use qplay::formats::onnx_lm::{write_lm_model_onnx, write_lm_onnx, CONFIG_KEY, INPUT_IDS, LM_IR_VERSION, LM_OPSET, LOGITS, QUANT_CONFIG_KEY};
use qplay::formats::FormatError;
use qplay::lm::corpus::gunzip_text;
use qplay::lm::eval::perplexity;
use qplay::lm::{CharTokenizer, Embedding, KvCache, KvFormat, LmLinear, LmModel, LmWeights, NoProbe};
use qplay::ptq::lm::{quantize_lm, LmQuantConfig, LmWeightFormat, QuantizedLm};
use qplay::ptq::lm_method::quantize_with_method;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// Predictions scored (src/cli_lm.rs DEFAULT_EVAL_TOKENS − 1): 8,192 in windows of seq_len.
const EVAL_TOKENS: usize = 8193;

fn out_dir() -> PathBuf {
    let d = PathBuf::from(ROOT).join("target").join("onnx-lm");
    std::fs::create_dir_all(&d).expect("target/onnx-lm");
    d
}

fn load(path: &str) -> LmWeights {
    let bytes = std::fs::read(PathBuf::from(ROOT).join(path)).expect(path);
    LmWeights::from_safetensors(&bytes).expect(path)
}

/// The first EVAL_TOKENS characters of the validation text as ids of the built-in alphabet.
fn shakespeare_val_ids() -> Vec<u32> {
    let w = load("www/models/shakespeare.safetensors");
    let tok = CharTokenizer::new(w.alphabet.expect("alphabet").chars().collect()).expect("tokenizer");
    let gz = std::fs::read(PathBuf::from(ROOT).join("www/data/shakespeare.val.txt.gz")).expect("val text");
    let text = gunzip_text(&gz).expect("gzip");
    let head: String = text.chars().take(EVAL_TOKENS).collect();
    tok.encode(&head).expect("encode")
}

fn cfg(weights: LmWeightFormat, bits: u8, group: usize, int8_acts: bool) -> LmQuantConfig {
    LmQuantConfig { weights, bits, group, int8_acts, ..LmQuantConfig::default() }
}

/// The four cases of the brief, on every model.
fn main_cases() -> Vec<(&'static str, LmQuantConfig)> {
    vec![
        ("fp32", LmQuantConfig::default()),
        ("w8-channel", cfg(LmWeightFormat::Rtn, 8, 0, false)),
        ("w4-g32", cfg(LmWeightFormat::Rtn, 4, 32, false)),
        ("w8a8-channel", cfg(LmWeightFormat::Rtn, 8, 0, true)),
        ("w8a8-channel-static", LmQuantConfig { static_acts: true, ..cfg(LmWeightFormat::Rtn, 8, 0, true) }),
    ]
}

/// More formats on the small model: minimums (Q4_1, asymmetric W8), int8 activations per group
/// (W4A8 g32), a quantized embedding and output head (empty skip list).
fn extra_cases() -> Vec<(&'static str, LmQuantConfig)> {
    let all = |mut c: LmQuantConfig| {
        c.skip.clear();
        c
    };
    vec![
        ("q4_1-all", all(cfg(LmWeightFormat::Q4_1, 4, 0, false))),
        ("q8_0-a8", cfg(LmWeightFormat::Q8_0, 8, 0, true)),
        ("w4a8-g32-all", all(cfg(LmWeightFormat::Rtn, 4, 32, true))),
        ("w8-channel-asym-all", all(LmQuantConfig { symmetric: false, ..cfg(LmWeightFormat::Rtn, 8, 0, false) })),
        ("w4-g32-asym", LmQuantConfig { symmetric: false, ..cfg(LmWeightFormat::Rtn, 4, 32, false) }),
    ]
}

// ---------- reading the exported ONNX back (from the spec, not from the writer) ----------

fn attr<'a>(n: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    n.attribute.iter().find(|a| a.name == name)
}

fn attr_i(n: &NodeProto, name: &str) -> Option<i64> {
    attr(n, name).map(|a| a.i)
}

/// Bytes of an initializer's raw_data for its dims and type (int4: two per byte, rounded up).
fn raw_len(t: &TensorProto) -> usize {
    let n: usize = t.dims.iter().map(|&d| d as usize).product();
    match t.data_type {
        x if x == DataType::FLOAT as i32 || x == DataType::INT32 as i32 => 4 * n,
        x if x == DataType::INT64 as i32 => 8 * n,
        x if x == DataType::INT8 as i32 || x == DataType::UINT8 as i32 || x == DataType::BOOL as i32 => n,
        x if x == DataType::INT4 as i32 || x == DataType::UINT4 as i32 => n.div_ceil(2),
        other => panic!("initializer {} of unexpected type {other}", t.name),
    }
}

/// An integer initializer's values: int8 bytes, or int4 / uint4 nibbles (element 2j in the low
/// nibble of byte j, ONNX's layout), sign-extended for int4.
fn ints_of(t: &TensorProto) -> Vec<i32> {
    let n: usize = t.dims.iter().map(|&d| d as usize).product();
    let dt = t.data_type;
    (0..n)
        .map(|i| {
            if dt == DataType::INT8 as i32 {
                t.raw_data[i] as i8 as i32
            } else {
                let b = t.raw_data[i / 2];
                let nib = if i % 2 == 0 { b & 0x0F } else { b >> 4 } as i32;
                if dt == DataType::INT4 as i32 && nib >= 8 {
                    nib - 16
                } else {
                    nib
                }
            }
        })
        .collect()
}

fn f32s_of(t: &TensorProto) -> Vec<f32> {
    assert_eq!(t.data_type, DataType::FLOAT as i32, "{} is not float", t.name);
    t.raw_data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

fn i64s_of(t: &TensorProto) -> Vec<i64> {
    t.raw_data.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect()
}

/// The ops of the default domain at opset 21 this exporter may use.
const OPS: [&str; 29] = [
    "Gather", "Mul", "ReduceMean", "Add", "Sqrt", "Reciprocal", "MatMul", "Reshape", "Transpose", "Slice", "Shape",
    "Concat", "Expand", "Trilu", "Softmax", "Sigmoid", "DequantizeLinear", "QuantizeLinear", "Abs", "ReduceMax",
    "Div", "Equal", "Where", "Sub", "Cast", "Identity", "Unsqueeze", "Max", "Clip",
];

struct Graph {
    model: ModelProto,
    inits: HashMap<String, TensorProto>,
    /// value → the node that produces it.
    producer: HashMap<String, NodeProto>,
}

impl Graph {
    fn node(&self, value: &str) -> Option<&NodeProto> {
        self.producer.get(value)
    }

    fn init(&self, value: &str) -> &TensorProto {
        self.inits.get(value).unwrap_or_else(|| panic!("{value} is not an initializer"))
    }

    fn count(&self, op: &str) -> usize {
        self.model.graph.node.iter().filter(|n| n.op_type == op).count()
    }
}

/// The checker's invariants (those that need no shape inference) on the serialised bytes.
fn check_graph(bytes: &[u8], config: &LmQuantConfig) -> Graph {
    let model = ModelProto::parse_from_bytes(bytes).expect("a valid protobuf ModelProto");
    assert_eq!(model.ir_version, LM_IR_VERSION);
    assert_eq!(model.opset_import.len(), 1);
    assert_eq!((model.opset_import[0].domain.as_str(), model.opset_import[0].version), ("", LM_OPSET));
    let meta: HashMap<_, _> = model.metadata_props.iter().map(|p| (p.key.as_str(), p.value.as_str())).collect();
    assert_eq!(meta.get(CONFIG_KEY), Some(&config.label().as_str()), "metadata {CONFIG_KEY}");
    // The configuration itself, as JSON (the page's export wrote only the label).
    let written: LmQuantConfig = serde_json::from_str(meta.get(QUANT_CONFIG_KEY).expect("metadata qplay.quant_config")).unwrap();
    assert_eq!(&written, config, "metadata {QUANT_CONFIG_KEY}");
    let g = &model.graph;
    assert_eq!(g.input.len(), 1);
    assert_eq!(g.input[0].name, INPUT_IDS);
    assert_eq!(g.output.len(), 1);
    assert_eq!(g.output[0].name, LOGITS);
    let mut defined: HashSet<String> = HashSet::from([INPUT_IDS.to_string()]);
    let mut inits = HashMap::new();
    for t in &g.initializer {
        assert!(t.dims.iter().all(|&d| d >= 0), "{}: negative dim", t.name);
        assert_eq!(t.raw_data.len(), raw_len(t), "{}: raw_data length for dims {:?}", t.name, t.dims);
        assert!(defined.insert(t.name.clone()), "initializer {} defined twice", t.name);
        inits.insert(t.name.clone(), t.clone());
    }
    let mut names = HashSet::new();
    let mut producer = HashMap::new();
    let mut used = HashSet::new();
    for n in &g.node {
        assert!(OPS.contains(&n.op_type.as_str()), "unexpected op {}", n.op_type);
        assert!(n.domain.is_empty(), "{}: domain {}", n.name, n.domain);
        assert!(names.insert(n.name.clone()), "node name {} twice", n.name);
        for i in &n.input {
            // Topological order: every input exists before the node (SSA).
            assert!(i.is_empty() || defined.contains(i), "node {} reads {i} before it is defined", n.name);
            used.insert(i.clone());
        }
        for o in &n.output {
            assert!(defined.insert(o.clone()), "value {o} defined twice");
            producer.insert(o.clone(), n.clone());
        }
    }
    assert!(producer.contains_key(LOGITS), "no node produces the logits");
    for t in &g.initializer {
        assert!(used.contains(&t.name), "initializer {} is never read", t.name);
    }
    for n in &g.node {
        for o in &n.output {
            assert!(used.contains(o) || o == LOGITS, "value {o} of {} is never read", n.name);
        }
    }
    Graph { model, inits, producer }
}

/// Follows Reshape / Add (the minimums) back to the DequantizeLinear of a weight.
fn weight_dq<'a>(gr: &'a Graph, mut value: &'a str) -> &'a NodeProto {
    loop {
        let n = gr.node(value).unwrap_or_else(|| panic!("{value} is produced by no node"));
        match n.op_type.as_str() {
            "DequantizeLinear" => return n,
            "Reshape" | "Add" => value = &n.input[0],
            other => panic!("{value}: {other} between the weight's DequantizeLinear and the MatMul"),
        }
    }
}

/// Checks the Linear called `name`: its MatMul, the weight's initializer and QDQ pattern, and the
/// dequantized weights against qplay's (bit for bit). Returns (DequantizeLinear, QuantizeLinear) counts.
fn check_linear(gr: &Graph, name: &str, l: &LmLinear) -> (usize, usize) {
    let mm = gr.model.graph.node.iter().find(|n| n.name == name).unwrap_or_else(|| panic!("no node {name}"));
    assert_eq!(mm.op_type, "MatMul", "{name}");
    let (n, k) = (l.n(), l.k());
    let mut want = vec![0f32; n * k];
    for (r, row) in want.chunks_exact_mut(k).enumerate() {
        l.row(r, row).unwrap();
    }
    match l {
        LmLinear::Float { .. } => {
            let t = gr.init(&mm.input[1]);
            assert_eq!(t.dims, [k as i64, n as i64], "{name}: Wᵀ");
            let got = f32s_of(t);
            for r in 0..n {
                for c in 0..k {
                    assert_eq!(got[c * n + r].to_bits(), want[r * k + c].to_bits(), "{name}[{r}, {c}]");
                }
            }
            assert!(gr.node(&mm.input[0]).is_none_or(|p| p.op_type != "DequantizeLinear"), "{name}: float input quantized");
            (0, 0)
        }
        LmLinear::Grouped { w, int8_acts, .. } => {
            let dq = weight_dq(gr, &mm.input[1]);
            if w.min.is_none() {
                assert_eq!(gr.node(&mm.input[1]).unwrap().op_type, "DequantizeLinear", "{name}: DQ feeds the MatMul");
            }
            assert_eq!(dq.input.len(), 2, "{name}: no zero point (the integers are u − o)");
            let q = gr.init(&dq.input[0]);
            let s = f32s_of(gr.init(&dq.input[1]));
            let ty = match (w.bits, w.offset) {
                (8, _) => DataType::INT8,
                (4, 8) => DataType::INT4,
                _ => DataType::UINT4,
            };
            assert_eq!(q.data_type, ty as i32, "{name}: integer type");
            assert_eq!(q.dims, [k as i64, n as i64], "{name}: integers transposed [K, N]");
            let ints = ints_of(q);
            let groups = w.groups();
            let (axis, block) = (attr_i(dq, "axis"), attr_i(dq, "block_size"));
            if groups == 1 {
                assert_eq!((axis, block), (Some(1), None), "{name}: per-axis along N");
                assert_eq!(gr.init(&dq.input[1]).dims, [n as i64]);
            } else {
                assert_eq!((axis, block), (Some(0), Some(w.group as i64)), "{name}: blocked along K");
                assert_eq!(gr.init(&dq.input[1]).dims, [groups as i64, n as i64]);
            }
            // ŵ[k, n] = i · s (+ min) per the ONNX spec, against qplay's dequantized row.
            let min = w.min.as_ref();
            for r in 0..n {
                for c in 0..k {
                    let gi = c / w.group;
                    let sc = if groups == 1 { s[r] } else { s[gi * n + r] };
                    assert_eq!(sc.to_bits(), w.scale[r * groups + gi].to_bits(), "{name}: scale [{r}, {gi}]");
                    let mut v = ints[c * n + r] as f32 * sc;
                    if let Some(m) = min {
                        v += m[r * groups + gi];
                    }
                    assert_eq!(v.to_bits(), want[r * k + c].to_bits(), "{name}: ŵ[{r}, {c}]");
                }
            }
            let x = gr.node(&mm.input[0]);
            if let (true, Some(s)) = (*int8_acts, l.act_scale()) {
                // DequantizeLinear(QuantizeLinear(Clip(x, −127·s, 127·s), s), s): one static scale.
                let adq = x.unwrap_or_else(|| panic!("{name}: input"));
                assert_eq!(adq.op_type, "DequantizeLinear", "{name}: activation DQ");
                let aq = gr.node(&adq.input[0]).unwrap();
                assert_eq!(aq.op_type, "QuantizeLinear", "{name}: activation Q");
                assert_eq!(attr_i(aq, "output_dtype"), Some(DataType::INT8 as i64));
                assert_eq!(aq.input[1], adq.input[1], "{name}: the same scale");
                assert_eq!(f32s_of(gr.init(&aq.input[1])), [s], "{name}: the static scale");
                let clip = gr.node(&aq.input[0]).unwrap();
                assert_eq!(clip.op_type, "Clip", "{name}");
                assert_eq!((f32s_of(gr.init(&clip.input[1])), f32s_of(gr.init(&clip.input[2]))), (vec![-127.0 * s], vec![127.0 * s]), "{name}: ±127 levels");
                (2, 1)
            } else if *int8_acts {
                // Reshape(DequantizeLinear(QuantizeLinear(Reshape(x, [−1, g]), s), s), Shape(x)).
                let back = x.unwrap_or_else(|| panic!("{name}: input"));
                assert_eq!(back.op_type, "Reshape", "{name}");
                let adq = gr.node(&back.input[0]).unwrap();
                assert_eq!(adq.op_type, "DequantizeLinear", "{name}: activation DQ");
                let aq = gr.node(&adq.input[0]).unwrap();
                assert_eq!(aq.op_type, "QuantizeLinear", "{name}: activation Q");
                assert_eq!(attr_i(aq, "output_dtype"), Some(DataType::INT8 as i64));
                assert_eq!((attr_i(aq, "axis"), attr_i(adq, "axis")), (Some(0), Some(0)));
                assert_eq!(aq.input[1], adq.input[1], "{name}: the same dynamic scale");
                assert!(!gr.inits.contains_key(&aq.input[1]), "{name}: the scale is computed in the graph");
                let rows = gr.node(&aq.input[0]).unwrap();
                assert_eq!(rows.op_type, "Reshape");
                assert_eq!(i64s_of(gr.init(&rows.input[1])), [-1, w.group as i64], "{name}: per token and group");
                (2, 1)
            } else {
                assert!(x.is_none_or(|p| p.op_type != "Reshape" || gr.node(&p.input[0]).is_none_or(|d| d.op_type != "DequantizeLinear")));
                (1, 0)
            }
        }
    }
}

/// Every structural check of one export; node and initializer counts from the configuration.
fn check_export(bytes: &[u8], q: &QuantizedLm) {
    let gr = check_graph(bytes, &q.config);
    let m = &q.model;
    let c = &m.config;
    let (mut dq, mut qn) = (0, 0);
    let mut weights = 0; // weight-carrying initializers (not the shared constants)
    let per_linear = |l: &LmLinear| match l {
        LmLinear::Float { .. } => 1,
        LmLinear::Grouped { w, .. } => 2 + usize::from(w.min.is_some()),
    };
    for (li, b) in m.blocks.iter().enumerate() {
        for (name, l) in b.linears() {
            let (d, q_) = check_linear(&gr, &format!("layers.{li}.{name}"), l);
            dq += d;
            qn += q_;
            weights += per_linear(l);
        }
    }
    let (d, q_) = check_linear(&gr, "output", &m.output);
    dq += d;
    qn += q_;
    weights += per_linear(&m.output);
    match &m.embedding {
        Embedding::F32(_) => weights += 1,
        Embedding::Linear(l) => {
            weights += per_linear(l);
            dq += usize::from(matches!(l, LmLinear::Grouped { .. }));
        }
    }
    let gather = gr.model.graph.node.iter().find(|n| n.name == "tok_embeddings").expect("embedding Gather");
    assert_eq!(gather.op_type, "Gather");
    assert_eq!(gather.input[1], INPUT_IDS);
    let l = c.n_layers;
    assert_eq!(gr.count("MatMul"), 9 * l + 1, "7 Linears and 2 attention products per block, the head");
    assert_eq!(gr.count("DequantizeLinear"), dq);
    assert_eq!(gr.count("QuantizeLinear"), qn);
    assert_eq!(gr.count("Softmax"), l);
    assert_eq!(gr.count("Trilu"), 1);
    assert_eq!(gr.count("ReduceMean"), 2 * l + 1, "one per RMSNorm");
    assert_eq!(gr.count("Sigmoid"), l);
    let kv_gathers = if c.n_kv_heads < c.n_heads { 2 * l } else { 0 };
    assert_eq!(gr.count("Gather"), 1 + 2 * l + kv_gathers, "embedding, rope swaps, kv-head repeats");
    // Weights + 2 norms per block + final norm + 2 rope tables + the Trilu diagonal.
    let own = gr.inits.keys().filter(|k| !k.starts_with("const_")).count();
    assert_eq!(own, weights + 2 * l + 1 + 2 + 1, "initializers");
    // The rope tables hold qplay's angles, interleaved: cos θ at 2i and 2i+1, −sin / +sin.
    let (hd, half) = (c.head_dim(), c.head_dim() / 2);
    let cos = f32s_of(gr.init("rope.cos"));
    let sin = f32s_of(gr.init("rope.sin"));
    for pos in [0, 1, c.seq_len - 1] {
        for i in [0, half - 1] {
            let theta = pos as f64 / (c.rope_theta as f64).powf(2.0 * i as f64 / hd as f64);
            assert!((cos[pos * hd + 2 * i] as f64 - theta.cos()).abs() < 1e-6);
            assert_eq!(cos[pos * hd + 2 * i], cos[pos * hd + 2 * i + 1]);
            assert!((sin[pos * hd + 2 * i + 1] as f64 - theta.sin()).abs() < 1e-6);
            assert_eq!(sin[pos * hd + 2 * i], -sin[pos * hd + 2 * i + 1]);
        }
    }
}

// ---------- qplay's own figures for the ONNX Runtime check ----------

fn logits_of(m: &LmModel, ids: &[u32]) -> Vec<f32> {
    let mut cache = KvCache::new(&m.config, KvFormat::F32).unwrap();
    m.forward(ids, &mut cache, false, &mut NoProbe).unwrap()
}

/// Writes `<model>.<case>.onnx` and `<model>.<case>.json` (qplay's logits for `seqs`, its perplexity
/// on `eval_ids`, the layers' formats).
/// Static activation scales are calibrated on `eval_ids` (any text will do: ONNX Runtime is held
/// against qplay on the same quantized model).
fn export_case(model: &str, case: &str, w: &LmWeights, c: &LmQuantConfig, seqs: &[Vec<u32>], eval_ids: &[u32]) {
    let q = if c.static_scales() { quantize_with_method(w, c, eval_ids, &mut |_, _| {}).unwrap().quantized } else { quantize_lm(w, c).unwrap() };
    if c.static_scales() {
        assert!(q.model.blocks.iter().all(|b| b.linears().iter().all(|(_, l)| l.act_scale().is_some())), "{case}: every block Linear has its static scale");
    }
    let bytes = write_lm_onnx(&q).unwrap();
    check_export(&bytes, &q);
    let dir = out_dir();
    let onnx = format!("{model}.{case}.onnx");
    std::fs::write(dir.join(&onnx), &bytes).unwrap();
    let logits: Vec<Vec<f32>> = seqs.iter().map(|s| logits_of(&q.model, s)).collect();
    let ppl = perplexity(&q.model, eval_ids, KvFormat::F32, |_, _| {}).unwrap();
    let json = serde_json::json!({
        "model": model, "case": case, "label": c.label(), "onnx": onnx,
        "vocab_size": w.config.vocab_size, "seq_len": w.config.seq_len,
        "int8_acts": c.int8_acts, "weights": c.weights.name(),
        "layers": q.layers.iter().map(|l| serde_json::json!([l.name, l.format, l.engine])).collect::<Vec<_>>(),
        "sequences": seqs, "logits": logits,
        "eval_ids": format!("{model}.eval_ids.json"),
        "perplexity": ppl.perplexity, "nll": ppl.nll, "predictions": ppl.tokens,
        "onnx_bytes": bytes.len(), "weight_bytes": q.model.weight_bytes(),
    });
    std::fs::write(dir.join(format!("{model}.{case}.json")), serde_json::to_string(&json).unwrap()).unwrap();
    println!("{model} {case:<20} {:>9} bytes  qplay perplexity {:.4} over {}", bytes.len(), ppl.perplexity, ppl.tokens);
}

fn write_ids(model: &str, ids: &[u32]) {
    std::fs::write(out_dir().join(format!("{model}.eval_ids.json")), serde_json::to_string(ids).unwrap()).unwrap();
}

#[test]
fn exports_random_small() {
    let w = load("tests/fixtures/lm/random_small.safetensors");
    let v = w.config.vocab_size as u32;
    // The random model has no alphabet: the validation ids folded into its vocabulary (id mod V).
    let ids: Vec<u32> = shakespeare_val_ids().iter().map(|&t| t % v).collect();
    write_ids("random_small", &ids);
    let seqs = vec![ids[..1].to_vec(), ids[40..47].to_vec(), ids[100..100 + w.config.seq_len].to_vec()];
    for (case, c) in main_cases().into_iter().chain(extra_cases()) {
        export_case("random_small", case, &w, &c, &seqs, &ids);
    }
}

#[test]
fn exports_random_small_tied() {
    // A tied model (the head is the embedding) with as many kv heads as heads (no repeat).
    let w = load("tests/fixtures/lm/random_small_tied.safetensors");
    let v = w.config.vocab_size as u32;
    let ids: Vec<u32> = shakespeare_val_ids().iter().map(|&t| t % v).collect();
    write_ids("random_small_tied", &ids);
    let seqs = vec![ids[..5].to_vec(), ids[200..200 + w.config.seq_len].to_vec()];
    let mut all = cfg(LmWeightFormat::Q4_0, 4, 0, false);
    all.skip.clear();
    for (case, c) in [("fp32", LmQuantConfig::default()), ("q4_0-all", all)] {
        export_case("random_small_tied", case, &w, &c, &seqs, &ids);
    }
}

#[test]
fn exports_shakespeare() {
    let w = load("www/models/shakespeare.safetensors");
    let ids = shakespeare_val_ids();
    assert_eq!(ids.len(), EVAL_TOKENS);
    write_ids("shakespeare", &ids);
    let seqs = vec![ids[..1].to_vec(), ids[100..117].to_vec(), ids[1000..1000 + w.config.seq_len].to_vec()];
    for (case, c) in main_cases() {
        export_case("shakespeare", case, &w, &c, &seqs, &ids);
    }
}

// ---------- what cannot be exported ----------

fn small_q(c: &LmQuantConfig) -> QuantizedLm {
    quantize_lm(&load("tests/fixtures/lm/random_small.safetensors"), c).unwrap()
}

fn export_error(m: &LmModel) -> String {
    match write_lm_model_onnx(m, &LmQuantConfig::default()) {
        Err(FormatError::Export(msg)) => msg,
        Err(e) => panic!("not an export error: {e}"),
        Ok(_) => panic!("a broken model was exported"),
    }
}

#[test]
fn refuses_models_it_cannot_express() {
    let base = small_q(&cfg(LmWeightFormat::Rtn, 4, 32, false));

    // Too few scales for the integers: the grouped weights' invariants fail.
    let mut m = base.model.clone();
    if let LmLinear::Grouped { w, .. } = &mut m.blocks[1].wk {
        w.scale.pop();
    }
    let e = export_error(&m);
    assert!(e.contains("layers.1.attention.wk"), "{e}");

    // A NaN scale.
    let mut m = base.model.clone();
    if let LmLinear::Grouped { w, .. } = &mut m.blocks[0].w2 {
        w.scale[3] = f32::NAN;
    }
    let e = export_error(&m);
    assert!(e.contains("layers.0.feed_forward.w2") && e.contains("NaN"), "{e}");

    // 4-bit integers in groups of 16 (not whole blocks of 32): no valid grouped layout.
    let mut m = base.model.clone();
    if let LmLinear::Grouped { w, .. } = &mut m.blocks[0].wq {
        w.group = 16;
        w.scale = vec![0.1; w.n * w.k / 16];
    }
    let e = export_error(&m);
    assert!(e.contains("layers.0.attention.wq"), "{e}");

    // A Linear whose shape disagrees with the configuration.
    let mut m = base.model.clone();
    m.blocks[0].w3 = LmLinear::f32(&vec![0.0; 8 * 32], 8, 32);
    let e = export_error(&m);
    assert!(e.contains("layers.0.feed_forward.w3") && e.contains("[8, 32]"), "{e}");

    // Float storage shorter than its shape says.
    let mut m = base.model.clone();
    if let LmLinear::Float { plain, .. } = &mut m.output {
        plain.truncate(10);
    }
    let e = export_error(&m);
    assert!(e.contains("layer output"), "{e}");

    // The embedding table, a norm and the block count.
    let mut m = base.model.clone();
    m.embedding = Embedding::F32(vec![0.0; 7]);
    assert!(export_error(&m).contains("tok_embeddings"));
    let mut m = base.model.clone();
    m.blocks[1].ffn_norm.push(1.0);
    assert!(export_error(&m).contains("layers.1.ffn_norm"));
    let mut m = base.model.clone();
    m.blocks.pop();
    assert!(export_error(&m).contains("1 blocks for 2 layers"));
    let mut m = base.model.clone();
    m.config.n_kv_heads = 3;
    assert!(export_error(&m).contains("n_kv_heads"));
}

#[test]
fn int4_nibbles_follow_the_onnx_layout() {
    use qplay::formats::onnx_lm::linear::pack_nibbles;
    // Element 2j in the low nibble of byte j; an odd count pads the last high nibble with 0.
    assert_eq!(pack_nibbles(&[1, 2, -8, 7, -1]), vec![0x21, 0x78, 0x0F]);
    assert_eq!(pack_nibbles(&[15, 0]), vec![0x0F]);
}

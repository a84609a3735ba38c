//! An FP32 ONNX model → a qplay [`Model`].
//!
//! The graph must be a single chain: one float input, each node computing on the previous node's
//! output (and on constants: initializers or `Constant` nodes), one output at the end. Nodes map to
//! layers as follows (attributes outside these forms are an error naming the node and the value):
//!
//! ```text
//! Gemm(x, B, C)          transA = 0; W = transB ? B : Bᵀ, times alpha; b = beta · C    → Linear
//! MatMul(x, B) [+ Add]   W = Bᵀ; an Add of a constant [out] right after is the bias      → Linear
//! Conv(x, W, B)          group 1, square kernel, equal strides, equal pads, dilation 1   → Conv2d
//!                        (auto_pad VALID, or SAME_* with stride 1 and an odd kernel)
//! BatchNormalization     inference form (epsilon); folded into the layer before it      → BatchNorm
//! MaxPool / AveragePool  square kernel, equal strides, no padding, ceil_mode 0          → MaxPool2d / AvgPool2d
//! GlobalAveragePool      on a square image                                             → AvgPool2d(k = H)
//! Flatten(axis = 1), Reshape to [N, −1] / [N, F], N one of −1, 0, 1 or a fixed input batch → Flatten
//! Softmax                over the features of [N, F] (or, before opset 13, over C·H·W)  → Softmax
//! Relu → ReLU            Identity, Dropout → nothing
//! ```
//!
//! The input's shape comes from the graph input's type: [N, F] or [N, C, H, W]; the batch N may be
//! anything (usually dynamic), every other dimension must be a fixed positive number.
//! Initializers may hold their values in `raw_data` (little-endian) or in the typed fields
//! (`float_data`, `double_data`, `int32_data` for f16 / bf16 bits, `int64_data`); external data is
//! an error. The values decoded so far are counted against `max_params` before each allocation.

use std::collections::{HashMap, HashSet};

use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::tensor_proto::{DataLocation, DataType};
use onnx_protobuf::tensor_shape_proto::dimension;
use onnx_protobuf::type_proto::Value as TypeValue;
use onnx_protobuf::{AttributeProto, GraphProto, Message, ModelProto, NodeProto, TensorProto};
use protobuf::Enum;

use super::MAX_ONNX_BYTES;
use crate::formats::FormatError;
use crate::model::{BatchNorm, Conv2d, Layer, LayerKind, Linear, Model, ModelError, Pool2d, Shape, MAX_INPUT};

fn malformed(message: impl Into<String>) -> FormatError {
    FormatError::Malformed { format: ".onnx", message: message.into() }
}

fn arch(message: impl Into<String>) -> FormatError {
    FormatError::Architecture(message.into())
}

/// Reads an FP32 ONNX model (see the module header); `max_params` limits its parameters.
pub fn read_onnx(bytes: &[u8], max_params: usize) -> Result<Model, FormatError> {
    if bytes.len() > MAX_ONNX_BYTES {
        return Err(FormatError::TooLarge { bytes: bytes.len(), limit: MAX_ONNX_BYTES });
    }
    if bytes.is_empty() {
        return Err(malformed("the file is empty"));
    }
    super::message_counts::check_message_counts(bytes).map_err(malformed)?;
    let model = ModelProto::parse_from_bytes(bytes).map_err(|e| malformed(format!("not a readable ONNX protobuf ({e})")))?;
    let graph = model.graph.as_ref().ok_or_else(|| malformed("the file holds no graph (is it an ONNX model?)"))?;
    // The default domain's opset decides Softmax's default axis. ONNX requires it from IR
    // version 3 on (ONNX Runtime refuses a model without it), and a file cut short just before
    // it would otherwise read with a guessed one.
    let opset = model.opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx").map(|o| o.version);
    let opset = match opset {
        Some(v) => v,
        None if model.ir_version < 3 => super::FP32_OPSET,
        None => return Err(malformed(format!("it declares no opset for the default ONNX domain (opset_import), which IR version {} requires: is the file cut short?", model.ir_version))),
    };
    Reader::new(graph, opset, max_params)?.run()
}

/// The operators of the default domain that [`read_onnx`] reads (the table in the module header).
const READ_OPS: [&str; 15] = [
    "Constant", "Identity", "Dropout", "Relu", "Gemm", "MatMul", "Add", "Conv", "BatchNormalization", "MaxPool", "AveragePool",
    "GlobalAveragePool", "Flatten", "Reshape", "Softmax",
];

struct Reader<'a> {
    graph: &'a GraphProto,
    opset: i64,
    max_params: usize,
    /// Parameters decoded so far.
    params: usize,
    /// Constant values by name: initializers and `Constant` nodes.
    consts: HashMap<&'a str, &'a TensorProto>,
    layers: Vec<Layer>,
    /// The layers' names, and for each name given more than once the next suffix to try: a
    /// graph of n nodes of one name is renamed in O(n), not O(n³).
    names: std::collections::HashSet<String>,
    next_suffix: HashMap<String, usize>,
    /// The shape of the chain's current value (per sample).
    shape: Shape,
    /// The input's batch dimension when the file fixes it (an export traced at batch 4 reshapes
    /// to [4, −1]); None when it is dynamic.
    batch: Option<i64>,
    /// The layer whose output is the current value, when it is a Linear / Conv2d whose bias a
    /// following Add may hold.
    bias_slot: Option<usize>,
    /// Every value a node or the graph's output reads, gathered once (a scan per Dropout was
    /// quadratic in a graph of many Dropouts).
    used: std::collections::HashSet<&'a str>,
}

/// A node's name for messages: its name, else its first output's.
fn label(node: &NodeProto, n: usize) -> String {
    if !node.name.is_empty() {
        node.name.clone()
    } else if let Some(o) = node.output.first().filter(|o| !o.is_empty()) {
        format!("#{n} (output {o})")
    } else {
        format!("#{n}")
    }
}

fn attr<'n>(node: &'n NodeProto, name: &str) -> Option<&'n AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn attr_int(node: &NodeProto, name: &str, default: i64) -> i64 {
    match attr(node, name) {
        Some(a) if a.type_.enum_value() == Ok(AttributeType::INT) => a.i,
        _ => default,
    }
}

fn attr_float(node: &NodeProto, name: &str, default: f32) -> f32 {
    match attr(node, name) {
        Some(a) if a.type_.enum_value() == Ok(AttributeType::FLOAT) => a.f,
        _ => default,
    }
}

fn attr_ints<'n>(node: &'n NodeProto, name: &str) -> Option<&'n [i64]> {
    match attr(node, name) {
        Some(a) if a.type_.enum_value() == Ok(AttributeType::INTS) => Some(&a.ints),
        _ => None,
    }
}

fn attr_str(node: &NodeProto, name: &str) -> String {
    match attr(node, name) {
        Some(a) if a.type_.enum_value() == Ok(AttributeType::STRING) => String::from_utf8_lossy(&a.s).into_owned(),
        _ => String::new(),
    }
}

/// A decoded constant: its shape and values as f32.
struct Floats {
    dims: Vec<usize>,
    values: Vec<f32>,
}

impl<'a> Reader<'a> {
    fn new(graph: &'a GraphProto, opset: i64, max_params: usize) -> Result<Reader<'a>, FormatError> {
        let mut consts: HashMap<&str, &TensorProto> = HashMap::new();
        for t in &graph.initializer {
            // ONNX names each value once; a second initializer of a name would silently replace
            // the first (and be blamed on the node that reads it).
            if consts.insert(t.name.as_str(), t).is_some() {
                return Err(malformed(format!("two initializers are named \"{}\": each value has one name", crate::clip::clip(&t.name, 120))));
            }
        }
        if !graph.sparse_initializer.is_empty() {
            return Err(malformed("sparse initializers are not supported"));
        }
        let (shape, batch) = input_shape(graph, &consts)?;
        let used = graph.node.iter().flat_map(|n| n.input.iter()).chain(graph.output.iter().map(|o| &o.name)).map(String::as_str).collect();
        Ok(Reader { graph, opset, max_params, params: 0, consts, layers: Vec::new(), names: Default::default(), next_suffix: HashMap::new(), shape, batch, bias_slot: None, used })
    }

    fn run(mut self) -> Result<Model, FormatError> {
        let graph = self.graph;
        let input_name = graph.input.iter().find(|i| !self.consts.contains_key(i.name.as_str())).map(|i| i.name.as_str()).unwrap_or("");
        let input_shape = self.shape;
        let mut cur: &str = input_name;
        // Every value is written once (ONNX's single assignment): by a graph input, an
        // initializer or one node's output.
        let mut written: HashSet<&str> = graph.input.iter().map(|i| i.name.as_str()).chain(graph.initializer.iter().map(|t| t.name.as_str())).collect();
        for (n, node) in graph.node.iter().enumerate() {
            let name = label(node, n);
            if let Some(again) = node.output.iter().filter(|o| !o.is_empty()).find(|o| !written.insert(o.as_str())) {
                return Err(malformed(format!("node \"{name}\" writes \"{}\", which the graph already defines: each value is written once", crate::clip::clip(again, 120))));
            }
            let op = node.op_type.as_str();
            if !(node.domain.is_empty() || node.domain == "ai.onnx") {
                return Err(FormatError::UnsupportedOp { op: format!("{}.{op}", node.domain), node: name });
            }
            if !READ_OPS.contains(&op) {
                // Named as an operator qplay does not read before any question of the chain's
                // shape (an If or a Loop reads a condition, not the previous layer's output).
                return Err(FormatError::UnsupportedOp { op: op.into(), node: name });
            }
            if op == "Constant" {
                let out = node.output.first().ok_or_else(|| malformed(format!("Constant node {name} has no output")))?;
                let t = attr(node, "value")
                    .and_then(|a| a.t.as_ref())
                    .ok_or_else(|| arch(format!("Constant node \"{name}\": only a tensor \"value\" is read")))?;
                self.consts.insert(out.as_str(), t);
                continue;
            }
            // Every other node computes on the chain's current value.
            let data = node.input.first().map(String::as_str).unwrap_or("");
            let reads_cur = node.input.iter().any(|i| i == cur);
            if !reads_cur {
                return Err(arch(format!(
                    "node \"{name}\" ({op}) reads \"{data}\", not the output of the node before it: qplay reads models that are a single chain of layers"
                )));
            }
            let out = node
                .output
                .first()
                .filter(|o| !o.is_empty())
                .ok_or_else(|| malformed(format!("node \"{name}\" ({op}) has no output")))?;
            if op != "Add" && data != cur {
                return Err(arch(format!("node \"{name}\" ({op}) takes the previous layer's output as input #{}: it must be the first", node.input.iter().position(|i| i == cur).unwrap_or(0) + 1)));
            }
            self.node(node, &name, op, cur)?;
            cur = out.as_str();
        }
        match &graph.output[..] {
            [o] if o.name == cur => {}
            [o] => return Err(arch(format!("the graph's output \"{}\" is not the last node's output \"{cur}\"", o.name))),
            outs => return Err(arch(format!("the graph has {} outputs: qplay reads models with one", outs.len()))),
        }
        Model::new(input_shape, self.layers, self.max_params).map_err(FormatError::Model)
    }

    /// Appends a layer, tracking the shape (which also checks it against the layer).
    fn push(&mut self, name: &str, kind: LayerKind) -> Result<(), FormatError> {
        // name, else name_2, name_3, … (the first that no layer has).
        let mut unique = name.to_string();
        if self.names.contains(&unique) {
            let k = self.next_suffix.entry(name.to_string()).or_insert(2);
            loop {
                unique = format!("{name}_{k}");
                *k += 1;
                if !self.names.contains(&unique) {
                    break;
                }
            }
        }
        self.names.insert(unique.clone());
        let layer = Layer { name: unique, kind };
        self.shape = layer.output_shape(self.shape).map_err(FormatError::Model)?;
        self.bias_slot = matches!(layer.kind, LayerKind::Linear(_) | LayerKind::Conv2d(_)).then_some(self.layers.len());
        self.layers.push(layer);
        Ok(())
    }

    /// The constant input #i of a node, decoded to f32.
    fn const_input(&mut self, node: &NodeProto, i: usize, name: &str, what: &str) -> Result<Floats, FormatError> {
        let value = node.input.get(i).map(String::as_str).unwrap_or("");
        let t = *self.consts.get(value).ok_or_else(|| {
            arch(format!("{} node \"{name}\": its {what} (\"{value}\") must be a constant (an initializer)", node.op_type))
        })?;
        let dims = tensor_dims(t, value)?;
        let count = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).unwrap_or(usize::MAX);
        // No weight, bias or scale is empty; an empty one's other dimensions (up to 2^31) would
        // size a bias or a layer before any layer check (Gemm B of [0, 2^31 − 1]: a 8 GiB bias).
        if count == 0 {
            return Err(arch(format!("{} node \"{name}\": its {what} (\"{value}\") has an empty dimension: {dims:?}", node.op_type)));
        }
        let budget = self.max_params.saturating_sub(self.params);
        if count > budget {
            // The real count: dims of up to 2^63 each, multiplied in u128 (saturating past it).
            let declared = dims.iter().try_fold(1u128, |a, &d| a.checked_mul(d as u128)).unwrap_or(u128::MAX);
            return Err(FormatError::Model(ModelError::TooLarge { params: (self.params as u128).saturating_add(declared), limit: self.max_params }));
        }
        let values = decode_f32(t, value, count)?;
        self.params += count;
        Ok(Floats { dims, values })
    }

    fn optional_const(&mut self, node: &NodeProto, i: usize, name: &str, what: &str) -> Result<Option<Floats>, FormatError> {
        match node.input.get(i) {
            Some(v) if !v.is_empty() => self.const_input(node, i, name, what).map(Some),
            _ => Ok(None),
        }
    }

    fn node(&mut self, node: &NodeProto, name: &str, op: &str, cur: &str) -> Result<(), FormatError> {
        let bad = |why: String| arch(format!("{op} node \"{name}\": {why}"));
        match op {
            "Identity" => Ok(()),
            "Dropout" => {
                if node.output.iter().skip(1).any(|o| !o.is_empty()) && self.graph_uses(&node.output[1]) {
                    return Err(bad("its mask output is used: only inference Dropout (an identity) is read".into()));
                }
                Ok(())
            }
            "Relu" => self.push(name, LayerKind::Relu),
            "Gemm" => {
                if attr_int(node, "transA", 0) != 0 {
                    return Err(bad("transA = 1 is not supported".into()));
                }
                let trans_b = attr_int(node, "transB", 0) != 0;
                let (alpha, beta) = (attr_float(node, "alpha", 1.0), attr_float(node, "beta", 1.0));
                let b = self.const_input(node, 1, name, "weight B")?;
                let [r, c] = b.dims[..] else {
                    return Err(bad(format!("weight B has shape {:?}: a 2-D weight was expected", b.dims)));
                };
                // W [out, in]: B itself when transB, else Bᵀ.
                let (out, inp) = if trans_b { (r, c) } else { (c, r) };
                let mut w = if trans_b { b.values } else { transpose(&b.values, r, c) };
                if alpha != 1.0 {
                    w.iter_mut().for_each(|v| *v *= alpha);
                }
                let mut bias = vec![0f32; out];
                if let Some(cv) = self.optional_const(node, 2, name, "bias C")? {
                    let src = broadcast_bias(&cv, out, 1).ok_or_else(|| bad(format!("bias C has shape {:?}: [{out}] was expected", cv.dims)))?;
                    for (d, s) in bias.iter_mut().zip(src) {
                        *d = if beta != 1.0 { beta * s } else { s };
                    }
                }
                self.push(name, LayerKind::Linear(Linear { in_features: inp, out_features: out, w, b: bias }))
            }
            "MatMul" => {
                let b = self.const_input(node, 1, name, "weight B")?;
                let [inp, out] = b.dims[..] else {
                    return Err(bad(format!("weight B has shape {:?}: a 2-D weight was expected", b.dims)));
                };
                let w = transpose(&b.values, inp, out);
                self.push(name, LayerKind::Linear(Linear { in_features: inp, out_features: out, w, b: vec![0.0; out] }))
            }
            "Add" => {
                let other = if node.input.first().map(String::as_str) == Some(cur) { 1 } else { 0 };
                let Some(slot) = self.bias_slot else {
                    return Err(FormatError::UnsupportedOp { op: "Add (other than a bias after MatMul, Gemm or Conv)".into(), node: name.into() });
                };
                let add = self.const_input(node, other, name, "addend")?;
                let (out, plane_dims) = match &self.layers[slot].kind {
                    LayerKind::Linear(l) => (l.out_features, 1),
                    LayerKind::Conv2d(c) => (c.out_channels, 3),
                    _ => unreachable!("the bias slot is a Linear or Conv2d"),
                };
                let src = broadcast_bias(&add, out, plane_dims).ok_or_else(|| bad(format!("adds a tensor of shape {:?}, which is not a bias of {out} values", add.dims)))?;
                let b = match &mut self.layers[slot].kind {
                    LayerKind::Linear(l) => &mut l.b,
                    LayerKind::Conv2d(c) => &mut c.b,
                    _ => unreachable!("the bias slot is a Linear or Conv2d"),
                };
                for (d, s) in b.iter_mut().zip(src) {
                    *d += s;
                }
                Ok(())
            }
            "Conv" => {
                let w = self.const_input(node, 1, name, "weight W")?;
                let [oc, ic, kh, kw] = w.dims[..] else {
                    return Err(bad(format!("weight W has shape {:?}: a 4-D weight [out_c, in_c, k, k] was expected (2-D convolutions only)", w.dims)));
                };
                let group = attr_int(node, "group", 1);
                if group != 1 {
                    return Err(bad(format!("group = {group}: only group 1 (a plain convolution) is supported")));
                }
                if kh != kw {
                    return Err(bad(format!("a {kh}×{kw} kernel: only square kernels are supported")));
                }
                if let Some(ks) = attr_ints(node, "kernel_shape") {
                    if ks.len() != 2 || ks.iter().any(|&k| k != kh as i64) {
                        return Err(bad(format!("kernel_shape {ks:?} does not match the weight's {kh}×{kw}")));
                    }
                }
                let stride = equal_pair(node, "strides", 1).map_err(|v| bad(strides_message(&v)))?;
                if let Some(d) = attr_ints(node, "dilations") {
                    if d.iter().any(|&x| x != 1) {
                        return Err(bad(format!("dilations {d:?}: only dilation 1 is supported")));
                    }
                }
                let padding = pads(node, kh, stride).map_err(bad)?;
                let b = match self.optional_const(node, 2, name, "bias B")? {
                    Some(bv) => broadcast_bias(&bv, oc, 1).ok_or_else(|| bad(format!("bias B has shape {:?}: [{oc}] was expected", bv.dims)))?.to_vec(),
                    None => vec![0.0; oc],
                };
                let (stride, padding) = (to_dim(stride, name, "stride")?, to_dim(padding, name, "padding")?);
                self.push(name, LayerKind::Conv2d(Conv2d { in_channels: ic, out_channels: oc, kernel: kh, stride, padding, w: w.values, b }))
            }
            "BatchNormalization" => {
                if attr_int(node, "training_mode", 0) != 0 {
                    return Err(bad("training_mode = 1: only the inference form is read".into()));
                }
                let eps = attr_float(node, "epsilon", 1e-5);
                let gamma = self.const_input(node, 1, name, "scale")?.values;
                let beta = self.const_input(node, 2, name, "bias")?.values;
                let mean = self.const_input(node, 3, name, "mean")?.values;
                let var = self.const_input(node, 4, name, "var")?.values;
                // Folding divides by √(var + ε): it must be a positive number for every channel.
                if let Some(i) = var.iter().position(|v| !(v + eps > 0.0 && (v + eps).is_finite())) {
                    return Err(bad(format!("channel {i} has var + epsilon = {} + {eps}, not a positive number", var[i])));
                }
                self.push(name, LayerKind::BatchNorm(BatchNorm { gamma, beta, mean, var, eps }))
            }
            "MaxPool" | "AveragePool" => {
                if node.output.iter().skip(1).any(|o| !o.is_empty()) {
                    return Err(bad("its Indices output is not supported".into()));
                }
                let Some(ks) = attr_ints(node, "kernel_shape") else {
                    return Err(bad("no kernel_shape".into()));
                };
                let &[kh, kw] = ks else {
                    return Err(bad(format!("kernel_shape {ks:?}: only 2-D pooling is supported")));
                };
                if kh != kw {
                    return Err(bad(format!("a {kh}×{kw} window: only square windows are supported")));
                }
                let stride = equal_pair(node, "strides", 1).map_err(|v| bad(strides_message(&v)))?;
                if attr_int(node, "ceil_mode", 0) != 0 {
                    return Err(bad("ceil_mode = 1 is not supported".into()));
                }
                if let Some(d) = attr_ints(node, "dilations") {
                    if d.iter().any(|&x| x != 1) {
                        return Err(bad(format!("dilations {d:?}: only dilation 1 is supported")));
                    }
                }
                if pads(node, kh.max(1) as usize, stride).map_err(bad)? != 0 {
                    return Err(bad("padding is not supported in pooling".into()));
                }
                let p = Pool2d { kernel: to_dim(kh, name, "kernel")?, stride: to_dim(stride, name, "stride")? };
                self.push(name, if op == "MaxPool" { LayerKind::MaxPool2d(p) } else { LayerKind::AvgPool2d(p) })
            }
            "GlobalAveragePool" => match self.shape {
                Shape::Chw(_, h, w) if h == w => self.push(name, LayerKind::AvgPool2d(Pool2d { kernel: h, stride: 1 })),
                s => Err(bad(format!("its input is {s}: only a square image is supported"))),
            },
            "Flatten" => {
                let rank = self.rank();
                let axis = attr_int(node, "axis", 1);
                let axis = if axis < 0 { axis + rank } else { axis };
                if axis != 1 {
                    return Err(bad(format!("axis {axis}: only axis 1 (keep the batch, flatten the rest) is supported")));
                }
                self.push(name, LayerKind::Flatten)
            }
            "Reshape" => {
                let value = node.input.get(1).map(String::as_str).unwrap_or("");
                let t = *self.consts.get(value).ok_or_else(|| bad(format!("its shape (\"{value}\") must be a constant")))?;
                let target = decode_i64(t, value)?;
                let features = self.shape.len() as i64;
                // N: −1, 0 (copy), 1, or the batch the input fixes (a model traced at batch 4).
                let flattening = match target[..] {
                    [n, f] => ((-1..=1).contains(&n) || Some(n) == self.batch) && (f == -1 || f == features),
                    _ => false,
                };
                if !flattening {
                    let fixed = self.batch.map_or(String::new(), |b| format!(", [{b}, -1] (the input's fixed batch)"));
                    return Err(bad(format!(
                        "to {target:?}: only flattening each sample ([N, -1], [-1, {features}], [0, -1], [1, -1]{fixed}) is supported"
                    )));
                }
                self.push(name, LayerKind::Flatten)
            }
            "Softmax" => {
                let rank = self.rank();
                let axis = attr_int(node, "axis", if self.opset >= 13 { -1 } else { 1 });
                let axis = if axis < 0 { axis + rank } else { axis };
                // Before opset 13 Softmax flattens from `axis` on: axis 1 is over the whole sample.
                let whole_sample = axis == rank - 1 && rank == 2 || self.opset < 13 && axis == 1;
                if !whole_sample {
                    return Err(bad(format!(
                        "axis {axis} on a rank-{rank} input: only a Softmax over each sample's features is supported (flatten first)"
                    )));
                }
                self.push(name, LayerKind::Softmax)
            }
            _ => Err(FormatError::UnsupportedOp { op: op.into(), node: name.into() }),
        }
    }

    fn rank(&self) -> i64 {
        match self.shape {
            Shape::Flat(_) => 2,
            Shape::Chw(..) => 4,
        }
    }

    /// Whether any node or the graph's output reads `value`.
    fn graph_uses(&self, value: &str) -> bool {
        self.used.contains(value)
    }
}

/// The per-sample input shape from the graph's one non-constant input.
/// The input's per-sample shape, and its batch dimension when the file fixes one.
fn input_shape(graph: &GraphProto, consts: &HashMap<&str, &TensorProto>) -> Result<(Shape, Option<i64>), FormatError> {
    let inputs: Vec<_> = graph.input.iter().filter(|i| !consts.contains_key(i.name.as_str())).collect();
    let [input] = inputs[..] else {
        let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
        return Err(arch(format!("the graph has {} inputs ({}): qplay reads models with one", names.len(), names.join(", "))));
    };
    let name = &input.name;
    let tensor = match input.type_.as_ref().and_then(|t| t.value.as_ref()) {
        Some(TypeValue::TensorType(t)) => t,
        _ => return Err(arch(format!("input \"{name}\" is not a tensor"))),
    };
    if tensor.elem_type != DataType::FLOAT as i32 {
        return Err(arch(format!("input \"{name}\" has element type #{}: only float (FP32) inputs are read", tensor.elem_type)));
    }
    let dims = &tensor.shape.as_ref().ok_or_else(|| arch(format!("input \"{name}\" has no shape")))?.dim;
    let mut fixed = Vec::new();
    for (i, d) in dims.iter().enumerate().skip(1) {
        match d.value {
            Some(dimension::Value::DimValue(v)) if v > 0 && v as u64 <= MAX_INPUT as u64 => fixed.push(v as usize),
            Some(dimension::Value::DimValue(v)) => return Err(arch(format!("input \"{name}\": dimension {i} is {v}"))),
            Some(dimension::Value::DimParam(ref p)) => {
                return Err(arch(format!(
                    "input \"{name}\": dimension {i} is dynamic (\"{p}\"): only the batch dimension (the first) may be; export the model with a fixed input size"
                )))
            }
            _ => {
                return Err(arch(format!(
                    "input \"{name}\": dimension {i} has no size: only the batch dimension (the first) may be dynamic"
                )))
            }
        }
    }
    // Each dimension is at most MAX_INPUT; so is a sample, counted in u128 (on wasm32 a product
    // of three such dimensions would pass usize).
    let per_sample: u128 = fixed.iter().map(|&d| d as u128).product();
    if per_sample > MAX_INPUT as u128 {
        return Err(arch(format!("input \"{name}\" of shape {fixed:?} holds {per_sample} values a sample: qplay reads inputs of up to {MAX_INPUT}")));
    }
    let batch = match dims.first().and_then(|d| d.value.as_ref()) {
        Some(dimension::Value::DimValue(v)) if *v > 0 => Some(*v),
        _ => None,
    };
    match (dims.len(), &fixed[..]) {
        (2, &[f]) => Ok((Shape::Flat(f), batch)),
        (4, &[c, h, w]) => Ok((Shape::Chw(c, h, w), batch)),
        (r, _) => Err(arch(format!("input \"{name}\" has rank {r}: [N, features] or [N, C, H, W] is read"))),
    }
}

/// W [r, c] → Wᵀ [c, r].
fn transpose(w: &[f32], r: usize, c: usize) -> Vec<f32> {
    let mut t = vec![0f32; w.len()];
    for i in 0..r {
        for j in 0..c {
            t[j * r + i] = w[i * c + j];
        }
    }
    t
}

/// The `out` values of a bias from a constant of shape [out] (or [1, out], or [1] / [] broadcast);
/// with `trailing` = 3 (Conv), also [out, 1, 1] and [1, out, 1, 1].
fn broadcast_bias(t: &Floats, out: usize, trailing: usize) -> Option<Vec<f32>> {
    let mut dims: &[usize] = &t.dims;
    while dims.first() == Some(&1) && dims.len() > 1 {
        dims = &dims[1..];
    }
    let per_channel = match trailing {
        1 => dims == [out],
        _ => dims == [out, 1, 1] || (dims == [out] && out == 1),
    };
    if per_channel {
        Some(t.values.clone())
    } else if t.values.len() == 1 {
        Some(vec![t.values[0]; out])
    } else {
        None
    }
}

/// Why `strides` are refused: a stride below 1 (which no operator has), or two unequal ones.
fn strides_message(v: &[i64]) -> String {
    if v.iter().any(|&s| s < 1) {
        format!("strides {v:?}: a stride is at least 1")
    } else {
        format!("strides {v:?}: only equal strides on both axes are supported")
    }
}

/// An attribute of two equal values (strides), defaulting to `default`; Err(the values) otherwise.
fn equal_pair(node: &NodeProto, name: &str, default: i64) -> Result<i64, Vec<i64>> {
    match attr_ints(node, name) {
        None => Ok(default),
        Some(&[a, b]) if a == b && a > 0 => Ok(a),
        Some(v) => Err(v.to_vec()),
    }
}

/// The padding on every side, from `pads` ([top, left, bottom, right], all equal) or `auto_pad`.
fn pads(node: &NodeProto, kernel: usize, stride: i64) -> Result<i64, String> {
    match attr_str(node, "auto_pad").as_str() {
        "" | "NOTSET" => {}
        "VALID" => return Ok(0),
        // SAME keeps the size at stride 1: an odd kernel k pads (k − 1) / 2 on every side.
        "SAME_UPPER" | "SAME_LOWER" if stride == 1 && kernel % 2 == 1 => return Ok((kernel / 2) as i64),
        other => return Err(format!("auto_pad {other} is only supported with stride 1 and an odd kernel")),
    }
    match attr_ints(node, "pads") {
        None => Ok(0),
        Some(p) if p.len() == 4 && p.iter().all(|&x| x == p[0]) && p[0] >= 0 => Ok(p[0]),
        Some(p) => Err(format!("pads {p:?}: only the same padding on every side is supported")),
    }
}

fn to_dim(v: i64, node: &str, what: &str) -> Result<usize, FormatError> {
    usize::try_from(v).ok().filter(|&d| d <= crate::model::layer::MAX_DIM).ok_or_else(|| arch(format!("node \"{node}\": {what} {v} is out of range")))
}

/// A tensor's dimensions, each in [0, 2^31).
fn tensor_dims(t: &TensorProto, name: &str) -> Result<Vec<usize>, FormatError> {
    if t.data_location.enum_value() == Ok(DataLocation::EXTERNAL) || !t.external_data.is_empty() {
        return Err(arch(format!(
            "tensor \"{name}\" keeps its values in a separate file: save the model with its weights inside (onnx.save_model(m, path, save_as_external_data=False))"
        )));
    }
    if t.segment.is_some() {
        return Err(malformed(format!("tensor \"{name}\" is split into segments")));
    }
    t.dims
        .iter()
        .map(|&d| usize::try_from(d).ok().filter(|&d| d < 1 << 31).ok_or_else(|| malformed(format!("tensor \"{name}\" has a dimension of {d}"))))
        .collect()
}

/// `count` values of a tensor as f32, from `raw_data` (little-endian) or the typed field.
fn decode_f32(t: &TensorProto, name: &str, count: usize) -> Result<Vec<f32>, FormatError> {
    let raw = &t.raw_data;
    let mismatch = |found: usize| FormatError::ShapeMismatch { expected: count, found };
    // Raw bytes of N-byte elements → f32.
    fn each<const N: usize>(raw: &[u8], count: usize, f: impl Fn([u8; N]) -> f32) -> Result<Vec<f32>, FormatError> {
        if raw.len() != count.saturating_mul(N) {
            return Err(FormatError::ShapeMismatch { expected: count, found: raw.len() / N });
        }
        Ok(raw.chunks_exact(N).map(|c| f(c.try_into().expect("chunks of N bytes"))).collect())
    }
    let typed = |len: usize| if len == count { Ok(()) } else { Err(mismatch(len)) };
    let dt = DataType::from_i32(t.data_type);
    let from_raw = !raw.is_empty();
    Ok(match dt {
        Some(DataType::FLOAT) if from_raw => each(raw, count, f32::from_le_bytes)?,
        Some(DataType::FLOAT) => typed(t.float_data.len()).map(|_| t.float_data.clone())?,
        Some(DataType::DOUBLE) if from_raw => each(raw, count, |b| f64::from_le_bytes(b) as f32)?,
        Some(DataType::DOUBLE) => typed(t.double_data.len()).map(|_| t.double_data.iter().map(|&v| v as f32).collect())?,
        Some(DataType::FLOAT16) if from_raw => each(raw, count, |b| half::f16::from_le_bytes(b).to_f32())?,
        Some(DataType::BFLOAT16) if from_raw => each(raw, count, |b| half::bf16::from_le_bytes(b).to_f32())?,
        Some(DataType::FLOAT16) => typed(t.int32_data.len()).map(|_| t.int32_data.iter().map(|&v| half::f16::from_bits(v as u16).to_f32()).collect())?,
        Some(DataType::BFLOAT16) => typed(t.int32_data.len()).map(|_| t.int32_data.iter().map(|&v| half::bf16::from_bits(v as u16).to_f32()).collect())?,
        Some(DataType::INT8) if from_raw => each(raw, count, |b: [u8; 1]| b[0] as i8 as f32)?,
        Some(DataType::UINT8) if from_raw => each(raw, count, |b: [u8; 1]| b[0] as f32)?,
        Some(DataType::INT16) if from_raw => each(raw, count, |b| i16::from_le_bytes(b) as f32)?,
        Some(DataType::INT32) if from_raw => each(raw, count, |b| i32::from_le_bytes(b) as f32)?,
        Some(DataType::INT8 | DataType::UINT8 | DataType::INT16 | DataType::INT32) => {
            typed(t.int32_data.len()).map(|_| t.int32_data.iter().map(|&v| v as f32).collect())?
        }
        Some(DataType::INT64) if from_raw => each(raw, count, |b| i64::from_le_bytes(b) as f32)?,
        Some(DataType::INT64) => typed(t.int64_data.len()).map(|_| t.int64_data.iter().map(|&v| v as f32).collect())?,
        // In the ONNX file's own terms (the dtype message speaks of NumPy arrays).
        _ => {
            let kind = dt.map_or_else(|| format!("#{}", t.data_type), |d| format!("{d:?}"));
            return Err(arch(format!(
                "tensor \"{name}\" holds ONNX data type {kind}: qplay reads weights of FLOAT, DOUBLE, FLOAT16, BFLOAT16 and INT8 to INT64"
            )));
        }
    })
}

/// A small integer tensor (a Reshape's shape): int64 or int32, at most 8 values.
fn decode_i64(t: &TensorProto, name: &str) -> Result<Vec<i64>, FormatError> {
    let dims = tensor_dims(t, name)?;
    let count = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).unwrap_or(usize::MAX);
    if count > 8 {
        return Err(arch(format!("the shape tensor \"{name}\" has {count} values")));
    }
    let raw = &t.raw_data;
    let values: Vec<i64> = match DataType::from_i32(t.data_type) {
        Some(DataType::INT64) if !raw.is_empty() => raw.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes"))).collect(),
        Some(DataType::INT64) => t.int64_data.clone(),
        Some(DataType::INT32) if !raw.is_empty() => raw.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")) as i64).collect(),
        Some(DataType::INT32) => t.int32_data.iter().map(|&v| v as i64).collect(),
        _ => return Err(arch(format!("the shape tensor \"{name}\" is not int64"))),
    };
    if values.len() != count {
        return Err(FormatError::ShapeMismatch { expected: count, found: values.len() });
    }
    Ok(values)
}

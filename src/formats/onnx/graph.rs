//! Building an ONNX graph: initializers (little-endian `raw_data`), nodes with attributes,
//! unique value names, and the model around them. Shared by the FP32 and QDQ writers.

use std::collections::HashSet;

use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::tensor_proto::DataType;
use onnx_protobuf::tensor_shape_proto::{dimension, Dimension};
use onnx_protobuf::type_proto::{self, Value as TypeValue};
use onnx_protobuf::{
    AttributeProto, GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};
use protobuf::{EnumOrUnknown, MessageField};

use super::BATCH_DIM;
use crate::model::Shape;

/// An attribute of a node.
pub enum Attr {
    Int(i64),
    Ints(Vec<i64>),
    Float(f32),
}

/// The integer types a quantized tensor is stored in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntType {
    I8,
    U8,
    I16,
    U16,
}

impl IntType {
    /// The smallest type that holds every integer in [lo, hi]: 8 bits before 16, signed before unsigned.
    pub fn holding(lo: i32, hi: i32) -> Option<IntType> {
        [IntType::I8, IntType::U8, IntType::I16, IntType::U16].into_iter().find(|t| {
            let (a, b) = t.range();
            a <= lo && hi <= b
        })
    }

    /// The type's own [min, max].
    pub fn range(self) -> (i32, i32) {
        match self {
            IntType::I8 => (i8::MIN as i32, i8::MAX as i32),
            IntType::U8 => (0, u8::MAX as i32),
            IntType::I16 => (i16::MIN as i32, i16::MAX as i32),
            IntType::U16 => (0, u16::MAX as i32),
        }
    }

    pub fn data_type(self) -> DataType {
        match self {
            IntType::I8 => DataType::INT8,
            IntType::U8 => DataType::UINT8,
            IntType::I16 => DataType::INT16,
            IntType::U16 => DataType::UINT16,
        }
    }

    /// Little-endian bytes of `v`, which must lie in [`IntType::range`] (checked by the caller).
    fn bytes(self, values: &[i32]) -> Vec<u8> {
        match self {
            IntType::I8 => values.iter().map(|&v| v as i8 as u8).collect(),
            IntType::U8 => values.iter().map(|&v| v as u8).collect(),
            IntType::I16 => values.iter().flat_map(|&v| (v as i16).to_le_bytes()).collect(),
            IntType::U16 => values.iter().flat_map(|&v| (v as u16).to_le_bytes()).collect(),
        }
    }
}

/// A graph under construction.
#[derive(Default)]
pub struct GraphBuilder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    names: HashSet<String>,
}

fn dims(shape: &[usize]) -> Vec<i64> {
    shape.iter().map(|&d| d as i64).collect()
}

impl GraphBuilder {
    /// `base`, or `base_2`, `base_3`, … if taken: every value and node name in the graph is unique.
    pub fn unique(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut n = 1;
        while self.names.contains(&name) {
            n += 1;
            name = format!("{base}_{n}");
        }
        self.names.insert(name.clone());
        name
    }

    /// An initializer of any type from its little-endian `raw_data`; returns its (unique) name.
    pub(crate) fn push_init(&mut self, base: &str, shape: &[usize], data_type: DataType, raw: Vec<u8>) -> String {
        let name = self.unique(base);
        self.initializers.push(TensorProto {
            name: name.clone(),
            dims: dims(shape),
            data_type: data_type as i32,
            raw_data: raw,
            ..Default::default()
        });
        name
    }

    /// An f32 initializer; returns its (unique) name.
    pub fn init_f32(&mut self, base: &str, shape: &[usize], values: &[f32]) -> String {
        self.push_init(base, shape, DataType::FLOAT, values.iter().flat_map(|v| v.to_le_bytes()).collect())
    }

    /// An int64 initializer (shapes for Reshape).
    pub fn init_i64(&mut self, base: &str, shape: &[usize], values: &[i64]) -> String {
        self.push_init(base, shape, DataType::INT64, values.iter().flat_map(|v| v.to_le_bytes()).collect())
    }

    /// An integer initializer of type `ty`; every value must lie in `ty`'s range.
    pub fn init_int(&mut self, base: &str, shape: &[usize], ty: IntType, values: &[i32]) -> String {
        self.push_init(base, shape, ty.data_type(), ty.bytes(values))
    }

    /// A node with one output; returns the output's name (`<name>` made unique).
    pub fn node(&mut self, op: &str, name: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>) -> String {
        let node_name = self.unique(name);
        let output = self.unique(&format!("{node_name}:0"));
        let attribute = attrs
            .into_iter()
            .map(|(n, a)| {
                let mut p = AttributeProto { name: n.to_string(), ..Default::default() };
                match a {
                    Attr::Int(i) => {
                        p.type_ = EnumOrUnknown::new(AttributeType::INT);
                        p.i = i;
                    }
                    Attr::Ints(v) => {
                        p.type_ = EnumOrUnknown::new(AttributeType::INTS);
                        p.ints = v;
                    }
                    Attr::Float(f) => {
                        p.type_ = EnumOrUnknown::new(AttributeType::FLOAT);
                        p.f = f;
                    }
                }
                p
            })
            .collect();
        self.nodes.push(NodeProto {
            name: node_name,
            op_type: op.to_string(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.clone()],
            attribute,
            ..Default::default()
        });
        output
    }

    /// The nodes (in the order they were added) and the initializers, for a writer that
    /// assembles its own model around them (other inputs, outputs or metadata).
    pub(crate) fn into_parts(self) -> (Vec<NodeProto>, Vec<TensorProto>) {
        (self.nodes, self.initializers)
    }

    /// The model: `input` → … → `output` (float tensors of the given per-sample shapes, with the
    /// dynamic batch dimension first), at `opset` / `ir_version`. The output value is renamed
    /// `"output"` (when the name is free and a node produces it).
    pub fn finish(mut self, input: (&str, Shape), output: (&str, Shape), opset: i64, ir_version: i64, doc: &str) -> Vec<u8> {
        let mut out_name = output.0.to_string();
        if !self.names.contains("output") {
            if let Some(n) = self.nodes.iter_mut().find(|n| n.output.contains(&out_name)) {
                for o in n.output.iter_mut().filter(|o| **o == out_name) {
                    *o = "output".into();
                }
                out_name = "output".into();
            }
        }
        let graph = GraphProto {
            name: "qplay".into(),
            node: std::mem::take(&mut self.nodes),
            initializer: std::mem::take(&mut self.initializers),
            input: vec![shape_info(input.0, input.1)],
            output: vec![shape_info(&out_name, output.1)],
            ..Default::default()
        };
        let model = ModelProto {
            ir_version,
            opset_import: vec![OperatorSetIdProto { domain: String::new(), version: opset, ..Default::default() }],
            producer_name: "qplay".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            doc_string: doc.into(),
            graph: MessageField::some(graph),
            ..Default::default()
        };
        model.write_to_bytes().expect("an in-memory ONNX model serialises")
    }
}

/// [N, F] or [N, C, H, W] float, N dynamic.
fn shape_info(name: &str, shape: Shape) -> ValueInfoProto {
    let per_sample: Vec<usize> = match shape {
        Shape::Flat(f) => vec![f],
        Shape::Chw(c, h, w) => vec![c, h, w],
    };
    let dims: Vec<Dim> = std::iter::once(Dim::Named(BATCH_DIM)).chain(per_sample.into_iter().map(Dim::Fixed)).collect();
    value_info(name, DataType::FLOAT, &dims)
}

/// One dimension of a graph's input or output: a symbolic name ("batch") or a number.
#[derive(Clone, Copy, Debug)]
pub enum Dim<'a> {
    Named(&'a str),
    Fixed(usize),
}

/// A graph's input or output: `name`, of element type `ty` and shape `dims`.
pub fn value_info(name: &str, ty: DataType, dims: &[Dim]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match *d {
                Dim::Named(p) => dimension::Value::DimParam(p.into()),
                Dim::Fixed(v) => dimension::Value::DimValue(v as i64),
            }),
            ..Default::default()
        })
        .collect();
    let tensor = type_proto::Tensor {
        elem_type: ty as i32,
        shape: MessageField::some(TensorShapeProto { dim, ..Default::default() }),
        ..Default::default()
    };
    ValueInfoProto {
        name: name.into(),
        type_: MessageField::some(TypeProto { value: Some(TypeValue::TensorType(tensor)), ..Default::default() }),
        ..Default::default()
    }
}

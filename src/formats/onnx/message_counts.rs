//! Counting an ONNX file's messages before the protobuf parser builds them.
//!
//! `ModelProto::parse_from_bytes` makes every repeated message it meets: an empty NodeProto is 2
//! bytes in the file (`0a 00`) and some 120 bytes parsed, so 17 MiB of them ask for ~2 GB. An
//! unknown length-delimited field is kept too (a Vec each). This walks the wire format (tags and
//! lengths only, allocating nothing) into every message of ONNX's schema below, counts every
//! length-delimited field it meets (message, string, bytes, packed array or unknown field), and
//! refuses more than [`MAX_MESSAGES`] of them in all:
//!
//! ```text
//! ModelProto         7 graph → Graph · 25 functions → Function · 20 training_info → TrainingInfo
//!                    8 opset_import · 14 metadata_props → Leaf
//! GraphProto         1 node → Node · 5 initializer → Tensor · 15 sparse_initializer → SparseTensor
//!                    11 input · 12 output · 13 value_info → ValueInfo
//!                    14 quantization_annotation → Annotation · 16 metadata_props → Leaf
//! TrainingInfoProto  1 initialization · 2 algorithm → Graph · 3, 4 bindings → Leaf
//! FunctionProto      7 node → Node · 11 attribute_proto → Attribute · 12 value_info → ValueInfo
//!                    9 opset_import · 14 metadata_props → Leaf
//! NodeProto          5 attribute → Attribute · 9 metadata_props · 10 device_configurations → Leaf
//! AttributeProto     6 g · 11 graphs → Graph (nested at most MAX_DEPTH deep) · 5 t · 10 tensors → Tensor
//!                    22 sparse_tensor · 23 sparse_tensors → SparseTensor · 14 tp · 15 type_protos → Type
//! TensorProto        13 external_data · 16 metadata_props → Leaf
//! SparseTensorProto  1 values · 2 indices → Tensor
//! ValueInfoProto     2 type → Type · 4 metadata_props → Leaf
//! TypeProto          1 tensor_type · 8 sparse_tensor_type → TensorType · 4 sequence_type ·
//!                    9 optional_type → ElemType · 5 map_type → MapType
//! TensorType         2 shape → Shape;  Shape 1 dim → Leaf;  ElemType 1 → Type;  MapType 2 → Type
//! Annotation         2 quant_parameter_tensor_names → Leaf
//! ```
//!
//! Every other length-delimited field of these messages, and every field of a Leaf (a dimension,
//! a key-value pair, an opset id), is counted without being walked. Protobuf groups, which ONNX
//! does not use and the parser skips, are refused: a group would hide what follows it from this
//! walk. A walked message whose field declares more bytes than the message has left is a file cut
//! short (the protobuf parser reads such a file up to its last whole field and does not say so).
//! Other bytes that are not well-formed wire data end the walk: the parser then names the problem.

/// Most messages and strings counted in a file (the largest vision models have a few thousand).
pub const MAX_MESSAGES: usize = 1 << 18;
/// Deepest nesting of graphs inside attributes (If / Loop bodies).
pub const MAX_DEPTH: usize = 8;
/// Deepest nesting of messages in all (the protobuf parser's own recursion limit is 100).
pub const MAX_NESTING: usize = 64;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Model,
    Graph,
    TrainingInfo,
    Function,
    Node,
    Attribute,
    Tensor,
    SparseTensor,
    ValueInfo,
    Type,
    TensorType,
    Shape,
    ElemType,
    MapType,
    Annotation,
    Leaf,
}

/// The message a length-delimited field of `kind` holds, when it is one this walk goes into.
fn message_of(kind: Kind, number: u64) -> Option<Kind> {
    use Kind::*;
    Some(match (kind, number) {
        (Model, 7) | (TrainingInfo, 1 | 2) | (Attribute, 6 | 11) => Graph,
        (Model, 25) => Function,
        (Model, 20) => TrainingInfo,
        (Model, 8 | 14) | (Graph, 16) | (TrainingInfo, 3 | 4) | (Function, 9 | 14) | (Node, 9 | 10) | (Tensor, 13 | 16) | (ValueInfo, 4) | (Shape, 1) | (Annotation, 2) => Leaf,
        (Graph, 1) | (Function, 7) => Node,
        (Graph, 5) | (Attribute, 5 | 10) | (SparseTensor, 1 | 2) => Tensor,
        (Graph, 15) | (Attribute, 22 | 23) => SparseTensor,
        (Graph, 11..=13) | (Function, 12) => ValueInfo,
        (Graph, 14) => Annotation,
        (Function, 11) | (Node, 5) => Attribute,
        (Attribute, 14 | 15) | (ValueInfo, 2) | (ElemType, 1) | (MapType, 2) => Type,
        (Type, 1 | 8) => TensorType,
        (Type, 4 | 9) => ElemType,
        (Type, 5) => MapType,
        (TensorType, 2) => Shape,
        _ => return None,
    })
}

/// Fails with a message when the file holds more than [`MAX_MESSAGES`] length-delimited fields
/// in the messages above, graphs nested deeper than [`MAX_DEPTH`] or messages deeper than
/// [`MAX_NESTING`], a protobuf group, or a length past the end of its message.
pub fn check_message_counts(bytes: &[u8]) -> Result<(), String> {
    let mut count = 0usize;
    // Depth first with an explicit stack of (kind, the bytes left of it, graph depth): a frame
    // per open message, so the stack is as deep as the nesting (at most MAX_NESTING frames), not
    // as long as a graph's node list, and nothing recurses on the file.
    let mut stack = vec![(Kind::Model, bytes, 0usize)];
    while let Some((kind, rest, depth)) = stack.last_mut() {
        let (kind, depth) = (*kind, *depth);
        let at = rest.as_ptr() as usize - bytes.as_ptr() as usize;
        let (number, value) = match next_field(rest) {
            Next::Field(number, value) => (number, value),
            Next::End => {
                stack.pop();
                continue;
            }
            Next::Group => return Err(format!("the field at byte {at} is a protobuf group, which ONNX does not use")),
            Next::CutShort { declared, left } => {
                return Err(format!("it is cut short: the field at byte {at} declares {declared} bytes and {left} are left (a truncated download?)"));
            }
        };
        let Some(sub) = value else { continue };
        count += 1;
        if count > MAX_MESSAGES {
            return Err(format!("the file holds more than {MAX_MESSAGES} nodes, attributes, tensors, names and other fields: qplay reads models with fewer"));
        }
        if let Some(inner) = message_of(kind, number) {
            let depth = depth + usize::from(inner == Kind::Graph && kind == Kind::Attribute);
            if depth > MAX_DEPTH {
                return Err(format!("graphs are nested more than {MAX_DEPTH} deep inside attributes"));
            }
            if stack.len() >= MAX_NESTING {
                return Err(format!("messages are nested more than {MAX_NESTING} deep"));
            }
            stack.push((inner, sub, depth));
        }
    }
    Ok(())
}

/// What comes next in a message.
enum Next<'a> {
    /// A field: its number, and its bytes when length-delimited.
    Field(u64, Option<&'a [u8]>),
    /// The message's end, or bytes that are not wire data.
    End,
    /// The start or end of a group (wire types 3 and 4).
    Group,
    /// A length-delimited field longer than what is left of its message.
    CutShort { declared: u64, left: usize },
}

/// The next field of `rest`, which it then starts after.
fn next_field<'a>(rest: &mut &'a [u8]) -> Next<'a> {
    if rest.is_empty() {
        return Next::End;
    }
    let Some(tag) = varint(rest) else { return Next::End };
    let (number, wire) = (tag >> 3, tag & 7);
    let skip = |rest: &mut &'a [u8], n: usize| rest.get(n..).map(|after| *rest = after).is_some();
    match wire {
        0 if varint(rest).is_some() => Next::Field(number, None),
        1 if skip(rest, 8) => Next::Field(number, None),
        5 if skip(rest, 4) => Next::Field(number, None),
        2 => {
            let Some(declared) = varint(rest) else { return Next::End };
            match usize::try_from(declared).ok().filter(|&len| len <= rest.len()) {
                Some(len) => {
                    let (sub, after) = rest.split_at(len);
                    *rest = after;
                    Next::Field(number, Some(sub))
                }
                None => Next::CutShort { declared, left: rest.len() },
            }
        }
        3 | 4 => Next::Group,
        // Anything else is not wire data.
        _ => Next::End,
    }
}

/// A base-128 varint of at most 10 bytes.
fn varint(rest: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let b = *rest.get(i)?;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *rest = &rest[i + 1..];
            return Some(v);
        }
    }
    None
}

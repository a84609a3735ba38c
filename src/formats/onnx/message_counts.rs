//! Counting an ONNX file's messages before the protobuf parser builds them.
//!
//! `ModelProto::parse_from_bytes` makes every repeated message it meets: an empty NodeProto is 2
//! bytes in the file (`0a 00`) and some 120 bytes parsed, so 17 MiB of them ask for ~2 GB. This
//! walks the wire format (tags and lengths only, allocating nothing) along the fields that hold
//! repeated messages or strings, and refuses more than [`MAX_MESSAGES`] of them in all:
//!
//! ```text
//! ModelProto     7 graph → GraphProto        25 functions → FunctionProto
//! GraphProto     1 node → NodeProto          5 initializer · 15 sparse_initializer
//!                11 input · 12 output · 13 value_info
//! FunctionProto  7 node → NodeProto
//! NodeProto      1 input · 2 output (strings) · 5 attribute → AttributeProto
//! AttributeProto 6 g · 11 graphs → GraphProto (nested at most MAX_DEPTH deep)
//!                5 t · 10 tensors · 4 strings
//! ```
//!
//! A message walked into whose field declares more bytes than the message has left is a file cut
//! short (the protobuf parser reads such a file up to its last whole field and does not say so).
//! Other bytes that are not well-formed wire data end the walk: the parser then names the problem.

/// Most messages and strings counted in a file (the largest vision models have a few thousand).
pub const MAX_MESSAGES: usize = 1 << 18;
/// Deepest nesting of graphs inside attributes (If / Loop bodies).
pub const MAX_DEPTH: usize = 8;

#[derive(Clone, Copy)]
enum Kind {
    Model,
    Graph,
    Function,
    Node,
    Attribute,
}

/// What a field of `kind` holds: a message to walk into, an item to count, or nothing of note.
enum Field {
    Walk(Kind),
    Count,
    Skip,
}

fn field(kind: Kind, number: u64) -> Field {
    match (kind, number) {
        (Kind::Model, 7) => Field::Walk(Kind::Graph),
        (Kind::Model, 25) => Field::Walk(Kind::Function),
        (Kind::Graph, 1) | (Kind::Function, 7) => Field::Walk(Kind::Node),
        (Kind::Graph, 5 | 11 | 12 | 13 | 15) => Field::Count,
        (Kind::Node, 5) => Field::Walk(Kind::Attribute),
        (Kind::Node, 1 | 2) => Field::Count,
        (Kind::Attribute, 6 | 11) => Field::Walk(Kind::Graph),
        (Kind::Attribute, 4 | 5 | 10) => Field::Count,
        _ => Field::Skip,
    }
}

/// Fails with a message when the file holds more than [`MAX_MESSAGES`] messages and strings in
/// the fields above, or graphs nested deeper than [`MAX_DEPTH`].
pub fn check_message_counts(bytes: &[u8]) -> Result<(), String> {
    let mut count = 0usize;
    // Depth first with an explicit stack of (kind, the bytes left of it, graph depth): a frame
    // per open message, so the stack is as deep as the nesting (at most 1 + 3 · MAX_DEPTH + 3
    // frames), not as long as a graph's node list, and nothing recurses on the file.
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
            Next::CutShort { declared, left } => {
                return Err(format!("it is cut short: the field at byte {at} declares {declared} bytes and {left} are left (a truncated download?)"));
            }
        };
        let Some(sub) = value else { continue };
        match field(kind, number) {
            Field::Skip => {}
            Field::Count => count += 1,
            Field::Walk(inner) => {
                count += 1;
                let depth = depth + usize::from(matches!(inner, Kind::Graph) && matches!(kind, Kind::Attribute));
                if depth > MAX_DEPTH {
                    return Err(format!("graphs are nested more than {MAX_DEPTH} deep inside attributes"));
                }
                stack.push((inner, sub, depth));
            }
        }
        if count > MAX_MESSAGES {
            return Err(format!("the file holds more than {MAX_MESSAGES} nodes, attributes, tensors and names: qplay reads models with fewer"));
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
        // Groups (3, 4) are not used by ONNX; anything else is not wire data.
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

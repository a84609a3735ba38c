//! `.safetensors` files: plain tensors, and models.
//!
//! ```text
//! u64 little-endian header length n · n bytes of JSON header · the tensor bytes
//! header: { "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, …,
//!           "__metadata__": {"<key>": "<string>", …} }
//! ```
//!
//! Parsing and validation of the container is the `safetensors` crate's; this
//! module converts every numeric dtype to f32 and turns tensors into a
//! [`Model`].
//!
//! ## Models
//!
//! A model is stored as a PyTorch `state_dict`: `<layer>.weight` and
//! `<layer>.bias` for Linear ([out, in]) and Conv2d ([out_c, in_c, k, k]);
//! `<layer>.weight`, `.bias`, `.running_mean`, `.running_var` for BatchNorm.
//! The architecture comes from, in order of preference:
//!
//! 1. a JSON sidecar given with the file;
//! 2. the file's metadata key `qplay.architecture` (what qplay itself writes);
//! 3. inference from the shapes, for an `nn.Sequential` saved as is (keys `0.weight`, `2.weight`, …):
//!    a 2-D weight is a Linear, a 4-D one a Conv2d (square kernel, stride 1, padding k/2), a 1-D one
//!    with `running_mean` a BatchNorm; a ReLU follows every Linear / Conv2d / BatchNorm but the last;
//!    the input is 28×28 with the first Conv2d's channels, or a flattened 28×28 image when the first
//!    Linear takes 784 features; before the first Linear after a Conv2d comes a Flatten, and as many
//!    2×2 max pools (one after each of the last convolutions) as make the flattened size match.
//!
//! The architecture JSON (`{"input": [1, 28, 28], "layers": [{"kind": "flatten"},
//! {"kind": "linear", "name": "0"}, {"kind": "relu"}, …]}`) is [`Architecture`].

use std::collections::HashMap;

use safetensors::tensor::{Metadata, TensorView};
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use super::{FormatError, Tensor};
use crate::model::{BatchNorm, Conv2d, Layer, LayerKind, Linear, Model, Pool2d, Shape};

/// Largest `.safetensors` file accepted: 256 MiB.
pub const MAX_SAFETENSORS_BYTES: usize = 256 << 20;
/// Most values a file's tensors may hold together, as f32 as large as the largest file.
pub const MAX_SAFETENSORS_VALUES: usize = MAX_SAFETENSORS_BYTES / 4;

/// Largest header read (JSON bytes): a real model's is a few hundred kB. The header is parsed
/// whole, so its size bounds that memory and time.
pub const MAX_HEADER_BYTES: u64 = 16 << 20;
/// Most dimensions of a tensor (NumPy's limit is 64; models use at most 5). A header of one
/// 8-million-dimension shape would otherwise cost its parsed form in memory.
pub const MAX_DIMS: usize = 8;

/// The metadata key that holds a model's [`Architecture`] as JSON.
pub const ARCHITECTURE_KEY: &str = "qplay.architecture";

/// Side of the images a model is assumed to take when nothing says otherwise.
pub const DEFAULT_IMAGE_SIDE: usize = 28;

fn malformed(message: impl Into<String>) -> FormatError {
    FormatError::Malformed { format: ".safetensors", message: message.into() }
}

/// A tensor as stored: its name, its dtype's name, and its values as f32.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    pub name: String,
    pub dtype: String,
    pub tensor: Tensor,
}

/// Every tensor in the file, in file order, and the metadata.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SafetensorsFile {
    pub tensors: Vec<NamedTensor>,
    pub metadata: HashMap<String, String>,
}

impl SafetensorsFile {
    /// One tensor by name: a scan (for a lookup or two; [`SafetensorsFile::by_name`] for many).
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.tensors.iter().find(|t| t.name == name).map(|t| &t.tensor)
    }

    /// Every tensor by name, made once: lookups per layer stay linear in the file's tensors
    /// (a 16 MiB header names some 280,000).
    pub fn by_name(&self) -> HashMap<&str, &Tensor> {
        self.tensors.iter().map(|t| (t.name.as_str(), &t.tensor)).collect()
    }
}

/// A `.safetensors` file whose container is checked and whose header is parsed, once; its
/// tensors are converted only when asked for, so a reader can refuse a file by its metadata
/// before the cost of its tensors.
pub struct SafetensorsHeader<'a> {
    meta: Metadata,
    /// The bytes after the header, where `data_offsets` count from.
    data: &'a [u8],
}

impl<'a> SafetensorsHeader<'a> {
    /// Checks the file's size (at most `limit` bytes), the header's size and its '{', names
    /// what the crate would not (a tensor name twice, a dtype × shape that is not its byte
    /// range), then parses the header with the `safetensors` crate, which checks the offsets.
    pub fn parse(bytes: &'a [u8], limit: usize) -> Result<Self, FormatError> {
        if bytes.len() > limit {
            return Err(FormatError::TooLarge { bytes: bytes.len(), limit });
        }
        if bytes.len() < 10 {
            return Err(malformed("the file is shorter than its header"));
        }
        // A header starts with '{' right after the 8-byte length: the nearest thing to a magic.
        if bytes[8] != b'{' {
            return Err(FormatError::BadMagic { format: ".safetensors" });
        }
        let header = u64::from_le_bytes(bytes[..8].try_into().expect("10 bytes checked"));
        if header > MAX_HEADER_BYTES {
            return Err(malformed(format!("the header is {header} bytes; qplay reads headers up to {MAX_HEADER_BYTES} bytes")));
        }
        // header ≤ MAX_HEADER_BYTES, so 8 + header does not overflow.
        if 8 + header > bytes.len() as u64 {
            return Err(malformed(format!("the file is {} bytes, shorter than its header of {header} bytes (a cut download?)", bytes.len())));
        }
        check_header(bytes)?;
        let (n, meta) = SafeTensors::read_metadata(bytes).map_err(|e| malformed(e.to_string()))?;
        // read_metadata checked that the offsets tile bytes[8 + n..] exactly.
        Ok(SafetensorsHeader { meta, data: &bytes[8 + n..] })
    }

    /// The `__metadata__` strings (empty when there are none).
    pub fn metadata(&self) -> HashMap<String, String> {
        self.meta.metadata().clone().unwrap_or_default()
    }

    /// The tensors' names, in file order (by data offset).
    pub fn names(&self) -> Vec<String> {
        self.meta.offset_keys()
    }

    /// A tensor's dtype, shape and bytes; None when the file has no tensor of that name.
    pub fn tensor(&self, name: &str) -> Option<TensorView<'a>> {
        let info = self.meta.info(name)?;
        let bytes = &self.data[info.data_offsets.0..info.data_offsets.1];
        // The crate checked dtype × shape against the byte range; a failure here is no tensor.
        TensorView::new(info.dtype, info.shape.clone(), bytes).ok()
    }

    /// Values in all the tensors (each tensor's count matches its byte range: at most the file's bytes).
    pub fn value_count(&self) -> usize {
        self.names().iter().filter_map(|n| self.meta.info(n)).map(|i| i.shape.iter().product::<usize>()).sum()
    }

    /// Every tensor, in file order, converted to f32: at most [`MAX_SAFETENSORS_VALUES`] values
    /// (checked before any is converted: 256 MiB of U8 would become 1 GiB of f32).
    pub fn read_all(&self) -> Result<SafetensorsFile, FormatError> {
        let (file, unread) = self.read_readable()?;
        match unread.into_iter().next() {
            Some((name, dtype)) => Err(FormatError::UnsupportedDtype { dtype: format!("{dtype} (tensor \"{}\")", clip(&name)) }),
            None => Ok(file),
        }
    }

    /// The tensors of a dtype qplay reads, converted to f32, and (name, dtype) of the others
    /// (F8_E4M3 and the like).
    pub fn read_readable(&self) -> Result<(SafetensorsFile, Vec<(String, String)>), FormatError> {
        let count = self.value_count();
        if count > MAX_SAFETENSORS_VALUES {
            return Err(FormatError::TooManyValues { count, limit: MAX_SAFETENSORS_VALUES });
        }
        let names = self.names();
        let mut tensors = Vec::with_capacity(names.len());
        let mut unread = Vec::new();
        for name in names {
            let view = self.tensor(&name).ok_or_else(|| malformed(format!("tensor \"{}\" does not fit its bytes", clip(&name))))?;
            match to_f32(view.dtype(), view.data()) {
                Ok(values) => tensors.push(NamedTensor {
                    name,
                    dtype: format!("{:?}", view.dtype()),
                    tensor: Tensor { shape: view.shape().to_vec(), values },
                }),
                Err(dtype) => unread.push((name, dtype)),
            }
        }
        Ok((SafetensorsFile { tensors, metadata: self.metadata() }, unread))
    }
}

/// Reads every tensor of a `.safetensors` file (at most [`MAX_SAFETENSORS_BYTES`]), converting
/// each to f32.
pub fn read_safetensors(bytes: &[u8]) -> Result<SafetensorsFile, FormatError> {
    SafetensorsHeader::parse(bytes, MAX_SAFETENSORS_BYTES)?.read_all()
}

/// The header's entries in file order, duplicates kept (a map keeps only the last of a name),
/// each read into a [`HeaderEntry`] of bounded size whatever the header holds.
struct HeaderEntries(Vec<(String, HeaderEntry)>);

impl<'de> serde::Deserialize<'de> for HeaderEntries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = HeaderEntries;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<HeaderEntries, A::Error> {
                let mut out = Vec::new();
                while let Some(name) = m.next_key::<String>()? {
                    // The metadata's strings may use any key, "shape" too: not a tensor.
                    let entry = match name.as_str() {
                        "__metadata__" => m.next_value::<serde::de::IgnoredAny>().map(|_| HeaderEntry::default())?,
                        _ => m.next_value::<HeaderEntry>()?,
                    };
                    out.push((name, entry));
                }
                Ok(HeaderEntries(out))
            }
        }
        d.deserialize_map(Entries)
    }
}

/// One entry of the header as far as [`check_header`] needs it (other fields are skipped).
/// A header this does not parse (an entry not an object, a dtype not a string, a shape not
/// integers) is one the crate refuses too, with its own message.
#[derive(Deserialize, Default)]
struct HeaderEntry {
    dtype: Option<String>,
    shape: Option<Numbers>,
    data_offsets: Option<Numbers>,
}

/// An array of integers: its length and its first [`MAX_DIMS`] + 1 values, so that its memory
/// is bounded by that whatever the length.
struct Numbers {
    len: usize,
    first: Vec<u128>,
}

impl<'de> serde::Deserialize<'de> for Numbers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Seq;
        impl<'de> serde::de::Visitor<'de> for Seq {
            type Value = Numbers;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an array of integers")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut s: A) -> Result<Numbers, A::Error> {
                let (mut len, mut first) = (0usize, Vec::new());
                while let Some(n) = s.next_element::<u64>()? {
                    if first.len() <= MAX_DIMS {
                        first.push(n as u128);
                    }
                    len += 1;
                }
                Ok(Numbers { len, first })
            }
        }
        d.deserialize_seq(Seq)
    }
}

/// Bytes per value of a dtype name of the header, when qplay knows it.
fn dtype_size(name: &str) -> Option<u128> {
    Some(match name {
        "F64" | "I64" | "U64" => 8,
        "F32" | "I32" | "U32" => 4,
        "F16" | "BF16" | "I16" | "U16" => 2,
        "I8" | "U8" | "BOOL" | "F8_E4M3" | "F8_E5M2" => 1,
        _ => return None,
    })
}

/// What the safetensors crate reports without a name, or under the wrong name, or not at all:
/// a tensor name that appears twice (the crate keeps the last and then says "invalid offset"),
/// more than [`MAX_DIMS`] dimensions, a byte range past the end of the file, and a tensor whose
/// dtype × shape is not its byte range. A header that does not parse is left to the crate.
fn check_header(bytes: &[u8]) -> Result<(), FormatError> {
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes checked by the caller"));
    let Some(text) = usize::try_from(n).ok().and_then(|n| bytes.get(8..8usize.checked_add(n)?)) else {
        return Ok(());
    };
    // Bytes after the header, which data_offsets index.
    let data_len = (bytes.len() - 8 - text.len()) as u128;
    let Ok(HeaderEntries(entries)) = serde_json::from_slice::<HeaderEntries>(text) else {
        return Ok(());
    };
    let mut seen = std::collections::HashSet::new();
    // Each tensor's [begin, end), to check below that together they tile the data bytes.
    let (mut ranges, mut tiled) = (Vec::new(), true);
    for (name, info) in &entries {
        if !seen.insert(name.as_str()) {
            return Err(malformed(format!("the tensor name \"{}\" appears twice in the header", clip(name))));
        }
        if name == "__metadata__" {
            continue;
        }
        if let Some(shape) = info.shape.as_ref().filter(|s| s.len > MAX_DIMS) {
            return Err(malformed(format!("tensor \"{}\" has {} dimensions: qplay reads up to {MAX_DIMS}", clip(name), shape.len)));
        }
        if let Some(end) = info.data_offsets.as_ref().and_then(|o| o.first.iter().copied().max()).filter(|&end| end > data_len) {
            return Err(malformed(format!(
                "tensor \"{}\": data_offsets reach byte {end}, past the {data_len} data bytes after the header",
                clip(name)
            )));
        }
        if let Some([begin, end]) = info.data_offsets.as_ref().map(|o| o.first.as_slice()) {
            if begin > end {
                return Err(malformed(format!("tensor \"{}\": data_offsets [{begin}, {end}] end before they begin", clip(name))));
            }
            ranges.push((*begin, *end, name.as_str()));
        } else {
            // Offsets that are not two integers: the crate names that.
            tiled = false;
        }
        if let (Some(dtype), Some(shape), Some(offsets)) = (&info.dtype, &info.shape, &info.data_offsets) {
            let (Some(size), [begin, end]) = (dtype_size(dtype), offsets.first.as_slice()) else { continue };
            let shape = &shape.first;
            let need = shape.iter().try_fold(size, |a, &d| a.checked_mul(d));
            let held = end.checked_sub(*begin);
            if need.is_some() && held.is_some() && need != held {
                return Err(malformed(format!(
                    "tensor \"{}\": dtype {dtype} with shape {shape:?} needs {} bytes, but its data_offsets [{begin}, {end}] hold {}",
                    clip(name),
                    need.unwrap_or_default(),
                    held.unwrap_or_default()
                )));
            }
        }
    }
    if tiled { check_tiling(ranges, data_len) } else { Ok(()) }
}

/// The tensors' byte ranges must cover the data bytes exactly, one after another (the crate
/// says only "invalid offset" or "not fully covered"): names the two tensors that overlap, or
/// the bytes that belong to no tensor.
fn check_tiling(mut ranges: Vec<(u128, u128, &str)>, data_len: u128) -> Result<(), FormatError> {
    ranges.sort_unstable();
    // `at`: where the data covered so far ends; `last`: the tensor that ends there.
    let (mut at, mut last) = (0u128, "");
    for (begin, end, name) in ranges {
        if begin < at {
            return Err(malformed(format!(
                "tensors \"{}\" and \"{}\" overlap: the second starts at data byte {begin}, before the first ends at {at}",
                clip(last),
                clip(name)
            )));
        }
        if begin > at {
            return Err(malformed(format!("data bytes {at} to {begin} (before tensor \"{}\") belong to no tensor", clip(name))));
        }
        (at, last) = (end, name);
    }
    if at < data_len {
        return Err(malformed(format!("the last {} of the {data_len} data bytes belong to no tensor", data_len - at)));
    }
    Ok(())
}

/// A name cut to 60 characters for a message ([`crate::clip::clip`]).
fn clip(name: &str) -> String {
    crate::clip::clip(name, 60)
}

/// Little-endian bytes of one dtype to f32 (64-bit values are rounded to the nearest f32).
fn to_f32(dtype: Dtype, data: &[u8]) -> Result<Vec<f32>, String> {
    fn each<const N: usize>(data: &[u8], f: impl Fn([u8; N]) -> f32) -> Vec<f32> {
        data.chunks_exact(N).map(|c| f(c.try_into().expect("chunks of N bytes"))).collect()
    }
    Ok(match dtype {
        Dtype::F32 => each(data, f32::from_le_bytes),
        Dtype::F64 => each(data, |b| f64::from_le_bytes(b) as f32),
        Dtype::F16 => each(data, |b| half::f16::from_le_bytes(b).to_f32()),
        Dtype::BF16 => each(data, |b| half::bf16::from_le_bytes(b).to_f32()),
        Dtype::I8 => each(data, |b: [u8; 1]| b[0] as i8 as f32),
        Dtype::U8 => each(data, |b: [u8; 1]| b[0] as f32),
        Dtype::BOOL => each(data, |b: [u8; 1]| (b[0] != 0) as u8 as f32),
        Dtype::I16 => each(data, |b| i16::from_le_bytes(b) as f32),
        Dtype::U16 => each(data, |b| u16::from_le_bytes(b) as f32),
        Dtype::I32 => each(data, |b| i32::from_le_bytes(b) as f32),
        Dtype::U32 => each(data, |b| u32::from_le_bytes(b) as f32),
        Dtype::I64 => each(data, |b| i64::from_le_bytes(b) as f32),
        Dtype::U64 => each(data, |b| u64::from_le_bytes(b) as f32),
        other => return Err(format!("{other:?}")),
    })
}

/// One tensor to write: raw little-endian bytes of `dtype`.
pub struct RawTensor {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

impl RawTensor {
    pub fn f32(name: impl Into<String>, shape: &[usize], values: &[f32]) -> RawTensor {
        RawTensor {
            name: name.into(),
            dtype: Dtype::F32,
            shape: shape.to_vec(),
            data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }
}

impl safetensors::View for &RawTensor {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// Writes tensors (stored in the given order) and metadata as a `.safetensors` file.
pub fn write_raw(tensors: &[RawTensor], metadata: HashMap<String, String>) -> Result<Vec<u8>, FormatError> {
    // The crate orders tensors by dtype alignment, then name; a zero-padded index keeps ours.
    let meta = if metadata.is_empty() { None } else { Some(metadata) };
    let file = safetensors::serialize(tensors.iter().map(|t| (t.name.clone(), t)), meta).map_err(|e| malformed(format!("cannot write: {e}")))?;
    with_sorted_header(file)
}

/// The file with its JSON header written again, every object's keys in order: the crate writes
/// the metadata in its `HashMap`'s order, which changes from run to run, and the same model must
/// give the same bytes. The data after the header is untouched (offsets count from its start);
/// the header stays padded with spaces to a multiple of 8 bytes, as the format asks.
fn with_sorted_header(file: Vec<u8>) -> Result<Vec<u8>, FormatError> {
    let cannot = |why: String| malformed(format!("cannot write: {why}"));
    let n = file.get(..8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes"))).ok_or_else(|| cannot("no header".into()))?;
    let end = usize::try_from(n).ok().and_then(|n| n.checked_add(8)).filter(|&e| e <= file.len()).ok_or_else(|| cannot("a header past the end".into()))?;
    // serde_json's maps are ordered by key (no `preserve_order`), so this sorts every object.
    let header: serde_json::Value = serde_json::from_slice(&file[8..end]).map_err(|e| cannot(e.to_string()))?;
    let mut text = serde_json::to_string(&header).map_err(|e| cannot(e.to_string()))?;
    while text.len() % 8 != 0 {
        text.push(' ');
    }
    let mut out = Vec::with_capacity(8 + text.len() + file.len() - end);
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&file[end..]);
    Ok(out)
}

/// Writes f32 tensors as a `.safetensors` file.
pub fn write_tensors(tensors: &[(String, Tensor)], metadata: HashMap<String, String>) -> Result<Vec<u8>, FormatError> {
    let raw: Vec<RawTensor> = tensors.iter().map(|(n, t)| RawTensor::f32(n.clone(), &t.shape, &t.values)).collect();
    write_raw(&raw, metadata)
}

/// A model's architecture: the input shape (per sample) and the layers in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Architecture {
    /// [features] or [channels, height, width].
    pub input: Vec<usize>,
    pub layers: Vec<LayerSpec>,
}

/// One layer of an [`Architecture`]; `name` is the prefix of its tensors (`<name>.weight`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerSpec {
    Linear { name: String },
    Conv2d {
        name: String,
        #[serde(default = "one")]
        stride: usize,
        #[serde(default)]
        padding: usize,
    },
    BatchNorm {
        name: String,
        #[serde(default = "default_eps")]
        eps: f32,
    },
    Relu {
        #[serde(default)]
        name: Option<String>,
    },
    MaxPool2d {
        #[serde(default)]
        name: Option<String>,
        kernel: usize,
        #[serde(default)]
        stride: Option<usize>,
    },
    AvgPool2d {
        #[serde(default)]
        name: Option<String>,
        kernel: usize,
        #[serde(default)]
        stride: Option<usize>,
    },
    Flatten {
        #[serde(default)]
        name: Option<String>,
    },
    Softmax {
        #[serde(default)]
        name: Option<String>,
    },
}

fn one() -> usize {
    1
}

fn default_eps() -> f32 {
    1e-5
}

impl Architecture {
    /// The architecture of a model (what [`write_model`] stores).
    pub fn of(model: &Model) -> Architecture {
        let input = match model.input {
            Shape::Flat(f) => vec![f],
            Shape::Chw(c, h, w) => vec![c, h, w],
        };
        let layers = model
            .layers
            .iter()
            .map(|l| {
                let name = l.name.clone();
                match &l.kind {
                    LayerKind::Linear(_) => LayerSpec::Linear { name },
                    LayerKind::Conv2d(c) => LayerSpec::Conv2d { name, stride: c.stride, padding: c.padding },
                    LayerKind::BatchNorm(b) => LayerSpec::BatchNorm { name, eps: b.eps },
                    LayerKind::Relu => LayerSpec::Relu { name: Some(name) },
                    LayerKind::MaxPool2d(p) => LayerSpec::MaxPool2d { name: Some(name), kernel: p.kernel, stride: Some(p.stride) },
                    LayerKind::AvgPool2d(p) => LayerSpec::AvgPool2d { name: Some(name), kernel: p.kernel, stride: Some(p.stride) },
                    LayerKind::Flatten => LayerSpec::Flatten { name: Some(name) },
                    LayerKind::Softmax => LayerSpec::Softmax { name: Some(name) },
                }
            })
            .collect();
        Architecture { input, layers }
    }

    fn input_shape(&self) -> Result<Shape, FormatError> {
        match self.input[..] {
            [f] => Ok(Shape::Flat(f)),
            [c, h, w] => Ok(Shape::Chw(c, h, w)),
            _ => Err(FormatError::Architecture(format!(
                "input must be [features] or [channels, height, width], not {:?}",
                self.input
            ))),
        }
    }

    /// Builds the model, taking each parametric layer's tensors from `file`.
    pub fn build(&self, file: &SafetensorsFile, max_params: usize) -> Result<Model, FormatError> {
        let input = self.input_shape()?;
        let by_name = file.by_name();
        let tensor = |name: &str, suffix: &str| -> Result<&Tensor, FormatError> {
            let key = format!("{name}.{suffix}");
            by_name.get(key.as_str()).copied().ok_or_else(|| FormatError::Architecture(format!("the file has no tensor \"{key}\"")))
        };
        let dims = |name: &str, t: &Tensor, want: usize| -> Result<(), FormatError> {
            if t.shape.len() != want {
                return Err(FormatError::Architecture(format!(
                    "\"{name}.weight\" has shape {:?}: a {}-D weight was expected",
                    t.shape, want
                )));
            }
            // A dimension of 0 would let the others be anything (the values count is their
            // product): every size taken from the shape is then bounded by the file's values.
            if t.shape.contains(&0) {
                return Err(FormatError::Architecture(format!("\"{name}.weight\" has shape {:?}: a weight has no empty dimension", t.shape)));
            }
            Ok(())
        };
        let bias_or_zeros = |name: &str, n: usize| by_name.get(format!("{name}.bias").as_str()).map_or_else(|| vec![0.0; n], |t| t.values.clone());
        // Parameters of the layers built so far, counted before each layer's values are copied:
        // an architecture naming one 4 MiB weight 3,000 times must not copy it 3,000 times.
        let mut params = 0usize;
        let mut charge = |n: usize| {
            params = params.saturating_add(n);
            match params > max_params {
                true => Err(FormatError::Model(crate::model::ModelError::TooLarge { params: params as u128, limit: max_params })),
                false => Ok(()),
            }
        };
        let mut layers = Vec::with_capacity(self.layers.len());
        for (i, spec) in self.layers.iter().enumerate() {
            let auto = |n: &Option<String>| n.clone().unwrap_or_else(|| i.to_string());
            let layer = match spec {
                LayerSpec::Linear { name } => {
                    let w = tensor(name, "weight")?;
                    dims(name, w, 2)?;
                    charge(w.values.len().saturating_add(w.shape[0]))?;
                    let (out_features, in_features) = (w.shape[0], w.shape[1]);
                    let b = bias_or_zeros(name, out_features);
                    Layer { name: name.clone(), kind: LayerKind::Linear(Linear { in_features, out_features, w: w.values.clone(), b }) }
                }
                LayerSpec::Conv2d { name, stride, padding } => {
                    let w = tensor(name, "weight")?;
                    dims(name, w, 4)?;
                    if w.shape[2] != w.shape[3] {
                        return Err(FormatError::Architecture(format!(
                            "\"{name}.weight\" has a {}×{} kernel: only square kernels are supported",
                            w.shape[2], w.shape[3]
                        )));
                    }
                    charge(w.values.len().saturating_add(w.shape[0]))?;
                    let b = bias_or_zeros(name, w.shape[0]);
                    Layer {
                        name: name.clone(),
                        kind: LayerKind::Conv2d(Conv2d {
                            in_channels: w.shape[1],
                            out_channels: w.shape[0],
                            kernel: w.shape[2],
                            stride: *stride,
                            padding: *padding,
                            w: w.values.clone(),
                            b,
                        }),
                    }
                }
                LayerSpec::BatchNorm { name, eps } => {
                    charge(tensor(name, "running_var")?.values.len().saturating_mul(4))?;
                    let var = tensor(name, "running_var")?.values.clone();
                    // Folding divides by √(var + ε): it must be a positive number for every channel.
                    if let Some(c) = var.iter().position(|v| !(v + eps > 0.0 && (v + eps).is_finite())) {
                        return Err(FormatError::Architecture(format!(
                            "BatchNorm \"{name}\": channel {c} has running_var + eps = {} + {eps}, not a positive number",
                            var[c]
                        )));
                    }
                    Layer {
                        name: name.clone(),
                        kind: LayerKind::BatchNorm(BatchNorm {
                            gamma: tensor(name, "weight")?.values.clone(),
                            beta: tensor(name, "bias")?.values.clone(),
                            mean: tensor(name, "running_mean")?.values.clone(),
                            var,
                            eps: *eps,
                        }),
                    }
                }
                LayerSpec::Relu { name } => Layer { name: auto(name), kind: LayerKind::Relu },
                LayerSpec::MaxPool2d { name, kernel, stride } => {
                    Layer { name: auto(name), kind: LayerKind::MaxPool2d(Pool2d { kernel: *kernel, stride: stride.unwrap_or(*kernel) }) }
                }
                LayerSpec::AvgPool2d { name, kernel, stride } => {
                    Layer { name: auto(name), kind: LayerKind::AvgPool2d(Pool2d { kernel: *kernel, stride: stride.unwrap_or(*kernel) }) }
                }
                LayerSpec::Flatten { name } => Layer { name: auto(name), kind: LayerKind::Flatten },
                LayerSpec::Softmax { name } => Layer { name: auto(name), kind: LayerKind::Softmax },
            };
            layers.push(layer);
        }
        Model::new(input, layers, max_params).map_err(FormatError::Model)
    }

    /// Infers the architecture of an `nn.Sequential` state_dict from its shapes (see the module header).
    pub fn infer(file: &SafetensorsFile) -> Result<Architecture, FormatError> {
        // Layer prefixes in order: by Sequential index when every prefix ends in one, else in file order.
        // (Names are unique: the header check refuses a name given twice.)
        let by_name = file.by_name();
        let mut prefixes: Vec<String> = file.tensors.iter().filter_map(|t| t.name.strip_suffix(".weight")).map(String::from).collect();
        if prefixes.is_empty() {
            return Err(FormatError::Architecture(
                "no \"<layer>.weight\" tensors: this is not a model's state_dict (load it as tensors, or give an architecture)".into(),
            ));
        }
        let index = |p: &str| p.rsplit('.').next().and_then(|s| s.parse::<usize>().ok());
        if prefixes.iter().all(|p| index(p).is_some()) {
            prefixes.sort_by_key(|p| index(p));
        }
        #[derive(Clone, Copy, PartialEq)]
        enum Kind {
            Linear(usize, usize),
            Conv(usize, usize),
            Norm,
        }
        let mut kinds = Vec::with_capacity(prefixes.len());
        for p in &prefixes {
            let w = by_name[format!("{p}.weight").as_str()];
            let kind = match w.shape.len() {
                2 => Kind::Linear(w.shape[1], w.shape[0]),
                4 => Kind::Conv(w.shape[1], w.shape[0]),
                1 if by_name.contains_key(format!("{p}.running_mean").as_str()) => Kind::Norm,
                _ => {
                    return Err(FormatError::Architecture(format!(
                        "cannot tell the layer kind of \"{p}.weight\" with shape {:?}: give an architecture (sidecar JSON)",
                        w.shape
                    )))
                }
            };
            kinds.push(kind);
        }
        let side = DEFAULT_IMAGE_SIDE;
        let mut layers = Vec::new();
        let input = match kinds[0] {
            Kind::Conv(ic, _) => vec![ic, side, side],
            Kind::Linear(inf, _) if inf == side * side => {
                layers.push(LayerSpec::Flatten { name: Some("flatten".into()) });
                vec![1, side, side]
            }
            Kind::Linear(inf, _) => vec![inf],
            Kind::Norm => return Err(FormatError::Architecture("the first layer is a BatchNorm: give an architecture (sidecar JSON)".into())),
        };
        // 2×2 pools before the first Linear that follows convolutions, so that C·H·W matches.
        let first_linear_after_conv = kinds.iter().position(|k| matches!(k, Kind::Linear(..))).filter(|&i| kinds[..i].iter().any(|k| matches!(k, Kind::Conv(..))));
        let mut pools_after = vec![false; kinds.len()];
        if let Some(li) = first_linear_after_conv {
            let Kind::Linear(inf, _) = kinds[li] else { unreachable!() };
            let convs: Vec<usize> = (0..li).filter(|&i| matches!(kinds[i], Kind::Conv(..))).collect();
            let Kind::Conv(_, c) = kinds[*convs.last().expect("at least one conv")] else { unreachable!() };
            let mut hw = side;
            let mut halvings = 0;
            while c * hw * hw > inf && hw.is_multiple_of(2) && halvings < convs.len() {
                hw /= 2;
                halvings += 1;
            }
            if c * hw * hw != inf {
                return Err(FormatError::Architecture(format!(
                    "cannot infer the pooling between the convolutions and \"{}\" ({inf} inputs from {c} channels): give an architecture (sidecar JSON)",
                    prefixes[li]
                )));
            }
            for &ci in &convs[convs.len() - halvings..] {
                pools_after[ci] = true;
            }
        }
        let last_param = kinds.len() - 1;
        let mut seen_conv = false;
        for (i, (p, k)) in prefixes.iter().zip(&kinds).enumerate() {
            match *k {
                Kind::Linear(..) => {
                    if seen_conv && Some(i) == first_linear_after_conv {
                        layers.push(LayerSpec::Flatten { name: Some(format!("{p}.flatten")) });
                    }
                    layers.push(LayerSpec::Linear { name: p.clone() });
                }
                Kind::Conv(..) => {
                    seen_conv = true;
                    let k = by_name[format!("{p}.weight").as_str()].shape[2];
                    layers.push(LayerSpec::Conv2d { name: p.clone(), stride: 1, padding: k / 2 });
                }
                Kind::Norm => layers.push(LayerSpec::BatchNorm { name: p.clone(), eps: 1e-5 }),
            }
            let next_is_norm = kinds.get(i + 1) == Some(&Kind::Norm);
            if i != last_param && !next_is_norm {
                layers.push(LayerSpec::Relu { name: Some(format!("{p}.relu")) });
            }
            if pools_after[i] && next_is_norm {
                pools_after[i + 1] = true; // pool after the BatchNorm and its ReLU
            } else if pools_after[i] {
                layers.push(LayerSpec::MaxPool2d { name: Some(format!("{p}.pool")), kernel: 2, stride: Some(2) });
            }
        }
        Ok(Architecture { input, layers })
    }
}

/// Reads a model from a `.safetensors` file; `sidecar` is an [`Architecture`] as JSON, if the user gave one.
pub fn read_model(bytes: &[u8], sidecar: Option<&str>, max_params: usize) -> Result<Model, FormatError> {
    let file = read_safetensors(bytes)?;
    let parse = |json: &str, source: &str| {
        serde_json::from_str::<Architecture>(json).map_err(|e| FormatError::Architecture(format!("the {source} is not a valid architecture: {e}")))
    };
    let arch = match (sidecar, file.metadata.get(ARCHITECTURE_KEY)) {
        (Some(json), _) => parse(json, "sidecar JSON")?,
        (None, Some(json)) => parse(json, "file's qplay.architecture metadata")?,
        (None, None) => Architecture::infer(&file)?,
    };
    arch.build(&file, max_params)
}

/// Writes a model: its weights and biases as F32 tensors, its architecture in the metadata.
pub fn write_model(model: &Model) -> Result<Vec<u8>, FormatError> {
    let mut tensors = Vec::new();
    for l in &model.layers {
        match &l.kind {
            LayerKind::Linear(li) => {
                tensors.push(RawTensor::f32(format!("{}.weight", l.name), &[li.out_features, li.in_features], &li.w));
                tensors.push(RawTensor::f32(format!("{}.bias", l.name), &[li.out_features], &li.b));
            }
            LayerKind::Conv2d(c) => {
                tensors.push(RawTensor::f32(format!("{}.weight", l.name), &[c.out_channels, c.in_channels, c.kernel, c.kernel], &c.w));
                tensors.push(RawTensor::f32(format!("{}.bias", l.name), &[c.out_channels], &c.b));
            }
            LayerKind::BatchNorm(b) => {
                let n = [b.gamma.len()];
                tensors.push(RawTensor::f32(format!("{}.weight", l.name), &n, &b.gamma));
                tensors.push(RawTensor::f32(format!("{}.bias", l.name), &n, &b.beta));
                tensors.push(RawTensor::f32(format!("{}.running_mean", l.name), &n, &b.mean));
                tensors.push(RawTensor::f32(format!("{}.running_var", l.name), &n, &b.var));
            }
            _ => {}
        }
    }
    let arch = serde_json::to_string(&Architecture::of(model)).expect("an architecture serialises");
    let metadata = HashMap::from([(ARCHITECTURE_KEY.to_string(), arch), ("format".to_string(), "pt".to_string())]);
    write_raw(&tensors, metadata)
}

//! A quantized model ([`QuantModel`]) as a `.safetensors` file, and back.
//!
//! The file holds the integer weights (bit-packed below 8 bits), the scale, zero point and range
//! of every tensor, channel or group, the bits, the granularity, the activation parameters, and
//! the layers left in FP32. Reading it back gives the same integers and parameters bit for bit,
//! hence the same fake-quant outputs.
//!
//! ## Layout
//!
//! Metadata (JSON strings in the header's `__metadata__`):
//!
//! ```text
//! "format"               "qplay-quantized"
//! "qplay.architecture"   the layers and the input shape (as in a qplay model .safetensors)
//! "qplay.quantization"   {"version": 1,
//!                         "layers": [{"name", "index", "bits", "weight_shape": [out, in] | [oc, ic, k, k],
//!                                     "scheme": {bits, signed, symmetric, narrow_range, method, rounding},
//!                                     "granularity": "per_tensor" | {"per_channel": {"axis": 0}}
//!                                                    | {"per_group": {"axis": 1, "group_size": g}},
//!                                     "calibration": {"method": …}, "packing": see below,
//!                                     "input": {"kind": "float"} | {"kind": "static", "scheme": …}
//!                                              | {"kind": "dynamic", "strategy": "ALWC" | "ACWL", "scheme": …},
//!                                     "smooth": true | false}, …],
//!                         "output": null | {"scheme": …}}
//! ```
//!
//! Tensors of a quantized Linear / Conv2d `L` (the weight viewed as [out, fan_in], fan_in = in or
//! ic·k·k, in the model's own element order; S = the number of slices: 1, out, or
//! out · fan_in / g, numbered row · (fan_in / g) + group):
//!
//! ```text
//! L.weight.q            the integers q, [out, ·]:
//!                         packing "bits_le" (1–7 bits): U8 [out, ⌈fan_in · b / 8⌉]; element j of a row
//!                           is the b-bit two's complement of q (unsigned schemes: q itself) at bits
//!                           j·b … j·b + b − 1 of the row, bit t of the row being bit t mod 8 of byte
//!                           ⌊t / 8⌋ (4 bits: low nibble first); each row is padded to whole bytes
//!                         "i8" / "u8" (8 bits), "i16" / "u16" (9–16 bits): [out, fan_in], little-endian
//! L.weight.scale        F32 [S] (per-tensor [1], per-channel [out], per-group [out, fan_in / g])
//! L.weight.zero_point   I32, the shape of the scale
//! L.weight.range        F32 [S, 4]: α, β (the range the scale maps, after the zero-width guard)
//!                       and the calibrated α, β before it (equal unless the guard widened the range)
//! L.bias                F32 [out]: the bias used with ŵ (b′, after any bias correction)
//! L.bias_delta          F32 [out]: what bias correction added (zeros when off)
//! L.smooth              F32 [in features or channels]: SmoothQuant's divisors (only when on)
//! L.input.scale         F32 [1], L.input.zero_point I32 [1], L.input.range F32 [2]  (static input only)
//! ```
//!
//! `qplay.output.scale` / `.zero_point` / `.range` hold the output's parameters when it is
//! quantized. A layer left in FP32 has `L.weight` and `L.bias` (F32), as in a model file. qmin,
//! qmax and the grid [αq, βq] follow from the scheme; ŵ = (q − Z)·s is recomputed on reading.
//! The FP32 weights of quantized layers are not stored: the model read back carries ŵ and b′ as
//! its FP32 weights.

use std::collections::HashMap;

use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use super::safetensors::{Architecture, NamedTensor, RawTensor, SafetensorsFile, ARCHITECTURE_KEY, MAX_SAFETENSORS_BYTES};
use super::{FormatError, Tensor};
use crate::model::LayerKind;
use crate::ptq::{ActParams, InputQuant, QuantLayer, QuantModel};
use crate::quant::calibration::Calibration;
use crate::quant::granularity::{GranularQuantized, Granularity, SliceLayout, SliceParams};
use crate::quant::{kernels, QParams, RangeGuard, Scheme};
use crate::ptq::config::DynamicMode;

/// The metadata key that holds the [`QuantSpec`] JSON.
pub const QUANTIZATION_KEY: &str = "qplay.quantization";
/// The value of the metadata key `format`.
pub const FORMAT_NAME: &str = "qplay-quantized";
/// The tensor-name prefix of the output's parameters.
pub const OUTPUT_PREFIX: &str = "qplay.output";

fn malformed(message: impl Into<String>) -> FormatError {
    FormatError::Malformed { format: "quantized .safetensors", message: message.into() }
}

/// The quantization metadata (see the module header).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantSpec {
    pub version: u32,
    pub layers: Vec<LayerQuantSpec>,
    pub output: Option<OutputSpec>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerQuantSpec {
    pub name: String,
    pub index: usize,
    pub bits: u8,
    pub weight_shape: Vec<usize>,
    pub scheme: Scheme,
    pub granularity: Granularity,
    pub calibration: Calibration,
    pub packing: Packing,
    pub input: InputSpec,
    pub smooth: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    pub scheme: Scheme,
}

/// How a layer's input is quantized; the static parameters are tensors.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum InputSpec {
    Float,
    Static { scheme: Scheme },
    Dynamic { strategy: DynamicMode, scheme: Scheme },
}

/// How `L.weight.q` stores the integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Packing {
    /// 1–7 bits, little-endian bit-packed rows (see the module header).
    BitsLe,
    I8,
    U8,
    I16,
    U16,
}

impl Packing {
    /// The packing of integers of `scheme`.
    pub fn of(scheme: &Scheme) -> Packing {
        match (scheme.bits, scheme.signed) {
            (0..=7, _) => Packing::BitsLe,
            (8, true) => Packing::I8,
            (8, false) => Packing::U8,
            (_, true) => Packing::I16,
            (_, false) => Packing::U16,
        }
    }

    fn dtype(self) -> Dtype {
        match self {
            Packing::BitsLe | Packing::U8 => Dtype::U8,
            Packing::I8 => Dtype::I8,
            Packing::I16 => Dtype::I16,
            Packing::U16 => Dtype::U16,
        }
    }
}

/// Bytes per packed row of `cols` b-bit values: ⌈cols · b / 8⌉.
pub fn packed_row_bytes(cols: usize, bits: u8) -> usize {
    (cols * bits as usize).div_ceil(8)
}

/// Packs `rows` rows of b-bit integers (1 ≤ b ≤ 8): value j of a row goes to bits j·b … j·b + b − 1
/// of the row (bit t = bit t mod 8 of byte ⌊t / 8⌋), as its low b bits (two's complement for
/// negative values); rows are padded to whole bytes.
pub fn pack_bits(q: &[i32], rows: usize, bits: u8) -> Vec<u8> {
    let b = bits as usize;
    let cols = q.len() / rows.max(1);
    let row_bytes = packed_row_bytes(cols, bits);
    let mask = (1u32 << b) - 1;
    let mut out = vec![0u8; rows * row_bytes];
    for (r, row) in q.chunks_exact(cols.max(1)).enumerate().take(rows) {
        let dst = &mut out[r * row_bytes..(r + 1) * row_bytes];
        for (j, &v) in row.iter().enumerate() {
            let field = (v as u32) & mask;
            for t in 0..b {
                let bit = j * b + t;
                dst[bit / 8] |= (((field >> t) & 1) as u8) << (bit % 8);
            }
        }
    }
    out
}

/// The inverse of [`pack_bits`]: `rows` × `cols` b-bit fields, sign-extended when `signed`.
/// `bytes` must hold `rows · ⌈cols · b / 8⌉` bytes.
pub fn unpack_bits(bytes: &[u8], rows: usize, cols: usize, bits: u8, signed: bool) -> Vec<i32> {
    let b = bits as usize;
    let row_bytes = packed_row_bytes(cols, bits);
    let mut out = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        let src = &bytes[r * row_bytes..(r + 1) * row_bytes];
        for j in 0..cols {
            let mut field = 0u32;
            for t in 0..b {
                let bit = j * b + t;
                field |= (((src[bit / 8] >> (bit % 8)) & 1) as u32) << t;
            }
            let v = if signed && field >= 1 << (b - 1) { field as i32 - (1 << b) } else { field as i32 };
            out.push(v);
        }
    }
    out
}

fn raw(name: String, dtype: Dtype, shape: &[usize], data: Vec<u8>) -> RawTensor {
    RawTensor { name, dtype, shape: shape.to_vec(), data }
}

fn i32s(name: String, shape: &[usize], v: &[i32]) -> RawTensor {
    raw(name, Dtype::I32, shape, v.iter().flat_map(|x| x.to_le_bytes()).collect())
}

/// The shape of a weight's per-slice tensors.
fn slice_shape(layout: &SliceLayout) -> Vec<usize> {
    match layout.granularity {
        Granularity::PerTensor => vec![1],
        Granularity::PerChannel { .. } => vec![layout.num_slices()],
        Granularity::PerGroup { .. } => vec![layout.outer, layout.num_slices() / layout.outer.max(1)],
    }
}

fn act_tensors(prefix: &str, p: &QParams, out: &mut Vec<RawTensor>) {
    out.push(RawTensor::f32(format!("{prefix}.scale"), &[1], &[p.scale]));
    out.push(i32s(format!("{prefix}.zero_point"), &[1], &[p.zero_point]));
    out.push(RawTensor::f32(format!("{prefix}.range"), &[2], &[p.alpha, p.beta]));
}

/// Writes a quantized model as `.safetensors` (see the module header).
pub fn write_quantized(qm: &QuantModel) -> Result<Vec<u8>, FormatError> {
    let mut tensors = Vec::new();
    let mut specs = Vec::new();
    for (i, layer) in qm.fp32.layers.iter().enumerate() {
        let name = &layer.name;
        let Some(ql) = &qm.layers[i] else {
            match &layer.kind {
                LayerKind::Linear(l) => {
                    tensors.push(RawTensor::f32(format!("{name}.weight"), &[l.out_features, l.in_features], &l.w));
                    tensors.push(RawTensor::f32(format!("{name}.bias"), &[l.out_features], &l.b));
                }
                LayerKind::Conv2d(c) => {
                    tensors.push(RawTensor::f32(format!("{name}.weight"), &[c.out_channels, c.in_channels, c.kernel, c.kernel], &c.w));
                    tensors.push(RawTensor::f32(format!("{name}.bias"), &[c.out_channels], &c.b));
                }
                _ => {}
            }
            continue;
        };
        let w = &ql.weight;
        let [out, fan_in] = w.layout.shape[..] else {
            return Err(FormatError::Export(format!("layer {name}: the weight is not viewed as [out, fan_in]")));
        };
        let packing = Packing::of(&w.scheme);
        let (q_shape, q_bytes): (Vec<usize>, Vec<u8>) = match packing {
            Packing::BitsLe => (vec![out, packed_row_bytes(fan_in, w.scheme.bits)], pack_bits(&w.q, out, w.scheme.bits)),
            Packing::I8 => (vec![out, fan_in], w.q.iter().map(|&v| v as i8 as u8).collect()),
            Packing::U8 => (vec![out, fan_in], w.q.iter().map(|&v| v as u8).collect()),
            Packing::I16 => (vec![out, fan_in], w.q.iter().flat_map(|&v| (v as i16).to_le_bytes()).collect()),
            Packing::U16 => (vec![out, fan_in], w.q.iter().flat_map(|&v| (v as u16).to_le_bytes()).collect()),
        };
        tensors.push(raw(format!("{name}.weight.q"), packing.dtype(), &q_shape, q_bytes));
        let ss = slice_shape(&w.layout);
        let scales: Vec<f32> = w.slices.iter().map(|s| s.params.scale).collect();
        let zps: Vec<i32> = w.slices.iter().map(|s| s.params.zero_point).collect();
        let ranges: Vec<f32> = w
            .slices
            .iter()
            .flat_map(|s| {
                let p = &s.params;
                let (a0, b0) = match s.guard {
                    RangeGuard::None => (p.alpha, p.beta),
                    RangeGuard::Widened { from_alpha, from_beta } => (from_alpha, from_beta),
                };
                [p.alpha, p.beta, a0, b0]
            })
            .collect();
        tensors.push(RawTensor::f32(format!("{name}.weight.scale"), &ss, &scales));
        tensors.push(i32s(format!("{name}.weight.zero_point"), &ss, &zps));
        tensors.push(RawTensor::f32(format!("{name}.weight.range"), &[w.slices.len(), 4], &ranges));
        tensors.push(RawTensor::f32(format!("{name}.bias"), &[ql.bias.len()], &ql.bias));
        tensors.push(RawTensor::f32(format!("{name}.bias_delta"), &[ql.bias_delta.len()], &ql.bias_delta));
        if let Some(s) = &ql.smooth {
            tensors.push(RawTensor::f32(format!("{name}.smooth"), &[s.len()], s));
        }
        let input = match ql.input {
            InputQuant::Float => InputSpec::Float,
            InputQuant::Static(a) => {
                act_tensors(&format!("{name}.input"), &a.params, &mut tensors);
                InputSpec::Static { scheme: a.scheme }
            }
            InputQuant::Dynamic { strategy, scheme } => InputSpec::Dynamic { strategy, scheme },
        };
        specs.push(LayerQuantSpec {
            name: name.clone(),
            index: i,
            bits: w.scheme.bits,
            weight_shape: ql.weight_shape.clone(),
            scheme: w.scheme,
            granularity: w.layout.granularity,
            calibration: w.calibration,
            packing,
            input,
            smooth: ql.smooth.is_some(),
        });
    }
    let output = qm.output.map(|a| {
        act_tensors(OUTPUT_PREFIX, &a.params, &mut tensors);
        OutputSpec { scheme: a.scheme }
    });
    let spec = QuantSpec { version: 1, layers: specs, output };
    let metadata = HashMap::from([
        ("format".to_string(), FORMAT_NAME.to_string()),
        (ARCHITECTURE_KEY.to_string(), serde_json::to_string(&Architecture::of(&qm.fp32)).expect("an architecture serialises")),
        (QUANTIZATION_KEY.to_string(), serde_json::to_string(&spec).expect("a quantization spec serialises")),
    ]);
    super::safetensors::write_raw(&tensors, metadata)
}

/// Typed access to the tensors of a parsed file, each checked for its dtype and shape.
struct Tensors<'a>(SafeTensors<'a>);

impl Tensors<'_> {
    fn data(&self, name: &str, dtype: Dtype, shape: &[usize]) -> Result<&[u8], FormatError> {
        let t = self.0.tensor(name).map_err(|_| malformed(format!("the file has no tensor \"{name}\"")))?;
        if t.dtype() != dtype || t.shape() != shape {
            return Err(malformed(format!(
                "tensor \"{name}\" is {:?} {:?}; {dtype:?} {shape:?} was expected",
                t.dtype(),
                t.shape()
            )));
        }
        Ok(t.data())
    }

    fn f32s(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, FormatError> {
        Ok(self.data(name, Dtype::F32, shape)?.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect())
    }

    fn i32s(&self, name: &str, shape: &[usize]) -> Result<Vec<i32>, FormatError> {
        Ok(self.data(name, Dtype::I32, shape)?.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes"))).collect())
    }
}

/// QParams from a stored scale, zero point and range, checked against the scheme.
fn params(scheme: &Scheme, scale: f32, zero_point: i32, alpha: f32, beta: f32, what: &str) -> Result<QParams, FormatError> {
    if !(scale.is_finite() && scale > 0.0 && alpha.is_finite() && beta.is_finite()) {
        return Err(malformed(format!("{what}: scale {scale} and range [{alpha}, {beta}] must be finite, with a positive scale")));
    }
    if zero_point.unsigned_abs() > 1 << 24 {
        return Err(malformed(format!("{what}: zero point {zero_point} is out of range")));
    }
    let (qmin, qmax) = scheme.clamp_range();
    let (grid_min, grid_max) = scheme.grid_range();
    Ok(QParams { alpha, beta, grid_min, grid_max, scale, zero_point, qmin, qmax })
}

fn act_params(t: &Tensors, prefix: &str, scheme: Scheme) -> Result<ActParams, FormatError> {
    let scale = t.f32s(&format!("{prefix}.scale"), &[1])?[0];
    let zero_point = t.i32s(&format!("{prefix}.zero_point"), &[1])?[0];
    let range = t.f32s(&format!("{prefix}.range"), &[2])?;
    let params = params(&scheme, scale, zero_point, range[0], range[1], prefix)?;
    Ok(ActParams { params, scheme })
}

fn check_scheme(s: &Scheme, what: &str) -> Result<(), FormatError> {
    s.validate().map_err(|e| malformed(format!("{what}: {e}")))
}

/// Reads a quantized model written by [`write_quantized`]; `max_params` limits the model's size.
pub fn read_quantized(bytes: &[u8], max_params: usize) -> Result<QuantModel, FormatError> {
    if bytes.len() > MAX_SAFETENSORS_BYTES {
        return Err(FormatError::TooLarge { bytes: bytes.len(), limit: MAX_SAFETENSORS_BYTES });
    }
    if bytes.len() < 10 || bytes[8] != b'{' {
        return Err(FormatError::BadMagic { format: ".safetensors" });
    }
    let st = SafeTensors::deserialize(bytes).map_err(|e| malformed(e.to_string()))?;
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| malformed(e.to_string()))?;
    let metadata = meta.metadata().clone().unwrap_or_default();
    let get = |key: &str| {
        metadata.get(key).ok_or_else(|| malformed(format!("no \"{key}\" metadata: this is not a quantized model written by qplay")))
    };
    let arch: Architecture = serde_json::from_str(get(ARCHITECTURE_KEY)?).map_err(|e| FormatError::Architecture(format!("{ARCHITECTURE_KEY}: {e}")))?;
    let spec: QuantSpec = serde_json::from_str(get(QUANTIZATION_KEY)?).map_err(|e| malformed(format!("{QUANTIZATION_KEY}: {e}")))?;
    if spec.version != 1 {
        return Err(malformed(format!("version {} of the quantization metadata; this qplay reads version 1", spec.version)));
    }
    let t = Tensors(st);

    // 1. Every quantized layer's integers and parameters, and ŵ.
    let mut quantized: Vec<(LayerQuantSpec, GranularQuantized)> = Vec::with_capacity(spec.layers.len());
    let mut total = 0usize;
    for ls in &spec.layers {
        let name = &ls.name;
        let what = format!("layer {name}");
        check_scheme(&ls.scheme, &what)?;
        if ls.bits != ls.scheme.bits || Packing::of(&ls.scheme) != ls.packing {
            return Err(malformed(format!("{what}: bits {} and packing {:?} do not match its scheme", ls.bits, ls.packing)));
        }
        let out = *ls.weight_shape.first().ok_or_else(|| malformed(format!("{what}: empty weight_shape")))?;
        let fan_in = ls.weight_shape[1..].iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        let count = fan_in.and_then(|f| f.checked_mul(out)).filter(|&c| c > 0 && c <= max_params);
        let (Some(fan_in), Some(count)) = (fan_in, count) else {
            return Err(malformed(format!("{what}: weight_shape {:?} is empty or beyond the limit of {max_params} parameters", ls.weight_shape)));
        };
        total = total.saturating_add(count);
        if total > max_params {
            return Err(FormatError::Model(crate::model::ModelError::TooLarge { params: total as u128, limit: max_params }));
        }
        let layout = SliceLayout::new(&[out, fan_in], ls.granularity, count).map_err(|e| malformed(format!("{what}: {e}")))?;
        let bits = ls.scheme.bits;
        let qname = format!("{name}.weight.q");
        let q: Vec<i32> = match ls.packing {
            Packing::BitsLe => unpack_bits(t.data(&qname, Dtype::U8, &[out, packed_row_bytes(fan_in, bits)])?, out, fan_in, bits, ls.scheme.signed),
            Packing::I8 => t.data(&qname, Dtype::I8, &[out, fan_in])?.iter().map(|&b| b as i8 as i32).collect(),
            Packing::U8 => t.data(&qname, Dtype::U8, &[out, fan_in])?.iter().map(|&b| b as i32).collect(),
            Packing::I16 => t.data(&qname, Dtype::I16, &[out, fan_in])?.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]]) as i32).collect(),
            Packing::U16 => t.data(&qname, Dtype::U16, &[out, fan_in])?.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]) as i32).collect(),
        };
        let (qmin, qmax) = ls.scheme.clamp_range();
        if let Some(i) = q.iter().position(|&v| v < qmin || v > qmax) {
            return Err(malformed(format!("{what}: weight integer #{i} is {}, outside [{qmin}, {qmax}]", q[i])));
        }
        let ss = slice_shape(&layout);
        let n = layout.num_slices();
        let scales = t.f32s(&format!("{name}.weight.scale"), &ss)?;
        let zps = t.i32s(&format!("{name}.weight.zero_point"), &ss)?;
        let ranges = t.f32s(&format!("{name}.weight.range"), &[n, 4])?;
        let mut slices = Vec::with_capacity(n);
        let mut dequant = vec![0f32; count];
        for k in 0..n {
            let r = &ranges[4 * k..4 * k + 4];
            let p = params(&ls.scheme, scales[k], zps[k], r[0], r[1], &format!("{what}, slice {k}"))?;
            // The guard widened the range iff the calibrated range differs from the one used.
            let guard = if r[2].to_bits() == r[0].to_bits() && r[3].to_bits() == r[1].to_bits() {
                RangeGuard::None
            } else {
                RangeGuard::Widened { from_alpha: r[2], from_beta: r[3] }
            };
            layout.for_each_run(k, |start, len| kernels::dequantize(&q[start..start + len], &p, &mut dequant[start..start + len]));
            slices.push(SliceParams { params: p, guard });
        }
        let g = GranularQuantized { scheme: ls.scheme, calibration: ls.calibration, layout, slices, q, dequant };
        quantized.push((ls.clone(), g));
    }

    // 2. The model: ŵ and b′ for quantized layers, the stored FP32 tensors for the rest.
    let mut file = SafetensorsFile::default();
    for spec_layer in &arch.layers {
        use super::safetensors::LayerSpec as L;
        let name = match spec_layer {
            L::Linear { name } | L::Conv2d { name, .. } => name,
            L::BatchNorm { name, .. } => {
                return Err(FormatError::Architecture(format!("layer {name}: a quantized model has its BatchNorms folded")));
            }
            _ => continue,
        };
        let named = |n: String, shape: Vec<usize>, values: Vec<f32>| NamedTensor { name: n, dtype: "F32".into(), tensor: Tensor { shape, values } };
        if let Some((ls, g)) = quantized.iter().find(|(ls, _)| &ls.name == name) {
            let out = ls.weight_shape[0];
            file.tensors.push(named(format!("{name}.weight"), ls.weight_shape.clone(), g.dequant.clone()));
            file.tensors.push(named(format!("{name}.bias"), vec![out], t.f32s(&format!("{name}.bias"), &[out])?));
        } else {
            for suffix in ["weight", "bias"] {
                let key = format!("{name}.{suffix}");
                let view = t.0.tensor(&key).map_err(|_| malformed(format!("the file has no tensor \"{key}\"")))?;
                let shape = view.shape().to_vec();
                let values = t.f32s(&key, &shape)?;
                file.tensors.push(named(key, shape, values));
            }
        }
    }
    let model = arch.build(&file, max_params)?;

    // 3. The quantized layers, checked against the model.
    let mut layers: Vec<Option<QuantLayer>> = vec![None; model.layers.len()];
    for (ls, weight) in quantized {
        let what = format!("layer {}", ls.name);
        let layer = model.layers.get(ls.index).filter(|l| l.name == ls.name).ok_or_else(|| {
            malformed(format!("{what}: index {} is not a layer of that name in the architecture", ls.index))
        })?;
        let (shape, in_channels) = match &layer.kind {
            LayerKind::Linear(l) => (vec![l.out_features, l.in_features], l.in_features),
            LayerKind::Conv2d(c) => (vec![c.out_channels, c.in_channels, c.kernel, c.kernel], c.in_channels),
            _ => return Err(malformed(format!("{what} is not a Linear or Conv2d"))),
        };
        if shape != ls.weight_shape || layers[ls.index].is_some() {
            return Err(malformed(format!("{what}: weight_shape {:?} does not match the layer's {shape:?}", ls.weight_shape)));
        }
        let out = shape[0];
        let bias = t.f32s(&format!("{}.bias", ls.name), &[out])?;
        let bias_delta = t.f32s(&format!("{}.bias_delta", ls.name), &[out])?;
        let smooth = match ls.smooth {
            true => Some(t.f32s(&format!("{}.smooth", ls.name), &[in_channels])?),
            false => None,
        };
        if let Some(s) = smooth.as_ref().and_then(|s| s.iter().find(|v| !(v.is_finite() && **v > 0.0))) {
            return Err(malformed(format!("{what}: SmoothQuant factor {s} is not a positive number")));
        }
        let input = match ls.input {
            InputSpec::Float => InputQuant::Float,
            InputSpec::Static { scheme } => {
                check_scheme(&scheme, &what)?;
                InputQuant::Static(act_params(&t, &format!("{}.input", ls.name), scheme)?)
            }
            InputSpec::Dynamic { strategy, scheme } => {
                check_scheme(&scheme, &what)?;
                InputQuant::Dynamic { strategy, scheme }
            }
        };
        layers[ls.index] = Some(QuantLayer { index: ls.index, name: ls.name, weight, weight_shape: shape, bias, bias_delta, input, smooth });
    }
    let output = match spec.output {
        Some(o) => {
            check_scheme(&o.scheme, "the output")?;
            Some(act_params(&t, OUTPUT_PREFIX, o.scheme)?)
        }
        None => None,
    };
    QuantModel::new(model, layers, output).map_err(FormatError::Model)
}

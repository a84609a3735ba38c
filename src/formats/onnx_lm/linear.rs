//! One Linear of the decoder as ONNX nodes, whatever its [`LmLinear`] format.
//!
//! ```text
//! x [B, T, K], W [N, K], y = x·Wᵀ [B, T, N]
//!
//! float (f32, f16, bf16, simulated grids: the f32 values qplay multiplies)
//!     y = MatMul(x, Wᵀ)                                  Wᵀ: an f32 initializer [K, N]
//!
//! integer weights (GroupedWeights: b = 8 or 4 bits, groups of g along K, G = K / g,
//!                  w[n, k] = scale[n, k/g] · (u[n, k] − o) + min[n, k/g])
//!     i = u − o stored transposed [K, N]:   8 bits → int8 (i ∈ [−128, 127])
//!                                           4 bits, o = 8 → int4 (i ∈ [−8, 7])
//!                                           4 bits, o = 0 → uint4 (i ∈ [0, 15])
//!     ŵ = DequantizeLinear(i, scale) = i · scale   (no zero point: the integer is already u − o)
//!         per channel (G = 1): scale [N], axis = 1        per group: scale [G, N], axis = 0, block_size = g
//!     with minimums: ŵ = Reshape(Reshape(ŵ, [G, g, N]) + min [G, 1, N], [K, N])   (per channel: ŵ + min [N])
//!     y = MatMul(x̂, ŵ)
//!
//! int8 activations (W8A8 / W4A8: qplay's qmatmul, runq.c), per token and per group of the weights' g
//!     x_r = Reshape(x, [−1, g])                                          [R, g], R = B·T·G
//!     s_x = ReduceMax(|x_r|, axis 1) / 127                               [R]   (qplay: max|x| / 127.0 in f32)
//!     s'  = Where(s_x = 0, 1, s_x)                                       a row of zeros: q = 0 either way
//!     q   = QuantizeLinear(x_r, s', axis 0, int8) = saturate(round(x_r / s'))
//!     x̂   = Reshape(DequantizeLinear(q, s', axis 0), Shape(x)) = q · s'
//!
//! static int8 activations (`static_acts`: one calibrated scale s for the Linear's input)
//!     x̂   = DequantizeLinear(QuantizeLinear(Clip(x, −127·s, 127·s), s, int8), s)   s: an f32 scalar
//! ```
//!
//! Differences from qplay, both in the activations only: QuantizeLinear rounds half to even where
//! qplay's `round` rounds half away from zero (they differ only when x / s is exactly k + ½), and
//! saturates to [−128, 127] where qplay clamps to ±127 (never reached: |x / s| ≤ 127 up to one
//! rounding of the division, which cannot reach −127.5). The weights are the same integers and
//! scales; ŵ = i · scale and + min are the same f32 operations as
//! [`GroupedWeights::dequantize_row`], so the dequantized matrices agree bit for bit.
//!
//! Minimums (asymmetric grids, Q4_1) are not integer zero points in general (−min / scale is any
//! real number), hence the Add. ONNX's int4 layout: two values per byte, the first (even flat
//! index) in the low nibble.

use onnx_protobuf::tensor_proto::DataType;

use super::LmGraph;
use crate::formats::onnx::graph::Attr;
use crate::formats::FormatError;
use crate::lm::LmLinear;
use crate::quant::grouped::GroupedWeights;

/// Where a weight initializer's rows go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// [K, N] = Wᵀ: the right operand of MatMul(x, ·).
    Transposed,
    /// [N, K] = W: an embedding table, rows looked up by Gather.
    Rows,
}

fn export_err(name: &str, message: impl std::fmt::Display) -> FormatError {
    FormatError::Export(format!("layer {name}: {message}"))
}

/// W [N, K] of a float Linear as f32 values (row by row: works on packed and plain storage).
fn float_matrix(name: &str, l: &LmLinear) -> Result<Vec<f32>, FormatError> {
    let (n, k) = (l.n(), l.k());
    let mut w = vec![0f32; n * k];
    for (row, out) in w.chunks_exact_mut(k.max(1)).enumerate() {
        l.row(row, out).map_err(|e| export_err(name, e))?;
    }
    Ok(w)
}

/// Wᵀ [K, N] of W [N, K].
fn transpose<T: Copy + Default>(w: &[T], n: usize, k: usize) -> Vec<T> {
    let mut t = vec![T::default(); n * k];
    for (row, r) in w.chunks_exact(k.max(1)).enumerate() {
        for (col, &v) in r.iter().enumerate() {
            t[col * n + row] = v;
        }
    }
    t
}

/// y = x · Wᵀ for the Linear called `name` (see the module header); returns y's value name.
pub(super) fn emit_linear(w: &mut LmGraph, name: &str, l: &LmLinear, x: &str) -> Result<String, FormatError> {
    let (n, k) = (l.n(), l.k());
    let (x, weight) = match l {
        LmLinear::Float { acts_group, act_scale, .. } => {
            // A simulated width with int8 activations quantizes x as the integer kernels do.
            let x = match (acts_group, act_scale) {
                (Some(_), Some(s)) => static_activation_qdq(w, x, *s, name),
                (Some(g), None) => activation_qdq(w, x, *g, name),
                (None, _) => x.to_string(),
            };
            let wt = transpose(&float_matrix(name, l)?, n, k);
            (x, w.g.init_f32(&format!("{name}.weight_t"), &[k, n], &wt))
        }
        LmLinear::Grouped { w: gw, int8_acts, act_scale, .. } => {
            let x = match (int8_acts, act_scale) {
                (true, Some(s)) => static_activation_qdq(w, x, *s, name),
                (true, None) => activation_qdq(w, x, gw.group, name),
                (false, _) => x.to_string(),
            };
            (x, weight_dq(w, name, gw, Layout::Transposed)?)
        }
    };
    Ok(w.g.node("MatMul", name, &[&x, &weight], vec![]))
}

/// The embedding table [V, D] as a float value: an initializer, or DequantizeLinear (+ minimums)
/// of its integers.
pub(super) fn embedding_table(w: &mut LmGraph, name: &str, l: &LmLinear) -> Result<String, FormatError> {
    match l {
        LmLinear::Float { .. } => {
            let table = float_matrix(name, l)?;
            Ok(w.g.init_f32(&format!("{name}.weight"), &[l.n(), l.k()], &table))
        }
        LmLinear::Grouped { w: gw, .. } => weight_dq(w, name, gw, Layout::Rows),
    }
}

/// The integers i = u − o of `gw` in `layout` order.
fn integers(name: &str, gw: &GroupedWeights, layout: Layout) -> Result<Vec<i8>, FormatError> {
    let (n, k) = (gw.n, gw.k);
    let mut rows = vec![0i8; n * k];
    for (row, out) in rows.chunks_exact_mut(k).enumerate() {
        for (col, o) in out.iter_mut().enumerate() {
            let i = gw.int_at(row, col).ok_or_else(|| export_err(name, format!("no integer at [{row}, {col}]")))?;
            // u − o ∈ [−128, 127] (8 bits), [−8, 7] or [0, 15] (4 bits): validated, an i8 holds it.
            *o = i8::try_from(i).map_err(|_| export_err(name, format!("integer {i} at [{row}, {col}] is outside int8")))?;
        }
    }
    Ok(match layout {
        Layout::Rows => rows,
        Layout::Transposed => transpose(&rows, n, k),
    })
}

/// ONNX int4 / uint4 storage: value 2j in the low nibble of byte j, value 2j + 1 in the high one.
pub fn pack_nibbles(values: &[i8]) -> Vec<u8> {
    values
        .chunks(2)
        .map(|p| (p[0] as u8 & 0x0F) | ((p.get(1).copied().unwrap_or(0) as u8 & 0x0F) << 4))
        .collect()
}

/// The integer initializer of `gw`, its DequantizeLinear, and the Add of its minimums.
fn weight_dq(w: &mut LmGraph, name: &str, gw: &GroupedWeights, layout: Layout) -> Result<String, FormatError> {
    let (n, k, g, groups) = (gw.n, gw.k, gw.group, gw.groups());
    let ints = integers(name, gw, layout)?;
    let (ty, raw) = match (gw.bits, gw.offset) {
        (8, 0) => (DataType::INT8, ints.iter().map(|&v| v as u8).collect()),
        (4, 8) => (DataType::INT4, pack_nibbles(&ints)),
        (4, 0) => (DataType::UINT4, pack_nibbles(&ints)),
        (b, o) => return Err(export_err(name, format!("{b}-bit weights with offset {o} have no ONNX integer type"))),
    };
    let shape = match layout {
        Layout::Transposed => [k, n],
        Layout::Rows => [n, k],
    };
    let q = w.g.push_init(&format!("{name}.weight_quantized"), &shape, ty, raw);
    // scale[n, gi] in the initializer's order; per channel a vector along the output axis.
    let per_channel = groups == 1;
    let (scale_shape, scale, attrs) = match (layout, per_channel) {
        (Layout::Transposed, true) => (vec![n], gw.scale.clone(), vec![("axis", Attr::Int(1))]),
        (Layout::Rows, true) => (vec![n], gw.scale.clone(), vec![("axis", Attr::Int(0))]),
        (Layout::Transposed, false) => (
            vec![groups, n],
            transpose(&gw.scale, n, groups),
            vec![("axis", Attr::Int(0)), ("block_size", Attr::Int(g as i64))],
        ),
        (Layout::Rows, false) => (vec![n, groups], gw.scale.clone(), vec![("axis", Attr::Int(1)), ("block_size", Attr::Int(g as i64))]),
    };
    let s = w.g.init_f32(&format!("{name}.weight_scale"), &scale_shape, &scale);
    let dq = w.g.node("DequantizeLinear", &format!("{name}.weight.dequantize"), &[&q, &s], attrs);
    let Some(min) = &gw.min else { return Ok(dq) };
    // ŵ + min, the minimums broadcast over their group.
    Ok(match (layout, per_channel) {
        (Layout::Transposed, true) => {
            let m = w.g.init_f32(&format!("{name}.weight_min"), &[n], min);
            w.g.node("Add", &format!("{name}.weight.add_min"), &[&dq, &m], vec![])
        }
        (Layout::Rows, true) => {
            let m = w.g.init_f32(&format!("{name}.weight_min"), &[n, 1], min);
            w.g.node("Add", &format!("{name}.weight.add_min"), &[&dq, &m], vec![])
        }
        (Layout::Transposed, false) => {
            let m = w.g.init_f32(&format!("{name}.weight_min"), &[groups, 1, n], &transpose(min, n, groups));
            let blocks = w.ints(&[groups as i64, g as i64, n as i64]);
            let r = w.g.node("Reshape", &format!("{name}.weight.blocks"), &[&dq, &blocks], vec![]);
            let a = w.g.node("Add", &format!("{name}.weight.add_min"), &[&r, &m], vec![]);
            let full = w.ints(&[shape[0] as i64, shape[1] as i64]);
            w.g.node("Reshape", &format!("{name}.weight.unblock"), &[&a, &full], vec![])
        }
        (Layout::Rows, false) => {
            let m = w.g.init_f32(&format!("{name}.weight_min"), &[n, groups, 1], min);
            let blocks = w.ints(&[n as i64, groups as i64, g as i64]);
            let r = w.g.node("Reshape", &format!("{name}.weight.blocks"), &[&dq, &blocks], vec![]);
            let a = w.g.node("Add", &format!("{name}.weight.add_min"), &[&r, &m], vec![]);
            let full = w.ints(&[shape[0] as i64, shape[1] as i64]);
            w.g.node("Reshape", &format!("{name}.weight.unblock"), &[&a, &full], vec![])
        }
    })
}

/// x → DequantizeLinear(QuantizeLinear(Clip(x, ±127·s), s), s) with the static scale s of the
/// Linear's input: q = round(x / s) within ±127, as qplay's static int8 activations (the Clip
/// keeps QuantizeLinear off −128).
fn static_activation_qdq(w: &mut LmGraph, x: &str, s: f32, name: &str) -> String {
    let p = format!("{name}.input");
    let (lo, hi, scale) = (w.scalar_f32(-127.0 * s), w.scalar_f32(127.0 * s), w.scalar_f32(s));
    let xc = w.g.node("Clip", &format!("{p}.clip"), &[x, &lo, &hi], vec![]);
    let q = w.g.node("QuantizeLinear", &format!("{p}.quantize"), &[&xc, &scale], vec![("output_dtype", Attr::Int(DataType::INT8 as i64))]);
    w.g.node("DequantizeLinear", &format!("{p}.dequantize"), &[&q, &scale], vec![])
}

/// Dynamic symmetric int8 QuantizeLinear → DequantizeLinear of `x` per token and group of
/// `group` values along its last axis (see the module header); returns x̂.
fn activation_qdq(w: &mut LmGraph, x: &str, group: usize, name: &str) -> String {
    let p = format!("{name}.input");
    let shape = w.g.node("Shape", &format!("{p}.shape"), &[x], vec![]);
    let rows = w.ints(&[-1, group as i64]);
    let xr = w.g.node("Reshape", &format!("{p}.groups"), &[x, &rows], vec![]);
    let abs = w.g.node("Abs", &format!("{p}.abs"), &[&xr], vec![]);
    let axis1 = w.ints(&[1]);
    let amax = w.g.node("ReduceMax", &format!("{p}.absmax"), &[&abs, &axis1], vec![("keepdims", Attr::Int(0))]);
    let c127 = w.scalar_f32(127.0);
    // s_x = max|x| / 127, as qplay's f32 division.
    let s = w.g.node("Div", &format!("{p}.scale"), &[&amax, &c127], vec![]);
    let zero = w.scalar_f32(0.0);
    let one = w.scalar_f32(1.0);
    let is_zero = w.g.node("Equal", &format!("{p}.scale_is_zero"), &[&s, &zero], vec![]);
    let s = w.g.node("Where", &format!("{p}.safe_scale"), &[&is_zero, &one, &s], vec![]);
    let q = w.g.node(
        "QuantizeLinear",
        &format!("{p}.quantize"),
        &[&xr, &s],
        vec![("axis", Attr::Int(0)), ("output_dtype", Attr::Int(DataType::INT8 as i64))],
    );
    let dq = w.g.node("DequantizeLinear", &format!("{p}.dequantize"), &[&q, &s], vec![("axis", Attr::Int(0))]);
    w.g.node("Reshape", &format!("{p}.ungroup"), &[&dq, &shape], vec![])
}

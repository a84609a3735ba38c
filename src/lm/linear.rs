//! One Linear layer of a language model, whatever its weight format: the single
//! quantized-matmul abstraction that the forward pass is written against
//! (candle's `QMatMul`). y [M, N] = x [M, K] · Wᵀ.
//!
//! - `Float`: FP32 weights, or FP16 / BF16 / fake-quantized weights held as the f32 values
//!   they represent (the simulation of bit widths that no kernel runs);
//! - `Grouped`: 8- or 4-bit integers with per-group scales ([`GroupedWeights`]), multiplied
//!   on the integer kernels of [`crate::runtime::qmatmul`]: with float activations
//!   (W8A16 / W4A16, unpacked in registers) or int8 activations quantized per token and per
//!   group right before the product (W8A8 / W4A8, as llama2.c's runq.c). The weights are
//!   never expanded to an f32 matrix.

use super::LmError;
use crate::quant::grouped::GroupedWeights;
use crate::quant::QuantError;
use crate::runtime::gemm_f32::{self, PackedWf32};
use crate::runtime::gemm_i8::PackedW;
use crate::runtime::qmatmul::{self, per_channel_i8, QuantizedActs};

#[derive(Clone, Debug)]
pub enum LmLinear {
    /// FP32 weights on the f32 GEMM (wasm: the project's simd128 GEMM on packed panels;
    /// natively: matrixmultiply's sgemm on the row-major matrix). `stored_bytes` counts the
    /// format's own size (4 per weight for f32, 2 for f16 / bf16, the packed size of a
    /// simulated grid).
    /// `acts_group`: the simulation of int8 activations (W3A8 and other widths without an
    /// integer kernel): x is quantized per token and group as the integer kernels quantize it,
    /// and its values s_x · q_x go into the f32 GEMM.
    /// `act_scale`: with int8 activations, one static scale for every token and group
    /// (calibrated; None: a scale per token and group computed at run time). The same in `Grouped`.
    Float { w: PackedWf32, plain: Vec<f32>, stored_bytes: usize, format: String, acts_group: Option<usize>, act_scale: Option<f32> },
    /// Integer weights on the grouped kernels; `int8_acts`: quantize x to int8 first.
    /// `panels`: per-channel 8-bit weights with int8 activations (W8A8) run on the int8 GEMM
    /// instead, over this copy of `w`'s integers in its panels
    /// ([`qmatmul::per_channel_i8`]); made by [`LmLinear::grouped`] and
    /// [`LmLinear::with_int8_acts`], None for every other format.
    Grouped { w: GroupedWeights, int8_acts: bool, format: String, panels: Option<PackedW>, act_scale: Option<f32> },
}

impl LmLinear {
    pub fn f32(w: &[f32], n: usize, k: usize) -> LmLinear {
        Self::float(w, n, k, 4 * n * k, "f32".into())
    }

    /// Float weights that take `stored_bytes` in their own format.
    pub fn float(w: &[f32], n: usize, k: usize, stored_bytes: usize, format: String) -> LmLinear {
        // wasm runs the packed panels; natively sgemm reads the plain matrix. Each keeps one copy.
        let (packed, plain) = if cfg!(target_arch = "wasm32") {
            (PackedWf32::pack(w, n, k), Vec::new())
        } else {
            (PackedWf32 { n, k, panels: 0, data: Vec::new() }, w.to_vec())
        };
        LmLinear::Float { w: packed, plain, stored_bytes, format, acts_group: None, act_scale: None }
    }

    /// Integer weights; with `int8_acts` and per-channel 8-bit weights, also their int8 GEMM
    /// panels.
    pub fn grouped(w: GroupedWeights, int8_acts: bool, format: String) -> LmLinear {
        let panels = if int8_acts { per_channel_i8::pack(&w) } else { None };
        LmLinear::Grouped { w, int8_acts, format, panels, act_scale: None }
    }

    /// The same Linear with its input quantized to int8 per token first: float weights simulate
    /// it with groups of `group` values; integer weights run it on the integer kernels, which
    /// always group the activations as the weights are grouped (`group` unused).
    pub fn with_int8_acts(mut self, group: usize) -> LmLinear {
        match &mut self {
            LmLinear::Float { acts_group, .. } => *acts_group = Some(group),
            LmLinear::Grouped { int8_acts: true, .. } => {}
            LmLinear::Grouped { w, int8_acts, panels, .. } => {
                *int8_acts = true;
                *panels = per_channel_i8::pack(w);
            }
        }
        self
    }

    /// Sets the static scale of its int8 input (None: per token). The caller checks s > 0 and
    /// finite; the product refuses any other.
    pub fn set_act_scale(&mut self, s: Option<f32>) {
        match self {
            LmLinear::Float { act_scale, .. } | LmLinear::Grouped { act_scale, .. } => *act_scale = s,
        }
    }

    /// The static scale of its int8 input, if it has one.
    pub fn act_scale(&self) -> Option<f32> {
        match self {
            LmLinear::Float { act_scale, .. } | LmLinear::Grouped { act_scale, .. } => *act_scale,
        }
    }

    /// How its input is quantized to int8: the group and the static scale (None: the input stays f32).
    fn acts_key(&self) -> Option<(usize, Option<u32>)> {
        self.acts_group().map(|g| (g, self.act_scale().map(f32::to_bits)))
    }

    /// The group its input is quantized with to int8 (None: the input stays f32).
    pub fn acts_group(&self) -> Option<usize> {
        match self {
            LmLinear::Float { acts_group, .. } => *acts_group,
            LmLinear::Grouped { w, int8_acts: true, .. } => Some(w.group),
            LmLinear::Grouped { .. } => None,
        }
    }

    /// Output features N.
    pub fn n(&self) -> usize {
        match self {
            LmLinear::Float { w, .. } => w.n,
            LmLinear::Grouped { w, .. } => w.n,
        }
    }

    /// Input features K.
    pub fn k(&self) -> usize {
        match self {
            LmLinear::Float { w, .. } => w.k,
            LmLinear::Grouped { w, .. } => w.k,
        }
    }

    /// Bytes of the stored weights (scales and minimums included).
    pub fn bytes(&self) -> usize {
        match self {
            LmLinear::Float { stored_bytes, .. } => *stored_bytes,
            LmLinear::Grouped { w, .. } => w.bytes(),
        }
    }

    pub fn format(&self) -> &str {
        match self {
            LmLinear::Float { format, .. } | LmLinear::Grouped { format, .. } => format,
        }
    }

    /// Which kernel runs this layer.
    pub fn engine(&self) -> &'static str {
        match self {
            LmLinear::Float { format, .. } if format == "f32" => "f32 GEMM",
            LmLinear::Float { format, .. } if format == "f16" || format == "bf16" => "f32 GEMM on f16/bf16 values",
            LmLinear::Float { acts_group: Some(_), act_scale: Some(_), .. } => "simulated (fake-quant weights and int8 activations, static scale, on the f32 GEMM)",
            LmLinear::Float { acts_group: Some(_), .. } => "simulated (fake-quant weights and int8 activations on the f32 GEMM)",
            LmLinear::Float { .. } => "simulated (fake-quant values on the f32 GEMM)",
            LmLinear::Grouped { int8_acts: true, w, act_scale: Some(_), .. } if w.bits == 8 => "int8 × int8 (W8A8, static activation scale)",
            LmLinear::Grouped { int8_acts: true, w, .. } if w.bits == 8 => "int8 × int8 (W8A8)",
            LmLinear::Grouped { int8_acts: true, act_scale: Some(_), .. } => "int4 × int8 (W4A8, static activation scale)",
            LmLinear::Grouped { int8_acts: true, .. } => "int4 × int8 (W4A8)",
            LmLinear::Grouped { w, .. } if w.bits == 8 => "int8 weights × f32 (W8A16)",
            LmLinear::Grouped { .. } => "int4 weights × f32 (W4A16)",
        }
    }

    /// Row `n` of W (dequantized when the format is quantized): an embedding lookup.
    pub fn row(&self, n: usize, out: &mut [f32]) -> Result<(), LmError> {
        match self {
            LmLinear::Float { w, plain, .. } if !plain.is_empty() => {
                out.copy_from_slice(&plain[n * w.k..(n + 1) * w.k]);
                Ok(())
            }
            LmLinear::Float { w, .. } => {
                let (p, c) = (n / gemm_f32::PANEL, n % gemm_f32::PANEL);
                for (kk, o) in out.iter_mut().enumerate().take(w.k) {
                    *o = w.data[(p * w.k + kk) * gemm_f32::PANEL + c];
                }
                Ok(())
            }
            LmLinear::Grouped { w, format, .. } => {
                w.dequantize_row(n, out).map_err(|error| LmError::Quant { tensor: format.clone(), error })
            }
        }
    }

    /// y [M, N] = x [M, K] · Wᵀ; `acts` is scratch for the int8 activations.
    pub fn forward(&self, x: &[f32], m: usize, y: &mut [f32], acts: &mut QuantizedActs) -> Result<(), LmError> {
        self.forward_from(x, m, y, acts, false)
    }

    /// y_i = x · W_iᵀ for Linears that read the same x [M, K] (wq, wk, wv; w1, w3): with int8
    /// activations x is quantized once per group size, not once per Linear.
    pub fn forward_same_input(x: &[f32], m: usize, outs: &mut [(&LmLinear, &mut [f32])], acts: &mut QuantizedActs) -> Result<(), LmError> {
        // The group and static scale `acts` holds x quantized with (None: nothing of this x yet).
        let mut quantized_for = None;
        for (linear, y) in outs.iter_mut() {
            let key = linear.acts_key();
            linear.forward_from(x, m, y, acts, key.is_some() && key == quantized_for)?;
            quantized_for = key.or(quantized_for);
        }
        Ok(())
    }

    /// [`LmLinear::forward`]; `quantized`: `acts` already holds x quantized with this layer's
    /// group (int8 activations only).
    fn forward_from(&self, x: &[f32], m: usize, y: &mut [f32], acts: &mut QuantizedActs, quantized: bool) -> Result<(), LmError> {
        let err = |error| LmError::Quant { tensor: self.format().to_string(), error };
        let quantize = |k: usize, group: usize, acts: &mut QuantizedActs| match self.act_scale() {
            Some(s) => qmatmul::quantize_activations_static_into(x, m, k, group, s, acts),
            None => qmatmul::quantize_activations_into(x, m, k, group, acts),
        };
        if let LmLinear::Float { w, plain, acts_group: Some(group), .. } = self {
            // x → s_x · q_x per token and group (or with the static s_x), then the float product.
            if !quantized {
                quantize(w.k, *group, acts).map_err(err)?;
            }
            let xq: Vec<f32> = acts.q.iter().zip(acts.scale.iter().flat_map(|&s| std::iter::repeat_n(s, *group))).map(|(&q, s)| s * q as f32).collect();
            return float_product(w, plain, &xq, m, y).map_err(err);
        }
        match self {
            LmLinear::Float { w, plain, .. } => float_product(w, plain, x, m, y).map_err(err),
            LmLinear::Grouped { w, int8_acts: false, .. } => qmatmul::matmul_f32_grouped(x, m, w, y).map_err(err),
            LmLinear::Grouped { w, int8_acts: true, panels, .. } => {
                if !quantized {
                    quantize(w.k, w.group, acts).map_err(err)?;
                }
                match panels {
                    Some(p) => per_channel_i8::matmul(acts, m, w, p, y).map_err(err),
                    None => qmatmul::matmul_i8_grouped(acts, m, w, y).map_err(err),
                }
            }
        }
    }
}

/// y [M, N] = x [M, K] · Wᵀ on the f32 GEMM: the packed panels on wasm, sgemm on the plain
/// matrix natively (see [`LmLinear::Float`]).
fn float_product(w: &PackedWf32, plain: &[f32], x: &[f32], m: usize, y: &mut [f32]) -> Result<(), QuantError> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        use crate::runtime::native_gemm::{mm, View};
        for (len, want) in [(x.len(), m * w.k), (y.len(), m * w.n), (plain.len(), w.n * w.k)] {
            if len != want {
                return Err(QuantError::LengthMismatch { left: len, right: want });
            }
        }
        mm(m, w.k, w.n, View::rm(x, w.k), View::t(plain, w.k), 0.0, y, w.n);
        Ok(())
    }
    #[cfg(target_arch = "wasm32")]
    {
        let _ = plain;
        qmatmul::matmul_f32(x, m, w, y)
    }
}

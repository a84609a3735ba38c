//! Granularity: which elements share one (scale, zero point).
//!
//! Shape legend: a row-major tensor of shape [d₀, …, d₍ᵣ₋₁₎], quantized along
//! `axis`; the flat index of the element at (o, i, j) is
//!
//! ```text
//! outer = d₀·…·d₍axis−1₎     axis_len = d_axis     inner = d₍axis+1₎·…·d₍ᵣ₋₁₎
//! flat  = (o·axis_len + i)·inner + j
//! ```
//!
//! - per-tensor: one slice, every element;
//! - per-channel: `axis_len` slices; channel c = every element with i = c
//!   (for a [out, in] weight and axis 0, one slice per output row);
//! - per-group: blocks of `group_size` consecutive i, for each (o, j):
//!   `outer · (axis_len / group_size) · inner` slices, numbered in flat order of
//!   (o, group, j). For a [rows, cols] weight and axis 1 each row splits into
//!   cols / group_size groups: slice = row · (cols / group_size) + col / group_size.
//!
//! Each slice is calibrated on its own values (gathered in flat order), gets its
//! own `QParams` and `RangeGuard`, and is quantized with the shared kernels:
//!
//! ```text
//! x_q = clamp(round(x / s_k + Z_k), qmin, qmax)     r' = (x_q − Z_k) · s_k     k = slice of x
//! ```
//!
//! Stochastic rounding draws from the element's flat index in the whole tensor
//! (the kernels are called on each contiguous run with `base` = the run's first
//! flat index), so an element rounds the same way whatever the granularity.
//! Deterministic rounding therefore gives exactly per-tensor quantization of each
//! gathered slice; stochastic rounding gives it with each element's flat index.
//!
//! Typed errors: shape product ≠ number of values (or overflowing), axis ≥ rank,
//! group size 0 or not dividing the axis length; then the calibration's and the
//! scheme's own errors. A shape of `[]` is a scalar (one element), as in NumPy.

use serde::{Deserialize, Serialize};

use super::calibration::{calibrate, Calibration};
use super::{check_finite, kernels, QParams, QuantError, RangeGuard, Scheme};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    PerTensor,
    PerChannel { axis: usize },
    PerGroup { axis: usize, group_size: usize },
}

/// How a shape splits into slices under a granularity, and which slice holds each element.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SliceLayout {
    pub granularity: Granularity,
    pub shape: Vec<usize>,
    /// d₀·…·d₍axis−1₎ (1 for per-tensor).
    pub outer: usize,
    /// d_axis (the element count for per-tensor).
    pub axis_len: usize,
    /// d₍axis+1₎·…·d₍ᵣ₋₁₎ (1 for per-tensor).
    pub inner: usize,
    /// Block length along the axis: `group_size` for per-group, 1 for per-channel,
    /// the element count for per-tensor.
    pub group_size: usize,
}

impl SliceLayout {
    /// Checks the shape against `values` elements and the granularity against the shape.
    pub fn new(shape: &[usize], granularity: Granularity, values: usize) -> Result<SliceLayout, QuantError> {
        let elements = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        if elements != Some(values) {
            return Err(QuantError::ShapeMismatch { shape: shape.to_vec(), elements, values });
        }
        let split = |axis: usize| -> Result<(usize, usize, usize), QuantError> {
            if axis >= shape.len() {
                return Err(QuantError::Axis { axis, ndim: shape.len() });
            }
            // The product of all dims fits (checked above), so every partial product fits.
            Ok((shape[..axis].iter().product(), shape[axis], shape[axis + 1..].iter().product()))
        };
        let (outer, axis_len, inner, group_size) = match granularity {
            Granularity::PerTensor => (1, values, 1, values),
            Granularity::PerChannel { axis } => {
                let (o, a, i) = split(axis)?;
                (o, a, i, 1)
            }
            Granularity::PerGroup { axis, group_size } => {
                let (o, a, i) = split(axis)?;
                // Group size 0 has no groups; one that does not divide would leave a ragged last group.
                if group_size == 0 || a % group_size != 0 {
                    return Err(QuantError::GroupSize { group_size, axis_len: a });
                }
                (o, a, i, group_size)
            }
        };
        Ok(SliceLayout { granularity, shape: shape.to_vec(), outer, axis_len, inner, group_size })
    }

    /// Number of slices (each with its own parameters).
    pub fn num_slices(&self) -> usize {
        match self.granularity {
            Granularity::PerTensor => 1,
            Granularity::PerChannel { .. } => self.axis_len,
            Granularity::PerGroup { .. } => self.outer * (self.axis_len / self.group_size) * self.inner,
        }
    }

    /// Elements per slice (every slice has the same count).
    pub fn slice_len(&self) -> usize {
        match self.granularity {
            Granularity::PerTensor => self.axis_len,
            Granularity::PerChannel { .. } => self.outer * self.inner,
            Granularity::PerGroup { .. } => self.group_size,
        }
    }

    /// The slice that holds flat index `flat`. Like slice indexing, this is an accessor with a
    /// precondition (flat < the element count), not a checked entry point.
    pub fn slice_of(&self, flat: usize) -> usize {
        match self.granularity {
            Granularity::PerTensor => 0,
            // flat = (o·axis_len + i)·inner + j  →  c = i
            Granularity::PerChannel { .. } => (flat / self.inner) % self.axis_len,
            // slice = (o·groups + i / group_size)·inner + j
            Granularity::PerGroup { .. } => {
                let (j, t) = (flat % self.inner, flat / self.inner);
                let (i, o) = (t % self.axis_len, t / self.axis_len);
                let groups = self.axis_len / self.group_size;
                (o * groups + i / self.group_size) * self.inner + j
            }
        }
    }

    /// Calls `f(start, len)` for each contiguous run of flat indices in slice `k`
    /// (k < [`Self::num_slices`]), in increasing order of `start`.
    pub fn for_each_run(&self, k: usize, mut f: impl FnMut(usize, usize)) {
        match self.granularity {
            Granularity::PerTensor => f(0, self.axis_len),
            Granularity::PerChannel { .. } => {
                // channel k: for each o, the run (o·axis_len + k)·inner .. + inner
                for o in 0..self.outer {
                    f((o * self.axis_len + k) * self.inner, self.inner);
                }
            }
            Granularity::PerGroup { .. } => {
                let groups = self.axis_len / self.group_size;
                let (j, t) = (k % self.inner, k / self.inner);
                let (g, o) = (t % groups, t / groups);
                let first = (o * self.axis_len + g * self.group_size) * self.inner + j;
                if self.inner == 1 {
                    f(first, self.group_size); // the group is contiguous
                } else {
                    // consecutive i are `inner` apart: runs of one element
                    for step in 0..self.group_size {
                        f(first + step * self.inner, 1);
                    }
                }
            }
        }
    }

    /// The values of slice `k`, in flat order, into `out` (cleared first).
    pub fn gather(&self, x: &[f32], k: usize, out: &mut Vec<f32>) {
        out.clear();
        self.for_each_run(k, |start, len| out.extend_from_slice(&x[start..start + len]));
    }
}

/// One slice's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SliceParams {
    pub params: QParams,
    pub guard: RangeGuard,
}

/// A tensor quantized slice by slice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GranularQuantized {
    pub scheme: Scheme,
    pub calibration: Calibration,
    pub layout: SliceLayout,
    /// One entry per slice, indexed by slice number (see [`SliceLayout::slice_of`]).
    pub slices: Vec<SliceParams>,
    /// q, in the original element order.
    pub q: Vec<i32>,
    /// r' = (q − Z_k) · s_k, in the original element order.
    pub dequant: Vec<f32>,
}

impl GranularQuantized {
    /// The parameters of the slice that holds flat index `flat` (flat < `q.len()`; an index
    /// out of range panics, as slice indexing does).
    pub fn params_of(&self, flat: usize) -> &QParams {
        &self.slices[self.layout.slice_of(flat)].params
    }
}

/// Quantizes x (row-major, of `shape`) with one set of parameters per slice.
pub fn quantize_granular(
    x: &[f32],
    shape: &[usize],
    scheme: &Scheme,
    granularity: Granularity,
    calibration: &Calibration,
) -> Result<GranularQuantized, QuantError> {
    scheme.validate()?;
    calibration.validate()?;
    let layout = SliceLayout::new(shape, granularity, x.len())?;
    if x.is_empty() {
        return Err(QuantError::Empty);
    }
    check_finite(x)?; // the error names the flat index, not an index inside a slice
    if let Calibration::Kl { bins } = *calibration {
        super::calibration::kl::check_work(bins, layout.num_slices())?;
    }
    let mut slices = Vec::with_capacity(layout.num_slices());
    let mut q = vec![0i32; x.len()];
    let mut dequant = vec![0f32; x.len()];
    let mut buf = Vec::with_capacity(layout.slice_len());
    for k in 0..layout.num_slices() {
        layout.gather(x, k, &mut buf);
        let (alpha, beta) = calibrate(&buf, scheme, calibration)?;
        let (params, guard) = QParams::from_range(alpha, beta, scheme)?;
        // Each run goes through the kernels with base = its first flat index.
        layout.for_each_run(k, |start, len| {
            let run = start..start + len;
            kernels::quantize(&x[run.clone()], &params, scheme.rounding, start, &mut q[run.clone()]);
            kernels::dequantize(&q[run.clone()], &params, &mut dequant[run]);
        });
        slices.push(SliceParams { params, guard });
    }
    Ok(GranularQuantized { scheme: *scheme, calibration: *calibration, layout, slices, q, dequant })
}

/// Per-tensor quantization with a float range set by hand (the range sliders,
/// `--range`), in the same form as [`quantize_granular`]'s result.
pub fn quantize_with_manual_range(
    x: &[f32],
    shape: &[usize],
    scheme: &Scheme,
    alpha: f32,
    beta: f32,
) -> Result<GranularQuantized, QuantError> {
    let layout = SliceLayout::new(shape, Granularity::PerTensor, x.len())?;
    let q = super::quantize_with_range(x, alpha, beta, scheme)?;
    Ok(GranularQuantized {
        scheme: *scheme,
        calibration: Calibration::MinMax,
        layout,
        slices: vec![SliceParams { params: q.params, guard: q.guard }],
        q: q.q,
        dequant: q.dequant,
    })
}

//! W8A8 with per-channel weights on the engine's int8 GEMM ([`crate::runtime::gemm_i8`]), the
//! kernel the vision models run: the weights' integers packed once into its panels.
//!
//! ```text
//! per-channel symmetric 8-bit weights: one group per row (g = K), no minimum, offset 0
//!   w[n, k] = scale[n] · u[n, k]
//! int8 activations per token (one group per row, as the grouped kernels quantize them for g = K):
//!   idot[m, n] = Σ_k q_x[m, k] · u[n, k]                       gemm_i8, exact in i32
//!   y[m, n]    = 0 + (s_x[m] · scale[n]) · f32(idot[m, n])
//! ```
//!
//! This is the grouped kernels' formula with G = 1, the same operations in the same order, so
//! the outputs are the same bits as [`super::matmul_i8_grouped`]'s (tested). |idot| ≤ K · 127 · 128
//! fits an i32 for K ≤ [`crate::quant::grouped::MAX_GROUP`], which the weights' validation checks.
//!
//! Why a second path for one format: at M = 1 gemm_i8 reads its panels of 4 columns with one
//! pointer, while the grouped kernel widens i8 rows in registers from four pointers. Timed
//! alone under Node (M = 1, 2,000 calls, median of 9), gemm_i8 took 1.18 µs against the
//! grouped kernel's 1.62 µs at 128 × 128 and 3.30 against 4.70 µs at 384 × 128; a W8A8
//! token's Linears of the built-in model went from 1.55× to 1.63–1.95× FP32
//! (`lm::bench::linears_speed`, see the README).
//! The panels were i16 then (2 bytes per weight, twice the bytes to read per product); they
//! are i8 now, widened by the kernel's loads, and the same run gave the Linears 1.89–2.44×
//! FP32 (the README's table). Panels are made for matrices of at most [`MAX_PANEL_WEIGHTS`]
//! (every matrix of the built-in model: 49,152 at most); with i16 panels for every matrix
//! of the TinyStories 15M shape (288 × 288 … 32,000 × 288) W8A8's Linears ran at 2.0× FP32,
//! against 2.1–3.2× on the grouped kernel, and the larger ones stay on the grouped kernel.

use std::cell::RefCell;

use crate::quant::grouped::GroupedWeights;
use crate::quant::QuantError;
use crate::runtime::gemm_i8::{self, PackedW, KB, PANEL};

use super::{check_i8_grouped, QuantizedActs};

thread_local! {
    /// The int32 products idot [M, N], reused between calls (a decoder step makes ~40).
    static IDOT: RefCell<Vec<i32>> = const { RefCell::new(Vec::new()) };
}

/// Whether `w` is per-channel symmetric 8-bit (the format this path runs).
pub fn is_per_channel_i8(w: &GroupedWeights) -> bool {
    w.bits == 8 && w.offset == 0 && w.min.is_none() && w.group == w.k && w.k > 0
}

/// The largest matrix packed into panels: 131,072 weights.
pub const MAX_PANEL_WEIGHTS: usize = 128 << 10;

/// gemm_i8's panels of `w`'s integers, when `w` is per-channel symmetric 8-bit, valid, and has
/// at most [`MAX_PANEL_WEIGHTS`] weights.
pub fn pack(w: &GroupedWeights) -> Option<PackedW> {
    if !is_per_channel_i8(w) || w.validate().is_err() || w.n.saturating_mul(w.k) > MAX_PANEL_WEIGHTS {
        return None;
    }
    let q: Vec<i8> = w.q.iter().map(|&u| u as i8).collect();
    Some(PackedW::pack(&q, w.n, w.k))
}

/// Checks that `p` has the shape and length of `w`'s panels (in O(1) on every call: the fields
/// are public); the error names the length expected.
fn check_panels(p: &PackedW, w: &GroupedWeights) -> Result<(), QuantError> {
    let (kb, panels) = (w.k.div_ceil(KB), w.n.div_ceil(PANEL));
    let len = panels.checked_mul(kb).and_then(|v| v.checked_mul(PANEL * KB));
    if p.n == w.n && p.k == w.k && p.k_blocks == kb && p.panels == panels && len == Some(p.data.len()) {
        Ok(())
    } else {
        Err(QuantError::LengthMismatch { left: p.data.len(), right: len.unwrap_or(usize::MAX) })
    }
}

/// y [M, N] from int8 activations quantized per token with one group per row (`a.group` = K),
/// on gemm_i8's fastest kernel over `panels` (made by [`pack`] from `w`).
pub fn matmul(a: &QuantizedActs, m: usize, w: &GroupedWeights, panels: &PackedW, y: &mut [f32]) -> Result<(), QuantError> {
    check_i8_grouped(a, m, w, y.len(), 1)?;
    if !is_per_channel_i8(w) {
        return Err(QuantError::Setting {
            name: "weight format",
            message: format!("the int8 GEMM path needs per-channel symmetric 8-bit weights, not {}-bit in groups of {}", w.bits, w.group),
        });
    }
    check_panels(panels, w)?;
    let n = w.n;
    IDOT.with_borrow_mut(|idot| {
        idot.clear();
        idot.resize(y.len(), 0);
        (gemm_i8::best().run)(&a.q, m, panels, idot);
        for ((yr, dr), &sx) in y.chunks_exact_mut(n).zip(idot.chunks_exact(n)).zip(&a.scale) {
            for ((yv, &d), &s) in yr.iter_mut().zip(dr).zip(&w.scale) {
                // As the grouped kernels: acc = 0; acc += (s_x · scale) · f32(idot).
                *yv = 0.0 + (sx * s) * d as f32;
            }
        }
    });
    Ok(())
}

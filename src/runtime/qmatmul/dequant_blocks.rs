//! The float-activation product (W8A16 / W4A16) for many activation rows at once — a prompt's
//! prefill, a perplexity window: a block of weight rows is dequantized into a small f32 buffer,
//! then the f32 GEMM multiplies every activation row by it.
//!
//! ```text
//! for each block B of weight rows (at most BLOCK_WEIGHTS values, whole panels of 8 rows):
//!   ŵ[n, k] = scale[n, G] · f32(u[n, k] − o)  [+ min[n, G]]      n ∈ B, G = k / g   (as GroupedWeights::dequantize)
//!   y[:, B] = x · ŵ[B]ᵀ                                          the f32 GEMM of the build
//! ```
//!
//! Why: the register kernels ([`super::simd128`]) unpack and convert every weight once per tile
//! of 2 activation rows, so the conversion is paid M / 2 times; here it is paid once per call
//! and the multiply-adds run at the f32 GEMM's speed. Below [`min_rows`] rows (decoding: M = 1)
//! the register kernels stay faster, and read 4 to 8 times fewer bytes. The buffer holds one
//! block, never the whole matrix: [`BLOCK_WEIGHTS`] values (256 KiB), or one panel of 8 rows
//! when K is larger than that allows.
//!
//! Memory: the buffers never outgrow what the caller already holds. The block is at most
//! max(256 KiB, 8 · K f32), and this path runs for M ≥ 16 rows, whose activations x are already
//! ≥ 16 · K f32; the wasm GEMM's output for a block is M × (rows of the block ≤ N) f32, at most
//! the size of y.
//!
//! Rounding: each weight is rounded once or twice when dequantized, then every product and sum
//! once, so the result is within [`super::f32_grouped_tolerance`] of the scalar reference, like
//! the register kernels (tested), but not the same bits: the sums run in the GEMM's order.
//! Natively the GEMM is matrixmultiply's sgemm (the FP32 baseline's own), in wasm the project's
//! simd128 GEMM on packed panels ([`crate::runtime::gemm_f32`]).

use std::cell::RefCell;

use super::check_f32_grouped;
use super::scalar::unpack_group;
use crate::quant::grouped::{dequantized, GroupedWeights};
use crate::quant::QuantError;
use crate::runtime::gemm_f32::PANEL;

/// Activation rows from which [`super::matmul_f32_grouped`] takes this path: 16 for 4-bit
/// weights, 32 for 8-bit. Measured under Node (`bash scripts/bench_lm.sh`, `suite=lm_prefill`,
/// the built-in model's shapes 384 × 128 and 128 × 384): with 4-bit weights the blocks ran
/// 1.08–1.51× the register kernels at M = 16 and 0.76–0.95× at M = 8; with 8-bit weights
/// 0.88–0.94× at M = 16 and 1.30–1.40× at M = 64; at M = 256 (a perplexity window) 1.5–2.0×.
pub fn min_rows(bits: u8) -> usize {
    if bits == 4 {
        16
    } else {
        32
    }
}

/// Dequantized values per block: 65,536 f32 = 256 KiB (a block is at least one panel of 8 rows).
pub const BLOCK_WEIGHTS: usize = 64 << 10;

thread_local! {
    /// One block's dequantized weights (row-major natively, packed panels in wasm), reused
    /// between calls.
    static BLOCK: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// wasm: the GEMM's output for one block, [M, rows of the block].
    #[cfg(target_arch = "wasm32")]
    static OUT: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Weight rows per block for K inputs: whole panels, at most [`BLOCK_WEIGHTS`] values unless one
/// panel is already more.
pub fn block_rows(k: usize) -> usize {
    (BLOCK_WEIGHTS / k.max(1) / PANEL).max(1) * PANEL
}

/// y [M, N] = x [M, K] · ŵᵀ with ŵ dequantized block by block (see the module header).
pub fn matmul(x: &[f32], m: usize, w: &GroupedWeights, y: &mut [f32]) -> Result<(), QuantError> {
    matmul_in_blocks(x, m, w, y, block_rows(w.k))
}

/// [`matmul`] with `rows` weight rows per block (a positive multiple of 8; tests use small
/// blocks to cross block boundaries on small matrices).
pub fn matmul_in_blocks(x: &[f32], m: usize, w: &GroupedWeights, y: &mut [f32], rows: usize) -> Result<(), QuantError> {
    check_f32_grouped(x, m, w, y)?;
    if rows == 0 || !rows.is_multiple_of(PANEL) {
        return Err(QuantError::OutOfRange { setting: "rows per block", value: rows as f64, allowed: "a positive multiple of 8" });
    }
    if m == 0 || w.n == 0 {
        return Ok(());
    }
    let (n, k) = (w.n, w.k);
    // The block's size: at most max(BLOCK_WEIGHTS, 8 · K) values, K checked with the weights.
    let values = rows.min(n).div_ceil(PANEL).checked_mul(PANEL).and_then(|r| r.checked_mul(k));
    if values.is_none_or(|v| v > isize::MAX as usize / 4) {
        return Err(QuantError::TooLarge { elements: values, limit: isize::MAX as usize / 4 });
    }
    BLOCK.with_borrow_mut(|block| {
        let mut n0 = 0;
        while n0 < n {
            let nb = rows.min(n - n0);
            dequantize_rows(w, n0, nb, block);
            block_product(x, m, k, n, n0, nb, block, y);
            n0 += nb;
        }
    });
    Ok(())
}

/// Rows [n0, n0 + nb) of validated weights, dequantized into `out`: row-major [nb, K] natively,
/// packed panels of 8 rows in wasm (rows past nb are zero), each value
/// [`dequantized`], as [`GroupedWeights::dequantize_row`] computes it.
fn dequantize_rows(w: &GroupedWeights, n0: usize, nb: usize, out: &mut Vec<f32>) {
    let (k, g, groups) = (w.k, w.group, w.groups());
    let padded = if cfg!(target_arch = "wasm32") { nb.div_ceil(PANEL) * PANEL } else { nb };
    out.clear();
    out.resize(padded * k, 0.0);
    let mut ints = vec![0i8; g];
    for r in 0..nb {
        let row = n0 + r;
        for gi in 0..groups {
            unpack_group(w, row, gi, &mut ints);
            let s = w.scale[row * groups + gi];
            let min = w.min.as_ref().map(|mv| mv[row * groups + gi]);
            for (j, &u) in ints.iter().enumerate() {
                let v = dequantized(s, u as i32, min);
                let kk = gi * g + j;
                // Natively [nb, K]; in wasm panel r / 8 holds, for each k, its 8 rows' values.
                let at = if cfg!(target_arch = "wasm32") { ((r / PANEL) * k + kk) * PANEL + r % PANEL } else { r * k + kk };
                out[at] = v;
            }
        }
    }
}

/// y[:, n0 .. n0 + nb] = x · ŵᵀ for one dequantized block (sgemm writes into y directly, with y's
/// row stride).
/// (`block` is a Vec for the wasm twin's sake, which moves it into a PackedWf32.)
#[cfg(not(target_arch = "wasm32"))]
#[allow(clippy::too_many_arguments, clippy::ptr_arg)]
fn block_product(x: &[f32], m: usize, k: usize, n: usize, n0: usize, nb: usize, block: &mut Vec<f32>, y: &mut [f32]) {
    use crate::runtime::native_gemm::{mm, View};
    mm(m, k, nb, View::rm(x, k), View::t(block, k), 0.0, &mut y[n0..], n);
}

/// y[:, n0 .. n0 + nb] = x · ŵᵀ for one block of packed panels, on the build's f32 GEMM.
#[cfg(target_arch = "wasm32")]
#[allow(clippy::too_many_arguments)]
fn block_product(x: &[f32], m: usize, k: usize, n: usize, n0: usize, nb: usize, block: &mut Vec<f32>, y: &mut [f32]) {
    use crate::runtime::gemm_f32::{best, PackedWf32};
    // The GEMM reads its panels from a PackedWf32: the buffer moves in and back out, uncopied.
    let packed = PackedWf32 { n: nb, k, panels: nb.div_ceil(PANEL), data: std::mem::take(block) };
    OUT.with_borrow_mut(|out| {
        out.clear();
        out.resize(m * nb, 0.0);
        (best().run)(x, m, &packed, out);
        for (yr, or) in y.chunks_exact_mut(n).zip(out.chunks_exact(nb)) {
            yr[n0..n0 + nb].copy_from_slice(or);
        }
    });
    *block = packed.data;
}

//! One Linear layer of a language model, whatever its weight format: the single
//! quantized-matmul abstraction that the forward pass is written against
//! (candle's `QMatMul`). y [M, N] = x [M, K] · Wᵀ.

use crate::runtime::gemm_f32::{self, PackedWf32};

/// How a Linear's weights are stored and which kernel multiplies them.
#[derive(Clone, Debug)]
pub enum LmLinear {
    /// FP32 weights on the f32 GEMM (wasm: the project's simd128 GEMM on packed panels;
    /// natively: matrixmultiply's sgemm on the row-major matrix). `stored_bytes` is 4 per
    /// weight, or 2 for FP16 / BF16 baselines whose values were rounded to that format (exact in f32).
    Float { w: PackedWf32, plain: Vec<f32>, stored_bytes: usize, format: &'static str },
}

impl LmLinear {
    pub fn f32(w: &[f32], n: usize, k: usize) -> LmLinear {
        Self::float(w, n, k, 4, "f32")
    }

    /// Float weights that take `bytes_per_weight` when stored (4 for f32, 2 for f16 / bf16).
    pub fn float(w: &[f32], n: usize, k: usize, bytes_per_weight: usize, format: &'static str) -> LmLinear {
        // wasm runs the packed panels; natively sgemm reads the plain matrix. Each keeps one copy.
        let (packed, plain) = if cfg!(target_arch = "wasm32") {
            (PackedWf32::pack(w, n, k), Vec::new())
        } else {
            (PackedWf32 { n, k, panels: 0, data: Vec::new() }, w.to_vec())
        };
        LmLinear::Float { w: packed, plain, stored_bytes: bytes_per_weight * n * k, format }
    }

    /// Output features N.
    pub fn n(&self) -> usize {
        match self {
            LmLinear::Float { w, .. } => w.n,
        }
    }

    /// Input features K.
    pub fn k(&self) -> usize {
        match self {
            LmLinear::Float { w, .. } => w.k,
        }
    }

    /// Bytes of the stored weights (scales and minimums included).
    pub fn bytes(&self) -> usize {
        match self {
            LmLinear::Float { stored_bytes, .. } => *stored_bytes,
        }
    }

    pub fn format(&self) -> &'static str {
        match self {
            LmLinear::Float { format, .. } => format,
        }
    }

    /// Row `n` of W (dequantized when the format is quantized): an embedding lookup.
    pub fn row(&self, n: usize, out: &mut [f32]) {
        match self {
            LmLinear::Float { w, plain, .. } if !plain.is_empty() => out.copy_from_slice(&plain[n * w.k..(n + 1) * w.k]),
            LmLinear::Float { w, .. } => {
                let (p, c) = (n / gemm_f32::PANEL, n % gemm_f32::PANEL);
                for (kk, o) in out.iter_mut().enumerate().take(w.k) {
                    *o = w.data[(p * w.k + kk) * gemm_f32::PANEL + c];
                }
            }
        }
    }

    /// y [M, N] = x [M, K] · Wᵀ.
    pub fn forward(&self, x: &[f32], m: usize, y: &mut [f32]) {
        match self {
            #[cfg(not(target_arch = "wasm32"))]
            LmLinear::Float { w, plain, .. } => {
                use super::native_gemm::{mm, View};
                mm(m, w.k, w.n, View::rm(x, w.k), View::t(plain, w.k), 0.0, y, w.n)
            }
            #[cfg(target_arch = "wasm32")]
            LmLinear::Float { w, .. } => (gemm_f32::best().run)(x, m, w, y),
        }
    }
}

//! An integer-only Linear layer with TensorFlow Lite's reference semantics
//! (`reference/integer_ops/fully_connected.h`).
//!
//! ```text
//! x: [M, K] int8 (scale s_x, zero point zp_x)     w: [N, K] int8 (per-channel scale s_w[n], zero point 0)
//! acc[m, n] = Σ_k w[n, k] · (x[m, k] − zp_x) + bias_q[n]        bias_q[n] = round(bias[n] / (s_x · s_w[n])), zero point 0
//! y[m, n]   = clamp(requantize(acc, M0[n], shift[n]) + zp_y, act_min, act_max)
//!             with real[n] = s_x · s_w[n] / s_y
//! ```
//!
//! The zero-point term is folded into the bias once, at construction:
//! `Σ_k w·(x − zp_x) = Σ_k w·x − zp_x · Σ_k w[n, k]`, so the GEMM is a plain
//! signed int8 product.
//!
//! `forward` runs the simd128 GEMM and the simd128 requantization under wasm
//! (bit-exact with the scalar reference: tests/equivalence/requant.rs).

use super::gemm_i8::{self, PackedW};
use super::requant::{self, quantize_multiplier, OutputStage, QuantizedMultiplier};

#[derive(Clone, Debug)]
pub struct QLinear {
    pub n: usize,
    pub k: usize,
    w: PackedW,
    /// bias_q[n] − zp_x · Σ_k w[n, k], the multipliers, zp_y and the clamp, as the kernels read them.
    stage: OutputStage,
    // Copies of the stage's parameters, for reading (changing them does not change `stage`).
    pub multipliers: Vec<QuantizedMultiplier>,
    pub zp_y: i32,
    pub act_min: i32,
    pub act_max: i32,
}

/// Everything a quantized Linear needs, in real terms.
pub struct QLinearSpec<'a> {
    /// w: [N, K] int8, symmetric (zero point 0).
    pub w: &'a [i8],
    pub n: usize,
    pub k: usize,
    /// One scale per output channel, or one for the whole tensor.
    pub w_scales: &'a [f32],
    /// bias: [N] float, or empty for none.
    pub bias: &'a [f32],
    pub x_scale: f32,
    pub x_zero_point: i32,
    pub y_scale: f32,
    pub y_zero_point: i32,
    /// Fuse ReLU: clamp at zp_y instead of −128.
    pub relu: bool,
}

impl QLinear {
    pub fn new(s: &QLinearSpec) -> QLinear {
        assert_eq!(s.w.len(), s.n * s.k, "QLinear: w is not [N, K]");
        assert!(s.w_scales.len() == s.n || s.w_scales.len() == 1, "QLinear: one scale per channel or one in all");
        assert!(s.bias.is_empty() || s.bias.len() == s.n, "QLinear: bias is not [N]");
        let scale_w = |n: usize| if s.w_scales.len() == 1 { s.w_scales[0] } else { s.w_scales[n] };
        let mut bias_folded = Vec::with_capacity(s.n);
        let mut multipliers = Vec::with_capacity(s.n);
        for n in 0..s.n {
            let acc_scale = s.x_scale as f64 * scale_w(n) as f64; // s_x · s_w[n]
            let bias_q = s.bias.get(n).map_or(0, |&b| (b as f64 / acc_scale).round() as i64);
            let w_sum: i64 = s.w[n * s.k..(n + 1) * s.k].iter().map(|&v| v as i64).sum();
            let folded = bias_q - s.x_zero_point as i64 * w_sum;
            bias_folded.push(folded.clamp(i32::MIN as i64, i32::MAX as i64) as i32);
            multipliers.push(quantize_multiplier(acc_scale / s.y_scale as f64));
        }
        let act_min = if s.relu { s.y_zero_point.max(-128) } else { -128 };
        let act_max = 127;
        QLinear {
            n: s.n,
            k: s.k,
            w: PackedW::pack(s.w, s.n, s.k),
            stage: OutputStage::new(bias_folded, multipliers.clone(), s.y_zero_point, act_min, act_max),
            multipliers,
            zp_y: s.y_zero_point,
            act_min,
            act_max,
        }
    }

    /// y: [M, N] int8 from x: [M, K] int8. `acc` is scratch of M·N i32.
    ///
    /// The fastest GEMM into `acc`, then the fastest requantization (both
    /// simd128 under wasm; fusing the two measured slower, see
    /// `gemm_i8::QSIMD128_FUSED`).
    pub fn forward(&self, x: &[i8], m: usize, acc: &mut Vec<i32>, y: &mut [i8]) {
        assert!(x.len() == m * self.k && y.len() == m * self.n, "QLinear::forward: shapes");
        acc.clear();
        acc.resize(m * self.n, 0);
        (gemm_i8::best().run)(x, m, &self.w, acc);
        (requant::best().run)(acc, &self.stage, y);
    }

    /// The packed weights and the output stage (for benchmarks and tests of the stages).
    pub fn parts(&self) -> (&PackedW, &OutputStage) {
        (&self.w, &self.stage)
    }
}

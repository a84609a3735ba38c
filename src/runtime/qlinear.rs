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
//! **No int32 overflow, proved at construction.** The GEMM accumulates in i32 and the
//! output stage adds the folded bias with wrapping arithmetic (as TFLite's kernels do), so
//! [`QLinear::try_new`] checks, for every output channel n,
//!
//! ```text
//! (|bias_folded[n]| + K · max|q_x| · max_k |w[n, k]|) · 2^left[n] ≤ 2³¹ − 1      max|q_x| = 128 (int8)
//! ```
//!
//! where 2^left[n] is the requantization's left shift (1 unless the real multiplier is ≥ 1).
//! Every partial sum, the bias addition and the shift then stay inside i32. A layer that fails
//! (a large bias, or a fan-in K ≥ 131,072 with full-range weights) is refused with an
//! [`AccumulatorOverflow`] naming the channel, and the caller runs the simulation instead.
//!
//! `forward` runs the simd128 GEMM and the simd128 requantization under wasm
//! (bit-exact with the scalar reference: tests/suite/equivalence/requant.rs).

use super::gemm_i8::{self, PackedW};
use super::requant::{self, quantize_multiplier, OutputStage, QuantizedMultiplier};

/// Largest |x_q| of an int8 activation: −128.
pub const MAX_ABS_X: i128 = 128;

/// A layer whose int32 accumulator could leave int32 for some input (see the module header).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccumulatorOverflow {
    /// The output channel with the largest bound.
    pub channel: usize,
    /// Its bound (|bias_folded| + K · 128 · max|w|) · 2^left.
    pub bound: i128,
    /// |bias_folded| of that channel (the bias and the zero-point term).
    pub bias: i128,
    /// The fan-in K.
    pub k: usize,
}

impl std::fmt::Display for AccumulatorOverflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "output channel {}'s int32 accumulator could reach {} (bias term {}, fan-in {}), more than 2^31 − 1",
            self.channel, self.bound, self.bias, self.k
        )
    }
}

impl std::error::Error for AccumulatorOverflow {}

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
    /// [`QLinear::try_new`], for parameters known to fit (panics with the reason otherwise).
    pub fn new(s: &QLinearSpec) -> QLinear {
        QLinear::try_new(s).unwrap_or_else(|e| panic!("QLinear: {e}"))
    }

    /// The layer, or the proof that some accumulator could leave int32 (see the module header).
    pub fn try_new(s: &QLinearSpec) -> Result<QLinear, AccumulatorOverflow> {
        assert_eq!(s.w.len(), s.n * s.k, "QLinear: w is not [N, K]");
        assert!(s.w_scales.len() == s.n || s.w_scales.len() == 1, "QLinear: one scale per channel or one in all");
        assert!(s.bias.is_empty() || s.bias.len() == s.n, "QLinear: bias is not [N]");
        let scale_w = |n: usize| if s.w_scales.len() == 1 { s.w_scales[0] } else { s.w_scales[n] };
        let mut bias_folded = Vec::with_capacity(s.n);
        let mut multipliers = Vec::with_capacity(s.n);
        let mut worst: Option<AccumulatorOverflow> = None;
        for n in 0..s.n {
            let acc_scale = s.x_scale as f64 * scale_w(n) as f64; // s_x · s_w[n]
            // round(b / (s_x · s_w)); `as` saturates at ±2⁶³ (and maps NaN to 0), far outside i32.
            let bias_q = s.bias.get(n).map_or(0, |&b| (b as f64 / acc_scale).round() as i64) as i128;
            let row = &s.w[n * s.k..(n + 1) * s.k];
            let w_sum: i128 = row.iter().map(|&v| v as i128).sum();
            let w_max: i128 = row.iter().map(|&v| (v as i128).abs()).max().unwrap_or(0);
            let folded = bias_q - s.x_zero_point as i128 * w_sum;
            let m = quantize_multiplier(acc_scale / s.y_scale as f64);
            // (|bias_folded| + K · max|q_x| · max|w|) · 2^left ≤ 2³¹ − 1
            let bound = (folded.abs() + s.k as i128 * MAX_ABS_X * w_max) << m.shift.clamp(0, 31);
            if bound > i32::MAX as i128 && worst.as_ref().is_none_or(|w| bound > w.bound) {
                worst = Some(AccumulatorOverflow { channel: n, bound, bias: folded.abs(), k: s.k });
            }
            bias_folded.push(folded.clamp(i32::MIN as i128, i32::MAX as i128) as i32);
            multipliers.push(m);
        }
        if let Some(w) = worst {
            return Err(w);
        }
        // A fused ReLU clamps at zp_y (the real 0), within int8: a zp_y above 127 (a file's
        // hand-made scale) leaves every output at 127 rather than act_min > act_max.
        let act_min = if s.relu { s.y_zero_point.clamp(-128, 127) } else { -128 };
        let act_max = 127;
        Ok(QLinear {
            n: s.n,
            k: s.k,
            w: PackedW::pack(s.w, s.n, s.k),
            stage: OutputStage::new(bias_folded, multipliers.clone(), s.y_zero_point, act_min, act_max),
            multipliers,
            zp_y: s.y_zero_point,
            act_min,
            act_max,
        })
    }

    /// y: [M, N] int8 from x: [M, K] int8. `acc` is scratch of M·N i32.
    ///
    /// The requantized GEMM of [`fused_forward`] where there is one; otherwise the fastest
    /// GEMM into `acc`, then the fastest requantization. Both give the same integers.
    pub fn forward(&self, x: &[i8], m: usize, acc: &mut Vec<i32>, y: &mut [i8]) {
        assert!(x.len() == m * self.k && y.len() == m * self.n, "QLinear::forward: shapes");
        if let Some(q) = fused_forward() {
            return (q.run)(x, m, &self.w, &self.stage, y);
        }
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

/// The requantized GEMM [`QLinear::forward`] runs, where one was measured faster than the two
/// passes (the fastest GEMM into int32, then the fastest requantization); None: the two passes.
///
/// Natively there is only the scalar reference (two passes). Under wasm simd128 the GEMM with
/// the requantization fused in registers (`gemm_i8::QSIMD128_FUSED`) and the two passes
/// (`gemm_i8::QSIMD128`) are timed interleaved by `bash scripts/bench.sh`
/// (`ratio suite=qgemm_i8 … fused/two_pass=…`, `summary suite=qgemm …`). In six runs under
/// Node the fused kernel was faster in 15 of 42 comparisons, by at most 3 % (mostly M = 1 and the lab
/// MLP's 784×128 layer), and slower by up to 10 % in the others (README, Benchmarks): the two
/// passes stay.
pub fn fused_forward() -> Option<gemm_i8::QGemmI8> {
    None
}

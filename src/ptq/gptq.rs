//! GPTQ (Frantar, Ashkboos, Hoefler, Alistarh 2022, "GPTQ: Accurate Post-Training Quantization
//! for Generative Pre-trained Transformers", Algorithm 1) for the Linears of a language model:
//! each row of W is rounded column by column onto qplay's own RTN grid, and every rounding
//! error is pushed onto the columns not yet rounded through the inverse Hessian of the
//! calibration inputs, so that the layer's output on those inputs moves as little as possible.
//!
//! ```text
//! W [N, K] (rows = output features, y = x·Wᵀ), X [M, K] = the layer's inputs over the calibration tokens
//!
//! H = 2·XᵀX / M                                    f64 (exact f32·f32 products, f64 sums)
//! dead columns (H_ii = 0, input i always 0):       H_ii = 1, W[:, i] = 0
//! act_order:                                       columns permuted by decreasing H_ii (a stable sort)
//! λ = damp · mean(diag H),  H ← H + λ·I
//! H = L·Lᵀ (Cholesky), H⁻¹ = L⁻ᵀ·L⁻¹, H⁻¹ = Uᵀ·U   U = the upper Cholesky factor of H⁻¹
//! for each column j, in order (or in act_order's order):
//!     q_j = quant(w_j)                              onto the grid of w_j's group
//!     e_j = (w_j − q_j) / U_jj
//!     w_t ← w_t − e_j · U_jt                        for every later column t
//! ```
//! Row j of U is the OBS update of the columns still free once columns < j are fixed,
//! divided by the square root of its diagonal (the paper's "Cholesky reformulation"), so the
//! loop above is exactly Algorithm 1 without its lazy batches. The rows of W never mix, so the
//! loop runs row by row (each row's updates stay in its own cache lines); the paper's lazy
//! batches of 128 columns only reorder the same subtractions, and are not needed here.
//!
//! **The grid** of a group is exactly the one RTN gives the same format, so a GPTQ layer is
//! stored like an RTN layer and runs on the same kernels:
//! - 8 bits, and 4 bits in groups of 32s: `group_grid` of [`crate::quant::grouped`] (symmetric
//!   full range d = M / −2^(b−1) for the value M of largest |x|, narrow d = max|x| / (2^(b−1) − 1),
//!   asymmetric d = (max − min) / (2^b − 1) with a minimum; 8-bit asymmetric shifts its levels
//!   to −128…127 and its minimum to min + 128·d) → [`GroupedWeights`];
//! - 2, 3, 5, 6, 7 bits: the simulated grid of [`crate::ptq::lm`] (the same rules in f32), stored
//!   as fake-quant f32 values "(simulated)";
//! - Q8_0 / Q4_0 / Q4_1 (groups of 32): ggml's block scale d = max|x| / 127, M / −8 or
//!   (max − min) / 15 (and the minimum), rounded to f16 as stored; levels −127…127, −8…7, 0…15.
//!
//! A weight goes to level i = clamp(round_half_even((w − base) / d), lo, hi), the quotient in
//! f64 from the f64 updated weight; a group with d = 0 takes level 0 (symmetric) or lo
//! (asymmetric), as RTN does. q = d·i + base in f32 is exactly what the kernels dequantize.
//!
//! **When a grid is chosen:**
//! - without act_order, a group's grid comes from its *updated* weights (rounded to f32) when
//!   the loop reaches the group's first column (gptq.py without `static_groups`); per channel
//!   the group is the whole row, so its grid is that of the row before any update;
//! - act_order with groups uses **static groups** (gptq.py's `static_groups=True`): every
//!   group's grid comes up front from the original row's contiguous groups, and a column
//!   rounded out of order uses the grid of the group it is stored in. Groups thus stay
//!   contiguous in the stored layout and the kernels need no permutation. act_order per
//!   channel: the row's grid, as without act_order.
//! - Two deliberate differences from gptq.py: its per-channel grid is computed before the dead
//!   columns are zeroed (we zero first: a dead column never reaches the output and must not
//!   widen the grid), and with its lazy batches a group starting inside a batch takes its
//!   grid from weights that miss the batch's pending updates (we use the fully updated
//!   weights, which is what the plain column loop of Algorithm 1 sees).
//!
//! **Failure is not a panic.** A pivot of either Cholesky factorisation that is not above
//! 10⁻¹⁰ · the matrix's largest diagonal entry (or is NaN) means H + λI is singular to
//! working precision ([`GptqError::NotPositiveDefinite`]); the driver then rounds that layer
//! with RTN and says why in its report note.
//!
//! **A result worse than RTN's is not kept.** A factorisation that goes through can still be
//! too ill-conditioned for the error feedback (a dampening of 0 on a Hessian of low rank: the
//! built-in model's layers.0.feed_forward.w2 at damp 0 came out at 0.7 dB, 246× RTN's error
//! below), and on a 2-bit grid the feedback's clamped levels can add up to more than RTN's
//! error (the same layer at the default damp: 2.3×). The driver compares
//! GPTQ's objective on the calibration inputs, Σ (w − q)ᵀ·H·(w − q) with the undamped H
//! ([`calibration_error`]), with RTN's on the same grid, and keeps RTN when GPTQ's is larger
//! ([`GptqError::WorseThanRtn`], named in the note).
//!
//! **Memory:** the work on one input width K takes four K×K f64 matrices (H, kept for that
//! comparison; H + λI and L⁻¹ then H⁻¹; U); K is checked against [`MAX_HESSIAN_BYTES`] before
//! anything is allocated.
//!
//! **The driver** ([`quantize_lm_gptq`]) goes block by block, as the paper does: block l's
//! inputs are captured ([`capture_block`], over windows spread across the calibration text)
//! from the model whose blocks < l are already GPTQ-quantized (run as their dequantized
//! values on the f32 GEMM, see [`quantize_lm_with`]) and whose block l is FP32, and all seven
//! Linears of block l use them (wq, wk, wv share one H, as do w1 and w3). Layers in the skip list stay FP32; the embedding and the
//! output head, when not skipped, are rounded to nearest (their notes say so).

use std::fmt;

use half::f16;

use crate::lm::{BlockWeights, LmError, LmLinear, LmModel, LmWeights};
use crate::ptq::lm::{
    grouped_from_levels, plan_linear, quantize_linear, quantize_lm_with, simulated_grid, simulated_linear, LinearPlan, LmQuantConfig,
    QuantizedBlock, QuantizedLm,
};
use crate::ptq::lm_calib::{calibration_windows, capture_block, spread_calibration};
use crate::quant::ggml::{self, GgmlType};
use crate::quant::grouped::{group_grid, Grid, GroupedWeights, ScaleFormat};

/// The most memory the Hessian work of one Linear may take: 4 · 8 · K² bytes ≤ 256 MiB,
/// i.e. K ≤ 2,896 inputs (LLaMA-7B's 11,008-wide down projection is refused).
pub const MAX_HESSIAN_BYTES: u128 = 256 << 20;

/// A pivot not above this fraction of the largest diagonal entry counts as zero.
pub const PIVOT_TOLERANCE: f64 = 1e-10;

/// Why GPTQ could not quantize a layer.
#[derive(Clone, Debug, PartialEq)]
pub enum GptqError {
    /// H + λI, or its inverse, is not positive definite to working precision (pivot `pivot` at
    /// column `column` of the matrix as factorised, i.e. in act_order's order when it is on).
    NotPositiveDefinite { matrix: &'static str, column: usize, pivot: f64 },
    /// The error feedback gave a NaN or an infinity (a nearly singular H).
    Diverged { row: usize, column: usize },
    /// The result is further from W on the calibration inputs than RTN's: the factorisation
    /// went through, but the error feedback made things worse (a dampening of 0 on a Hessian of
    /// low rank; 2-bit grids). `gptq` and `rtn`: [`calibration_error`] of each.
    WorseThanRtn { gptq: f64, rtn: f64 },
    /// Bad input: shapes, a NaN, sizes, settings.
    Invalid(LmError),
}

impl GptqError {
    /// Whether the layer can still be rounded with RTN (a numerical breakdown, not bad input).
    pub fn falls_back(&self) -> bool {
        !matches!(self, GptqError::Invalid(_))
    }
}

impl fmt::Display for GptqError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GptqError::NotPositiveDefinite { matrix, column, pivot } => write!(
                f,
                "{matrix} is not positive definite (Cholesky pivot {pivot:e} at column {column}); raise damp or use more calibration tokens"
            ),
            GptqError::Diverged { row, column } => write!(f, "the error feedback diverged (row {row}, column {column})"),
            GptqError::WorseThanRtn { gptq, rtn } => write!(
                f,
                "its error on the calibration inputs, Σ (w − q)ᵀ·H·(w − q) over the rows, came out {:.1}× RTN's ({gptq:.3e} against {rtn:.3e}): the error feedback made it worse, as it can on a nearly singular H + λI (raise damp) or a very coarse grid",
                gptq / rtn
            ),
            GptqError::Invalid(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for GptqError {}

impl From<LmError> for GptqError {
    fn from(e: LmError) -> GptqError {
        GptqError::Invalid(e)
    }
}

/// How the grid of one group is chosen: one of qplay's RTN grids (see the module header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GridRule {
    /// `group_grid` of [`crate::quant::grouped`]: 8 bits, or 4 bits in groups of 32s.
    Kernel { bits: u8, symmetric: bool, narrow: bool },
    /// The simulated grid of [`crate::ptq::lm`]: 2–7 bits.
    Simulated { bits: u8, symmetric: bool, narrow: bool },
    /// A llama.cpp block format (groups of 32), its scale (and minimum) rounded to f16.
    Ggml(GgmlType),
}

impl GridRule {
    /// Whether the grid has a minimum (its levels start at `lo`, not around 0).
    pub fn asymmetric(self) -> bool {
        match self {
            GridRule::Kernel { symmetric, .. } | GridRule::Simulated { symmetric, .. } => !symmetric,
            GridRule::Ggml(t) => t == GgmlType::Q4_1,
        }
    }

    fn bits(self) -> u8 {
        match self {
            GridRule::Kernel { bits, .. } | GridRule::Simulated { bits, .. } => bits,
            GridRule::Ggml(GgmlType::Q8_0) => 8,
            GridRule::Ggml(_) => 4,
        }
    }

    /// The grid and group size a plan rounds onto, when it rounds at all.
    pub fn of_plan(plan: &LinearPlan) -> Option<(GridRule, usize)> {
        match plan {
            LinearPlan::Skip | LinearPlan::Float(_) => None,
            LinearPlan::Ggml(t) => Some((GridRule::Ggml(*t), ggml::QK)),
            LinearPlan::Kernel { spec, .. } => {
                Some((GridRule::Kernel { bits: spec.bits, symmetric: spec.symmetric, narrow: spec.narrow }, spec.group))
            }
            LinearPlan::Simulated { spec, .. } => {
                Some((GridRule::Simulated { bits: spec.bits, symmetric: spec.symmetric, narrow: spec.narrow }, spec.group))
            }
        }
    }

    /// The grid of the group x (f32 values, as RTN sees them).
    fn grid(self, x: &[f32]) -> Result<Grid, GptqError> {
        match self {
            GridRule::Kernel { bits, symmetric, narrow } => Ok(group_grid(x, bits, symmetric, narrow)),
            GridRule::Simulated { bits, symmetric, narrow } => Ok(simulated_grid(x, bits, symmetric, narrow)),
            GridRule::Ggml(t) => {
                let block: &[f32; ggml::QK] = x.try_into().map_err(|_| setting(format!("{} rounds groups of 32 values, not {}", t.name(), x.len())))?;
                // ggml's own block scale (and minimum), as stored: f16.
                let (d, base, lo, hi) = match t {
                    GgmlType::Q8_0 => (ggml::quantize_block_q8_0(block).d, f16::ZERO, -127, 127),
                    GgmlType::Q4_0 => (ggml::quantize_block_q4_0(block).d, f16::ZERO, -8, 7),
                    GgmlType::Q4_1 => {
                        let b = ggml::quantize_block_q4_1(block);
                        (b.d, b.m, 0, 15)
                    }
                };
                let (d, base) = (d.to_f32(), base.to_f32());
                if !d.is_finite() || !base.is_finite() {
                    return Err(setting(format!("a {} block's scale or minimum overflows f16 (values up to {:e})", t.name(), x.iter().fold(0f32, |m, v| m.max(v.abs())))));
                }
                Ok(Grid { d, base, lo, hi })
            }
        }
    }

    /// i = clamp(round_half_even((w − base) / d), lo, hi) in f64; d = 0 (or not finite): level
    /// 0 (symmetric) or lo (asymmetric), every value the base.
    fn level(self, g: &Grid, w: f64) -> i32 {
        if g.d == 0.0 || !g.d.is_finite() {
            return if self.asymmetric() { g.lo } else { 0 };
        }
        ((w - g.base as f64) / g.d as f64).round_ties_even().clamp(g.lo as f64, g.hi as f64) as i32
    }
}

fn setting(message: String) -> GptqError {
    GptqError::Invalid(LmError::Setting { name: "weights", message })
}

/// A GPTQ result: integer levels in the stored (original) column order, one grid per group.
#[derive(Clone, Debug, PartialEq)]
pub struct GptqWeights {
    pub n: usize,
    pub k: usize,
    /// Values per group g (g = K: per channel).
    pub group: usize,
    pub rule: GridRule,
    /// Level i of every weight, [N, K] row-major.
    pub levels: Vec<i32>,
    /// d of every group's grid, [N, K / g].
    pub scale: Vec<f32>,
    /// The base of every group's grid, [N, K / g]: 0 for symmetric grids, the minimum for
    /// asymmetric ones (8-bit asymmetric: the shifted minimum min + 128·d).
    pub base: Vec<f32>,
}

impl GptqWeights {
    /// The values the grid gives, [N, K]: d·i + base in f32 (what the kernels dequantize).
    pub fn values(&self) -> Vec<f32> {
        let groups = self.k / self.group;
        let mut v = Vec::with_capacity(self.levels.len());
        for (row, r) in self.levels.chunks_exact(self.k).enumerate() {
            for (col, &i) in r.iter().enumerate() {
                let gi = row * groups + col / self.group;
                v.push(self.scale[gi] * i as f32 + self.base[gi]);
            }
        }
        v
    }

    /// As [`GroupedWeights`] (8 and 4 bits: the RTN kernel widths and the ggml formats).
    pub fn to_grouped(&self) -> Result<GroupedWeights, LmError> {
        let (format, scale_format) = match self.rule {
            GridRule::Ggml(_) => ("ggml", ScaleFormat::F16),
            _ => ("grouped", ScaleFormat::F32),
        };
        let min = self.rule.asymmetric().then(|| self.base.clone());
        grouped_from_levels(&self.levels, self.n, self.k, self.group, self.rule.bits(), self.scale.clone(), min, scale_format)
            .map_err(|error| LmError::Quant { tensor: format!("GPTQ levels ({format})"), error })
    }
}

/// The values RTN gives W [N, K] on `rule`'s grid in groups of `group` (each group's grid from
/// its own weights, as GPTQ's grids are chosen from W before any update).
fn rtn_values(w: &[f32], rule: GridRule, group: usize) -> Result<Vec<f32>, GptqError> {
    let mut v = Vec::with_capacity(w.len());
    for g in w.chunks_exact(group) {
        let grid = rule.grid(g)?;
        v.extend(g.iter().map(|&x| grid.d * rule.level(&grid, x as f64) as f32 + grid.base));
    }
    Ok(v)
}

/// GPTQ's objective, what the layer's output moves on the calibration inputs X [M, K]:
/// ‖(W − Q)·Xᵀ‖² · 2 / M = Σ over the rows of eᵀ·H·e, e = w − q, H = 2·XᵀX / M (undamped), in f64.
pub fn calibration_error(w: &[f32], q: &[f32], k: usize, h: &[f64]) -> f64 {
    let mut e = vec![0f64; k];
    let mut total = 0.0;
    for (wr, qr) in w.chunks_exact(k).zip(q.chunks_exact(k)) {
        for ((e, &a), &b) in e.iter_mut().zip(wr).zip(qr) {
            *e = a as f64 - b as f64;
        }
        // eᵀ·H·e = Σ_i e_i · (H_i · e)
        total += h.chunks_exact(k).zip(&e).map(|(hi, &ei)| ei * hi.iter().zip(&e).map(|(x, y)| x * y).sum::<f64>()).sum::<f64>();
    }
    total
}

/// Checks that the Hessian work of K inputs fits [`MAX_HESSIAN_BYTES`].
pub fn check_hessian_size(k: usize) -> Result<(), LmError> {
    let bytes = 4 * 8 * (k as u128) * (k as u128);
    if bytes > MAX_HESSIAN_BYTES {
        return Err(LmError::TooLarge { what: format!("GPTQ's Hessian work for {k} inputs (four {k}×{k} f64 matrices)"), bytes, limit: MAX_HESSIAN_BYTES });
    }
    Ok(())
}

/// H = 2·XᵀX / M [K, K] (symmetric, f64) of the inputs X [M, K]. Errors: bad sizes, a NaN
/// or infinity in X, a K beyond [`MAX_HESSIAN_BYTES`] (checked before allocating).
pub fn hessian(x: &[f32], m: usize, k: usize) -> Result<Vec<f64>, LmError> {
    let bad = |message: String| LmError::Tensor { name: "GPTQ calibration inputs".into(), message };
    if m == 0 || k == 0 || m.checked_mul(k) != Some(x.len()) {
        return Err(bad(format!("{} values for {m} tokens × {k} inputs", x.len())));
    }
    check_hessian_size(k)?;
    if let Some(index) = x.iter().position(|v| !v.is_finite()) {
        return Err(LmError::NonFinite { tensor: "GPTQ calibration inputs".into(), index });
    }
    // Upper triangle, R rows of X at a time: H_ij += Σ_r x_ri · x_rj (j ≥ i).
    const R: usize = 8;
    let mut h = vec![0f64; k * k];
    let mut rows = vec![0f64; R * k];
    for chunk in x.chunks(R * k) {
        for (d, &v) in rows.iter_mut().zip(chunk) {
            *d = v as f64;
        }
        if chunk.len() == R * k {
            let r: [&[f64]; R] = std::array::from_fn(|t| &rows[t * k..(t + 1) * k]);
            for i in 0..k {
                let a: [f64; R] = std::array::from_fn(|t| r[t][i]);
                let hi = &mut h[i * k + i..(i + 1) * k];
                for (j, hv) in hi.iter_mut().enumerate() {
                    let j = i + j;
                    let mut s = 0.0;
                    for t in 0..R {
                        s += a[t] * r[t][j];
                    }
                    *hv += s;
                }
            }
        } else {
            for row in rows[..chunk.len()].chunks_exact(k) {
                for i in 0..k {
                    let a = row[i];
                    for (hv, &b) in h[i * k + i..(i + 1) * k].iter_mut().zip(&row[i..]) {
                        *hv += a * b;
                    }
                }
            }
        }
    }
    let s = 2.0 / m as f64;
    for i in 0..k {
        for j in i..k {
            let v = h[i * k + j] * s;
            h[i * k + j] = v;
            h[j * k + i] = v;
        }
    }
    Ok(h)
}

/// What every row of a layer needs from its inputs: the dead columns, the column order and
/// the upper Cholesky factor U of (H + λI)⁻¹ in that order.
#[derive(Clone, Debug, PartialEq)]
pub struct HessianFactor {
    pub k: usize,
    /// Input i is always 0 (H_ii = 0): its weights are zeroed.
    pub dead: Vec<bool>,
    /// The order columns are rounded in: position j holds column perm[j] (identity without act_order).
    pub perm: Vec<usize>,
    /// Whether `perm` is act_order's (static groups).
    pub act_order: bool,
    /// λ = damp · mean(diag H) (after the dead columns' H_ii = 1).
    pub lambda: f64,
    /// U [K, K] row-major, upper triangular, in `perm`'s order: (P·(H + λI)·Pᵀ)⁻¹ = Uᵀ·U.
    pub u: Vec<f64>,
}

impl HessianFactor {
    /// Checks what the rounding loop relies on (the fields are public): lengths, a permutation,
    /// the identity without act_order (groups are then chosen in stored order).
    pub fn validate(&self) -> Result<(), GptqError> {
        let k = self.k;
        let bad = |message: String| GptqError::Invalid(LmError::Tensor { name: "GPTQ Hessian factor".into(), message });
        if self.dead.len() != k || self.perm.len() != k || k.checked_mul(k) != Some(self.u.len()) {
            return Err(bad(format!("lengths {}, {}, {} for K = {k}", self.dead.len(), self.perm.len(), self.u.len())));
        }
        let mut seen = vec![false; k];
        for (j, &c) in self.perm.iter().enumerate() {
            if c >= k || seen[c] || (!self.act_order && c != j) {
                return Err(bad(format!("position {j} holds column {c}: not {}", if self.act_order { "a permutation" } else { "the identity" })));
            }
            seen[c] = true;
        }
        Ok(())
    }
}

/// Cholesky A = L·Lᵀ in place (the lower triangle of row-major A is read and replaced by L;
/// the strict upper triangle is zeroed). A pivot not above PIVOT_TOLERANCE · max diag(A) fails.
fn cholesky_lower(a: &mut [f64], k: usize, matrix: &'static str) -> Result<(), GptqError> {
    let tol = PIVOT_TOLERANCE * (0..k).map(|i| a[i * k + i]).fold(0f64, f64::max);
    for j in 0..k {
        let (head, tail) = a.split_at_mut(j * k + k);
        let lj = &mut head[j * k..j * k + k];
        // L_jj = sqrt(A_jj − Σ_{p<j} L_jp²)
        let pivot = lj[j] - lj[..j].iter().map(|v| v * v).sum::<f64>();
        if pivot.is_nan() || pivot <= tol || !pivot.is_finite() {
            return Err(GptqError::NotPositiveDefinite { matrix, column: j, pivot });
        }
        let ljj = pivot.sqrt();
        lj[j] = ljj;
        lj[j + 1..].fill(0.0);
        let lj = &head[j * k..j * k + j];
        // L_ij = (A_ij − Σ_{p<j} L_ip·L_jp) / L_jj, i > j
        for li in tail.chunks_exact_mut(k) {
            let s: f64 = li[..j].iter().zip(lj).map(|(x, y)| x * y).sum();
            li[j] = (li[j] - s) / ljj;
        }
    }
    Ok(())
}

/// L⁻¹ of a lower-triangular L [K, K] (row-major, lower triangular result):
/// (L⁻¹)_ii = 1 / L_ii, (L⁻¹)_ic = −(Σ_{c≤p<i} L_ip · (L⁻¹)_pc) / L_ii for i > c.
fn invert_lower(l: &[f64], k: usize) -> Vec<f64> {
    let mut inv = vec![0f64; k * k];
    for i in 0..k {
        let li = &l[i * k..i * k + k];
        inv[i * k + i] = 1.0 / li[i];
        for c in 0..i {
            let mut s = 0.0;
            for p in c..i {
                s += li[p] * inv[p * k + c];
            }
            inv[i * k + c] = -s / li[i];
        }
    }
    inv
}

/// Dead columns, act_order's permutation, damping and U for the Hessian `h` [K, K] (consumed).
pub fn factor(mut h: Vec<f64>, k: usize, damp: f64, act_order: bool) -> Result<HessianFactor, GptqError> {
    if k == 0 || k.checked_mul(k) != Some(h.len()) {
        return Err(GptqError::Invalid(LmError::Tensor { name: "GPTQ Hessian".into(), message: format!("{} values for {k}×{k}", h.len()) }));
    }
    if !(damp.is_finite() && damp >= 0.0) {
        return Err(GptqError::Invalid(LmError::Setting { name: "damp", message: format!("{damp} is not a finite fraction ≥ 0") }));
    }
    // Dead columns: H_ii = 0 means x_i = 0 on every token (H_ij = 0 for all j too).
    let dead: Vec<bool> = (0..k).map(|i| h[i * k + i] == 0.0).collect();
    for i in (0..k).filter(|&i| dead[i]) {
        h[i * k + i] = 1.0;
    }
    let mut perm: Vec<usize> = (0..k).collect();
    if act_order {
        // Decreasing H_ii; the sort is stable, so ties keep the column order.
        perm.sort_by(|&a, &b| h[b * k + b].total_cmp(&h[a * k + a]));
        let mut p = vec![0f64; k * k];
        for (i, &pi) in perm.iter().enumerate() {
            for (j, &pj) in perm.iter().enumerate() {
                p[i * k + j] = h[pi * k + pj];
            }
        }
        h = p;
    }
    // λ = damp · mean(diag H)
    let lambda = damp * (0..k).map(|i| h[i * k + i]).sum::<f64>() / k as f64;
    for i in 0..k {
        h[i * k + i] += lambda;
    }
    // H = L·Lᵀ; H⁻¹ = L⁻ᵀ·L⁻¹ (lower triangle: (H⁻¹)_ab = Σ_{c ≥ a} (L⁻¹)_ca · (L⁻¹)_cb, b ≤ a).
    cholesky_lower(&mut h, k, "H + λI")?;
    let linv = invert_lower(&h, k);
    let mut hinv = h;
    hinv.fill(0.0);
    for c in 0..k {
        let lc = &linv[c * k..c * k + c + 1];
        for a in 0..=c {
            let s = lc[a];
            if s == 0.0 {
                continue;
            }
            for (hv, &lb) in hinv[a * k..a * k + a + 1].iter_mut().zip(&lc[..=a]) {
                *hv += s * lb;
            }
        }
    }
    drop(linv);
    // H⁻¹ = L₂·L₂ᵀ, U = L₂ᵀ (the upper factor: H⁻¹ = Uᵀ·U).
    cholesky_lower(&mut hinv, k, "(H + λI)⁻¹")?;
    let mut u = vec![0f64; k * k];
    for i in 0..k {
        for j in 0..=i {
            u[j * k + i] = hinv[i * k + j];
        }
    }
    Ok(HessianFactor { k, dead, perm, act_order, lambda, u })
}

/// GPTQ of W [N, K] (row-major, y = x·Wᵀ) with the factor of its inputs, onto `rule`'s grid in
/// groups of `group` values (K: per channel). See the module header for when grids are chosen.
pub fn gptq_quantize(w: &[f32], n: usize, k: usize, f: &HessianFactor, rule: GridRule, group: usize) -> Result<GptqWeights, GptqError> {
    let bad = |message: String| GptqError::Invalid(LmError::Tensor { name: "GPTQ weights".into(), message });
    if n == 0 || k == 0 || n.checked_mul(k) != Some(w.len()) {
        return Err(bad(format!("{} values for {n}×{k}", w.len())));
    }
    if f.k != k {
        return Err(bad(format!("the Hessian is {}×{} for {k} inputs", f.k, f.k)));
    }
    f.validate()?;
    if group == 0 || !k.is_multiple_of(group) {
        return Err(GptqError::Invalid(LmError::Setting { name: "group", message: format!("group {group} does not divide {k} inputs") }));
    }
    if let Some(index) = w.iter().position(|v| !v.is_finite()) {
        return Err(GptqError::Invalid(LmError::NonFinite { tensor: "GPTQ weights".into(), index }));
    }
    let groups = k / group;
    // Static grids (act_order, or per channel): from the original row; else at each group's first column.
    let static_grids = f.act_order || groups == 1;
    let mut levels = vec![0i32; n * k];
    let mut scale = vec![0f32; n * groups];
    let mut base = vec![0f32; n * groups];
    let mut row = vec![0f64; k]; // the row being rounded, in rounding order
    let mut row32 = vec![0f32; k];
    let mut grids: Vec<Option<Grid>> = vec![None; groups];
    for r in 0..n {
        let wr = &w[r * k..r * k + k];
        // W[:, dead] = 0
        for (c, o) in row32.iter_mut().enumerate() {
            *o = if f.dead[c] { 0.0 } else { wr[c] };
        }
        grids.fill(None);
        if static_grids {
            for (g, x) in row32.chunks_exact(group).enumerate() {
                grids[g] = Some(rule.grid(x)?);
            }
        }
        for (j, &c) in f.perm.iter().enumerate() {
            row[j] = row32[c] as f64;
        }
        for j in 0..k {
            let c = f.perm[j];
            let g = c / group;
            let grid = match grids[g] {
                Some(grid) => grid,
                None => {
                    // The group's first column (no act_order: position j = column c): its updated weights.
                    for (o, &v) in row32[j..j + group].iter_mut().zip(&row[j..j + group]) {
                        *o = v as f32;
                    }
                    let grid = rule.grid(&row32[j..j + group])?;
                    grids[g] = Some(grid);
                    grid
                }
            };
            let i = rule.level(&grid, row[j]);
            levels[r * k + c] = i;
            let q = (grid.d * i as f32 + grid.base) as f64;
            // e_j = (w_j − q_j) / U_jj;  w_t ← w_t − e_j · U_jt for t > j
            let uj = &f.u[j * k..j * k + k];
            let e = (row[j] - q) / uj[j];
            if !e.is_finite() {
                return Err(GptqError::Diverged { row: r, column: c });
            }
            for (wt, &ujt) in row[j + 1..].iter_mut().zip(&uj[j + 1..]) {
                *wt -= e * ujt;
            }
        }
        for (g, grid) in grids.iter().enumerate() {
            let grid = grid.expect("every group is reached");
            scale[r * groups + g] = grid.d;
            base[r * groups + g] = grid.base;
        }
    }
    Ok(GptqWeights { n, k, group, rule, levels, scale, base })
}

/// Settings of one GPTQ layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GptqSpec {
    pub rule: GridRule,
    /// Values per group; K (or 0) = per channel.
    pub group: usize,
    /// λ as a fraction of mean(diag H).
    pub damp: f64,
    pub act_order: bool,
}

/// GPTQ of one Linear W [N, K] from its calibration inputs X [M, K].
pub fn gptq_layer(w: &[f32], n: usize, k: usize, x: &[f32], m: usize, spec: &GptqSpec) -> Result<GptqWeights, GptqError> {
    let h = hessian(x, m, k)?;
    let f = factor(h, k, spec.damp, spec.act_order)?;
    gptq_quantize(w, n, k, &f, spec.rule, if spec.group == 0 { k } else { spec.group })
}

/// GPTQ of W [N, K] with the factor of its inputs, kept only when it is no further from W on
/// the calibration inputs than RTN on the same grid ([`calibration_error`] with `h`, the
/// undamped H): else [`GptqError::WorseThanRtn`].
pub fn gptq_or_worse(w: &[f32], n: usize, k: usize, h: &[f64], f: &HessianFactor, rule: GridRule, group: usize) -> Result<GptqWeights, GptqError> {
    let g = gptq_quantize(w, n, k, f, rule, group)?;
    let (gptq, rtn) = (calibration_error(w, &g.values(), k, h), calibration_error(w, &rtn_values(w, rule, group)?, k, h));
    if gptq > rtn {
        return Err(GptqError::WorseThanRtn { gptq, rtn });
    }
    Ok(g)
}

/// One Linear of the language model: GPTQ onto its plan's grid, stored as its plan says; a
/// numerical breakdown, or a result worse than RTN's on the calibration inputs (`h`: their
/// undamped H), rounds it with RTN instead and says why in the note.
#[allow(clippy::too_many_arguments)]
fn gptq_linear(
    cfg: &LmQuantConfig,
    name: &str,
    plan: &LinearPlan,
    w: &[f32],
    n: usize,
    k: usize,
    h: &[f64],
    f: &Result<HessianFactor, GptqError>,
) -> Result<(LmLinear, Option<String>), LmError> {
    let Some((rule, group)) = GridRule::of_plan(plan) else {
        return quantize_linear(cfg, name, w, n, k);
    };
    let outcome = match f {
        Ok(f) => gptq_or_worse(w, n, k, h, f, rule, group),
        Err(e) => Err(e.clone()),
    };
    let g = match outcome {
        Ok(g) => g,
        Err(GptqError::Invalid(e)) => return Err(e),
        Err(e) => {
            let (lin, note) = quantize_linear(cfg, name, w, n, k)?;
            let why = format!("{name}: GPTQ fell back to RTN: {e}");
            return Ok((lin, Some(note.map_or(why.clone(), |n| format!("{why}; {n}")))));
        }
    };
    match plan {
        LinearPlan::Simulated { spec, label } => Ok(simulated_linear(cfg, &g.values(), n, k, spec, label)),
        LinearPlan::Kernel { label, .. } => Ok((LmLinear::grouped(g.to_grouped()?, cfg.int8_acts, label.clone()), None)),
        LinearPlan::Ggml(t) => Ok((LmLinear::grouped(g.to_grouped()?, cfg.int8_acts, t.name().into()), None)),
        LinearPlan::Skip | LinearPlan::Float(_) => quantize_linear(cfg, name, w, n, k),
    }
}

/// A layer calibrated on fewer tokens M than its inputs K: H = 2·XᵀX has rank ≤ M < K, so its
/// factorisation rests on the dampening λ·I, and GPTQ can do worse than RTN; the note says so.
fn with_rank_note(note: Option<String>, tokens: usize, k: usize) -> Option<String> {
    if tokens >= k {
        return note;
    }
    let why = format!("calibrated on {tokens} tokens, fewer than its {k} inputs: the Hessian has rank at most {tokens} and rests on the dampening");
    Some(note.map_or(why.clone(), |n| format!("{why}; {n}")))
}

/// A layer with inputs that are 0 on every calibration token (H_ii = 0): GPTQ sets their weight
/// columns to 0, as its reference does, which changes nothing on the calibration text but
/// everything on text where those inputs are not 0; the note says how many.
fn with_dead_note(note: Option<String>, f: &Result<HessianFactor, GptqError>, k: usize) -> Option<String> {
    let dead = f.as_ref().map_or(0, |f| f.dead.iter().filter(|&&d| d).count());
    if dead == 0 {
        return note;
    }
    let why = format!("{dead} of its {k} inputs are 0 on every calibration token: GPTQ sets their weights to 0, as its reference does (text on which they are not 0 will differ)");
    Some(note.map_or(why.clone(), |n| format!("{why}; {n}")))
}

/// Which Linears of a block share an input (and so H): [wq, wk, wv], [wo], [w1, w3], [w2],
/// as indices into [`BlockWeights::matrices`].
const SHARED_INPUTS: [&[usize]; 4] = [&[0, 1, 2], &[3], &[4, 6], &[5]];

/// GPTQ of one block from the model so far (blocks < l quantized, block l FP32).
fn gptq_block(
    model: &LmModel,
    l: usize,
    b: &BlockWeights,
    cfg: &LmQuantConfig,
    windows: &[&[u32]],
    progress: &mut dyn FnMut(),
) -> Result<QuantizedBlock, LmError> {
    let mats = b.matrices(&model.config);
    let names: Vec<String> = mats.iter().map(|(name, ..)| format!("layers.{l}.{name}")).collect();
    let plans = mats.iter().zip(&names).map(|((_, _, _, k), name)| plan_linear(cfg, name, *k)).collect::<Result<Vec<_>, _>>()?;
    let rounds = |i: usize| GridRule::of_plan(&plans[i]).is_some();
    let inputs = if (0..7).any(rounds) { Some(capture_block(model, windows, l)?) } else { None };
    let mut out: [Option<(LmLinear, Option<String>)>; 7] = Default::default();
    for members in SHARED_INPUTS {
        let mut f: Option<(Vec<f64>, Result<HessianFactor, GptqError>)> = None;
        for &i in members {
            let (mname, m, n, k) = mats[i];
            let q = match (&inputs, rounds(i)) {
                (Some(inputs), true) => {
                    if f.is_none() {
                        let x = inputs.of(mname).ok_or_else(|| LmError::Tensor { name: names[i].clone(), message: "no captured input".into() })?;
                        let h = hessian(x, inputs.m, k).map_err(|e| match e {
                            LmError::NonFinite { index, .. } => LmError::NonFinite { tensor: format!("calibration inputs of {}", names[i]), index },
                            e => e,
                        })?;
                        f = Some((h.clone(), factor(h, k, cfg.damp as f64, cfg.act_order)));
                    }
                    let (h, f) = f.as_ref().expect("computed above");
                    let (lin, note) = gptq_linear(cfg, &names[i], &plans[i], m, n, k, h, f)?;
                    (lin, with_dead_note(with_rank_note(note, inputs.m, k), f, k))
                }
                _ => quantize_linear(cfg, &names[i], m, n, k)?,
            };
            out[i] = Some(q);
            progress();
        }
    }
    Ok(out.map(|o| o.expect("every Linear of the block")))
}

/// GPTQ of every block Linear of `w`, block by block, with calibration tokens from `calib`
/// (the training split, never the text the model is evaluated on): `cfg.calib_tokens` of them
/// in windows of the context length spread evenly over `calib` ([`spread_calibration`]; on the
/// built-in model, 2,048 spread tokens recover 74 % of W4 g32 RTN's perplexity gap where the
/// first 2,048 tokens of the split recover 27 %). `progress(done, total)` after each Linear
/// (total = 7·L).
///
/// Errors: bad settings, a calibration token outside the vocabulary, an input width beyond
/// [`MAX_HESSIAN_BYTES`], NaN inputs. A layer whose H cannot be factorised is rounded with
/// RTN (its note says so).
pub fn quantize_lm_gptq(w: &LmWeights, cfg: &LmQuantConfig, calib: &[u32], progress: &mut dyn FnMut(usize, usize)) -> Result<QuantizedLm, LmError> {
    cfg.validate()?;
    w.validate()?;
    let c = &w.config;
    if let Some(&bad) = calib.iter().find(|&&t| t as usize >= c.vocab_size) {
        return Err(LmError::Tokens(format!("calibration token id {bad} is outside the vocabulary of {}", c.vocab_size)));
    }
    let sample = spread_calibration(calib, c.seq_len, cfg.calib_tokens);
    let windows = calibration_windows(&sample, c.seq_len, cfg.calib_tokens)?;
    check_hessian_size(c.dim.max(c.hidden_dim))?;
    let total = 7 * c.n_layers;
    let mut done = 0;
    let mut tick = || {
        done += 1;
        progress(done, total);
    };
    let mut q = quantize_lm_with(w, cfg, true, &mut |model, l, b| {
        let model = model.ok_or_else(|| LmError::Setting { name: "method", message: "GPTQ needs the model quantized so far".into() })?;
        gptq_block(model, l, b, cfg, &windows, &mut tick)
    })?;
    q.note_outside_the_blocks("GPTQ covers the blocks' Linears; this one is rounded to nearest (RTN)");
    Ok(q)
}

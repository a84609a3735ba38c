//! Benchmarks that run the same way natively, under Node and in the browser.
//!
//! The caller passes a clock (seconds, monotonic), so this module needs no
//! platform crate: natively it is `Instant`, in wasm `performance.now()`.
//!
//! How a case is timed ([`measure`], with a [`Plan`]):
//! 1. warm-up: each function runs, untimed, for at least `warmup_s` (V8 first compiles
//!    wasm with its baseline compiler and swaps in the optimised code only once a
//!    function is hot, so the first timed calls of a cold kernel can be several times slower);
//! 2. calibration: a trial runs the function enough times to last at least `min_trial_s`;
//! 3. `trials` trials, interleaved when several functions are compared (trial t of every
//!    function, then trial t + 1 …), so load from other work falls on all of them alike; the
//!    order alternates (forwards, backwards), so no function always runs right after the same
//!    one (which may have left the same weights in cache);
//! 4. while some function's spread is above `max_spread`, more interleaved trials, up to
//!    `max_trials` in all and no longer once the trials have taken `extend_budget_s`.
//!
//! The figure is the median seconds per call over the trials; its spread is robust:
//!
//! ```text
//! spread = (p75 − p25) / median        over the per-call times of the trials
//!                                       (quantiles linearly interpolated)
//! ```
//!
//! Output is one parseable line per case (see [`Measured::to_line`]), ending in `spread=`.

use crate::quant::kernels::{self, Kernels};
use crate::quant::{QParams, Rounding, Scheme};

pub const REPEATS: usize = 11;
pub const MIN_TRIAL_S: f64 = 0.02;
/// Untimed running time of each function before its trials.
pub const WARMUP_S: f64 = 0.05;
/// Trials are added while a spread is above this.
pub const MAX_SPREAD: f64 = 0.05;
/// Trials are added only while the trials so far took less than this (so that a case
/// whose calls take seconds is not run for minutes).
pub const EXTEND_BUDGET_S: f64 = 1.5;

/// How a case is timed (see the module header).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plan {
    /// Trials always run.
    pub trials: usize,
    /// Trials at most, when the spread stays above `max_spread`.
    pub max_trials: usize,
    /// A trial lasts at least this (0: one call per trial).
    pub min_trial_s: f64,
    /// Untimed running time of each function first (0: none).
    pub warmup_s: f64,
    pub max_spread: f64,
    pub extend_budget_s: f64,
}

impl Plan {
    /// `trials` trials of at least `min_trial_s`, after a warm-up, up to 3 × `trials` while the
    /// spread is above [`MAX_SPREAD`].
    pub const fn adaptive(trials: usize, min_trial_s: f64) -> Plan {
        Plan { trials, max_trials: 3 * trials, min_trial_s, warmup_s: WARMUP_S, max_spread: MAX_SPREAD, extend_budget_s: EXTEND_BUDGET_S }
    }

    /// Exactly `trials` trials, no warm-up (the caller warms up).
    pub const fn fixed(trials: usize, min_trial_s: f64) -> Plan {
        Plan { trials, max_trials: trials, min_trial_s, warmup_s: 0.0, max_spread: f64::INFINITY, extend_budget_s: 0.0 }
    }
}

/// The plan of most cases: 11 to 33 trials of at least 20 ms.
pub const DEFAULT_PLAN: Plan = Plan::adaptive(REPEATS, MIN_TRIAL_S);

/// Median seconds per call and the spread of the trials around it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    pub median_s: f64,
    /// (p75 − p25) / median of the per-call times of the trials.
    pub spread: f64,
    /// Trials timed.
    pub trials: usize,
}

impl Timing {
    /// From per-call times (at least one).
    pub fn of(times: &[f64]) -> Timing {
        let mut t = times.to_vec();
        t.sort_by(f64::total_cmp);
        let median = quantile(&t, 0.5);
        let spread = if median > 0.0 { (quantile(&t, 0.75) - quantile(&t, 0.25)) / median } else { 0.0 };
        Timing { median_s: median, spread, trials: t.len() }
    }
}

/// The q-quantile of sorted values, linearly interpolated between ranks.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

#[derive(Clone, Debug, PartialEq)]
pub struct BenchLine {
    pub suite: &'static str,
    pub case: String,
    pub kernel: &'static str,
    /// Work items per call (elements, or operations for GEMM).
    pub n: usize,
    /// Median seconds per call.
    pub median_s: f64,
    /// n / median_s in `unit`.
    pub rate: f64,
    pub unit: &'static str,
}

impl BenchLine {
    /// `bench suite=quant case=quantize kernel=simd128 n=65536 median_us=12.3 rate=5.3e9 unit=elem/s`
    pub fn to_line(&self) -> String {
        format!(
            "bench suite={} case={} kernel={} n={} median_us={:.3} rate={:.4e} unit={}",
            self.suite,
            self.case,
            self.kernel,
            self.n,
            self.median_s * 1e6,
            self.rate,
            self.unit
        )
    }
}

/// A case of this module's benchmarks: its line and the spread of its trials.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    pub line: BenchLine,
    /// See [`Timing::spread`].
    pub spread: f64,
}

impl Measured {
    /// `n` work items per call timed as `t`; rate = n · `scale` / median (scale 1e-9 for GOPS).
    pub fn new(suite: &'static str, case: String, kernel: &'static str, n: usize, t: Timing, scale: f64, unit: &'static str) -> Measured {
        let rate = n as f64 * scale / t.median_s;
        Measured { line: BenchLine { suite, case, kernel, n, median_s: t.median_s, rate, unit }, spread: t.spread }
    }

    /// [`BenchLine::to_line`] then ` spread=0.031` (the keys before it keep their order).
    pub fn to_line(&self) -> String {
        format!("{} spread={:.3}", self.line.to_line(), self.spread)
    }
}

/// Median seconds per call of `f`, measured with `clock` ([`DEFAULT_PLAN`]).
pub fn time_median(clock: &dyn Fn() -> f64, f: impl FnMut()) -> f64 {
    time_one(clock, f).median_s
}

/// [`Timing`] of `f` with [`DEFAULT_PLAN`].
pub fn time_one(clock: &dyn Fn() -> f64, mut f: impl FnMut()) -> Timing {
    measure(clock, &mut [&mut f], DEFAULT_PLAN)[0]
}

/// Calls per trial so that a trial of `f` lasts at least `min_trial_s`.
fn calibrate(clock: &dyn Fn() -> f64, f: &mut dyn FnMut(), min_trial_s: f64) -> usize {
    let mut calls = 1usize;
    loop {
        let t0 = clock();
        for _ in 0..calls {
            f();
        }
        let dt = clock() - t0;
        if dt >= min_trial_s || calls >= 1 << 24 {
            return calls;
        }
        // A clock coarser than the calls (a browser's performance.now() is rounded to 0.1 ms or
        // more, and reads 0 for a short run) only doubles: extrapolating from 0 would ask for
        // millions of calls. Past a tenth of the target the estimate is good enough to jump.
        calls = if dt < min_trial_s / 10.0 { calls * 2 } else { (calls * 2).max((calls as f64 * min_trial_s / dt) as usize / 2) };
    }
}

/// Median seconds per call of each `fs[i]`, trials interleaved ([`DEFAULT_PLAN`]).
pub fn time_medians(clock: &dyn Fn() -> f64, fs: &mut [&mut dyn FnMut()]) -> Vec<f64> {
    measure(clock, fs, DEFAULT_PLAN).into_iter().map(|t| t.median_s).collect()
}

/// Medians of exactly `repeats` interleaved trials of at least `min_trial_s` each, without a
/// warm-up ([`Plan::fixed`]; the language-model benchmark warms up itself).
pub fn time_medians_of(clock: &dyn Fn() -> f64, fs: &mut [&mut dyn FnMut()], repeats: usize, min_trial_s: f64) -> Vec<f64> {
    measure(clock, fs, Plan::fixed(repeats, min_trial_s)).into_iter().map(|t| t.median_s).collect()
}

/// Each `fs[i]` timed by `plan` (see the module header), trials interleaved.
pub fn measure(clock: &dyn Fn() -> f64, fs: &mut [&mut dyn FnMut()], plan: Plan) -> Vec<Timing> {
    if fs.is_empty() {
        return Vec::new();
    }
    if plan.warmup_s > 0.0 {
        for f in fs.iter_mut() {
            let t0 = clock();
            f();
            while clock() - t0 < plan.warmup_s {
                f();
            }
        }
    }
    let calls: Vec<usize> = fs.iter_mut().map(|f| calibrate(clock, &mut **f, plan.min_trial_s)).collect();
    let mut trials = vec![Vec::with_capacity(plan.max_trials); fs.len()];
    let start = clock();
    let mut target = plan.trials.max(1);
    loop {
        while trials[0].len() < target {
            // Forwards on even trials, backwards on odd ones: a function that always ran right
            // after another one on the same data would find it in cache.
            let backwards = trials[0].len() % 2 == 1;
            for j in 0..fs.len() {
                let i = if backwards { fs.len() - 1 - j } else { j };
                let t0 = clock();
                for _ in 0..calls[i] {
                    fs[i]();
                }
                trials[i].push((clock() - t0) / calls[i] as f64);
            }
        }
        let noisy = trials.iter().any(|t| Timing::of(t).spread > plan.max_spread);
        if !noisy || target >= plan.max_trials || clock() - start >= plan.extend_budget_s {
            break;
        }
        target = (target + plan.trials.div_ceil(2)).min(plan.max_trials);
    }
    trials.iter().map(|t| Timing::of(t)).collect()
}

/// One timed call of an interleaved comparison.
type Timed<'a> = Box<dyn FnMut() + 'a>;

/// Trials of the interleaved comparisons (the GEMM suite and the MLP split):
/// more and shorter than the others' because the machine they run on is
/// shared. When more threads want to run than there are cores, the scheduler
/// hands out slices of a few milliseconds, so most 20 ms trials include time
/// spent descheduled; trials of 1 ms mostly do not, and their median is the
/// kernel's own time (calls longer than 1 ms are one call per trial).
pub const INTERLEAVED_REPEATS: usize = 41;
pub const INTERLEAVED_TRIAL_S: f64 = 0.001;
/// 41 to 123 trials of at least 1 ms.
pub const INTERLEAVED_PLAN: Plan = Plan::adaptive(INTERLEAVED_REPEATS, INTERLEAVED_TRIAL_S);

/// Quantize / dequantize / fake-quant throughput (elements per second) for every
/// kernel set in this build, on `n` values at 8 bits, round half to even.
pub fn quant_kernels(clock: &dyn Fn() -> f64, n: usize) -> Vec<Measured> {
    let x: Vec<f32> = (0..n).map(|i| ((i as f32 * 0.618_034).fract() - 0.5) * 6.0).collect();
    let scheme = Scheme::lab(crate::quant::Method::Normal, 8);
    let (p, _) = QParams::from_range(-3.0, 3.0, &scheme).expect("a valid range");
    let mut q = vec![0i32; n];
    let mut out = vec![0f32; n];
    let mut lines = Vec::new();
    for k in kernels::all() {
        let Kernels { name, quantize, dequantize, fake_quant } = k;
        let r = Rounding::HalfEven;
        let cases: [(&str, Timing); 3] = [
            ("quantize", time_one(clock, || quantize(&x, &p, r, 0, &mut q))),
            ("dequantize", time_one(clock, || dequantize(&q, &p, &mut out))),
            ("fake_quant", time_one(clock, || fake_quant(&x, &p, r, 0, &mut out))),
        ];
        for (case, t) in cases {
            lines.push(Measured::new("quant", case.into(), name, n, t, 1.0, "elem/s"));
        }
    }
    std::hint::black_box((&q, &out));
    lines
}

/// `ratio suite=quant case=quantize simd128/scalar=5.21` for each case that
/// has both a scalar and a simd128 line.
pub fn ratios(lines: &[Measured]) -> Vec<String> {
    let mut out = Vec::new();
    for l in lines.iter().map(|l| &l.line).filter(|l| l.kernel == "simd128") {
        if let Some(s) = lines.iter().map(|s| &s.line).find(|s| s.kernel == "scalar" && s.suite == l.suite && s.case == l.case) {
            out.push(format!("ratio suite={} case={} simd128/scalar={:.2}", l.suite, l.case, l.rate / s.rate));
        }
    }
    out
}

/// The GEMM shapes of the runtime benchmark: (M, K, N).
pub const GEMM_SHAPES: [(usize, usize, usize); 4] = [(1, 784, 128), (16, 784, 128), (64, 784, 128), (256, 512, 512)];

/// int8 GEMM throughput in GOPS = 2·M·K·N / t, for every implementation in this build.
pub fn gemm_i8(clock: &dyn Fn() -> f64) -> Vec<Measured> {
    use crate::runtime::gemm_i8::{all, PackedW};
    let mut lines = Vec::new();
    for (m, k, n) in GEMM_SHAPES {
        let a: Vec<i8> = (0..m * k).map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as i8).collect();
        let w: Vec<i8> = (0..n * k).map(|i| (i.wrapping_mul(40_503) >> 3) as i8).collect();
        let packed = PackedW::pack(&w, n, k);
        let mut c = vec![0i32; m * n];
        for g in all() {
            let t = time_one(clock, || (g.run)(&a, m, &packed, &mut c));
            lines.push(Measured::new("gemm_i8", format!("{m}x{k}x{n}"), g.name, 2 * m * k * n, t, 1e-9, "GOPS"));
        }
        std::hint::black_box(&c);
    }
    lines
}

/// f32 GEMM throughput in GOPS = 2·M·K·N / t, for every implementation in this build.
pub fn gemm_f32(clock: &dyn Fn() -> f64) -> Vec<Measured> {
    use crate::runtime::gemm_f32::{all, PackedWf32};
    let mut lines = Vec::new();
    for (m, k, n) in GEMM_SHAPES {
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
        let w: Vec<f32> = (0..n * k).map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0).collect();
        let packed = PackedWf32::pack(&w, n, k);
        let mut c = vec![0f32; m * n];
        for g in all() {
            let t = time_one(clock, || (g.run)(&a, m, &packed, &mut c));
            lines.push(Measured::new("gemm_f32", format!("{m}x{k}x{n}"), g.name, 2 * m * k * n, t, 1e-9, "GOPS"));
        }
        std::hint::black_box(&c);
    }
    lines
}

/// The rate of the `suite=ceiling` line of `case` for `kernel`, if this run measured it.
fn ceiling_rate(lines: &[Measured], case: &str, kernel: &str) -> Option<f64> {
    lines.iter().map(|l| &l.line).find(|l| l.suite == "ceiling" && l.case == case && l.kernel == kernel).map(|l| l.rate)
}

/// The int8 against FP32 ratios:
/// - `ratio suite=gemm case=16x784x128 int8/f32=2.61` for each shape measured in both GEMM
///   suites (the fastest kernel of each). Where both instruction ceilings were measured in the
///   same run (`suite=ceiling`), a ratio above theirs (`dot_i16x8_add / f32x4_mul_add`) ends in
///   ` flag=above_ceiling` and is followed by a `warning` line: kernels equally close to their
///   ceilings cannot exceed it, so the f32 kernel ran far below its own (or a trial was disturbed);
/// - `ratio suite=mlp_784_128_64_10 case=batch_64 int8/fp32=2.10` for each pair of whole-model
///   lines `fp32_<case>` / `int8_<case>` of one suite (time of FP32 / time of int8).
pub fn int8_vs_f32(lines: &[Measured]) -> Vec<String> {
    // The fastest line of a suite for a case.
    let best = |suite: &str, case: &str| -> Option<&Measured> {
        lines.iter().filter(|l| l.line.suite == suite && l.line.case == case).max_by(|a, b| a.line.rate.total_cmp(&b.line.rate))
    };
    let mut out = Vec::new();
    for case in GEMM_SHAPES.iter().map(|(m, k, n)| format!("{m}x{k}x{n}")) {
        let (Some(i8l), Some(f32l)) = (best("gemm_i8", &case), best("gemm_f32", &case)) else {
            continue;
        };
        let (i8r, f32r) = (i8l.line.rate, f32l.line.rate);
        let ratio = i8r / f32r;
        let mut line = format!("ratio suite=gemm case={case} int8/f32={ratio:.2}");
        let mut warning = None;
        if let (Some(d), Some(f)) = (ceiling_rate(lines, &case, "dot_i16x8_add"), ceiling_rate(lines, &case, "f32x4_mul_add")) {
            let bound = d / f;
            if ratio > bound {
                line.push_str(" flag=above_ceiling");
                warning = Some(format!(
                    "warning suite=gemm case={case} int8/f32={ratio:.2} is above the ceilings' ratio {bound:.2} (same run): int8 at {:.2} of its ceiling, f32 at {:.2} of its own (spreads {:.3}, {:.3})",
                    i8r / d,
                    f32r / f,
                    i8l.spread,
                    f32l.spread
                ));
            }
        }
        out.push(line);
        out.extend(warning);
    }
    for fp in lines.iter().map(|l| &l.line).filter(|l| l.case.starts_with("fp32_")) {
        let rest = &fp.case["fp32_".len()..];
        if let Some(q) = lines.iter().map(|l| &l.line).find(|q| q.suite == fp.suite && q.case.strip_prefix("int8_") == Some(rest)) {
            out.push(format!("ratio suite={} case={rest} int8/fp32={:.2}", fp.suite, fp.median_s / q.median_s));
        }
    }
    out
}

/// End-to-end inference of the lab MLP (784-128-64-10), FP32 (f32 GEMM) against int8 (static
/// W8A8, the integer engine), timed interleaved at batches of 1 and 64 images (cases
/// `fp32_batch_1`, `int8_batch_64` …) and over `n` images at once (`fp32_<n>_images`). Timing
/// does not depend on the weights or pixels, so seeded weights and synthetic pixels are used;
/// the accuracy figures come from tests/suite/int8_model.rs on real data.
pub fn mlp_end_to_end(clock: &dyn Fn() -> f64, n: usize) -> Vec<Measured> {
    use crate::model::forward::Fp32Runner;
    use crate::model::zoo::lab_mlp;
    use crate::ptq::{int8::int8_engine, quantize_model, PtqConfig, Scope};
    use crate::runtime::int8_model::Int8Scratch;
    let model = lab_mlp(1);
    let n_all = n.max(256);
    let pixels: Vec<u8> = (0..n_all * 784).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let images: Vec<f32> = pixels.iter().map(|&p| p as f32 / 255.0).collect();
    let fp32 = Fp32Runner::new(model.clone());
    // The product's build path: static W8A8 per-channel PTQ, then the integer engine.
    let q = quantize_model(&model, &PtqConfig::default(), &images[..256 * 784], Scope::All).expect("the lab MLP quantizes");
    let int8 = int8_engine(&q.model).expect("the lab MLP runs on integer kernels");
    let mut scratch = Int8Scratch::default();
    let kernel = crate::runtime::gemm_i8::best().name;
    let mut lines = Vec::new();
    for (batch, name) in [(1, "batch_1".to_string()), (64, "batch_64".to_string()), (n, format!("{n}_images"))] {
        let (x, p) = (&images[..batch * 784], &pixels[..batch * 784]);
        let t = measure(
            clock,
            &mut [
                &mut || {
                    std::hint::black_box(fp32.forward(x).expect("shapes match"));
                },
                &mut || {
                    std::hint::black_box(int8.predict(p, &mut scratch));
                },
            ],
            DEFAULT_PLAN,
        );
        for (case, t) in [("fp32", t[0]), ("int8", t[1])] {
            lines.push(Measured::new("mlp_784_128_64_10", format!("{case}_{name}"), kernel, batch, t, 1.0, "images/s"));
        }
    }
    lines
}

/// One epoch of QAT (8-bit weights and activations, Adam, batch 64) of the lab
/// MLP over `n` synthetic 28×28 images: one untimed epoch, then the median of 3 (up to 5 while
/// the spread is above [`MAX_SPREAD`]).
pub fn qat_epoch(clock: &dyn Fn() -> f64, n: usize) -> Vec<Measured> {
    use crate::data::Dataset;
    use crate::model::zoo::lab_mlp;
    use crate::train::fit::{fit, FitConfig};
    use crate::train::net::{Net, QatConfig};
    use crate::train::optim::Optimizer;
    let data = Dataset {
        rows: 28,
        cols: 28,
        classes: 10,
        labels: (0..n).map(|i| (i % 10) as u8).collect(),
        pixels: (0..n * 784).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect(),
    };
    let cfg = FitConfig { epochs: 1, batch: 64, optimizer: Optimizer::adam(1e-3), seed: 1, report_every: 0 };
    let epoch = || {
        let mut net = Net::new(lab_mlp(1)).expect("the lab MLP trains");
        net.qat = Some(QatConfig::symmetric(8, 8, crate::quant::Method::Normal));
        let t0 = clock();
        fit(&mut net, &data, &cfg, &mut |_| true);
        clock() - t0
    };
    epoch();
    let mut times: Vec<f64> = (0..3).map(|_| epoch()).collect();
    while times.len() < 5 && Timing::of(&times).spread > MAX_SPREAD {
        times.push(epoch());
    }
    let kernel = if cfg!(target_arch = "wasm32") { "wasm32" } else { "native" };
    vec![Measured::new("train", format!("qat8_epoch_{n}_images"), kernel, n, Timing::of(&times), 1.0, "images/s")]
}

/// The GEMM comparison of the runtime issue, one shape at a time, every SIMD
/// entry timed interleaved with the others (see [`time_medians`]): the two
/// instruction ceilings (`suite=ceiling`, see [`ceiling_loops`]), the int8 and
/// f32 GEMMs (`suite=gemm_i8` / `gemm_f32`, kernel `simd128`), the requantized
/// int8 GEMMs (`suite=qgemm_i8`), and every int8 kernel variant
/// (`suite=gemm_i8_variants`: other tiles, blockings, the previous broadcast
/// kernel, ablations). The scalar references are timed on their own. GOPS = 2·M·K·N / t.
pub fn gemm_suite(clock: &dyn Fn() -> f64) -> Vec<Measured> {
    use crate::runtime::gemm_f32::{self, PackedWf32};
    use crate::runtime::gemm_i8::{self, PackedW};
    use crate::runtime::requant::{quantize_multiplier, OutputStage};
    let mut lines = Vec::new();
    for (m, k, n) in GEMM_SHAPES {
        let case = format!("{m}x{k}x{n}");
        let ops = 2 * m * k * n;
        let a: Vec<i8> = (0..m * k).map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as i8).collect();
        let w: Vec<i8> = (0..n * k).map(|i| (i.wrapping_mul(40_503) >> 3) as i8).collect();
        let af: Vec<f32> = (0..m * k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
        let wf: Vec<f32> = (0..n * k).map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0).collect();
        let (packed, packed_f) = (PackedW::pack(&w, n, k), PackedWf32::pack(&wf, n, k));
        let stage = OutputStage::new(
            (0..n).map(|i| i as i32 * 11 - 500).collect(),
            (0..n).map(|i| quantize_multiplier(2e-5 * (1.0 + i as f64 / 64.0))).collect(),
            3,
            3,
            127,
        );
        // (suite, kernel, ops per call, the call); each call owns its output.
        let mut entries: Vec<(&'static str, &'static str, usize, Timed<'_>)> = Vec::new();
        for (kernel, ops_per, f) in ceiling_loops() {
            entries.push(("ceiling", kernel, ops_per, f));
        }
        for g in gemm_i8::all().into_iter().filter(|g| g.name != gemm_i8::SCALAR.name) {
            let (a, p, mut c) = (&a, &packed, vec![0i32; m * n]);
            entries.push(("gemm_i8", g.name, ops, Box::new(move || (g.run)(a, m, p, std::hint::black_box(&mut c)))));
        }
        for g in gemm_f32::all().into_iter().filter(|g| g.name != gemm_f32::SCALAR.name) {
            let (a, p, mut c) = (&af, &packed_f, vec![0f32; m * n]);
            entries.push(("gemm_f32", g.name, ops, Box::new(move || (g.run)(a, m, p, std::hint::black_box(&mut c)))));
        }
        for q in gemm_i8::all_requant().into_iter().filter(|q| q.name != gemm_i8::QSCALAR.name) {
            let (a, p, st, mut y) = (&a, &packed, &stage, vec![0i8; m * n]);
            entries.push(("qgemm_i8", q.name, ops, Box::new(move || (q.run)(a, m, p, st, std::hint::black_box(&mut y)))));
        }
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        for v in gemm_i8::variants::all() {
            let (a, packed, mut c) = (&a, (v.pack)(&w, n, k), vec![0i32; m * n]);
            entries.push(("gemm_i8_variants", v.name, ops, Box::new(move || (v.run)(a, m, n, k, &packed, std::hint::black_box(&mut c)))));
        }
        let mut fs: Vec<&mut dyn FnMut()> = entries.iter_mut().map(|e| &mut *e.3 as &mut dyn FnMut()).collect();
        let times = measure(clock, &mut fs, INTERLEAVED_PLAN);
        for ((suite, kernel, ops, _), t) in entries.iter().zip(times) {
            lines.push(Measured::new(suite, case.clone(), kernel, *ops, t, 1e-9, "GOPS"));
        }
        drop(entries);
        // The scalar references, alone (they are 30-50× slower).
        let (mut c, mut cf) = (vec![0i32; m * n], vec![0f32; m * n]);
        for (suite, s) in [
            ("gemm_i8", time_one(clock, || (gemm_i8::SCALAR.run)(&a, m, &packed, &mut c))),
            ("gemm_f32", time_one(clock, || (gemm_f32::SCALAR.run)(&af, m, &packed_f, &mut cf))),
        ] {
            lines.push(Measured::new(suite, case.clone(), "scalar", ops, s, 1e-9, "GOPS"));
        }
        std::hint::black_box((&c, &cf));
    }
    lines
}

/// The instruction ceilings as (kernel, ops per call, call):
/// `i32x4.dot_i16x8_s` + `i32x4.add` (16 ops: 8 multiply-adds) and
/// `f32x4.mul` + `f32x4.add` (8 ops), 12 independent accumulators, no loads.
/// Each accumulator feeds its own next multiply, so the compiler cannot hoist
/// the product out of the loop; 12 chains of latency 3 + 1 cover the
/// multiplier's throughput. Empty where simd128 is absent.
pub fn ceiling_loops() -> Vec<(&'static str, usize, Timed<'static>)> {
    #[allow(unused_mut)]
    let mut v: Vec<(&'static str, usize, Timed<'static>)> = Vec::new();
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        use core::arch::wasm32::*;
        const ITERS: usize = 1 << 14;
        const CHAINS: usize = 12;
        let dot = || {
            let w = std::hint::black_box(i16x8_splat(3));
            let mut acc: [v128; CHAINS] = core::array::from_fn(|i| std::hint::black_box(i32x4_splat(i as i32)));
            for _ in 0..ITERS {
                for a in acc.iter_mut() {
                    *a = i32x4_add(*a, i32x4_dot_i16x8(*a, w));
                }
            }
            std::hint::black_box(acc);
        };
        let fma = || {
            let w = std::hint::black_box(f32x4_splat(0.999));
            let mut acc: [v128; CHAINS] = core::array::from_fn(|i| std::hint::black_box(f32x4_splat(i as f32)));
            for _ in 0..ITERS {
                for a in acc.iter_mut() {
                    *a = f32x4_add(*a, f32x4_mul(*a, w));
                }
            }
            std::hint::black_box(acc);
        };
        v.push(("dot_i16x8_add", ITERS * CHAINS * 16, Box::new(dot)));
        v.push(("f32x4_mul_add", ITERS * CHAINS * 8, Box::new(fma)));
    }
    v
}

/// Requantization of an int32 [256, 128] accumulator block to int8 (per-channel
/// multipliers, fused ReLU), every implementation: `suite=requant`, values/s.
pub fn requant(clock: &dyn Fn() -> f64) -> Vec<Measured> {
    use crate::runtime::requant::{all, quantize_multiplier, OutputStage};
    let (m, n) = (256usize, 128usize);
    let acc: Vec<i32> = (0..m * n).map(|i| (i.wrapping_mul(2_654_435_761) >> 12) as i32 - (1 << 19)).collect();
    let stage = OutputStage::new(
        (0..n).map(|i| i as i32 * 37 - 2000).collect(),
        (0..n).map(|i| quantize_multiplier(1e-4 * (1.0 + i as f64 / 16.0))).collect(),
        -7,
        -7,
        127,
    );
    let mut y = vec![0i8; m * n];
    let mut lines = Vec::new();
    for r in all() {
        let t = time_one(clock, || (r.run)(&acc, &stage, &mut y));
        lines.push(Measured::new("requant", format!("{m}x{n}"), r.name, m * n, t, 1.0, "elem/s"));
    }
    std::hint::black_box(&y);
    lines
}

/// Where the int8 MLP's time goes: the lab MLP (784-128-64-10, weights of
/// `lab_mlp(1)` quantized by the product's path, `quantize_model` + `int8_engine`) over `n` images, timed
/// stage by stage — input conversion, and per layer the activation widening,
/// the int32 GEMM (widening included), the scalar and simd128 requantization
/// passes, the requantized GEMMs (two passes, and fused in registers) and, under
/// simd128, the previous pipeline (broadcast kernel + scalar requantization).
/// `suite=mlp_split`, images/s; then one `split` line per stage with its share
/// of the sum of the stages `Int8Mlp::predict` runs (input table, and per layer
/// `QLinear::forward`'s GEMM and requantization; the widening is part of the GEMM).
pub fn mlp_split(clock: &dyn Fn() -> f64, n: usize) -> (Vec<Measured>, Vec<String>) {
    use crate::model::zoo::lab_mlp;
    use crate::ptq::{int8::int8_engine, quantize_model, PtqConfig, Scope};
    use crate::runtime::gemm_i8::{self, PackedW};
    use crate::runtime::int8_model::Int8Op;
    use crate::runtime::qlinear::QLinear;
    use crate::runtime::requant;
    let model = lab_mlp(1);
    let pixels: Vec<u8> = (0..n * 784).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let calib: Vec<f32> = pixels[..256 * 784].iter().map(|&p| p as f32 / 255.0).collect();
    // The product's build path (static W8A8 per-channel PTQ, then the integer engine); the int8
    // weights of each layer are kept for the kernel variants.
    let q = quantize_model(&model, &PtqConfig::default(), &calib, Scope::All).expect("the lab MLP quantizes");
    let engine = int8_engine(&q.model).expect("the lab MLP runs on integer kernels");
    let layers: Vec<(QLinear, Vec<i8>)> = engine
        .layers()
        .iter()
        .filter_map(|op| match op {
            Int8Op::Linear(l) => Some(l.clone()),
            _ => None,
        })
        .zip(q.model.quantized().map(|ql| ql.weight.q.iter().map(|&v| v.clamp(-128, 127) as i8).collect()))
        .collect();
    let mut lines = Vec::new();
    let push = |lines: &mut Vec<Measured>, case: String, kernel: &'static str, t: Timing| {
        lines.push(Measured::new("mlp_split", case, kernel, n, t, 1.0, "images/s"));
        t.median_s
    };
    // Stage inputs: each layer's real input activations.
    // Pixels enter as p − 128 (the lab's input; `Int8Mlp::predict` takes plain arithmetic when its
    // table is that offset, else the 256-entry table).
    let lut: [i8; 256] = std::array::from_fn(|p| (p as i32 - 128) as i8);
    let x0: Vec<i8> = pixels.iter().map(|&p| lut[p as usize]).collect();
    let mut xs_in = vec![x0];
    for (l, _) in &layers {
        let mut y = vec![0i8; n * l.n];
        l.forward(xs_in.last().expect("an input"), n, &mut Vec::new(), &mut y);
        xs_in.push(y);
    }
    let mut predict_stages = Vec::new();
    // The input conversion by the 256-entry table (a first layer whose input is not p − 128) and
    // as plain arithmetic (p − 128, which LLVM vectorizes), interleaved.
    let (mut buf_lut, mut buf_sub) = (Vec::new(), Vec::new());
    let times = measure(
        clock,
        &mut [
            &mut || {
                buf_lut.clear();
                buf_lut.extend(pixels.iter().map(|&p| lut[p as usize]));
                std::hint::black_box(&buf_lut);
            },
            &mut || {
                buf_sub.clear();
                buf_sub.extend(pixels.iter().map(|&p| (p as i32 - 128) as i8));
                std::hint::black_box(&buf_sub);
            },
        ],
        INTERLEAVED_PLAN,
    );
    push(&mut lines, "input_u8_to_i8".into(), "lut", times[0]);
    // The stage predict runs for the lab MLP (its table is p − 128): the arithmetic.
    let t = push(&mut lines, "input_u8_to_i8".into(), "sub128", times[1]);
    predict_stages.push(("input_u8_to_i8".to_string(), t));
    let mut previous_total = t;
    #[allow(unused_mut)]
    let mut widen_parts: Vec<(String, String, f64)> = Vec::new();
    for (li, (l, wq)) in layers.iter().enumerate() {
        let (w, stage): (&PackedW, &requant::OutputStage) = l.parts();
        let x = &xs_in[li];
        let name = |what: &str| format!("l{}_{}x{}_{what}", li + 1, l.k, l.n);
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        {
            let mut a16 = Vec::new();
            let t = time_one(clock, || {
                let rows = gemm_i8::simd128::BLOCK_ROWS;
                for row0 in (0..n).step_by(rows) {
                    gemm_i8::simd128::widen_block(x, l.k, row0, rows.min(n - row0), gemm_i8::simd128::ROWS, &mut a16);
                    std::hint::black_box(&a16);
                }
            });
            push(&mut lines, name("widen"), "simd128", t);
            widen_parts.push((name("widen"), name("gemm_i32"), t.median_s));
        }
        // Interleaved: the int32 GEMM, each requantization pass, each requantized GEMM.
        let g = gemm_i8::best();
        let mut acc_in = vec![0i32; n * l.n];
        (g.run)(x, n, w, &mut acc_in);
        let acc = &acc_in;
        let mut entries: Vec<(String, &'static str, Timed<'_>)> = Vec::new();
        {
            let mut acc = vec![0i32; n * l.n];
            entries.push((name("gemm_i32"), g.name, Box::new(move || (g.run)(x, n, w, std::hint::black_box(&mut acc)))));
        }
        for r in requant::all() {
            let mut y = vec![0i8; n * l.n];
            entries.push((name("requant"), r.name, Box::new(move || (r.run)(acc, stage, std::hint::black_box(&mut y)))));
        }
        for q in gemm_i8::all_requant().into_iter().filter(|q| q.name != gemm_i8::QSCALAR.name) {
            let mut y = vec![0i8; n * l.n];
            entries.push((name("qgemm"), q.name, Box::new(move || (q.run)(x, n, w, stage, std::hint::black_box(&mut y)))));
        }
        // The pipeline before the simd128 requantization: the previous broadcast
        // kernel (`splat4x8`) into int32, then the scalar requantization.
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        if let Some(v) = gemm_i8::variants::all().into_iter().find(|v| v.name == "splat4x8") {
            let (packed, mut acc, mut y) = ((v.pack)(wq, l.n, l.k), vec![0i32; n * l.n], vec![0i8; n * l.n]);
            let (k, nn) = (l.k, l.n);
            entries.push((
                name("previous"),
                "splat4x8+scalar_requant",
                Box::new(move || {
                    (v.run)(x, n, nn, k, &packed, &mut acc);
                    requant::requantize_rows(&acc, stage, std::hint::black_box(&mut y));
                }),
            ));
        }
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        let _ = wq;
        let mut fs: Vec<&mut dyn FnMut()> = entries.iter_mut().map(|e| &mut *e.2 as &mut dyn FnMut()).collect();
        let times = measure(clock, &mut fs, INTERLEAVED_PLAN);
        let t_of = |case: &str, kernel: &str| {
            entries.iter().zip(&times).find(|(e, _)| e.0 == case && e.1 == kernel).map_or(0.0, |(_, t)| t.median_s)
        };
        // What QLinear::forward runs: the requantized GEMM it chose, or the fastest GEMM into
        // int32 then the fastest requantization.
        match crate::runtime::qlinear::fused_forward() {
            Some(q) => predict_stages.push((name("qgemm"), t_of(&name("qgemm"), q.name))),
            None => {
                predict_stages.push((name("gemm_i32"), t_of(&name("gemm_i32"), g.name)));
                predict_stages.push((name("requant"), t_of(&name("requant"), requant::best().name)));
            }
        }
        previous_total += t_of(&name("previous"), "splat4x8+scalar_requant");
        for ((case, kernel, _), t) in entries.iter().zip(&times) {
            push(&mut lines, case.clone(), kernel, *t);
        }
    }
    let total: f64 = predict_stages.iter().map(|(_, t)| t).sum();
    let mut split: Vec<String> = predict_stages
        .iter()
        .map(|(case, t)| format!("split suite=mlp_split case={case} ms={:.3} share={:.3}", t * 1e3, t / total))
        .collect();
    split.push(format!("split suite=mlp_split case=sum_of_stages ms={:.3} share=1.000", total * 1e3));
    for (case, part_of, t) in &widen_parts {
        split.push(format!("split suite=mlp_split case={case} ms={:.3} share={:.3} part_of={part_of}", t * 1e3, t / total));
    }
    if previous_total > t {
        split.push(format!(
            "split suite=mlp_split case=previous_sum_of_stages ms={:.3} previous/now={:.2}",
            previous_total * 1e3,
            previous_total / total
        ));
    }
    (lines, split)
}

/// `ratio suite=gemm_i8 case=16x784x128 simd128/ceiling=0.92` for every SIMD
/// GOPS line against the ceiling timed interleaved with it (same case): int8
/// lines against `dot_i16x8_add`, f32 lines against `f32x4_mul_add`; and the
/// ratio of the two ceilings, the bound on int8/f32 for kernels equally close to theirs.
/// A GEMM (`gemm_i8`, `gemm_f32`, `qgemm_i8`) above its ceiling cannot be: its line ends in
/// ` flag=above_ceiling` and a `warning` line follows. (The kernel variants are not flagged:
/// some ablations replace the dots.)
pub fn ceiling_ratios(lines: &[Measured]) -> Vec<String> {
    let mut out = Vec::new();
    for l in lines.iter().map(|l| &l.line).filter(|l| l.suite == "ceiling" && l.kernel == "dot_i16x8_add") {
        if let Some(f) = ceiling_rate(lines, &l.case, "f32x4_mul_add") {
            out.push(format!("ratio suite=ceiling case={} dot_i16x8_add/f32x4_mul_add={:.3}", l.case, l.rate / f));
        }
    }
    for m in lines.iter().filter(|l| l.line.kernel != "scalar" && l.line.unit == "GOPS" && l.line.suite != "ceiling") {
        let l = &m.line;
        let kernel = if l.suite == "gemm_f32" { "f32x4_mul_add" } else { "dot_i16x8_add" };
        if let Some(c) = ceiling_rate(lines, &l.case, kernel) {
            let r = l.rate / c;
            let mut line = format!("ratio suite={} case={} {}/ceiling={r:.3}", l.suite, l.case, l.kernel);
            if r > 1.0 && ["gemm_i8", "gemm_f32", "qgemm_i8"].contains(&l.suite) {
                line.push_str(" flag=above_ceiling");
                out.push(line);
                out.push(format!(
                    "warning suite={} case={} kernel={} ran at {r:.3} of its instruction ceiling {kernel} (spread {:.3}): a disturbed timing",
                    l.suite, l.case, l.kernel, m.spread
                ));
            } else {
                out.push(line);
            }
        }
    }
    out
}

/// The requantized GEMM fused in registers against the two passes (int32 GEMM, then the
/// requantization), timed interleaved: `ratio suite=qgemm_i8 case=64x784x128 fused/two_pass=1.06`
/// (time of the two passes / time of the fused kernel: above 1, the fused kernel is faster) for
/// every case with both (`suite=qgemm_i8`, and the `_qgemm` stages of `suite=mlp_split`); then
/// `summary suite=qgemm fused_faster=5/7 median_fused/two_pass=1.04 forward=simd128_fused`
/// (`forward`: what `QLinear::forward` runs).
pub fn fused_vs_two_pass(lines: &[Measured]) -> Vec<String> {
    // The registry's names (`gemm_i8::QSIMD128_FUSED`, `gemm_i8::QSIMD128`).
    const FUSED: &str = "simd128_fused";
    const TWO_PASS: &str = "simd128";
    let mut out = Vec::new();
    let mut ratios = Vec::new();
    for f in lines.iter().map(|l| &l.line).filter(|l| l.kernel == FUSED) {
        if let Some(t) = lines.iter().map(|l| &l.line).find(|t| t.suite == f.suite && t.case == f.case && t.kernel == TWO_PASS) {
            let r = t.median_s / f.median_s;
            ratios.push(r);
            out.push(format!("ratio suite={} case={} fused/two_pass={r:.2}", f.suite, f.case));
        }
    }
    if !ratios.is_empty() {
        let faster = ratios.iter().filter(|&&r| r > 1.0).count();
        let forward = crate::runtime::qlinear::fused_forward().map_or("two_pass", |q| q.name);
        out.push(format!(
            "summary suite=qgemm fused_faster={faster}/{} median_fused/two_pass={:.2} forward={forward}",
            ratios.len(),
            Timing::of(&ratios).median_s
        ));
    }
    out
}

/// A full W8A8 PTQ run of a model, as the Model page re-runs it when a setting changes:
/// - `ptq_core`: calibrate on `calib` (256 images), quantize, build the integer engine, and
///   predict every image of `eval` on it (the accuracy is computed, so nothing is skipped);
/// - `ptq_report`: the page's whole report (`experiment::run::run_ptq`: the core, the simulated
///   predictions, per-layer errors on 500 images, MindSpore Lite's reports, the QDQ view).
///
/// `baseline` is the FP32 model's predictions, which the page computes once per model.
pub fn ptq_run(clock: &dyn Fn() -> f64, model: &crate::model::Model, calib: &[f32], eval: &crate::data::Dataset) -> Vec<Measured> {
    use crate::experiment::run::{accuracy_of, fp32_baseline, run_ptq};
    use crate::experiment::Experiment;
    use crate::ptq::int8::int8_engine;
    use crate::ptq::{quantize_model, PtqConfig, Scope};
    use crate::runtime::int8_model::Int8Scratch;
    let exp = Experiment::default();
    let baseline = fp32_baseline(model, eval).expect("the model runs on the images");
    let mut scratch = Int8Scratch::default();
    let mut acc = 0.0;
    let mut core = || {
        let q = quantize_model(model, &PtqConfig::default(), calib, Scope::All).expect("the model quantizes").model;
        let engine = int8_engine(&q).expect("W8A8 per-channel runs on integer kernels");
        acc = accuracy_of(&engine.predict(&eval.pixels, &mut scratch), &eval.labels);
    };
    let mut report = || {
        std::hint::black_box(run_ptq(&exp, model, calib, eval, &baseline).expect("the experiment runs"));
    };
    let t = measure(clock, &mut [&mut core, &mut report], Plan::adaptive(7, 0.0));
    std::hint::black_box(acc);
    let n = eval.len();
    let kernel = crate::runtime::gemm_i8::best().name;
    [("ptq_core_calib256", t[0]), ("ptq_report_calib256", t[1])]
        .into_iter()
        .map(|(case, t)| Measured::new("ptq_w8a8", format!("{case}_eval{n}"), kernel, n, t, 1.0, "images/s"))
        .collect()
}

/// The whole Fashion CNN (or any model the integer engine runs) on real images, FP32 (f32
/// GEMM, `Fp32Runner`) against the integer engine (static W8A8 per channel through the product's
/// path: `quantize_model`, `int8_engine`), at batches of 1, 64 and the whole `test` set (in
/// chunks of 500, as the app evaluates). Each pair is timed interleaved (same-run ratio); the
/// `int8/fp32` line gives the speed-up, and `accuracy` lines the two accuracies over `test`.
pub fn model_end_to_end(clock: &dyn Fn() -> f64, suite: &'static str, model: &crate::model::Model, calib: &[f32], test: &crate::data::Dataset) -> (Vec<Measured>, Vec<String>) {
    use crate::model::forward::Fp32Runner;
    use crate::ptq::{int8::int8_engine, quantize_model, PtqConfig, Scope};
    use crate::runtime::int8_model::Int8Scratch;
    const CHUNK: usize = 500;
    let q = quantize_model(model, &PtqConfig::default(), calib, Scope::All).expect("W8A8 quantizes");
    let int8 = int8_engine(&q.model).expect("the model runs on integer kernels");
    let fp32 = Fp32Runner::new(model.clone());
    let (p, classes) = (test.image_len(), model.output().len());
    let images = test.images_f32(0, test.len());
    let mut scratch = Int8Scratch::default();
    let mut lines = Vec::new();
    let mut notes = Vec::new();
    let kernel = crate::runtime::gemm_i8::best().name;
    for batch in [1, 64, test.len()] {
        let (mut pred_f, mut pred_q) = (Vec::new(), Vec::new());
        let times = measure(
            clock,
            &mut [
                &mut || {
                    pred_f.clear();
                    for s in (0..batch).step_by(CHUNK) {
                        let n = CHUNK.min(batch - s);
                        let y = fp32.forward(&images[s * p..(s + n) * p]).expect("shapes match");
                        pred_f.extend(crate::model::argmax_rows(&y, classes));
                    }
                },
                &mut || {
                    pred_q.clear();
                    for s in (0..batch).step_by(CHUNK) {
                        let n = CHUNK.min(batch - s);
                        pred_q.extend(int8.predict(&test.pixels[s * p..(s + n) * p], &mut scratch));
                    }
                },
            ],
            if batch == test.len() { Plan { max_trials: 5, ..Plan::adaptive(3, MIN_TRIAL_S) } } else { DEFAULT_PLAN },
        );
        for (case, t) in [("fp32", times[0]), ("int8", times[1])] {
            lines.push(Measured::new(suite, format!("{case}_batch_{batch}"), kernel, batch, t, 1.0, "images/s"));
        }
        notes.push(format!("ratio suite={suite} case=batch_{batch} int8/fp32={:.2}", times[0].median_s / times[1].median_s));
        if batch == test.len() {
            let acc = |pred: &[u8]| crate::experiment::run::accuracy_of(pred, &test.labels);
            let sim = crate::experiment::run::accuracy_of(&crate::model::argmax_rows(&q.model.forward(&images).expect("shapes match"), classes), &test.labels);
            notes.push(format!("accuracy suite={suite} images={batch} fp32={:.4} int8={:.4} simulated={sim:.4}", acc(&pred_f), acc(&pred_q)));
        }
    }
    (lines, notes)
}

/// Every PTQ mode on the engine `ptq::executable` chooses for it (the product's path: the CLI's
/// and the app's), over the whole `test` set in chunks of 500: static W8A8 (integer-only int8),
/// dynamic ALWC (int8 GEMM, per-batch activation range), weight-only W8 and W4 (packed weights
/// dequantized row by row). One line per mode, timed on `ExecModel::predict`; `engines` notes say
/// which engine ran each layer and the accuracy on the kernels against the simulation.
pub fn modes_end_to_end(clock: &dyn Fn() -> f64, suite: &'static str, model: &crate::model::Model, calib: &[f32], test: &crate::data::Dataset) -> (Vec<Measured>, Vec<String>) {
    use crate::experiment::run::{accuracy_of, predict_with};
    use crate::ptq::{executable, PtqConfig, QuantMode};
    let d = PtqConfig::default();
    let modes = [
        ("w8a8_static", d.clone()),
        ("w8a8_dynamic_alwc", PtqConfig { mode: QuantMode::Dynamic, ..d.clone() }),
        ("w8_weight_only", PtqConfig { mode: QuantMode::WeightOnly, ..d.clone() }),
        ("w4_weight_only", PtqConfig { mode: QuantMode::WeightOnly, weight_bits: 4, ..d.clone() }),
    ];
    let (mut lines, mut notes) = (Vec::new(), Vec::new());
    let classes = model.output().len();
    for (case, cfg) in modes {
        let exec = executable(model, &cfg, calib).expect("the model quantizes");
        let engines: Vec<String> = exec.layer_engines().map(|(i, e)| format!("{}:{}", model.layers[i].name, e.name())).collect();
        let mut pred = Vec::new();
        let t = measure(clock, &mut [&mut || pred = exec.predict(test).expect("the engines run")], Plan { max_trials: 5, ..Plan::adaptive(3, MIN_TRIAL_S) })[0];
        lines.push(Measured::new(suite, format!("{case}_batch_{}", test.len()), crate::runtime::gemm_i8::best().name, test.len(), t, 1.0, "images/s"));
        let sim = predict_with(test, classes, |x| Ok(exec.quant.forward(x)?)).expect("the simulation runs");
        notes.push(format!(
            "engines suite={suite} case={case} layers={} kernels={:.4} simulated={:.4}",
            engines.join(","),
            accuracy_of(&pred, &test.labels),
            accuracy_of(&sim, &test.labels)
        ));
    }
    (lines, notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn line(suite: &'static str, case: &str, kernel: &'static str, rate: f64) -> Measured {
        let t = Timing { median_s: 1.0 / rate, spread: 0.01, trials: 41 };
        Measured::new(suite, case.into(), kernel, 1, t, 1.0, if suite.starts_with("mlp") { "images/s" } else { "GOPS" })
    }

    /// A GEMM shape of one run: the two ceilings (ratio 110 / 60 = 1.83) and both GEMMs.
    fn shape(case: &str, i8_rate: f64, f32_rate: f64, ceilings: bool) -> Vec<Measured> {
        let mut v = vec![line("gemm_i8", case, "simd128", i8_rate), line("gemm_i8", case, "scalar", 3.0), line("gemm_f32", case, "simd128", f32_rate)];
        if ceilings {
            v.extend([line("ceiling", case, "dot_i16x8_add", 110.0), line("ceiling", case, "f32x4_mul_add", 60.0)]);
        }
        v
    }

    #[test]
    fn a_ratio_above_the_ceilings_ratio_is_flagged_and_others_are_not() {
        let mut lines = shape("16x784x128", 104.0, 57.0, true); // 1.82 ≤ 1.83
        lines.extend(shape("256x512x512", 104.0, 28.0, true)); // 3.71 > 1.83: a disturbed f32 timing
        lines.extend(shape("64x784x128", 104.0, 28.0, false)); // no ceilings measured: nothing to compare with
        let out = int8_vs_f32(&lines);
        assert!(out.contains(&"ratio suite=gemm case=16x784x128 int8/f32=1.82".to_string()), "{out:?}");
        assert!(out.contains(&"ratio suite=gemm case=256x512x512 int8/f32=3.71 flag=above_ceiling".to_string()), "{out:?}");
        assert!(out.contains(&"ratio suite=gemm case=64x784x128 int8/f32=3.71".to_string()), "{out:?}");
        let warnings: Vec<&String> = out.iter().filter(|l| l.starts_with("warning ")).collect();
        assert_eq!(warnings.len(), 1, "{out:?}");
        assert!(warnings[0].contains("case=256x512x512") && warnings[0].contains("ceilings' ratio 1.83") && warnings[0].contains("f32 at 0.47"), "{out:?}");
        // The flagged line still reads back, with its flag.
        let r = crate::bench_summary::parse_ratio(&out[2]).expect("a ratio line");
        assert!(r.above_ceiling && r.value == 3.71, "{out:?}");
    }

    #[test]
    fn a_kernel_above_its_own_ceiling_is_flagged() {
        let mut lines = shape("1x784x128", 80.0, 66.0, true); // f32 at 1.1 of its ceiling
        lines.push(line("gemm_i8_variants", "1x784x128", "no_dot", 120.0)); // an ablation: not flagged
        let out = ceiling_ratios(&lines);
        assert!(out.contains(&"ratio suite=ceiling case=1x784x128 dot_i16x8_add/f32x4_mul_add=1.833".to_string()), "{out:?}");
        assert!(out.contains(&"ratio suite=gemm_i8 case=1x784x128 simd128/ceiling=0.727".to_string()), "{out:?}");
        assert!(out.contains(&"ratio suite=gemm_f32 case=1x784x128 simd128/ceiling=1.100 flag=above_ceiling".to_string()), "{out:?}");
        assert!(out.contains(&"ratio suite=gemm_i8_variants case=1x784x128 no_dot/ceiling=1.091".to_string()), "{out:?}");
        assert_eq!(out.iter().filter(|l| l.starts_with("warning ") && l.contains("suite=gemm_f32")).count(), 1, "{out:?}");
        assert_eq!(out.iter().filter(|l| l.contains("flag=")).count(), 1, "{out:?}");
    }

    #[test]
    fn whole_model_and_fused_ratios_pair_their_lines() {
        let lines = [
            line("mlp_784_128_64_10", "fp32_batch_1", "simd128", 1000.0),
            line("mlp_784_128_64_10", "int8_batch_1", "simd128", 2000.0),
            line("qgemm_i8", "16x784x128", "simd128_fused", 110.0),
            line("qgemm_i8", "16x784x128", "simd128", 100.0),
            line("mlp_split", "l2_128x64_qgemm", "simd128_fused", 90.0),
            line("mlp_split", "l2_128x64_qgemm", "simd128", 100.0),
        ];
        assert!(int8_vs_f32(&lines).contains(&"ratio suite=mlp_784_128_64_10 case=batch_1 int8/fp32=2.00".to_string()));
        let out = fused_vs_two_pass(&lines);
        assert_eq!(out[0], "ratio suite=qgemm_i8 case=16x784x128 fused/two_pass=1.10");
        assert_eq!(out[1], "ratio suite=mlp_split case=l2_128x64_qgemm fused/two_pass=0.90");
        assert!(out[2].starts_with("summary suite=qgemm fused_faster=1/2 median_fused/two_pass=1.00 forward="), "{out:?}");
    }

    #[test]
    fn the_spread_is_the_interquartile_range_over_the_median() {
        let t = Timing::of(&[5.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!((t.median_s, t.spread, t.trials), (3.0, 2.0 / 3.0, 5));
        assert_eq!(Timing::of(&[2.0]).spread, 0.0);
        let m = line("quant", "quantize", "simd128", 4.0);
        let l = m.to_line();
        assert!(l.starts_with("bench suite=quant case=quantize kernel=simd128 n=1 median_us=250000.000 rate=4.0000e0 unit=GOPS ") && l.ends_with(" spread=0.010"), "{l}");
    }

    #[test]
    fn measure_warms_up_untimed_and_adds_trials_only_while_the_spread_is_large() {
        // A fake clock that the functions advance: `steady` takes 1 ms a call, `noisy` 1 or 3 ms.
        let now = Cell::new(0.0);
        let clock = || now.get();
        let (steady_calls, noisy_calls) = (Cell::new(0usize), Cell::new(0usize));
        let mut steady = || {
            steady_calls.set(steady_calls.get() + 1);
            now.set(now.get() + 1e-3);
        };
        let mut noisy = || {
            noisy_calls.set(noisy_calls.get() + 1);
            now.set(now.get() + if noisy_calls.get() % 2 == 0 { 1e-3 } else { 3e-3 });
        };
        let plan = Plan::adaptive(5, 0.0);
        let t = measure(&clock, &mut [&mut steady], plan);
        // 50 warm-up calls (50 ms, give or take the rounding of the fake clock), 1 calibration
        // call, 5 trials.
        assert_eq!(t[0].trials, 5);
        assert!((55..=57).contains(&steady_calls.get()), "{}", steady_calls.get());
        assert!((t[0].median_s - 1e-3).abs() < 1e-12 && t[0].spread < 1e-9);
        let t = measure(&clock, &mut [&mut steady, &mut noisy], plan);
        assert_eq!((t[0].trials, t[1].trials), (15, 15), "the noisy one keeps both going to the cap");
        assert!(t[1].spread > MAX_SPREAD);
        // A fixed plan: no warm-up, exactly its trials.
        steady_calls.set(0);
        let t = measure(&clock, &mut [&mut steady], Plan::fixed(3, 0.0));
        assert_eq!((t[0].trials, steady_calls.get()), (3, 4));
    }
}

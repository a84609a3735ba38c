//! Benchmarks that run the same way natively, under Node and in the browser.
//!
//! The caller passes a clock (seconds, monotonic), so this module needs no
//! platform crate: natively it is `Instant`, in wasm `performance.now()`.
//! Each case is timed over `REPEATS` trials; a trial runs the kernel enough
//! times to last at least `MIN_TRIAL_S`; the reported figure is the median.
//! Output is one parseable line per case (see [`BenchLine::to_line`]).

use crate::quant::kernels::{self, Kernels};
use crate::quant::{QParams, Rounding, Scheme};

pub const REPEATS: usize = 11;
pub const MIN_TRIAL_S: f64 = 0.02;

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

/// Median seconds per call of `f`, measured with `clock`.
pub fn time_median(clock: &dyn Fn() -> f64, mut f: impl FnMut()) -> f64 {
    time_medians(clock, &mut [&mut f])[0]
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

/// Median seconds per call of each `fs[i]`, with the trials interleaved
/// (trial t of every function, then trial t + 1 …), so that load from other
/// work on the machine falls on all of them alike and their ratios hold.
pub fn time_medians(clock: &dyn Fn() -> f64, fs: &mut [&mut dyn FnMut()]) -> Vec<f64> {
    time_medians_of(clock, fs, REPEATS, MIN_TRIAL_S)
}

/// [`time_medians`] with `repeats` trials (odd) of at least `min_trial_s` each.
pub fn time_medians_of(clock: &dyn Fn() -> f64, fs: &mut [&mut dyn FnMut()], repeats: usize, min_trial_s: f64) -> Vec<f64> {
    let calls: Vec<usize> = fs.iter_mut().map(|f| calibrate(clock, &mut **f, min_trial_s)).collect();
    let mut trials = vec![Vec::with_capacity(repeats); fs.len()];
    for _ in 0..repeats {
        for ((f, &n), t) in fs.iter_mut().zip(&calls).zip(trials.iter_mut()) {
            let t0 = clock();
            for _ in 0..n {
                f();
            }
            t.push((clock() - t0) / n as f64);
        }
    }
    trials
        .into_iter()
        .map(|mut t| {
            t.sort_by(f64::total_cmp);
            t[t.len() / 2]
        })
        .collect()
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

/// Quantize / dequantize / fake-quant throughput (elements per second) for every
/// kernel set in this build, on `n` values at 8 bits, round half to even.
pub fn quant_kernels(clock: &dyn Fn() -> f64, n: usize) -> Vec<BenchLine> {
    let x: Vec<f32> = (0..n).map(|i| ((i as f32 * 0.618_034).fract() - 0.5) * 6.0).collect();
    let scheme = Scheme::lab(crate::quant::Method::Normal, 8);
    let (p, _) = QParams::from_range(-3.0, 3.0, &scheme).expect("a valid range");
    let mut q = vec![0i32; n];
    let mut out = vec![0f32; n];
    let mut lines = Vec::new();
    for k in kernels::all() {
        let Kernels { name, quantize, dequantize, fake_quant } = k;
        let r = Rounding::HalfEven;
        let cases: [(&str, f64); 3] = [
            ("quantize", time_median(clock, || quantize(&x, &p, r, 0, &mut q))),
            ("dequantize", time_median(clock, || dequantize(&q, &p, &mut out))),
            ("fake_quant", time_median(clock, || fake_quant(&x, &p, r, 0, &mut out))),
        ];
        for (case, s) in cases {
            lines.push(BenchLine { suite: "quant", case: case.into(), kernel: name, n, median_s: s, rate: n as f64 / s, unit: "elem/s" });
        }
    }
    std::hint::black_box((&q, &out));
    lines
}

/// `ratio suite=quant case=quantize simd128/scalar=5.21` for each case that
/// has both a scalar and a simd128 line.
pub fn ratios(lines: &[BenchLine]) -> Vec<String> {
    let mut out = Vec::new();
    for l in lines.iter().filter(|l| l.kernel == "simd128") {
        if let Some(s) = lines.iter().find(|s| s.kernel == "scalar" && s.suite == l.suite && s.case == l.case) {
            out.push(format!("ratio suite={} case={} simd128/scalar={:.2}", l.suite, l.case, l.rate / s.rate));
        }
    }
    out
}

/// The GEMM shapes of the runtime benchmark: (M, K, N).
pub const GEMM_SHAPES: [(usize, usize, usize); 4] = [(1, 784, 128), (16, 784, 128), (64, 784, 128), (256, 512, 512)];

/// int8 GEMM throughput in GOPS = 2·M·K·N / t, for every implementation in this build.
pub fn gemm_i8(clock: &dyn Fn() -> f64) -> Vec<BenchLine> {
    use crate::runtime::gemm_i8::{all, PackedW};
    let mut lines = Vec::new();
    for (m, k, n) in GEMM_SHAPES {
        let a: Vec<i8> = (0..m * k).map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as i8).collect();
        let w: Vec<i8> = (0..n * k).map(|i| (i.wrapping_mul(40_503) >> 3) as i8).collect();
        let packed = PackedW::pack(&w, n, k);
        let mut c = vec![0i32; m * n];
        for g in all() {
            let s = time_median(clock, || (g.run)(&a, m, &packed, &mut c));
            let ops = 2 * m * k * n;
            lines.push(BenchLine {
                suite: "gemm_i8",
                case: format!("{m}x{k}x{n}"),
                kernel: g.name,
                n: ops,
                median_s: s,
                rate: ops as f64 / s / 1e9,
                unit: "GOPS",
            });
        }
        std::hint::black_box(&c);
    }
    lines
}

/// f32 GEMM throughput in GOPS = 2·M·K·N / t, for every implementation in this build.
pub fn gemm_f32(clock: &dyn Fn() -> f64) -> Vec<BenchLine> {
    use crate::runtime::gemm_f32::{all, PackedWf32};
    let mut lines = Vec::new();
    for (m, k, n) in GEMM_SHAPES {
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
        let w: Vec<f32> = (0..n * k).map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0).collect();
        let packed = PackedWf32::pack(&w, n, k);
        let mut c = vec![0f32; m * n];
        for g in all() {
            let s = time_median(clock, || (g.run)(&a, m, &packed, &mut c));
            let ops = 2 * m * k * n;
            lines.push(BenchLine {
                suite: "gemm_f32",
                case: format!("{m}x{k}x{n}"),
                kernel: g.name,
                n: ops,
                median_s: s,
                rate: ops as f64 / s / 1e9,
                unit: "GOPS",
            });
        }
        std::hint::black_box(&c);
    }
    lines
}

/// `ratio suite=gemm case=16x784x128 int8/f32=2.61` for each shape measured in both suites (SIMD kernels).
pub fn int8_vs_f32(lines: &[BenchLine]) -> Vec<String> {
    let best = |suite: &str, case: &str| {
        lines.iter().filter(|l| l.suite == suite && l.case == case).map(|l| l.rate).fold(0.0, f64::max)
    };
    GEMM_SHAPES
        .iter()
        .map(|(m, k, n)| format!("{m}x{k}x{n}"))
        .filter_map(|case| {
            let (i8r, f32r) = (best("gemm_i8", &case), best("gemm_f32", &case));
            (i8r > 0.0 && f32r > 0.0).then(|| format!("ratio suite=gemm case={case} int8/f32={:.2}", i8r / f32r))
        })
        .collect()
}

/// End-to-end inference of the lab MLP (784-128-64-10) over `n` 28×28 images:
/// FP32 (f32 GEMM) and int8 (static W8A8). Timing does not depend on the
/// weights or pixels, so seeded weights and synthetic pixels are used; the
/// accuracy figures come from tests/int8_model.rs on real data.
pub fn mlp_end_to_end(clock: &dyn Fn() -> f64, n: usize) -> Vec<BenchLine> {
    use crate::model::forward::Fp32Runner;
    use crate::model::zoo::lab_mlp;
    use crate::ptq::{int8::int8_engine, quantize_model, PtqConfig, Scope};
    use crate::runtime::int8_model::Int8Scratch;
    let model = lab_mlp(1);
    let pixels: Vec<u8> = (0..n * 784).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let images: Vec<f32> = pixels.iter().map(|&p| p as f32 / 255.0).collect();
    let fp32 = Fp32Runner::new(model.clone());
    // The product's build path: static W8A8 per-channel PTQ, then the integer engine.
    let q = quantize_model(&model, &PtqConfig::default(), &images[..256 * 784], Scope::All).expect("the lab MLP quantizes");
    let int8 = int8_engine(&q.model).expect("the lab MLP runs on integer kernels");
    let mut scratch = Int8Scratch::default();
    let t_fp32 = time_median(clock, || {
        std::hint::black_box(fp32.forward(&images).expect("shapes match"));
    });
    let t_int8 = time_median(clock, || {
        std::hint::black_box(int8.predict(&pixels, &mut scratch));
    });
    let kernel = crate::runtime::gemm_i8::best().name;
    [("fp32", t_fp32), ("int8", t_int8)]
        .into_iter()
        .map(|(case, s)| BenchLine {
            suite: "mlp_784_128_64_10",
            case: format!("{case}_{n}_images"),
            kernel,
            n,
            median_s: s,
            rate: n as f64 / s,
            unit: "images/s",
        })
        .collect()
}

/// One epoch of QAT (8-bit weights and activations, Adam, batch 64) of the lab
/// MLP over `n` synthetic 28×28 images; median of 3 runs.
pub fn qat_epoch(clock: &dyn Fn() -> f64, n: usize) -> Vec<BenchLine> {
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
    let mut times: Vec<f64> = (0..3)
        .map(|_| {
            let mut net = Net::new(lab_mlp(1)).expect("the lab MLP trains");
            net.qat = Some(QatConfig { weight_bits: 8, act_bits: 8, range_momentum: 0.1 });
            let t0 = clock();
            fit(&mut net, &data, &cfg, &mut |_| true);
            clock() - t0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    vec![BenchLine {
        suite: "train",
        case: format!("qat8_epoch_{n}_images"),
        kernel: if cfg!(target_arch = "wasm32") { "wasm32" } else { "native" },
        n,
        median_s: times[1],
        rate: n as f64 / times[1],
        unit: "images/s",
    }]
}

/// The GEMM comparison of the runtime issue, one shape at a time, every SIMD
/// entry timed interleaved with the others (see [`time_medians`]): the two
/// instruction ceilings (`suite=ceiling`, see [`ceiling_loops`]), the int8 and
/// f32 GEMMs (`suite=gemm_i8` / `gemm_f32`, kernel `simd128`), the requantized
/// int8 GEMMs (`suite=qgemm_i8`), and every int8 kernel variant
/// (`suite=gemm_i8_variants`: other tiles, blockings, the previous broadcast
/// kernel, ablations). The scalar references are timed on their own. GOPS = 2·M·K·N / t.
pub fn gemm_suite(clock: &dyn Fn() -> f64) -> Vec<BenchLine> {
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
        let times = time_medians_of(clock, &mut fs, INTERLEAVED_REPEATS, INTERLEAVED_TRIAL_S);
        for ((suite, kernel, ops, _), s) in entries.iter().zip(times) {
            lines.push(BenchLine { suite, case: case.clone(), kernel, n: *ops, median_s: s, rate: *ops as f64 / s / 1e9, unit: "GOPS" });
        }
        drop(entries);
        // The scalar references, alone (they are 30-50× slower).
        let (mut c, mut cf) = (vec![0i32; m * n], vec![0f32; m * n]);
        for (suite, s) in [
            ("gemm_i8", time_median(clock, || (gemm_i8::SCALAR.run)(&a, m, &packed, &mut c))),
            ("gemm_f32", time_median(clock, || (gemm_f32::SCALAR.run)(&af, m, &packed_f, &mut cf))),
        ] {
            lines.push(BenchLine { suite, case: case.clone(), kernel: "scalar", n: ops, median_s: s, rate: ops as f64 / s / 1e9, unit: "GOPS" });
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
pub fn requant(clock: &dyn Fn() -> f64) -> Vec<BenchLine> {
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
        let s = time_median(clock, || (r.run)(&acc, &stage, &mut y));
        lines.push(BenchLine { suite: "requant", case: format!("{m}x{n}"), kernel: r.name, n: m * n, median_s: s, rate: (m * n) as f64 / s, unit: "elem/s" });
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
pub fn mlp_split(clock: &dyn Fn() -> f64, n: usize) -> (Vec<BenchLine>, Vec<String>) {
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
    let push = |lines: &mut Vec<BenchLine>, case: String, kernel: &'static str, s: f64| {
        lines.push(BenchLine { suite: "mlp_split", case, kernel, n, median_s: s, rate: n as f64 / s, unit: "images/s" });
        s
    };
    // Stage inputs: each layer's real input activations.
    // Pixels enter through a lookup table, as in `Int8Mlp::predict` (p − 128 for the lab's input).
    let lut: [i8; 256] = std::array::from_fn(|p| (p as i32 - 128) as i8);
    let x0: Vec<i8> = pixels.iter().map(|&p| lut[p as usize]).collect();
    let mut xs_in = vec![x0];
    for (l, _) in &layers {
        let mut y = vec![0i8; n * l.n];
        l.forward(xs_in.last().expect("an input"), n, &mut Vec::new(), &mut y);
        xs_in.push(y);
    }
    let mut predict_stages = Vec::new();
    // The input conversion as `Int8Mlp::predict` does it (a 256-entry table) and as plain
    // arithmetic (p − 128, which LLVM vectorizes), interleaved.
    let (mut buf_lut, mut buf_sub) = (Vec::new(), Vec::new());
    let times = time_medians_of(
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
        INTERLEAVED_REPEATS,
        INTERLEAVED_TRIAL_S,
    );
    let t = push(&mut lines, "input_u8_to_i8".into(), "lut", times[0]);
    push(&mut lines, "input_u8_to_i8".into(), "sub128", times[1]);
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
            let t = time_median(clock, || {
                let rows = gemm_i8::simd128::BLOCK_ROWS;
                for row0 in (0..n).step_by(rows) {
                    gemm_i8::simd128::widen_block(x, l.k, row0, rows.min(n - row0), gemm_i8::simd128::ROWS, &mut a16);
                    std::hint::black_box(&a16);
                }
            });
            push(&mut lines, name("widen"), "simd128", t);
            widen_parts.push((name("widen"), name("gemm_i32"), t));
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
        let times = time_medians_of(clock, &mut fs, INTERLEAVED_REPEATS, INTERLEAVED_TRIAL_S);
        let t_of = |case: &str, kernel: &str| {
            entries.iter().zip(&times).find(|(e, _)| e.0 == case && e.1 == kernel).map_or(0.0, |(_, &t)| t)
        };
        // QLinear::forward: the fastest GEMM into int32, then the fastest requantization.
        predict_stages.push((name("gemm_i32"), t_of(&name("gemm_i32"), g.name)));
        predict_stages.push((name("requant"), t_of(&name("requant"), requant::best().name)));
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
pub fn ceiling_ratios(lines: &[BenchLine]) -> Vec<String> {
    let ceiling = |case: &str, kernel: &str| {
        lines.iter().find(|l| l.suite == "ceiling" && l.case == case && l.kernel == kernel).map(|l| l.rate)
    };
    let mut out = Vec::new();
    for l in lines.iter().filter(|l| l.suite == "ceiling" && l.kernel == "dot_i16x8_add") {
        if let Some(f) = ceiling(&l.case, "f32x4_mul_add") {
            out.push(format!("ratio suite=ceiling case={} dot_i16x8_add/f32x4_mul_add={:.3}", l.case, l.rate / f));
        }
    }
    for l in lines.iter().filter(|l| l.kernel != "scalar" && l.unit == "GOPS" && l.suite != "ceiling") {
        let kernel = if l.suite == "gemm_f32" { "f32x4_mul_add" } else { "dot_i16x8_add" };
        if let Some(c) = ceiling(&l.case, kernel) {
            out.push(format!("ratio suite={} case={} {}/ceiling={:.3}", l.suite, l.case, l.kernel, l.rate / c));
        }
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
pub fn ptq_run(clock: &dyn Fn() -> f64, model: &crate::model::Model, calib: &[f32], eval: &crate::data::Dataset) -> Vec<BenchLine> {
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
    let t = time_medians_of(clock, &mut [&mut core, &mut report], 7, 0.0);
    std::hint::black_box(acc);
    let n = eval.len();
    let kernel = crate::runtime::gemm_i8::best().name;
    [("ptq_core_calib256", t[0]), ("ptq_report_calib256", t[1])]
        .into_iter()
        .map(|(case, s)| BenchLine { suite: "ptq_w8a8", case: format!("{case}_eval{n}"), kernel, n, median_s: s, rate: n as f64 / s, unit: "images/s" })
        .collect()
}

/// The whole Fashion CNN (or any model the integer engine runs) on real images, FP32 (f32
/// GEMM, `Fp32Runner`) against the integer engine (static W8A8 per channel through the product's
/// path: `quantize_model`, `int8_engine`), at batches of 1, 64 and the whole `test` set (in
/// chunks of 500, as the app evaluates). Each pair is timed interleaved (same-run ratio); the
/// `int8/fp32` line gives the speed-up, and `accuracy` lines the two accuracies over `test`.
pub fn model_end_to_end(clock: &dyn Fn() -> f64, suite: &'static str, model: &crate::model::Model, calib: &[f32], test: &crate::data::Dataset) -> (Vec<BenchLine>, Vec<String>) {
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
        let times = time_medians_of(
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
            if batch == test.len() { 3 } else { REPEATS },
            MIN_TRIAL_S,
        );
        for (case, s) in [("fp32", times[0]), ("int8", times[1])] {
            lines.push(BenchLine { suite, case: format!("{case}_batch_{batch}"), kernel, n: batch, median_s: s, rate: batch as f64 / s, unit: "images/s" });
        }
        notes.push(format!("ratio suite={suite} case=batch_{batch} int8/fp32={:.2}", times[0] / times[1]));
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
pub fn modes_end_to_end(clock: &dyn Fn() -> f64, suite: &'static str, model: &crate::model::Model, calib: &[f32], test: &crate::data::Dataset) -> (Vec<BenchLine>, Vec<String>) {
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
        let t = time_medians_of(clock, &mut [&mut || pred = exec.predict(test).expect("the engines run")], 3, MIN_TRIAL_S)[0];
        lines.push(BenchLine { suite, case: format!("{case}_batch_{}", test.len()), kernel: crate::runtime::gemm_i8::best().name, n: test.len(), median_s: t, rate: test.len() as f64 / t, unit: "images/s" });
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

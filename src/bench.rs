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
    // Calibrate the number of calls per trial.
    let mut calls = 1usize;
    loop {
        let t0 = clock();
        for _ in 0..calls {
            f();
        }
        let dt = clock() - t0;
        if dt >= MIN_TRIAL_S || calls >= 1 << 24 {
            break;
        }
        calls = (calls * 2).max((calls as f64 * MIN_TRIAL_S / dt.max(1e-9)) as usize / 2);
    }
    let mut trials: Vec<f64> = (0..REPEATS)
        .map(|_| {
            let t0 = clock();
            for _ in 0..calls {
                f();
            }
            (clock() - t0) / calls as f64
        })
        .collect();
    trials.sort_by(f64::total_cmp);
    trials[REPEATS / 2]
}

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
    use crate::runtime::int8_model::{Int8Mlp, Int8Scratch};
    let model = lab_mlp(1);
    let pixels: Vec<u8> = (0..n * 784).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let images: Vec<f32> = pixels.iter().map(|&p| p as f32 / 255.0).collect();
    let fp32 = Fp32Runner::new(model.clone());
    let int8 = Int8Mlp::from_model(&model, &images[..256 * 784]).expect("the lab MLP quantizes");
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

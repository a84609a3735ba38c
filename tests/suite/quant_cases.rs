//! Hand-computed quantization cases at 2, 4 and 16 bits, every typed error, and
//! worked examples of granularity, calibration, metrics, reports, 16-bit floats
//! and the seeded generators. Runs natively (`cargo test`) and in headless
//! Chromium (`cargo test --target wasm32-unknown-unknown`), where the generator
//! golden values check that a seed gives the same tensor on both platforms.
//!
//! Formulas (src/quant/params.rs):
//!   asymmetric  s = (β − α) / (βq − αq)              Z = round(αq − α / s)
//!   symmetric   s = max(|α|, |β|) / ((βq − αq) / 2)   Z = ⌊(qmin + qmax + 1) / 2⌋
//!   q = clamp(round(x / s + Z), qmin, qmax)          r' = (q − Z) · s
//! The cases choose ranges whose s is a power of two, so the f32 arithmetic is exact.

use qplay::generate::{generate, Distribution, MAX_ELEMENTS};
use qplay::metrics::{
    clip_ratio, error_metrics, histogram_kl, quant_error_metrics, try_error_metrics, SQNR_CAP_DB, UNIFORM_NOISE_RMS,
};
use qplay::quant::calibration::{calibrate, compare_all, Calibration, CalibrationKind};
use qplay::quant::float16::{bf16_round_trip, fp16_round_trip, Float16Format};
use qplay::quant::granularity::{quantize_granular, Granularity, SliceLayout};
use qplay::quant::{quantize_tensor, quantize_with_range, Method, QParams, QuantError, RangeGuard, Rounding, Scheme};
use qplay::report::{
    distribution_csv, distribution_report, distribution_report_granular, quant_param_csv, quant_param_report,
    quant_param_report_granular, to_json, DataTypeFlag, TensorLabel, DISTRIBUTION_COLUMNS, QUANT_PARAM_COLUMNS,
};
use qplay::stats::{quantile, summarize};

/// Tolerance for float results that go through a transcendental (log10, sqrt, ln).
const F64_TOL: f64 = 1e-12;

fn scheme(bits: u8, signed: bool, symmetric: bool, narrow_range: bool, method: Method, rounding: Rounding) -> Scheme {
    Scheme { bits, signed, symmetric, narrow_range, method, rounding }
}

/// Quantizes x with the range (α, β); checks (s, Z), q and r' exactly.
fn check(x: &[f32], (alpha, beta): (f32, f32), s: &Scheme, (scale, zero_point): (f32, i32), q: &[i32], deq: &[f32]) {
    let r = quantize_with_range(x, alpha, beta, s).expect("a valid range");
    assert_eq!((r.params.scale, r.params.zero_point), (scale, zero_point), "scale, zero point");
    assert_eq!(r.q, q, "q");
    assert_eq!(r.dequant, deq, "r'");
}

macro_rules! case {
    ($name:ident $body:block) => {
        #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
        #[cfg_attr(not(target_arch = "wasm32"), test)]
        fn $name() $body
    };
}

// ---------------------------------------------------------------- 2 bits

case!(two_bit_signed_asymmetric_half_even {
    // [qmin, qmax] = [−2, 1];  α = −1, β = 2:  s = 3 / 3 = 1,  Z = round(−2 − (−1)/1) = −1.
    // x/s + Z = [−2, −1.5, −1, −0.5, 0, 1]  → half-even [−2, −2, −1, −0, 0, 1]
    // r' = (q + 1)·1 = [−1, −1, 0, 1, 1, 2]
    let s = scheme(2, true, false, false, Method::Normal, Rounding::HalfEven);
    let x = [-1.0, -0.5, 0.0, 0.5, 1.0, 2.0];
    check(&x, (-1.0, 2.0), &s, (1.0, -1), &[-2, -2, -1, 0, 0, 1], &[-1.0, -1.0, 0.0, 1.0, 1.0, 2.0]);
});

case!(two_bit_signed_asymmetric_half_away {
    // Same grid; half away from zero: −1.5 → −2, −0.5 → −1, so x = 0.5 maps to r' = 0.
    let s = scheme(2, true, false, false, Method::Normal, Rounding::HalfAway);
    let x = [-1.0, -0.5, 0.0, 0.5, 1.0, 2.0];
    check(&x, (-1.0, 2.0), &s, (1.0, -1), &[-2, -2, -1, -1, 0, 1], &[-1.0, -1.0, 0.0, 0.0, 1.0, 2.0]);
});

case!(two_bit_unsigned_floor {
    // [0, 3];  α = 0, β = 3:  s = 1,  Z = round(0 − 0) = 0.  floor(x) = [0, 1, 2, 3, 3(clamped from 4)]
    let s = scheme(2, false, false, false, Method::Normal, Rounding::Floor);
    let x = [0.9, 1.0, 2.99, 3.5, 4.2];
    check(&x, (0.0, 3.0), &s, (1.0, 0), &[0, 1, 2, 3, 3], &[0.0, 1.0, 2.0, 3.0, 3.0]);
});

// ---------------------------------------------------------------- 4 bits

case!(four_bit_unsigned_asymmetric_clamps_both_ends {
    // [0, 15];  α = 0, β = 7.5:  s = 7.5 / 15 = 0.5,  Z = 0.
    // x/s = [0, 0.5, 1.5, 2.6, 15, 16, −0.4] → half-even [0, 0, 2, 3, 15, 16→15, −0→0]
    let s = scheme(4, false, false, false, Method::Normal, Rounding::HalfEven);
    let x = [0.0, 0.25, 0.75, 1.3, 7.5, 8.0, -0.2];
    check(&x, (0.0, 7.5), &s, (0.5, 0), &[0, 0, 2, 3, 15, 15, 0], &[0.0, 0.0, 1.0, 1.5, 7.5, 7.5, 0.0]);
});

case!(four_bit_signed_symmetric_narrow_range {
    // narrow: [−7, 7];  α = −3.5, β = 2:  s = 3.5 / (14 / 2) = 0.5,  Z = ⌊(−7 + 7 + 1)/2⌋ = 0.
    // x/s = [−7, −6.6, 2.5, 7.6, −8] → [−7, −7, 2 (tie to even), 8→7, −8→−7]
    let s = scheme(4, true, true, true, Method::Normal, Rounding::HalfEven);
    let x = [-3.5, -3.3, 1.25, 3.8, -4.0];
    check(&x, (-3.5, 2.0), &s, (0.5, 0), &[-7, -7, 2, 7, -7], &[-3.5, -3.5, 1.0, 3.5, -3.5]);
});

case!(four_bit_signed_clip_method_saturates_the_outer_half {
    // [qmin, qmax] = [−8, 7], [αq, βq] = [−16, 15];  α = −4, β = 3.75:
    // s = 7.75 / 31 = 0.25,  Z = round(−16 − (−4)/0.25) = 0.
    // x/s = [−16, −8, 7.6, 15, 0.4] → [−16→−8, −8, 8→7, 15→7, 0]
    let s = scheme(4, true, false, false, Method::Clip, Rounding::HalfEven);
    let x = [-4.0, -2.0, 1.9, 3.75, 0.1];
    check(&x, (-4.0, 3.75), &s, (0.25, 0), &[-8, -8, 7, 7, 0], &[-2.0, -2.0, 1.75, 1.75, 0.0]);
});

// ---------------------------------------------------------------- 16 bits

case!(sixteen_bit_signed_asymmetric_positive_range {
    // [−32768, 32767];  α = 0, β = 65535:  s = 65535 / 65535 = 1,  Z = round(−32768 − 0) = −32768.
    // x/s + Z = [−32768, −32766.5, −32765.5, 32767, 37232, −32771]
    //   half-even → [−32768, −32766, −32766, 32767, 32767 (clamped), −32768 (clamped)]
    // r' = q + 32768 = [0, 2, 2, 65535, 65535, 0]
    let s = scheme(16, true, false, false, Method::Normal, Rounding::HalfEven);
    let x = [0.0, 1.5, 2.5, 65535.0, 70000.0, -3.0];
    let q = [-32768, -32766, -32766, 32767, 32767, -32768];
    check(&x, (0.0, 65535.0), &s, (1.0, -32768), &q, &[0.0, 2.0, 2.0, 65535.0, 65535.0, 0.0]);
});

case!(sixteen_bit_unsigned_symmetric {
    // [0, 65535];  Z = ⌊(0 + 65535 + 1)/2⌋ = 32768;  α = −32767.5, β = 100:
    // s = 32767.5 / (65535 / 2) = 1.
    // x/s + Z = [32768, 32766.5, 32778.25, 65535.5, 0.5, −7232]
    //   half-even → [32768, 32766, 32778, 65536→65535, 0, −7232→0]
    // r' = q − 32768 = [0, −2, 10, 32767, −32768, −32768]
    let s = scheme(16, false, true, false, Method::Normal, Rounding::HalfEven);
    let x = [0.0, -1.5, 10.25, 32767.5, -32767.5, -40000.0];
    let q = [32768, 32766, 32778, 65535, 0, 0];
    check(&x, (-32767.5, 100.0), &s, (1.0, 32768), &q, &[0.0, -2.0, 10.0, 32767.0, -32768.0, -32768.0]);
});

case!(stochastic_rounding_leaves_exact_levels_alone {
    // frac(x/s + Z) = 0: u < 0 never holds, so every seed gives the exact level.
    // 4-bit signed symmetric, α = −3.75, β = 3.75: s = 3.75 / (15 / 2) = 0.5, Z = 0, so every
    // level k·0.5 gives x/s + Z = k exactly.
    for seed in [0u64, 1, 0xDEAD_BEEF] {
        let s = scheme(4, true, true, false, Method::Normal, Rounding::Stochastic { seed });
        let grid: Vec<f32> = (-8..=7).map(|k| k as f32 * 0.5).collect();
        let r = quantize_with_range(&grid, -3.75, 3.75, &s).unwrap();
        assert_eq!(r.q, (-8..=7).collect::<Vec<i32>>(), "seed {seed}");
        assert_eq!(r.dequant, grid, "seed {seed}");
    }
});

// ---------------------------------------------------------------- typed errors

case!(non_finite_values_are_named_by_index {
    let s = Scheme::lab(Method::Normal, 8);
    let e = quantize_tensor(&[1.0, f32::NAN, 2.0], &s).unwrap_err();
    assert!(matches!(e, QuantError::NonFinite { index: 1, .. }), "{e:?}");
    assert!(e.to_string().contains("#2"), "{e}");
    let e = quantize_tensor(&[1.0, 2.0, f32::INFINITY], &s).unwrap_err();
    assert_eq!(e, QuantError::NonFinite { index: 2, value: f32::INFINITY });
    for c in Calibration::all_defaults() {
        let e = calibrate(&[0.0, 1.0, 2.0, f32::NEG_INFINITY], &s, &c).unwrap_err();
        assert_eq!(e, QuantError::NonFinite { index: 3, value: f32::NEG_INFINITY }, "{c:?}");
    }
    // Granular: the flat index in the whole tensor, not the index inside the slice.
    let mut x = vec![0.5f32; 12];
    x[7] = f32::NAN;
    let e = quantize_granular(&x, &[3, 4], &s, Granularity::PerChannel { axis: 1 }, &Calibration::MinMax).unwrap_err();
    assert!(matches!(e, QuantError::NonFinite { index: 7, .. }), "{e:?}");
});

case!(empty_tensors_are_typed_errors {
    let s = Scheme::lab(Method::Normal, 8);
    assert_eq!(quantize_tensor(&[], &s).unwrap_err(), QuantError::Empty);
    for c in Calibration::all_defaults() {
        assert_eq!(calibrate(&[], &s, &c).unwrap_err(), QuantError::Empty, "{c:?}");
    }
    let e = quantize_granular(&[], &[0, 3], &s, Granularity::PerTensor, &Calibration::MinMax).unwrap_err();
    assert_eq!(e, QuantError::Empty);
    assert_eq!(generate(&Distribution::default(), &[4, 0], 1).unwrap_err(), QuantError::Empty);
    assert_eq!(summarize(&[]).unwrap_err(), QuantError::Empty);
});

case!(a_constant_tensor_is_widened_to_include_zero {
    // params.rs: β − α = 0 → [min(α, 0), max(β, 0)], so the constant lands on an end of the grid.
    let s = Scheme::lab(Method::Normal, 8);
    let r = quantize_tensor(&[2.0; 4], &s).unwrap();
    assert_eq!(r.guard, RangeGuard::Widened { from_alpha: 2.0, from_beta: 2.0 });
    assert_eq!((r.params.alpha, r.params.beta), (0.0, 2.0));
    assert_eq!(r.q, vec![127; 4]);
    assert!((r.dequant[0] - 2.0).abs() <= 2.0 * f32::EPSILON, "{}", r.dequant[0]);
    // All zeros: [−1, 1].
    let r = quantize_tensor(&[0.0; 3], &s).unwrap();
    assert_eq!((r.params.alpha, r.params.beta), (-1.0, 1.0));
    assert_eq!(r.dequant, vec![0.0; 3]);
    // Every calibrator of a constant tensor ends in the same guard.
    for c in Calibration::all_defaults() {
        let (a, b) = calibrate(&[-3.0; 5], &s, &c).unwrap();
        let (p, g) = QParams::from_range(a, b, &s).unwrap();
        assert!(matches!(g, RangeGuard::Widened { .. }), "{c:?}");
        assert_eq!((p.alpha, p.beta), (-3.0, 0.0), "{c:?}");
    }
});

case!(bits_outside_1_to_16_are_rejected {
    for bits in [0u8, 17] {
        let s = Scheme::lab(Method::Normal, bits);
        assert_eq!(quantize_tensor(&[1.0, 2.0], &s).unwrap_err(), QuantError::Bits(bits as u32));
        let e = quantize_granular(&[1.0, 2.0], &[2], &s, Granularity::PerTensor, &Calibration::MinMax);
        assert_eq!(e.unwrap_err(), QuantError::Bits(bits as u32));
        assert_eq!(calibrate(&[1.0, 2.0], &s, &Calibration::Kl { bins: 2048 }).unwrap_err(), QuantError::Bits(bits as u32));
    }
    // Signed 1-bit narrow range has one level only.
    let s = scheme(1, true, true, true, Method::Normal, Rounding::HalfEven);
    assert_eq!(quantize_tensor(&[1.0, 2.0], &s).unwrap_err(), QuantError::DegenerateGrid { bits: 1 });
});

case!(group_size_and_axis_and_shape_errors {
    let s = Scheme::lab(Method::Normal, 8);
    let x: Vec<f32> = (0..12).map(|i| i as f32).collect();
    let mm = Calibration::MinMax;
    let e = quantize_granular(&x, &[2, 6], &s, Granularity::PerGroup { axis: 1, group_size: 4 }, &mm).unwrap_err();
    assert_eq!(e, QuantError::GroupSize { group_size: 4, axis_len: 6 });
    assert!(e.to_string().contains("group size 4 does not divide the axis length 6"), "{e}");
    let e = quantize_granular(&x, &[2, 6], &s, Granularity::PerGroup { axis: 1, group_size: 0 }, &mm).unwrap_err();
    assert_eq!(e, QuantError::GroupSize { group_size: 0, axis_len: 6 });
    let e = quantize_granular(&x, &[2, 6], &s, Granularity::PerChannel { axis: 2 }, &mm).unwrap_err();
    assert_eq!(e, QuantError::Axis { axis: 2, ndim: 2 });
    assert!(e.to_string().contains("axis 2"), "{e}");
    let e = quantize_granular(&x, &[5, 2], &s, Granularity::PerTensor, &mm).unwrap_err();
    assert_eq!(e, QuantError::ShapeMismatch { shape: vec![5, 2], elements: Some(10), values: 12 });
    let e = quantize_granular(&x, &[usize::MAX, 3], &s, Granularity::PerTensor, &mm).unwrap_err();
    assert!(matches!(e, QuantError::ShapeMismatch { elements: None, .. }), "{e:?}");
});

case!(calibration_settings_out_of_range {
    let s = Scheme::lab(Method::Normal, 8);
    let x = [0.0f32, 1.0, 2.0];
    let bad = [
        (Calibration::Percentile { percentile: 0.0 }, "percentile"),
        (Calibration::Percentile { percentile: 101.0 }, "percentile"),
        (Calibration::Percentile { percentile: f32::NAN }, "percentile"),
        (Calibration::RemovalOutlier { ratio: 0.5 }, "outlier ratio"),
        (Calibration::RemovalOutlier { ratio: -0.1 }, "outlier ratio"),
        (Calibration::Kl { bins: 127 }, "KL bins"),
        (Calibration::Kl { bins: 8193 }, "KL bins"),
        (Calibration::Kl { bins: 65536 }, "KL bins"),
        (Calibration::MovingAverageMinMax { momentum: 0.1, batch: usize::MAX }, "batch"),
        (Calibration::Mse { steps: 0 }, "MSE steps"),
        (Calibration::MovingAverageMinMax { momentum: 0.0, batch: 4 }, "momentum"),
        (Calibration::MovingAverageMinMax { momentum: 1.5, batch: 4 }, "momentum"),
        (Calibration::MovingAverageMinMax { momentum: 0.1, batch: 0 }, "batch"),
    ];
    for (c, setting) in bad {
        let e = calibrate(&x, &s, &c).unwrap_err();
        assert!(matches!(e, QuantError::OutOfRange { setting: got, .. } if got == setting), "{c:?}: {e:?}");
        assert!(e.to_string().starts_with(setting), "{e}");
        // The setting is checked before the data.
        assert!(matches!(calibrate(&[], &s, &c).unwrap_err(), QuantError::OutOfRange { .. }));
    }
    let e = calibrate(&x, &s, &Calibration::Percentile { percentile: 101.0 }).unwrap_err();
    assert_eq!(e.to_string(), "percentile = 101 is not allowed: it must be in (0, 100]");
    // The edges that are allowed.
    for c in [
        Calibration::Percentile { percentile: 100.0 },
        Calibration::RemovalOutlier { ratio: 0.0 },
        Calibration::Kl { bins: 128 },
        Calibration::Kl { bins: 8192 },
        Calibration::Mse { steps: 1 },
        Calibration::MovingAverageMinMax { momentum: 0.5, batch: 1 },
    ] {
        assert!(calibrate(&x, &s, &c).is_ok(), "{c:?} is at the edge of its range, which is allowed");
    }
    // Momentum 1 follows the last batch alone: batches of one value end at (2, 2).
    let c = Calibration::MovingAverageMinMax { momentum: 1.0, batch: 1 };
    assert_eq!(calibrate(&x, &s, &c).unwrap(), (2.0, 2.0));
});

case!(generator_and_metric_errors {
    let e = generate(&Distribution::default(), &[MAX_ELEMENTS + 1], 0).unwrap_err();
    assert_eq!(e, QuantError::TooLarge { elements: Some(MAX_ELEMENTS + 1), limit: MAX_ELEMENTS });
    let e = generate(&Distribution::default(), &[usize::MAX, 2], 0).unwrap_err();
    assert_eq!(e, QuantError::TooLarge { elements: None, limit: MAX_ELEMENTS });
    let e = generate(&Distribution::Normal { mean: 0.0, std: -1.0 }, &[4], 0).unwrap_err();
    assert!(matches!(e, QuantError::OutOfRange { setting: "normal std", .. }), "{e:?}");
    let e = generate(&Distribution::Uniform { low: 1.0, high: 1.0 }, &[4], 0).unwrap_err();
    assert!(matches!(e, QuantError::OutOfRange { setting: "uniform high", .. }), "{e:?}");
    let e = generate(&Distribution::Normal { mean: f32::NAN, std: 1.0 }, &[4], 0).unwrap_err();
    assert!(matches!(e, QuantError::OutOfRange { setting: "normal mean", .. }), "{e:?}");
    let bimodal = Distribution::Bimodal { mean_a: 0.0, std_a: 1.0, mean_b: 1.0, std_b: 1.0, weight_a: 1.5 };
    assert!(matches!(generate(&bimodal, &[4], 0).unwrap_err(), QuantError::OutOfRange { setting: "bimodal weight_a", .. }));
    assert_eq!(try_error_metrics(&[1.0], &[1.0, 2.0]).unwrap_err(), QuantError::LengthMismatch { left: 1, right: 2 });
    assert!(matches!(histogram_kl(&[1.0], &[1.0], 0).unwrap_err(), QuantError::OutOfRange { .. }));
    assert!(matches!(quantile(&[1.0], 1.5).unwrap_err(), QuantError::OutOfRange { setting: "quantile", .. }));
});

// ---------------------------------------------------------------- granularity

case!(per_channel_equals_per_tensor_of_each_slice {
    // [2, 3, 4]; axis 1: channel c = x[o, c, j] for o ∈ 0..2, j ∈ 0..4 (8 values).
    let x: Vec<f32> = (0..24).map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.173).collect();
    let s = scheme(4, true, false, false, Method::Normal, Rounding::HalfEven);
    let g = quantize_granular(&x, &[2, 3, 4], &s, Granularity::PerChannel { axis: 1 }, &Calibration::MinMax).unwrap();
    assert_eq!(g.slices.len(), 3);
    for c in 0..3 {
        let idx: Vec<usize> = (0..2).flat_map(|o| (0..4).map(move |j| (o * 3 + c) * 4 + j)).collect();
        let slice: Vec<f32> = idx.iter().map(|&i| x[i]).collect();
        let r = quantize_tensor(&slice, &s).unwrap();
        assert_eq!(g.slices[c].params, r.params, "channel {c}");
        for (k, &i) in idx.iter().enumerate() {
            assert_eq!(g.layout.slice_of(i), c);
            assert_eq!((g.q[i], g.dequant[i]), (r.q[k], r.dequant[k]), "channel {c}, flat {i}");
        }
    }
});

case!(per_group_splits_rows_into_blocks {
    // [2, 6], axis 1, group 3: slices (row 0, cols 0..3), (row 0, cols 3..6), (row 1, …), (row 1, …).
    let x = [0.0, 1.0, 2.0, 10.0, 20.0, 30.0, -1.0, -2.0, -3.0, 0.5, 0.25, 0.125];
    let s = scheme(8, false, false, false, Method::Normal, Rounding::HalfEven);
    let gr = Granularity::PerGroup { axis: 1, group_size: 3 };
    let g = quantize_granular(&x, &[2, 6], &s, gr, &Calibration::MinMax).unwrap();
    assert_eq!(g.slices.len(), 4);
    let ranges: Vec<(f32, f32)> = g.slices.iter().map(|p| (p.params.alpha, p.params.beta)).collect();
    assert_eq!(ranges, vec![(0.0, 2.0), (10.0, 30.0), (-3.0, -1.0), (0.125, 0.5)]);
    for (i, k) in [(0, 0), (2, 0), (3, 1), (5, 1), (6, 2), (9, 3), (11, 3)] {
        assert_eq!(g.layout.slice_of(i), k, "flat {i}");
    }
    // Each group's own MinMax maps its ends onto 0 and 255 exactly.
    assert_eq!((g.q[0], g.q[2], g.q[3], g.q[5]), (0, 255, 0, 255));
    // Axis 0 with inner > 1: [4, 2], groups of 2 rows → slices (g, j): flat (i, j) ↦ (i / 2)·2 + j.
    let layout = SliceLayout::new(&[4, 2], Granularity::PerGroup { axis: 0, group_size: 2 }, 8).unwrap();
    let slices: Vec<usize> = (0..8).map(|f| layout.slice_of(f)).collect();
    assert_eq!(slices, vec![0, 1, 0, 1, 2, 3, 2, 3]);
    let mut buf = Vec::new();
    layout.gather(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], 3, &mut buf);
    assert_eq!(buf, vec![5.0, 7.0]);
});

case!(stochastic_rounding_uses_the_flat_index {
    // Whatever the slicing, element i is rounded with the draw for flat index i.
    let x: Vec<f32> = (0..30).map(|i| (i as f32 * 0.731).sin() * 3.0).collect();
    let s = scheme(3, true, false, false, Method::Normal, Rounding::Stochastic { seed: 42 });
    let g = quantize_granular(&x, &[5, 6], &s, Granularity::PerChannel { axis: 1 }, &Calibration::MinMax).unwrap();
    for (i, &v) in x.iter().enumerate() {
        let p = g.params_of(i);
        let want = s.rounding.round(v / p.scale + p.zero_point as f32, i).clamp(p.qmin as f32, p.qmax as f32) as i32;
        assert_eq!(g.q[i], want, "flat {i}");
    }
    // Per-tensor granular is exactly quantize_with_range on the calibrated range.
    let g = quantize_granular(&x, &[30], &s, Granularity::PerTensor, &Calibration::MinMax).unwrap();
    assert_eq!(g.q, quantize_tensor(&x, &s).unwrap().q);
});

// ---------------------------------------------------------------- calibration

case!(calibrators_on_a_hand_sized_tensor {
    // x = 0, 1, …, 9 shuffled.
    let x = [3.0f32, 7.0, 0.0, 9.0, 1.0, 8.0, 2.0, 6.0, 5.0, 4.0];
    let asym = Scheme::lab(Method::Normal, 8);
    let sym = Scheme { symmetric: true, ..asym };
    assert_eq!(calibrate(&x, &asym, &Calibration::MinMax).unwrap(), (0.0, 9.0));
    // RemovalOutlier 0.1: k = ⌊0.1·10⌋ = 1, so sorted indices 1 and 10 − 1 − 1 = 8.
    assert_eq!(calibrate(&x, &asym, &Calibration::RemovalOutlier { ratio: 0.1 }).unwrap(), (1.0, 8.0));
    // The default 0.0001 drops one value from each end of 10000 (f32 0.0001·10000 counts as 1).
    let big: Vec<f32> = (0..10_000).map(|i| i as f32).collect();
    assert_eq!(calibrate(&big, &asym, &Calibration::default_for(CalibrationKind::RemovalOutlier)).unwrap(), (1.0, 9998.0));
    // Percentile 80, asymmetric: Q(0.1) and Q(0.9) with h = 9p: 0.9 and 8.1.
    let (a, b) = calibrate(&x, &asym, &Calibration::Percentile { percentile: 80.0 }).unwrap();
    assert!((a - 0.9).abs() < 1e-6 && (b - 8.1).abs() < 1e-6, "({a}, {b})");
    // Symmetric: Q(|x|, 0.8) = 7.2.
    let (a, b) = calibrate(&x, &sym, &Calibration::Percentile { percentile: 80.0 }).unwrap();
    assert!((b - 7.2).abs() < 1e-6 && a == -b, "({a}, {b})");
    // Moving average, batches of 4: [3,7,0,9] → (0, 9); [1,8,2,6] → (0 + ½(1 − 0), 9 + ½(8 − 9)) = (0.5, 8.5);
    // [5,4] → (0.5 + ½(4 − 0.5), 8.5 + ½(5 − 8.5)) = (2.25, 6.75).
    let c = Calibration::MovingAverageMinMax { momentum: 0.5, batch: 4 };
    assert_eq!(calibrate(&x, &asym, &c).unwrap(), (2.25, 6.75));
});

case!(kl_and_mse_clip_outliers_and_beat_min_max {
    // Rare outliers 12–24σ out: at 4 bits MinMax spends the 16 levels on them.
    let d = Distribution::WithOutliers { mean: 0.0, std: 1.0, fraction: 0.0005, magnitude: 12.0 };
    let x = generate(&d, &[20_000], 11).unwrap();
    let max_abs = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    for symmetric in [true, false] {
        let s = Scheme { bits: 4, symmetric, ..Scheme::lab(Method::Normal, 4) };
        let results = compare_all(&x, &s).unwrap();
        let names: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
        let want: Vec<&str> = CalibrationKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names, want);
        let by = |k: CalibrationKind| results.iter().find(|r| r.name == k.name()).unwrap();
        let min_max = by(CalibrationKind::MinMax);
        for k in [CalibrationKind::Kl, CalibrationKind::Mse] {
            let r = by(k);
            assert!(r.beta < 0.5 * max_abs, "{k:?} symmetric={symmetric}: β = {} vs max |x| {max_abs}", r.beta);
            assert!(r.sqnr_db > min_max.sqnr_db, "{k:?}: {} dB vs MinMax {} dB", r.sqnr_db, min_max.sqnr_db);
            assert!(r.clip_ratio > 0.0 && r.clip_ratio < 0.01, "{k:?}: clip {}", r.clip_ratio);
        }
        // MSE is the best of its own candidates, MinMax (t = 1) among them.
        assert!(by(CalibrationKind::Mse).mse <= min_max.mse);
    }
});

case!(kl_returns_the_full_range_when_the_grid_is_finer_than_the_histogram {
    let x = generate(&Distribution::Laplace { mean: 0.0, scale: 1.0 }, &[5_000], 5).unwrap();
    let s = Scheme { symmetric: true, ..Scheme::lab(Method::Normal, 16) };
    let max_abs = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert_eq!(calibrate(&x, &s, &Calibration::Kl { bins: 2048 }).unwrap(), (-max_abs, max_abs));
    // A ReLU-like tensor under an asymmetric scheme keeps its minimum (0) and trims only the top.
    let relu: Vec<f32> = x.iter().map(|v| v.max(0.0)).collect();
    let (a, b) = calibrate(&relu, &Scheme::lab(Method::Normal, 4), &Calibration::Kl { bins: 2048 }).unwrap();
    assert_eq!(a, 0.0);
    assert!(b > 0.0 && b < max_abs, "β = {b}");
});

// ---------------------------------------------------------------- metrics

case!(metrics_by_hand {
    // x = [1, 2, 3, 4], x' = [1, 2, 3, 5]: e = [0, 0, 0, −1].
    let m = error_metrics(&[1.0, 2.0, 3.0, 4.0], &[1.0, 2.0, 3.0, 5.0]);
    assert_eq!((m.n, m.mse, m.rmse, m.mae, m.max_abs), (4, 0.25, 0.5, 0.25, 1.0));
    // SQNR = 10·log10(30 / 1);  cos = 34 / √(30·39).
    assert!((m.sqnr_db - 10.0 * 30f64.log10()).abs() < F64_TOL, "{}", m.sqnr_db);
    assert!((m.cosine - 34.0 / (30.0f64 * 39.0).sqrt()).abs() < F64_TOL, "{}", m.cosine);
    assert!(m.kl_divergence > 0.0);
    // Exact reconstruction: the SQNR cap, cosine 1, KL 0; zero signal with error: −cap, cosine 0.
    let m = error_metrics(&[1.0, -2.0], &[1.0, -2.0]);
    assert_eq!((m.sqnr_db, m.kl_divergence, m.mse), (SQNR_CAP_DB, 0.0, 0.0));
    assert!((m.cosine - 1.0).abs() < F64_TOL, "{}", m.cosine);
    let m = error_metrics(&[0.0, 0.0], &[0.5, 0.0]);
    assert_eq!((m.sqnr_db, m.cosine), (-SQNR_CAP_DB, 0.0));
    assert_eq!(error_metrics(&[0.0], &[0.0]).cosine, 1.0);
    // The results serialise as finite JSON numbers (no null).
    let json = serde_json::to_string(&error_metrics(&[1.0], &[1.0])).unwrap();
    assert!(!json.contains("null"), "{json}");
});

case!(clipped_means_the_clamp_moved_the_integer {
    // 2-bit unsigned, α = 0, β = 3: s = 1, Z = 0, [qmin, qmax] = [0, 3]. As NumPy counts it,
    // np.round(x) != np.clip(np.round(x), 0, 3) (ties to even): 3.4 → 3 and −0.5 → −0 round onto
    // the grid; 3.5 → 4, 3.6 → 4 and −0.6 → −1 are clamped.
    let s = scheme(2, false, false, false, Method::Normal, Rounding::HalfEven);
    let x = [3.4f32, 3.5, 3.6, -0.5, -0.6];
    let r = quantize_with_range(&x, 0.0, 3.0, &s).unwrap();
    assert_eq!(x.map(|v| qplay::metrics::is_clipped(v, &r.params)), [false, true, true, false, true]);
    let m = quant_error_metrics(&x, &r.dequant, &r.params).unwrap();
    assert_eq!((m.clipped, m.clip_ratio), (3, 0.6));
    // The clipped errors: 0.5, 0.6, 0.6; the others 0.4, 0.5.
    assert!((m.mse_clip - (0.25 + 0.36 + 0.36) / 5.0).abs() < 1e-6, "{}", m.mse_clip);
    assert!((m.mse_round - (0.16 + 0.25) / 5.0).abs() < 1e-6, "{}", m.mse_round);
});

case!(clip_ratio_and_the_mse_split {
    // 2-bit unsigned, α = 0, β = 3: s = 1, Z = 0, clamp limits [0, 3].
    let s = scheme(2, false, false, false, Method::Normal, Rounding::HalfEven);
    let x = [-1.0, 0.4, 1.5, 2.0, 5.0];
    let r = quantize_with_range(&x, 0.0, 3.0, &s).unwrap();
    // r' = [0, 0, 2, 2, 3];  clipped: −1 (e = −1) and 5 (e = 2);  rounding: 0.4, −0.5, 0.
    let m = quant_error_metrics(&x, &r.dequant, &r.params).unwrap();
    assert_eq!((m.clipped, m.clip_ratio, m.clamp_lo, m.clamp_hi), (2, 0.4, 0.0, 3.0));
    assert_eq!(clip_ratio(&x, &r.params), 0.4);
    // (1² + 2²) / n = 5 / 5
    assert!((m.mse_clip - 1.0).abs() < F64_TOL, "{}", m.mse_clip);
    assert!((m.mse_round - (0.16 + 0.25) / 5.0).abs() < 1e-7, "{}", m.mse_round);
    assert!((m.mse_clip + m.mse_round - m.error.mse).abs() <= F64_TOL * m.error.mse);
    assert_eq!(m.uniform_noise_rms, UNIFORM_NOISE_RMS);
    assert!((m.rmse_over_scale - m.error.rmse).abs() < F64_TOL); // s = 1
});

case!(rounding_noise_is_near_one_over_root_twelve {
    // Uniform data, MinMax at 8 bits: RMSE / s ≈ 1/√12 ≈ 0.2887. The rounded zero point leaves a
    // few values within s/2 past the clamp limits; they round onto qmin or qmax, so nothing is clipped.
    let x = generate(&Distribution::Uniform { low: -3.0, high: 5.0 }, &[50_000], 9).unwrap();
    let r = quantize_tensor(&x, &Scheme::lab(Method::Normal, 8)).unwrap();
    let m = quant_error_metrics(&x, &r.dequant, &r.params).unwrap();
    let s = r.params.scale as f64;
    assert!(m.clipped == 0 && m.error.max_abs <= 0.5 * s * (1.0 + 1e-5), "{m:?}");
    assert!((m.rmse_over_scale - UNIFORM_NOISE_RMS).abs() < 0.005, "{}", m.rmse_over_scale);
});

// ---------------------------------------------------------------- stats and reports

case!(summary_statistics_match_numpy {
    // np.quantile([1, 2, 3, 4], [.25, .5, .75]) = [1.75, 2.5, 3.25]; np.var = 1.25.
    let s = summarize(&[4.0, 1.0, 3.0, 2.0]).unwrap();
    assert_eq!((s.min, s.q1, s.median, s.q3, s.max, s.mean, s.var), (1.0, 1.75, 2.5, 3.25, 4.0, 2.5, 1.25));
    assert_eq!(summarize(&[0.0, -0.0, 1.0, 2.0]).unwrap().sparsity, 0.5);
    assert_eq!(quantile(&[5.0], 0.3).unwrap(), 5.0);
});

case!(distribution_and_quant_param_reports {
    let label = TensorLabel::weight("fc1", "MatMul", "fc1.weight");
    let x: Vec<f32> = (0..12).map(|i| i as f32 - 4.0).collect();
    let s = Scheme::lab(Method::Normal, 8);
    let r = quantize_tensor(&x, &s).unwrap();
    let rows = distribution_report(&label, &x, &r).unwrap();
    assert_eq!((rows[0].data_type_flag, rows[1].data_type_flag), (DataTypeFlag::Origin, DataTypeFlag::Dequant));
    assert_eq!((rows[0].min, rows[0].max, rows[0].clip, rows[0].cosine_similarity), (-4.0, 7.0, 0.0, 1.0));
    assert!(rows[1].cosine_similarity > 0.9999, "{}", rows[1].cosine_similarity);
    // s = 11/255, Z = round(−128 + 4/s) = −35: the clamp limits are [−93·s, 162·s] ≈ [−4.012, 6.988],
    // so x = 7 (the maximum) lies just past them, but 7/s + Z ≈ 127.27 rounds to 127 itself: the
    // clamp moves nothing. With a range cut to [−4, 5], 6 and 7 are clipped (9/255 steps: 6/s + Z
    // ≈ 142, 7/s + Z ≈ 170, past 127).
    assert_eq!(rows[1].clip, 0.0);
    let cut = quantize_with_range(&x, -4.0, 5.0, &s).unwrap();
    assert_eq!(distribution_report(&label, &x, &cut).unwrap()[1].clip, 2.0 / 12.0);
    let csv = distribution_csv(&rows).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0], DISTRIBUTION_COLUMNS.join(","));
    assert!(lines[1].starts_with("fc1,MatMul,fc1.weight,Input,Origin,Weight,-4.0,"), "{}", lines[1]);
    // The serde names are the CSV columns.
    let json: serde_json::Value = serde_json::from_str(&to_json(&rows).unwrap()).unwrap();
    let mut keys: Vec<&str> = json[0].as_object().unwrap().keys().map(|k| k.as_str()).collect();
    let mut cols = DISTRIBUTION_COLUMNS.to_vec();
    keys.sort();
    cols.sort();
    assert_eq!(keys, cols);
    // The header is written even with no rows.
    assert_eq!(distribution_csv(&[]).unwrap().trim_end(), DISTRIBUTION_COLUMNS.join(","));

    // Parameters: one per-tensor row, then one row per channel of a [3, 4] weight (axis 0).
    let p = quant_param_report(&label, &[3, 4], &s, &x, &r).unwrap();
    assert_eq!((p.len(), p[0].channel, p[0].elements_num, p[0].dims.as_str(), p[0].bits), (1, None, 12, "[3 4]", 8));
    assert_eq!((p[0].scale, p[0].zero_point), (r.params.scale, r.params.zero_point));
    let g = quantize_granular(&x, &[3, 4], &s, Granularity::PerChannel { axis: 0 }, &Calibration::MinMax).unwrap();
    let rows = quant_param_report_granular(&label, &x, &g).unwrap();
    assert_eq!(rows.iter().map(|r| r.channel).collect::<Vec<_>>(), vec![Some(0), Some(1), Some(2)]);
    assert!(rows.iter().all(|r| r.elements_num == 4 && r.dims == "[3 4]"));
    // Bias correction restores each row's mean and spread: r'·var + mean has the mean of x.
    for (k, row) in rows.iter().enumerate() {
        let xs = &x[k * 4..k * 4 + 4];
        let ds = &g.dequant[k * 4..k * 4 + 4];
        let corrected: f64 = ds.iter().map(|&d| d as f64 * row.correction_var + row.correction_mean).sum::<f64>() / 4.0;
        let mean: f64 = xs.iter().map(|&v| v as f64).sum::<f64>() / 4.0;
        assert!((corrected - mean).abs() < 1e-9, "channel {k}");
    }
    let csv = quant_param_csv(&rows).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], QUANT_PARAM_COLUMNS.join(","));
    assert!(lines[1].starts_with("fc1,MatMul,fc1.weight,0,4,[3 4],"), "{}", lines[1]);
    let per_tensor = quant_param_csv(&p).unwrap();
    assert!(per_tensor.lines().nth(1).unwrap().starts_with("fc1,MatMul,fc1.weight,,12,"), "{per_tensor}");
    // Granular distribution rows clip against each channel's own limits: none here.
    assert_eq!(distribution_report_granular(&label, &x, &g).unwrap()[1].clip, 0.0);
});

// ---------------------------------------------------------------- 16-bit floats

case!(fp16_and_bf16_round_trips {
    // 1/3: FP16 0x3555 = 0.333251953125; BF16 0x3EAB = 0.333984375.
    assert_eq!(fp16_round_trip(&[1.0 / 3.0]), vec![0.333_251_95]);
    assert_eq!(bf16_round_trip(&[1.0 / 3.0]), vec![0.333_984_38]);
    // FP16 overflows to Inf at 65520 (halfway past 65504); BF16 keeps f32's range.
    assert_eq!(fp16_round_trip(&[65504.0, 65519.0, 65520.0]), vec![65504.0, 65504.0, f32::INFINITY]);
    let big = bf16_round_trip(&[1e30])[0];
    assert!(big.is_finite() && ((big - 1e30) / 1e30).abs() <= 1.0 / 256.0, "{big}");
    assert_eq!(Float16Format::Fp16.max_finite(), 65504.0);
    assert_eq!(Float16Format::Bf16.epsilon(), 1.0 / 128.0);
    // Relative error at most ε/2 for normal values.
    let x = generate(&Distribution::default(), &[1000], 2).unwrap();
    for f in Float16Format::ALL {
        for (a, b) in x.iter().zip(f.round_trip(&x)) {
            if a.abs() > 1e-4 {
                assert!(((a - b) / a).abs() <= f.epsilon() / 2.0, "{f:?}: {a} → {b}");
            }
        }
    }
});

// ---------------------------------------------------------------- generators

/// The first values of each example distribution for seed 7, as f32 bits, recorded natively.
/// The same test in the browser checks that wasm32 draws the very same values.
const GOLDEN_SEED_7: [[u32; 4]; 5] = [
    [0xBF46_7EC6, 0xBFB1_13F7, 0x3F63_C43B, 0x3EB8_34F6], // normal(0, 1): −0.7754, −1.3834, 0.8897, 0.3598
    [0xBF38_517C, 0xBF2F_355C, 0xBF22_C9B0, 0xBF29_FD50], // uniform[−1, 1): −0.7200, −0.6844, −0.6359, −0.6640
    [0x3E22_1EDD, 0xC009_83CB, 0x3F71_FB91, 0xBDE5_E090], // laplace(0, 1)
    [0xC02C_44FE, 0x400B_834F, 0x3FD6_669F, 0xBFBA_BFBB], // bimodal ±2
    [0xBF46_7EC6, 0xBFB1_13F7, 0x3F63_C43B, 0x3EB8_34F6], // with outliers: round(4 · 0.00005) = 0 outliers, the normal body
];

/// With outliers at fraction 0.5 on 4 values, seed 7: the normal body with round(0.5 · 4) = 2
/// values (signs +, −) replaced at 20–40 σ, recorded natively.
const GOLDEN_OUTLIERS_SEED_7: [u32; 4] = [0x41D9_7F91, 0xBFB1_13F7, 0xC213_F175, 0x3EB8_34F6]; // 27.19, −1.38, −36.99, 0.36

case!(generators_are_seeded_and_platform_independent {
    for (d, want) in Distribution::examples().iter().zip(GOLDEN_SEED_7) {
        let x = generate(d, &[2, 2], 7).unwrap();
        let bits: Vec<u32> = x.iter().map(|v| v.to_bits()).collect();
        assert_eq!(bits, want, "{d:?}: {x:?}");
        assert_eq!(generate(d, &[4], 7).unwrap(), x, "the shape only sets the count");
        assert_ne!(generate(d, &[4], 8).unwrap(), x, "another seed, other values");
    }
    let d = Distribution::WithOutliers { mean: 0.0, std: 1.0, fraction: 0.5, magnitude: 20.0 };
    let bits: Vec<u32> = generate(&d, &[4], 7).unwrap().iter().map(|v| v.to_bits()).collect();
    assert_eq!(bits, GOLDEN_OUTLIERS_SEED_7);
});

case!(generators_have_their_moments {
    let n = 50_000;
    let stats = |d: Distribution| summarize(&generate(&d, &[n], 3).unwrap()).unwrap();
    let s = stats(Distribution::Normal { mean: 2.0, std: 3.0 });
    assert!((s.mean - 2.0).abs() < 0.05 && (s.var.sqrt() - 3.0).abs() < 0.05, "{s:?}");
    let s = stats(Distribution::Uniform { low: -1.0, high: 3.0 });
    assert!(s.min >= -1.0 && s.max < 3.0 && (s.mean - 1.0).abs() < 0.03, "{s:?}");
    assert!((s.var - 16.0 / 12.0).abs() < 0.03, "{s:?}");
    // Laplace(b): variance 2b², median μ.
    let s = stats(Distribution::Laplace { mean: -1.0, scale: 0.5 });
    assert!((s.median + 1.0).abs() < 0.02 && (s.var - 0.5).abs() < 0.03, "{s:?}");
    // Bimodal ±2 with σ = 0.5: mean 0, median near a gap, var = 0.25 + 4.
    let s = stats(Distribution::Bimodal { mean_a: -2.0, std_a: 0.5, mean_b: 2.0, std_b: 0.5, weight_a: 0.5 });
    assert!(s.mean.abs() < 0.05 && (s.var - 4.25).abs() < 0.1, "{s:?}");
    let s = stats(Distribution::Normal { mean: 1.5, std: 0.0 });
    assert_eq!((s.min, s.max), (1.5, 1.5));
});

// ---------------------------------------------------------------- serde names

case!(settings_serialise_with_stable_names {
    assert_eq!(json(&Calibration::MinMax), r#"{"method":"min_max"}"#);
    assert_eq!(json(&Calibration::Percentile { percentile: 99.5 }), r#"{"method":"percentile","percentile":99.5}"#);
    assert_eq!(
        json(&Calibration::MovingAverageMinMax { momentum: 0.5, batch: 8 }),
        r#"{"method":"moving_average_min_max","momentum":0.5,"batch":8}"#
    );
    assert_eq!(json(&Granularity::PerTensor), r#""per_tensor""#);
    assert_eq!(json(&Granularity::PerGroup { axis: 1, group_size: 32 }), r#"{"per_group":{"axis":1,"group_size":32}}"#);
    assert_eq!(json(&Distribution::Normal { mean: 0.0, std: 1.0 }), r#"{"distribution":"normal","mean":0.0,"std":1.0}"#);
    assert_eq!(json(&Float16Format::Bf16), r#""bf16""#);
    // And back.
    for c in Calibration::all_defaults() {
        let back: Calibration = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }
    for d in Distribution::examples() {
        let back: Distribution = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        assert_eq!(back, d);
    }
    let g: Granularity = serde_json::from_str(r#"{"per_channel":{"axis":0}}"#).unwrap();
    assert_eq!(g, Granularity::PerChannel { axis: 0 });
});

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap()
}

case!(asymmetric_kl_on_relu_outputs_does_not_pick_one_bin_per_level {
    // Half of a ReLU's outputs are exactly 0. The reference search returned 511 / B · max x for
    // such data (one bin per level, the rest in the last group), whatever the bin count.
    let x = generate(&Distribution::Normal { mean: 0.0, std: 1.0 }, &[20_000], 11).unwrap();
    let relu: Vec<f32> = x.iter().map(|v| v.max(0.0)).collect();
    let max = relu.iter().fold(0f32, |m, &v| m.max(v));
    let s = Scheme::lab(Method::Normal, 8);
    for bins in [1024, 2048, 4096, 8192] {
        let (a, b) = calibrate(&relu, &s, &Calibration::Kl { bins }).unwrap();
        assert_eq!(a, 0.0);
        assert!(b > 0.6 * max && b <= max, "{bins} bins: β = {b}, max {max}, 511/B·max = {}", 511.0 / bins as f32 * max);
    }
});

case!(a_range_too_wide_for_f32_is_called_too_wide {
    let s = Scheme::lab(Method::Normal, 8);
    let e = QParams::from_range(-3e38, 3e38, &s).unwrap_err();
    assert_eq!(e, QuantError::RangeTooWide { alpha: -3e38, beta: 3e38 });
    assert!(e.to_string().contains("too wide") && !e.to_string().contains("narrow"), "{e}");
    // A range that is really too narrow for its distance from 0 keeps its message.
    let e = QParams::from_range(1e30, 1e30 + 1e24, &s).unwrap_err();
    assert!(matches!(e, QuantError::ZeroPointOverflow { .. }), "{e:?}");
    assert!(QParams::from_range(-3e38, 3e38, &s).unwrap_err().to_string().starts_with("the range [-3e38, 3e38]"));
    // The symmetric scale needs only max(|α|, |β|): s = 3e38 / 127.5, Z = 0 (NumPy: 2.3529412e36).
    let (p, _) = QParams::from_range(-3e38, 3e38, &Scheme { symmetric: true, ..s }).unwrap();
    assert_eq!((p.scale, p.zero_point), (3e38f32 / 127.5, 0));
    // A subnormal range straddling 0: its scale underflows (nothing overflows), either grid.
    for s in [s, Scheme { symmetric: true, ..s }] {
        let e = QParams::from_range(-1e-45, 1e-45, &s).unwrap_err();
        assert_eq!(e, QuantError::ScaleUnderflow { alpha: -1e-45, beta: 1e-45 });
        assert!(e.to_string().starts_with("the range [-1e-45, 1e-45] is too narrow: its scale s, its width over the grid's steps, underflows"), "{e}");
    }
    // Scales that are finite but put the grid's outermost level past f32's largest: symmetric
    // 8-bit at |α| = f32::MAX gives s = 2.6689e36 and −128·s = −3.416e38; asymmetric 16-bit
    // gives s = 5.192e33 and 65535·s = ∞. Both are too wide, not "−inf" values later on.
    let sym = Scheme { symmetric: true, ..s };
    let e = QParams::from_range(-f32::MAX, 1.0, &sym).unwrap_err();
    assert_eq!(e, QuantError::RangeTooWide { alpha: -f32::MAX, beta: 1.0 });
    assert!(e.to_string().contains("the grid's outermost level (q − Z)·s passes f32's largest"), "{e}");
    let wide16 = Scheme { bits: 16, ..s };
    assert!(matches!(QParams::from_range(1.0, f32::MAX, &wide16), Err(QuantError::RangeTooWide { .. })));
    // Just inside: every level of the grid is a float.
    for (a, b, scheme) in [(-3.3e38f32, 1.0f32, sym), (1.0, 3.3e38, wide16), (-3.3e38, 3.3e38, sym)] {
        let (p, _) = QParams::from_range(a, b, &scheme).unwrap();
        let (lo, hi) = p.clamp_limits();
        assert!(lo.is_finite() && hi.is_finite(), "[{a}, {b}]: {lo} .. {hi}");
    }
});

case!(a_float16_round_trip_past_its_range_is_counted_as_overflowed_not_written_as_null {
    // 1e5 is past FP16's ±65504: its round trip is +∞. The figures describe the other values and
    // say how many overflowed; serde_json writes no null.
    let x = [1e5f32, 1.0, -2.0];
    let m = qplay::metrics::try_error_metrics(&x, &qplay::quant::fp16_round_trip(&x)).unwrap();
    assert_eq!((m.n, m.overflowed), (3, 1));
    assert_eq!((m.mse, m.max_abs, m.sqnr_db), (0.0, 0.0, -qplay::metrics::SQNR_CAP_DB));
    let text = json(&m);
    assert!(!text.contains("null") && text.contains("\"overflowed\":1"), "{text}");
    let clean = qplay::metrics::try_error_metrics(&x[1..], &qplay::quant::fp16_round_trip(&x[1..])).unwrap();
    assert_eq!(clean.overflowed, 0);
});

case!(kl_calibration_on_many_small_slices_is_refused_before_it_starts {
    // 1,000 groups of 2 at 8192 bins: 6.7·10^10 search steps (tens of seconds for 2,000 values);
    // a whole model's 50,000 such groups took an hour. The work is checked before the first slice.
    let s = Scheme::lab(Method::Normal, 8);
    let x: Vec<f32> = (0..2000).map(|i| (i as f32 * 0.37).sin()).collect();
    let many = Granularity::PerGroup { axis: 1, group_size: 2 };
    let e = quantize_granular(&x, &[1, 2000], &s, many, &Calibration::Kl { bins: 8192 }).unwrap_err();
    assert!(matches!(e, QuantError::Setting { name: "KL bins", .. }), "{e:?}");
    assert!(e.to_string().contains("8192 bins on each of 1000 slices") && e.to_string().contains("fewer bins, larger groups"), "{e}");
    // Fewer bins on the same slices, or the same bins per tensor, run.
    assert!(quantize_granular(&x, &[1, 2000], &s, many, &Calibration::Kl { bins: 128 }).is_ok());
    assert!(quantize_granular(&x, &[1, 2000], &s, Granularity::PerTensor, &Calibration::Kl { bins: 8192 }).is_ok());
    assert!(qplay::quant::calibration::kl::check_work(8192, 128).is_ok(), "per channel at the most bins on 128 rows");
    assert!(qplay::quant::calibration::kl::check_work(2048, 49 * 128).is_ok(), "groups of 16 of a 784 × 128 weight");
});

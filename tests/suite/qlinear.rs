//! The integer-only Linear layer against a hand-computed TFLite example:
//! a negative activation zero point, per-channel weight scales, a bias,
//! saturation, fused ReLU, and a real multiplier of exactly 1 (left shift).

use qplay::runtime::qlinear::{QLinear, QLinearSpec};

// x_q = [10, −3, 127], s_x = 0.5, zp_x = −3 → x − zp_x = [13, 0, 130]
const X: [i8; 3] = [10, -3, 127];
const W: [i8; 12] = [
    2, -1, 1, //      channel 0, s_w = 0.01
    127, 127, 127, // channel 1, s_w = 0.02
    -128, 0, 0, //    channel 2, s_w = 0.01
    1, 0, 0, //       channel 3, s_w = 0.5
];
const W_SCALES: [f32; 4] = [0.01, 0.02, 0.01, 0.5];
const BIAS: [f32; 4] = [0.1, -1.0, 0.0, 0.0];

fn layer(relu: bool) -> QLinear {
    layer_to(relu, 5)
}

/// The example layer with the output zero point `y_zero_point`.
fn layer_to(relu: bool, y_zero_point: i32) -> QLinear {
    QLinear::new(&QLinearSpec {
        w: &W,
        n: 4,
        k: 3,
        w_scales: &W_SCALES,
        bias: &BIAS,
        x_scale: 0.5,
        x_zero_point: -3,
        y_scale: 0.25,
        y_zero_point,
        relu,
    })
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn int8_linear_matches_the_hand_computed_tflite_example() {
    // ch 0: bias_q = round(0.1 / (0.5·0.01)) = 20; acc = 2·13 − 1·0 + 1·130 + 20 = 176;
    //       real = s_x·s_w/s_y from the f32 scales, as TFLite does: 0.01f32 = 0.0099999997764825821,
    //       so real = 0.019999999552965164 = 0.63999998569488525·2^−5 → M0 = 1374389504 exactly, shift −5;
    //       SRDHM(176, M0) = round(112.64) = 113; 113 / 2^5 = 3.53 → 4; + zp_y 5 = 9.
    // ch 1: bias_q = −100; acc = 127·143 − 100 = 18061; · 0.04 = 722.44 → 722 + 5 → saturates at 127.
    // ch 2: acc = −128·13 = −1664; SRDHM = −1064.96 → −1065 (nudge 1 − 2^30); −1065 / 32 = −33.28 → −33; + 5 = −28.
    // ch 3: real = 0.25 / 0.25 = 1 = 0.5·2^1 → M0 = 2^30, shift +1: (13 · 2) · 2^30 / 2^31 = 13; + 5 = 18.
    let l = layer(false);
    assert_eq!(l.multipliers[0].multiplier, 1_374_389_504);
    assert_eq!(l.multipliers[0].shift, -5);
    assert_eq!((l.multipliers[3].multiplier, l.multipliers[3].shift), (1 << 30, 1));
    let (mut acc, mut y) = (Vec::new(), [0i8; 4]);
    l.forward(&X, 1, &mut acc, &mut y);
    assert_eq!(y, [9, 127, -28, 18]);
    // Fused ReLU clamps at the output zero point (the float 0).
    layer(true).forward(&X, 1, &mut acc, &mut y);
    assert_eq!(y, [9, 127, 5, 18]);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn batches_give_the_same_rows_as_single_rows() {
    let l = layer(false);
    let xs: Vec<i8> = (0..7 * 3).map(|i| (i * 37 % 256) as u8 as i8).collect();
    let (mut acc, mut batch) = (Vec::new(), vec![0i8; 7 * 4]);
    l.forward(&xs, 7, &mut acc, &mut batch);
    for r in 0..7 {
        let mut one = [0i8; 4];
        l.forward(&xs[r * 3..r * 3 + 3], 1, &mut acc, &mut one);
        assert_eq!(&batch[r * 4..r * 4 + 4], &one, "row {r}");
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn random_layers_match_the_tflite_formula() {
    // Ragged shapes (N, K not multiples of the kernel's tile), per-channel scales, ReLU or not:
    // forward (the simd128 GEMM and requantization, under wasm) against the
    // formula of the module header evaluated with the scalar reference `requantize`.
    use qplay::runtime::requant::requantize;
    let mut s = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    for (m, n, k, relu) in [(7, 13, 37, true), (3, 10, 64, false), (17, 5, 9, true), (1, 33, 100, false)] {
        let w: Vec<i8> = (0..n * k).map(|_| (next() % 255) as i8).collect();
        let w = w.into_iter().map(|v| v.max(-127)).collect::<Vec<_>>();
        let w_scales: Vec<f32> = (0..n).map(|_| 0.002 + (next() % 1000) as f32 * 1e-5).collect();
        let bias: Vec<f32> = (0..n).map(|_| ((next() % 2001) as f32 - 1000.0) * 1e-3).collect();
        let (x_scale, x_zp, y_scale, y_zp) = (0.02f32, (next() % 256) as i32 - 128, 0.05f32, (next() % 256) as i32 - 128);
        let l = QLinear::new(&QLinearSpec { w: &w, n, k, w_scales: &w_scales, bias: &bias, x_scale, x_zero_point: x_zp, y_scale, y_zero_point: y_zp, relu });
        let x: Vec<i8> = (0..m * k).map(|_| next() as i8).collect();
        let (mut acc, mut y) = (Vec::new(), vec![0i8; m * n]);
        l.forward(&x, m, &mut acc, &mut y);
        for r in 0..m {
            for o in 0..n {
                let acc_scale = x_scale as f64 * w_scales[o] as f64;
                let bias_q = (bias[o] as f64 / acc_scale).round() as i64;
                let sum: i64 = (0..k).map(|t| w[o * k + t] as i64 * (x[r * k + t] as i64 - x_zp as i64)).sum();
                let a = (sum + bias_q) as i32;
                let want = requantize(a, l.multipliers[o], l.zp_y, l.act_min, l.act_max) as i8;
                assert_eq!(y[r * n + o], want, "M={m} N={n} K={k} relu={relu} at [{r}, {o}]");
            }
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn accumulators_that_could_leave_int32_are_refused_at_construction() {
    use qplay::runtime::qlinear::AccumulatorOverflow;
    let spec = |w: &'static [i8], k: usize, bias: &'static [f32]| QLinearSpec {
        w,
        n: 1,
        k,
        w_scales: &[0.01],
        bias,
        x_scale: 0.01,
        x_zero_point: 0,
        y_scale: 1.0,
        y_zero_point: 0,
        relu: false,
    };
    // A bias of 3e5 at s_x·s_w = 1e-4 is 3·10⁹ in accumulator units: more than 2³¹ − 1. Before the
    // check it was clamped to i32::MAX and then added with wrapping arithmetic.
    let e = QLinear::try_new(&spec(&[1, 1], 2, &[3e5])).unwrap_err();
    assert_eq!((e.channel, e.k), (0, 2));
    assert!(e.bound > i32::MAX as i128 && e.to_string().contains("2^31"), "{e}");
    // A bias that fits, with room for K · 128 · max|w| = 2 · 128 · 1.
    assert!(QLinear::try_new(&spec(&[1, 1], 2, &[2e5])).is_ok());
    // Fan-in 131,072 with full-range weights: 131072 · 128 · 128 = 2³¹, one more than fits.
    let w: &'static [i8] = Box::leak(vec![-128i8; 131_072].into_boxed_slice());
    let e: AccumulatorOverflow = QLinear::try_new(&spec(w, 131_072, &[])).unwrap_err();
    assert_eq!(e.bound, 1 << 31);
    let w: &'static [i8] = Box::leak(vec![127i8; 131_071].into_boxed_slice());
    assert!(QLinear::try_new(&spec(w, 131_071, &[])).is_ok(), "131,071 · 128 · 127 fits");
}

/// A fused ReLU whose output zero point lies past int8 (a scale and zero point from a hand-made
/// file): the clamp stays within int8 and every output saturates at 127, the nearest int8 to the
/// real 0, instead of a panic on act_min > act_max.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_relu_output_zero_point_past_int8_saturates_instead_of_panicking() {
    for zp in [128, 1 << 20] {
        let l = layer_to(true, zp);
        assert_eq!((l.act_min, l.act_max), (127, 127));
        let (mut acc, mut y) = (Vec::new(), [0i8; 4]);
        l.forward(&X, 1, &mut acc, &mut y);
        assert_eq!(y, [127; 4], "zp_y {zp}");
    }
}

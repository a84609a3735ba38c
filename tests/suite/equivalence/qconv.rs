// The integer Conv2d (im2col onto the int8 GEMM, `qconv::QConv2d`) against its
// scalar twin (`qconv::conv2d_reference`: the TFLite formula term by term in
// i64), bit-exact over random geometries — kernel 1–3, stride 1–2, padding 0–2,
// ragged planes and channel counts, per-tensor and per-channel scales, every
// zero point, ReLU fused or not. Under wasm32 + simd128 this runs the SIMD GEMM
// and requantization.
//
// Pooling (`qpool::QPool2d`) against plain formulas: max of the window, and the
// average rounded half away from zero computed in f64 (TFLite's
// `(sum ± n/2) / n`), over random int8 planes, plus hand-worked halves.

use qplay::runtime::qconv::{conv2d_reference, ConvGeometry, ConvScratch, QConv2d, QConvSpec};
use qplay::runtime::qpool::{PoolKind, QPool2d};

use super::gemm_i8::Gen;

fn unit(g: &mut Gen) -> f32 {
    (g.below(1000) as f32 + 1.0) / 1000.0
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn the_integer_conv2d_matches_its_scalar_twin() {
    let mut g = Gen(0x0c0f_fee0_1234_5677);
    let mut scratch = ConvScratch::default();
    for case in 0..120 {
        let kernel = 1 + g.below(3);
        let geometry = ConvGeometry {
            in_channels: 1 + g.below(5),
            out_channels: 1 + g.below(11),
            kernel,
            stride: 1 + g.below(2),
            padding: g.below(3).min(kernel),
            in_h: kernel + g.below(8),
            in_w: kernel + g.below(8),
        };
        let batch = 1 + g.below(3);
        let w: Vec<i8> = (0..geometry.out_channels * geometry.fan_in()).map(|_| (g.i8()).max(-127)).collect();
        let per_channel = g.below(2) == 0;
        let w_scales: Vec<f32> = (0..if per_channel { geometry.out_channels } else { 1 }).map(|_| 0.02 * unit(&mut g)).collect();
        let bias: Vec<f32> = if g.below(4) == 0 { Vec::new() } else { (0..geometry.out_channels).map(|_| unit(&mut g) - 0.5).collect() };
        let x_scale = 0.05 * unit(&mut g);
        // s_y so that the real multiplier s_x·s_w / s_y ranges over (2^−14, 1).
        let y_scale = x_scale * 0.02 * (1.0 + g.below(8000) as f32);
        let spec = QConvSpec {
            geometry,
            w: &w,
            w_scales: &w_scales,
            bias: &bias,
            x_scale,
            x_zero_point: g.i8() as i32,
            y_scale,
            y_zero_point: g.i8() as i32,
            relu: g.below(2) == 0,
        };
        let x: Vec<i8> = (0..batch * geometry.in_len()).map(|_| g.i8()).collect();
        let want = conv2d_reference(&spec, &x, batch);
        let conv = QConv2d::try_new(&spec).expect("small layers fit int32");
        let mut got = vec![0i8; batch * geometry.out_len()];
        conv.forward(&x, batch, &mut scratch, &mut got);
        assert_eq!(got, want, "case {case}: {geometry:?}, batch {batch}");
    }
    // A fused ReLU with an output zero point past 127 (a hand-made scale): every output is 127,
    // in the kernel and in its twin (which took act_min = 200 > act_max and panicked).
    let geometry = ConvGeometry { in_channels: 1, out_channels: 1, kernel: 1, stride: 1, padding: 0, in_h: 1, in_w: 1 };
    for y_zero_point in [127, 128, 200] {
        let spec = QConvSpec { geometry, w: &[1], w_scales: &[1.0], bias: &[], x_scale: 1.0, x_zero_point: 0, y_scale: 1.0, y_zero_point, relu: true };
        let mut got = vec![0i8; 1];
        QConv2d::try_new(&spec).unwrap().forward(&[5], 1, &mut scratch, &mut got);
        assert_eq!((got[0], conv2d_reference(&spec, &[5], 1)[0]), (127, 127), "zp_y {y_zero_point}");
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn int8_pooling_is_the_max_and_the_average_rounded_half_away_from_zero() {
    // Hand-worked 2×2 averages: n = 4, sums 2, −2, 1, −1, 6, −6 → 1 (0.5 up), −1 (−0.5 away), 0, 0, 2 (1.5), −2.
    let pool = |kind| QPool2d { kind, channels: 1, in_h: 2, in_w: 12, kernel: 2, stride: 2 };
    let x: [i8; 24] = [1, 1, -1, -1, 1, 0, -1, 0, 3, 3, -3, -3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let mut y = [0i8; 6];
    pool(PoolKind::Average).forward(&x, 1, &mut y);
    assert_eq!(y, [1, -1, 0, 0, 2, -2]);
    pool(PoolKind::Max).forward(&x, 1, &mut y);
    assert_eq!(y, [1, 0, 1, 0, 3, 0]); // the second row is zeros

    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    for _ in 0..60 {
        let kernel = 1 + g.below(3);
        let p = QPool2d { kind: PoolKind::Max, channels: 1 + g.below(4), in_h: kernel + g.below(7), in_w: kernel + g.below(7), kernel, stride: 1 + g.below(3) };
        let batch = 1 + g.below(2);
        let x: Vec<i8> = (0..batch * p.in_len()).map(|_| g.i8()).collect();
        let (oh, ow) = p.out_hw();
        for kind in [PoolKind::Max, PoolKind::Average] {
            let p = QPool2d { kind, ..p };
            let mut got = vec![0i8; batch * p.out_len()];
            p.forward(&x, batch, &mut got);
            for plane in 0..batch * p.channels {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let window: Vec<i8> = (0..kernel * kernel)
                            .map(|t| x[plane * p.in_h * p.in_w + (oy * p.stride + t / kernel) * p.in_w + ox * p.stride + t % kernel])
                            .collect();
                        let want = match kind {
                            PoolKind::Max => *window.iter().max().unwrap(),
                            // f64's round() is half away from zero.
                            PoolKind::Average => (window.iter().map(|&v| v as f64).sum::<f64>() / window.len() as f64).round() as i8,
                        };
                        assert_eq!(got[(plane * oh + oy) * ow + ox], want, "{kind:?} {p:?} plane {plane} at ({oy}, {ox})");
                    }
                }
            }
        }
    }
}

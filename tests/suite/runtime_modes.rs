//! The weight-only (packed 1/2/4/8-bit) and dynamic (ALWC, int8 GEMM) kernels, Linear and
//! Conv2d, against the arithmetic they promise written out here in scalar loops.

use qplay::quant::calibration::Calibration;
use qplay::quant::granularity::{quantize_granular, GranularQuantized};
use qplay::quant::{Granularity, Method, QParams, Rounding, Scheme};
use qplay::runtime::dynamic::DynamicLayer;
use qplay::runtime::qconv::ConvGeometry;
use qplay::runtime::weight_only::{PackedIntWeights, WeightOnlyLayer};


fn data(n: usize, k: f32) -> Vec<f32> {
    (0..n).map(|i| ((i as f32 + 0.5) * k).sin() + 0.3 * ((i as f32) * 0.11).cos()).collect()
}

/// ‖a − b‖ / ‖b‖
fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (num / den).sqrt()
}

fn scheme(bits: u8, symmetric: bool) -> Scheme {
    Scheme { bits, signed: true, symmetric, narrow_range: false, method: Method::Normal, rounding: Rounding::HalfEven }
}

fn quantized(w: &[f32], n: usize, k: usize, bits: u8, symmetric: bool, g: Granularity) -> GranularQuantized {
    quantize_granular(w, &[n, k], &scheme(bits, symmetric), g, &Calibration::MinMax).unwrap()
}

/// The (s, Z) pairs of a [N, K] weight, one per `group` values of a row.
fn pairs(q: &GranularQuantized, n: usize, k: usize, group: usize) -> (Vec<f32>, Vec<i32>) {
    let p: Vec<QParams> = (0..n).flat_map(|o| (0..k / group).map(move |g| o * k + g * group)).map(|f| *q.params_of(f)).collect();
    (p.iter().map(|p| p.scale).collect(), p.iter().map(|p| p.zero_point).collect())
}

/// y [M, N] = x [M, K] · wᵀ + b, in f64, term by term.
fn linear_ref(x: &[f32], w: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
    let mut y = vec![0f32; m * n];
    for r in 0..m {
        for o in 0..n {
            let s: f64 = (0..k).map(|j| x[r * k + j] as f64 * w[o * k + j] as f64).sum();
            y[r * n + o] = (s + b[o] as f64) as f32;
        }
    }
    y
}

/// A direct convolution, y [B, O, OH, OW], with zero padding, in f64.
fn conv_ref(x: &[f32], w: &[f32], b: &[f32], g: &ConvGeometry, batch: usize) -> Vec<f32> {
    let (oh, ow) = g.out_hw();
    let kk = g.kernel;
    let mut y = vec![0f32; batch * g.out_len()];
    for bi in 0..batch {
        for o in 0..g.out_channels {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut s = b[o] as f64;
                    for c in 0..g.in_channels {
                        for ky in 0..kk {
                            for kx in 0..kk {
                                let (iy, ix) = ((oy * g.stride + ky) as i64 - g.padding as i64, (ox * g.stride + kx) as i64 - g.padding as i64);
                                if (0..g.in_h as i64).contains(&iy) && (0..g.in_w as i64).contains(&ix) {
                                    let xv = x[bi * g.in_len() + (c * g.in_h + iy as usize) * g.in_w + ix as usize] as f64;
                                    s += xv * w[((o * g.in_channels + c) * kk + ky) * kk + kx] as f64;
                                }
                            }
                        }
                    }
                    y[((bi * g.out_channels + o) * oh + oy) * ow + ox] = s as f32;
                }
            }
        }
    }
    y
}

/// The dynamic ALWC input as the simulation makes it: one (s, Z) from the batch's range widened
/// to 0, fake-quantized.
fn fake_quant_batch(x: &[f32]) -> Vec<f32> {
    let lo = x.iter().copied().fold(0f32, f32::min);
    let hi = x.iter().copied().fold(0f32, f32::max);
    let (p, _) = QParams::from_range(lo, hi, &scheme(8, false)).unwrap();
    x.iter().map(|&v| ((v / p.scale + p.zero_point as f32).round_ties_even().clamp(p.qmin as f32, p.qmax as f32) as i32 - p.zero_point) as f32 * p.scale).collect()
}

both! {
    a_shape_whose_product_wraps_a_32_bit_size_is_a_mismatch_not_a_panic {
        // 65,536 × 65,537 is 2^32 + 2^16, which a wasm32 usize wraps to 65,536: a 65,536-value
        // buffer passed the check there and the kernels then read past it.
        let (n, k) = (65_536usize, 65_537usize);
        let act = Scheme { bits: 8, signed: true, symmetric: false, narrow_range: false, method: Method::Normal, rounding: Rounding::HalfEven };
        let e = DynamicLayer::new(&vec![1i8; 65_536], n, k, &[1.0], &[], act, None).err().expect("a mismatch");
        assert!(matches!(e, qplay::quant::QuantError::ShapeMismatch { .. }), "{e:?}");
        let e = PackedIntWeights::from_quantized(&vec![0; 65_536], n, k, 8, k, &vec![1.0; n], &vec![0; n]).err().expect("a mismatch");
        assert!(matches!(e, qplay::quant::QuantError::ShapeMismatch { .. }), "{e:?}");
        // A zero point whose q − Z wraps i32 (1 − i32::MIN) is refused, not dequantized to −2^31.
        let e = PackedIntWeights::from_quantized(&[1], 1, 1, 8, 1, &[1.0], &[i32::MIN]).err().expect("out of range");
        assert!(matches!(e, qplay::quant::QuantError::OutOfRange { setting: "zero point", .. }), "{e:?}");
        assert!(PackedIntWeights::from_quantized(&[1], 1, 1, 8, 1, &[1.0], &[1 << 24]).is_ok());
        // A model whose 65,536 × 65,536 Linear (0 in a wasm32 usize) has an empty weight.
        use qplay::model::{Layer, LayerKind, Linear, Model, ModelError, Shape};
        let d = 65_536usize;
        let layer = Layer { name: "fc".into(), kind: LayerKind::Linear(Linear { in_features: d, out_features: d, w: vec![], b: vec![0.0; d] }) };
        let e = Model::new(Shape::Flat(d), vec![layer], usize::MAX).err().expect("an empty weight");
        assert!(matches!(e, ModelError::TensorLength { tensor: "weight", expected: 4_294_967_296, found: 0, .. }), "{e:?}");
    }

    packed_weights_hold_the_integers_and_dequantize_as_the_simulation_does {
        let (n, k) = (5, 24);
        let w = data(n * k, 0.77);
        for bits in [1u8, 2, 4, 8] {
            for (g, group, sym) in [(Granularity::PerChannel { axis: 0 }, k, true), (Granularity::PerGroup { axis: 1, group_size: 8 }, 8, false), (Granularity::PerTensor, k, false)] {
                let q = quantized(&w, n, k, bits, sym, g);
                let (s, z) = pairs(&q, n, k, group);
                let p = PackedIntWeights::from_quantized(&q.q, n, k, bits, group, &s, &z).unwrap();
                assert_eq!(p.data.len(), n * (k * bits as usize).div_ceil(8), "{bits}-bit storage");
                let (mut qi, mut wd) = (vec![0i32; k], vec![0f32; k]);
                for o in 0..n {
                    p.dequant_row(o, &mut qi, &mut wd);
                    assert_eq!(&qi[..], &q.q[o * k..(o + 1) * k], "{bits}-bit {g:?} row {o}: the integers survive packing");
                    assert_eq!(&wd[..], &q.dequant[o * k..(o + 1) * k], "{bits}-bit {g:?} row {o}: ŵ bit for bit");
                }
                if bits > 1 {
                    assert!(q.q.iter().any(|&v| v < 0), "negative values are exercised");
                }
            }
        }
        let q = quantized(&w, n, k, 4, true, Granularity::PerChannel { axis: 0 });
        let (s, z) = pairs(&q, n, k, k);
        assert!(PackedIntWeights::from_quantized(&q.q, n, k, 3, k, &s, &z).is_err(), "3 bits do not pack");
        assert!(PackedIntWeights::from_quantized(&q.q, n, k, 2, k, &s, &z).is_err(), "4-bit values do not fit 2 bits");
        assert!(PackedIntWeights::from_quantized(&q.q[1..], n, k, 4, k, &s, &z).is_err(), "short weights");
        assert!(PackedIntWeights::from_quantized(&q.q, n, k, 4, 7, &s, &z).is_err(), "7 does not divide 24");
        assert!(PackedIntWeights::from_quantized(&q.q, n, k, 4, k, &s[1..], &z).is_err(), "a missing scale");
    }

    weight_only_linear_and_conv_are_the_product_with_the_dequantized_weights {
        let (m, n, k) = (7, 9, 40);
        let (x, w, b) = (data(m * k, 0.31), data(n * k, 0.57), data(n, 1.9));
        let fp32 = linear_ref(&x, &w, &b, m, n, k);
        let mut errs = Vec::new();
        for bits in [8u8, 4, 2] {
            let q = quantized(&w, n, k, bits, true, Granularity::PerChannel { axis: 0 });
            let (s, z) = pairs(&q, n, k, k);
            let layer = WeightOnlyLayer::new(PackedIntWeights::from_quantized(&q.q, n, k, bits, k, &s, &z).unwrap(), &b, None).unwrap();
            let y = layer.forward(&x, m).unwrap();
            let sim = linear_ref(&x, &q.dequant, &b, m, n, k);
            assert!(rel_err(&y, &sim) < 1e-5, "{bits}-bit: {}", rel_err(&y, &sim));
            errs.push(rel_err(&y, &fp32));
            assert!(layer.forward(&x[1..], m).is_err(), "a short batch is an error");
        }
        assert!(errs[0] < 0.01 && errs[0] < errs[1] && errs[1] < errs[2], "W8 < W4 < W2 error: {errs:?}");

        // A Conv2d (padding 1, stride 2, ragged plane) over its patches.
        let g = ConvGeometry { in_channels: 3, out_channels: 4, kernel: 3, stride: 2, padding: 1, in_h: 7, in_w: 6 };
        let (batch, k) = (2, g.fan_in());
        let (x, w, b) = (data(batch * g.in_len(), 0.23), data(g.out_channels * k, 0.41), data(g.out_channels, 0.9));
        let q = quantized(&w, g.out_channels, k, 4, false, Granularity::PerChannel { axis: 0 });
        let (s, z) = pairs(&q, g.out_channels, k, k);
        let layer = WeightOnlyLayer::new(PackedIntWeights::from_quantized(&q.q, g.out_channels, k, 4, k, &s, &z).unwrap(), &b, Some(g)).unwrap();
        let y = layer.forward(&x, batch).unwrap();
        let want = conv_ref(&x, &q.dequant, &b, &g, batch);
        assert_eq!(y.len(), want.len());
        assert!(rel_err(&y, &want) < 1e-5, "conv: {}", rel_err(&y, &want));
    }

    weight_only_layers_run_on_the_grouped_kernels_when_they_fit {
        use qplay::runtime::weight_only::WeightStore;
        // (bits, K, g, symmetric, on the grouped kernels): 8-bit groups padded to 8 values, 4-bit
        // to 32, while the padded K is at most 2K and |Z| ≤ 2^12.
        let cases = [
            (8u8, 784, 784, true, true),  // the MLP's first layer, per channel
            (8, 9, 9, false, true),       // a 3×3 Conv2d on one channel: g = 9 → 16
            (8, 96, 32, false, true),
            (4, 784, 784, true, true),    // g = 784 → 800
            (4, 784, 784, false, true),
            (4, 64, 32, false, true),     // whole blocks, no padding
            (4, 50, 25, true, true),      // K' = 64 ≤ 100
            (4, 40, 8, false, false),     // K' = 160 > 80: packed rows
            (2, 64, 32, true, false),     // 2 bits: packed rows
        ];
        let n = 13;
        for (bits, k, group, sym, grouped) in cases {
            let gran = if group == k { Granularity::PerChannel { axis: 0 } } else { Granularity::PerGroup { axis: 1, group_size: group } };
            let w = data(n * k, 0.37);
            let q = quantized(&w, n, k, bits, sym, gran);
            let (s, z) = pairs(&q, n, k, group);
            if !sym && bits > 2 {
                assert!(z.iter().any(|&z| z != 0), "{bits}-bit K {k}: asymmetric zero points are exercised");
            }
            let b = data(n, 1.3);
            let layer = WeightOnlyLayer::new(PackedIntWeights::from_quantized(&q.q, n, k, bits, group, &s, &z).unwrap(), &b, None).unwrap();
            assert_eq!(matches!(layer.weights, WeightStore::Grouped(_)), grouped, "{bits}-bit K {k} g {group}: the kernel chosen (zero points {z:?})");
            // One row (the register kernels), a few, and 40 (blocks dequantized for the f32 GEMM).
            for m in [1, 3, 40] {
                let x = data(m * k, 0.53);
                let y = layer.forward(&x, m).unwrap();
                let sim = linear_ref(&x, &q.dequant, &b, m, n, k);
                assert!(rel_err(&y, &sim) < 1e-5, "{bits}-bit K {k} g {group} sym {sym} M {m}: {}", rel_err(&y, &sim));
            }
            assert!(layer.forward(&[], 0).unwrap().is_empty(), "an empty batch");
            assert!(layer.forward(&data(k - 1, 0.5), 1).is_err(), "a short row is an error");
            // NaN and ±Inf in the activations reach the outputs of their rows only, as in FP32.
            let mut x = data(2 * k, 0.53);
            x[k + 1] = f32::NAN;
            let y = layer.forward(&x, 2).unwrap();
            assert!(y[..n].iter().all(|v| v.is_finite()) && y[n..].iter().all(|v| v.is_nan()), "{bits}-bit K {k}: NaN stays in its row");
        }
        // A zero point past 2^12 (a file's): packed rows, ŵ = (q − Z) · s exactly.
        let (n, k) = (3, 16);
        let q: Vec<i32> = (0..n * k).map(|i| (i as i32 % 200) - 100).collect();
        let p = PackedIntWeights::from_quantized(&q, n, k, 8, k, &[0.01, 0.02, 0.03], &[100_000, -5, 0]).unwrap();
        let layer = WeightOnlyLayer::new(p, &[], None).unwrap();
        assert!(matches!(layer.weights, WeightStore::Packed(_)));
        let x = data(k, 0.9);
        let w_hat: Vec<f32> = q.iter().enumerate().map(|(i, &v)| (v - [100_000, -5, 0][i / k]) as f32 * [0.01f32, 0.02, 0.03][i / k]).collect();
        let y = layer.forward(&x, 1).unwrap();
        assert!(rel_err(&y, &linear_ref(&x, &w_hat, &[0.0; 3], 1, n, k)) < 1e-6);
    }

    dynamic_alwc_is_the_integer_form_of_the_simulated_result {
        let (m, n, k) = (6, 10, 33);
        let (x, w, b) = (data(m * k, 0.43), data(n * k, 0.29), data(n, 0.7));
        let q = quantized(&w, n, k, 8, true, Granularity::PerChannel { axis: 0 });
        let w8: Vec<i8> = q.q.iter().map(|&v| v as i8).collect();
        let scales: Vec<f32> = q.slices.iter().map(|s| s.params.scale).collect();
        let layer = DynamicLayer::new(&w8, n, k, &scales, &b, scheme(8, false), None).unwrap();
        let y = layer.forward(&x, m).unwrap();
        let sim = linear_ref(&fake_quant_batch(&x), &q.dequant, &b, m, n, k);
        assert!(rel_err(&y, &sim) < 1e-5, "{}", rel_err(&y, &sim));
        assert!(rel_err(&y, &linear_ref(&x, &w, &b, m, n, k)) < 0.02, "close to FP32");
        // Bad input and settings are typed errors.
        assert!(layer.forward(&x[1..], m).is_err());
        let mut nan = x.clone();
        nan[3] = f32::NAN;
        assert!(layer.forward(&nan, m).is_err());
        assert!(DynamicLayer::new(&w8, n, k, &scales, &b, scheme(6, false), None).is_err(), "6-bit activations have no int8 GEMM");
        assert!(DynamicLayer::new(&w8[1..], n, k, &scales, &b, scheme(8, false), None).is_err());

        // A Conv2d: the whole batch's range, patches padded with Z_x (the real 0).
        let g = ConvGeometry { in_channels: 2, out_channels: 5, kernel: 3, stride: 1, padding: 1, in_h: 6, in_w: 5 };
        let (batch, k) = (3, g.fan_in());
        let (x, w, b) = (data(batch * g.in_len(), 0.37), data(g.out_channels * k, 0.53), data(g.out_channels, 1.3));
        let q = quantized(&w, g.out_channels, k, 8, true, Granularity::PerTensor);
        let w8: Vec<i8> = q.q.iter().map(|&v| v as i8).collect();
        let layer = DynamicLayer::new(&w8, g.out_channels, k, &[q.slices[0].params.scale], &b, scheme(8, false), Some(g)).unwrap();
        let y = layer.forward(&x, batch).unwrap();
        let want = conv_ref(&fake_quant_batch(&x), &q.dequant, &b, &g, batch);
        assert!(rel_err(&y, &want) < 1e-5, "conv: {}", rel_err(&y, &want));
    }
}

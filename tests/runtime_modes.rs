//! Weight-only (W8/W4/W2 packed) and dynamic (ALWC / ACWL) quantization.

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use qplay::quant::{kernels, Method, QParams, Rounding, Scheme};
use qplay::runtime::dynamic::{DynamicLinear, DynamicMode};
use qplay::runtime::gemm_f32::scalar::gemm;
use qplay::runtime::weight_only::PackedIntWeights;

#[macro_use]
mod common;

fn data(n: usize, k: f32) -> Vec<f32> {
    (0..n).map(|i| ((i as f32 + 0.5) * k).sin() + 0.3 * ((i as f32) * 0.11).cos()).collect()
}

/// ‖a − b‖ / ‖b‖
fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (num / den).sqrt()
}

both! {
    packed_weights_hold_the_rounded_integers_in_fewer_bytes {
        let (n, k) = (5, 13); // K not a multiple of 4 or 8: rows are padded
        let w = data(n * k, 0.77);
        for bits in [2u8, 4, 8] {
            let p = PackedIntWeights::pack(&w, n, k, bits).unwrap();
            let qmax = ((1i32 << (bits - 1)) - 1) as f32;
            assert_eq!(p.data.len(), n * (k * bits as usize).div_ceil(8), "{bits}-bit storage");
            let mut row = vec![0f32; k];
            for o in 0..n {
                p.unpack_row(o, &mut row);
                let amax = w[o * k..(o + 1) * k].iter().fold(0f32, |m, v| m.max(v.abs()));
                for j in 0..k {
                    let want = (w[o * k + j] / (amax / qmax)).round_ties_even().clamp(-qmax, qmax);
                    assert_eq!(row[j], want, "{bits}-bit w[{o},{j}]");
                }
                assert!(row.iter().any(|&q| q < 0.0), "negative values survive packing");
            }
        }
        assert!(PackedIntWeights::pack(&w, n, k, 3).is_err());
        assert!(PackedIntWeights::pack(&w[1..], n, k, 4).is_err());
    }

    weight_only_forward_dequantizes_on_the_fly {
        let (m, n, k) = (7, 9, 40);
        let (x, w, b) = (data(m * k, 0.31), data(n * k, 0.57), data(n, 1.9));
        let mut fp32 = vec![0f32; m * n];
        gemm(&x, &w, m, n, k, &mut fp32);
        for (v, bb) in fp32.chunks_mut(n).flat_map(|r| r.iter_mut().zip(&b)) {
            *v += bb;
        }
        let mut errs = Vec::new();
        for bits in [8u8, 4, 2] {
            let p = PackedIntWeights::pack(&w, n, k, bits).unwrap();
            let mut y = vec![0f32; m * n];
            p.forward(&x, m, &b, &mut y);
            // Against the float GEMM on the dequantized weights: only the summation order differs.
            let mut q = vec![0f32; k];
            let mut wd = vec![0f32; n * k];
            for o in 0..n {
                p.unpack_row(o, &mut q);
                for j in 0..k {
                    wd[o * k + j] = q[j] * p.scales[o];
                }
            }
            let mut sim = vec![0f32; m * n];
            gemm(&x, &wd, m, n, k, &mut sim);
            for (v, bb) in sim.chunks_mut(n).flat_map(|r| r.iter_mut().zip(&b)) {
                *v += bb;
            }
            assert!(rel_err(&y, &sim) < 1e-5, "{bits}-bit: {}", rel_err(&y, &sim));
            errs.push(rel_err(&y, &fp32));
        }
        assert!(errs[0] < 0.01 && errs[0] < errs[1] && errs[1] < errs[2], "W8 < W4 < W2 error: {errs:?}");
    }

    dynamic_alwc_is_the_integer_form_of_the_simulated_result {
        let (m, n, k) = (6, 10, 33);
        let (x, w, b) = (data(m * k, 0.43), data(n * k, 0.29), data(n, 0.7));
        let alwc = DynamicLinear::new(&w, n, k, &b, DynamicMode::Alwc).unwrap();
        let y = alwc.forward(&x, m).unwrap();
        // Simulated: fake-quant x with the batch's range, weights per channel, float GEMM.
        let lo = x.iter().copied().fold(0f32, f32::min);
        let hi = x.iter().copied().fold(0f32, f32::max);
        let (p, _) = QParams::from_range(lo, hi, &Scheme::lab(Method::Normal, 8)).unwrap();
        let mut xd = vec![0f32; x.len()];
        kernels::fake_quant(&x, &p, Rounding::HalfEven, 0, &mut xd);
        let mut wd = w.clone();
        for o in 0..n {
            let row = &mut wd[o * k..(o + 1) * k];
            let s = row.iter().fold(0f32, |a, v| a.max(v.abs())) / 127.0;
            for v in row.iter_mut() {
                *v = (*v / s).round_ties_even().clamp(-127.0, 127.0) * s;
            }
        }
        let mut sim = vec![0f32; m * n];
        gemm(&xd, &wd, m, n, k, &mut sim);
        for (v, bb) in sim.chunks_mut(n).flat_map(|r| r.iter_mut().zip(&b)) {
            *v += bb;
        }
        assert!(rel_err(&y, &sim) < 1e-5, "{}", rel_err(&y, &sim));
        // And both dynamic modes stay close to FP32.
        let mut fp32 = vec![0f32; m * n];
        gemm(&x, &w, m, n, k, &mut fp32);
        for (v, bb) in fp32.chunks_mut(n).flat_map(|r| r.iter_mut().zip(&b)) {
            *v += bb;
        }
        let acwl = DynamicLinear::new(&w, n, k, &b, DynamicMode::Acwl).unwrap().forward(&x, m).unwrap();
        assert!(rel_err(&y, &fp32) < 0.02, "ALWC {}", rel_err(&y, &fp32));
        assert!(rel_err(&acwl, &fp32) < 0.02, "ACWL {}", rel_err(&acwl, &fp32));
        // Bad input is a typed error.
        assert!(alwc.forward(&x[1..], m).is_err());
        let mut nan = x.clone();
        nan[3] = f32::NAN;
        assert!(alwc.forward(&nan, m).is_err());
    }
}

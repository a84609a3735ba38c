// The simd128 requantization and the requantized GEMMs against the scalar
// reference (`requant::requantize`, TFLite semantics): bit-exact over random
// accumulators, multipliers and shifts, and over the edge cases — the one
// saturating product INT32_MIN · INT32_MIN (reached directly and through a left
// shift), negative and zero multipliers, right shifts of 0 to 31, left shifts
// up to and past 31 (which wrap like `wrapping_shl`), zero points at −128 and
// 127 and far outside int8 (the clamp bounds then need their second clamp),
// act_min/act_max clamps, and ragged channel counts.

use qplay::runtime::gemm_i8::{self, PackedW};
use qplay::runtime::requant::{self, quantize_multiplier, OutputStage, QuantizedMultiplier};

use super::gemm_i8::{shapes, Gen};

/// (zp_y, act_min, act_max): int8 ranges with every kind of zero point.
const CLAMPS: [(i32, i32, i32); 9] = [
    (0, -128, 127),
    (-128, -128, 127),
    (127, -128, 127),
    (127, 127, 127),
    (-128, -128, -128),
    (5, 5, 127),
    (-3, -20, 30),
    (i32::MAX, -128, 127),
    (i32::MIN, -128, 127),
];

fn multiplier(g: &mut Gen) -> QuantizedMultiplier {
    match g.below(8) {
        0 => QuantizedMultiplier { multiplier: i32::MIN, shift: g.below(3) as i32 - 1 },
        1 => QuantizedMultiplier { multiplier: g.next() as i32, shift: g.below(72) as i32 - 31 },
        2 => QuantizedMultiplier { multiplier: 0, shift: 0 },
        3 => QuantizedMultiplier { multiplier: -(g.next() as i32 & i32::MAX), shift: -(g.below(32) as i32) },
        4 => QuantizedMultiplier { multiplier: (1 << 30) + (g.next() as i32 & 0x3fff_ffff), shift: 31 + g.below(4) as i32 },
        // real in [2^−32, 1): the shifts quantize_multiplier gives.
        _ => quantize_multiplier(f64::from_bits((991u64 << 52) + (g.next() >> 7))),
    }
}

fn accumulator(g: &mut Gen) -> i32 {
    match g.below(6) {
        0 => i32::MIN,
        1 => i32::MAX,
        2 => 1 << 30,
        3 => (g.next() as i32) >> g.below(31),
        _ => g.next() as i32,
    }
}

fn check_rows(acc: &[i32], stage: &OutputStage, what: &str) {
    let mut want = vec![0i8; acc.len()];
    requant::requantize_rows(acc, stage, &mut want);
    for r in requant::all() {
        let mut got = vec![99i8; acc.len()];
        (r.run)(acc, stage, &mut got);
        if got != want {
            let i = got.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(0);
            let ch = i % stage.n();
            panic!(
                "{} {what}: [{i}] acc {} bias {} {:?} zp {} clamp {:?}: {} vs {}",
                r.name,
                acc[i],
                stage.bias()[ch],
                stage.multipliers()[ch],
                stage.zp_y(),
                stage.clamp(),
                got[i],
                want[i]
            );
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_requantization_matches_the_reference() {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    assert!(requant::all().iter().any(|r| r.name == "simd128"));
    let mut g = Gen(0x1234_5678_9abc_def1);
    for n in (1..=13).chain([37, 64]) {
        for (zp, lo, hi) in CLAMPS {
            let m = 1 + g.below(9);
            let bias: Vec<i32> = (0..n).map(|_| if g.below(3) == 0 { accumulator(&mut g) } else { 0 }).collect();
            let mults: Vec<QuantizedMultiplier> = (0..n).map(|_| multiplier(&mut g)).collect();
            let stage = OutputStage::new(bias, mults, zp, lo, hi);
            let acc: Vec<i32> = (0..m * n).map(|_| accumulator(&mut g)).collect();
            check_rows(&acc, &stage, &format!("random N={n}"));
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn requantization_edge_cases_match_the_reference() {
    let q = |multiplier: i32, shift: i32| QuantizedMultiplier { multiplier, shift };
    // Each column is one channel; every accumulator below meets every channel.
    let channels = [
        q(i32::MIN, 0),            // INT32_MIN · INT32_MIN saturates to INT32_MAX …
        q(i32::MIN, 1),            // … also after a left shift that makes x = INT32_MIN (2^30 · 2)
        q(i32::MIN, -31),          // … then the largest right shift
        q(i32::MAX, 0),
        q(-i32::MAX, -5),          // negative multiplier
        q(-(1 << 30), 30),         // negative, largest left shift from quantize_multiplier
        q(1 << 30, 31),            // left shift 31: x = acc · 2^31 (wrapping)
        q(1 << 30, 40),            // shift past 31 wraps like wrapping_shl (by 8)
        q(0, 0),                   // zero multiplier
        q(1_374_389_504, -5),      // the hand-computed example of tests/suite/qlinear.rs
        q(1 << 30, -1),            // exact halves round away from zero
        q(1 << 30, -31),
        q(1_610_612_736, -3),
    ];
    let accs = [i32::MIN, i32::MIN + 1, -(1 << 30), -65, -64, -63, -3, -2, -1, 0, 1, 2, 3, 63, 64, 65, 1 << 30, (1 << 30) + 1, i32::MAX];
    for (zp, lo, hi) in CLAMPS {
        for bias in [0, i32::MIN, i32::MAX, -12345] {
            let n = channels.len();
            let stage = OutputStage::new(vec![bias; n], channels.to_vec(), zp, lo, hi);
            let acc: Vec<i32> = accs.iter().flat_map(|&a| std::iter::repeat_n(a, n)).collect();
            check_rows(&acc, &stage, &format!("edge cases, bias {bias}"));
        }
    }
    // Outputs beyond int8: the kernels keep the reference's `as i8` (wrapping) store.
    let stage = OutputStage::new(vec![0; 5], vec![q(1 << 30, 8); 5], 0, -1000, 1000);
    check_rows(&[-3, -1, 0, 1, 3, 900, -900, 200, -200, 129], &stage, "wide clamp");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_requantized_gemm_matches_the_reference() {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    assert!(gemm_i8::all_requant().iter().any(|q| q.name == "simd128"));
    let mut g = Gen(0x0dd_ba11_c0ff_ee00);
    for (i, (m, n, k)) in shapes(&mut g).into_iter().enumerate() {
        let a: Vec<i8> = (0..m * k).map(|_| g.i8()).collect();
        let w: Vec<i8> = (0..n * k).map(|_| g.i8()).collect();
        let packed = PackedW::pack(&w, n, k);
        let (zp, lo, hi) = CLAMPS[i % CLAMPS.len()];
        let bias: Vec<i32> = (0..n).map(|_| if g.below(4) == 0 { accumulator(&mut g) } else { (g.next() as i32) >> 12 }).collect();
        // Mostly realistic multipliers (outputs spread over int8), some edge ones.
        let mults: Vec<QuantizedMultiplier> = (0..n)
            .map(|_| if g.below(4) == 0 { multiplier(&mut g) } else { quantize_multiplier(1.0 / (64.0 + g.below(20_000) as f64)) })
            .collect();
        let stage = OutputStage::new(bias, mults, zp, lo, hi);
        let mut want = vec![0i8; m * n];
        (gemm_i8::QSCALAR.run)(&a, m, &packed, &stage, &mut want);
        for q in gemm_i8::all_requant() {
            let mut got = vec![99i8; m * n];
            (q.run)(&a, m, &packed, &stage, &mut got);
            assert_eq!(got, want, "{} at M={m} N={n} K={k}, clamp {:?}", q.name, (zp, lo, hi));
        }
    }
}

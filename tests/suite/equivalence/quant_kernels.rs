// Every kernel set compiled into this build against the scalar reference:
// bit-identical integers and floats. Under wasm32 + simd128 (headless
// Chromium) this is where the SIMD kernels are checked.

use qplay::quant::kernels::{self, SCALAR};
use qplay::quant::{QParams, Rounding, Scheme};

/// A small deterministic generator for test data (xorshift64*).
struct Gen(u64);
impl Gen {
    fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u32 << 24) as f32) * 2.0 - 1.0
    }
}

fn cases() -> Vec<(Vec<f32>, QParams, Rounding)> {
    let mut g = Gen(0x5eed);
    let mut out = Vec::new();
    for (n, bits, scale_mul) in [(0usize, 8u8, 1.0f32), (1, 8, 1.0), (3, 4, 3.0), (17, 2, 0.5), (1000, 8, 1.7), (4099, 16, 1.0)] {
        let mut x: Vec<f32> = (0..n).map(|_| g.next_f32() * scale_mul).collect();
        // Exact ties: values that land on k + 0.5 after r / s + Z.
        for (i, v) in x.iter_mut().enumerate().take(8) {
            *v = (i as f32 - 4.0 + 0.5) * 0.25;
        }
        for method in qplay::quant::Method::ALL {
            for rounding in [Rounding::HalfEven, Rounding::HalfAway, Rounding::Floor, Rounding::Stochastic { seed: 7 }] {
                let mut scheme = Scheme::lab(method, bits);
                scheme.rounding = rounding;
                let (p, _) = QParams::from_range(-scale_mul, 0.9 * scale_mul, &scheme).unwrap();
                let p = QParams { scale: if n < 20 { 0.25 } else { p.scale }, ..p };
                out.push((x.clone(), p, rounding));
            }
        }
    }
    out
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_kernel_set_matches_the_scalar_reference_exactly() {
    let sets = kernels::all();
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    assert!(sets.iter().any(|k| k.name == "simd128"), "the simd128 build must register its kernels");
    for (x, p, rounding) in cases() {
        let n = x.len();
        let (mut q_ref, mut d_ref, mut f_ref) = (vec![0; n], vec![0f32; n], vec![0f32; n]);
        (SCALAR.quantize)(&x, &p, rounding, 3, &mut q_ref);
        (SCALAR.dequantize)(&q_ref, &p, &mut d_ref);
        (SCALAR.fake_quant)(&x, &p, rounding, 3, &mut f_ref);
        for k in &sets {
            let (mut q, mut d, mut f) = (vec![0; n], vec![0f32; n], vec![0f32; n]);
            (k.quantize)(&x, &p, rounding, 3, &mut q);
            (k.dequantize)(&q_ref, &p, &mut d);
            (k.fake_quant)(&x, &p, rounding, 3, &mut f);
            assert_eq!(q, q_ref, "{} quantize, n={n}, {rounding:?}", k.name);
            assert_eq!(bits(&d), bits(&d_ref), "{} dequantize, n={n}", k.name);
            assert_eq!(bits(&f), bits(&f_ref), "{} fake_quant, n={n}, {rounding:?}", k.name);
            assert_eq!(bits(&f), bits(&d_ref), "{} fake_quant = dequantize(quantize)", k.name);
        }
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

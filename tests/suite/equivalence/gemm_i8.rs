// Every int8 GEMM in this build against the plain scalar reference, over
// random shapes including ragged ones (M, N, K not multiples of the tile or of
// the row block), and extreme values. Integers must match exactly. Under
// wasm32 + simd128 (headless Chromium and Node) this checks the SIMD kernel
// and every measured variant (`gemm_i8::variants`).

use qplay::runtime::gemm_i8::{self, scalar, PackedW};

pub struct Gen(pub u64);
impl Gen {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn i8(&mut self) -> i8 {
        self.next() as i8
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn check(m: usize, n: usize, k: usize, a: &[i8], w: &[i8]) {
    let mut want = vec![0i32; m * n];
    scalar::gemm(a, w, m, n, k, &mut want);
    let packed = PackedW::pack(w, n, k);
    for g in gemm_i8::all() {
        let mut got = vec![-1i32; m * n];
        (g.run)(a, m, &packed, &mut got);
        assert_eq!(got, want, "{} at M={m} N={n} K={k}", g.name);
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    for v in gemm_i8::variants::all().into_iter().filter(|v| v.exact) {
        let packed = (v.pack)(w, n, k);
        let mut got = vec![-1i32; m * n];
        (v.run)(a, m, n, k, &packed, &mut got);
        assert_eq!(got, want, "variant {} at M={m} N={n} K={k}", v.name);
    }
}

/// Shapes that cross every boundary: tiles of 1–4 rows, panels of 4–16
/// columns, k blocks of 8, row blocks of 2, 16 and 64 rows.
pub fn shapes(g: &mut Gen) -> Vec<(usize, usize, usize)> {
    let mut shapes = vec![
        (1, 1, 1),
        (1, 8, 2),
        (4, 8, 16),
        (5, 9, 3),
        (3, 7, 1),
        (0, 5, 4),
        (2, 3, 0),
        (16, 128, 784),
        (17, 10, 64),
        (65, 13, 9),
        (131, 20, 17),
        (3, 130, 24),
    ];
    for _ in 0..40 {
        shapes.push((1 + g.below(13), 1 + g.below(37), 1 + g.below(91)));
    }
    shapes
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_gemm_matches_the_reference_on_random_and_ragged_shapes() {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    assert!(gemm_i8::all().iter().any(|g| g.name == "simd128"));
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    for (m, n, k) in shapes(&mut g) {
        let a: Vec<i8> = (0..m * k).map(|_| g.i8()).collect();
        let w: Vec<i8> = (0..n * k).map(|_| g.i8()).collect();
        check(m, n, k, &a, &w);
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn extreme_values_accumulate_exactly() {
    // −128 · −128 summed over K = 4097: 67 125 248, far from i32 overflow, and
    // the i16 pair products (2 · 16384) fit the dot instruction.
    for (m, n, k) in [(5, 9, 4097), (4, 8, 2)] {
        let a = vec![-128i8; m * k];
        let w = vec![-128i8; n * k];
        check(m, n, k, &a, &w);
        let w2: Vec<i8> = (0..n * k).map(|i| if i % 2 == 0 { 127 } else { -128 }).collect();
        check(m, n, k, &a, &w2);
    }
}

// Every f32 GEMM in this build against the plain scalar reference, over random
// and ragged shapes. Tolerance: 0 (bit-identical), because every kernel adds
// the products in increasing k without fused multiply-add.

use qplay::runtime::gemm_f32::{self, scalar, PackedWf32};

/// Allowed |difference| between a kernel and the reference, in ULPs.
const TOLERANCE_ULPS: u32 = 0;

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_f32_gemm_matches_the_reference() {
    let mut s = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        ((s >> 40) as f32 / (1u32 << 24) as f32) * 2.0 - 1.0
    };
    let mut shapes = vec![(1usize, 1usize, 1usize), (4, 8, 3), (5, 9, 17), (0, 3, 2), (3, 0, 4), (2, 5, 0), (16, 128, 784)];
    // One row against four panels at a time, with panels left over and a ragged last one.
    shapes.extend([(1, 32, 5), (1, 37, 19), (1, 64, 288), (5, 70, 33), (1, 768, 288), (9, 59, 7)]);
    for i in 0..30 {
        shapes.push((1 + i % 11, 1 + (i * 7) % 29, 1 + (i * 13) % 67));
    }
    for (m, n, k) in shapes {
        let a: Vec<f32> = (0..m * k).map(|_| next()).collect();
        let w: Vec<f32> = (0..n * k).map(|_| next()).collect();
        let mut want = vec![0f32; m * n];
        scalar::gemm(&a, &w, m, n, k, &mut want);
        let packed = PackedWf32::pack(&w, n, k);
        for g in gemm_f32::all() {
            let mut got = vec![f32::NAN; m * n];
            (g.run)(&a, m, &packed, &mut got);
            for (i, (x, y)) in got.iter().zip(&want).enumerate() {
                let ulps = (x.to_bits() as i64 - y.to_bits() as i64).unsigned_abs() as u32;
                assert!(ulps.saturating_sub(TOLERANCE_ULPS) == 0, "{} M={m} N={n} K={k} [{i}]: {x} vs {y}", g.name);
            }
        }
    }
}

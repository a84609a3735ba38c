//! The weight formats and kernels a language model's Linear layers run on:
//! llama.cpp's Q8_0 / Q4_0 / Q4_1 blocks against the PyPI `gguf` package
//! (fixtures from scripts/make_gguf_fixtures.py, bit for bit), RTN grouped
//! weights on hand-computed rows, and every quantized-matmul kernel of the build
//! against the scalar reference over ragged shapes: integer dots and the int8
//! product exactly, the float product within `f32_grouped_tolerance`, and both
//! against an f32 GEMM on the dequantized weights.
//!
//! Runs natively and in wasm under Node (`cargo test --target wasm32-unknown-unknown
//! --test lm_kernels`); tests/equivalence_browser.rs includes this file, so the
//! same tests run in headless Chromium on the simd128 build.

use qplay::quant::ggml::{self, GgmlType};
use qplay::quant::grouped::{quantize_rtn, GroupedWeights, RtnSpec, ScaleFormat, MAX_GROUP};
use qplay::quant::QuantError;
use qplay::runtime::gemm_f32::{scalar as f32_scalar, PackedWf32};
use qplay::runtime::qmatmul::{self, f32_grouped_tolerance, quantize_activations, quantize_activations_static_into, QuantizedActs};


// ---- fixtures ----

struct Fixture {
    name: &'static str,
    ty: GgmlType,
    x: Vec<f32>,
    blocks: Vec<u8>,
    y: Vec<f32>,
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// `u32 n | f32 x[n] | blocks | f32 y[n]` (scripts/make_gguf_fixtures.py).
fn parse(name: &'static str, ty: GgmlType, b: &[u8]) -> Fixture {
    let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let nb = ty.bytes_for(n).unwrap();
    assert_eq!(b.len(), 4 + 8 * n + nb, "{name} {ty:?}: file size");
    let x = f32s(&b[4..4 + 4 * n]);
    let blocks = b[4 + 4 * n..4 + 4 * n + nb].to_vec();
    let y = f32s(&b[4 + 4 * n + nb..]);
    Fixture { name, ty, x, blocks, y }
}

fn all_fixtures() -> Vec<Fixture> {
    vec![
        parse("normal", GgmlType::Q8_0, fixture!("gguf/normal.q8_0.bin")),
        parse("normal", GgmlType::Q4_0, fixture!("gguf/normal.q4_0.bin")),
        parse("normal", GgmlType::Q4_1, fixture!("gguf/normal.q4_1.bin")),
        parse("outliers", GgmlType::Q8_0, fixture!("gguf/outliers.q8_0.bin")),
        parse("outliers", GgmlType::Q4_0, fixture!("gguf/outliers.q4_0.bin")),
        parse("outliers", GgmlType::Q4_1, fixture!("gguf/outliers.q4_1.bin")),
        parse("zeros", GgmlType::Q8_0, fixture!("gguf/zeros.q8_0.bin")),
        parse("zeros", GgmlType::Q4_0, fixture!("gguf/zeros.q4_0.bin")),
        parse("zeros", GgmlType::Q4_1, fixture!("gguf/zeros.q4_1.bin")),
        parse("constant", GgmlType::Q8_0, fixture!("gguf/constant.q8_0.bin")),
        parse("constant", GgmlType::Q4_0, fixture!("gguf/constant.q4_0.bin")),
        parse("constant", GgmlType::Q4_1, fixture!("gguf/constant.q4_1.bin")),
        parse("tiny", GgmlType::Q8_0, fixture!("gguf/tiny.q8_0.bin")),
        parse("tiny", GgmlType::Q4_0, fixture!("gguf/tiny.q4_0.bin")),
        parse("tiny", GgmlType::Q4_1, fixture!("gguf/tiny.q4_1.bin")),
        parse("huge", GgmlType::Q8_0, fixture!("gguf/huge.q8_0.bin")),
        parse("huge", GgmlType::Q4_0, fixture!("gguf/huge.q4_0.bin")),
        parse("huge", GgmlType::Q4_1, fixture!("gguf/huge.q4_1.bin")),
        parse("ties", GgmlType::Q8_0, fixture!("gguf/ties.q8_0.bin")),
        parse("ties", GgmlType::Q4_0, fixture!("gguf/ties.q4_0.bin")),
        parse("ties", GgmlType::Q4_1, fixture!("gguf/ties.q4_1.bin")),
    ]
}

/// Bit-for-bit equality, except that any NaN equals any NaN (NaN payloads are
/// not portable: wasm does not fix them).
fn same_bits(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
            "{what}[{i}]: {x:e} ({:#010x}) vs {y:e} ({:#010x})",
            x.to_bits(),
            y.to_bits()
        );
    }
}

// ---- a small deterministic generator ----

struct Gen(u64);
impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in [−1, 1).
    fn uniform(&mut self) -> f32 {
        ((self.next() >> 40) as f32 / (1u32 << 24) as f32) * 2.0 - 1.0
    }
    /// Roughly normal (sum of 4 uniforms), with an occasional outlier.
    fn weight(&mut self) -> f32 {
        let v = (0..4).map(|_| self.uniform()).sum::<f32>() * 0.5;
        if self.next().is_multiple_of(61) {
            v * 12.0
        } else {
            v
        }
    }
}

// ---- the weight formats every kernel runs on ----

#[derive(Clone, Copy, Debug)]
enum Fmt {
    /// 8-bit symmetric (o = 0, no min): Q8_0-like.
    S8,
    /// 8-bit asymmetric (o = 0, min).
    A8,
    /// 4-bit symmetric (o = 8, no min): Q4_0-like.
    S4,
    /// 4-bit asymmetric (o = 0, min): Q4_1-like.
    A4,
    /// 4-bit, o = 0, no min (unsigned levels only).
    U4,
    /// 4-bit, o = 8, with a min.
    S4Min,
}

const FORMATS: [Fmt; 6] = [Fmt::S8, Fmt::A8, Fmt::S4, Fmt::A4, Fmt::U4, Fmt::S4Min];

fn make_weights(g: &mut Gen, n: usize, k: usize, group: usize, fmt: Fmt) -> GroupedWeights {
    let w: Vec<f32> = (0..n * k).map(|_| g.weight()).collect();
    let (bits, symmetric) = match fmt {
        Fmt::S8 => (8, true),
        Fmt::A8 => (8, false),
        Fmt::S4 | Fmt::S4Min => (4, true),
        Fmt::A4 | Fmt::U4 => (4, false),
    };
    let mut q = quantize_rtn(&w, n, k, RtnSpec { bits, group, symmetric, narrow: false }).unwrap();
    match fmt {
        Fmt::U4 => q.min = None,
        Fmt::S4Min => q.min = Some((0..q.scale.len()).map(|_| g.uniform() * 0.1).collect()),
        _ => {}
    }
    q.validate().unwrap();
    q
}

fn activations(g: &mut Gen, m: usize, k: usize) -> Vec<f32> {
    (0..m * k)
        .map(|i| {
            // A zero row segment now and then (a zero group), and a few large values.
            if (i / 32) % 17 == 5 {
                0.0
            } else {
                g.weight() * 2.0
            }
        })
        .collect()
}

/// The f32 GEMM on the dequantized weights: what the kernels approximate.
fn dequantized_matmul(x: &[f32], m: usize, w: &GroupedWeights) -> Vec<f32> {
    let wd = w.dequantize().unwrap();
    let mut y = vec![0f32; m * w.n];
    f32_scalar::gemm(x, &wd, m, w.n, w.k, &mut y);
    y
}

// ---- the shapes ----

fn shape_cases() -> Vec<(usize, usize, usize, usize)> {
    // (M, N, K, group): every M ∈ {1, 2, 3, 7}, N ∈ {1, 5, 64, 130}, K ∈ {32, 64, 96, 640},
    // group ∈ {32, 64, 128, K} where it divides K; (M, N) pairs rotate so that each K and
    // group meets several of them without running the full product.
    let mn = [(1, 1), (2, 5), (3, 64), (7, 130), (1, 130), (7, 1), (2, 64), (3, 5)];
    let mut out = Vec::new();
    let mut turn = 0;
    for k in [32usize, 64, 96, 640] {
        let mut groups: Vec<usize> = [32usize, 64, 128, k].into_iter().filter(|g| k % g == 0).collect();
        groups.dedup();
        for group in groups {
            for _ in 0..4 {
                let (m, n) = mn[turn % mn.len()];
                turn += 1;
                out.push((m, n, k, group));
            }
        }
    }
    for m in [1, 2, 3, 7] {
        assert!(out.iter().any(|c| c.0 == m));
    }
    for n in [1, 5, 64, 130] {
        assert!(out.iter().any(|c| c.1 == n));
    }
    out
}

both! {
    // ---- llama.cpp blocks against gguf-py ----

    ggml_blocks_match_gguf_bit_for_bit {
        let fixtures = all_fixtures();
        assert_eq!(fixtures.len(), 21);
        for f in &fixtures {
            let what = format!("{} {}", f.name, f.ty.name());
            let ours = ggml::quantize(f.ty, &f.x).unwrap();
            assert_eq!(ours.len(), f.blocks.len(), "{what}: block bytes");
            for (i, (a, b)) in ours.iter().zip(&f.blocks).enumerate() {
                assert_eq!(a, b, "{what}: byte {i} (block {}, offset {})", i / f.ty.type_size(), i % f.ty.type_size());
            }
            same_bits(&ggml::dequantize(f.ty, &f.blocks).unwrap(), &f.y, &format!("{what} dequantized"));
        }
    }

    ggml_fixtures_cover_the_edge_cases {
        let fixtures = all_fixtures();
        let get = |name: &str, ty: GgmlType| fixtures.iter().find(|f| f.name == name && f.ty == ty).unwrap();
        let d = |b: &[u8], at: usize| half::f16::from_bits(u16::from_le_bytes([b[at], b[at + 1]])).to_f32();
        // Huge values: d overflows f16 to ±Inf, and 0 · Inf makes NaN.
        let huge = get("huge", GgmlType::Q8_0);
        assert!(d(&huge.blocks, 0).is_infinite());
        assert!(get("huge", GgmlType::Q4_0).y.iter().any(|v| v.is_nan()));
        // Tiny values: d underflows to 0 in f16 (the integers are computed with the f32 d).
        let tiny = get("tiny", GgmlType::Q8_0);
        assert_eq!(d(&tiny.blocks, 0), 0.0);
        assert!(tiny.blocks[2..34].iter().any(|&q| q != 0));
        // Ties with d = 1: Q8_0 rounds half away from zero, Q4_0 and Q4_1 round half up.
        let t8 = get("ties", GgmlType::Q8_0);
        assert_eq!(d(&t8.blocks, 0), 1.0);
        assert_eq!(t8.blocks[2 + 18] as i8, 1, "0.5 → 1");
        assert_eq!(t8.blocks[2 + 19] as i8, -1, "−0.5 → −1");
        assert_eq!(t8.blocks[2 + 23] as i8, -3, "−2.5 → −3");
        let t4 = get("ties", GgmlType::Q4_0);
        let b = &t4.blocks[18..36];
        assert_eq!(d(b, 0), 1.0);
        // value 1 is −7.5: trunc(−7.5 + 8.5) = 1, i.e. −7 (up); value 8 is −0.5 → 8 (0).
        assert_eq!(b[2 + 1] & 0x0F, 1);
        assert_eq!(b[2 + 8] & 0x0F, 8);
        // value 16 is 7.5 → 16, capped at 15.
        assert_eq!(b[2] >> 4, 15);
        // The first of ±0.5 sets the sign of d (Q4_0).
        let last = t4.blocks.len() / 18;
        assert!(d(&t4.blocks, (last - 2) * 18) < 0.0 && d(&t4.blocks, (last - 1) * 18) > 0.0);
    }

    ggml_negative_zero_block_follows_ggml_c {
        // ggml's C keeps max = 0.0 for a block of −0.0, so d = 0.0 / −8 = −0.0
        // (bits 0x8000); gguf-py takes max = x[0] = −0.0 and stores +0.0. We follow C.
        let x = [-0.0f32; 32];
        let b = ggml::quantize_q4_0(&x).unwrap();
        assert_eq!(&b[..2], &[0x00, 0x80]);
        assert!(b[2..].iter().all(|&q| q == 0x88));
        let y = ggml::dequantize_q4_0(&b).unwrap();
        assert!(y.iter().all(|v| v.to_bits() == 0x8000_0000), "0 · −0.0 = −0.0");
        // Q8_0 and Q4_1 agree with gguf-py here: d = +0.0; Q4_1's m = −0.0.
        assert_eq!(&ggml::quantize_q8_0(&x).unwrap()[..2], &[0, 0]);
        assert_eq!(&ggml::quantize_q4_1(&x).unwrap()[..4], &[0, 0, 0x00, 0x80]);
    }

    ggml_block_layouts_and_bits_per_weight {
        assert_eq!(GgmlType::Q8_0.type_size(), 34);
        assert_eq!(GgmlType::Q4_0.type_size(), 18);
        assert_eq!(GgmlType::Q4_1.type_size(), 20);
        let fixtures = all_fixtures();
        for f in fixtures.iter().filter(|f| f.name == "normal") {
            let w = ggml::to_grouped(f.ty, &f.blocks, 4, 64).unwrap();
            let bpw = match f.ty { GgmlType::Q8_0 => 8.5, GgmlType::Q4_0 => 4.5, GgmlType::Q4_1 => 5.0 };
            assert_eq!(w.bits_per_weight(), bpw, "{:?}", f.ty);
            assert_eq!(w.bytes(), f.blocks.len());
            assert_eq!(w.scale_format, ScaleFormat::F16);
        }
    }

    ggml_to_grouped_is_lossless_and_runs_on_the_kernels {
        let fixtures = all_fixtures();
        for f in fixtures.iter().filter(|f| matches!(f.name, "normal" | "outliers" | "ties")) {
            let k = if f.x.len() % 64 == 0 { 64 } else { 32 };
            let n = f.x.len() / k;
            let what = format!("{} {}", f.name, f.ty.name());
            let w = ggml::to_grouped(f.ty, &f.blocks, n, k).unwrap();
            assert_eq!((w.group, w.bits, w.offset, w.min.is_some()), match f.ty {
                GgmlType::Q8_0 => (32, 8, 0, false),
                GgmlType::Q4_0 => (32, 4, 8, false),
                GgmlType::Q4_1 => (32, 4, 0, true),
            });
            // Dequantizing the grouped weights gives gguf's floats bit for bit …
            same_bits(&w.dequantize().unwrap(), &f.y, &format!("{what} grouped dequantized"));
            // … and converting back gives the same blocks.
            assert_eq!(ggml::from_grouped(&w, f.ty).unwrap(), f.blocks, "{what}: back to blocks");
            // The kernels on the blocks as they are, against an f32 GEMM on gguf's dequantization.
            let mut g = Gen(0x9e37_79b9_7f4a_7c15);
            let m = 3;
            let x = activations(&mut g, m, k);
            let mut want = vec![0f32; m * n];
            f32_scalar::gemm(&x, &f.y, m, n, k, &mut want);
            for kern in qmatmul::all() {
                let mut y = vec![f32::NAN; m * n];
                (kern.f32_grouped)(&x, m, &w, &mut y).unwrap();
                for r in 0..m {
                    for c in 0..n {
                        let tol = 2.0 * f32_grouped_tolerance(&x[r * k..(r + 1) * k], &w, c).unwrap();
                        let (a, b) = (y[r * n + c], want[r * n + c]);
                        assert!((a - b).abs() <= tol, "{what} {}: y[{r},{c}] = {a} vs {b} (tol {tol})", kern.name);
                    }
                }
            }
        }
    }

    ggml_rejects_bad_input {
        assert!(matches!(ggml::quantize_q8_0(&[1.0; 31]), Err(QuantError::GroupSize { group_size: 32, axis_len: 31 })));
        let mut x = [0.5f32; 32];
        x[7] = f32::NAN;
        assert!(matches!(ggml::quantize_q4_0(&x), Err(QuantError::NonFinite { index: 7, .. })));
        x[7] = f32::INFINITY;
        assert!(matches!(ggml::quantize_q4_1(&x), Err(QuantError::NonFinite { index: 7, .. })));
        assert!(matches!(ggml::dequantize_q4_1(&[0u8; 21]), Err(QuantError::Setting { .. })));
        assert!(ggml::dequantize_q8_0(&[]).unwrap().is_empty());
        let q40 = ggml::quantize_q4_0(&[0.25; 64]).unwrap();
        // K not a multiple of 32; wrong byte counts; an N·K that overflows.
        assert!(matches!(ggml::to_grouped(GgmlType::Q4_0, &q40, 1, 48), Err(QuantError::GroupSize { group_size: 32, axis_len: 48 })));
        assert!(matches!(ggml::to_grouped(GgmlType::Q4_0, &q40, 2, 64), Err(QuantError::LengthMismatch { .. })));
        assert!(ggml::to_grouped(GgmlType::Q4_0, &q40, usize::MAX, 64).is_err());
        assert!(ggml::to_grouped(GgmlType::Q4_0, &q40, 0, 64).is_err());
        // Back to blocks: the format must fit, and the scales must be exact f16.
        let w = ggml::to_grouped(GgmlType::Q4_0, &q40, 1, 64).unwrap();
        assert!(matches!(ggml::from_grouped(&w, GgmlType::Q4_1), Err(QuantError::Setting { name: "ggml format", .. })));
        assert!(matches!(ggml::from_grouped(&w, GgmlType::Q8_0), Err(QuantError::Setting { name: "ggml format", .. })));
        let mut w2 = w.clone();
        w2.scale[0] = 0.1;
        assert!(matches!(ggml::from_grouped(&w2, GgmlType::Q4_0), Err(QuantError::Setting { name: "scale", .. })));
        let rtn = quantize_rtn(&[0.5; 128], 1, 128, RtnSpec { bits: 4, group: 64, symmetric: true, narrow: false }).unwrap();
        assert!(matches!(ggml::from_grouped(&rtn, GgmlType::Q4_0), Err(QuantError::Setting { name: "ggml format", .. })));
    }

    // ---- RTN, hand-computed ----

    rtn_4bit_symmetric_full_range_by_hand {
        // Largest |x| is −2.0 (negative): d = −2 / −8 = 0.25, so −2.0 ↦ −8 exactly.
        let mut x = [0f32; 32];
        x[0] = -2.0; //  −8
        x[1] = 1.0; //    4
        x[2] = 0.125; //  0.5 → 0 (half to even)
        x[3] = 0.375; //  1.5 → 2
        x[4] = -0.375; // −1.5 → −2
        x[5] = 1.9; //    7.6 → 8 → clamped to 7
        x[6] = -0.6; //  −2.4 → −2
        x[16] = 0.5; //   2 (high nibble of byte 0)
        let w = quantize_rtn(&x, 1, 32, RtnSpec { bits: 4, group: 32, symmetric: true, narrow: false }).unwrap();
        assert_eq!((w.offset, w.scale.clone(), w.min.clone()), (8, vec![0.25], None));
        // u = i + 8; byte j = u[j] | u[j + 16] << 4.
        let mut q = vec![0x88u8; 16];
        q[..7].copy_from_slice(&[0xA0 /* 0 | 10 << 4 */, 0x8C, 0x88, 0x8A, 0x86, 0x8F, 0x86]);
        assert_eq!(w.q, q);
        let ints = [-8, 4, 0, 2, -2, 7, -2];
        let mut want = [0f32; 32];
        for (o, &i) in want.iter_mut().zip(&ints) {
            *o = 0.25 * i as f32;
        }
        want[16] = 0.5;
        assert_eq!(w.dequantize().unwrap(), want.to_vec());
        assert_eq!(w.bytes(), 16 + 4);
        assert_eq!(w.bits_per_weight(), 5.0);
        // Largest |x| positive: d = 2 / −8 = −0.25, and 2.0 ↦ −8 · −0.25.
        x[0] = 2.0;
        let w = quantize_rtn(&x, 1, 32, RtnSpec { bits: 4, group: 32, symmetric: true, narrow: false }).unwrap();
        assert_eq!(w.scale, vec![-0.25]);
        assert_eq!(w.q[0] & 0x0F, 0);
        assert_eq!(w.dequantize().unwrap()[0], 2.0);
    }

    rtn_8bit_symmetric_by_hand {
        // Narrow: d = 63.5 / 127 = 0.5.
        let mut x = [0f32; 32];
        x[..7].copy_from_slice(&[63.5, -63.5, 0.25, 0.75, -0.75, 1.25, 10.0]);
        let w = quantize_rtn(&x, 1, 32, RtnSpec { bits: 8, group: 32, symmetric: true, narrow: true }).unwrap();
        assert_eq!((w.offset, w.scale.clone()), (0, vec![0.5]));
        let ints: Vec<i8> = w.q.iter().map(|&b| b as i8).collect();
        assert_eq!(&ints[..7], &[127, -127, 0, 2, -2, 2, 20], "0.5 → 0, 1.5 → 2, −1.5 → −2, 2.5 → 2");
        assert_eq!(w.bits_per_weight(), (32.0 + 4.0) * 8.0 / 32.0);
        // Full range: the largest |x| (−64) ↦ −128, d = 0.5; 63.9 → 127.8 → 128 → 127.
        let mut x = [0f32; 32];
        x[0] = -64.0;
        x[1] = 63.9;
        x[2] = 64.0 - 0.25; // 127.5 → 128 (even) → 127
        let w = quantize_rtn(&x, 1, 32, RtnSpec { bits: 8, group: 32, symmetric: true, narrow: false }).unwrap();
        assert_eq!(w.scale, vec![0.5]);
        assert_eq!((w.q[0] as i8, w.q[1] as i8, w.q[2] as i8), (-128, 127, 127));
    }

    rtn_asymmetric_by_hand {
        // 4-bit: min −1, max 14, d = 1: i = round((x + 1) / 1), min stored as −1.
        let mut x = [0f32; 32];
        x[..6].copy_from_slice(&[-1.0, 14.0, 0.5, 1.5, 2.5, -0.9]);
        let w = quantize_rtn(&x, 1, 32, RtnSpec { bits: 4, group: 32, symmetric: false, narrow: false }).unwrap();
        assert_eq!((w.offset, w.scale.clone(), w.min.clone()), (0, vec![1.0], Some(vec![-1.0])));
        // x + 1 = 0, 15, 1.5 → 2, 2.5 → 2, 3.5 → 4, 0.1 → 0; the zeros → 1.
        let u: Vec<i32> = (0..6).map(|c| w.int_at(0, c).unwrap()).collect();
        assert_eq!(u, [0, 15, 2, 2, 4, 0]);
        assert_eq!(w.int_at(0, 20), Some(1));
        assert_eq!((w.int_at(1, 0), w.int_at(0, 32)), (None, None));
        assert_eq!(&w.dequantize().unwrap()[..6], &[-1.0, 14.0, 1.0, 1.0, 3.0, -1.0]);
        // 8-bit: min 0, max 255, d = 1; i − 128 is stored and min' = 0 + 128 · 1.
        let mut x = [0f32; 32];
        x[..4].copy_from_slice(&[0.0, 255.0, 100.5, 101.5]);
        let w = quantize_rtn(&x, 1, 32, RtnSpec { bits: 8, group: 32, symmetric: false, narrow: false }).unwrap();
        assert_eq!((w.scale.clone(), w.min.clone()), (vec![1.0], Some(vec![128.0])));
        assert_eq!((w.q[0] as i8, w.q[1] as i8, w.q[2] as i8, w.q[3] as i8), (-128, 127, -28, -26), "100.5 → 100, 101.5 → 102");
        assert_eq!(&w.dequantize().unwrap()[..4], &[0.0, 255.0, 100.0, 102.0]);
    }

    rtn_zero_and_constant_groups_have_no_nan {
        let mut x = vec![0f32; 64];
        x[32..].fill(-3.0);
        for bits in [8u8, 4] {
            let sym = quantize_rtn(&x, 1, 64, RtnSpec { bits, group: 32, symmetric: true, narrow: false }).unwrap();
            assert_eq!(sym.scale[0], 0.0, "zero group: scale 0");
            assert!(sym.dequantize().unwrap()[..32].iter().all(|&v| v == 0.0));
            let asym = quantize_rtn(&x, 1, 64, RtnSpec { bits, group: 32, symmetric: false, narrow: true }).unwrap();
            assert_eq!((asym.scale.clone(), asym.min.clone()), (vec![0.0, 0.0], Some(vec![0.0, -3.0])));
            assert_eq!(asym.dequantize().unwrap(), x, "{bits}-bit constant groups come back exactly");
        }
        // Tiny and huge values stay finite.
        let x: Vec<f32> = (0..64).map(|i| if i % 2 == 0 { 1e-40 } else { -3e38 + i as f32 }).collect();
        for bits in [8u8, 4] {
            for symmetric in [true, false] {
                let w = quantize_rtn(&x, 2, 32, RtnSpec { bits, group: 32, symmetric, narrow: false }).unwrap();
                assert!(w.scale.iter().all(|s| s.is_finite()));
            }
        }
    }

    rtn_rejects_bad_input {
        let spec = RtnSpec { bits: 4, group: 32, symmetric: true, narrow: false };
        let x = vec![0.5f32; 96];
        assert!(matches!(quantize_rtn(&x, 1, 96, RtnSpec { group: 64, ..spec }), Err(QuantError::GroupSize { group_size: 64, axis_len: 96 })));
        assert!(matches!(quantize_rtn(&x, 1, 96, RtnSpec { group: 0, ..spec }), Err(QuantError::GroupSize { group_size: 0, .. })));
        assert!(matches!(quantize_rtn(&x, 1, 96, RtnSpec { group: 48, ..spec }), Err(QuantError::Setting { name: "group", .. })));
        assert!(matches!(quantize_rtn(&x, 1, 96, RtnSpec { bits: 3, ..spec }), Err(QuantError::Setting { name: "bits", .. })));
        assert!(matches!(quantize_rtn(&x, 2, 96, spec), Err(QuantError::ShapeMismatch { .. })));
        assert!(matches!(quantize_rtn(&x, usize::MAX, 96, spec), Err(QuantError::ShapeMismatch { elements: None, .. })));
        assert!(matches!(quantize_rtn(&[], 0, 32, spec), Err(QuantError::Empty)));
        let mut bad = x.clone();
        bad[40] = f32::NEG_INFINITY;
        assert!(matches!(quantize_rtn(&bad, 1, 96, spec), Err(QuantError::NonFinite { index: 40, .. })));
        // 8-bit: any divisor of K, up to MAX_GROUP.
        assert!(quantize_rtn(&x, 1, 96, RtnSpec { bits: 8, group: 3, ..spec }).is_ok());
        let big = vec![0.25f32; MAX_GROUP + 1];
        assert!(matches!(quantize_rtn(&big, 1, MAX_GROUP + 1, RtnSpec { bits: 8, group: MAX_GROUP + 1, ..spec }), Err(QuantError::OutOfRange { setting: "group", .. })));
    }

    // ---- activations ----

    activations_quantize_like_runq {
        // Group 0: max |x| = 127, s = 1, round half away from zero; group 1: zeros.
        let mut x = vec![0f32; 64];
        x[..6].copy_from_slice(&[127.0, -63.5, 0.5, -0.5, 2.4, 1.5]);
        let a = quantize_activations(&x, 1, 64, 32).unwrap();
        assert_eq!(&a.q[..6], &[127, -64, 1, -1, 2, 2]);
        assert_eq!(a.scale, vec![1.0, 0.0]);
        assert_eq!(a.sum, vec![127 - 64 + 1 - 1 + 2 + 2, 0]);
        assert!(a.q[32..].iter().all(|&q| q == 0));
        assert!(matches!(quantize_activations(&x, 1, 64, 48), Err(QuantError::GroupSize { .. })));
        assert!(matches!(quantize_activations(&x, 2, 64, 32), Err(QuantError::ShapeMismatch { .. })));
        x[3] = f32::NAN;
        assert!(matches!(quantize_activations(&x, 1, 64, 32), Err(QuantError::NonFinite { index: 3, .. })));
    }

    static_activations_use_their_one_scale {
        // s = 0.5 for both tokens and both groups: q = round(x / 0.5) half away from zero, and a
        // value beyond ±127·s saturates (a static scale is fixed ahead of time).
        let mut x = vec![0f32; 128];
        x[..5].copy_from_slice(&[0.2, -0.26, 100.0, 0.25, -0.75]);
        x[64 + 40] = -63.6;
        let mut a = QuantizedActs::default();
        quantize_activations_static_into(&x, 2, 64, 32, 0.5, &mut a).unwrap();
        assert_eq!(&a.q[..5], &[0, -1, 127, 1, -2]);
        assert_eq!(a.q[64 + 40], -127);
        assert_eq!(a.scale, vec![0.5; 4], "one scale for every token and group");
        assert_eq!(a.sum, vec![125, 0, 0, -127]);
        for bad in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            assert!(matches!(quantize_activations_static_into(&x, 2, 64, 32, bad, &mut a), Err(QuantError::OutOfRange { .. })), "{bad}");
        }
        x[7] = f32::NAN;
        assert!(matches!(quantize_activations_static_into(&x, 2, 64, 32, 0.5, &mut a), Err(QuantError::NonFinite { index: 7, .. })));
        // A group longer than MAX_GROUP could overflow Σ q: refused (per token too).
        let wide = vec![1f32; MAX_GROUP + 1];
        assert!(matches!(quantize_activations_static_into(&wide, 1, MAX_GROUP + 1, MAX_GROUP + 1, 0.5, &mut a), Err(QuantError::GroupSize { .. })));
        assert!(matches!(quantize_activations(&wide, 1, MAX_GROUP + 1, MAX_GROUP + 1), Err(QuantError::GroupSize { .. })));
    }

    every_activation_quantizer_matches_the_reference {
        let mut g = Gen(0xdead_beef);
        let reference = qmatmul::all()[0];
        for (m, k, group) in [(1, 32, 32), (3, 64, 16), (2, 640, 32), (7, 96, 96), (2, 60, 12), (1, 128, 64)] {
            let mut x = activations(&mut g, m, k);
            // Exact ties of x / s: s = 1 when the group's max |x| is 127.
            x[0] = 127.0;
            x[1] = 2.5;
            x[2] = -2.5;
            let mut want = QuantizedActs::default();
            (reference.quantize_acts)(&x, m, k, group, &mut want).unwrap();
            assert_eq!((want.q[1], want.q[2]), (3, -3), "half away from zero");
            for kern in qmatmul::all() {
                let mut got = QuantizedActs { q: vec![9; 3], ..Default::default() };
                (kern.quantize_acts)(&x, m, k, group, &mut got).unwrap();
                assert_eq!(got.q, want.q, "{} M={m} K={k} g={group}: q", kern.name);
                same_bits(&got.scale, &want.scale, &format!("{} M={m} K={k} g={group}: s", kern.name));
                assert_eq!(got.sum, want.sum, "{} M={m} K={k} g={group}: Σ q", kern.name);
                // NaN / ±Inf anywhere (the first one is named, whichever group the kernel saw first).
                for (at, v) in [((m - 1) * k + 5, f32::INFINITY), (k - 1, f32::NAN), (0, f32::NEG_INFINITY)] {
                    let mut bad = x.clone();
                    bad[at] = v;
                    bad[m * k - 1] = f32::NAN;
                    let first = if at < m * k - 1 { at } else { m * k - 1 };
                    assert!(matches!((kern.quantize_acts)(&bad, m, k, group, &mut got), Err(QuantError::NonFinite { index, .. }) if index == first), "{} {v} at {at}", kern.name);
                }
            }
        }
        // Extreme finite values: the largest f32, subnormals (s underflows to 0: q = 0), a
        // constant negative group, values on the clamp.
        let k = 64;
        let cases: Vec<Vec<f32>> = vec![
            (0..k).map(|i| if i % 3 == 0 { f32::MAX } else { -f32::MAX / (i as f32 + 1.0) }).collect(),
            (0..k).map(|i| 1e-45 * (i % 5) as f32).collect(),
            (0..k).map(|i| if i < 32 { -3.25 } else { 1e-30 * i as f32 }).collect(),
            (0..k).map(|i| [127.0, -127.0, 126.5, -126.5, 0.49999997, -0.5][i % 6]).collect(),
        ];
        for x in cases {
            for group in [16, 32, 64] {
                let mut want = QuantizedActs::default();
                (reference.quantize_acts)(&x, 1, k, group, &mut want).unwrap();
                for kern in qmatmul::all() {
                    let mut got = QuantizedActs::default();
                    (kern.quantize_acts)(&x, 1, k, group, &mut got).unwrap();
                    assert_eq!(got.q, want.q, "{} g={group} {:?}: q", kern.name, &x[..4]);
                    same_bits(&got.scale, &want.scale, &format!("{} g={group}: s", kern.name));
                    assert_eq!(got.sum, want.sum, "{} g={group}: Σ q", kern.name);
                }
            }
        }
    }

    // ---- the kernels ----

    every_kernel_matches_the_reference_over_ragged_shapes {
        let mut g = Gen(0x2545_f491_4f6c_dd1d);
        let kernels = qmatmul::all();
        let reference = kernels[0];
        assert_eq!(reference.name, "scalar");
        let mut cases = 0;
        for (m, n, k, group) in shape_cases() {
            for fmt in FORMATS {
                // 4-bit needs whole blocks of 32 per group: every group here is.
                let w = make_weights(&mut g, n, k, group, fmt);
                let x = activations(&mut g, m, k);
                let a = quantize_activations(&x, m, k, group).unwrap();
                let what = format!("{fmt:?} M={m} N={n} K={k} g={group}");
                let groups = k / group;

                let mut dots_ref = vec![0i32; m * n * groups];
                (reference.i8_group_dots)(&a, m, &w, &mut dots_ref).unwrap();
                let mut y8_ref = vec![0f32; m * n];
                (reference.i8_grouped)(&a, m, &w, &mut y8_ref).unwrap();
                let mut yf_ref = vec![0f32; m * n];
                (reference.f32_grouped)(&x, m, &w, &mut yf_ref).unwrap();

                // The reference's integer dots, recomputed from the definition.
                for r in 0..m {
                    for c in 0..n {
                        for gi in 0..groups {
                            let d: i32 = (gi * group..(gi + 1) * group).map(|kk| a.q[r * k + kk] as i32 * w.int_at(c, kk).unwrap()).sum();
                            assert_eq!(dots_ref[(r * n + c) * groups + gi], d, "{what}: dot[{r},{c},{gi}]");
                        }
                    }
                }

                for kern in &kernels[1..] {
                    let mut dots = vec![-1i32; m * n * groups];
                    (kern.i8_group_dots)(&a, m, &w, &mut dots).unwrap();
                    assert_eq!(dots, dots_ref, "{what} {}: integer dots", kern.name);
                    let mut y8 = vec![f32::NAN; m * n];
                    (kern.i8_grouped)(&a, m, &w, &mut y8).unwrap();
                    same_bits(&y8, &y8_ref, &format!("{what} {}: int8 product", kern.name));
                    let mut yf = vec![f32::NAN; m * n];
                    (kern.f32_grouped)(&x, m, &w, &mut yf).unwrap();
                    for r in 0..m {
                        for c in 0..n {
                            let tol = f32_grouped_tolerance(&x[r * k..(r + 1) * k], &w, c).unwrap();
                            let (p, q) = (yf[r * n + c], yf_ref[r * n + c]);
                            assert!((p - q).abs() <= tol, "{what} {}: float product [{r},{c}] {p} vs {q} (tol {tol})", kern.name);
                        }
                    }
                }

                // Against an f32 GEMM on the dequantized weights: the float product within
                // twice the float tolerance (one more rounding per weight), the int8 product
                // within the activations' rounding, Σ_k (s_x / 2) · |w|, plus the same.
                let want = dequantized_matmul(&x, m, &w);
                let wd = w.dequantize().unwrap();
                for r in 0..m {
                    for c in 0..n {
                        let xr = &x[r * k..(r + 1) * k];
                        let tol = 2.0 * f32_grouped_tolerance(xr, &w, c).unwrap();
                        let e = (yf_ref[r * n + c] - want[r * n + c]).abs();
                        assert!(e <= tol, "{what}: float product vs dequantized [{r},{c}] off by {e} (tol {tol})");
                        let act: f32 = (0..k).map(|kk| a.scale[r * groups + kk / group] * 0.5 * wd[c * k + kk].abs()).sum();
                        let e8 = (y8_ref[r * n + c] - want[r * n + c]).abs();
                        assert!(e8 <= act * 1.001 + 2.0 * tol, "{what}: int8 product vs dequantized [{r},{c}] off by {e8} (bound {act})");
                    }
                }
                cases += 1;
            }
        }
        assert_eq!(cases, 36 * FORMATS.len(), "(M, N, K, group) × formats");
    }

    the_integer_dot_cannot_overflow_at_the_largest_group {
        // K = g = 131,040 (≤ MAX_GROUP, a multiple of 32): every product (−128) · (−128) = 2^14,
        // so idot = 131,040 · 2^14 = 2,146,959,360 < 2^31 − 1 = 2,147,483,647.
        let k = 131_040;
        assert!(k <= MAX_GROUP);
        let w = GroupedWeights {
            n: 2,
            k,
            group: k,
            bits: 8,
            q: vec![0x80; 2 * k],
            offset: 0,
            scale: vec![1.0, 0.5],
            min: None,
            scale_format: ScaleFormat::F32,
        };
        let a = QuantizedActs { m: 1, k, group: k, q: vec![-128; k], scale: vec![1.0], sum: vec![-128 * k as i32] };
        for kern in qmatmul::all() {
            let mut dots = vec![0i32; 2];
            (kern.i8_group_dots)(&a, 1, &w, &mut dots).unwrap();
            assert_eq!(dots, vec![2_146_959_360; 2], "{}", kern.name);
            let mut y = vec![0f32; 2];
            (kern.i8_grouped)(&a, 1, &w, &mut y).unwrap();
            assert_eq!(y, vec![2_146_959_360f32, 1_073_479_680f32], "{}", kern.name);
        }
        // 4-bit at the same K: |u − o| ≤ 8 with o = 8, u = 0.
        let w4 = GroupedWeights { bits: 4, offset: 8, q: vec![0; k], ..w.clone() };
        for kern in qmatmul::all() {
            let mut dots = vec![0i32; 2];
            (kern.i8_group_dots)(&a, 1, &w4, &mut dots).unwrap();
            assert_eq!(dots, vec![128 * 8 * k as i32; 2], "{} 4-bit", kern.name);
        }
    }

    odd_8bit_groups_run_everywhere {
        // A group that is not a multiple of 8 (SIMD falls back to the reference).
        let mut g = Gen(77);
        let (m, n, k, group) = (3, 5, 60, 12);
        let w = make_weights(&mut g, n, k, group, Fmt::A8);
        let x = activations(&mut g, m, k);
        let a = quantize_activations(&x, m, k, group).unwrap();
        let mut want = vec![0f32; m * n];
        qmatmul::scalar::matmul_i8_grouped(&a, m, &w, &mut want).unwrap();
        for kern in qmatmul::all() {
            let mut y = vec![0f32; m * n];
            (kern.i8_grouped)(&a, m, &w, &mut y).unwrap();
            same_bits(&y, &want, kern.name);
            (kern.f32_grouped)(&x, m, &w, &mut y).unwrap();
        }
    }

    kernels_reject_bad_input_without_panicking {
        let mut g = Gen(5);
        let w = make_weights(&mut g, 4, 64, 32, Fmt::S4);
        let x = activations(&mut g, 2, 64);
        let a = quantize_activations(&x, 2, 64, 32).unwrap();
        for kern in qmatmul::all() {
            let mut y = vec![0f32; 8];
            assert!((kern.f32_grouped)(&x[..100], 2, &w, &mut y).is_err(), "x too short");
            assert!((kern.f32_grouped)(&x, 2, &w, &mut y[..7]).is_err(), "y too short");
            assert!((kern.i8_grouped)(&a, 3, &w, &mut y).is_err(), "M differs");
            let a64 = quantize_activations(&x, 2, 64, 64).unwrap();
            assert!(matches!((kern.i8_grouped)(&a64, 2, &w, &mut y), Err(QuantError::Setting { name: "activation group", .. })));
            let mut a_bad = a.clone();
            a_bad.q.pop();
            assert!((kern.i8_grouped)(&a_bad, 2, &w, &mut y).is_err(), "q too short");
            let mut dots = vec![0i32; 8];
            assert!((kern.i8_group_dots)(&a, 2, &w, &mut dots).is_err(), "dots need M·N·G");
            // Inconsistent weights: every field is public.
            let mut bad = w.clone();
            bad.q.pop();
            assert!((kern.f32_grouped)(&x, 2, &bad, &mut y).is_err());
            let mut bad = w.clone();
            bad.offset = 3;
            assert!(matches!((kern.i8_grouped)(&a, 2, &bad, &mut y), Err(QuantError::Setting { name: "offset", .. })));
            let mut bad = w.clone();
            bad.scale.push(1.0);
            assert!((kern.i8_grouped)(&a, 2, &bad, &mut y).is_err());
            let mut bad = w.clone();
            bad.min = Some(vec![0.0; 3]);
            assert!((kern.f32_grouped)(&x, 2, &bad, &mut y).is_err());
            let mut bad = w.clone();
            bad.group = 0;
            assert!((kern.f32_grouped)(&x, 2, &bad, &mut y).is_err());
            let mut bad = w.clone();
            bad.n = usize::MAX;
            assert!((kern.f32_grouped)(&x, 2, &bad, &mut y).is_err());
            // M = 0 is an empty product.
            (kern.f32_grouped)(&[], 0, &w, &mut []).unwrap();
        }
        assert!(w.dequantize_row(4, &mut [0f32; 64]).is_err());
        assert!(f32_grouped_tolerance(&x[..63], &w, 0).is_err());
        assert!(f32_grouped_tolerance(&x[..64], &w, 4).is_err());
        assert!(w.dequantize_row(0, &mut [0f32; 63]).is_err());
        // The FP32 entry checks the packing and the shapes.
        let pw = PackedWf32::pack(&[0.5; 6], 2, 3);
        let mut y = vec![0f32; 2];
        qmatmul::matmul_f32(&[1.0, 2.0, 3.0], 1, &pw, &mut y).unwrap();
        assert_eq!(y, vec![3.0, 3.0]);
        assert!(qmatmul::matmul_f32(&[1.0, 2.0], 1, &pw, &mut y).is_err());
        let mut bad = pw.clone();
        bad.data.pop();
        assert!(qmatmul::matmul_f32(&[1.0, 2.0, 3.0], 1, &bad, &mut y).is_err());
    }

    prefill_dequantizes_blocks_of_rows_within_the_float_tolerance {
        // Many activation rows: blocks of weight rows dequantized for the f32 GEMM, against the
        // scalar reference (the register kernels' definition) and an f32 GEMM on the whole
        // dequantized matrix, over every format, ragged N (blocks of 8 and 16 rows cross N), K
        // with one and several groups, and M around the thresholds.
        use qmatmul::dequant_blocks::{self, block_rows, matmul_in_blocks, min_rows, BLOCK_WEIGHTS};
        let mut g = Gen(0x51ed_2701);
        let mut cases = 0;
        for (m, n, k, group) in [(16, 5, 64, 32), (17, 70, 96, 32), (40, 13, 640, 128), (32, 130, 64, 64), (3, 8, 32, 32)] {
            for fmt in FORMATS {
                let w = make_weights(&mut g, n, k, group, fmt);
                let x = activations(&mut g, m, k);
                let what = format!("{fmt:?} M={m} N={n} K={k} g={group}");
                let mut reference = vec![0f32; m * n];
                qmatmul::scalar::matmul_f32_grouped(&x, m, &w, &mut reference).unwrap();
                let whole = dequantized_matmul(&x, m, &w);
                let mut by_default = vec![f32::NAN; m * n];
                qmatmul::matmul_f32_grouped(&x, m, &w, &mut by_default).unwrap();
                for rows in [8, 16, block_rows(k)] {
                    let mut y = vec![f32::NAN; m * n];
                    matmul_in_blocks(&x, m, &w, &mut y, rows).unwrap();
                    if rows == block_rows(k) && m >= min_rows(w.bits) {
                        // The registry's entry point takes this path from min_rows rows.
                        same_bits(&by_default, &y, &format!("{what}: matmul_f32_grouped"));
                    }
                    for r in 0..m {
                        for c in 0..n {
                            let tol = f32_grouped_tolerance(&x[r * k..(r + 1) * k], &w, c).unwrap();
                            let (p, q, d) = (y[r * n + c], reference[r * n + c], whole[r * n + c]);
                            assert!((p - q).abs() <= tol, "{what} blocks of {rows}: [{r},{c}] {p} vs reference {q} (tol {tol})");
                            assert!((p - d).abs() <= tol, "{what} blocks of {rows}: [{r},{c}] {p} vs dequantized {d} (tol {tol})");
                        }
                    }
                }
                cases += 1;
            }
        }
        assert_eq!(cases, 5 * FORMATS.len());
        assert_eq!((min_rows(4), min_rows(8)), (16, 32));
        // Blocks hold whole panels and at most BLOCK_WEIGHTS values, unless one panel is more.
        assert_eq!(block_rows(128), BLOCK_WEIGHTS / 128);
        assert_eq!(block_rows(100_000), 8);
        assert_eq!(block_rows(0) % 8, 0);
        // Bad input is an error, not a panic.
        let w = make_weights(&mut g, 4, 64, 32, Fmt::S4);
        let x = activations(&mut g, 16, 64);
        let mut y = vec![0f32; 64];
        assert!(matches!(matmul_in_blocks(&x, 16, &w, &mut y, 12), Err(QuantError::OutOfRange { .. })));
        assert!(matmul_in_blocks(&x, 16, &w, &mut y, 0).is_err());
        assert!(dequant_blocks::matmul(&x[..100], 16, &w, &mut y).is_err());
        assert!(dequant_blocks::matmul(&x, 16, &w, &mut y[..63]).is_err());
        let mut bad = w.clone();
        bad.q.pop();
        assert!(dequant_blocks::matmul(&x, 16, &bad, &mut y).is_err());
        dequant_blocks::matmul(&[], 0, &w, &mut []).unwrap();
    }

    the_per_channel_int8_gemm_path_gives_the_grouped_kernels_bits {
        // W8A8 per channel on gemm_i8's panels (what a W8A8 per-channel LmLinear runs) against the
        // scalar grouped reference, bit for bit: K not a multiple of 8 (60), N not a multiple of 4,
        // M past one tile of rows, and a zero activation row.
        use qplay::runtime::qmatmul::per_channel_i8;
        let mut g = Gen(0x9e37_79b9);
        let mut cases = 0;
        for (m, n, k) in [(1, 1, 8), (1, 130, 640), (2, 5, 60), (3, 64, 96), (7, 130, 96), (17, 5, 640), (1, 64, 60), (5, 1, 8)] {
            let w = make_weights(&mut g, n, k, k, Fmt::S8);
            let mut x = activations(&mut g, m, k);
            x[..k].fill(0.0);
            let a = quantize_activations(&x, m, k, k).unwrap();
            let mut want = vec![0f32; m * n];
            qmatmul::scalar::matmul_i8_grouped(&a, m, &w, &mut want).unwrap();
            let panels = per_channel_i8::pack(&w).expect("per-channel 8-bit weights pack");
            let mut y = vec![f32::NAN; m * n];
            per_channel_i8::matmul(&a, m, &w, &panels, &mut y).unwrap();
            same_bits(&y, &want, &format!("M={m} N={n} K={k}"));
            assert!(y[..n].iter().all(|&v| v == 0.0), "a zero row gives zeros");
            cases += 1;
        }
        assert_eq!(cases, 8);

        // The largest K the weights allow: idot = 131,040 · 2^14 still fits the i32. (Panels this
        // large are never made for a model, whose matrices from memory stay on the grouped kernel:
        // packed here by hand.)
        let k = 131_040;
        let w = GroupedWeights { n: 2, k, group: k, bits: 8, q: vec![0x80; 2 * k], offset: 0, scale: vec![1.0, 0.5], min: None, scale_format: ScaleFormat::F32 };
        let a = QuantizedActs { m: 1, k, group: k, q: vec![-128; k], scale: vec![1.0], sum: vec![-128 * k as i32] };
        assert!(per_channel_i8::pack(&w).is_none(), "over MAX_PANEL_WEIGHTS");
        let panels = qplay::runtime::gemm_i8::PackedW::pack(&vec![-128i8; 2 * k], 2, k);
        let mut y = vec![0f32; 2];
        per_channel_i8::matmul(&a, 1, &w, &panels, &mut y).unwrap();
        assert_eq!(y, vec![2_146_959_360f32, 1_073_479_680f32]);

        // Only per-channel symmetric 8-bit weights pack; anything inconsistent is an error.
        let w = make_weights(&mut g, 6, 64, 64, Fmt::S8);
        let x = activations(&mut g, 2, 64);
        let a = quantize_activations(&x, 2, 64, 64).unwrap();
        let panels = per_channel_i8::pack(&w).unwrap();
        let mut y = vec![0f32; 12];
        for other in [make_weights(&mut g, 6, 64, 32, Fmt::S8), make_weights(&mut g, 6, 64, 64, Fmt::A8), make_weights(&mut g, 6, 64, 64, Fmt::S4)] {
            assert!(per_channel_i8::pack(&other).is_none());
            assert!(per_channel_i8::matmul(&a, 2, &other, &panels, &mut y).is_err());
        }
        let narrower = per_channel_i8::pack(&make_weights(&mut g, 5, 64, 64, Fmt::S8)).unwrap();
        assert!(per_channel_i8::matmul(&a, 2, &w, &narrower, &mut y).is_err(), "panels of another shape");
        let mut short = panels.clone();
        short.data.pop();
        assert!(per_channel_i8::matmul(&a, 2, &w, &short, &mut y).is_err(), "panels cut short");
        let a32 = quantize_activations(&x, 2, 64, 32).unwrap();
        assert!(per_channel_i8::matmul(&a32, 2, &w, &panels, &mut y).is_err(), "activations in groups of 32");
        assert!(per_channel_i8::matmul(&a, 2, &w, &panels, &mut y[..11]).is_err(), "y too short");
        let mut bad = w.clone();
        bad.scale.pop();
        assert!(per_channel_i8::pack(&bad).is_none());
        assert!(per_channel_i8::matmul(&a, 2, &bad, &panels, &mut y).is_err());
    }

    the_registry_lists_the_reference_first {
        let all = qmatmul::all();
        assert_eq!(all[0].name, "scalar");
        assert_eq!(qmatmul::best().name, all.last().unwrap().name);
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        assert_eq!(qmatmul::best().name, "simd128");
        // Every registry's best() is its last entry (best() is written out, not looked up).
        use qplay::runtime::{gemm_f32, gemm_i8, requant};
        assert_eq!(gemm_f32::best().name, gemm_f32::all().last().unwrap().name);
        assert_eq!(gemm_i8::best().name, gemm_i8::all().last().unwrap().name);
        assert_eq!(requant::best().name, requant::all().last().unwrap().name);
    }

    int8_attention_kernels_match_the_formula_and_each_other {
        use qplay::lm::attention_int8::{self, HeadRows, BLOCK};
        let mut g = Gen(0xA77E);
        let i8s = |g: &mut Gen, n: usize| (0..n).map(|_| (((g.next() >> 33) % 255) as i32 - 127) as i8).collect::<Vec<i8>>();
        for hd in [8usize, 16, 24, 32, 64, 12, 512] {
            for (stride, positions) in [(hd, 1usize), (2 * hd, 3), (3 * hd, 4), (2 * hd, 37), (hd, 64)] {
                let mut k8 = i8s(&mut g, positions * stride + hd);
                let mut q8 = i8s(&mut g, hd);
                // Rows of −127 against 127 everywhere: the largest sums the i32 accumulators see.
                if positions == 4 {
                    k8.iter_mut().for_each(|v| *v = -127);
                    q8.iter_mut().for_each(|v| *v = 127);
                }
                let scales: Vec<f32> = (0..2 * positions + 1).map(|_| g.uniform().abs() * 0.05).collect();
                let keys = HeadRows { q: &k8, scales: &scales, at: 1, stride, scale_at: 1, scale_stride: 2 };
                let (s_q, scale) = (0.031f32, 1.0 / (hd as f32).sqrt());
                // The formula in f64 with the integer dot taken by hand: exact up to the f32 roundings.
                let want: Vec<i64> = (0..positions).map(|t| (0..hd).map(|i| q8[i] as i64 * k8[1 + t * stride + i] as i64).sum()).collect();
                let mut reference = vec![0f32; positions];
                (attention_int8::SCALAR.key_scores)(&q8, s_q, keys, scale, &mut reference);
                for (t, (&r, &d)) in reference.iter().zip(&want).enumerate() {
                    let exact = ((s_q as f64 * scales[1 + 2 * t] as f64) * d as f64) * scale as f64;
                    assert!((r as f64 - exact).abs() <= 1e-6 * exact.abs().max(1e-30), "hd {hd} t {t}: {r} vs {exact}");
                }
                for k in attention_int8::all() {
                    let mut got = vec![f32::NAN; positions];
                    (k.key_scores)(&q8, s_q, keys, scale, &mut got);
                    same_bits(&got, &reference, &format!("{} key_scores hd {hd} positions {positions}", k.name));
                }
                // Values: every block length 1..=BLOCK (odd ones pair the last row with itself).
                for n in [1usize, 2, 3, 31, BLOCK] {
                    let v8 = i8s(&mut g, n * stride + hd);
                    let mut w8: Vec<i8> = (0..n).map(|_| ((g.next() >> 40) % 128) as i8).collect();
                    if positions == 4 {
                        w8.iter_mut().for_each(|v| *v = 127);
                    }
                    let c = 0.0123f32;
                    let start: Vec<f32> = (0..hd).map(|_| g.uniform()).collect();
                    let mut reference = start.clone();
                    (attention_int8::SCALAR.add_values)(&w8, c, &v8, 2, stride, &mut reference);
                    for (d, &r) in reference.iter().enumerate() {
                        let acc: i64 = (0..n).map(|t| w8[t] as i64 * v8[2 + t * stride + d] as i64).sum();
                        let exact = start[d] as f64 + c as f64 * acc as f64;
                        assert!((r as f64 - exact).abs() <= 1e-6 * exact.abs().max(1.0), "hd {hd} n {n} d {d}: {r} vs {exact}");
                    }
                    for k in attention_int8::all() {
                        let mut got = start.clone();
                        (k.add_values)(&w8, c, &v8, 2, stride, &mut got);
                        same_bits(&got, &reference, &format!("{} add_values hd {hd} n {n}", k.name));
                    }
                }
            }
        }
        assert_eq!(attention_int8::all()[0].name, "scalar");
        assert_eq!(attention_int8::best().name, attention_int8::all().last().unwrap().name);
    }

    int8_attention_quantizers_match_the_reference {
        use qplay::lm::attention_int8;
        let mut g = Gen(0x5EED);
        let mut rows: Vec<Vec<f32>> = Vec::new();
        for n in (0..=40).chain([64, 512]) {
            rows.push((0..n).map(|_| g.weight()).collect());
        }
        let specials = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 0.0, f32::MAX, f32::MIN_POSITIVE / 8.0];
        for (i, &sp) in specials.iter().enumerate() {
            for at in [0usize, 3, 5, 16, 31] {
                let mut r: Vec<f32> = (0..32).map(|_| g.weight() * (i as f32 + 1.0)).collect();
                r[at] = sp;
                rows.push(r);
            }
        }
        rows.push(vec![0.0; 32]);
        rows.push(vec![-2.5; 33]);
        // Values on the rounding boundaries: max = 127 gives s = 1, so x · (1 / s) = x exactly.
        rows.push([127.0f32, -126.5, 0.5, 1.5, 2.5, -0.5, 126.5, 3.4999998].iter().cycle().take(40).copied().collect());
        for x in &rows {
            let mut want = vec![0i8; x.len()];
            let s_want = (attention_int8::SCALAR.quantize)(x, &mut want);
            // The scalar rule against its definition.
            let amax = x.iter().filter(|v| !v.is_nan()).fold(0f32, |m, v| if v.abs() > m { v.abs() } else { m });
            assert_eq!(s_want.to_bits(), (amax / 127.0).to_bits(), "{x:?}");
            for (&q, &v) in want.iter().zip(x) {
                let inv = if s_want > 0.0 { 1.0 / s_want } else { 0.0 };
                let r = (v * inv).round_ties_even();
                assert_eq!(q, if r.is_nan() { 0 } else { r.clamp(-127.0, 127.0) as i8 }, "{v} in {x:?}");
            }
            for k in attention_int8::all() {
                let mut got = vec![99i8; x.len()];
                let s = (k.quantize)(x, &mut got);
                assert_eq!(s.to_bits(), s_want.to_bits(), "{}: scale of {x:?}", k.name);
                assert_eq!(got, want, "{}: {x:?}", k.name);
            }
        }
        // The boundary row: ties to even (0.5 → 0, 1.5 → 2, 2.5 → 2, 126.5 → 126).
        let mut q = vec![0i8; 8];
        (attention_int8::best().quantize)(&[127.0, -126.5, 0.5, 1.5, 2.5, -0.5, 126.5, 3.4999998], &mut q);
        assert_eq!(q, [127, -126, 0, 2, 2, 0, 126, 3]);
    }
}

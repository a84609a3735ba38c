//! The llama.cpp block formats qplay reads but does not write (src/quant/ggml_read.rs: Q5_0,
//! Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) against the PyPI `gguf` package's `gguf.quants.dequantize`
//! (fixtures from scripts/make_gguf_read_fixtures.py: random blocks, bit for bit), hand-computed
//! blocks, and a GGUF file with such tensors read by the model importer. Natively and in Chromium.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use qplay::quant::ggml_read::{dequantize, scale_min_k4, GgmlReadType};

/// `u32 n_blocks | blocks | f32 y` (scripts/make_gguf_read_fixtures.py).
fn parse(ty: GgmlReadType, file: &[u8]) -> (Vec<u8>, Vec<f32>) {
    let n = u32::from_le_bytes(file[..4].try_into().unwrap()) as usize;
    let nb = n * ty.block_bytes();
    let blocks = file[4..4 + nb].to_vec();
    let y: Vec<f32> = file[4 + nb..].chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    assert_eq!(y.len(), n * ty.block_values(), "{}", ty.name());
    (blocks, y)
}

#[test]
fn every_format_matches_the_gguf_package_bit_for_bit() {
    let files: [(GgmlReadType, &[u8]); 7] = [
        (GgmlReadType::Q5_0, fixture!("gguf/read.q5_0.bin")),
        (GgmlReadType::Q5_1, fixture!("gguf/read.q5_1.bin")),
        (GgmlReadType::Q2K, fixture!("gguf/read.q2_k.bin")),
        (GgmlReadType::Q3K, fixture!("gguf/read.q3_k.bin")),
        (GgmlReadType::Q4K, fixture!("gguf/read.q4_k.bin")),
        (GgmlReadType::Q5K, fixture!("gguf/read.q5_k.bin")),
        (GgmlReadType::Q6K, fixture!("gguf/read.q6_k.bin")),
    ];
    for (ty, file) in files {
        let (blocks, want) = parse(ty, file);
        let got = dequantize(ty, &blocks).unwrap();
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g.to_bits(), w.to_bits(), "{} value {i}: {g} against gguf's {w}", ty.name());
        }
        assert!(want.iter().any(|&v| v != 0.0), "{}: a fixture of zeros proves nothing", ty.name());
        assert_eq!(GgmlReadType::from_id(ty.id()), Some(ty));
        // The GGUF reader's table of block sizes agrees.
        let info = qplay::lm::import::gguf::ggml_type_info(ty.id()).unwrap();
        assert_eq!(info, (ty.name(), ty.block_values() as u64, ty.block_bytes() as u64));
    }
}

#[test]
fn hand_computed_blocks() {
    let one = half::f16::from_f32(1.0).to_bits().to_le_bytes();
    let half_ = half::f16::from_f32(0.5).to_bits().to_le_bytes();
    // Q5_0, d = 1: value j = (low nibble | bit j of qh << 4) − 16.
    let mut b = vec![0u8; 22];
    b[..2].copy_from_slice(&one);
    b[2..6].copy_from_slice(&(1u32 << 3 | 1 << 20).to_le_bytes()); // value 3 and value 20 get 16
    b[6 + 3] = 0x07; // value 3: 7 | 16 = 23 → 7
    b[6 + 4] = 0xF0; // value 20 (high nibble of byte 4): 15 | 16 = 31 → 15
    let y = dequantize(GgmlReadType::Q5_0, &b).unwrap();
    assert_eq!((y[0], y[3], y[20], y[19]), (-16.0, 7.0, 15.0, -16.0));
    // Q5_1, d = 0.5, m = 1: y = u · 0.5 + 1.
    let mut b = vec![0u8; 24];
    b[..2].copy_from_slice(&half_);
    b[2..4].copy_from_slice(&one);
    b[8] = 0x3A; // value 0: 10, value 16: 3
    let y = dequantize(GgmlReadType::Q5_1, &b).unwrap();
    assert_eq!((y[0], y[16], y[1]), (6.0, 2.5, 1.0));
    // Q6_K, d = 1, scales[0] = 2, scales[2] = −1: value 0 = 2 · (ql low | qh bits 0–1 << 4 − 32).
    let mut b = vec![0u8; 210];
    b[0] = 0x05; // value 0: low 4 bits 5
    b[128] = 0b0000_0011; // qh[0] bits 0–1 = 3 → value 0 = 5 | 48 = 53 − 32 = 21
    b[192] = 2;
    b[194] = (-1i8) as u8;
    b[208..210].copy_from_slice(&one);
    let y = dequantize(GgmlReadType::Q6K, &b).unwrap();
    assert_eq!(y[0], 42.0);
    assert_eq!(y[32], 32.0, "value 32 uses scales[2] = −1 and u = 0 − 32");
    // Q4_K's packed 6-bit scales: j < 4 from the low 6 bits; j ≥ 4 split over two bytes.
    let s = [0x3F, 0, 0, 0xC1, 0x15, 0, 0, 0, 0xA7, 0, 0, 0];
    assert_eq!(scale_min_k4(0, &s), (63, 21));
    // j = 4: scale = (s[8] & 15) | (s[0] >> 6) << 4 = 7 | 0 = 7; min = (s[8] >> 4) | (s[4] >> 6) << 4 = 10.
    assert_eq!(scale_min_k4(4, &s), (7, 10));
    // j = 7: scale = (s[11] & 15) | (s[3] >> 6) << 4 = 0 | 3 << 4 = 48; min = (s[11] >> 4) | (s[7] >> 6) << 4 = 0.
    assert_eq!(scale_min_k4(7, &s), (48, 0));
}

#[test]
fn partial_blocks_are_errors() {
    for ty in GgmlReadType::ALL {
        let e = dequantize(ty, &vec![0u8; ty.block_bytes() + 1]).unwrap_err().to_string();
        assert!(e.contains(ty.name()) && e.contains("not whole"), "{e}");
        assert!(dequantize(ty, &[]).unwrap().is_empty());
    }
}

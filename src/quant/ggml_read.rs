//! The other llama.cpp block formats that GGUF files in the wild carry (a "Q4_K_M" file is
//! Q4_K and Q6_K; llama.cpp's quantizer also writes Q5_0 / Q5_1 / Q2_K / Q3_K / Q5_K), read
//! only: dequantized to f32 as `ggml-quants.c`'s `dequantize_row_*` computes them, so that a
//! user's file loads as the model it is. qplay writes only [`super::ggml`]'s three formats.
//! Checked bit for bit against the PyPI `gguf` package's `gguf.quants.dequantize`
//! (tests/suite/ggml_read.rs, fixtures from scripts/make_gguf_fixtures.py).
//!
//! Layouts (`ggml-common.h`), little-endian, d / dmin / m as f16, every product in f32 in the
//! order written (no fused multiply-add):
//! ```text
//! Q5_0 (32 values, 22 B: d, qh u32, qs[16])   u_j = low nibble of qs (j < 16: qs[j] & 15, else qs[j − 16] >> 4)
//!                                             | bit j of qh << 4;        y_j = (u_j − 16) · d
//! Q5_1 (32 values, 24 B: d, m, qh, qs[16])    u_j as Q5_0;               y_j = u_j · d + m
//! K-quants: super-blocks of 256 values
//! Q2_K (84 B: scales[16], qs[64], d, dmin)    sub-block i of 16 (i < 16): s = scales[i] & 15, m = scales[i] >> 4;
//!                                             value l of 128-half h, 2-bit plane p (0..4), 32 bytes q = qs[32h..]:
//!                                             u = (q[l] >> 2p) & 3;      y = (d · s) · u − dmin · m
//! Q3_K (110 B: hmask[32], qs[64], scales[12], d)
//!                                             16 sub-blocks of 16, 6-bit scales: low 4 bits from scales[i mod 8]
//!                                             (>> 4 when i ≥ 8), high 2 bits (scales[8 + i mod 4] >> 2·(i div 4)) & 3;
//!                                             u = 2-bit plane as Q2_K, minus 4 where hmask's bit (plane index over
//!                                             both halves) is 0;         y = (d · (s − 32)) · u
//! Q4_K (144 B: d, dmin, scales[12], qs[128])  8 sub-blocks of 32 with 6-bit (s, m) ([`scale_min_k4`]);
//!                                             64 values per 32 bytes of qs: low nibbles then high nibbles;
//!                                             y = (d · s) · u − dmin · m
//! Q5_K (176 B: d, dmin, scales[12], qh[32], qs[128])
//!                                             Q4_K with a fifth bit from qh (bit 2·c for the low nibbles of
//!                                             chunk c, bit 2·c + 1 for the high), + 16 when set
//! Q6_K (210 B: ql[128], qh[64], scales[16] i8, d)
//!                                             per 128-half: u = 4 bits of ql | 2 bits of qh << 4, minus 32;
//!                                             16 sub-blocks of 16;        y = (d · scale) · u
//! ```

use half::f16;

use super::QuantError;

/// Values per K-quant super-block (QK_K).
pub const QK_K: usize = 256;

/// The block formats read here, with GGML's type ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GgmlReadType {
    Q5_0,
    Q5_1,
    Q2K,
    Q3K,
    Q4K,
    Q5K,
    Q6K,
}

impl GgmlReadType {
    pub const ALL: [GgmlReadType; 7] = [GgmlReadType::Q5_0, GgmlReadType::Q5_1, GgmlReadType::Q2K, GgmlReadType::Q3K, GgmlReadType::Q4K, GgmlReadType::Q5K, GgmlReadType::Q6K];

    /// `ggml_type`: Q5_0 = 6, Q5_1 = 7, Q2_K = 10 … Q6_K = 14.
    pub fn id(self) -> u32 {
        match self {
            GgmlReadType::Q5_0 => 6,
            GgmlReadType::Q5_1 => 7,
            GgmlReadType::Q2K => 10,
            GgmlReadType::Q3K => 11,
            GgmlReadType::Q4K => 12,
            GgmlReadType::Q5K => 13,
            GgmlReadType::Q6K => 14,
        }
    }

    pub fn from_id(id: u32) -> Option<GgmlReadType> {
        Self::ALL.into_iter().find(|t| t.id() == id)
    }

    pub fn name(self) -> &'static str {
        match self {
            GgmlReadType::Q5_0 => "Q5_0",
            GgmlReadType::Q5_1 => "Q5_1",
            GgmlReadType::Q2K => "Q2_K",
            GgmlReadType::Q3K => "Q3_K",
            GgmlReadType::Q4K => "Q4_K",
            GgmlReadType::Q5K => "Q5_K",
            GgmlReadType::Q6K => "Q6_K",
        }
    }

    /// Values per block.
    pub fn block_values(self) -> usize {
        match self {
            GgmlReadType::Q5_0 | GgmlReadType::Q5_1 => 32,
            _ => QK_K,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        match self {
            GgmlReadType::Q5_0 => 22,
            GgmlReadType::Q5_1 => 24,
            GgmlReadType::Q2K => 84,
            GgmlReadType::Q3K => 110,
            GgmlReadType::Q4K => 144,
            GgmlReadType::Q5K => 176,
            GgmlReadType::Q6K => 210,
        }
    }
}

fn half_at(b: &[u8], at: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([b[at], b[at + 1]])).to_f32()
}

/// Raw blocks of `ty` → f32 values (block count × values per block). The byte count must be
/// whole blocks; the output is exactly as large as the blocks describe (no other allocation).
pub fn dequantize(ty: GgmlReadType, bytes: &[u8]) -> Result<Vec<f32>, QuantError> {
    let bb = ty.block_bytes();
    if !bytes.len().is_multiple_of(bb) {
        return Err(QuantError::Setting { name: "block bytes", message: format!("{} bytes are not whole {} blocks of {bb} bytes", bytes.len(), ty.name()) });
    }
    let n = ty.block_values();
    let mut y = vec![0f32; bytes.len() / bb * n];
    for (b, out) in bytes.chunks_exact(bb).zip(y.chunks_exact_mut(n)) {
        match ty {
            GgmlReadType::Q5_0 => q5(b, out, false),
            GgmlReadType::Q5_1 => q5(b, out, true),
            GgmlReadType::Q2K => q2_k(b, out),
            GgmlReadType::Q3K => q3_k(b, out),
            GgmlReadType::Q4K => q45_k(b, out, false),
            GgmlReadType::Q5K => q45_k(b, out, true),
            GgmlReadType::Q6K => q6_k(b, out),
        }
    }
    Ok(y)
}

/// Q5_0: y = (u − 16) · d; Q5_1 (`with_min`): y = u · d + m.
fn q5(b: &[u8], y: &mut [f32], with_min: bool) {
    let d = half_at(b, 0);
    let (m, at) = if with_min { (half_at(b, 2), 4) } else { (0.0, 2) };
    let qh = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let qs = &b[at + 4..at + 20];
    for j in 0..16 {
        let lo = (qs[j] & 0x0F) as u32 | ((qh >> j) & 1) << 4;
        let hi = (qs[j] >> 4) as u32 | ((qh >> (j + 16)) & 1) << 4;
        if with_min {
            y[j] = lo as f32 * d + m;
            y[j + 16] = hi as f32 * d + m;
        } else {
            y[j] = (lo as i32 - 16) as f32 * d;
            y[j + 16] = (hi as i32 - 16) as f32 * d;
        }
    }
}

/// Q2_K: sub-block i (16 values) y = (d · (scales[i] & 15)) · u − dmin · (scales[i] >> 4).
fn q2_k(b: &[u8], y: &mut [f32]) {
    let (scales, qs) = (&b[0..16], &b[16..80]);
    let (d, dmin) = (half_at(b, 80), half_at(b, 82));
    let mut i = 0;
    for h in 0..2 {
        let q = &qs[32 * h..32 * h + 32];
        for p in 0..4 {
            // Two sub-blocks per plane: bytes 0..16 and 16..32 of q.
            for half in 0..2 {
                let sc = scales[i];
                let (dl, ml) = (d * (sc & 0x0F) as f32, dmin * (sc >> 4) as f32);
                let base = 128 * h + 32 * p + 16 * half;
                for l in 0..16 {
                    let u = (q[16 * half + l] >> (2 * p)) & 3;
                    y[base + l] = dl * u as f32 - ml;
                }
                i += 1;
            }
        }
    }
}

/// Q3_K's 16 scales, 6 bits each, minus 32.
fn q3_k_scales(s: &[u8]) -> [i32; 16] {
    std::array::from_fn(|i| {
        let low = if i < 8 { s[i] & 0x0F } else { s[i - 8] >> 4 };
        let high = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
        (low | high << 4) as i32 - 32
    })
}

/// Q3_K: y = (d · s) · (u − 4 · [hmask bit clear]).
fn q3_k(b: &[u8], y: &mut [f32]) {
    let (hmask, qs) = (&b[0..32], &b[32..96]);
    let scales = q3_k_scales(&b[96..108]);
    let d = half_at(b, 108);
    let mut i = 0;
    for h in 0..2 {
        let q = &qs[32 * h..32 * h + 32];
        for p in 0..4 {
            // The hmask bit of this plane: one bit per (half, plane), 8 in all.
            let bit = 1u8 << (4 * h + p);
            for half in 0..2 {
                let dl = d * scales[i] as f32;
                let base = 128 * h + 32 * p + 16 * half;
                for l in 0..16 {
                    let k = 16 * half + l;
                    let u = ((q[k] >> (2 * p)) & 3) as i32 - if hmask[k] & bit != 0 { 0 } else { 4 };
                    y[base + l] = dl * u as f32;
                }
                i += 1;
            }
        }
    }
}

/// `get_scale_min_k4`: the 6-bit scale and min of sub-block j (0..8) from 12 packed bytes.
pub fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

/// Q4_K / Q5_K (`fifth_bit`): chunk c of 64 values, sub-blocks 2c (low nibbles) and 2c + 1
/// (high): y = (d · s) · u − dmin · m.
fn q45_k(b: &[u8], y: &mut [f32], fifth_bit: bool) {
    let (d, dmin) = (half_at(b, 0), half_at(b, 2));
    let scales = &b[4..16];
    let (qh, qs) = if fifth_bit { (&b[16..48], &b[48..176]) } else { (&b[0..0], &b[16..144]) };
    for c in 0..4 {
        let q = &qs[32 * c..32 * c + 32];
        for (sub, shift) in [(2 * c, 0), (2 * c + 1, 4)] {
            let (sc, m) = scale_min_k4(sub, scales);
            let (d1, m1) = (d * sc as f32, dmin * m as f32);
            for l in 0..32 {
                let mut u = (q[l] >> shift) & 0x0F;
                if fifth_bit && qh[l] & (1 << sub) != 0 {
                    u += 16;
                }
                y[64 * c + 32 * (shift / 4) + l] = d1 * u as f32 - m1;
            }
        }
    }
}

/// Q6_K: y = (d · scale) · (u − 32), u = 4 bits of ql | 2 bits of qh << 4.
fn q6_k(b: &[u8], y: &mut [f32]) {
    let (ql, qh, sc) = (&b[0..128], &b[128..192], &b[192..208]);
    let d = half_at(b, 208);
    for h in 0..2 {
        let (ql, qh, sc, y) = (&ql[64 * h..64 * h + 64], &qh[32 * h..32 * h + 32], &sc[8 * h..8 * h + 8], &mut y[128 * h..128 * h + 128]);
        for l in 0..32 {
            let is = l / 16;
            let q = [
                ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) as i32 - 32,
                ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32,
                ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32,
                ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32,
            ];
            for (k, &u) in q.iter().enumerate() {
                y[l + 32 * k] = d * sc[is + 2 * k] as i8 as f32 * u as f32;
            }
        }
    }
}

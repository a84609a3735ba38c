//! Weight-only quantization (W8A32, W4A32, W2A32; the seeds' W8A16 / W4A16 RTN
//! is the same idea with 16-bit activations): weights stored as b-bit signed
//! integers packed 8/b to a byte, one symmetric scale per output channel,
//! dequantized on the fly; activations stay float.
//!
//! ```text
//! q[o, k] = clamp(round(w[o, k] / s[o]), −(2^(b−1) − 1), 2^(b−1) − 1),   s[o] = max_k |w[o, k]| / (2^(b−1) − 1)
//! y[m, o] = s[o] · Σ_k x[m, k] · q[o, k] + b[o]
//! ```
//!
//! Packing: along k, value j of a byte sits in bits [j·b, (j+1)·b), two's
//! complement in b bits; rows are padded to whole bytes.

use crate::quant::QuantError;

#[derive(Clone, Debug, PartialEq)]
pub struct PackedIntWeights {
    pub bits: u8,
    pub n: usize,
    pub k: usize,
    /// Bytes per row: ⌈K·bits / 8⌉.
    pub row_bytes: usize,
    pub data: Vec<u8>,
    /// One scale per output channel.
    pub scales: Vec<f32>,
}

impl PackedIntWeights {
    /// Quantizes and packs w: [N, K] at 2, 4 or 8 bits.
    pub fn pack(w: &[f32], n: usize, k: usize, bits: u8) -> Result<PackedIntWeights, QuantError> {
        if !matches!(bits, 2 | 4 | 8) {
            return Err(QuantError::Setting { name: "weight-only bits", message: format!("{bits} is not packable: use 2, 4 or 8") });
        }
        if w.len() != n * k {
            return Err(QuantError::LengthMismatch { left: w.len(), right: n * k });
        }
        crate::quant::check_finite(w)?;
        let qmax = (1i32 << (bits - 1)) - 1;
        let per_byte = 8 / bits as usize;
        let row_bytes = k.div_ceil(per_byte);
        let mut data = vec![0u8; n * row_bytes];
        let mut scales = vec![0f32; n];
        let mask = ((1u16 << bits) - 1) as u8;
        for o in 0..n {
            let row = &w[o * k..(o + 1) * k];
            let amax = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            // An all-zero row keeps s = 1 (any scale reconstructs 0 exactly).
            let s = if amax > 0.0 { amax / qmax as f32 } else { 1.0 };
            scales[o] = s;
            for (j, &v) in row.iter().enumerate() {
                let q = (v / s).round_ties_even().clamp(-qmax as f32, qmax as f32) as i32;
                data[o * row_bytes + j / per_byte] |= ((q as u8) & mask) << ((j % per_byte) * bits as usize);
            }
        }
        Ok(PackedIntWeights { bits, n, k, row_bytes, data, scales })
    }

    /// Row o's integers, sign-extended from `bits`.
    pub fn unpack_row(&self, o: usize, out: &mut [f32]) {
        let per_byte = 8 / self.bits as usize;
        let shift_back = 8 - self.bits as u32;
        let row = &self.data[o * self.row_bytes..(o + 1) * self.row_bytes];
        for (j, v) in out.iter_mut().enumerate().take(self.k) {
            let byte = row[j / per_byte] >> ((j % per_byte) * self.bits as usize);
            // Move the b-bit field to the top of an i8 and shift back: sign extension.
            *v = (((byte << shift_back) as i8) >> shift_back) as f32;
        }
    }

    /// Storage in bytes: the packed integers and one f32 scale per channel.
    pub fn bytes(&self) -> usize {
        self.data.len() + 4 * self.scales.len()
    }

    /// y [M, N] = x [M, K] · (s ⊙ q)ᵀ + bias, dequantizing one row of q at a time.
    pub fn forward(&self, x: &[f32], m: usize, bias: &[f32], y: &mut [f32]) {
        assert!(x.len() == m * self.k && y.len() == m * self.n && (bias.is_empty() || bias.len() == self.n), "shapes");
        let mut qrow = vec![0f32; self.k];
        for o in 0..self.n {
            self.unpack_row(o, &mut qrow);
            let b = bias.get(o).copied().unwrap_or(0.0);
            for r in 0..m {
                let xr = &x[r * self.k..(r + 1) * self.k];
                let dot: f32 = xr.iter().zip(&qrow).map(|(a, q)| a * q).sum();
                y[r * self.n + o] = self.scales[o] * dot + b;
            }
        }
    }
}

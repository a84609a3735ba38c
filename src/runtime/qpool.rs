//! Pooling on int8 values with TensorFlow Lite's reference semantics
//! (`reference/integer_ops/pooling.h`): the output keeps the input's (s, Z).
//!
//! Shape legend: B = batch, C = channels, H×W = input plane, k = window side,
//! OH = ⌊(H − k) / stride⌋ + 1 (no padding, as the model's Pool2d).
//!
//! ```text
//! max:     y[b, c, oy, ox] = max_{ky, kx} x[b, c, oy·stride + ky, ox·stride + kx]
//!          (exact: q ↦ (q − Z)·s is increasing, so the max of the q is the q of the max)
//! average: sum = Σ_{ky, kx} x[…],  n = k·k
//!          y = clamp(sum > 0 ? (sum + n/2) / n : (sum − n/2) / n, −128, 127)
//!          (integer division truncating toward 0: round half away from zero, as TFLite)
//! ```

/// Which pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    Average,
}

/// A pooling layer over [B, C, H, W] int8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QPool2d {
    pub kind: PoolKind,
    pub channels: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub kernel: usize,
    pub stride: usize,
}

impl QPool2d {
    /// (OH, OW).
    pub fn out_hw(&self) -> (usize, usize) {
        let out = |n: usize| n.saturating_sub(self.kernel) / self.stride.max(1) + 1;
        (out(self.in_h), out(self.in_w))
    }

    pub fn in_len(&self) -> usize {
        self.channels * self.in_h * self.in_w
    }

    pub fn out_len(&self) -> usize {
        let (oh, ow) = self.out_hw();
        self.channels * oh * ow
    }

    /// y: [B, C, OH, OW] from x: [B, C, H, W].
    pub fn forward(&self, x: &[i8], batch: usize, y: &mut [i8]) {
        let (oh, ow) = self.out_hw();
        assert!(x.len() == batch * self.in_len() && y.len() == batch * self.out_len(), "QPool2d::forward: shapes");
        let n = (self.kernel * self.kernel) as i32;
        for (plane, out) in x.chunks_exact(self.in_h * self.in_w).zip(y.chunks_exact_mut(oh * ow)) {
            for oy in 0..oh {
                for ox in 0..ow {
                    let window = (0..self.kernel).flat_map(|ky| {
                        let row = (oy * self.stride + ky) * self.in_w + ox * self.stride;
                        plane[row..row + self.kernel].iter().map(|&v| v as i32)
                    });
                    out[oy * ow + ox] = match self.kind {
                        PoolKind::Max => window.max().unwrap_or(-128) as i8,
                        PoolKind::Average => {
                            let sum: i32 = window.sum();
                            // round half away from zero: (sum ± n/2) / n, truncating toward 0
                            let avg = if sum > 0 { (sum + n / 2) / n } else { (sum - n / 2) / n };
                            avg.clamp(-128, 127) as i8
                        }
                    };
                }
            }
        }
    }
}

//! The key/value cache: every layer's k and v for the positions seen so far,
//! so that decoding a token costs one row of each projection, not the whole prefix.
//!
//! ```text
//! layout: [L][T][Hkv·hd] for k and for v
//! F32:  stored as is
//! F16:  stored as IEEE half (the `half` crate), read back exactly
//! Int8: per layer, position and kv head, s = max|x| / 127, q = round(x / s) ∈ [−127, 127],
//!       read back as q·s (symmetric, per head and per token, as Golden Stick's KVCache int8)
//! ```

use half::f16;

use super::{LmConfig, LmError};

/// Largest cache accepted: 512 MiB.
pub const MAX_CACHE_BYTES: u128 = 512 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KvFormat {
    #[default]
    F32,
    F16,
    Int8,
}

impl KvFormat {
    pub fn name(self) -> &'static str {
        match self {
            KvFormat::F32 => "f32",
            KvFormat::F16 => "f16",
            KvFormat::Int8 => "int8",
        }
    }

    pub fn parse(s: &str) -> Option<KvFormat> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "fp32" => Some(KvFormat::F32),
            "f16" | "fp16" => Some(KvFormat::F16),
            "int8" | "i8" | "kv8" => Some(KvFormat::Int8),
            _ => None,
        }
    }
}

enum Store {
    F32(Vec<f32>),
    F16(Vec<f16>),
    /// q and one scale per (layer, position, kv head).
    Int8 { q: Vec<i8>, scale: Vec<f32> },
}

/// One layer's keys or values: [T][Hkv·hd] (and, for int8, [T][Hkv] scales).
#[derive(Clone, Copy)]
pub(crate) enum Rows<'a> {
    F32(&'a [f32]),
    F16(&'a [f16]),
    Int8 { q: &'a [i8], scale: &'a [f32] },
}

pub struct KvCache {
    format: KvFormat,
    n_layers: usize,
    seq_len: usize,
    kv_dim: usize,
    head_dim: usize,
    /// Positions filled so far.
    len: usize,
    k: Store,
    v: Store,
}

impl KvCache {
    /// Bytes a cache of this format takes for `positions` positions (u128: no overflow).
    pub fn bytes_for(c: &LmConfig, format: KvFormat, positions: usize) -> u128 {
        let values = 2 * c.n_layers as u128 * positions as u128 * c.kv_dim() as u128;
        match format {
            KvFormat::F32 => values * 4,
            KvFormat::F16 => values * 2,
            KvFormat::Int8 => values + 2 * (c.n_layers * positions * c.n_kv_heads) as u128 * 4,
        }
    }

    /// A cache for the model's whole context, checked against [`MAX_CACHE_BYTES`] first.
    pub fn new(c: &LmConfig, format: KvFormat) -> Result<KvCache, LmError> {
        c.validate()?;
        let bytes = Self::bytes_for(c, format, c.seq_len);
        if bytes > MAX_CACHE_BYTES {
            return Err(LmError::TooLarge { what: "the KV cache".into(), bytes, limit: MAX_CACHE_BYTES });
        }
        let n = c.n_layers * c.seq_len * c.kv_dim();
        let store = || match format {
            KvFormat::F32 => Store::F32(vec![0.0; n]),
            KvFormat::F16 => Store::F16(vec![f16::ZERO; n]),
            KvFormat::Int8 => Store::Int8 { q: vec![0; n], scale: vec![0.0; c.n_layers * c.seq_len * c.n_kv_heads] },
        };
        Ok(KvCache {
            format,
            n_layers: c.n_layers,
            seq_len: c.seq_len,
            kv_dim: c.kv_dim(),
            head_dim: c.head_dim(),
            len: 0,
            k: store(),
            v: store(),
        })
    }

    pub fn format(&self) -> KvFormat {
        self.format
    }

    /// Positions filled so far.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.seq_len
    }

    /// Bytes held by the filled positions.
    pub fn bytes_used(&self, c: &LmConfig) -> u128 {
        Self::bytes_for(c, self.format, self.len)
    }

    /// Forgets every position (the memory is kept).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Marks positions up to `len` as filled (after a forward pass wrote them).
    pub(crate) fn set_len(&mut self, len: usize) {
        debug_assert!(len <= self.seq_len);
        self.len = len;
    }

    /// Stores k and v (each [Hkv·hd]) of `layer` at `pos`.
    pub(crate) fn store(&mut self, layer: usize, pos: usize, k: &[f32], v: &[f32]) {
        let (kv_dim, hd) = (self.kv_dim, self.head_dim);
        let at = (layer * self.seq_len + pos) * kv_dim;
        for (store, x) in [(&mut self.k, k), (&mut self.v, v)] {
            match store {
                Store::F32(d) => d[at..at + kv_dim].copy_from_slice(x),
                Store::F16(d) => {
                    for (o, &xi) in d[at..at + kv_dim].iter_mut().zip(x) {
                        *o = f16::from_f32(xi);
                    }
                }
                Store::Int8 { q, scale } => {
                    for h in 0..kv_dim / hd {
                        let xs = &x[h * hd..(h + 1) * hd];
                        // s = max|x| / 127; a zero head stores s = 0 and q = 0.
                        let amax = xs.iter().fold(0f32, |m, v| m.max(v.abs()));
                        let s = amax / 127.0;
                        let inv = if s > 0.0 { 1.0 / s } else { 0.0 };
                        scale[(layer * self.seq_len + pos) * (kv_dim / hd) + h] = s;
                        for (o, &xi) in q[at + h * hd..at + (h + 1) * hd].iter_mut().zip(xs) {
                            *o = (xi * inv).round_ties_even().clamp(-127.0, 127.0) as i8;
                        }
                    }
                }
            }
        }
    }

    /// The stored keys of `layer`, positions 0..T, for [`crate::lm::attention`].
    pub(crate) fn keys(&self, layer: usize) -> Rows<'_> {
        self.rows(&self.k, layer)
    }

    /// The stored values of `layer`, positions 0..T.
    pub(crate) fn values(&self, layer: usize) -> Rows<'_> {
        self.rows(&self.v, layer)
    }

    fn rows<'a>(&self, store: &'a Store, layer: usize) -> Rows<'a> {
        let (t, kv_dim, heads) = (self.seq_len, self.kv_dim, self.kv_dim / self.head_dim);
        let rows = layer * t * kv_dim..(layer + 1) * t * kv_dim;
        match store {
            Store::F32(d) => Rows::F32(&d[rows]),
            Store::F16(d) => Rows::F16(&d[rows]),
            Store::Int8 { q, scale } => Rows::Int8 { q: &q[rows], scale: &scale[layer * t * heads..(layer + 1) * t * heads] },
        }
    }

    pub fn n_layers(&self) -> usize {
        self.n_layers
    }
}

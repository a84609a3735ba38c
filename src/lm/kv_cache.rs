//! The key/value cache: every layer's k and v for the positions seen so far,
//! so that decoding a token costs one row of each projection, not the whole prefix.
//!
//! ```text
//! layout: [L][T][Hkv·hd] for k and for v
//! F32:  stored as is
//! F16:  stored as IEEE half (the `half` crate), read back exactly
//! Int8: per layer, position and kv head, s = max|x| / 127, q = round(x / s) ∈ [−127, 127]
//!       (symmetric, per head and per token, as Golden Stick's KVCache int8), standing for q·s;
//!       attention reads q and s in integers (super::attention_int8)
//! ```

use half::f16;

use super::attention_int8::{self, Int8Kv};
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

/// The keys ([0]) and values ([1]) of every layer, in one format.
enum Store {
    F32([Vec<f32>; 2]),
    F16([Vec<f16>; 2]),
    /// q and one scale per (layer, position, kv head).
    Int8 { q: [Vec<i8>; 2], scale: [Vec<f32>; 2] },
}

/// One layer's keys and values: [T][Hkv·hd] each (and, for int8, [T][Hkv] scales each).
#[derive(Clone, Copy)]
pub(crate) enum LayerRows<'a> {
    F32 { k: &'a [f32], v: &'a [f32] },
    F16 { k: &'a [f16], v: &'a [f16] },
    Int8(Int8Kv<'a>),
}

pub struct KvCache {
    format: KvFormat,
    n_layers: usize,
    /// Positions the cache holds: the model's context, or fewer ([`KvCache::for_positions`]).
    seq_len: usize,
    kv_dim: usize,
    head_dim: usize,
    /// Positions filled so far.
    len: usize,
    kv: Store,
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
        Self::for_positions(c, format, c.seq_len)
    }

    /// A cache for the first `positions` positions of the context (at most the whole context;
    /// a short job such as a check or a timing does not hold a whole context's memory),
    /// checked against [`MAX_CACHE_BYTES`] first.
    pub fn for_positions(c: &LmConfig, format: KvFormat, positions: usize) -> Result<KvCache, LmError> {
        c.validate()?;
        let positions = positions.min(c.seq_len);
        let bytes = Self::bytes_for(c, format, positions);
        if bytes > MAX_CACHE_BYTES {
            return Err(LmError::TooLarge { what: "the KV cache".into(), bytes, limit: MAX_CACHE_BYTES });
        }
        let n = c.n_layers * positions * c.kv_dim();
        let scales = c.n_layers * positions * c.n_kv_heads;
        let kv = match format {
            KvFormat::F32 => Store::F32([vec![0.0; n], vec![0.0; n]]),
            KvFormat::F16 => Store::F16([vec![f16::ZERO; n], vec![f16::ZERO; n]]),
            KvFormat::Int8 => Store::Int8 { q: [vec![0; n], vec![0; n]], scale: [vec![0.0; scales], vec![0.0; scales]] },
        };
        Ok(KvCache {
            format,
            n_layers: c.n_layers,
            seq_len: positions,
            kv_dim: c.kv_dim(),
            head_dim: c.head_dim(),
            len: 0,
            kv,
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

    /// Positions the cache can hold.
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
        let heads = kv_dim / hd;
        for (i, x) in [k, v].into_iter().enumerate() {
            match &mut self.kv {
                Store::F32(d) => d[i][at..at + kv_dim].copy_from_slice(x),
                Store::F16(d) => {
                    for (o, &xi) in d[i][at..at + kv_dim].iter_mut().zip(x) {
                        *o = f16::from_f32(xi);
                    }
                }
                Store::Int8 { q, scale } => {
                    let quantize = attention_int8::best().quantize;
                    for h in 0..heads {
                        let s = quantize(&x[h * hd..(h + 1) * hd], &mut q[i][at + h * hd..at + (h + 1) * hd]);
                        scale[i][(layer * self.seq_len + pos) * heads + h] = s;
                    }
                }
            }
        }
    }

    /// The keys and values of `layer` (every position of the context; the first len() are filled).
    pub(crate) fn layer(&self, layer: usize) -> LayerRows<'_> {
        let (t, kv_dim, heads) = (self.seq_len, self.kv_dim, self.kv_dim / self.head_dim);
        let rows = layer * t * kv_dim..(layer + 1) * t * kv_dim;
        let scales = layer * t * heads..(layer + 1) * t * heads;
        match &self.kv {
            Store::F32([k, v]) => LayerRows::F32 { k: &k[rows.clone()], v: &v[rows] },
            Store::F16([k, v]) => LayerRows::F16 { k: &k[rows.clone()], v: &v[rows] },
            Store::Int8 { q: [kq, vq], scale: [ks, vs] } => LayerRows::Int8(Int8Kv {
                kq: &kq[rows.clone()],
                ks: &ks[scales.clone()],
                vq: &vq[rows],
                vs: &vs[scales],
            }),
        }
    }

    pub fn n_layers(&self) -> usize {
        self.n_layers
    }
}

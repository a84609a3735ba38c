//! The shape of a Llama-style decoder, checked before anything is allocated.

use std::collections::HashMap;

use super::LmError;

/// Largest model accepted: 64 Mi parameters (256 MiB of f32), enough for llama2.c's
/// 15 M and 42 M TinyStories models.
pub const MAX_PARAMS: u128 = 64 << 20;
/// Most blocks (the largest Llama has 126): each block is several allocations and a pass of
/// bookkeeping, so a file of many tiny blocks cannot cost far more memory than its bytes.
pub const MAX_LAYERS: usize = 1024;
/// Longest context accepted.
pub const MAX_SEQ_LEN: usize = 4096;
/// Largest vocabulary accepted.
pub const MAX_VOCAB: usize = 262_144;

#[derive(Clone, Debug, PartialEq)]
pub struct LmConfig {
    /// D, the width of the residual stream.
    pub dim: usize,
    /// L, the number of transformer blocks.
    pub n_layers: usize,
    /// H, query heads; the head dimension is D / H.
    pub n_heads: usize,
    /// Hkv, key/value heads (grouped-query attention when < H); H % Hkv == 0.
    pub n_kv_heads: usize,
    /// F, the hidden width of the SwiGLU MLP.
    pub hidden_dim: usize,
    /// V, the vocabulary size.
    pub vocab_size: usize,
    /// T, the longest sequence (context) the model runs.
    pub seq_len: usize,
    pub norm_eps: f32,
    pub rope_theta: f32,
    /// The output head is the token embedding (no `output.weight`).
    pub tied: bool,
}

impl LmConfig {
    /// hd = D / H.
    pub fn head_dim(&self) -> usize {
        self.dim / self.n_heads
    }

    /// Hkv · hd, the width of k and v.
    pub fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim()
    }

    /// The integer fields with their names (as the metadata and the errors spell them).
    fn sizes(&self) -> [(&'static str, usize); 7] {
        [
            ("dim", self.dim),
            ("n_layers", self.n_layers),
            ("n_heads", self.n_heads),
            ("n_kv_heads", self.n_kv_heads),
            ("hidden_dim", self.hidden_dim),
            ("vocab_size", self.vocab_size),
            ("seq_len", self.seq_len),
        ]
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), LmError> {
        let bad = |field: &'static str, message: String| Err(LmError::Config { field, message });
        for (field, v) in self.sizes() {
            if v == 0 {
                return bad(field, "must be at least 1".into());
            }
        }
        if !self.dim.is_multiple_of(self.n_heads) {
            return bad("n_heads", format!("{} heads do not divide dim {}", self.n_heads, self.dim));
        }
        if !self.head_dim().is_multiple_of(2) {
            return bad("n_heads", format!("the head dimension {} must be even for rotary embeddings", self.head_dim()));
        }
        if self.n_kv_heads > self.n_heads || !self.n_heads.is_multiple_of(self.n_kv_heads) {
            return bad(
                "n_kv_heads",
                format!("{} key/value heads must divide the {} query heads", self.n_kv_heads, self.n_heads),
            );
        }
        if self.n_layers > MAX_LAYERS {
            return bad("n_layers", format!("{} is more than the limit {MAX_LAYERS}", self.n_layers));
        }
        if self.seq_len > MAX_SEQ_LEN {
            return bad("seq_len", format!("{} is longer than the limit {MAX_SEQ_LEN}", self.seq_len));
        }
        if self.vocab_size > MAX_VOCAB {
            return bad("vocab_size", format!("{} is larger than the limit {MAX_VOCAB}", self.vocab_size));
        }
        if !(self.norm_eps.is_finite() && self.norm_eps > 0.0) {
            return bad("norm_eps", format!("{} must be a positive number", self.norm_eps));
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 1.0) {
            return bad("rope_theta", format!("{} must be a number above 1", self.rope_theta));
        }
        let params = self.param_count();
        if params > MAX_PARAMS {
            return Err(LmError::TooLarge { what: "a model of this shape (f32 weights)".into(), bytes: params.saturating_mul(4), limit: MAX_PARAMS * 4 });
        }
        // Attention widens one head's key into a stack row of 512 values.
        if self.head_dim() > 512 {
            return bad("n_heads", format!("the head dimension {} is above 512", self.head_dim()));
        }
        Ok(())
    }

    /// [`LmConfig::validate`], its error naming the field as a file spells it (`keys`: qplay's
    /// name → the file's, e.g. `("n_heads", "num_attention_heads")`), with qplay's beside it.
    pub fn validate_named(&self, keys: &[(&str, &'static str)]) -> Result<(), LmError> {
        self.validate().map_err(|e| match e {
            LmError::Config { field, message } => match keys.iter().find(|(ours, _)| *ours == field) {
                Some((_, theirs)) if *theirs != field => LmError::Config { field: theirs, message: format!("{message} (qplay's {field})") },
                _ => LmError::Config { field, message },
            },
            e => e,
        })
    }

    /// Parameters, counted in u128 and saturating: a configuration of 64-bit dimensions
    /// (d · f up to 2^128) counts as u128::MAX, never wraps below a limit.
    pub fn param_count(&self) -> u128 {
        let (d, f, v) = (self.dim as u128, self.hidden_dim as u128, self.vocab_size as u128);
        let kv = if self.n_heads == 0 { 0 } else { (self.n_kv_heads as u128).saturating_mul(d / self.n_heads as u128) };
        let sum = |terms: &[u128]| terms.iter().fold(0u128, |a, &t| a.saturating_add(t));
        let prod = |factors: &[u128]| factors.iter().fold(1u128, |a, &t| a.saturating_mul(t));
        // 2d (norms) + 2d² (wq, wo) + 2·kv·d (wk, wv) + 3·d·f (w1, w2, w3) per layer.
        let per_layer = sum(&[prod(&[2, d]), prod(&[2, d, d]), prod(&[2, kv, d]), prod(&[3, d, f])]);
        let head = if self.tied { 0 } else { prod(&[v, d]) };
        sum(&[prod(&[v, d]), prod(&[self.n_layers as u128, per_layer]), d, head])
    }

    /// Parameters in the Linear layers of the blocks (what block quantization applies to).
    pub fn matrix_shapes(&self) -> Vec<(&'static str, usize, usize)> {
        let (d, f, kv) = (self.dim, self.hidden_dim, self.kv_dim());
        vec![
            ("attention.wq", d, d),
            ("attention.wk", kv, d),
            ("attention.wv", kv, d),
            ("attention.wo", d, d),
            ("feed_forward.w1", f, d),
            ("feed_forward.w2", d, f),
            ("feed_forward.w3", f, d),
        ]
    }

    /// The safetensors `__metadata__` form (decimal strings).
    pub fn to_metadata(&self) -> HashMap<String, String> {
        let mut m = HashMap::new();
        for (k, v) in self.sizes() {
            m.insert(k.to_string(), v.to_string());
        }
        m.insert("norm_eps".into(), format!("{:e}", self.norm_eps));
        m.insert("rope_theta".into(), format!("{}", self.rope_theta));
        m.insert("tied".into(), self.tied.to_string());
        m
    }

    /// Reads and validates the metadata form.
    pub fn from_metadata(m: &HashMap<String, String>) -> Result<LmConfig, LmError> {
        fn get<T: std::str::FromStr>(m: &HashMap<String, String>, field: &'static str) -> Result<T, LmError> {
            let s = m
                .get(field)
                .ok_or_else(|| LmError::Config { field, message: "missing from the file's metadata".into() })?;
            s.trim().parse().map_err(|_| LmError::Config { field, message: format!("{s:?} is not a valid value") })
        }
        let c = LmConfig {
            dim: get(m, "dim")?,
            n_layers: get(m, "n_layers")?,
            n_heads: get(m, "n_heads")?,
            n_kv_heads: get(m, "n_kv_heads")?,
            hidden_dim: get(m, "hidden_dim")?,
            vocab_size: get(m, "vocab_size")?,
            seq_len: get(m, "seq_len")?,
            norm_eps: get(m, "norm_eps")?,
            rope_theta: get(m, "rope_theta")?,
            tied: get(m, "tied")?,
        };
        c.validate()?;
        Ok(c)
    }

    /// The built-in Shakespeare model: every matrix dimension a multiple of 64.
    pub fn shakespeare() -> LmConfig {
        LmConfig {
            dim: 128,
            n_layers: 6,
            n_heads: 4,
            n_kv_heads: 2,
            hidden_dim: 384,
            vocab_size: 128,
            seq_len: 256,
            norm_eps: 1e-5,
            rope_theta: 10000.0,
            tied: false,
        }
    }

    /// The larger Shakespeare model (issue 13's "larger model"): 2.6× the parameters of the
    /// built-in one, twice its width, with the same alphabet and context.
    pub fn shakespeare_large() -> LmConfig {
        LmConfig { dim: 256, n_layers: 4, n_heads: 8, n_kv_heads: 4, hidden_dim: 768, ..LmConfig::shakespeare() }
    }

    /// The shape of llama2.c's 15 M-parameter TinyStories model (for speed comparisons).
    pub fn tinystories_15m() -> LmConfig {
        LmConfig {
            dim: 288,
            n_layers: 6,
            n_heads: 6,
            n_kv_heads: 6,
            hidden_dim: 768,
            vocab_size: 32000,
            seq_len: 256,
            norm_eps: 1e-5,
            rope_theta: 10000.0,
            tied: true,
        }
    }
}

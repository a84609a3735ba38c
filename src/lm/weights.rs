//! The FP32 weights of a decoder, their safetensors form, and a seeded initialisation.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use super::{LmConfig, LmError};
use crate::formats::safetensors::{write_raw, RawTensor, SafetensorsHeader, MAX_SAFETENSORS_BYTES};

/// One transformer block. Matrices are [out, in] row-major (y = x·Wᵀ).
#[derive(Clone, Debug, PartialEq)]
pub struct BlockWeights {
    pub attention_norm: Vec<f32>, // [D]
    pub wq: Vec<f32>,             // [D, D]
    pub wk: Vec<f32>,             // [Hkv·hd, D]
    pub wv: Vec<f32>,             // [Hkv·hd, D]
    pub wo: Vec<f32>,             // [D, D]
    pub ffn_norm: Vec<f32>,       // [D]
    pub w1: Vec<f32>,             // [F, D] gate
    pub w2: Vec<f32>,             // [D, F] down
    pub w3: Vec<f32>,             // [F, D] up
}

#[derive(Clone, Debug, PartialEq)]
pub struct LmWeights {
    pub config: LmConfig,
    pub tok_embeddings: Vec<f32>, // [V, D]
    pub layers: Vec<BlockWeights>,
    pub norm: Vec<f32>,           // [D]
    /// [V, D]; None when tied to the embedding.
    pub output: Option<Vec<f32>>,
    /// The character tokenizer's alphabet in id order (metadata `qplay.alphabet`), when the model has one.
    pub alphabet: Option<String>,
}

/// The metadata key of the character tokenizer's alphabet.
pub const ALPHABET_KEY: &str = "qplay.alphabet";

/// The names of a block's matrices, in the order [`BlockWeights::matrices`] lists them.
pub const BLOCK_MATRICES: [&str; 7] = [
    "attention.wq",
    "attention.wk",
    "attention.wv",
    "attention.wo",
    "feed_forward.w1",
    "feed_forward.w2",
    "feed_forward.w3",
];

impl BlockWeights {
    /// (name, weights, out, in) of each Linear.
    pub fn matrices(&self, c: &LmConfig) -> [(&'static str, &Vec<f32>, usize, usize); 7] {
        let (d, f, kv) = (c.dim, c.hidden_dim, c.kv_dim());
        [
            (BLOCK_MATRICES[0], &self.wq, d, d),
            (BLOCK_MATRICES[1], &self.wk, kv, d),
            (BLOCK_MATRICES[2], &self.wv, kv, d),
            (BLOCK_MATRICES[3], &self.wo, d, d),
            (BLOCK_MATRICES[4], &self.w1, f, d),
            (BLOCK_MATRICES[5], &self.w2, d, f),
            (BLOCK_MATRICES[6], &self.w3, f, d),
        ]
    }

    pub fn matrices_mut(&mut self) -> [&mut Vec<f32>; 7] {
        [&mut self.wq, &mut self.wk, &mut self.wv, &mut self.wo, &mut self.w1, &mut self.w2, &mut self.w3]
    }
}

impl LmWeights {
    /// Every tensor as (name, shape, values), in a fixed order.
    pub fn tensors(&self) -> Vec<(String, Vec<usize>, &Vec<f32>)> {
        let c = &self.config;
        let mut v = vec![("tok_embeddings.weight".to_string(), vec![c.vocab_size, c.dim], &self.tok_embeddings)];
        for (l, b) in self.layers.iter().enumerate() {
            v.push((format!("layers.{l}.attention_norm.weight"), vec![c.dim], &b.attention_norm));
            for (name, w, o, i) in b.matrices(c) {
                v.push((format!("layers.{l}.{name}.weight"), vec![o, i], w));
            }
            v.push((format!("layers.{l}.ffn_norm.weight"), vec![c.dim], &b.ffn_norm));
        }
        v.push(("norm.weight".into(), vec![c.dim], &self.norm));
        if let Some(o) = &self.output {
            v.push(("output.weight".into(), vec![c.vocab_size, c.dim], o));
        }
        v
    }

    /// The output head's weights [V, D] (the embedding when tied).
    pub fn output_weights(&self) -> &[f32] {
        self.output.as_deref().unwrap_or(&self.tok_embeddings)
    }

    /// Seeded initialisation as GPT-2 / llama2.c training does it: N(0, 0.02) for matrices,
    /// N(0, 0.02 / sqrt(2L)) for the projections into the residual stream (wo, w2), norms at 1.
    pub fn init(config: &LmConfig, seed: u64) -> Result<LmWeights, LmError> {
        config.validate()?;
        let c = config;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut normal = |n: usize, std: f32| -> Vec<f32> {
            let d = Normal::new(0f32, std).expect("a positive standard deviation");
            (0..n).map(|_| d.sample(&mut rng)).collect()
        };
        let (d, f, kv, v) = (c.dim, c.hidden_dim, c.kv_dim(), c.vocab_size);
        let res_std = 0.02 / ((2 * c.n_layers) as f32).sqrt();
        let tok_embeddings = normal(v * d, 0.02);
        let mut layers = Vec::with_capacity(c.n_layers);
        for _ in 0..c.n_layers {
            layers.push(BlockWeights {
                attention_norm: vec![1.0; d],
                wq: normal(d * d, 0.02),
                wk: normal(kv * d, 0.02),
                wv: normal(kv * d, 0.02),
                wo: normal(d * d, res_std),
                ffn_norm: vec![1.0; d],
                w1: normal(f * d, 0.02),
                w2: normal(d * f, res_std),
                w3: normal(f * d, 0.02),
            });
        }
        let output = if c.tied { None } else { Some(normal(v * d, 0.02)) };
        Ok(LmWeights { config: c.clone(), tok_embeddings, layers, norm: vec![1.0; d], output, alphabet: None })
    }

    /// Checks every tensor's length and that every weight is finite (names the first bad one).
    pub fn validate(&self) -> Result<(), LmError> {
        self.config.validate()?;
        if self.layers.len() != self.config.n_layers {
            return Err(LmError::Config {
                field: "n_layers",
                message: format!("{} blocks of weights for {} layers", self.layers.len(), self.config.n_layers),
            });
        }
        if self.config.tied != self.output.is_none() {
            return Err(LmError::Tensor {
                name: "output.weight".into(),
                message: if self.config.tied { "present in a tied model".into() } else { "missing".into() },
            });
        }
        for (name, shape, values) in self.tensors() {
            let n: usize = shape.iter().product();
            if values.len() != n {
                return Err(LmError::Tensor { name, message: format!("{} values for shape {shape:?}", values.len()) });
            }
            if let Some(index) = values.iter().position(|x| !x.is_finite()) {
                return Err(LmError::NonFinite { tensor: name, index });
            }
        }
        Ok(())
    }

    /// The safetensors form (F32, Meta's names, the configuration as metadata).
    pub fn to_safetensors(&self) -> Result<Vec<u8>, LmError> {
        let raw: Vec<RawTensor> = self.tensors().into_iter().map(|(n, s, v)| RawTensor::f32(n, &s, v)).collect();
        let mut meta = self.config.to_metadata();
        if let Some(a) = &self.alphabet {
            meta.insert(ALPHABET_KEY.into(), a.clone());
        }
        Ok(write_raw(&raw, meta)?)
    }

    /// Reads a model written by [`LmWeights::to_safetensors`] (or any F32/F16/BF16 file with
    /// the same names and metadata). Every shape is checked against the configuration.
    pub fn from_safetensors(bytes: &[u8]) -> Result<LmWeights, LmError> {
        // The configuration first: a file without it (a Hugging Face shard, a packed model) is
        // refused before its tensors are converted to f32.
        let header = SafetensorsHeader::parse(bytes, MAX_SAFETENSORS_BYTES)?;
        let config = LmConfig::from_metadata(&header.metadata())?;
        let file = header.read_all()?;
        let c = &config;
        // By name once (a lookup per tensor by scanning would be quadratic in the file's tensors).
        let index: std::collections::HashMap<&str, &crate::formats::Tensor> = file.tensors.iter().map(|t| (t.name.as_str(), &t.tensor)).collect();
        let take = |name: &str, shape: &[usize]| -> Result<Vec<f32>, LmError> {
            let t = index
                .get(name)
                .copied()
                .ok_or_else(|| LmError::Tensor { name: name.into(), message: "missing from the file".into() })?;
            if t.shape != shape {
                return Err(LmError::Tensor {
                    name: name.into(),
                    message: format!("shape {:?}, the configuration needs {shape:?}", t.shape),
                });
            }
            Ok(t.values.clone())
        };
        let (d, f, kv, v) = (c.dim, c.hidden_dim, c.kv_dim(), c.vocab_size);
        let mut layers = Vec::with_capacity(c.n_layers);
        for l in 0..c.n_layers {
            let p = |n: &str| format!("layers.{l}.{n}.weight");
            layers.push(BlockWeights {
                attention_norm: take(&p("attention_norm"), &[d])?,
                wq: take(&p("attention.wq"), &[d, d])?,
                wk: take(&p("attention.wk"), &[kv, d])?,
                wv: take(&p("attention.wv"), &[kv, d])?,
                wo: take(&p("attention.wo"), &[d, d])?,
                ffn_norm: take(&p("ffn_norm"), &[d])?,
                w1: take(&p("feed_forward.w1"), &[f, d])?,
                w2: take(&p("feed_forward.w2"), &[d, f])?,
                w3: take(&p("feed_forward.w3"), &[f, d])?,
            });
        }
        let output = if c.tied {
            if index.contains_key("output.weight") {
                return Err(LmError::Tensor { name: "output.weight".into(), message: "present in a tied model".into() });
            }
            None
        } else {
            Some(take("output.weight", &[v, d])?)
        };
        let w = LmWeights {
            config: config.clone(),
            tok_embeddings: take("tok_embeddings.weight", &[v, d])?,
            layers,
            norm: take("norm.weight", &[d])?,
            output,
            alphabet: file.metadata.get(ALPHABET_KEY).cloned(),
        };
        if let Some(a) = &w.alphabet {
            if a.chars().count() > c.vocab_size {
                return Err(LmError::Config {
                    field: "vocab_size",
                    message: format!("the alphabet has {} characters for {} ids", a.chars().count(), c.vocab_size),
                });
            }
        }
        w.validate()?;
        Ok(w)
    }
}

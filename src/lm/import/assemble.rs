//! The tensors of a Llama decoder by role, and [`LmWeights`] built from whatever file
//! holds them: each reader maps a [`Role`] to its own name and storage, checks the
//! shape, converts to f32 and checks that every value is finite; [`assemble`] asks for
//! every role in a fixed order and validates the result.
//!
//! ```text
//! role            Meta / qplay name                  shape [out, in] (or [n])
//! TokEmbeddings   tok_embeddings.weight              [V, D]
//! AttentionNorm   layers.{l}.attention_norm.weight   [D]
//! Wq, Wk, Wv, Wo  layers.{l}.attention.w?.weight     [D, D], [Hkv·hd, D], [Hkv·hd, D], [D, D]
//! FfnNorm         layers.{l}.ffn_norm.weight         [D]
//! W1, W2, W3      layers.{l}.feed_forward.w?.weight  [F, D] gate, [D, F] down, [F, D] up
//! Norm            norm.weight                        [D]
//! Output          output.weight                      [V, D]  (absent when tied)
//! ```

use crate::lm::{BlockWeights, LmConfig, LmError, LmWeights};

/// One weight of the decoder; the usize is the layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    TokEmbeddings,
    AttentionNorm(usize),
    Wq(usize),
    Wk(usize),
    Wv(usize),
    Wo(usize),
    FfnNorm(usize),
    W1(usize),
    W2(usize),
    W3(usize),
    Norm,
    Output,
}

impl Role {
    /// The shape the configuration requires: [out, in] for a matrix, [n] for a norm.
    pub fn shape(self, c: &LmConfig) -> Vec<usize> {
        let (d, f, kv, v) = (c.dim, c.hidden_dim, c.kv_dim(), c.vocab_size);
        match self {
            Role::TokEmbeddings | Role::Output => vec![v, d],
            Role::AttentionNorm(_) | Role::FfnNorm(_) | Role::Norm => vec![d],
            Role::Wq(_) | Role::Wo(_) => vec![d, d],
            Role::Wk(_) | Role::Wv(_) => vec![kv, d],
            Role::W1(_) | Role::W3(_) => vec![f, d],
            Role::W2(_) => vec![d, f],
        }
    }

    /// qplay's (Meta's) name, as [`LmWeights::tensors`] lists it.
    pub fn meta_name(self) -> String {
        match self {
            Role::TokEmbeddings => "tok_embeddings.weight".into(),
            Role::AttentionNorm(l) => format!("layers.{l}.attention_norm.weight"),
            Role::Wq(l) => format!("layers.{l}.attention.wq.weight"),
            Role::Wk(l) => format!("layers.{l}.attention.wk.weight"),
            Role::Wv(l) => format!("layers.{l}.attention.wv.weight"),
            Role::Wo(l) => format!("layers.{l}.attention.wo.weight"),
            Role::FfnNorm(l) => format!("layers.{l}.ffn_norm.weight"),
            Role::W1(l) => format!("layers.{l}.feed_forward.w1.weight"),
            Role::W2(l) => format!("layers.{l}.feed_forward.w2.weight"),
            Role::W3(l) => format!("layers.{l}.feed_forward.w3.weight"),
            Role::Norm => "norm.weight".into(),
            Role::Output => "output.weight".into(),
        }
    }

    /// A 1-D norm weight (kept in f32 by every quantized format).
    pub fn is_norm(self) -> bool {
        matches!(self, Role::AttentionNorm(_) | Role::FfnNorm(_) | Role::Norm)
    }

    /// Every role the configuration needs, in [`LmWeights::tensors`] order.
    pub fn all(c: &LmConfig) -> Vec<Role> {
        let mut v = vec![Role::TokEmbeddings];
        for l in 0..c.n_layers {
            v.extend([
                Role::AttentionNorm(l),
                Role::Wq(l),
                Role::Wk(l),
                Role::Wv(l),
                Role::Wo(l),
                Role::W1(l),
                Role::W2(l),
                Role::W3(l),
                Role::FfnNorm(l),
            ]);
        }
        v.push(Role::Norm);
        if !c.tied {
            v.push(Role::Output);
        }
        v
    }
}

/// Builds the weights of a validated `config`, asking `take(role, shape)` for each
/// tensor (which returns `shape`'s product of finite values or a typed error).
pub fn assemble(
    config: LmConfig,
    alphabet: Option<String>,
    mut take: impl FnMut(Role, &[usize]) -> Result<Vec<f32>, LmError>,
) -> Result<LmWeights, LmError> {
    config.validate()?;
    let c = &config;
    let mut get = |r: Role| take(r, &r.shape(c));
    let tok_embeddings = get(Role::TokEmbeddings)?;
    let mut layers = Vec::with_capacity(c.n_layers);
    for l in 0..c.n_layers {
        layers.push(BlockWeights {
            attention_norm: get(Role::AttentionNorm(l))?,
            wq: get(Role::Wq(l))?,
            wk: get(Role::Wk(l))?,
            wv: get(Role::Wv(l))?,
            wo: get(Role::Wo(l))?,
            w1: get(Role::W1(l))?,
            w2: get(Role::W2(l))?,
            w3: get(Role::W3(l))?,
            ffn_norm: get(Role::FfnNorm(l))?,
        });
    }
    let norm = get(Role::Norm)?;
    let output = if c.tied { None } else { Some(get(Role::Output)?) };
    let w = LmWeights { config: config.clone(), tok_embeddings, layers, norm, output, alphabet };
    w.validate()?;
    Ok(w)
}

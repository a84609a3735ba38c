//! Language models: a Llama-style decoder (the architecture of llama2.c and
//! Hugging Face `LlamaForCausalLM`), trained here, quantized the way Golden
//! Stick / llama.cpp / runq.c do it, and run on our own int8 / int4 kernels.
//!
//! ```text
//! D = dim, L = layers, H = heads, Hkv = key/value heads (H % Hkv == 0), hd = D / H,
//! F = hidden dim of the SwiGLU MLP, V = vocabulary, T = sequence length
//!
//! h = tok_embeddings[tokens]                                  [T, D]
//! for each layer l:
//!   a = rmsnorm(h) ⊙ attention_norm                           rmsnorm(x) = x / sqrt(mean(x²) + eps)
//!   q = a·wqᵀ [T, D], k = a·wkᵀ [T, Hkv·hd], v = a·wvᵀ [T, Hkv·hd]
//!   q, k ← rope(q, pos), rope(k, pos)                          interleaved pairs (x[2i], x[2i+1]),
//!                                                              θ_i = pos / rope_theta^(2i / hd)  (llama2.c / Meta layout)
//!   head j attends with kv head j / (H / Hkv), causal mask, softmax(q·kᵀ / sqrt(hd))
//!   h = h + (attention output)·woᵀ
//!   m = rmsnorm(h) ⊙ ffn_norm
//!   h = h + (silu(m·w1ᵀ) ⊙ (m·w3ᵀ))·w2ᵀ                       w1 = gate, w3 = up, w2 = down
//! logits = (rmsnorm(h) ⊙ norm)·outputᵀ                         output = tok_embeddings when tied
//! ```
//!
//! Tensor names (safetensors, Meta's llama naming as llama2.c's export uses;
//! every weight [out, in] row-major, f32 little-endian):
//! `tok_embeddings.weight` [V, D], `layers.{l}.attention_norm.weight` [D],
//! `layers.{l}.attention.wq.weight` [D, D], `.wk.weight` [Hkv·hd, D], `.wv.weight` [Hkv·hd, D],
//! `.wo.weight` [D, D], `layers.{l}.ffn_norm.weight` [D], `layers.{l}.feed_forward.w1.weight` [F, D],
//! `.w2.weight` [D, F], `.w3.weight` [F, D], `norm.weight` [D], `output.weight` [V, D] (absent when tied).
//! The configuration is the safetensors `__metadata__`: `dim`, `n_layers`, `n_heads`, `n_kv_heads`,
//! `hidden_dim`, `vocab_size`, `seq_len`, `norm_eps`, `rope_theta`, `tied` (all as decimal strings).
//!
//! - [`config`]: the shape, checked before anything is allocated; [`weights`]: FP32 weights and their file;
//! - [`linear`]: one Linear whatever its weight format (the quantized-matmul abstraction);
//! - [`forward`]: the forward pass over a [`kv_cache`]; [`tokenizer`]: characters to ids;
//! - [`sample`]: greedy and seeded sampling; [`eval`]: perplexity, KL and top-1 against FP32;
//! - [`train`]: the trainer (native), forward and backward with AdamW.

pub mod attention;
pub mod attention_int8;
pub mod bench;
pub mod config;
pub mod corpus;
pub mod error;
pub mod eval;
pub mod exp;
pub mod forward;
pub mod import;
pub mod inspect;
pub mod kv_cache;
pub mod linear;
pub mod sample;
pub mod tokenizer;
pub mod tokenizer_bpe;
pub mod tokenizer_json;
pub mod tokenizer_pieces;
pub mod tokenizer_spm;
pub mod tokenizers;
#[cfg(not(target_arch = "wasm32"))]
pub mod train;
pub mod weights;

pub use config::LmConfig;
pub use error::LmError;
pub use forward::{Block, Embedding, LmModel, NoProbe, Probe};
pub use kv_cache::{KvCache, KvFormat};
pub use linear::LmLinear;
pub use tokenizer::CharTokenizer;
pub use weights::{BlockWeights, LmWeights};

impl LmModel {
    /// The FP32 model: every weight as it is.
    pub fn from_weights(w: &LmWeights) -> Result<LmModel, LmError> {
        w.validate()?;
        let c = &w.config;
        let blocks = w
            .layers
            .iter()
            .map(|b| {
                let [q, k, v, o, w1, w2, w3] = b.matrices(c).map(|(_, m, n, kk)| LmLinear::f32(m, n, kk));
                Block {
                    attention_norm: b.attention_norm.clone(),
                    wq: q,
                    wk: k,
                    wv: v,
                    wo: o,
                    ffn_norm: b.ffn_norm.clone(),
                    w1,
                    w2,
                    w3,
                }
            })
            .collect();
        let output = LmLinear::f32(w.output_weights(), c.vocab_size, c.dim);
        LmModel::new(c.clone(), Embedding::F32(w.tok_embeddings.clone()), blocks, w.norm.clone(), output)
    }
}

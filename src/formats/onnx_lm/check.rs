//! What is checked before a language model is written: the configuration, every tensor's shape
//! against it (the model's fields are public, so a hand-built model may disagree with its own
//! configuration), every integer weight's invariants and finite scales, and the export's size
//! (estimated in u128 before anything is allocated).
//!
//! ```text
//! bytes ≈ Σ Linear (FP32: 4·N·K; integers: N·K·b/8 + 4·(scales + minimums)) + embedding
//!         + 4·D·(2L + 1) norms + 2·4·seq_len·hd rotary tables          ≤ MAX_LM_ONNX_BYTES
//! ```

use super::MAX_LM_ONNX_BYTES;
use crate::formats::FormatError;
use crate::lm::{Embedding, LmLinear, LmModel};
use crate::runtime::gemm_f32::PANEL;
use crate::units::bytes_exact;

fn export_err(message: String) -> FormatError {
    FormatError::Export(message)
}

/// Bytes the initializers of one Linear take (its stored form, u128).
fn linear_bytes(l: &LmLinear) -> u128 {
    let nk = l.n() as u128 * l.k() as u128;
    match l {
        LmLinear::Float { .. } => 4 * nk,
        LmLinear::Grouped { w, .. } => {
            let per_group = 4 * (1 + u128::from(w.min.is_some()));
            nk * u128::from(w.bits) / 8 + per_group * w.scale.len() as u128
        }
    }
}

/// Checks one Linear called `name` against its expected [n, k].
pub(super) fn check_linear(name: &str, l: &LmLinear, n: usize, k: usize) -> Result<(), FormatError> {
    if (l.n(), l.k()) != (n, k) {
        return Err(export_err(format!("layer {name}: weight [{}, {}], the configuration needs [{n}, {k}]", l.n(), l.k())));
    }
    match l {
        LmLinear::Float { w, plain, .. } => {
            let packed = n.div_ceil(PANEL).checked_mul(k).and_then(|v| v.checked_mul(PANEL));
            let ok = if plain.is_empty() { packed == Some(w.data.len()) } else { Some(plain.len()) == n.checked_mul(k) };
            if !ok {
                return Err(export_err(format!("layer {name}: the float weights do not hold [{n}, {k}] values")));
            }
        }
        LmLinear::Grouped { w, .. } => {
            w.validate().map_err(|e| export_err(format!("layer {name}: {e}")))?;
            let bad = w.scale.iter().chain(w.min.iter().flatten()).position(|v| !v.is_finite());
            if let Some(i) = bad {
                return Err(export_err(format!("layer {name}: scale or minimum {i} is NaN or infinite")));
            }
        }
    }
    Ok(())
}

/// Checks the whole model (see the module header).
pub(super) fn check_model(m: &LmModel) -> Result<(), FormatError> {
    let c = &m.config;
    c.validate().map_err(|e| export_err(e.to_string()))?;
    if m.blocks.len() != c.n_layers {
        return Err(export_err(format!("{} blocks for {} layers", m.blocks.len(), c.n_layers)));
    }
    let (d, v) = (c.dim, c.vocab_size);
    let mut bytes = 4 * d as u128 * (2 * c.n_layers as u128 + 1) + 8 * c.seq_len as u128 * c.head_dim() as u128;
    match &m.embedding {
        Embedding::F32(e) => {
            if Some(e.len()) != v.checked_mul(d) {
                return Err(export_err(format!("layer tok_embeddings: {} values for [{v}, {d}]", e.len())));
            }
            bytes += 4 * e.len() as u128;
        }
        Embedding::Linear(l) => {
            check_linear("tok_embeddings", l, v, d)?;
            bytes += linear_bytes(l);
        }
    }
    for (l, b) in m.blocks.iter().enumerate() {
        for (norm, w) in [("attention_norm", &b.attention_norm), ("ffn_norm", &b.ffn_norm)] {
            if w.len() != d {
                return Err(export_err(format!("layers.{l}.{norm}: {} values for [{d}]", w.len())));
            }
        }
        for ((name, lin), (_, n, k)) in b.linears().into_iter().zip(c.matrix_shapes()) {
            check_linear(&format!("layers.{l}.{name}"), lin, n, k)?;
            bytes += linear_bytes(lin);
        }
    }
    if m.norm.len() != d {
        return Err(export_err(format!("norm: {} values for [{d}]", m.norm.len())));
    }
    check_linear("output", &m.output, v, d)?;
    bytes += linear_bytes(&m.output);
    if bytes > MAX_LM_ONNX_BYTES {
        return Err(export_err(format!("the export needs about {} of weights; the limit is {}", bytes_exact(bytes), bytes_exact(MAX_LM_ONNX_BYTES))));
    }
    Ok(())
}

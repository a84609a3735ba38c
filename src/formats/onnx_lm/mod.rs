//! A language model ([`crate::lm::LmModel`], FP32 or quantized by [`crate::ptq::lm::quantize_lm`])
//! as ONNX: the whole decoder for a full-sequence forward (no KV cache), every quantized Linear
//! in QDQ form (integer initializer → DequantizeLinear → MatMul), as Neural Compressor's
//! GPT-J export puts QDQ nodes in front of every MatMul.
//!
//! ```text
//! B = batch, T = tokens (T ≤ seq_len), D = dim, H = heads, Hkv = kv heads, hd = D / H, V = vocabulary
//!
//! input_ids [B, T] int64
//! h = Gather(tok_embeddings [V, D], input_ids)                          [B, T, D]
//! for each layer l:
//!   a = rmsnorm(h) ⊙ attention_norm          Mul(Mul(x, Reciprocal(Sqrt(ReduceMean(x·x) + eps))), w)
//!   q, k, v = a·wqᵀ, a·wkᵀ, a·wvᵀ            Linear (below)
//!   q, k ← rope(q), rope(k)                  x·cos + swap(x)·sin±  (interleaved pairs, tables sliced to T)
//!   s = q·kᵀ · (1/sqrt(hd)) + causal mask    kv head j / (H / Hkv) gathered for query head j
//!   h = h + (softmax(s)·v)·woᵀ
//!   m = rmsnorm(h) ⊙ ffn_norm
//!   h = h + ((m·w1ᵀ) ⊙ σ(m·w1ᵀ) ⊙ (m·w3ᵀ))·w2ᵀ
//! logits = (rmsnorm(h) ⊙ norm)·outputᵀ                                  [B, T, V] float
//! ```
//!
//! - [`linear`]: each Linear — FP32 (and f16 / bf16 / simulated grids, held as the f32 values qplay
//!   multiplies) as MatMul with the transposed weight initializer; integer weights
//!   ([`crate::quant::grouped::GroupedWeights`]) as an int8 / int4 / uint4 initializer and
//!   DequantizeLinear (per-axis or blocked), plus an Add of the minimums when the grid has them;
//!   int8 activations (W8A8 / W4A8) as a dynamic per-token (per-group) QuantizeLinear /
//!   DequantizeLinear in front of the MatMul.
//! - [`decoder`]: RMSNorm, rotary embeddings, attention, SwiGLU as plain ONNX operators.
//! - [`check`]: the model is checked against its configuration and its size estimated before
//!   anything is written.
//!
//! Opset [`LM_OPSET`] = 21, the lowest that has blocked DequantizeLinear, int4 / uint4 tensors and
//! QuantizeLinear's `output_dtype` (needed for a dynamic int8 QuantizeLinear without a zero-point
//! tensor); IR version [`LM_IR_VERSION`] = 10. The model's metadata holds the qplay configuration's
//! label (`qplay.config`) and, from [`write_lm_onnx`], the configuration itself as JSON
//! (`qplay.quant_config`).
//!
//! **ONNX Runtime note** (1.32, measured by scripts/check_onnx_lm.py): with its default graph
//! optimizations ONNX Runtime fuses every constant DequantizeLinear → MatMul (int4, uint4 and int8
//! weights, blocked or per-axis; not those with an Add of minimums in between) into `MatMulNBits`
//! with `accuracy_level` 4 (session option `session.qdq_matmulnbits_accuracy_level`), which
//! quantizes the activations to int8 per block inside the kernel: weight-only exports then run as
//! W·A8 (logits within ~2 % of max |logit|, perplexity within 0.05 % on the built-in model) and W8A8
//! exports re-quantize their already-quantized activations. With that option at 1 (f32 compute)
//! the graph runs as written: weight-only exports match qplay's logits to ~1e-6.

pub mod check;
pub mod decoder;
pub mod linear;

use std::collections::HashMap;

use onnx_protobuf::tensor_proto::DataType;
use onnx_protobuf::{GraphProto, Message, ModelProto, OperatorSetIdProto, StringStringEntryProto};
use protobuf::MessageField;

use super::onnx::graph::{value_info, Dim, GraphBuilder};
use super::FormatError;
use crate::lm::{Embedding, LmModel};
use crate::ptq::lm::{LmQuantConfig, QuantizedLm};

/// Opset of language-model exports: blocked DequantizeLinear, int4, QuantizeLinear `output_dtype`.
pub const LM_OPSET: i64 = 21;
/// The IR version that goes with [`LM_OPSET`] (int4 tensors need 10).
pub const LM_IR_VERSION: i64 = 10;
/// Largest export: 1 GiB of weights (protobuf cannot hold more than 2 GiB in one message).
pub const MAX_LM_ONNX_BYTES: u128 = 1 << 30;

/// The graph's input: token ids [B, T] int64.
pub const INPUT_IDS: &str = "input_ids";
/// The graph's output: logits [B, T, V] float.
pub const LOGITS: &str = "logits";
/// Metadata key of the configuration's label ("W8A8 per-channel RTN", "F32", …).
pub const CONFIG_KEY: &str = "qplay.config";
/// Metadata key of the quantization configuration as JSON.
pub const QUANT_CONFIG_KEY: &str = "qplay.quant_config";

/// Writes a quantized (or FP32) language model as ONNX, with its configuration in the metadata.
pub fn write_lm_onnx(q: &QuantizedLm) -> Result<Vec<u8>, FormatError> {
    write_lm_model_onnx(&q.model, &q.config)
}

/// Writes the [`LmModel`] that `config` made as ONNX, with `config` in the metadata: its label
/// (`qplay.config`) and itself as JSON (`qplay.quant_config`). The CLI's export and the page's
/// write the same file.
pub fn write_lm_model_onnx(model: &LmModel, config: &LmQuantConfig) -> Result<Vec<u8>, FormatError> {
    let json = serde_json::to_string(config).map_err(|e| FormatError::Export(format!("the configuration as JSON: {e}")))?;
    write(model, vec![(CONFIG_KEY.into(), config.label()), (QUANT_CONFIG_KEY.into(), json)])
}

/// The graph under construction and its shared constants (one initializer per distinct value).
pub(crate) struct LmGraph {
    pub g: GraphBuilder,
    consts: HashMap<String, String>,
}

impl LmGraph {
    fn new() -> LmGraph {
        LmGraph { g: GraphBuilder::default(), consts: HashMap::new() }
    }

    /// A scalar f32 constant (shared).
    pub fn scalar_f32(&mut self, v: f32) -> String {
        let key = format!("f32:{:08x}", v.to_bits());
        if let Some(n) = self.consts.get(&key) {
            return n.clone();
        }
        let name = self.g.init_f32(&format!("const_f32_{}", self.consts.len()), &[], &[v]);
        self.consts.insert(key, name.clone());
        name
    }

    /// A 1-D int64 constant (axes, shapes, indices; shared).
    pub fn ints(&mut self, v: &[i64]) -> String {
        let key = format!("i64:{v:?}");
        if let Some(n) = self.consts.get(&key) {
            return n.clone();
        }
        let name = self.g.init_i64(&format!("const_i64_{}", self.consts.len()), &[v.len()], v);
        self.consts.insert(key, name.clone());
        name
    }
}

fn write(model: &LmModel, metadata: Vec<(String, String)>) -> Result<Vec<u8>, FormatError> {
    check::check_model(model)?;
    let c = &model.config;
    let mut w = LmGraph::new();
    let ids = w.g.unique(INPUT_IDS);
    let table = match &model.embedding {
        Embedding::F32(e) => w.g.init_f32("tok_embeddings.weight", &[c.vocab_size, c.dim], e),
        Embedding::Linear(l) => linear::embedding_table(&mut w, "tok_embeddings", l)?,
    };
    let mut h = w.g.node("Gather", "tok_embeddings", &[&table, &ids], vec![]);
    let shared = decoder::Shared::new(&mut w, c, &ids);
    for (l, b) in model.blocks.iter().enumerate() {
        h = decoder::block(&mut w, c, &shared, b, l, &h)?;
    }
    let xn = decoder::rmsnorm(&mut w, &h, &model.norm, c.norm_eps, "norm");
    let out = linear::emit_linear(&mut w, "output", &model.output, &xn)?;
    let (mut nodes, initializer) = w.g.into_parts();
    // The last node's output is the logits: give it the graph output's name.
    let last = nodes.last_mut().filter(|n| n.output == [out.clone()]);
    let Some(last) = last else {
        return Err(FormatError::Export("the output head is not the graph's last node".into()));
    };
    last.output = vec![LOGITS.into()];
    let graph = GraphProto {
        name: "qplay_lm".into(),
        node: nodes,
        initializer,
        input: vec![value_info(&ids, DataType::INT64, &[Dim::Named("batch"), Dim::Named("T")])],
        output: vec![value_info(LOGITS, DataType::FLOAT, &[Dim::Named("batch"), Dim::Named("T"), Dim::Fixed(c.vocab_size)])],
        ..Default::default()
    };
    let proto = ModelProto {
        ir_version: LM_IR_VERSION,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: LM_OPSET, ..Default::default() }],
        producer_name: "qplay".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: "Llama-style decoder exported by qplay: input_ids [batch, T] → logits [batch, T, V]; quantized Linears as \
                     integer initializers with DequantizeLinear, int8 activations as dynamic QuantizeLinear/DequantizeLinear"
            .into(),
        metadata_props: metadata
            .into_iter()
            .map(|(key, value)| StringStringEntryProto { key, value, ..Default::default() })
            .collect(),
        graph: MessageField::some(graph),
        ..Default::default()
    };
    proto.write_to_bytes().map_err(|e| FormatError::Export(format!("serialising the ONNX model: {e}")))
}

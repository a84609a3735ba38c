"""Fixtures for qplay's model importers (src/lm/import/, tests/suite/lm_import.rs): one random small
Llama model written in every format qplay reads, by writers that share no code with qplay —
llama2.c's export.py layouts (re-typed here with struct), the PyPI `gguf` package's GGUFWriter and
quantizers, and the PyPI `safetensors` package — with reference logits from
scripts/lm_reference.py's float64 forward pass.

Run it through scripts/make_lm_import_fixtures.sh (a venv under target/lm-import-venv with
gguf==0.19.0, numpy==2.4.6, safetensors==0.8.0):

    bash scripts/make_lm_import_fixtures.sh                 # writes tests/fixtures/lm/import/
    bash scripts/make_lm_import_fixtures.sh check-export    # checks qplay's GGUF export (below)
    bash scripts/make_lm_import_fixtures.sh fuzz-seeds      # seeds of fuzz/corpus/lm_{gguf,llama2c,hf}/

Deterministic: running it again gives the same bytes.

The model (scripts/lm_reference.py's family): dim 32, 2 layers, 4 query heads, 2 kv heads
(grouped-query attention), hidden_dim 64, vocab 32, seq_len 32, norm_eps 1e-5, rope_theta 10000;
weights from lm_reference.random_model, then rounded to bfloat16 (and |x| < 2^-14 set to 0) so
that every weight is exactly an f16 AND a bf16 AND an f32: the F16 / BF16 files hold the very
same weights as the F32 ones, and every lossless format must give the same logits.
"untied" has output.weight; "tied" is the same model without it (the head is the embedding).

Files (tests/fixtures/lm/import/):

    model_v0.bin        untied, llama2.c legacy_export (v0): 7 x i32 header with vocab -32, f32 tensors
                        stacked by kind, freq_cis tables, then the classifier
    model_q80_v2.bin    untied, llama2.c version2_export (v2): "ak42", group size 32, norms f32,
                        Q8_0 (int8 + f32 scale per 32) per tensor; quantized as export.py does
                        (scale = max|w| / 127, q = round-half-even(w / scale))
    tokenizer.bin       llama2.c tokenizer.bin of 32 tokens (max_token_length, then score, len, bytes)
    tied_f32.gguf       tied, GGUFWriter, every tensor F32, tokenizer.ggml.model "llama" with tokens,
                        scores, token types, bos / eos / unknown ids, add_bos_token
    mixed_q.gguf        untied, GGUFWriter: token_embd F16, attn_q / attn_k / ffn_down / output Q8_0,
                        attn_v / ffn_gate Q4_0, attn_output / ffn_up Q4_1 (gguf.quants.quantize),
                        norms F32; tokenizer.ggml.model "gpt2" with tokens, token types and merges
    hf/config.json      untied, Hugging Face LlamaForCausalLM config
    hf/model.safetensors  F16, Hugging Face names, q_proj / k_proj permuted to the rotate-half
                        layout as transformers' convert_llama_weights_to_hf.py does:
                        w.reshape(heads, hd/2, 2, dim).transpose(0, 2, 1, 3).reshape(rows, dim)
    hf/tokenizer.json   a tiny tokenizer.json (passed through as text)
    reference.json      the token sequences (lengths 1, 7 and 32), the shape, and the files below
    ref_untied.f32, ref_tied.f32
                        float64 logits of the original weights, rounded to float32, little-endian,
                        the sequences one after the other ([T, V] each)
    ref_v2.f32          logits of the v2 file's weights dequantized as runq.c does (q * s, in f32)
    ref_mixed.f32       logits of mixed_q.gguf's weights dequantized by gguf.quants.dequantize

fuzz-seeds: tiny models of the same writers (dim 8, or dim 32 for the ggml block formats; at most
a few KB each, below the fuzzers' default max_len of 4096 but for the block-format GGUF) as seed
files fuzz/corpus/lm_gguf/seed_*.gguf, fuzz/corpus/lm_llama2c/seed_*.bin and
fuzz/corpus/lm_hf/seed_* (the lm_hf target's input: u16 n, n bytes of config.json, model.safetensors).

check-export: `cargo test --test suite -- --ignored lm_import::write_export_files` writes qplay's own
GGUF export of the untied model (F32, F16, Q8_0, Q4_0, Q4_1) and of the tied one (F32) to
target/lm-import-export/; this mode reads each with gguf.GGUFReader and checks, value for value
and byte for byte, the metadata (architecture, every llama.* integer, eps and theta as f32, the
tokenizer lists and ids), every tensor's name, type and shape, and every tensor's bytes against
the independent encoding: F32 / F16 with numpy, Q8_0 / Q4_0 / Q4_1 with gguf.quants.quantize.
"""
import importlib.metadata
import json
import pathlib
import struct
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import lm_reference as ref  # noqa: E402

import gguf  # noqa: E402
from gguf import GGMLQuantizationType as Q  # noqa: E402
from gguf.quants import dequantize, quantize  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402

MODEL_SEED = 20250701
TOKENS_SEED = 20250702
SEQ_LENGTHS = (1, 7, 32)
SHAPE = dict(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, hidden_dim=64, vocab_size=32, seq_len=32)
NORM_EPS = 1e-5
ROPE_THETA = 10000.0
V2_GROUP = 32
ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests/fixtures/lm/import"
EXPORT_DIR = ROOT / "target/lm-import-export"

# GGUF names of Meta's (qplay's) names.
GGUF_NAMES = {"tok_embeddings": "token_embd", "norm": "output_norm", "output": "output"}
BLOCK_GGUF = {"attention_norm": "attn_norm", "attention.wq": "attn_q", "attention.wk": "attn_k",
              "attention.wv": "attn_v", "attention.wo": "attn_output", "ffn_norm": "ffn_norm",
              "feed_forward.w1": "ffn_gate", "feed_forward.w2": "ffn_down", "feed_forward.w3": "ffn_up"}
BLOCK_HF = {"attention_norm": "input_layernorm", "attention.wq": "self_attn.q_proj",
            "attention.wk": "self_attn.k_proj", "attention.wv": "self_attn.v_proj",
            "attention.wo": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
            "feed_forward.w1": "mlp.gate_proj", "feed_forward.w2": "mlp.down_proj",
            "feed_forward.w3": "mlp.up_proj"}
# mixed_q.gguf's type per block tensor.
MIXED_TYPES = {"attn_q": Q.Q8_0, "attn_k": Q.Q8_0, "attn_v": Q.Q4_0, "attn_output": Q.Q4_1,
               "ffn_gate": Q.Q4_0, "ffn_up": Q.Q4_1, "ffn_down": Q.Q8_0}


def gguf_name(meta):
    parts = meta.split(".")
    if parts[0] == "layers":
        return f"blk.{parts[1]}.{BLOCK_GGUF['.'.join(parts[2:-1])]}.weight"
    return GGUF_NAMES[parts[0]] + ".weight"


def hf_name(meta):
    parts = meta.split(".")
    if parts[0] == "layers":
        return f"model.layers.{parts[1]}.{BLOCK_HF['.'.join(parts[2:-1])]}.weight"
    return {"tok_embeddings": "model.embed_tokens.weight", "norm": "model.norm.weight",
            "output": "lm_head.weight"}[parts[0]]


def exact_half(x):
    """Rounds float32 x to bfloat16 (nearest even), zeroing |x| < 2^-14: exactly an f16 and a bf16."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    bits = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    y = bits.astype(np.uint32).view(np.float32).copy()
    y[np.abs(y) < 2.0 ** -14] = 0.0
    assert np.array_equal(y.astype(np.float16).astype(np.float32), y), "not exactly an f16"
    return y


def make_model():
    """[(meta name, float32 array)] in LmWeights::tensors order (untied), and the config dict."""
    tensors, metadata = ref.random_model(MODEL_SEED, tied=False, **SHAPE)
    tensors = [(n, exact_half(a)) for n, a in tensors]
    metadata["norm_eps"] = "1e-5"
    c = ref.config_from_metadata(metadata, dict(tensors))
    return tensors, c


def tied_of(tensors, c):
    return [(n, a) for n, a in tensors if n != "output.weight"], dict(c, tied=True)


def logits(c, tensors, token_lists):
    w = dict(tensors)
    ref.check_shapes(c, w)
    return [ref.forward(c, w, t).astype(np.float32) for t in token_lists]


def write_logits(path, rows):
    path.write_bytes(b"".join(np.ascontiguousarray(r, dtype="<f4").tobytes() for r in rows))


# ---------------------------------------------------------------------------- llama2.c


def by_kind(tensors, kind):
    """Every layer's tensor of one kind, in layer order."""
    return [a for n, a in tensors if n.startswith("layers.") and n.split(".", 2)[2] == kind + ".weight"]


def freqs_cis(c):
    """llama2.c model.py precompute_freqs_cis(hd, seq_len): cos and sin [seq_len, hd/2] (float32)."""
    hd = c["dim"] // c["n_heads"]
    freqs = 1.0 / (ROPE_THETA ** (np.arange(0, hd, 2)[: hd // 2].astype(np.float32) / hd))
    t = np.arange(c["seq_len"], dtype=np.float32)
    f = np.outer(t, freqs).astype(np.float32)
    return np.cos(f), np.sin(f)


def header_ints(c, vocab):
    return struct.pack("iiiiiii", c["dim"], c["hidden_dim"], c["n_layers"], c["n_heads"], c["n_kv_heads"],
                       vocab, c["seq_len"])


def f32(a):
    return np.ascontiguousarray(a, dtype="<f4").tobytes()


def write_v0(path, tensors, c):
    """export.py legacy_export."""
    w = dict(tensors)
    shared = c["tied"]
    out = [header_ints(c, c["vocab_size"] if shared else -c["vocab_size"]), f32(w["tok_embeddings.weight"])]
    for kind in ("attention_norm", "attention.wq", "attention.wk", "attention.wv", "attention.wo",
                 "ffn_norm", "feed_forward.w1", "feed_forward.w2", "feed_forward.w3"):
        out += [f32(a) for a in by_kind(tensors, kind)]
    out.append(f32(w["norm.weight"]))
    cos, sin = freqs_cis(c)
    out += [f32(cos), f32(sin)]
    if not shared:
        out.append(f32(w["output.weight"]))
    path.write_bytes(b"".join(out))


def quantize_q80(w, group):
    """export.py quantize_q80: scale = max|w| / 127, q = round(w / scale) (torch.round: half to even)."""
    g = np.asarray(w, dtype=np.float32).reshape(-1, group)
    scale = (np.abs(g).max(axis=1) / np.float32(127.0)).astype(np.float32)
    q = np.round((g / scale[:, None]).astype(np.float32)).astype(np.int8)
    return q, scale


def write_v2(path, tensors, c, group):
    """export.py version2_export; returns the dequantized weights (q * s in f32, as runq.c does)."""
    w = dict(tensors)
    shared = c["tied"]
    quantized = [("tok_embeddings.weight", w["tok_embeddings.weight"])]
    for kind in ("attention.wq", "attention.wk", "attention.wv", "attention.wo",
                 "feed_forward.w1", "feed_forward.w2", "feed_forward.w3"):
        quantized += [(f"layers.{l}.{kind}.weight", a) for l, a in enumerate(by_kind(tensors, kind))]
    if not shared:
        quantized.append(("output.weight", w["output.weight"]))
    head = struct.pack("I", 0x616B3432) + struct.pack("i", 2) + header_ints(c, c["vocab_size"])
    head += struct.pack("B", int(shared)) + struct.pack("i", group)
    out = [head + b"\0" * (256 - len(head))]
    out += [f32(a) for a in by_kind(tensors, "attention_norm")]
    out += [f32(a) for a in by_kind(tensors, "ffn_norm")]
    out.append(f32(w["norm.weight"]))
    deq = dict(w)
    for name, a in quantized:
        q, s = quantize_q80(a, group)
        out += [q.tobytes(), f32(s)]
        deq[name] = (q.astype(np.float32) * s[:, None]).reshape(a.shape).astype(np.float32)
    path.write_bytes(b"".join(out))
    return [(n, deq[n]) for n, _ in tensors]


TOKENS = ["<unk>", "<s>", "</s>", "<0x0A>", "<0x20>", " ", "e", "t", "a", "o", "n", " t", " a", "th", "he", " the",
          "in", "er", "an", " s", "re", "on", " w", "at", "en", "is", "it", " o", "ou", "▁é", "ed", "nd"]


def write_tokenizer_bin(path):
    """llama2.c tokenizer.py: max_token_length (I), then per token score (f), len (I), bytes."""
    data = [t.replace("▁", " ").encode("utf-8") for t in TOKENS]
    scores = [0.0, 0.0, 0.0] + [-float(i) for i in range(len(TOKENS) - 3)]
    out = [struct.pack("I", max(len(t) for t in data))]
    for t, s in zip(data, scores):
        out.append(struct.pack("fI", s, len(t)) + t)
    path.write_bytes(b"".join(out))


# ---------------------------------------------------------------------------- GGUF


def gguf_common(writer, c):
    writer.add_name("qplay import fixture")
    writer.add_context_length(c["seq_len"])
    writer.add_embedding_length(c["dim"])
    writer.add_block_count(c["n_layers"])
    writer.add_feed_forward_length(c["hidden_dim"])
    writer.add_rope_dimension_count(c["dim"] // c["n_heads"])
    writer.add_head_count(c["n_heads"])
    writer.add_head_count_kv(c["n_kv_heads"])
    writer.add_layer_norm_rms_eps(NORM_EPS)
    writer.add_rope_freq_base(ROPE_THETA)


def finish(writer):
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def write_tied_f32_gguf(path, tensors, c):
    writer = gguf.GGUFWriter(str(path), "llama")
    gguf_common(writer, c)
    writer.add_file_type(0)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(TOKENS)
    writer.add_token_scores([0.0, 0.0, 0.0] + [-float(i) for i in range(len(TOKENS) - 3)])
    writer.add_token_types([2, 3, 3, 6, 6] + [1] * (len(TOKENS) - 5))
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_add_bos_token(True)
    for name, a in tensors:
        writer.add_tensor(gguf_name(name), np.ascontiguousarray(a, dtype=np.float32))
    finish(writer)


def write_mixed_gguf(path, tensors, c):
    """Returns the weights as gguf.quants.dequantize gives them back."""
    writer = gguf.GGUFWriter(str(path), "llama")
    gguf_common(writer, c)
    writer.add_vocab_size(c["vocab_size"])
    writer.add_file_type(7)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(TOKENS)
    writer.add_token_types([3, 3, 3, 6, 6] + [1] * (len(TOKENS) - 5))
    writer.add_token_merges(["t h", "h e", "th e", "Ġ t", "a n"])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    deq = []
    for name, a in tensors:
        g = gguf_name(name)
        if a.ndim == 1:
            writer.add_tensor(g, np.ascontiguousarray(a, dtype=np.float32))
            deq.append((name, a))
            continue
        kind = g.split(".")[-2]
        qtype = {"token_embd": Q.F16, "output": Q.Q8_0}.get(kind) or MIXED_TYPES[kind]
        data = quantize(np.ascontiguousarray(a, dtype=np.float32), qtype)
        if qtype == Q.F16:
            writer.add_tensor(g, data)
        else:
            writer.add_tensor(g, data, raw_dtype=qtype)
        deq.append((name, dequantize(data, qtype).reshape(a.shape).astype(np.float32)))
    finish(writer)
    return deq


# ---------------------------------------------------------------------------- Hugging Face


def meta_to_hf(w, heads, dim):
    """transformers convert_llama_weights_to_hf.py permute: view(heads, rows/heads/2, 2, dim).transpose(1, 2)."""
    rows = w.shape[0]
    return w.reshape(heads, rows // heads // 2, 2, dim).transpose(0, 2, 1, 3).reshape(rows, dim)


def hf_config(c):
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": c["dim"], "intermediate_size": c["hidden_dim"], "num_hidden_layers": c["n_layers"],
        "num_attention_heads": c["n_heads"], "num_key_value_heads": c["n_kv_heads"],
        "vocab_size": c["vocab_size"], "max_position_embeddings": c["seq_len"], "rms_norm_eps": NORM_EPS,
        "rope_theta": ROPE_THETA, "rope_scaling": None, "tie_word_embeddings": c["tied"], "hidden_act": "silu",
        "attention_bias": False, "mlp_bias": False, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float16",
    }


def write_hf(folder, tensors, c):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(hf_config(c), indent=2) + "\n")
    out = {}
    for name, a in tensors:
        if name.endswith("attention.wq.weight"):
            a = meta_to_hf(a, c["n_heads"], c["dim"])
        elif name.endswith("attention.wk.weight"):
            a = meta_to_hf(a, c["n_kv_heads"], c["dim"])
        out[hf_name(name)] = np.ascontiguousarray(a.astype(np.float16))
    save_file(out, str(folder / "model.safetensors"), metadata={"format": "pt"})
    vocab = {t: i for i, t in enumerate(TOKENS)}
    tok = {"version": "1.0", "added_tokens": [], "model": {"type": "BPE", "vocab": vocab, "merges": []}}
    (folder / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------------- modes


def cmd_write():
    OUT.mkdir(parents=True, exist_ok=True)
    tensors, c = make_model()
    tied, ct = tied_of(tensors, c)
    trng = np.random.default_rng(TOKENS_SEED)
    token_lists = [trng.integers(0, c["vocab_size"], size=n).tolist() for n in SEQ_LENGTHS]
    write_v0(OUT / "model_v0.bin", tensors, c)
    deq_v2 = write_v2(OUT / "model_q80_v2.bin", tensors, c, V2_GROUP)
    write_tokenizer_bin(OUT / "tokenizer.bin")
    write_tied_f32_gguf(OUT / "tied_f32.gguf", tied, ct)
    deq_mixed = write_mixed_gguf(OUT / "mixed_q.gguf", tensors, c)
    write_hf(OUT / "hf", tensors, c)
    refs = {"ref_untied.f32": (c, tensors), "ref_tied.f32": (ct, tied), "ref_v2.f32": (c, deq_v2),
            "ref_mixed.f32": (c, deq_mixed)}
    for file, (cc, w) in refs.items():
        rows = logits(cc, w, token_lists)
        write_logits(OUT / file, rows)
        full = rows[-1]
        print(f"{file}: logits std {full.std():.3f}, max |logit| {np.abs(full).max():.3f}")
    index = {"shape": dict(SHAPE, norm_eps=NORM_EPS, rope_theta=ROPE_THETA), "v2_group_size": V2_GROUP,
             "sequences": token_lists, "references": list(refs)}
    (OUT / "reference.json").write_text(json.dumps(index, indent=1) + "\n")
    total = 0
    for p in sorted(OUT.rglob("*")):
        if p.is_file():
            total += p.stat().st_size
            print(f"{p.relative_to(ROOT)}: {p.stat().st_size} bytes")
    print(f"total {total} bytes")


def field(reader, key):
    f = reader.get_field(key)
    assert f is not None, f"missing {key}"
    return f.contents()


def cmd_check_export():
    tensors, c = make_model()
    tied, ct = tied_of(tensors, c)
    files = {"untied_f32.gguf": (c, tensors, Q.F32), "untied_f16.gguf": (c, tensors, Q.F16),
             "untied_q8_0.gguf": (c, tensors, Q.Q8_0), "untied_q4_0.gguf": (c, tensors, Q.Q4_0),
             "untied_q4_1.gguf": (c, tensors, Q.Q4_1), "tied_f32.gguf": (ct, tied, Q.F32)}
    for file, (cc, w, qtype) in files.items():
        path = EXPORT_DIR / file
        r = gguf.GGUFReader(str(path))
        assert field(r, "general.architecture") == "llama"
        assert field(r, "general.name") == "qplay test", f"{file}: general.name = {field(r, 'general.name')!r}"
        expect = {"llama.context_length": cc["seq_len"], "llama.embedding_length": cc["dim"],
                  "llama.block_count": cc["n_layers"], "llama.feed_forward_length": cc["hidden_dim"],
                  "llama.attention.head_count": cc["n_heads"], "llama.attention.head_count_kv": cc["n_kv_heads"],
                  "llama.rope.dimension_count": cc["dim"] // cc["n_heads"], "llama.vocab_size": cc["vocab_size"],
                  "general.file_type": {Q.F32: 0, Q.F16: 1, Q.Q4_0: 2, Q.Q4_1: 3, Q.Q8_0: 7}[qtype]}
        for key, value in expect.items():
            assert field(r, key) == value, f"{file}: {key} = {field(r, key)}, expected {value}"
        assert np.float32(field(r, "llama.attention.layer_norm_rms_epsilon")) == np.float32(NORM_EPS)
        assert np.float32(field(r, "llama.rope.freq_base")) == np.float32(ROPE_THETA)
        assert field(r, "tokenizer.ggml.model") == "llama"
        assert field(r, "tokenizer.ggml.tokens") == TOKENS, f"{file}: tokens"
        assert field(r, "tokenizer.ggml.bos_token_id") == 1 and field(r, "tokenizer.ggml.eos_token_id") == 2
        by_name = {t.name: t for t in r.tensors}
        assert len(by_name) == len(w), f"{file}: {len(by_name)} tensors, expected {len(w)}"
        for name, a in w:
            t = by_name[gguf_name(name)]
            want_type = Q.F32 if a.ndim == 1 else qtype
            assert t.tensor_type == want_type, f"{file}: {t.name} is {t.tensor_type.name}"
            assert list(t.shape) == list(reversed(a.shape)), f"{file}: {t.name} ne {list(t.shape)}"
            want = quantize(np.ascontiguousarray(a, dtype=np.float32), want_type)
            got = np.asarray(t.data)
            assert got.tobytes() == np.ascontiguousarray(want).tobytes(), f"{file}: {t.name} bytes differ"
        print(f"{file}: {len(w)} tensors ({qtype.name}) and the metadata read back identical with gguf {importlib.metadata.version('gguf')}")
    print("check-export: ok")


def tiny(seed, dim, hidden_dim, vocab_size, tied, n_kv_heads=1):
    shape = dict(dim=dim, n_layers=1, n_heads=2, n_kv_heads=n_kv_heads, hidden_dim=hidden_dim,
                 vocab_size=vocab_size, seq_len=4)
    tensors, metadata = ref.random_model(seed, tied=tied, **shape)
    tensors = [(n, exact_half(a)) for n, a in tensors]
    return tensors, ref.config_from_metadata(metadata, dict(tensors))


def cmd_fuzz_seeds():
    corpus = ROOT / "fuzz/corpus"
    for d in ("lm_gguf", "lm_llama2c", "lm_hf"):
        (corpus / d).mkdir(parents=True, exist_ok=True)
    small, cs = tiny(1, 8, 16, 8, False)
    small_tied, cst = tiny(2, 8, 16, 8, True, n_kv_heads=2)
    blocks, cb = tiny(3, 32, 32, 4, False)
    g = corpus / "lm_gguf"
    writer = gguf.GGUFWriter(str(g / "seed_f32.gguf"), "llama")
    gguf_common(writer, cs)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(TOKENS[:8])
    writer.add_token_scores([-float(i) for i in range(8)])
    writer.add_bos_token_id(1)
    for name, a in small:
        writer.add_tensor(gguf_name(name), a)
    finish(writer)
    writer = gguf.GGUFWriter(str(g / "seed_f16_tied.gguf"), "llama")
    gguf_common(writer, cst)
    for name, a in small_tied:
        writer.add_tensor(gguf_name(name), a if a.ndim == 1 else a.astype(np.float16))
    finish(writer)
    writer = gguf.GGUFWriter(str(g / "seed_blocks.gguf"), "llama")
    gguf_common(writer, cb)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_token_list(TOKENS[:4])
    writer.add_token_merges(["a b"])
    kinds = [Q.Q8_0, Q.Q4_0, Q.Q4_1]
    for i, (name, a) in enumerate(blocks):
        if a.ndim == 1:
            writer.add_tensor(gguf_name(name), a)
        else:
            writer.add_tensor(gguf_name(name), quantize(a, kinds[i % 3]), raw_dtype=kinds[i % 3])
    finish(writer)
    l2c = corpus / "lm_llama2c"
    write_v0(l2c / "seed_v0.bin", small, cs)
    write_v0(l2c / "seed_v0_tied.bin", small_tied, cst)
    write_v2(l2c / "seed_v2.bin", small, cs, 4)
    write_tokenizer_bin(l2c / "seed_tokenizer.bin")
    hf = corpus / "lm_hf"
    for name, (w, c, dtype) in {"seed_f32": (small, cs, np.float32), "seed_f16_tied": (small_tied, cst, np.float16)}.items():
        tmp = ROOT / "target/lm-import-hf-seed"
        write_hf(tmp, w, c)
        st = (tmp / "model.safetensors")
        if dtype == np.float32:
            from safetensors.numpy import load_file
            save_file({k: v.astype(np.float32) for k, v in load_file(str(st)).items()}, str(st))
        config = json.dumps(hf_config(c)).encode()
        (hf / name).write_bytes(struct.pack("<H", len(config)) + config + st.read_bytes())
    for d in ("lm_gguf", "lm_llama2c", "lm_hf"):
        for p in sorted((corpus / d).glob("seed_*")):
            print(f"{p.relative_to(ROOT)}: {p.stat().st_size} bytes")


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "write"
    {"write": cmd_write, "check-export": cmd_check_export, "fuzz-seeds": cmd_fuzz_seeds}[mode]()


if __name__ == "__main__":
    main()

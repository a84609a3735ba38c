"""An independent NumPy (float64) reference for qplay's Llama-style decoder (src/lm/mod.rs):
the forward pass written out from the equations there, with its own .safetensors reader and
writer (no `safetensors` package), so the Rust implementation is checked against code that
shares nothing with it. Needs only numpy.

    h = tok_embeddings[tokens]
    for each layer: a = rmsnorm(h) * attention_norm            rmsnorm(x) = x / sqrt(mean(x^2) + eps)
                    q, k, v = a wq^T, a wk^T, a wv^T; rope(q), rope(k)
                    head j uses kv head j // (H / Hkv); causal softmax(q k^T / sqrt(hd)) v
                    h += attn wo^T
                    m = rmsnorm(h) * ffn_norm; h += (silu(m w1^T) * (m w3^T)) w2^T
    logits = (rmsnorm(h) * norm) output^T                      output = tok_embeddings when tied
    rope (llama2.c, interleaved pairs): for even i < hd, freq = 1 / rope_theta^(i / hd),
    angle = pos * freq, (x[i], x[i+1]) -> (x[i] cos - x[i+1] sin, x[i] sin + x[i+1] cos)
    silu(x) = x * sigmoid(x); tied when metadata `tied` is "true" or `output.weight` is absent.

Modes:

    python3 scripts/lm_reference.py random --out tests/fixtures/lm/
        Writes random_small.safetensors (untied, grouped-query attention: 4 query heads, 2 kv
        heads) and random_small_tied.safetensors (tied output, n_kv_heads = n_heads = 4), then
        random_small.logits.json and random_small_tied.logits.json: three token sequences of
        lengths 1, 7 and 32 (the full context) drawn from default_rng(TOKENS_SEED), and their
        logits. Deterministic (default_rng(MODEL_SEED)): running it again gives the same bytes.

    python3 scripts/lm_reference.py logits MODEL.safetensors --tokens 1,2,3 [--tokens ...] --out FILE.json
        {"model": file name, "sequences": [{"tokens": [...], "logits": [[V values] per position]}]};
        every value is the float64 result rounded to float32, written with 9 significant digits
        (enough to give back the exact float32).

    python3 scripts/lm_reference.py selftest
        Checks the reference against itself in other forms: position-by-position decoding with a
        KV cache against the batch pass, rope against complex multiplication, grouped-query
        attention against multi-head attention with the kv heads repeated, causality (a prefix's
        logits do not depend on what follows) and the .safetensors round trip.

Shape of the random fixtures: dim 32, n_layers 2, n_heads 4 (hd 8), n_kv_heads 2 (4 when tied),
hidden_dim 64, vocab_size 64, seq_len 32, norm_eps 1e-5, rope_theta 10000. dim 64 / hidden_dim 128
would make the two models 650 KB; at 32 / 64 the four files are about 260 KB, and every matrix
width is still a multiple of 32 (the Q8_0 / Q4_0 block). `random --dim 64 --hidden-dim 128` makes
the larger ones. Weights: Linear ~ N(0, 1/fan_in) so that q.k/sqrt(hd) and the logits are O(1);
tok_embeddings (and output) ~ N(0, 1/dim); RMSNorm weights ~ U(0.9, 1.1).

To regenerate the fixtures (numpy from PyPI when the system Python has none):

    python3 -m venv target/ref-venv && target/ref-venv/bin/pip install numpy
    target/ref-venv/bin/python scripts/lm_reference.py random --out tests/fixtures/lm/
"""
import argparse
import json
import pathlib
import struct
import sys

import numpy as np

MODEL_SEED = 20250611
TOKENS_SEED = 20250612
SEQ_LENGTHS = (1, 7, 32)
CONFIG_KEYS = ("dim", "n_layers", "n_heads", "n_kv_heads", "hidden_dim", "vocab_size", "seq_len")


# ---------------------------------------------------------------------------- safetensors


def read_safetensors(path):
    """Returns ({name: float32 array}, {metadata key: string}); F32 tensors only."""
    data = pathlib.Path(path).read_bytes()
    if len(data) < 8:
        raise ValueError(f"{path}: too short for a .safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError(f"{path}: header length {n} runs past the end of the file")
    header = json.loads(data[8: 8 + n].decode("utf-8"))
    body = data[8 + n:]
    metadata = header.pop("__metadata__", None) or {}
    tensors = {}
    for name, info in header.items():
        if info["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name} is {info['dtype']}, only F32 is supported")
        shape = [int(s) for s in info["shape"]]
        begin, end = info["data_offsets"]
        count = int(np.prod(shape, dtype=np.int64))
        if not (0 <= begin <= end <= len(body)) or end - begin != 4 * count:
            raise ValueError(f"{path}: tensor {name} has bad data_offsets {begin}..{end} for shape {shape}")
        tensors[name] = np.frombuffer(body, dtype="<f4", count=count, offset=begin).reshape(shape)
    return tensors, metadata


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, array) written as F32 in that order; metadata: {str: str}."""
    header = {"__metadata__": dict(metadata)}
    blobs, offset = [], 0
    for name, array in tensors:
        raw = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the tensor data starts 8-byte aligned, as safetensors writes it
    pathlib.Path(path).write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


# ---------------------------------------------------------------------------- the model


def config_from_metadata(metadata, tensors):
    c = {k: int(metadata[k]) for k in CONFIG_KEYS}
    c["norm_eps"] = float(metadata["norm_eps"])
    c["rope_theta"] = float(metadata["rope_theta"])
    c["tied"] = metadata.get("tied", "false").strip() == "true" or "output.weight" not in tensors
    if c["dim"] % c["n_heads"] or (c["dim"] // c["n_heads"]) % 2 or c["n_heads"] % c["n_kv_heads"]:
        raise ValueError(f"inconsistent heads in {c}")
    return c


def expected_shapes(c):
    d, f, v = c["dim"], c["hidden_dim"], c["vocab_size"]
    kv = c["n_kv_heads"] * (d // c["n_heads"])
    shapes = {"tok_embeddings.weight": (v, d)}
    for l in range(c["n_layers"]):
        p = f"layers.{l}."
        shapes.update({
            p + "attention_norm.weight": (d,),
            p + "attention.wq.weight": (d, d),
            p + "attention.wk.weight": (kv, d),
            p + "attention.wv.weight": (kv, d),
            p + "attention.wo.weight": (d, d),
            p + "ffn_norm.weight": (d,),
            p + "feed_forward.w1.weight": (f, d),
            p + "feed_forward.w2.weight": (d, f),
            p + "feed_forward.w3.weight": (f, d),
        })
    shapes["norm.weight"] = (d,)
    if not c["tied"]:
        shapes["output.weight"] = (v, d)
    return shapes


def check_shapes(c, tensors):
    for name, shape in expected_shapes(c).items():
        if name not in tensors:
            raise ValueError(f"missing tensor {name}")
        if tuple(tensors[name].shape) != shape:
            raise ValueError(f"{name} has shape {tuple(tensors[name].shape)}, expected {shape}")


def rmsnorm(x, weight, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def silu(x):
    return x / (1.0 + np.exp(-x))


def rope(x, positions, theta):
    """x [T, heads, hd]; rotates the interleaved pairs (x[i], x[i+1]), i even."""
    hd = x.shape[-1]
    i = np.arange(0, hd, 2, dtype=np.float64)
    freq = 1.0 / theta ** (i / hd)                           # [hd/2]
    angle = positions[:, None].astype(np.float64) * freq     # [T, hd/2]
    cos, sin = np.cos(angle)[:, None, :], np.sin(angle)[:, None, :]
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = x0 * cos - x1 * sin
    out[..., 1::2] = x0 * sin + x1 * cos
    return out


def forward(c, w, tokens):
    """Logits [T, V] (float64) for every position of `tokens` (positions 0..T-1)."""
    tokens = np.asarray(tokens, dtype=np.int64)
    T = len(tokens)
    if T == 0 or T > c["seq_len"]:
        raise ValueError(f"{T} tokens: must be 1..seq_len={c['seq_len']}")
    if tokens.min() < 0 or tokens.max() >= c["vocab_size"]:
        raise ValueError(f"token ids must be in 0..{c['vocab_size'] - 1}")
    g = {k: np.asarray(v, dtype=np.float64) for k, v in w.items()}
    D, H, Hkv = c["dim"], c["n_heads"], c["n_kv_heads"]
    hd, eps = D // H, c["norm_eps"]
    group = H // Hkv
    pos = np.arange(T)
    mask = np.triu(np.ones((T, T), dtype=bool), k=1)         # True above the diagonal: the future
    h = g["tok_embeddings.weight"][tokens]                    # [T, D]
    for l in range(c["n_layers"]):
        p = f"layers.{l}."
        a = rmsnorm(h, g[p + "attention_norm.weight"], eps)
        q = (a @ g[p + "attention.wq.weight"].T).reshape(T, H, hd)
        k = (a @ g[p + "attention.wk.weight"].T).reshape(T, Hkv, hd)
        v = (a @ g[p + "attention.wv.weight"].T).reshape(T, Hkv, hd)
        q, k = rope(q, pos, c["rope_theta"]), rope(k, pos, c["rope_theta"])
        att = np.empty((T, H, hd))
        for j in range(H):
            kvh = j // group
            scores = q[:, j, :] @ k[:, kvh, :].T / np.sqrt(hd)   # [T, T]
            scores[mask] = -np.inf
            scores -= scores.max(axis=1, keepdims=True)
            prob = np.exp(scores)
            prob /= prob.sum(axis=1, keepdims=True)
            att[:, j, :] = prob @ v[:, kvh, :]
        h = h + att.reshape(T, D) @ g[p + "attention.wo.weight"].T
        m = rmsnorm(h, g[p + "ffn_norm.weight"], eps)
        gate = silu(m @ g[p + "feed_forward.w1.weight"].T)
        up = m @ g[p + "feed_forward.w3.weight"].T
        h = h + (gate * up) @ g[p + "feed_forward.w2.weight"].T
    out = g["tok_embeddings.weight"] if c["tied"] else g["output.weight"]
    return rmsnorm(h, g["norm.weight"], eps) @ out.T


def load_model(path):
    tensors, metadata = read_safetensors(path)
    c = config_from_metadata(metadata, tensors)
    check_shapes(c, tensors)
    return c, tensors


# ---------------------------------------------------------------------------- random models


def random_model(seed, dim, n_layers, n_heads, n_kv_heads, hidden_dim, vocab_size, seq_len, tied):
    rng = np.random.default_rng(seed)
    kv = n_kv_heads * (dim // n_heads)

    def normal(shape, fan_in):
        return rng.normal(0.0, 1.0 / np.sqrt(fan_in), size=shape).astype(np.float32)

    def norm_weight():
        return rng.uniform(0.9, 1.1, size=(dim,)).astype(np.float32)

    tensors = [("tok_embeddings.weight", normal((vocab_size, dim), dim))]
    for l in range(n_layers):
        p = f"layers.{l}."
        tensors += [
            (p + "attention_norm.weight", norm_weight()),
            (p + "attention.wq.weight", normal((dim, dim), dim)),
            (p + "attention.wk.weight", normal((kv, dim), dim)),
            (p + "attention.wv.weight", normal((kv, dim), dim)),
            (p + "attention.wo.weight", normal((dim, dim), dim)),
            (p + "ffn_norm.weight", norm_weight()),
            (p + "feed_forward.w1.weight", normal((hidden_dim, dim), dim)),
            (p + "feed_forward.w2.weight", normal((dim, hidden_dim), hidden_dim)),
            (p + "feed_forward.w3.weight", normal((hidden_dim, dim), dim)),
        ]
    tensors.append(("norm.weight", norm_weight()))
    if not tied:
        tensors.append(("output.weight", normal((vocab_size, dim), dim)))
    metadata = {
        "dim": str(dim), "n_layers": str(n_layers), "n_heads": str(n_heads), "n_kv_heads": str(n_kv_heads),
        "hidden_dim": str(hidden_dim), "vocab_size": str(vocab_size), "seq_len": str(seq_len),
        "norm_eps": "1e-5", "rope_theta": "10000", "tied": "true" if tied else "false",
    }
    return tensors, metadata


def fmt(x):
    s = "%.9g" % float(np.float32(x))
    return "0" if s == "-0" else s


def logits_json(model_name, sequences):
    """sequences: [(tokens, logits [T, V])] -> the JSON text, one position's logits per line."""
    parts = []
    for tokens, logits in sequences:
        rows = ",\n    ".join("[" + ",".join(fmt(x) for x in row) + "]" for row in logits)
        parts.append('  {"tokens": [' + ",".join(str(int(t)) for t in tokens) + '],\n   "logits": [\n    '
                     + rows + "\n   ]}")
    return '{"model": ' + json.dumps(model_name) + ',\n "sequences": [\n' + ",\n".join(parts) + "\n ]}\n"


def write_logits(model_path, token_lists, out):
    c, w = load_model(model_path)
    seqs = [(t, forward(c, w, t)) for t in token_lists]
    pathlib.Path(out).write_text(logits_json(pathlib.Path(model_path).name, seqs))
    return seqs


def cmd_random(args):
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    shape = dict(dim=args.dim, n_layers=2, n_heads=4, hidden_dim=args.hidden_dim, vocab_size=64, seq_len=32)
    trng = np.random.default_rng(TOKENS_SEED)
    token_lists = [trng.integers(0, shape["vocab_size"], size=n).tolist() for n in SEQ_LENGTHS]
    for name, kv_heads, tied, seed in [("random_small", 2, False, MODEL_SEED),
                                       ("random_small_tied", 4, True, MODEL_SEED + 1)]:
        tensors, metadata = random_model(seed, n_kv_heads=kv_heads, tied=tied, **shape)
        path = out / f"{name}.safetensors"
        write_safetensors(path, tensors, metadata)
        seqs = write_logits(path, token_lists, out / f"{name}.logits.json")
        full = seqs[-1][1]
        print(f"{path}: {sum(a.size for _, a in tensors)} parameters, {path.stat().st_size} bytes; "
              f"logits std {full.std():.3f}, max |logit| {np.abs(full).max():.3f}")
    print("tokens: " + "  ".join(",".join(map(str, t)) for t in token_lists))


def cmd_logits(args):
    token_lists = [[int(x) for x in s.split(",") if x.strip()] for s in args.tokens]
    write_logits(args.model, token_lists, args.out)
    print(f"wrote {args.out}")


# ---------------------------------------------------------------------------- self test


def forward_incremental(c, w, tokens):
    """llama2.c's way: one position at a time with a KV cache, kv heads repeated for GQA."""
    g = {k: np.asarray(v, dtype=np.float64) for k, v in w.items()}
    D, H, Hkv = c["dim"], c["n_heads"], c["n_kv_heads"]
    hd, eps, L = D // H, c["norm_eps"], c["n_layers"]
    kcache = [[] for _ in range(L)]
    vcache = [[] for _ in range(L)]
    out_rows = []
    for t, tok in enumerate(tokens):
        x = g["tok_embeddings.weight"][tok].copy()
        for l in range(L):
            p = f"layers.{l}."
            a = rmsnorm(x, g[p + "attention_norm.weight"], eps)
            q = g[p + "attention.wq.weight"] @ a
            k = g[p + "attention.wk.weight"] @ a
            v = g[p + "attention.wv.weight"] @ a
            for vec in (q, k):  # complex-number rope: (x0 + i x1) * e^{i angle}
                z = (vec[0::2] + 1j * vec[1::2]).reshape(-1, hd // 2)
                z = z * np.exp(1j * t * c["rope_theta"] ** (-np.arange(0, hd, 2) / hd))
                vec[0::2], vec[1::2] = z.real.ravel(), z.imag.ravel()
            kcache[l].append(k.reshape(Hkv, hd))
            vcache[l].append(v.reshape(Hkv, hd))
            K = np.repeat(np.stack(kcache[l]), H // Hkv, axis=1)   # [t+1, H, hd]
            V = np.repeat(np.stack(vcache[l]), H // Hkv, axis=1)
            qh = q.reshape(H, hd)
            s = np.einsum("hd,thd->ht", qh, K) / np.sqrt(hd)
            s = np.exp(s - s.max(axis=1, keepdims=True))
            s /= s.sum(axis=1, keepdims=True)
            att = np.einsum("ht,thd->hd", s, V).reshape(D)
            x = x + g[p + "attention.wo.weight"] @ att
            m = rmsnorm(x, g[p + "ffn_norm.weight"], eps)
            x = x + g[p + "feed_forward.w2.weight"] @ (silu(g[p + "feed_forward.w1.weight"] @ m)
                                                        * (g[p + "feed_forward.w3.weight"] @ m))
        out = g["tok_embeddings.weight"] if c["tied"] else g["output.weight"]
        out_rows.append(out @ rmsnorm(x, g["norm.weight"], eps))
    return np.array(out_rows)


def cmd_selftest(args):
    import tempfile
    shape = dict(dim=32, n_layers=2, n_heads=4, hidden_dim=64, vocab_size=64, seq_len=32)
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for kv_heads, tied in [(2, False), (4, True), (1, False)]:
            tensors, metadata = random_model(7, n_kv_heads=kv_heads, tied=tied, **shape)
            path = pathlib.Path(tmp) / "m.safetensors"
            write_safetensors(path, tensors, metadata)
            c, w = load_model(path)
            assert all(np.array_equal(w[n], a) for n, a in tensors), "round trip"
            assert c["tied"] == tied
            tokens = np.random.default_rng(kv_heads).integers(0, 64, size=32)
            full = forward(c, w, tokens)
            inc = forward_incremental(c, w, tokens)
            worst = max(worst, np.abs(full - inc).max())
            prefix = forward(c, w, tokens[:9])
            worst = max(worst, np.abs(full[:9] - prefix).max())
            if kv_heads < c["n_heads"]:  # GQA == MHA with every kv head repeated
                mha = dict(w)
                hd, rep = c["dim"] // c["n_heads"], c["n_heads"] // kv_heads
                for l in range(c["n_layers"]):
                    for m in ("wk", "wv"):
                        key = f"layers.{l}.attention.{m}.weight"
                        mha[key] = np.repeat(w[key].reshape(kv_heads, hd, -1), rep, axis=0).reshape(-1, c["dim"])
                worst = max(worst, np.abs(forward(dict(c, n_kv_heads=c["n_heads"]), mha, tokens) - full).max())
            print(f"n_kv_heads {kv_heads}, tied {tied}: logits std {full.std():.3f}, ok")
    print(f"largest difference between the forms: {worst:.3g}")
    if worst > 1e-9:
        sys.exit("selftest failed")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("random", help="write the random fixture models and their logits")
    r.add_argument("--out", required=True)
    r.add_argument("--dim", type=int, default=32)
    r.add_argument("--hidden-dim", type=int, default=64)
    g = sub.add_parser("logits", help="logits of a model for token sequences")
    g.add_argument("model")
    g.add_argument("--tokens", action="append", required=True, help="comma-separated token ids")
    g.add_argument("--out", required=True)
    sub.add_parser("selftest", help="check the reference against other forms of itself")
    args = ap.parse_args()
    {"random": cmd_random, "logits": cmd_logits, "selftest": cmd_selftest}[args.mode](args)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Checks qplay's packed .safetensors exports of a quantized language model
(src/formats/lm_safetensors.rs) with the PyPI `safetensors` package and NumPy, from the file's
own metadata only.

Run after the Rust test that writes the exports (through `qplay lm export --format safetensors`)
and qplay's dequantized weights into target/lm-safetensors/:

    cargo test --test suite lm_export:: && python3 scripts/check_lm_safetensors.py

The script re-runs itself in the venv target/lm-safetensors-py (created on first use, from PyPI:
safetensors==0.8.0, numpy==2.4.6). For every `<case>.safetensors` with its `<case>.reference.npz`
(written by the Rust test from the model qplay runs: `<layer>` = the dequantized weight [N, K],
`<layer>.int` = the integers q - offset as float32, exact below 2^24) it

1. reads the tensors and `__metadata__` with `safetensors.safe_open(..., framework="numpy")`;
2. checks every tensor is described: `qplay.layers` names each Linear with its storage, the
   config's shapes give [N, K], and every described tensor exists with the dtype and shape the
   description implies (and no tensor is left undescribed);
3. unpacks `qweight` as the description says: packing "i8" as is; packing "u4_low_first" as
   byte j of a row = column 2j in bits 0-3, column 2j+1 in bits 4-7 (NumPy: `b & 15`, `b >> 4`,
   interleaved), subtracts `offset`, and compares the integers with qplay's: exactly equal;
4. dequantizes in float32: w = scales[n, k // group] * (q - offset) (+ min[n, k // group]), and
   compares with qplay's dequantized weights bit for bit (float tensors: their values as stored);
5. checks the bytes stated in the metadata's description (integers at b bits plus scales and
   minimums at their dtype) against the tensors' own sizes.

One line per file; exit status 1 if any check fails.
"""
import json
import pathlib
import sys
from pinned_venv import reexec_in_venv

ROOT = pathlib.Path(__file__).resolve().parent.parent
VENV = ROOT / "target" / "lm-safetensors-py"
PACKAGES = ["safetensors==0.8.0", "numpy==2.4.6"]
OUT = ROOT / "target" / "lm-safetensors"


def ensure_venv():
    """Re-runs this script inside target/lm-safetensors-py with the pinned packages."""
    reexec_in_venv(VENV, PACKAGES, __file__)


def shapes(meta):
    """[N, K] of every Linear from the model configuration in the metadata."""
    d, f, v = int(meta["dim"]), int(meta["hidden_dim"]), int(meta["vocab_size"])
    kv = d // int(meta["n_heads"]) * int(meta["n_kv_heads"])
    out = {"tok_embeddings": (v, d), "output": (v, d)}
    for l in range(int(meta["n_layers"])):
        for name, s in [
            ("attention.wq", (d, d)), ("attention.wk", (kv, d)), ("attention.wv", (kv, d)), ("attention.wo", (d, d)),
            ("feed_forward.w1", (f, d)), ("feed_forward.w2", (d, f)), ("feed_forward.w3", (f, d)),
        ]:
            out[f"layers.{l}.{name}"] = s
    return out


def check(path):
    import numpy as np
    from safetensors import safe_open

    problems = []
    ref = np.load(path.with_suffix(".reference.npz"))
    with safe_open(str(path), framework="numpy") as f:
        meta = f.metadata()
        names = set(f.keys())
        tensors = {k: f.get_tensor(k) for k in names}
    if meta.get("format") != "qplay-lm-packed":
        return [f"format {meta.get('format')!r}"]
    for key in ["qplay.version", "qplay.method", "qplay.quant_config", "qplay.layers"]:
        if key not in meta:
            problems.append(f"no {key} in the metadata")
    layers = json.loads(meta["qplay.layers"])
    want = shapes(meta)
    tied = meta["tied"] == "true"
    expected_names = [n for n in want if not (n == "output" and tied)]
    described = set()
    d = int(meta["dim"])
    for l in range(int(meta["n_layers"])):
        described |= {f"layers.{l}.attention_norm.weight", f"layers.{l}.ffn_norm.weight"}
    described.add("norm.weight")
    if not any(e["name"] == "tok_embeddings" for e in layers):
        described.add("tok_embeddings.weight")
        expected_names.remove("tok_embeddings")
    if sorted(e["name"] for e in layers) != sorted(expected_names):
        problems.append(f"described Linears {sorted(e['name'] for e in layers)} != {sorted(expected_names)}")
    for name in described:
        if tensors[name].dtype != np.float32:
            problems.append(f"{name}: {tensors[name].dtype}")
    stats = {"packed": 0, "float": 0, "ints": 0}
    for e in layers:
        name, (n, k) = e["name"], want[e["name"]]
        if (e["rows"], e["cols"]) != (n, k):
            problems.append(f"{name}: [{e['rows']}, {e['cols']}] != [{n}, {k}]")
            continue
        r = ref[name]
        if e["storage"] == "float":
            described.add(f"{name}.weight")
            w = tensors[f"{name}.weight"]
            dt = {"F32": np.float32, "F16": np.float16}[e["dtype"]]
            if w.dtype != dt or w.shape != (n, k):
                problems.append(f"{name}.weight: {w.dtype} {w.shape}")
                continue
            if not np.array_equal(w.astype(np.float32).view(np.uint32), r.view(np.uint32)):
                problems.append(f"{name}: float values differ from qplay's")
            stats["float"] += 1
            continue
        bits, g, offset = e["bits"], e["group"], e["offset"]
        q = tensors[f"{name}.qweight"]
        described |= {f"{name}.qweight", f"{name}.scales"}
        if e["packing"] == "i8":
            if q.dtype != np.int8 or q.shape != (n, k) or bits != 8:
                problems.append(f"{name}.qweight: {q.dtype} {q.shape} for {bits} bits i8")
                continue
            ints = q.astype(np.int32) - offset
        elif e["packing"] == "u4_low_first":
            if q.dtype != np.uint8 or q.shape != (n, k // 2) or bits != 4:
                problems.append(f"{name}.qweight: {q.dtype} {q.shape} for {bits} bits u4")
                continue
            u = np.empty((n, k), dtype=np.int32)
            u[:, 0::2] = q & 0x0F  # column 2j: bits 0-3 of byte j
            u[:, 1::2] = q >> 4  # column 2j+1: bits 4-7
            ints = u - offset
        else:
            problems.append(f"{name}: packing {e['packing']}")
            continue
        sdt = {"F32": np.float32, "F16": np.float16}[e["scale_dtype"]]
        s = tensors[f"{name}.scales"]
        if s.dtype != sdt or s.shape != (n, k // g):
            problems.append(f"{name}.scales: {s.dtype} {s.shape}")
            continue
        if not np.array_equal(ints, ref[f"{name}.int"].astype(np.int32)):
            problems.append(f"{name}: integers differ from qplay's")
        lo, hi = (-128, 127) if bits == 8 else (-offset, 15 - offset)
        if ints.min() < lo or ints.max() > hi:
            problems.append(f"{name}: integers outside [{lo}, {hi}]")
        scale = np.repeat(s.astype(np.float32), g, axis=1)
        w = scale * ints.astype(np.float32)
        size = q.nbytes + s.nbytes
        if not e["symmetric"]:
            described.add(f"{name}.min")
            m = tensors[f"{name}.min"]
            if m.dtype != sdt or m.shape != (n, k // g):
                problems.append(f"{name}.min: {m.dtype} {m.shape}")
                continue
            w = w + np.repeat(m.astype(np.float32), g, axis=1)
            size += m.nbytes
        elif f"{name}.min" in names:
            problems.append(f"{name}: a min tensor on a symmetric grid")
        if size != n * k * bits // 8 + (n * k // g) * np.dtype(sdt).itemsize * (1 if e["symmetric"] else 2):
            problems.append(f"{name}: {size} bytes stored")
        if w.dtype != np.float32 or not np.array_equal(w.view(np.uint32), r.view(np.uint32)):
            diff = np.abs(w - r).max()
            problems.append(f"{name}: dequantized weights differ from qplay's (max |diff| {diff:.3e})")
        stats["packed"] += 1
        stats["ints"] += ints.size
    extra = names - described
    if extra:
        problems.append(f"tensors not described by the metadata: {sorted(extra)[:5]}")
    claim = f"{stats['ints']} integers exact, dequantized bit for bit" if not problems else "mismatches below"
    print(
        f"{'ok  ' if not problems else 'FAIL'} {path.name}: {stats['packed']} packed Linears ({claim}), "
        f"{stats['float']} float; method {meta['qplay.method']}, qplay {meta['qplay.version']}",
        flush=True,
    )
    for p in problems[:10]:
        print(f"     {p}")
    return problems


def main():
    ensure_venv()
    files = sorted(OUT.glob("*.safetensors"))
    if not files:
        print(f"no exports in {OUT}: run `cargo test --test suite lm_export::` first")
        sys.exit(1)
    failed = [f for f in files if check(f)]
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

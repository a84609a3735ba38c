"""Compares two Llama-style .safetensors models (e.g. a model and its dequantized export) with the
NumPy reference in scripts/lm_reference.py: the metadata, the tensors (max |a - b| and the
relative RMS error ||a - b|| / ||a||), then the logits both give for one token sequence.

    python3 scripts/lm_reference_check.py A.safetensors B.safetensors [--tokens 1,2,3] [--tol 1e-5]

Without --tokens it uses 0, 1, ..., min(seq_len, 16) - 1 (modulo the vocabulary). Exits with 1
when the configurations differ, a tensor is missing, or the largest logit difference exceeds
--tol (default: no limit, report only). Needs only numpy.
"""
import argparse
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import lm_reference as ref  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--tokens", help="comma-separated token ids")
    ap.add_argument("--tol", type=float, default=None, help="fail when max |logit difference| exceeds this")
    args = ap.parse_args()

    ca, wa = ref.load_model(args.a)
    cb, wb = ref.load_model(args.b)
    failed = False
    for key in sorted(set(ca) | set(cb)):
        if ca.get(key) != cb.get(key):
            print(f"config {key}: {ca.get(key)} vs {cb.get(key)}")
            failed = True
    if failed:
        sys.exit(1)
    for name in sorted(set(wa) | set(wb)):
        if name not in wa or name not in wb:
            print(f"{name}: only in {'A' if name in wa else 'B'}")
            failed = True
            continue
        a, b = np.asarray(wa[name], np.float64), np.asarray(wb[name], np.float64)
        diff = a - b
        rel = np.linalg.norm(diff) / max(np.linalg.norm(a), 1e-30)
        print(f"{name:40s} max|a-b| {np.abs(diff).max():.3e}  rel rms {rel:.3e}")
    if failed:
        sys.exit(1)

    if args.tokens:
        tokens = [int(t) for t in args.tokens.split(",") if t.strip()]
    else:
        tokens = [i % ca["vocab_size"] for i in range(min(ca["seq_len"], 16))]
    la, lb = ref.forward(ca, wa, tokens), ref.forward(cb, wb, tokens)
    worst = np.abs(la - lb).max()
    agree = np.mean(la.argmax(axis=1) == lb.argmax(axis=1))
    print(f"logits over {len(tokens)} tokens: max |A-B| {worst:.3e}, "
          f"rel rms {np.linalg.norm(la - lb) / np.linalg.norm(la):.3e}, argmax agreement {agree:.3f}")
    if args.tol is not None and worst > args.tol:
        sys.exit(f"logit difference {worst:.3e} exceeds --tol {args.tol}")


if __name__ == "__main__":
    main()

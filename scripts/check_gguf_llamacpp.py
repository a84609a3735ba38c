"""qplay's GGUF export run by llama.cpp itself, and llama.cpp's own quantized files read by qplay (PyPI llama-cpp-python, built from source by
scripts/check_gguf_llamacpp.sh): each built-in model exported in every GGUF type qplay writes
(F32, F16, Q8_0, Q4_0, Q4_1) must load in llama.cpp, tokenize the evaluation text to the ids
qplay's character tokenizer gives, and score it with the perplexity qplay computes for the same
file.

    bash scripts/check_gguf_llamacpp.sh            # export, then check every type

For each type:
- `qplay lm export --format gguf --weights TYPE` writes the file (every matrix in TYPE, the
  embedding and head too; norms F32) and `qplay lm eval --model FILE` gives qplay's perplexity of
  that file as qplay reads it back (ggml blocks dequantized, float activations);
- llama.cpp loads the file (its own GGUF reader, tokenizer and kernels), tokenizes the first
  TOKENS characters of the validation text, and evaluates the same windows qplay's perplexity
  uses (256 predictions after each window's first token, a fresh F32 KV cache per window); its
  logits go through a float64 log-softmax here.

Then the other way round: llama.cpp's own quantizer (`llama_model_quantize`, as its
`llama-quantize` tool) turns each F32 export into Q4_K_M, Q5_K_M, Q3_K_M, Q2_K, Q6_K, Q5_0 and Q5_1
files (K-quants on the large model's rows of 256 and 768 inputs; on the small model's rows of 128
llama.cpp falls back to Q5_0 / Q5_1 / Q8_0 / Q4_0), and `qplay lm eval --model` reads each one
(src/quant/ggml_read.rs for the formats qplay does not write) to the perplexity llama.cpp computes.

Both built-in models (small and large) are checked.

Tolerances on |ppl_llama.cpp / ppl_qplay − 1|: F32 1e-5 (the same float model; only the order of
float sums differs); F16 1e-4 (llama.cpp's F16 product may round its activations to F16, depending
on the CPU); Q8_0 / Q4_0 / Q4_1 2e-3 (llama.cpp quantizes the activations of a block product to
Q8_0 / Q8_1, qplay's readback keeps them in float).
"""
import ctypes
import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import llama_cpp

ROOT = Path(__file__).resolve().parent.parent
QPLAY = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target/release/qplay")
OUT = ROOT / "target/gguf-llamacpp"
TOKENS = 8193
TOLERANCE = {"f32": 1e-5, "f16": 1e-4, "q8_0": 2e-3, "q4_0": 2e-3, "q4_1": 2e-3}
# llama.cpp's file types (enum llama_ftype) made by its quantizer from the F32 export.
LLAMA_FTYPES = {"Q4_K_M": 15, "Q5_K_M": 17, "Q3_K_M": 12, "Q2_K": 10, "Q6_K": 18, "Q5_0": 8, "Q5_1": 9}
LLAMA_TOLERANCE = 2e-3


def qplay(*args):
    return subprocess.run([QPLAY, *args], check=True, capture_output=True, text=True).stdout


def llama_perplexity(llm, ids, t):
    """The perplexity of qplay's windows: ids[w·t .. w·t + t + 1], logits of the first t."""
    nll, count = 0.0, 0
    for start in range(0, len(ids) - 1, t):
        w = ids[start:start + t + 1]
        llm.reset()
        llm.eval(w[:-1])
        logits = np.asarray(llm.scores[:len(w) - 1], dtype=np.float64)
        m = logits.max(axis=1, keepdims=True)
        logp = logits - m - np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
        nll -= logp[np.arange(len(w) - 1), w[1:]].sum()
        count += len(w) - 1
    return float(np.exp(nll / count)), count


def compare(label, ours, ppl, count, tol, failures):
    """qplay's perplexity {"perplexity", "tokens"} against llama.cpp's, printed; a miss is a failure."""
    rel = abs(ppl / ours["perplexity"] - 1)
    ok = count == ours["tokens"] and rel <= tol
    print(f"{label}: qplay {ours['perplexity']:.6f}  llama.cpp {ppl:.6f}  |ratio - 1| {rel:.2e} "
          f"(tolerance {tol:.0e}, {count} predictions)  {'ok' if ok else 'FAIL'}")
    if not ok:
        failures.append(f"{label.strip()}: perplexity {ppl} against qplay's {ours['perplexity']} ({count} vs {ours['tokens']} predictions)")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    text = gzip.open(ROOT / "www/data/shakespeare.val.txt.gz", "rt", encoding="utf-8").read()
    failures = []
    for (model, ty), tol in [((m, ty), tol) for m in ("small", "large") for ty, tol in TOLERANCE.items()]:
        path = OUT / f"builtin_{model}_{ty}.gguf"
        qplay("lm", "export", "--builtin", model, "--format", "gguf", "--weights", ty, "--out", str(path))
        ours = json.loads(qplay("lm", "eval", "--model", str(path), "--tokens", str(TOKENS)))["perplexity"]
        llm = llama_cpp.Llama(model_path=str(path), n_ctx=256, n_batch=256, logits_all=True,
                              type_k=0, type_v=0, verbose=False)
        alphabet = llm.metadata["qplay.alphabet"]
        t = int(llm.metadata["llama.context_length"])
        # The ids qplay's character tokenizer gives (id = position in the alphabet) ...
        chars = text[:TOKENS]
        want = [alphabet.index(c) for c in chars]
        # ... and llama.cpp's own SentencePiece tokenization of the same text.
        got = llm.tokenize(chars.encode("utf-8"), add_bos=False, special=False)
        if got != want:
            first = next(i for i, (a, b) in enumerate(zip(got + [-1], want + [-1])) if a != b)
            failures.append(f"{model} {ty}: llama.cpp tokenizes differently from position {first}")
        compare(f"{model:5} {ty:5}", ours, *llama_perplexity(llm, want, t), tol, failures)
        del llm
    for model in ("small", "large"):
        for name, ftype in LLAMA_FTYPES.items():
            src, path = OUT / f"builtin_{model}_f32.gguf", OUT / f"llamacpp_{model}_{name.lower()}.gguf"
            params = llama_cpp.llama_model_quantize_default_params()
            params.ftype = ftype
            if llama_cpp.llama_model_quantize(str(src).encode(), str(path).encode(), ctypes.byref(params)) != 0:
                failures.append(f"{model} {name}: llama.cpp's quantizer failed")
                continue
            run = subprocess.run([QPLAY, "lm", "eval", "--model", str(path), "--tokens", str(TOKENS)], capture_output=True, text=True)
            if run.returncode != 0:
                failures.append(f"{model} {name}: qplay refused llama.cpp's file: {run.stderr.strip()}")
                continue
            ours = json.loads(run.stdout)["perplexity"]
            types = next((l.split("read (", 1)[1].rstrip(")") for l in run.stderr.splitlines() if "tensors read (" in l), "?")
            llm = llama_cpp.Llama(model_path=str(path), n_ctx=256, n_batch=256, logits_all=True, type_k=0, type_v=0, verbose=False)
            alphabet = llm.metadata["qplay.alphabet"]
            ids = [alphabet.index(c) for c in text[:TOKENS]]
            label = f"{model:5} llama.cpp {name:6} ({types})"
            compare(label, ours, *llama_perplexity(llm, ids, int(llm.metadata["llama.context_length"])), LLAMA_TOLERANCE, failures)
            del llm
    if failures:
        sys.exit("llama.cpp check failed:\n  " + "\n  ".join(failures))
    print(f"llama.cpp {llama_cpp.__version__}: every export loads, tokenizes as qplay and scores within tolerance; "
          "qplay reads every file llama.cpp's quantizer made to llama.cpp's perplexity")


if __name__ == "__main__":
    main()

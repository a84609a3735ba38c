#!/usr/bin/env bash
# Runs qplay's GGUF export in llama.cpp itself (scripts/check_gguf_llamacpp.py): llama-cpp-python
# 0.3.36 from PyPI, built from source into a venv under target/ (about 6 minutes on 2 cores, once;
# needs gcc / g++; pip fetches cmake). llama.cpp is built for generic x86-64 with AVX2 (GGML_NATIVE
# off, no AMX / AVX-512): its AMX kernels crashed in Q8_0 / Q4_0 products on the virtual machine
# we measured on, on files written by the PyPI gguf package as on ours.
#
# Part of scripts/test.sh. If llama-cpp-python cannot be built on the machine, this says so and
# skips the check (the build, not qplay, failed); a check that runs and fails fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$HOME/.cargo/bin:$PATH
VENV=target/llamacpp-venv
if ! "$VENV/bin/python" -c "import llama_cpp" 2>/dev/null; then
  python3 -m venv "$VENV"
  if ! CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF -DGGML_LLAMAFILE=OFF -DGGML_OPENMP=OFF" \
    CMAKE_BUILD_PARALLEL_LEVEL=2 "$VENV/bin/pip" install --quiet --no-cache-dir --disable-pip-version-check \
    "numpy==2.4.6" "llama-cpp-python==0.3.36"; then
    echo "check_gguf_llamacpp: llama-cpp-python 0.3.36 could not be built on this machine: the llama.cpp check is SKIPPED" >&2
    exit 0
  fi
fi
cargo build --quiet --bin qplay
"$VENV/bin/python" scripts/check_gguf_llamacpp.py "${CARGO_TARGET_DIR:-target}/debug/qplay"

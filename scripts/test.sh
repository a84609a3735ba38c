#!/usr/bin/env bash
# Sets everything up and runs every test:
#   1. native `cargo test` (the numeric core and the CLI), then a smoke run of the cargo-fuzz
#      targets in fuzz/ (scripts/fuzz_smoke.sh; nightly + cargo-fuzz from scripts/fuzz_setup.sh);
#   2. wasm-bindgen-test in headless Chromium on the simd128 build;
#   3. end-to-end tests: `trunk build --release`, then playwright-core drives headless Chromium;
#   4. the QDQ ONNX exports in ONNX Runtime, the packed .safetensors exports with the PyPI
#      safetensors package, the GGUF exports with the PyPI gguf package and in llama.cpp
#      (llama-cpp-python, built from source) (all from PyPI, in venvs under target/).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/scripts/setup.sh"
cd "$root"
start=$(date +%s)
step() { printf '\n== %s (%ss)\n' "$*" $(( $(date +%s) - start )); }

step "1/4 native cargo test"
cargo test --all-targets

step "1b/4 coverage-guided fuzzing smoke run (cargo-fuzz: 20 targets x 10 s, fixed seed)"
bash scripts/fuzz_setup.sh
bash scripts/fuzz_smoke.sh

step "2/4 wasm-bindgen-test in headless Chromium (wasm32 + simd128)"
# One binary runs every browser test, so the runner's whole-run limit (20 s by default) is raised.
WASM_BINDGEN_TEST_TIMEOUT=1200 CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test --target wasm32-unknown-unknown --tests

step "3/4 end-to-end: trunk build --release, then headless Chromium"
trunk build --release
node --test --test-reporter=spec tests/e2e/

step "4/4 QDQ ONNX exports in ONNX Runtime, against qplay's own accuracy and perplexity; packed .safetensors read by the safetensors package; GGUF exports read by the gguf package and run by llama.cpp"
cargo build --quiet --bin qplay
QPLAY_BIN="${CARGO_TARGET_DIR:-target}/debug/qplay" python3 scripts/check_onnxruntime.py
# The language model's QDQ exports, written by step 1's tests/suite/onnx_lm.rs into target/onnx-lm/.
python3 scripts/check_onnx_lm.py
# The packed .safetensors exports, written by step 1's tests/suite/lm_export.rs into target/lm-safetensors/,
# unpacked from their metadata alone with the PyPI safetensors package.
python3 scripts/check_lm_safetensors.py
# The GGUF exports of the random fixture model, read back by the PyPI gguf package: metadata and bytes.
bash scripts/make_lm_import_fixtures.sh check-export
# The built-in models' GGUF exports run by llama.cpp: its tokenization and perplexity against qplay's.
bash scripts/check_gguf_llamacpp.sh

step "all tests passed"

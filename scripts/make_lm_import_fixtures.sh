#!/usr/bin/env bash
# Regenerates tests/fixtures/lm/import/ (llama2.c, GGUF and Hugging Face files of one random
# small model, and their reference logits) in a venv under target/ with pinned PyPI packages:
# gguf 0.19.0 (llama.cpp's GGUFWriter and quantizers), numpy 2.4.6, safetensors 0.8.0.
#
#   bash scripts/make_lm_import_fixtures.sh                # write the fixtures (deterministic)
#   bash scripts/make_lm_import_fixtures.sh check-export   # check qplay's GGUF export with GGUFReader
#
# check-export first runs `cargo test --test suite -- --ignored lm_import::write_export_files`, which
# writes qplay's exports to target/lm-import-export/. tests/suite/lm_import.rs reads the fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=target/lm-import-venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check "gguf==0.19.0" "numpy==2.4.6" "safetensors==0.8.0"
mode=${1:-write}
if [ "$mode" = check-export ]; then
  export PATH=$HOME/.cargo/bin:$PATH
  cargo test --test suite -- --ignored lm_import::write_export_files --quiet
fi
"$VENV/bin/python" scripts/make_lm_import_fixtures.py "$mode"

#!/usr/bin/env bash
# Regenerates tests/fixtures/gguf/ from the PyPI `gguf` package (llama.cpp's own
# Python reference for the GGML block formats), in a venv under target/.
#
#   bash scripts/make_gguf_fixtures.sh
#
# The fixtures are checked in: running this again must leave them unchanged
# (the inputs come from a fixed seed). tests/suite/lm_kernels.rs reads them; the read.*.bin
# files (scripts/make_gguf_read_fixtures.py: the formats qplay reads but does not write)
# are read by tests/suite/ggml_read.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=target/gguf-venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check "gguf==0.19.0" "numpy==2.4.6"
"$VENV/bin/python" scripts/make_gguf_fixtures.py tests/fixtures/gguf
"$VENV/bin/python" scripts/make_gguf_read_fixtures.py tests/fixtures/gguf

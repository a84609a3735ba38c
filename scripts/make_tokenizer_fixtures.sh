#!/usr/bin/env bash
# Regenerates tests/fixtures/lm/tokenizers/ from the PyPI packages `tokenizers` (Hugging Face)
# and `sentencepiece` (Google), the independent references for qplay's BPE / SentencePiece
# tokenizers, in a venv under target/.
#
#   bash scripts/make_tokenizer_fixtures.sh          # writes the fixtures
#   bash scripts/make_tokenizer_fixtures.sh --check  # also regenerates into a scratch dir and
#                                                    # fails if anything differs (determinism)
#
# The fixtures are checked in; tests/suite/lm_tokenizers.rs reads them.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=target/tokenizer-venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check "tokenizers==0.23.3" "sentencepiece==0.2.3"
"$VENV/bin/python" scripts/make_tokenizer_fixtures.py tests/fixtures/lm/tokenizers
if [ "${1:-}" = "--check" ]; then
  SCRATCH=target/tmp/tokenizer-fixtures-check
  rm -rf "$SCRATCH"
  "$VENV/bin/python" scripts/make_tokenizer_fixtures.py "$SCRATCH" > /dev/null
  diff -r tests/fixtures/lm/tokenizers "$SCRATCH"
  echo "fixtures are reproducible"
fi

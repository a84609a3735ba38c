#!/usr/bin/env bash
# A short smoke run of the coverage-guided fuzz targets (fuzz/): every target for
# FUZZ_SMOKE_SECONDS (default 10) seconds, starting from the committed corpus, whose new inputs go
# to a temporary folder (the corpus is left as it is). 20 targets × 10 s: about 3.7 minutes once the
# fuzz crate is built; a fixed mutation seed (FUZZ_SEED, default 1). Exits non-zero on any crash, timeout (> 1 s) or out-of-memory (> 512 MiB).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FUZZ_SEED="${FUZZ_SEED:-1}" FUZZ_ARCH_TIMEOUT="${FUZZ_ARCH_TIMEOUT:-10}" FUZZ_SCRATCH=1 exec bash "$root/scripts/fuzz_cargo.sh" "${FUZZ_SMOKE_SECONDS:-10}" "$@"

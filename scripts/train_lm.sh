#!/usr/bin/env bash
# Trains the built-in language model (www/models/shakespeare.safetensors) from the committed
# corpus (www/data/shakespeare.{train,val}.txt.gz, made by scripts/make_lm_corpus.sh).
# Deterministic: the same flags on the same CPU give the same weights bit for bit (2 threads,
# fixed reduction order, single-threaded sgemm). About 30 minutes on 2 cores.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# `--size large` (with e.g. `--steps 1500`) trains the larger model of the README's "A larger model
# for the methods" into shakespeare-large.safetensors, with its own log.
name=shakespeare
case " $* " in *" --size large "*|*" --size=large "*) name=shakespeare-large ;; esac
cargo build --release --quiet --bin qplay
./target/release/qplay lm train --log "www/models/$name.train.csv" "$@"
sha256sum "www/models/$name.safetensors"

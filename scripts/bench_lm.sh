#!/usr/bin/env bash
# Language-model speed natively and as wasm (simd128) under Node 20: decoding tokens/s of the
# built-in model and of a random model of llama2.c's TinyStories 15M shape in every format, and
# a perplexity run over the default evaluation slice. One parseable line per case:
#   bench suite=lm_decode case=shakespeare_w8_per_channel kernel=simd128 n=256 median_us=... rate=... unit=tokens/s
#   ratio suite=lm_decode case=shakespeare w8_per_channel/fp32=...
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/scripts/setup.sh" >/dev/null
cd "$root"
if [ "${1:-}" != "--node-only" ]; then
  echo "== native"
  cargo run --quiet --release --bin qplay-lm-bench
fi
echo "== wasm32 + simd128 under Node $(node --version)"
cargo build --quiet --release --target wasm32-unknown-unknown --bin qplay-lm-bench
out=target/bench-lm-node
wasm-bindgen --target nodejs --out-dir "$out" target/wasm32-unknown-unknown/release/qplay-lm-bench.wasm
node "$out/qplay-lm-bench.js"

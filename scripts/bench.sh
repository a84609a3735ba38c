#!/usr/bin/env bash
# Runs the benchmarks natively and as wasm (simd128) under Node 20. One parseable line per case:
#   bench suite=quant case=quantize kernel=simd128 n=1048576 median_us=... rate=... unit=elem/s
#   ratio suite=quant case=quantize simd128/scalar=...
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/scripts/setup.sh" >/dev/null
cd "$root"
echo "== native"
cargo run --quiet --release --bin qplay-bench
echo "== wasm32 + simd128 under Node $(node --version)"
cargo build --quiet --release --target wasm32-unknown-unknown --bin qplay-bench
out=target/bench-node
wasm-bindgen --target nodejs --out-dir "$out" target/wasm32-unknown-unknown/release/qplay-bench.wasm
node "$out/qplay-bench.js"

#!/usr/bin/env bash
# Runs the benchmarks natively and as wasm (simd128) under Node 20. One parseable line per case:
#   bench suite=quant case=quantize kernel=simd128 n=1048576 median_us=... rate=... unit=elem/s
#   ratio suite=quant case=quantize simd128/scalar=...
# The GEMM suites (gemm_i8, gemm_f32, qgemm_i8, gemm_i8_variants, ceiling) and the int8 MLP's
# per-stage split (mlp_split) time their entries interleaved, so their ratios hold on a busy machine:
#   ratio suite=gemm_i8 case=16x784x128 simd128/ceiling=...      (against the dot+add ceiling of the same run)
#   split suite=mlp_split case=l1_784x128_qgemm ms=... share=...  (share of Int8Mlp::predict's stages)
# scripts/kernel_loops.sh shows the x64 code V8 makes of the kernels' inner loops.
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
echo "== the Fashion CNN end to end (FP32 vs the integer engine, batches 1, 64, 10,000) under Node"
cargo build --quiet --release --target wasm32-unknown-unknown --bin qplay-bench-cnn
wasm-bindgen --target nodejs --out-dir "$out" target/wasm32-unknown-unknown/release/qplay-bench-cnn.wasm
node "$out/qplay-bench-cnn.js"

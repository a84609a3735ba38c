#!/usr/bin/env bash
# Runs the benchmarks natively and as wasm (simd128) under Node 20. One parseable line per case:
#   bench suite=quant case=quantize kernel=simd128 n=1048576 median_us=... rate=... unit=elem/s spread=0.012
#   ratio suite=quant case=quantize simd128/scalar=...
# Each case runs untimed for 50 ms first, then trials until the spread, (p75 − p25) / median of
# the trials, is under 5 % (or a cap of 3× the trials / 1.5 s); the figure is the median.
# A ratio above what the two instruction ceilings of the same run allow ends in flag=above_ceiling,
# followed by a `warning` line:
#   ratio suite=gemm case=256x512x512 int8/f32=3.71 flag=above_ceiling
# The requantized GEMM fused in registers against the two passes (time of the two / fused):
#   ratio suite=qgemm_i8 case=64x784x128 fused/two_pass=1.05
#   summary suite=qgemm fused_faster=7/7 median_fused/two_pass=1.04 forward=simd128_fused
# The GEMM suites (gemm_i8, gemm_f32, qgemm_i8, gemm_i8_variants, ceiling) and the int8 MLP's
# per-stage split (mlp_split) time their entries interleaved, so their ratios hold on a busy machine:
#   ratio suite=gemm_i8 case=16x784x128 simd128/ceiling=...      (against the dot+add ceiling of the same run)
#   split suite=mlp_split case=l1_784x128_qgemm ms=... share=...  (share of Int8Mlp::predict's stages)
# scripts/kernel_loops.sh shows the x64 code V8 makes of the kernels' inner loops.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/scripts/setup.sh" >/dev/null
cd "$root"
tdir=${CARGO_TARGET_DIR:-target}
echo "== native"
cargo run --quiet --release --bin qplay-bench
echo "== wasm32 + simd128 under Node $(node --version)"
cargo build --quiet --release --target wasm32-unknown-unknown --bin qplay-bench
out="$tdir/bench-node"
wasm-bindgen --target nodejs --out-dir "$out" "$tdir/wasm32-unknown-unknown/release/qplay-bench.wasm"
node "$out/qplay-bench.js"
echo "== the Fashion CNN end to end (FP32 vs the integer engine, batches 1, 64, 10,000) under Node"
cargo build --quiet --release --target wasm32-unknown-unknown --bin qplay-bench-cnn
wasm-bindgen --target nodejs --out-dir "$out" "$tdir/wasm32-unknown-unknown/release/qplay-bench-cnn.wasm"
node "$out/qplay-bench-cnn.js"

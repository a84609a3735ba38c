#!/usr/bin/env bash
# What V8 (Node 20, TurboFan) makes of the GEMM inner loops: builds the wasm
# benchmark, has V8 compile it without running it, and prints the instruction
# mix of the innermost multiply loops of the production int8 kernel (gemm and
# qgemm_fused: 2-row tiles, and their 1-row tails), the previous broadcast
# kernel (splat_gemm), the f32 kernel and the instruction-ceiling loops, per 8
# multiplies (see scripts/kernel_loops.py).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/scripts/setup.sh" >/dev/null
cd "$root"
cargo build --quiet --release --target wasm32-unknown-unknown --bin qplay-bench
tdir=${CARGO_TARGET_DIR:-target}
wasm=$tdir/wasm32-unknown-unknown/release/qplay-bench.wasm
out=$tdir/kernel-loops
mkdir -p "$out"
wasm-dis "$wasm" -o "$out/qplay-bench.wat"
node --print-wasm-code --no-liftoff --no-wasm-lazy-compilation \
  -e "new WebAssembly.Module(require('fs').readFileSync('$wasm'))" > "$out/v8-code.txt"
# The production int8 GEMM's loops are inlined into its thread-local buffer's closure (LocalKey<T>::with).
python3 scripts/kernel_loops.py "$out/qplay-bench.wat" "$out/v8-code.txt" \
  'LocalKey<T>::with' 'gemm_i8::simd128::qgemm' 'variants::splat_gemm' 'gemm_f32::simd128::gemm' 'ceiling_loops'

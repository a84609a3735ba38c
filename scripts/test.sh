#!/usr/bin/env bash
# Sets everything up and runs every test:
#   1. native `cargo test` (the numeric core and the CLI);
#   2. wasm-bindgen-test in headless Chromium on the simd128 build;
#   3. end-to-end tests: `trunk build --release`, then playwright-core drives headless Chromium.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/scripts/setup.sh"
cd "$root"
start=$(date +%s)
step() { printf '\n== %s (%ss)\n' "$*" $(( $(date +%s) - start )); }

step "1/3 native cargo test"
cargo test --all-targets

step "2/3 wasm-bindgen-test in headless Chromium (wasm32 + simd128)"
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test --target wasm32-unknown-unknown --tests

step "3/3 end-to-end: trunk build --release, then headless Chromium"
trunk build --release
node --test tests/e2e/

step "all tests passed"

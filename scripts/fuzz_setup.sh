#!/usr/bin/env bash
# Installs what coverage-guided fuzzing (fuzz/, cargo-fuzz + libFuzzer) needs, only what is missing:
#   - the nightly toolchain, from rustup's own channel (minimal profile);
#   - cargo-fuzz, built from crates.io with its lock file.
# Idempotent: a second run does nothing. Source it or run it.
set -euo pipefail
CARGO_FUZZ_VERSION=0.13.2

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz_setup: installing the nightly toolchain" >&2
  rustup toolchain install nightly --profile minimal
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz_setup: installing cargo-fuzz $CARGO_FUZZ_VERSION" >&2
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

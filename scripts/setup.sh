#!/usr/bin/env bash
# Installs what qplay needs to build and test, skipping whatever is already
# there at the right version. Everything comes from the package registries
# (rustup's own channel, crates.io, npm, Debian); nothing else is downloaded.
#
#   wasm32 target · trunk 0.21.14 · wasm-bindgen CLI at the Cargo.lock version
#   · wasm-opt from npm binaryen 132 · playwright-core · Debian chromium + chromedriver
#
# Source it (`. scripts/setup.sh`) to get the PATH it sets up. With QPLAY_SETUP=serve (what
# scripts/serve.sh sets) it installs only what building and serving need: no browser.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export PATH="$HOME/.cargo/bin:$root/node_modules/.bin:$PATH"
say() { printf '[setup] %s\n' "$*"; }

TRUNK_VERSION=0.21.14
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[" ]/, "", $0); sub("version=", "", $0); print; exit }' Cargo.lock)
[ -n "$WASM_BINDGEN_VERSION" ] || { echo "[setup] cannot read the wasm-bindgen version from Cargo.lock" >&2; exit 1; }

if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "wasm32-unknown-unknown target: present"
else
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(trunk --version 2>/dev/null)" = "trunk $TRUNK_VERSION" ]; then
  say "trunk $TRUNK_VERSION: present"
else
  say "installing trunk $TRUNK_VERSION (about 6 minutes on 2 cores)"
  cargo install --locked "trunk@$TRUNK_VERSION"
fi

if [ "$(wasm-bindgen --version 2>/dev/null)" = "wasm-bindgen $WASM_BINDGEN_VERSION" ] &&
   command -v wasm-bindgen-test-runner >/dev/null; then
  say "wasm-bindgen CLI $WASM_BINDGEN_VERSION: present"
else
  # Not --locked: one of its locked dependency versions is no longer on crates.io.
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 3 minutes)"
  cargo install --force wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION"
fi

if [ -x node_modules/.bin/wasm-opt ] && [ -d node_modules/playwright-core ] &&
   [ node_modules/.package-lock.json -nt package-lock.json ]; then
  say "npm tools (binaryen 132, playwright-core): present"
else
  say "installing npm tools (binaryen 132, playwright-core)"
  npm ci --no-audit --no-fund
fi
wasm-opt --version | grep -q 'version 132' || { echo "[setup] wasm-opt on PATH is not binaryen 132: $(command -v wasm-opt)" >&2; exit 1; }

if [ "${QPLAY_SETUP:-}" = serve ]; then
  say "chromium: not needed to serve (scripts/test.sh installs it)"
elif [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  say "chromium + chromedriver: present"
else
  say "installing Debian chromium + chromium-driver"
  sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium chromium-driver
fi
say "ready"

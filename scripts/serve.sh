#!/usr/bin/env bash
# Sets everything up, builds the app (release, wasm + simd128) and serves it on http://127.0.0.1:8080
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QPLAY_SETUP=serve . "$root/scripts/setup.sh"
cd "$root"
exec trunk serve --release --address 127.0.0.1 --port 8080

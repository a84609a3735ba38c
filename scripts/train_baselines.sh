#!/usr/bin/env bash
# Trains the pretrained FP32 baselines with qplay's own trainer (deterministic from the seed)
# and writes them to www/models/. Rerunning gives the same weights bit for bit on x86-64.
#   bash scripts/train_baselines.sh        # ~4 minutes on 2 cores
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --quiet --release --bin qplay
mkdir -p www/models
q=target/release/qplay
$q train --arch mlp --dataset fashion --epochs 12 --seed 1 --out www/models/mlp-fashion.safetensors
$q train --arch mlp --dataset mnist --epochs 20 --seed 1 --out www/models/mlp-mnist.safetensors
$q train --arch cnn --dataset fashion --epochs 8 --seed 1 --out www/models/cnn-fashion.safetensors
sha256sum www/models/*.safetensors

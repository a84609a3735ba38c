#!/usr/bin/env bash
# Fuzzes every parser (tests/suite/fuzz.rs) for a given time: round after round with a new seed,
# QPLAY_FUZZ_CASES cases per target per round, until MINUTES have passed. Prints each round and
# the total number of cases; stops at the first failure (the shrunk input is saved under
# target/fuzz-failures/) and exits 1.
#
#   bash scripts/fuzz.sh 10          # ten minutes (the documented run)
#   CASES=5000 bash scripts/fuzz.sh 1
#   FIRST_SEED=100 bash scripts/fuzz.sh 10   # other seeds than the last run
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
minutes=${1:-10}
cases=${CASES:-20000}
seed=${FIRST_SEED:-1}

cargo test --quiet --test suite --no-run
start=$(date +%s)
deadline=$((start + minutes * 60))
total=0
rounds=0
while [ "$(date +%s)" -lt "$deadline" ]; do
  log=$(mktemp)
  if ! QPLAY_FUZZ_SEED=$seed QPLAY_FUZZ_CASES=$cases cargo test --quiet --test suite -- --nocapture fuzz::fuzz_ >"$log" 2>&1; then
    cat "$log"
    echo "[fuzz] FAILED in round $((rounds + 1)) (seed $seed) after $total cases"
    exit 1
  fi
  # Each target prints "fuzz <target>: N cases, no panic" (the test harness may put dots before it).
  n=$(grep -o 'fuzz [a-z_]*: [0-9]* cases, no panic' "$log" | awk '{ s += $3 } END { print s + 0 }')
  rm -f "$log"
  total=$((total + n))
  rounds=$((rounds + 1))
  echo "[fuzz] round $rounds, seed $seed: $n cases ($(( $(date +%s) - start )) s, $total in all)"
  seed=$((seed + 1))
done
elapsed=$(( $(date +%s) - start ))
echo "[fuzz] $total cases in $rounds rounds over $elapsed s ($((elapsed / 60)) min $((elapsed % 60)) s): no panic, no allocation over the limit"

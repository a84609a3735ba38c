#!/usr/bin/env bash
# Coverage-guided fuzzing with cargo-fuzz (libFuzzer) of every target in fuzz/fuzz_targets/:
# each target runs SECONDS in turn (one job, `nice -n 10`), per-case timeout 1 s, RSS limit
# 512 MiB, a maximum input length that suits the format, with debug assertions (overflow checks)
# and AddressSanitizer. New inputs that reach new coverage go into fuzz/corpus/<target>/ (with
# FUZZ_SCRATCH=1 into a temporary folder instead, leaving the committed corpus as it is); a crash,
# timeout or out-of-memory input is saved under fuzz/artifacts/<target>/.
#
#   scripts/fuzz_cargo.sh [SECONDS] [TARGET...]     (default 150 s, every target)
#   FUZZ_SCRATCH=1 scripts/fuzz_cargo.sh 10         (the smoke run: scripts/fuzz_smoke.sh)
#
# Prints one line per target: seconds, cases (executions), libFuzzer's final `cov:` (covered
# edges) and `ft:` (features), corpus files and bytes; exits non-zero if any target failed.
# Logs: fuzz/target/logs/<target>.log. Minimise the corpus afterwards with
#   cargo +nightly fuzz cmin -a <target> -- -rss_limit_mb=512 -timeout=1 -max_len=<as below>
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
. scripts/fuzz_setup.sh

seconds=${1:-150}
shift || true
all=(text json npy npz safetensors safetensors_model onnx qds share_tensor share_experiment share_lm
     experiment_toml experiment_ini lm_safetensors arch lm_gguf lm_llama2c lm_hf lm_tokenizer ptq_config)
[ $# -gt 0 ] && targets=("$@") || targets=("${all[@]}")

# Seconds one case may take: 1, except `arch` under FUZZ_ARCH_TIMEOUT (the smoke run gives it 10:
# with the fixed seed it meets a generated model whose PTQ takes 3.9 s under AddressSanitizer).
case_timeout() {
  if [ "$1" = arch ]; then echo "${FUZZ_ARCH_TIMEOUT:-1}"; else echo 1; fi
}

# The longest input tried, per target: a few times the largest seed.
max_len() {
  case $1 in
    lm_safetensors) echo 131072 ;;
    onnx|safetensors|safetensors_model) echo 16384 ;;
    npz|share_tensor|share_experiment|share_lm|experiment_toml|lm_gguf|lm_llama2c|lm_hf) echo 8192 ;;
    lm_tokenizer) echo 16384 ;;
    *) echo 4096 ;;
  esac
}

nice -n 10 cargo +nightly fuzz build -a >/dev/null 2>"fuzz/target-build.log" || { cat fuzz/target-build.log >&2; exit 1; }
rm -f fuzz/target-build.log
mkdir -p fuzz/target/logs
scratch=""
[ "${FUZZ_SCRATCH:-0}" = 1 ] && scratch=$(mktemp -d) && trap 'rm -rf "$scratch"' EXIT

failed=()
total_cases=0
printf '%-18s %5s %12s %7s %8s %7s %10s  %s\n' target s cases cov ft corpus bytes result
for t in "${targets[@]}"; do
  log="fuzz/target/logs/$t.log"
  mkdir -p "fuzz/corpus/$t"
  dirs=("fuzz/corpus/$t")
  if [ -n "$scratch" ]; then mkdir -p "$scratch/$t"; dirs=("$scratch/$t" "fuzz/corpus/$t"); fi
  start=$(date +%s)
  result=ok
  nice -n 10 cargo +nightly fuzz run -a "$t" "${dirs[@]}" -- \
    -max_total_time="$seconds" -seed="${FUZZ_SEED:-0}" -timeout="$(case_timeout "$t")" -rss_limit_mb=512 -max_len="$(max_len "$t")" \
    -print_final_stats=1 >"$log" 2>&1 || result="FAILED (see $log and fuzz/artifacts/$t/)"
  took=$(( $(date +%s) - start ))
  cases=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  files=$(find "fuzz/corpus/$t" -type f | wc -l)
  bytes=$(find "fuzz/corpus/$t" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')
  printf '%-18s %5s %12s %7s %8s %7s %10s  %s\n' "$t" "$took" "${cases:-?}" "${cov:-?}" "${ft:-?}" "$files" "$bytes" "$result"
  total_cases=$(( total_cases + ${cases:-0} ))
  [ "$result" = ok ] || failed+=("$t")
done
echo "total: $total_cases cases in ${#targets[@]} targets"
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed: ${failed[*]}" >&2
  for t in "${failed[@]}"; do grep -E "panicked|ERROR: libFuzzer|SUMMARY|Test unit written" "fuzz/target/logs/$t.log" | head -8 >&2; done
  exit 1
fi

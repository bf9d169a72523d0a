#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS] [TARGET...] — run the libFuzzer targets (docs/fuzzing.md) for SECONDS
# each (default 60), all of them unless TARGETs are named (e.g. `npy chat_template`).
#
# Builds them first in the sanitized clang build (scripts/sanitized-build.sh; FUZZ_BUILD_DIR,
# default build-asan: the same build scripts/test.sh runs the ASan ctest in). Targets run JOBS at a time (default: all cores).
# New interesting inputs go to BUILD/fuzz/work/<target>/ (kept between runs, never into the repo's
# seeds); a crash, sanitizer report, hang (> FUZZ_TIMEOUT s for one input) or OOM leaves its input
# in BUILD/fuzz/artifacts/<target>/ and makes the script exit 1 after every target has run.
# FUZZ_NO_BUILD=1 runs the binaries as they are. FUZZ_ARGS adds libFuzzer flags (e.g. "-fork=1 -ignore_crashes=1" to go on after a crash).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
shift || true
BUILD=${FUZZ_BUILD_DIR:-build-asan}
JOBS=${JOBS:-$(nproc)}
TIMEOUT=${FUZZ_TIMEOUT:-10}  # one input; the slowest seed takes well under a second
ALL=(safetensors safetensors_index hf_config tokenizer_json tokenizer_config chat_template serve_request npy
     token_shard dataset_index checkpoint_meta gguf)
TARGETS=("$@")
((${#TARGETS[@]})) || TARGETS=("${ALL[@]}")

[ "${FUZZ_NO_BUILD:-0}" = 1 ] || ./scripts/sanitized-build.sh "$BUILD" "${TARGETS[@]/#/fuzz_}"

run_one() {
  local t=$1 build=$2 seconds=$3 timeout=$4
  local work="$build/fuzz/work/$t" art="$build/fuzz/artifacts/$t/" log="$build/fuzz/logs/$t.log"
  mkdir -p "$work" "$art" "$(dirname "$log")"
  local dict=()
  [ -f "fuzz/dicts/$t.dict" ] && dict=(-dict="fuzz/dicts/$t.dict")
  # rss/malloc limits: no input of a few KB may need hundreds of MB (docs/conventions.md, Errors:
  # bounded memory). ASan's own quarantine and shadow stay well under the RSS limit.
  if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=0 \
     UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb=2048 \
       -malloc_limit_mb=512 -print_final_stats=1 -print_funcs=0 -artifact_prefix="$art" "${dict[@]}" ${FUZZ_ARGS:-} \
       "$work" "fuzz/corpus/$t" >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
  fi
  # The last status line: "#N ... cov: C ft: F ... exec/s: R" (also in -fork mode).
  local last execs rate cov
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  [ -n "$execs" ] || execs=$(echo "$last" | sed -E 's/^#([0-9]+).*/\1/')
  rate=$(echo "$last" | grep -oE 'exec/s:? [0-9]+' | grep -oE '[0-9]+$')
  cov=$(echo "$last" | grep -o 'cov: [0-9]* ft: [0-9]*')
  printf '%-18s %-6s %10s execs %7s/s  %s\n' "$t" "$status" "${execs:-?}" "${rate:-?}" "${cov:-}"
  if [ "$status" != ok ]; then
    grep -E '^(==[0-9]+==ERROR|SUMMARY|== fuzz target|artifact_prefix|Test unit written|.*runtime error)' "$log" | head -8 |
      sed 's/^/    /'
    echo "    log: $log"
    return 1
  fi
}
export -f run_one

echo "== fuzzing ${#TARGETS[@]} target(s), ${SECONDS_EACH}s each, $JOBS at a time (logs: $BUILD/fuzz/logs)"
printf '%s\n' "${TARGETS[@]}" | xargs -P "$JOBS" -I{} bash -c 'run_one "$@"' _ {} "$BUILD" "$SECONDS_EACH" "$TIMEOUT"

#!/usr/bin/env bash
# Install, build and run the whole test suite: the Release build's ctest, then the whole suite
# again under AddressSanitizer + UndefinedBehaviorSanitizer (clang), then a short run of every
# fuzz target in that same build.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh $([ "${FRUGAL_JS_TESTS:-1}" != 0 ] && echo --test) \
  $([ "${FRUGAL_SKIP_SANITIZE:-0}" != 1 ] && echo --sanitize)
JOBS=${JOBS:-$(nproc)}
./scripts/build.sh build
ctest --test-dir build --output-on-failure -j "$JOBS"
# The serving tests that need a real client and browser: the official openai npm client, the chat
# page in chromium (playwright-core), curl. They need node >= 18 (Debian 12's), npm and the npm
# registry; run.sh fails when something is missing. Only FRUGAL_JS_TESTS=0 leaves them out.
if [ "${FRUGAL_JS_TESTS:-1}" = 0 ]; then
  echo "== serving client/browser tests not run (FRUGAL_JS_TESTS=0)"
else
  echo "== serving: openai npm client, chromium chat page, curl"
  tests/serve/js/run.sh build/cli/frugal
fi
if [ "${FRUGAL_SKIP_SANITIZE:-0}" != "1" ]; then
  # One clang build for both: the libraries carry ASan + UBSan and libFuzzer's coverage hooks, the
  # tests link the sanitizers only, the fuzz/ targets also libFuzzer's driver (docs/fuzzing.md).
  echo "== ASan + UBSan build (clang 14, also instrumented for the fuzz targets)"
  ./scripts/sanitized-build.sh build-asan
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp ctest --test-dir build-asan --output-on-failure -j "$JOBS"
  echo "== fuzzing: every target for ${FRUGAL_FUZZ_SECONDS:-20} s"
  JOBS=$JOBS ./scripts/fuzz.sh "${FRUGAL_FUZZ_SECONDS:-20}"
fi
./tools/check_line_budget.sh

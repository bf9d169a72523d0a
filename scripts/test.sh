#!/usr/bin/env bash
# Install, build and run the whole test suite: the Release build's ctest and the client/browser
# tests, then a sanitized clang build (ASan + UBSan + libFuzzer) where the core and io tests run
# again and every fuzz target runs for ~20 s.
#
# CI gives this 30 minutes on 2 cores, and the whole suite under the sanitizers does not fit beside
# the Release run there (two full builds). FRUGAL_SANITIZE_ALL=1 runs all of it sanitized; do that
# before landing a change to memory-handling code (docs/fuzzing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
T0=$SECONDS
stage() { echo "== [$(((SECONDS - T0) / 60))m$(((SECONDS - T0) % 60))s] $*"; }
./scripts/install-deps.sh $([ "${FRUGAL_JS_TESTS:-1}" != 0 ] && echo --test) \
  $([ "${FRUGAL_SKIP_SANITIZE:-0}" != 1 ] && echo --sanitize)
JOBS=${JOBS:-$(nproc)}
stage "Release build"
./scripts/build.sh build
stage "Release ctest"
ctest --test-dir build --output-on-failure -j "$JOBS"
# The serving tests that need a real client and browser: the official openai npm client, the chat
# page in chromium (playwright-core), curl. They need node >= 18 (Debian 12's), npm and the npm
# registry; run.sh fails when something is missing. Only FRUGAL_JS_TESTS=0 leaves them out.
if [ "${FRUGAL_JS_TESTS:-1}" = 0 ]; then
  echo "== serving client/browser tests not run (FRUGAL_JS_TESTS=0)"
else
  stage "serving: openai npm client, chromium chat page, curl"
  tests/serve/js/run.sh build/cli/frugal
fi
if [ "${FRUGAL_SKIP_SANITIZE:-0}" != "1" ]; then
  # One clang build for both: the libraries carry ASan + UBSan and libFuzzer's coverage hooks, the
  # tests link the sanitizers only, the fuzz/ targets also libFuzzer's driver (docs/fuzzing.md).
  SAN_ENV=(ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
           LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp)
  if [ "${FRUGAL_SANITIZE_ALL:-0}" = 1 ]; then
    stage "ASan + UBSan build, everything (clang 14, also instrumented for the fuzz targets)"
    ./scripts/sanitized-build.sh build-asan
    stage "ASan + UBSan ctest, whole suite"
    env "${SAN_ENV[@]}" ctest --test-dir build-asan --output-on-failure -j "$JOBS"
  else
    stage "ASan + UBSan build: libraries, fuzz targets, core and io tests (clang 14)"
    ./scripts/sanitized-build.sh build-asan test_core test_io
    ninja -C build-asan $(ninja -C build-asan -t targets all | grep -oE '^fuzz_[a-z_]+:' | tr -d : | sort -u)
    stage "ASan + UBSan ctest: core, io, fuzz seeds"
    env "${SAN_ENV[@]}" ctest --test-dir build-asan --output-on-failure -j "$JOBS" -L '^(core|io|fuzz)$'
  fi
  stage "fuzzing: every target for ${FRUGAL_FUZZ_SECONDS:-20} s"
  JOBS=$JOBS FUZZ_NO_BUILD=1 ./scripts/fuzz.sh "${FRUGAL_FUZZ_SECONDS:-20}"
fi
./tools/check_line_budget.sh
stage "done"

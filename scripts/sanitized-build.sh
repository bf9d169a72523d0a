#!/usr/bin/env bash
# scripts/sanitized-build.sh [BUILD_DIR] [NINJA_TARGET...] — configure (once) and build the sanitized
# clang build (default build-asan): ASan + UBSan at -O1, every library also instrumented for
# libFuzzer (-fsanitize=fuzzer-no-link), plus the fuzz/ targets. One build serves both the
# sanitized ctest run of scripts/test.sh and scripts/fuzz.sh (docs/fuzzing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-asan}
shift || true
# A build directory configured earlier with another compiler (GCC) cannot switch in place.
if [ -f "$BUILD/CMakeCache.txt" ] && ! grep -q "^FRUGAL_FUZZ:BOOL=ON" "$BUILD/CMakeCache.txt"; then
  echo "sanitized-build: $BUILD was configured without FRUGAL_FUZZ (another compiler?); starting it afresh"
  rm -rf "$BUILD"
fi
if [ ! -f "$BUILD/build.ninja" ]; then
  # -O1: the usual ASan setting; -O0 made the sanitized tests and the fuzzers several times slower.
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" \
    -DCMAKE_CXX_COMPILER=clang++-14 -DFRUGAL_SANITIZE=ON -DFRUGAL_FUZZ=ON -DFRUGAL_BUILD_BENCH=OFF >/dev/null
fi
ninja -C "$BUILD" "$@"

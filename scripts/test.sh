#!/usr/bin/env bash
# Install, build and run the whole test suite: the Release build's ctest, then the bad-input
# and kernel tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
JOBS=${JOBS:-$(nproc)}
./scripts/build.sh build
ctest --test-dir build --output-on-failure -j "$JOBS"
if [ "${FRUGAL_SKIP_SANITIZE:-0}" != "1" ]; then
  echo "== ASan + UBSan build"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFRUGAL_SANITIZE=ON -DFRUGAL_BUILD_BENCH=OFF >/dev/null
  ninja -C build-asan
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$JOBS"
fi
./tools/check_line_budget.sh

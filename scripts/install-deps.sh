#!/usr/bin/env bash
# Installs the Debian 12 packages frugal builds and tests with. Idempotent; needs root (or sudo).
set -euo pipefail
PKGS=(build-essential cmake ninja-build pkg-config
      libopenblas-openmp-dev libomp-dev
      libdnnl-dev  # oneDNN: bf16 GEMMs of --precision bf16 (src/kernels/gemm_bf16_onednn.cpp)
      nlohmann-json3-dev libcli11-dev libfmt-dev
      libgtest-dev libgmock-dev libbenchmark-dev
      libonig-dev libutf8proc-dev zlib1g-dev
      libtomlplusplus-dev libcpp-httplib-dev
      fortunes fortunes-min
      gnuplot-nox  # `frugal plot --out x.png`: its pngcairo terminal renders without X
      libopenmpi-dev openmpi-bin)  # src/dist: distributed training under mpirun (docs/distributed.md)
# --test: also what the serving tests drive (tests/serve/js): curl, Debian's chromium through
# playwright-core, and node + npm for the openai client (Debian 12's nodejs is 18, which the pinned
# npm packages support). A node already on PATH (e.g. NodeSource's, which bundles npm and conflicts
# with Debian's npm package) is kept: only a missing command is installed.
# --sanitize: clang 14 and its runtimes (ASan, UBSan, libFuzzer) for the sanitized build and the
# fuzz targets (docs/fuzzing.md); clang's -fopenmp uses libomp-dev above.
for arg in "$@"; do
  case "$arg" in
    --test)
      PKGS+=(chromium curl)
      command -v node >/dev/null || PKGS+=(nodejs)
      command -v npm >/dev/null || PKGS+=(npm)
      ;;
    --sanitize) PKGS+=(clang-14 libclang-rt-14-dev) ;;
    *) echo "install-deps: unknown option $arg (expected --test, --sanitize)" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi

#!/usr/bin/env bash
# Data-parallel scaling of `frugal train` on this machine (docs/distributed.md, Measured):
# tokens/s of one process (1 and 2 OpenMP threads) against `mpirun -np 2 ... --dp 2` (1 thread per
# rank; replicated optimizer and ZeRO-1), the same global batch in every run. Prints the CPU, its
# ISA flags and the load before and after: the machine is shared, so the numbers move with it.
# usage: bench/bench_dist.sh [BUILD_DIR=build] [PRESET=tiny] [STEPS=12]
set -euo pipefail
BUILD=${1:-build}
PRESET=${2:-tiny}
STEPS=${3:-12}
FRUGAL=$(realpath "$BUILD/cli/frugal")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# A learnable corpus of 200k token ids over 256 symbols, as .npy (int32).
python3 - "$WORK/ids.npy" <<'PY'
import random, struct, sys
random.seed(7)
phrases = [[random.randrange(256) for _ in range(8)] for _ in range(32)]
ids = []
while len(ids) < 200000:
    ids += random.choice(phrases)
ids = ids[:200000]
header = "{'descr': '<i4', 'fortran_order': False, 'shape': (%d,), }" % len(ids)
header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
with open(sys.argv[1], "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
    f.write(struct.pack("<%di" % len(ids), *ids))
PY

echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; ISA: $(grep -o -w -E 'avx2|avx512f|avx512bw|avx512_bf16|amx_tile' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "load before: $(uptime | sed 's/.*load average: //')"
ARGS="train --tokens $WORK/ids.npy --preset $PRESET --vocab-size 256 --seq-len 128 --batch 4 --grad-accum 2 \
--steps $STEPS --lr 1e-3 --warmup 2 --log-every 1000 --eval-every 0 --checkpoint-every 0 --no-shuffle"
run() {  # label, command...
  local label=$1
  shift
  local out
  out=$("$@" 2>&1) || { echo "$label: FAILED"; echo "$out" | tail -5; return; }
  local tps comm
  tps=$(echo "$out" | sed -n 's/.* \([0-9.]*\) tok\/s.*/\1/p' | tail -1)
  comm=$(echo "$out" | sed -n 's/.*communication \([0-9.]* s ([0-9.]* ms per step)\), sent \([0-9.]* MB\) per step (analytic .* = \([0-9.]* MB\)).*/comm \1, sent \2\/step (analytic \3)/p')
  printf '%-34s %8s tok/s  %s\n' "$label" "$tps" "$comm"
}
run "1 process x 1 thread" env OMP_NUM_THREADS=1 "$FRUGAL" $ARGS --out "$WORK/r1"
run "1 process x 2 threads" env OMP_NUM_THREADS=2 "$FRUGAL" $ARGS --out "$WORK/r2"
run "dp 2 (mpirun -np 2) x 1 thread" mpirun --oversubscribe -np 2 -x OMP_NUM_THREADS=1 "$FRUGAL" $ARGS --dp 2 --out "$WORK/d2"
run "dp 2 ZeRO-1 x 1 thread" mpirun --oversubscribe -np 2 -x OMP_NUM_THREADS=1 "$FRUGAL" $ARGS --dp 2 --zero1 --out "$WORK/z2"
echo "load after: $(uptime | sed 's/.*load average: //')"

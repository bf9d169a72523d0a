#!/usr/bin/env python3
"""compare_probs.py FRUGAL_LOGITS.npy LLAMACPP.json: per prompt position, the largest difference
between llama.cpp's log-probabilities (llamacpp_probs.mjs) and log-softmax of frugal's logits
(`frugal logits`), over tokens with p > 1e-6, relative to the position's logit range. Standard
library only (no numpy)."""
import json
import math
import struct
import sys


def read_npy_f32(path):
    b = open(path, "rb").read()
    hl = struct.unpack("<H", b[8:10])[0]
    hdr = eval(b[10:10 + hl].decode(), {})  # the .npy header is a Python dict literal
    assert hdr["descr"] == "<f4" and not hdr["fortran_order"], hdr
    rows, cols = hdr["shape"]
    v = struct.unpack("<%df" % (rows * cols), b[10 + hl:10 + hl + 4 * rows * cols])
    return [list(v[r * cols:(r + 1) * cols]) for r in range(rows)]


def main():
    logits, ref = read_npy_f32(sys.argv[1]), json.load(open(sys.argv[2]))
    worst = 0.0
    for t, pm in enumerate(ref["probs"]):
        row = logits[t]
        mx = max(row)
        lse = mx + math.log(sum(math.exp(x - mx) for x in row))
        span = mx - min(row)
        err = max(abs(math.log(p) - (row[int(k)] - lse)) for k, p in pm.items() if p > 1e-6)
        top_ref = max(pm.items(), key=lambda kv: kv[1])[0]
        top = max(range(len(row)), key=lambda i: row[i])
        worst = max(worst, err / span)
        print(f"pos {t}: max |dlogp| {err:.3g}, logit range {span:.3g}, relative {err / span:.2e}, "
              f"argmax llama.cpp {top_ref} frugal {top}")
    print(f"worst relative difference: {worst:.2e}")


if __name__ == "__main__":
    main()

// Machine peaks measured in the same run as a benchmark (the VM is shared and noisy, so only
// ratios measured together mean anything): STREAM-like read bandwidth and OpenBLAS sgemm GFLOP/s.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/rng.h"
#include "core/sys.h"
#include "kernels/linear.h"

namespace frugal::bench {

// Sum a `bytes`-sized f32 array with 16 independent partial sums per thread (memory bound).
inline double read_bandwidth_gbs(size_t bytes, int reps) {
  const int64_t n = int64_t(bytes / sizeof(float));
  float* a = static_cast<float*>(std::aligned_alloc(64, size_t(n) * sizeof(float)));
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) a[i] = float(i & 1023);  // first touch by the reading thread
  double best = 0, sink = 0;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now_seconds();
    double total = 0;
#pragma omp parallel reduction(+ : total)
    {
      const int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
      const int64_t i0 = n * t / T / 16 * 16, i1 = t == T - 1 ? n : n * (t + 1) / T / 16 * 16;
      float s[16] = {};
      for (int64_t i = i0; i < i1; i += 16)
        for (int j = 0; j < 16; ++j) s[j] += a[i + j];
      for (float v : s) total += v;
    }
    const double dt = now_seconds() - t0;
    sink += total;
    best = std::max(best, double(bytes) / dt / 1e9);
  }
  std::free(a);
  if (sink == 1.2345) std::puts("");  // keep the sums alive
  return best;
}

// Best-of-`reps` GFLOP/s of C[M,N] = A[M,K] · B[N,K]ᵀ through OpenBLAS.
inline double sgemm_gflops(int64_t M, int64_t N, int64_t K, int reps) {
  Rng rng(1);
  std::vector<float> A(static_cast<size_t>(M * K)), B(static_cast<size_t>(N * K)), C(static_cast<size_t>(M * N));
  for (float& v : A) v = rng.normal();
  for (float& v : B) v = rng.normal();
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now_seconds();
    sgemm(false, true, M, N, K, 1.0f, A.data(), K, B.data(), K, 0.0f, C.data(), N);
    best = std::max(best, 2.0 * double(M) * double(N) * double(K) / (now_seconds() - t0) / 1e9);
  }
  return best;
}

}  // namespace frugal::bench

// Machine peaks measured in the same run as a benchmark (the VM is shared and noisy, so only
// ratios measured together mean anything): STREAM-like read bandwidth, OpenBLAS sgemm GFLOP/s
// (with the kernel set kernels/blas_core.h picked) and oneDNN's bf16 matmul GFLOP/s (bf16 inputs,
// f32 accumulation and output: the best BF16 GEMM on this machine), plus what the numbers ran on.
#pragma once
#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "core/sys.h"
#include "kernels/gemm_precision.h"
#include "kernels/linear.h"
#include "kernels/sgemm_fixed_tiles.h"

namespace frugal::bench {

// Sum with 16 independent partial sums so the adds never wait on each other (memory bound).
// Each thread reads `streams` interleaved sequential streams of its part: one stream is what
// STREAM does; several streams (like the GEMV kernels' 4 weight rows) keep more cache misses in
// flight on some CPUs. Returns the best GB/s over `reps`.
template <int streams, bool prefetch>
inline double read_bandwidth_gbs(const float* a, int64_t n, int reps) {
  double best = 0, sink = 0;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now_seconds();
    double total = 0;
#pragma omp parallel reduction(+ : total)
    {
      const int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
      const int64_t part = n / T / streams / 16 * 16;  // floats per stream
      const float* p = a + t * part * streams;
      float s[16] = {};
      for (int64_t i = 0; i < part; i += 16)
        for (int st = 0; st < streams; ++st) {
          // The same software prefetch distance as the GEMV kernels use (they run one row group
          // ahead), so the roof is not lower than what a kernel can reach.
          if constexpr (prefetch) __builtin_prefetch(p + st * part + i + 512, 0, 2);
          for (int j = 0; j < 16; ++j) s[j] += p[st * part + i + j];
        }
      for (float v : s) total += v;
    }
    const double dt = now_seconds() - t0;
    sink += total;
    const int64_t T = num_threads(), read = n / T / streams / 16 * 16 * streams * T;
    best = std::max(best, double(read) * sizeof(float) / dt / 1e9);
  }
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

// The read roof: the best of 1 or 4 streams per thread, with or without software prefetch, over
// a `bytes`-sized array (1 GiB: far beyond the caches).
inline double measure_read_bandwidth(size_t bytes, int reps) {
  const int64_t n = int64_t(bytes / sizeof(float));
  float* a = static_cast<float*>(std::aligned_alloc(64, bytes));
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) a[i] = float(i & 1023);  // first touch by the reading thread
  double bw = std::max({read_bandwidth_gbs<1, false>(a, n, reps), read_bandwidth_gbs<1, true>(a, n, reps),
                        read_bandwidth_gbs<4, false>(a, n, reps), read_bandwidth_gbs<4, true>(a, n, reps)});
  std::free(a);
  return bw;
}

// Best-of-`reps` GFLOP/s of oneDNN's bf16 matmul C[M,N] = A[M,K] · B[K,N] (bf16 in, f32 out), all
// threads; 0 when oneDNN has none for this CPU (or it would be its slow reference code). `impl`
// gets oneDNN's implementation name (e.g. brg:avx512_core_bf16).
inline double bf16_gemm_gflops(int64_t M, int64_t N, int64_t K, int reps, std::string* impl = nullptr) {
  Rng rng(2);
  std::vector<uint16_t> A(static_cast<size_t>(M * K)), B(static_cast<size_t>(K * N));
  std::vector<float> C(static_cast<size_t>(M * N));
  for (uint16_t& v : A) v = bf16_round_bits(rng.normal());
  for (uint16_t& v : B) v = bf16_round_bits(rng.normal());
  double best = 0;
  try {
    std::string name = onednn_matmul_bf16(M, N, K, A.data(), B.data(), C.data());  // warm-up, builds it
    if (impl) *impl = name;
    if (name.find("ref") != std::string::npos) return 0;
    for (int r = 0; r < reps; ++r) {
      const double t0 = now_seconds();
      onednn_matmul_bf16(M, N, K, A.data(), B.data(), C.data());
      best = std::max(best, 2.0 * double(M) * double(N) * double(K) / (now_seconds() - t0) / 1e9);
    }
  } catch (const Error& e) {
    if (impl) *impl = e.what();
    return 0;
  }
  return best;
}

// Best-of-`reps` GFLOP/s of the training code's GEMM at precision `p` (kernels/gemm_precision.h:
// packing, rounding and fixed tiles included) for C[M,N] = A[M,K] · B[N,K]ᵀ, the forward of a
// linear layer.
inline double linear_gemm_gflops(Precision p, int64_t M, int64_t N, int64_t K, int reps) {
  Rng rng(3);
  std::vector<float> A(static_cast<size_t>(M * K)), B(static_cast<size_t>(N * K)), C(static_cast<size_t>(M * N));
  for (float& v : A) v = rng.normal();
  for (float& v : B) v = rng.normal();
  double best = 0;
  for (int r = 0; r <= reps; ++r) {  // the first builds primitives and grows scratch
    const double t0 = now_seconds();
    linear_gemm(p, sgemm_fixed_tiles, false, true, M, N, K, 1.0f, A.data(), K, B.data(), K, 0.0f, C.data(), N);
    if (r > 0) best = std::max(best, 2.0 * double(M) * double(N) * double(K) / (now_seconds() - t0) / 1e9);
  }
  return best;
}

// The GEMM roofs a training benchmark divides by: the best f32 and bf16 GEMM over a few
// training-like shapes ([tokens, hidden] x [hidden, ffn] and a square), best of `reps` each.
struct GemmPeaks {
  double f32 = 0, bf16 = 0;
  std::string bf16_impl;
};
inline GemmPeaks measure_gemm_peaks(int reps) {
  GemmPeaks p;
  for (auto [M, N, K] : {std::array<int64_t, 3>{1024, 1024, 1024}, std::array<int64_t, 3>{1024, 2048, 512}}) {
    p.f32 = std::max(p.f32, sgemm_gflops(M, N, K, reps));
    p.bf16 = std::max(p.bf16, bf16_gemm_gflops(M, N, K, reps, &p.bf16_impl));
  }
  return p;
}

// One line saying what the numbers ran on: CPU model, ISA, the kernels picked, the load.
inline void print_machine(std::FILE* out = stdout) {
  const std::string model = cpu_model_name(), load = load_average();
  std::fprintf(out, "machine: %s | %d threads | ISA %s | matmul kernels %s | bf16 GEMM %s | BLAS %s | load %s\n",
               model.c_str(), num_threads(), cpu_features_str().c_str(), kernel_isa_name(kernel_isa()),
               bf16_gemm_path_name(bf16_gemm_path()), blas_info(), load.c_str());
}

}  // namespace frugal::bench

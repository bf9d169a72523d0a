// The precision policy's GEMM (gemm_precision.h): linear_gemm, the bf16 paths and their reference.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <vector>

#include "core/error.h"
#include "kernels/gemm_bf16_onednn.h"
#include "kernels/gemm_precision.h"
#include "kernels/linear.h"
#include "kernels/sgemm_fixed_tiles.h"

namespace frugal {

Precision parse_precision(std::string_view s) {
  if (s == "f32") return Precision::kF32;
  if (s == "bf16") return Precision::kBf16;
  fail(ErrorKind::kInvalidArgument, "unknown precision '{}' (expected f32 or bf16)", s);
}

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::kF32: return "f32";
    case Precision::kBf16: return "bf16";
  }
  return "?";
}

void linear_gemm(Precision p, F32Gemm f32_gemm, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                 float alpha, const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                 int64_t ldc) {
  if (p == Precision::kBf16)
    gemm_bf16(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  else
    f32_gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

namespace {

std::atomic<int> g_bf16_path{-1};  // -1: not chosen yet

// dst [R, C] row-major (stride C) = round_bf16(src (r, c)), src element (r, c) at
// src[r * rs + c * cs]. Transposed sources go in 32 x 32 blocks so both sides stay in cache.
template <typename Out>
void pack_rounded(const float* src, int64_t rs, int64_t cs, int64_t R, int64_t Cn, Out* dst) {
  constexpr int64_t kb = 32;
#pragma omp parallel for schedule(static)
  for (int64_t r0 = 0; r0 < R; r0 += kb) {
    const int64_t r1 = std::min(R, r0 + kb);
    for (int64_t c0 = 0; c0 < Cn; c0 += (cs == 1 ? Cn : kb)) {
      const int64_t c1 = cs == 1 ? Cn : std::min(Cn, c0 + kb);
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c) {
          const float v = src[r * rs + c * cs];
          if constexpr (sizeof(Out) == 2)
            dst[r * Cn + c] = bf16_round_bits(v);
          else
            dst[r * Cn + c] = bf16_round(v);
        }
    }
  }
}

// The bf16 copies of op(A) [M, K] and op(B) [K, N], row-major: per thread (gemm_bf16 may run on
// every thread at once inside MoE's expert jobs), kept between calls to spare the allocations.
template <typename T>
struct PackedOperands {
  std::vector<T> a, b;
  void pack(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
            const float* B, int64_t ldb) {
    a.resize(size_t(M * K));
    b.resize(size_t(K * N));
    // op(A)(m, k) = trans_a ? A[k·lda + m] : A[m·lda + k]; op(B)(k, n) likewise with ldb.
    pack_rounded(A, trans_a ? 1 : lda, trans_a ? lda : 1, M, K, a.data());
    pack_rounded(B, trans_b ? 1 : ldb, trans_b ? ldb : 1, K, N, b.data());
  }
};

void scale_c(int64_t M, int64_t N, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
}

void gemm_bf16_emulated(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                        int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  thread_local PackedOperands<float> ops;
  ops.pack(trans_a, trans_b, M, N, K, A, lda, B, ldb);
  // Every product of two bf16 values is exact in f32 (8 + 8 significant bits), so f32 FMAs over
  // the rounded copies are exactly "bf16 inputs, f32 accumulation".
  sgemm_fixed_tiles(false, false, M, N, K, alpha, ops.a.data(), K, ops.b.data(), N, beta, C, ldc);
}

void gemm_bf16_onednn(int64_t M, int64_t N, int64_t K, float alpha, bool trans_a, bool trans_b, const float* A,
                      int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  thread_local PackedOperands<uint16_t> ops;
  ops.pack(trans_a, trans_b, M, N, K, A, lda, B, ldb);
  const uint16_t* a = ops.a.data();
  const uint16_t* b = ops.b.data();
  const int64_t tm = (M + kBf16TileRows - 1) / kBf16TileRows, tn = (N + kBf16TileCols - 1) / kBf16TileCols;
  // Fixed tiles, each one single-threaded oneDNN call over the whole K.
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t tile = 0; tile < tm * tn; ++tile) {
    const int64_t i0 = (tile / tn) * kBf16TileRows, j0 = (tile % tn) * kBf16TileCols;
    const int64_t m = std::min(kBf16TileRows, M - i0), n = std::min(kBf16TileCols, N - j0);
    onednn_tile_bf16(m, n, K, a + i0 * K, K, b + j0, N, alpha, beta, C + i0 * ldc + j0, ldc);
  }
}

}  // namespace

Bf16GemmPath best_bf16_gemm_path() {
  return onednn_bf16_available() ? Bf16GemmPath::kOnednn : Bf16GemmPath::kEmulated;
}

Bf16GemmPath bf16_gemm_path() {
  int p = g_bf16_path.load(std::memory_order_relaxed);
  if (p < 0) {
    p = int(best_bf16_gemm_path());
    g_bf16_path.store(p, std::memory_order_relaxed);
  }
  return Bf16GemmPath(p);
}

void set_bf16_gemm_path(Bf16GemmPath path) {
  if (path == Bf16GemmPath::kOnednn && !onednn_bf16_available())
    fail(ErrorKind::kUnsupported, "bf16 GEMM path onednn needs AVX512-BF16 or AMX-BF16, which this CPU lacks");
  g_bf16_path.store(int(path), std::memory_order_relaxed);
}

const char* bf16_gemm_path_name(Bf16GemmPath path) {
  switch (path) {
    case Bf16GemmPath::kEmulated: return "emulated (bf16-rounded inputs, f32 FMA)";
    case Bf16GemmPath::kOnednn: return "onednn (native bf16 dot products)";
  }
  return "?";
}

void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
               int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  FRUGAL_ASSERT(M >= 0 && N >= 0 && K >= 0, "gemm_bf16: negative size {}x{}x{}", M, N, K);
  if (M == 0 || N == 0) return;
  if (K == 0) return scale_c(M, N, beta, C, ldc);  // empty inner sum: C = beta·C
  if (bf16_gemm_path() == Bf16GemmPath::kOnednn)
    gemm_bf16_onednn(M, N, K, alpha, trans_a, trans_b, A, lda, B, ldb, beta, C, ldc);
  else
    gemm_bf16_emulated(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm_bf16_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                   int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) {
        const float a = trans_a ? A[k * lda + i] : A[i * lda + k];
        const float b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
        s += double(bf16_round(a)) * double(bf16_round(b));
      }
      const double c = beta == 0.0f ? 0.0 : double(beta) * double(C[i * ldc + j]);
      C[i * ldc + j] = float(double(alpha) * s + c);
    }
}

}  // namespace frugal

// The precision policy's GEMM (gemm_precision.h): linear_gemm, the bf16 paths and their reference.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <vector>

#include "core/error.h"
#include "kernels/gemm_bf16_onednn.h"
#include "kernels/gemm_fp8.h"
#include "kernels/gemm_precision.h"
#include "kernels/linear.h"
#include "kernels/sgemm_fixed_tiles.h"

namespace frugal {

Precision parse_precision(std::string_view s) {
  if (s == "f32") return Precision::kF32;
  if (s == "bf16") return Precision::kBf16;
  if (s == "fp8") return Precision::kFp8;
  if (s == "fp8-tensor") return Precision::kFp8Tensor;
  fail(ErrorKind::kInvalidArgument, "unknown precision '{}' (expected f32, bf16, fp8 or fp8-tensor)", s);
}

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::kF32: return "f32";
    case Precision::kBf16: return "bf16";
    case Precision::kFp8: return "fp8";
    case Precision::kFp8Tensor: return "fp8-tensor";
  }
  return "?";
}

void linear_gemm(Precision p, F32Gemm f32_gemm, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                 float alpha, const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                 int64_t ldc) {
  switch (p) {
    case Precision::kBf16: return gemm_bf16(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    case Precision::kFp8: {
      // trans_a: the weight gradient dyᵀ·x, two activations tiled along the tokens (see the header).
      const Fp8Scaling sb = trans_a ? Fp8Scaling::kTile : Fp8Scaling::kBlock;
      return gemm_fp8(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, Fp8Scaling::kTile, sb);
    }
    case Precision::kFp8Tensor:
      return gemm_fp8(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, Fp8Scaling::kTensor,
                      Fp8Scaling::kTensor);
    case Precision::kF32: break;
  }
  f32_gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

namespace {

std::atomic<int> g_bf16_path{-1};  // -1: not chosen yet

// dst [R, C] row-major (stride ld_dst) = round_bf16(src (r, c)), src element (r, c) at
// src[r * rs + c * cs]. Transposed sources go in 32 x 32 blocks so both sides stay in cache.
template <typename Out>
void pack_rounded(const float* src, int64_t rs, int64_t cs, int64_t R, int64_t Cn, int64_t ld_dst, Out* dst) {
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
            dst[r * ld_dst + c] = bf16_round_bits(v);
          else
            dst[r * ld_dst + c] = bf16_round(v);
        }
    }
  }
}

// The bf16 copies of op(A) [Mp, Kp] and op(B) [Kp, N], row-major, the padding (rows M..Mp of A,
// columns K..Kp of A, rows K..Kp of B) zero: per thread (gemm_bf16 may run on every thread at once
// inside MoE's expert jobs), kept between calls to spare the allocations. Zero padding adds exact
// zero products, so it changes no sum's value beyond the order the kernel adds in.
template <typename T>
struct PackedOperands {
  std::vector<T> a, b;
  void pack(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
            const float* B, int64_t ldb, int64_t Mp, int64_t Kp) {
    a.assign(size_t(Mp * Kp), T(0));
    b.resize(size_t(Kp * N));
    std::fill(b.begin() + K * N, b.end(), T(0));
    // op(A)(m, k) = trans_a ? A[k·lda + m] : A[m·lda + k]; op(B)(k, n) likewise with ldb.
    pack_rounded(A, trans_a ? 1 : lda, trans_a ? lda : 1, M, K, Kp, a.data());
    pack_rounded(B, trans_b ? 1 : ldb, trans_b ? ldb : 1, K, N, N, b.data());
  }
};

// oneDNN builds one kernel per shape, and training meets many: an expert's row count M (tokens
// routed to it) and, in its weight gradient, its K change every step. The oneDNN path therefore
// pads K to a multiple of kPadK and an edge tile's rows to a multiple of kPadM (zeros), so the
// shapes, and the primitives kept, stay few: at most kBf16TileRows / kPadM row counts per layer
// shape, and K in steps of kPadK.
constexpr int64_t kPadK = 64, kPadM = 32;
int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

void scale_c(int64_t M, int64_t N, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
}

void gemm_bf16_emulated(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                        int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  thread_local PackedOperands<float> ops;
  ops.pack(trans_a, trans_b, M, N, K, A, lda, B, ldb, M, K);
  // Every product of two bf16 values is exact in f32 (8 + 8 significant bits), so f32 FMAs over
  // the rounded copies are exactly "bf16 inputs, f32 accumulation".
  sgemm_fixed_tiles(false, false, M, N, K, alpha, ops.a.data(), K, ops.b.data(), N, beta, C, ldc);
}

void gemm_bf16_onednn(int64_t M, int64_t N, int64_t K, float alpha, bool trans_a, bool trans_b, const float* A,
                      int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  const int64_t Kp = round_up(K, kPadK), Mp = round_up(M, kPadM);
  thread_local PackedOperands<uint16_t> ops;
  ops.pack(trans_a, trans_b, M, N, K, A, lda, B, ldb, Mp, Kp);
  const uint16_t* a = ops.a.data();
  const uint16_t* b = ops.b.data();
  const int64_t tm = (M + kBf16TileRows - 1) / kBf16TileRows, tn = (N + kBf16TileCols - 1) / kBf16TileCols;
  // Fixed tiles, each one single-threaded oneDNN call over the whole K.
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t tile = 0; tile < tm * tn; ++tile) {
    const int64_t i0 = (tile / tn) * kBf16TileRows, j0 = (tile % tn) * kBf16TileCols;
    const int64_t m = std::min(kBf16TileRows, M - i0), n = std::min(kBf16TileCols, N - j0);
    float* c = C + i0 * ldc + j0;
    if (m % kPadM == 0) {
      onednn_tile_bf16(m, n, Kp, a + i0 * Kp, Kp, b + j0, N, alpha, beta, c, ldc);
      continue;
    }
    // An edge tile of odd height: the padded rows go to per-thread scratch, then C = alpha·acc +
    // beta·C row by row, the same f32 operations oneDNN's output scale and sum post-op do.
    const int64_t mp = round_up(m, kPadM);
    thread_local std::vector<float> acc;
    acc.resize(size_t(mp * n));
    onednn_tile_bf16(mp, n, Kp, a + i0 * Kp, Kp, b + j0, N, 1.0f, 0.0f, acc.data(), n);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        const float v = alpha == 1.0f ? acc[size_t(i * n + j)] : alpha * acc[size_t(i * n + j)];
        c[i * ldc + j] = beta == 0.0f ? v : v + beta * c[i * ldc + j];
      }
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

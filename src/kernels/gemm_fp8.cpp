// gemm_fp8 (gemm_fp8.h): quantize both operands, then per fixed C tile one K=128 sgemm per chunk
// and the promotion into an f32 accumulator; and the scalar reference with its accumulator options.
#include "kernels/gemm_fp8.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "kernels/linear.h"
#include "kernels/sgemm_fixed_tiles.h"

namespace frugal {

float round_mantissa(float x, int bits, bool truncate) {
  if (bits >= 23) return x;
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) >= 0x7f800000u) return x;  // inf, NaN
  const int drop = 23 - bits;
  if (!truncate) u += ((1u << (drop - 1)) - 1u) + ((u >> drop) & 1u);
  u &= ~((1u << drop) - 1u);
  std::memcpy(&x, &u, 4);
  return x;
}

void gemm_fp8(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
              int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc, Fp8Scaling sa_kind,
              Fp8Scaling sb_kind) {
  FRUGAL_ASSERT(M >= 0 && N >= 0 && K >= 0, "gemm_fp8: negative size {}x{}x{}", M, N, K);
  if (M == 0 || N == 0) return;
  // Per thread (MoE's expert jobs call this on every thread at once), kept between calls.
  thread_local Fp8Operand qa, qb;
  // op(A)(i, k) = trans_a ? A[k·lda + i] : A[i·lda + k]; op(B) as N rows of K: op(B)(k, j) =
  // trans_b ? B[j·ldb + k] : B[k·ldb + j].
  fp8_quantize(A, trans_a ? 1 : lda, trans_a ? lda : 1, M, K, sa_kind, qa);
  fp8_quantize(B, trans_b ? ldb : 1, trans_b ? 1 : ldb, N, K, sb_kind, qb);
  const int64_t Kp = qa.Kp, Kc = qa.Kc;
  const float* a = qa.q.data();
  const float* b = qb.q.data();
  const float* sa = qa.s.data();
  const float* sb = qb.s.data();
  const int64_t tm = (M + kGemmTileRows - 1) / kGemmTileRows, tn = (N + kGemmTileCols - 1) / kGemmTileCols;
  // Always a parallel region: inside it OpenBLAS runs single-threaded (see sgemm_fixed_tiles).
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t tile = 0; tile < tm * tn; ++tile) {
    const int64_t i0 = (tile / tn) * kGemmTileRows, j0 = (tile % tn) * kGemmTileCols;
    const int64_t m = std::min(kGemmTileRows, M - i0), n = std::min(kGemmTileCols, N - j0);
    thread_local std::vector<float> acc, part;
    acc.assign(size_t(m * n), 0.0f);
    part.resize(size_t(m * n));
    for (int64_t c = 0; c < Kc; ++c) {
      // part [m, n] = qa[i0.., chunk c] · qb[j0.., chunk c]ᵀ: exact products, f32 sums.
      sgemm(false, true, m, n, kFp8Tile, 1.0f, a + i0 * Kp + c * kFp8Tile, Kp, b + j0 * Kp + c * kFp8Tile, Kp,
            0.0f, part.data(), n);
      for (int64_t i = 0; i < m; ++i) {
        const float si = sa[(i0 + i) * Kc + c];
        float* acc_row = acc.data() + i * n;
        const float* part_row = part.data() + i * n;
        for (int64_t j = 0; j < n; ++j) acc_row[j] += (si * sb[(j0 + j) * Kc + c]) * part_row[j];
      }
    }
    float* cr = C + i0 * ldc + j0;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        const float v = alpha == 1.0f ? acc[size_t(i * n + j)] : alpha * acc[size_t(i * n + j)];
        cr[i * ldc + j] = beta == 0.0f ? v : v + beta * cr[i * ldc + j];
      }
  }
}

void gemm_fp8_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                  int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc, Fp8Scaling sa_kind,
                  Fp8Scaling sb_kind, Fp8Accumulator accum) {
  Fp8Operand qa, qb;
  fp8_quantize_ref(A, trans_a ? 1 : lda, trans_a ? lda : 1, M, K, sa_kind, qa);
  fp8_quantize_ref(B, trans_b ? ldb : 1, trans_b ? 1 : ldb, N, K, sb_kind, qb);
  const int64_t Kp = qa.Kp, Kc = qa.Kc;
  const bool exact = accum.mantissa_bits <= 0;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      const float* a = qa.q.data() + i * Kp;
      const float* b = qb.q.data() + j * Kp;
      double total = 0;
      if (exact) {
        for (int64_t c = 0; c < Kc; ++c) {
          double p = 0;
          for (int64_t k = c * kFp8Tile; k < (c + 1) * kFp8Tile; ++k) p += double(a[k]) * double(b[k]);
          total += double(qa.s[size_t(i * Kc + c)]) * double(qb.s[size_t(j * Kc + c)]) * p;
        }
      } else if (accum.promote) {
        float t = 0.0f;
        for (int64_t c = 0; c < Kc; ++c) {
          float p = 0.0f;
          for (int64_t k = c * kFp8Tile; k < (c + 1) * kFp8Tile; ++k) p = round_mantissa(p + a[k] * b[k], accum.mantissa_bits, accum.truncate);
          t += (qa.s[size_t(i * Kc + c)] * qb.s[size_t(j * Kc + c)]) * p;
        }
        total = t;
      } else {
        float t = 0.0f;
        for (int64_t k = 0; k < Kp; ++k) {
          const float s = qa.s[size_t(i * Kc + k / kFp8Tile)] * qb.s[size_t(j * Kc + k / kFp8Tile)];
          t = round_mantissa(t + s * (a[k] * b[k]), accum.mantissa_bits, accum.truncate);
        }
        total = t;
      }
      const double c = beta == 0.0f ? 0.0 : double(beta) * double(C[i * ldc + j]);
      C[i * ldc + j] = float(double(alpha) * total + c);
    }
}

}  // namespace frugal

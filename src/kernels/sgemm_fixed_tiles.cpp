#include "kernels/sgemm_fixed_tiles.h"

#include <algorithm>

#include "kernels/linear.h"

namespace frugal {

void sgemm_fixed_tiles(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                       int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  const int64_t tm = (M + kGemmTileRows - 1) / kGemmTileRows, tn = (N + kGemmTileCols - 1) / kGemmTileCols;
  // Always a parallel region, even for one tile: inside it OpenBLAS sees omp_in_parallel() and runs
  // single-threaded, the same code path as with one thread in total.
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t tile = 0; tile < tm * tn; ++tile) {
    const int64_t i0 = (tile / tn) * kGemmTileRows, j0 = (tile % tn) * kGemmTileCols;
    const int64_t m = std::min(kGemmTileRows, M - i0), n = std::min(kGemmTileCols, N - j0);
    float* c = C + i0 * ldc + j0;
    if (K == 0) {  // empty inner sum: C = beta·C (not left to the BLAS)
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
      continue;
    }
    const float* a = trans_a ? A + i0 : A + i0 * lda;  // op(A) rows [i0, i0 + m)
    const float* b = trans_b ? B + j0 * ldb : B + j0;  // op(B) columns [j0, j0 + n)
    sgemm(trans_a, trans_b, m, n, K, alpha, a, lda, b, ldb, beta, c, ldc);
  }
}

}  // namespace frugal

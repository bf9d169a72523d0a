// sgemm_fixed_tiles (kernels/sgemm_fixed_tiles.h) against the scalar sgemm_ref, and its reason to
// exist: the same bits for every thread count.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/sys.h"
#include "kernels/linear.h"
#include "kernels/sgemm_fixed_tiles.h"
#include "reference.h"

using namespace frugal;

namespace {

using test::randn;

// Every transpose case, shapes that straddle the tiles, beta 0 over garbage and beta 1
// accumulation, and an empty inner dimension. f32 sums of K ≤ 37 O(1) terms: within
// 37·2^-24·Σ|terms| ≈ 1e-5 relative; 1e-5·(Σ|terms| scale ≈ K) + 1e-6.
TEST(SgemmFixedTiles, MatchesReference) {
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (auto [M, N, K] : {std::array<int64_t, 3>{1, 1, 1},
                             std::array<int64_t, 3>{kGemmTileRows + 3, 2 * kGemmTileCols + 5, 37},
                             std::array<int64_t, 3>{5, 7, 0}})
        for (float beta : {0.0f, 1.0f}) {
          const int64_t lda = (ta ? M : K) + 1, ldb = (tb ? K : N) + 2, ldc = N + 3;
          std::vector<float> A = randn(size_t((ta ? K : M) * lda + 1), 1);
          std::vector<float> B = randn(size_t((tb ? N : K) * ldb + 1), 2);
          std::vector<float> C = randn(size_t(M * ldc), 3), R = C;
          if (beta == 0.0f) std::fill(C.begin(), C.end(), std::nanf(""));
          sgemm_fixed_tiles(ta, tb, M, N, K, 0.5f, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
          sgemm_ref(ta, tb, M, N, K, 0.5f, A.data(), lda, B.data(), ldb, beta, R.data(), ldc);
          for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j)
              ASSERT_NEAR(C[size_t(i * ldc + j)], R[size_t(i * ldc + j)], 1e-5 * double(K) + 1e-6)
                  << ta << tb << " " << M << "x" << N << "x" << K << " beta " << beta << " at " << i << "," << j;
        }
}

// Several tiles each way and a long inner dimension (where OpenBLAS's own threading splits the
// work differently per thread count): 1, 2 and 3 threads give the same bits.
TEST(SgemmFixedTiles, SameBitsForEveryThreadCount) {
  const int64_t M = 2 * kGemmTileRows + 7, N = 2 * kGemmTileCols + 9, K = 300;
  const std::vector<float> A = randn(size_t(M * K), 11), B = randn(size_t(N * K), 12);
  const int saved = num_threads();
  std::vector<float> first;
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    std::vector<float> C(size_t(M * N));
    sgemm_fixed_tiles(false, true, M, N, K, 1.0f, A.data(), K, B.data(), K, 0.0f, C.data(), N);
    if (first.empty()) first = C;
    else EXPECT_EQ(0, std::memcmp(first.data(), C.data(), C.size() * sizeof(float))) << threads << " threads";
  }
  set_num_threads(saved);
}

}  // namespace

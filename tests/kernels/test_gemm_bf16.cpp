// The bf16 GEMM of the precision policy (kernels/gemm_precision.h): every path against the scalar
// reference (inputs rounded to bf16, double accumulation), thread-count independence, the rounding
// against core/dtype's f32_to_bf16, and the f32 policy leaving the f32 GEMM untouched.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/sys.h"
#include "kernels/gemm_precision.h"
#include "kernels/linear.h"
#include "kernels/sgemm_fixed_tiles.h"
#include "reference.h"

using namespace frugal;

namespace {

using test::randn;

// Forces one bf16 GEMM path for a scope; the best one is restored afterwards.
struct Bf16PathGuard {
  explicit Bf16PathGuard(Bf16GemmPath p) { set_bf16_gemm_path(p); }
  ~Bf16PathGuard() { set_bf16_gemm_path(best_bf16_gemm_path()); }
  Bf16PathGuard(const Bf16PathGuard&) = delete;
  Bf16PathGuard& operator=(const Bf16PathGuard&) = delete;
};

std::vector<Bf16GemmPath> paths_here() {
  std::vector<Bf16GemmPath> p{Bf16GemmPath::kEmulated};
  if (best_bf16_gemm_path() == Bf16GemmPath::kOnednn) p.push_back(Bf16GemmPath::kOnednn);
  return p;
}

TEST(GemmBf16, RoundingIsCoreDtypes) {
  Rng rng(7);
  std::vector<float> vals{0.0f, -0.0f, 1.0f, 1.00390625f /* tie: 1 + 2^-8 -> 1 (even) */,
                          1.01171875f /* tie: 1 + 3·2^-8 -> 1 + 2^-6 (even) */, 3.4e38f, -3.4e38f, 1e-40f,
                          INFINITY, -INFINITY};
  for (int i = 0; i < 10000; ++i) vals.push_back(rng.normal() * std::ldexp(1.0f, int(rng.uniform() * 60) - 30));
  for (float v : vals) ASSERT_EQ(bf16_round_bits(v), f32_to_bf16(v)) << v;
  EXPECT_EQ(bf16_round(1.00390625f), 1.0f);
  EXPECT_EQ(bf16_round(1.01171875f), 1.015625f);
  EXPECT_TRUE(std::isnan(bf16_round(std::nanf(""))));
}

// Each product of two bf16 values is exact in f32 (8 + 8 significant bits) and in double, so a
// path differs from the reference only by its f32 summation: at most K + 1 roundings (the sum and
// the beta add), each within 2^-24 of the partial sum, so |C − R| ≤ (K + 2)·2^-24·(|α|·Σ|a·b| + |β·c|)
// whatever order (tiles, K blocks, vdpbf16ps pairs) the path sums in. Inputs are normal (no
// denormals, which vdpbf16ps flushes).
TEST(GemmBf16, EveryPathMatchesTheReference) {
  for (Bf16GemmPath path : paths_here()) {
    Bf16PathGuard guard(path);
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (auto [M, N, K] : {std::array<int64_t, 3>{1, 1, 1},
                               std::array<int64_t, 3>{kBf16TileRows + 3, kBf16TileCols + 5, 67},
                               std::array<int64_t, 3>{5, 7, 0}})
          for (float beta : {0.0f, 1.0f}) {
            const float alpha = 0.5f;
            const int64_t lda = (ta ? M : K) + 1, ldb = (tb ? K : N) + 2, ldc = N + 3;
            std::vector<float> A = randn(size_t((ta ? K : M) * lda + 1), 1);
            std::vector<float> B = randn(size_t((tb ? N : K) * ldb + 1), 2);
            std::vector<float> C = randn(size_t(M * ldc), 3), R = C, C0 = C;
            if (beta == 0.0f) std::fill(C.begin(), C.end(), std::nanf(""));
            gemm_bf16(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
            gemm_bf16_ref(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, R.data(), ldc);
            for (int64_t i = 0; i < M; ++i)
              for (int64_t j = 0; j < N; ++j) {
                double mag = beta * std::fabs(double(C0[size_t(i * ldc + j)]));
                for (int64_t k = 0; k < K; ++k)
                  mag += alpha * std::fabs(double(bf16_round(ta ? A[size_t(k * lda + i)] : A[size_t(i * lda + k)])) *
                                           double(bf16_round(tb ? B[size_t(j * ldb + k)] : B[size_t(k * ldb + j)])));
                const double tol = double(K + 2) * std::ldexp(1.0, -24) * mag + 1e-30;
                ASSERT_NEAR(C[size_t(i * ldc + j)], R[size_t(i * ldc + j)], tol)
                    << bf16_gemm_path_name(path) << " ta=" << ta << " tb=" << tb << " " << M << "x" << N << "x" << K
                    << " beta=" << beta << " at " << i << "," << j;
              }
          }
  }
}

// Many tiles running at once on every thread, several of one shape (one primitive): each tile's
// scratch must be its own (a shared oneDNN scratchpad gave wrong bits that varied between runs).
// Same bound as above, and the same bits on every repetition.
TEST(GemmBf16, ConcurrentTilesAreIndependent) {
  const int64_t M = 2 * kBf16TileRows, N = 2 * kBf16TileCols, K = 64;
  std::vector<float> A = randn(size_t(M * K), 31), B = randn(size_t(K * N), 32), C0 = randn(size_t(M * N), 33);
  std::vector<float> R = C0;
  gemm_bf16_ref(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 1.0f, R.data(), N);
  std::vector<double> tol(size_t(M * N));
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double mag = std::fabs(double(C0[size_t(i * N + j)]));
      for (int64_t k = 0; k < K; ++k)
        mag += std::fabs(double(bf16_round(A[size_t(i * K + k)])) * double(bf16_round(B[size_t(k * N + j)])));
      tol[size_t(i * N + j)] = double(K + 2) * std::ldexp(1.0, -24) * mag;
    }
  for (Bf16GemmPath path : paths_here()) {
    Bf16PathGuard guard(path);
    std::vector<float> first;
    for (int rep = 0; rep < 3; ++rep) {
      std::vector<float> C = C0;
      gemm_bf16(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 1.0f, C.data(), N);
      for (size_t i = 0; i < C.size(); ++i)
        ASSERT_NEAR(C[i], R[i], tol[i]) << bf16_gemm_path_name(path) << " rep " << rep << " at " << i;
      if (rep == 0) first = C;
      EXPECT_EQ(0, std::memcmp(first.data(), C.data(), C.size() * sizeof(float))) << bf16_gemm_path_name(path);
    }
  }
}

// The rounding really happens: an input that bf16 cannot hold changes the result, and the
// reference equals the f32 reference on inputs that are already bf16 values.
TEST(GemmBf16, ReferenceRoundsItsInputs) {
  const float a = 1.0f + std::ldexp(1.0f, -12), b = 1.0f;  // a is not a bf16 value; rounds to 1
  float c = 0, r = 0;
  gemm_bf16_ref(false, false, 1, 1, 1, 1.0f, &a, 1, &b, 1, 0.0f, &c, 1);
  EXPECT_EQ(c, 1.0f);
  for (Bf16GemmPath path : paths_here()) {
    Bf16PathGuard guard(path);
    gemm_bf16(false, false, 1, 1, 1, 1.0f, &a, 1, &b, 1, 0.0f, &r, 1);
    EXPECT_EQ(r, 1.0f) << bf16_gemm_path_name(path);
  }
  std::vector<float> A = randn(12 * 9, 4), B = randn(9 * 5, 5), C(12 * 5), R(12 * 5);
  for (float& v : A) v = bf16_round(v);
  for (float& v : B) v = bf16_round(v);
  gemm_bf16_ref(false, false, 12, 5, 9, 1.0f, A.data(), 9, B.data(), 5, 0.0f, C.data(), 5);
  sgemm_ref(false, false, 12, 5, 9, 1.0f, A.data(), 9, B.data(), 5, 0.0f, R.data(), 5);
  for (size_t i = 0; i < C.size(); ++i) EXPECT_EQ(C[i], R[i]) << i;
}

// The training step's bit-reproducibility rests on this: the same bits with 1 and 2 threads.
TEST(GemmBf16, SameBitsForEveryThreadCount) {
  const int saved = num_threads();
  for (Bf16GemmPath path : paths_here()) {
    Bf16PathGuard guard(path);
    const int64_t M = 2 * kBf16TileRows + 7, N = kBf16TileCols + 9, K = 300;
    std::vector<float> A = randn(size_t(K * M), 11), B = randn(size_t(K * N), 12);
    std::vector<float> C1 = randn(size_t(M * N), 13), C2 = C1;
    set_num_threads(1);
    gemm_bf16(true, false, M, N, K, 1.0f, A.data(), M, B.data(), N, 1.0f, C1.data(), N);
    set_num_threads(2);
    gemm_bf16(true, false, M, N, K, 1.0f, A.data(), M, B.data(), N, 1.0f, C2.data(), N);
    EXPECT_EQ(0, std::memcmp(C1.data(), C2.data(), C1.size() * sizeof(float))) << bf16_gemm_path_name(path);
  }
  set_num_threads(saved);
}

TEST(GemmBf16, F32PolicyIsTheNamedF32Gemm) {
  const int64_t M = 33, N = 17, K = 29;
  std::vector<float> A = randn(size_t(M * K), 21), B = randn(size_t(N * K), 22);
  std::vector<float> C(size_t(M * N)), R(size_t(M * N));
  linear_gemm(Precision::kF32, sgemm_fixed_tiles, false, true, M, N, K, 1.0f, A.data(), K, B.data(), K, 0.0f,
              C.data(), N);
  sgemm_fixed_tiles(false, true, M, N, K, 1.0f, A.data(), K, B.data(), K, 0.0f, R.data(), N);
  EXPECT_EQ(0, std::memcmp(C.data(), R.data(), C.size() * sizeof(float)));
  EXPECT_EQ(parse_precision("bf16"), Precision::kBf16);
  EXPECT_STREQ(precision_name(parse_precision("f32")), "f32");
  EXPECT_THROW(parse_precision("fp16"), Error);
}

TEST(GemmBf16, ForcingAMissingPathFails) {
  if (best_bf16_gemm_path() == Bf16GemmPath::kOnednn) GTEST_SKIP() << "this CPU has native bf16";
  EXPECT_THROW(set_bf16_gemm_path(Bf16GemmPath::kOnednn), Error);
}

}  // namespace

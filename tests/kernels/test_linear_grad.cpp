// The f32 linear layer's backward (kernels/linear_grad.h) against its double-accumulating
// reference linear_backward_ref, and that reference against finite differences.
//
// Tolerances. linear_backward (OpenBLAS sgemm, f32 accumulation of up to K = 257 terms) vs its
// double-accumulating _ref: ≤ K·6e-8 ≈ 1.5e-5 relative to Σ|terms|, checked at 1e-5 · Σ|terms| +
// 1e-6 (blocked sums grow like √K·… in practice, far inside that). The reference against central
// differences (h = 1e-6) of the bilinear loss: FD is exact up to rounding, 1e-5 relative.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "grad_check.h"
#include "kernels/linear_grad.h"
#include "reference.h"

using namespace frugal;

namespace {

using test::fd_grad;
using test::randn;
using test::to_double;

TEST(LinearGrad, BackwardMatchesReference) {
  struct Shape {
    int64_t M, N, K;
  };
  for (Shape s : {Shape{1, 1, 1}, Shape{3, 7, 33}, Shape{1, 33, 7}, Shape{17, 5, 3}, Shape{67, 129, 257}}) {
    const int64_t ldx = s.K + 1, ldw = s.K + 3, lddy = s.N + 2, lddx = s.K + 5, lddw = s.K + 4;
    const uint64_t seed = uint64_t(s.M * 1000 + s.N * 10 + s.K);
    auto x = randn(size_t(s.M * ldx), seed), w = randn(size_t(s.N * ldw), seed + 1),
         dy = randn(size_t(s.M * lddy), seed + 2), dw0 = randn(size_t(s.N * lddw), seed + 3);
    std::vector<float> dx(size_t(s.M * lddx), -7.0f), dx_ref = dx, dw = dw0, dw_ref = dw0;
    linear_backward(x.data(), ldx, w.data(), ldw, dy.data(), lddy, s.M, s.N, s.K, dx.data(), lddx, dw.data(), lddw);
    linear_backward_ref(x.data(), ldx, w.data(), ldw, dy.data(), lddy, s.M, s.N, s.K, dx_ref.data(), lddx,
                        dw_ref.data(), lddw);
    for (int64_t m = 0; m < s.M; ++m)
      for (int64_t k = 0; k < lddx; ++k) {
        const size_t i = size_t(m * lddx + k);
        if (k >= s.K) {
          EXPECT_EQ(dx[i], -7.0f);
          continue;
        }
        double abs_terms = 0;
        for (int64_t n = 0; n < s.N; ++n) abs_terms += std::fabs(double(dy[m * lddy + n]) * w[n * ldw + k]);
        EXPECT_NEAR(dx[i], dx_ref[i], 1e-5 * abs_terms + 1e-6) << s.M << "x" << s.N << "x" << s.K;
      }
    for (int64_t n = 0; n < s.N; ++n)
      for (int64_t k = 0; k < lddw; ++k) {
        const size_t i = size_t(n * lddw + k);
        if (k >= s.K) {
          EXPECT_EQ(dw[i], dw0[i]);
          continue;
        }
        double abs_terms = std::fabs(dw0[i]);
        for (int64_t m = 0; m < s.M; ++m) abs_terms += std::fabs(double(dy[m * lddy + n]) * x[m * ldx + k]);
        EXPECT_NEAR(dw[i], dw_ref[i], 1e-5 * abs_terms + 1e-6) << s.M << "x" << s.N << "x" << s.K;
      }
  }
}

// The reference itself against finite differences of L = Σ dy ⊙ (x·Wᵀ) (bilinear: FD is exact up
// to rounding), and the null / empty cases.
TEST(LinearGrad, ReferenceMatchesFiniteDifferencesAndEdgeCases) {
  const int64_t M = 3, N = 5, K = 7;
  auto x = randn(size_t(M * K), 51), w = randn(size_t(N * K), 52), dy = randn(size_t(M * N), 53);
  std::vector<float> dx(size_t(M * K)), dw(size_t(N * K), 0.0f);
  linear_backward_ref(x.data(), K, w.data(), K, dy.data(), N, M, N, K, dx.data(), K, dw.data(), K);
  auto xd = to_double(x), wd = to_double(w);
  auto loss = [&] {
    double L = 0;
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double y = 0;
        for (int64_t k = 0; k < K; ++k) y += xd[size_t(m * K + k)] * wd[size_t(n * K + k)];
        L += double(dy[size_t(m * N + n)]) * y;
      }
    return L;
  };
  auto fx = fd_grad(&xd, loss), fw = fd_grad(&wd, loss);
  for (size_t i = 0; i < dx.size(); ++i) EXPECT_NEAR(dx[i], fx[i], 1e-5 * (1 + std::fabs(fx[i])));
  for (size_t i = 0; i < dw.size(); ++i) EXPECT_NEAR(dw[i], fw[i], 1e-5 * (1 + std::fabs(fw[i])));

  // Null outputs are skipped; M = 0 leaves dW as it was; N = 0 gives dx = 0.
  auto dw2 = dw;
  linear_backward(x.data(), K, w.data(), K, dy.data(), N, M, N, K, nullptr, K, dw2.data(), K);
  for (size_t i = 0; i < dw.size(); ++i) EXPECT_NEAR(dw2[i], 2 * dw[i], 1e-5 * (1 + std::fabs(dw[i])));
  auto dw3 = dw;
  linear_backward(x.data(), K, w.data(), K, dy.data(), N, 0, N, K, nullptr, K, dw3.data(), K);
  EXPECT_EQ(dw3, dw);
  std::vector<float> dx0(size_t(M * K), 9.0f);
  linear_backward(x.data(), K, w.data(), K, dy.data(), 1, M, 0, K, dx0.data(), K, nullptr, K);
  for (float f : dx0) EXPECT_EQ(f, 0.0f);
}

}  // namespace

// The elementwise kernels of ops.h against the double-precision definitions (reference.h), on odd
// sizes, with strided rows. Softmax and RoPE: test_softmax.cpp, test_rope.cpp.
// Tolerance: each output is a handful of f32 operations away from the double value: a few ulps
// relative (1e-5 covers exp/sqrt/sum of D <= 1000 terms with eps_f32 = 6e-8 per op).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "grad_check.h"
#include "kernels/ops.h"
#include "reference.h"

using namespace frugal;

namespace {

using test::randn;

TEST(Ops, RmsNormMatchesDoubleDefinition) {
  for (int64_t D : {1, 7, 64, 129, 1000}) {
    const int64_t T = 5, ld = D + 3;
    auto x = randn(size_t(T * ld), 1, 3.0f), w = randn(size_t(D), 2);
    std::vector<float> y(size_t(T * ld), -1.0f);
    rmsnorm_forward(x.data(), ld, w.data(), T, D, 1e-6f, y.data(), ld);
    std::vector<double> want = test::to_double(x), wd = test::to_double(w);
    test::rmsnorm_ref(want.data(), wd.data(), T, D, ld, 1e-6);
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t i = 0; i < D; ++i) {
        const double wv = want[size_t(t * ld + i)];
        EXPECT_NEAR(y[size_t(t * ld + i)], wv, 1e-5 * (1 + std::fabs(wv))) << D << " " << t << " " << i;
      }
      for (int64_t i = D; i < ld; ++i) EXPECT_EQ(y[size_t(t * ld + i)], -1.0f);  // padding untouched
    }
  }
}

TEST(Ops, SwigluMatchesDefinition) {
  auto g = randn(37, 4, 3.0f), u = randn(37, 5);
  std::vector<float> h(37);
  swiglu_forward(g.data(), u.data(), 1, 37, h.data());
  for (size_t i = 0; i < 37; ++i) {
    const double want = test::silu_ref(g[i]) * u[i];
    EXPECT_NEAR(h[i], want, 1e-5 * (1 + std::fabs(want)));
  }
}

TEST(Ops, AddInplace) {
  auto a = randn(100000, 7), b = randn(100000, 8);
  auto want = a;
  for (size_t i = 0; i < want.size(); ++i) want[i] += b[i];
  add_inplace(a.data(), b.data(), int64_t(a.size()));
  EXPECT_EQ(a, want);
}

}  // namespace

// The elementwise kernels against double-precision definitions, on odd sizes, with strided rows.
// Tolerance: each output is a handful of f32 operations away from the double value: a few ulps
// relative (1e-5 covers exp/sqrt/sum of D <= 1000 terms with eps_f32 = 6e-8 per op).
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <limits>
#include <vector>

#include "core/rng.h"
#include "kernels/ops.h"

using namespace frugal;

namespace {

std::vector<float> randn(size_t n, uint64_t seed, float scale = 1.0f) {
  Rng r(seed);
  std::vector<float> v(n);
  for (float& x : v) x = scale * r.normal();
  return v;
}

TEST(Ops, RmsNormMatchesDoubleDefinition) {
  for (int64_t D : {1, 7, 64, 129, 1000}) {
    const int64_t T = 5, ld = D + 3;
    auto x = randn(size_t(T * ld), 1, 3.0f), w = randn(size_t(D), 2);
    std::vector<float> y(size_t(T * ld), -1.0f);
    rmsnorm_forward(x.data(), ld, w.data(), T, D, 1e-6f, y.data(), ld);
    for (int64_t t = 0; t < T; ++t) {
      double ss = 0;
      for (int64_t i = 0; i < D; ++i) ss += double(x[t * ld + i]) * x[t * ld + i];
      const double r = 1.0 / std::sqrt(ss / double(D) + 1e-6);
      for (int64_t i = 0; i < D; ++i) {
        const double want = x[t * ld + i] * r * w[i];
        EXPECT_NEAR(y[t * ld + i], want, 1e-5 * (1 + std::fabs(want))) << D << " " << t << " " << i;
      }
      for (int64_t i = D; i < ld; ++i) EXPECT_EQ(y[t * ld + i], -1.0f);  // padding untouched
    }
  }
}

TEST(Ops, SoftmaxMatchesDoubleAndHandlesMaskedRows) {
  const float ninf = -std::numeric_limits<float>::infinity();
  for (int64_t n : {1, 3, 17, 513}) {
    const int64_t T = 3, ld = n + 1;
    auto x = randn(size_t(T * ld), 3, 4.0f);
    x[0] = ninf;  // a masked entry
    auto ref = x;
    softmax_rows(x.data(), T, n, ld);
    for (int64_t t = 0; t < T; ++t) {
      double m = -INFINITY, z = 0;
      for (int64_t i = 0; i < n; ++i) m = std::max(m, double(ref[t * ld + i]));
      for (int64_t i = 0; i < n; ++i) z += std::exp(double(ref[t * ld + i]) - m);
      for (int64_t i = 0; i < n; ++i) {
        const double want = m == -INFINITY ? 0.0 : std::exp(double(ref[t * ld + i]) - m) / z;
        EXPECT_NEAR(x[t * ld + i], want, 1e-6 + 1e-5 * want);
      }
    }
  }
  std::vector<float> all_masked = {ninf, ninf, ninf};
  softmax_rows(all_masked.data(), 1, 3, 3);
  for (float v : all_masked) EXPECT_EQ(v, 0.0f);  // not NaN
}

TEST(Ops, SwigluMatchesDefinition) {
  auto g = randn(37, 4, 3.0f), u = randn(37, 5);
  std::vector<float> h(37);
  swiglu_forward(g.data(), u.data(), 1, 37, h.data());
  for (size_t i = 0; i < 37; ++i) {
    const double want = double(g[i]) / (1.0 + std::exp(-double(g[i]))) * u[i];
    EXPECT_NEAR(h[i], want, 1e-5 * (1 + std::fabs(want)));
  }
}

// Interleaved RoPE is multiplication of (x[2i] + i·x[2i+1]) by e^{i·pos·freq_i}.
TEST(Ops, RopeIsComplexRotationOfAdjacentPairs) {
  const int64_t T = 4, R = 8, ld = 11;
  auto x = randn(size_t(T * ld), 6);
  auto ref = x;
  std::vector<int64_t> pos = {0, 1, 37, 100000};
  std::vector<double> freq = {1.0, 0.0625, 0.0025, 0.00025};
  rope_interleaved(x.data(), ld, T, R, pos.data(), freq.data(), 1.0);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < R / 2; ++i) {
      std::complex<double> z(ref[t * ld + 2 * i], ref[t * ld + 2 * i + 1]);
      z *= std::polar(1.0, double(pos[t]) * freq[i]);
      EXPECT_NEAR(x[t * ld + 2 * i], z.real(), 1e-5);
      EXPECT_NEAR(x[t * ld + 2 * i + 1], z.imag(), 1e-5);
    }
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = R; i < ld; ++i) EXPECT_EQ(x[t * ld + i], ref[t * ld + i]);  // only the rope dims move
}

TEST(Ops, AddInplace) {
  auto a = randn(100000, 7), b = randn(100000, 8);
  auto want = a;
  for (size_t i = 0; i < want.size(); ++i) want[i] += b[i];
  add_inplace(a.data(), b.data(), int64_t(a.size()));
  EXPECT_EQ(a, want);
}

}  // namespace

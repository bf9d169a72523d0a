// Row softmax (kernels/softmax.h), forward and backward, against the double reference softmax_ref
// and finite differences of it; the causal-block entry points against the full-row ones on −inf
// masked rows, which they must reproduce bit for bit (training and inference attention share them).
//
// Tolerances. Forward: each probability is a few f32 operations (exp, a sum of ≤ 513 terms, one
// multiply) from the double value: 1e-6 absolute + 1e-5 relative. Backward: FD of the double
// reference with h = 1e-6 is good to ~1e-9 relative; the f32 dx_i = y_i·(dy_i − Σ y·dy) is a
// difference of terms of size y_i·(|dy_i| + Σ|y·dy|), each a few f32 roundings (≲ 40·6e-8), so it
// is compared at 2e-5 · that scale (~10x headroom).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "grad_check.h"
#include "kernels/softmax.h"
#include "reference.h"

using namespace frugal;

namespace {

using test::randn;
const auto to_d = test::to_double;
const float kNegInf = -std::numeric_limits<float>::infinity();

TEST(Softmax, MatchesDoubleAndHandlesMaskedRows) {
  for (int64_t n : {1, 3, 17, 513}) {
    const int64_t T = 3, ld = n + 1;
    auto x = randn(size_t(T * ld), 3, 4.0f);
    x[0] = kNegInf;  // a masked entry
    auto ref = to_d(x);
    softmax_rows(x.data(), T, n, ld);
    for (int64_t t = 0; t < T; ++t) {
      softmax_ref(ref.data() + t * ld, n);
      for (int64_t i = 0; i < n; ++i) {
        const double want = ref[size_t(t * ld + i)];
        EXPECT_NEAR(x[size_t(t * ld + i)], want, 1e-6 + 1e-5 * want);
      }
    }
  }
  std::vector<float> all_masked = {kNegInf, kNegInf, kNegInf};
  softmax_rows(all_masked.data(), 1, 3, 3);
  for (float v : all_masked) EXPECT_EQ(v, 0.0f);  // not NaN
}

// The reference itself: exp(x_i − max) / Σ, invariant to a shift of the row, zero on −inf entries.
TEST(Softmax, ReferenceIsNormalisedExp) {
  std::vector<double> x = {0.5, -1.0, 2.0, -INFINITY}, shifted = {100.5, 99.0, 102.0, -INFINITY};
  softmax_ref(x.data(), 4);
  softmax_ref(shifted.data(), 4);
  const double z = std::exp(0.5) + std::exp(-1.0) + std::exp(2.0);
  EXPECT_NEAR(x[0], std::exp(0.5) / z, 1e-15);
  EXPECT_NEAR(x[1], std::exp(-1.0) / z, 1e-15);
  EXPECT_NEAR(x[2], std::exp(2.0) / z, 1e-15);
  EXPECT_EQ(x[3], 0.0);
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(shifted[i], x[i], 1e-15);
  std::vector<double> masked = {-INFINITY, -INFINITY};
  softmax_ref(masked.data(), 2);
  EXPECT_EQ(masked, (std::vector<double>{0.0, 0.0}));
}

// Σ G ⊙ softmax(x) per row of n entries (rows ld apart), in double.
double softmax_loss_d(const std::vector<double>& x, const std::vector<double>& G, int64_t T, int64_t n, int64_t ld) {
  double L = 0;
  std::vector<double> y(static_cast<size_t>(n));
  for (int64_t t = 0; t < T; ++t) {
    std::copy_n(x.begin() + t * ld, n, y.begin());
    softmax_ref(y.data(), n);
    for (int64_t i = 0; i < n; ++i) L += G[size_t(t * ld + i)] * y[size_t(i)];
  }
  return L;
}

TEST(Softmax, BackwardMatchesFiniteDifferencesWithMasks) {
  for (int64_t n : {1, 3, 7, 33})
    for (int64_t T : {1, 3}) {
      const int64_t ld = n + 1;
      auto x = randn(size_t(T * ld), uint64_t(n + 10 * T), 3.0f), G = randn(size_t(T * ld), uint64_t(n + 10 * T + 1));
      if (n > 1) x[0] = kNegInf;  // one masked entry in row 0
      if (T == 3)
        for (int64_t i = 0; i < n; ++i) x[size_t(2 * ld + i)] = kNegInf;  // a fully masked row
      auto y = x;
      softmax_rows(y.data(), T, n, ld);
      std::vector<float> dx(size_t(T * ld), -7.0f);
      softmax_rows_backward(y.data(), G.data(), T, n, ld, dx.data());
      auto xd = to_d(x), Gd = to_d(G);
      // FD only on finite entries (a −inf logit stays −inf: its gradient is 0 by definition).
      std::vector<double> fx(xd.size(), 0.0);
      for (size_t i = 0; i < xd.size(); ++i) {
        if (std::isfinite(xd[i])) fx[i] = test::fd_grad_at(&xd, i, [&] { return softmax_loss_d(xd, Gd, T, n, ld); });
      }
      for (int64_t t = 0; t < T; ++t) {
        double ydy = 0;
        for (int64_t i = 0; i < n; ++i) ydy += std::fabs(double(y[size_t(t * ld + i)]) * G[size_t(t * ld + i)]);
        for (int64_t i = 0; i < n; ++i) {
          const size_t k = size_t(t * ld + i);
          if (!std::isfinite(x[k])) {
            EXPECT_EQ(dx[k], 0.0f);  // masked entries (and fully masked rows): exactly zero, not NaN
            continue;
          }
          const double scale = double(y[k]) * (std::fabs(Gd[k]) + ydy);
          EXPECT_NEAR(dx[k], fx[k], 2e-5 * scale + 1e-12) << "n=" << n << " T=" << T << " t=" << t << " i=" << i;
        }
        EXPECT_EQ(dx[size_t(t * ld + n)], -7.0f);  // padding untouched
      }
      // dx may alias dy.
      auto g2 = G;
      softmax_rows_backward(y.data(), g2.data(), T, n, ld, g2.data());
      for (int64_t t = 0; t < T; ++t)
        for (int64_t i = 0; i < n; ++i) EXPECT_EQ(g2[size_t(t * ld + i)], dx[size_t(t * ld + i)]);
    }
}

// A causal block (rows t0..t0+T-1 of a sequence, row t seeing keys 0..t) equals softmax_rows on
// the same rows with the future keys set to −inf, bit for bit, forward and backward; the masked
// tail [t + 1, width) is zeroed without being read, and nothing past width is touched.
TEST(Softmax, CausalBlockEqualsMaskedRowsBitForBit) {
  for (int64_t t0 : {0, 1, 64})
    for (int64_t T : {1, 5, 64}) {
      const int64_t width = t0 + T, ld = width + 3, first = t0 + 1;
      const uint64_t seed = uint64_t(100 * t0 + T);
      auto x = randn(size_t(T * ld), seed, 3.0f), G = randn(size_t(T * ld), seed + 1);
      auto masked = x;
      for (int64_t r = 0; r < T; ++r)
        for (int64_t j = first + r; j < width; ++j) masked[size_t(r * ld + j)] = kNegInf;
      auto causal = x;
      for (int64_t r = 0; r < T; ++r)
        for (int64_t j = first + r; j < width; ++j) causal[size_t(r * ld + j)] = std::nanf("");  // never read
      softmax_rows(masked.data(), T, width, ld);
      softmax_causal_rows(causal.data(), T, first, width, ld);
      for (int64_t r = 0; r < T; ++r) {
        EXPECT_EQ(0, std::memcmp(causal.data() + r * ld, masked.data() + r * ld, size_t(width) * sizeof(float)))
            << "t0 " << t0 << " T " << T << " row " << r;
        for (int64_t j = width; j < ld; ++j) EXPECT_EQ(causal[size_t(r * ld + j)], x[size_t(r * ld + j)]);
      }

      std::vector<float> want(size_t(T * ld), -7.0f);
      softmax_rows_backward(masked.data(), G.data(), T, width, ld, want.data());
      auto got = G;
      softmax_causal_rows_backward(causal.data(), got.data(), T, first, width, ld);
      for (int64_t r = 0; r < T; ++r) {
        // Visible keys bit for bit; masked ones zero (the full-row form gives 0·(dy − d), maybe −0).
        EXPECT_EQ(0, std::memcmp(got.data() + r * ld, want.data() + r * ld, size_t(first + r) * sizeof(float)))
            << "backward t0 " << t0 << " T " << T << " row " << r;
        for (int64_t j = first + r; j < width; ++j) {
          EXPECT_EQ(got[size_t(r * ld + j)], 0.0f);
          EXPECT_EQ(want[size_t(r * ld + j)], 0.0f);
        }
        for (int64_t j = width; j < ld; ++j) EXPECT_EQ(got[size_t(r * ld + j)], G[size_t(r * ld + j)]);
      }
    }
}

}  // namespace

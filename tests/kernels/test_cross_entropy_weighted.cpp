// The weighted form of cross_entropy_forward_backward (kernels/ops.h): loss = Σ w_t·CE_t / N.
//
//  (a) gradients against central finite differences of a double re-implementation, with zero,
//      negative and large weights, masked targets, and N both the caller's and the default count;
//  (b) weights all 1 (with N left at 0 or given as the count) are bit for bit the unweighted call,
//      on both sides of the kernel's threading threshold;
//  (c) a zero-weight row contributes nothing and reads nothing (NaN logits there stay harmless).
//
// Tolerance of (a): as in test_ops_grad.cpp, the f32 gradient w·(p − onehot)/N is computed in
// double and rounded once (≤ 6e-8 relative), FD in double is good to ~1e-9, so we allow
// 1e-6·|w|/N + 1e-6·|fd|.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/rng.h"
#include "kernels/ops.h"
#include "grad_check.h"
#include "reference.h"

using namespace frugal;

namespace {

using test::randn;

// Σ_{t: tg ≥ 0} w_t · (logsumexp(l_t) − l_t[tg_t]) / N, N = norm or the number of targets ≥ 0.
double weighted_ce_d(const std::vector<double>& l, const std::vector<int32_t>& tg, const std::vector<float>& w,
                     int64_t T, int64_t V, int64_t ld, double norm) {
  double L = 0;
  int64_t n = 0;
  for (int64_t t = 0; t < T; ++t) {
    if (tg[size_t(t)] < 0) continue;
    ++n;
    double m = -INFINITY, z = 0;
    for (int64_t i = 0; i < V; ++i) m = std::max(m, l[t * ld + i]);
    for (int64_t i = 0; i < V; ++i) z += std::exp(l[t * ld + i] - m);
    L += double(w[size_t(t)]) * (m + std::log(z) - l[t * ld + tg[size_t(t)]]);
  }
  const double N = norm > 0 ? norm : double(n);
  return N > 0 ? L / N : 0.0;
}

TEST(WeightedCrossEntropy, MatchesFiniteDifferencesWithZeroAndNegativeWeights) {
  const int64_t T = 6;
  // Row 1 is masked by its target (its weight must not matter), row 3 by its weight.
  const std::vector<float> w = {1.0f, 5.0f, -0.75f, 0.0f, 2.5f, -3.0f};
  for (int64_t V : {1, 7, 33})
    for (double norm : {0.0, 2.5, 40.0}) {
      const int64_t ld = V + 2;
      auto l = randn(size_t(T * ld), uint64_t(V * 7 + int64_t(norm)), 3.0f);
      std::vector<int32_t> tg(static_cast<size_t>(T));
      for (int64_t t = 0; t < T; ++t) tg[size_t(t)] = int32_t((t * 5 + 2) % V);
      tg[1] = -1;
      std::vector<float> d(size_t(T * ld), -7.0f);
      const double loss = cross_entropy_forward_backward(l.data(), tg.data(), T, V, ld, d.data(), w.data(), norm);
      auto ld_ = test::to_double(l);
      const double want = weighted_ce_d(ld_, tg, w, T, V, ld, norm);
      EXPECT_NEAR(loss, want, 1e-9 * (1 + std::fabs(want))) << "V=" << V << " norm=" << norm;
      EXPECT_EQ(cross_entropy_forward_backward(l.data(), tg.data(), T, V, ld, nullptr, w.data(), norm), loss);
      const double N = norm > 0 ? norm : double(T - 1);
      auto fd = test::fd_grad(&ld_, [&] { return weighted_ce_d(ld_, tg, w, T, V, ld, norm); });
      for (int64_t t = 0; t < T; ++t)
        for (int64_t i = 0; i < ld; ++i) {
          const size_t k = size_t(t * ld + i);
          if (i >= V) {
            EXPECT_EQ(d[k], -7.0f);  // padding untouched
          } else if (tg[size_t(t)] < 0 || w[size_t(t)] == 0.0f) {
            EXPECT_EQ(d[k], 0.0f) << "t=" << t;  // masked row: zero gradient
            EXPECT_EQ(fd[k], 0.0);
          } else {
            EXPECT_NEAR(d[k], fd[k], 1e-6 * std::fabs(w[size_t(t)]) / N + 1e-6 * std::fabs(fd[k]))
                << "V=" << V << " norm=" << norm << " t=" << t << " i=" << i;
          }
        }
      // A negative weight pushes the target's logit down: its gradient there is positive.
      if (V > 1) {
        EXPECT_GT(d[size_t(2 * ld + tg[2])], 0.0f);
      }
      // In place over the logits.
      auto l2 = l;
      EXPECT_EQ(cross_entropy_forward_backward(l2.data(), tg.data(), T, V, ld, l2.data(), w.data(), norm), loss);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t i = 0; i < V; ++i) EXPECT_EQ(l2[size_t(t * ld + i)], d[size_t(t * ld + i)]);
    }
}

TEST(WeightedCrossEntropy, UnitWeightsAreBitIdenticalToUnweighted) {
  struct Shape {
    int64_t T, V;
  };
  // 64 x 1100 is above the kernel's OpenMP threshold (T·V ≥ 65536), the others below it.
  for (Shape s : {Shape{1, 5}, Shape{9, 33}, Shape{64, 1100}}) {
    const int64_t ld = s.V;
    auto l = randn(size_t(s.T * ld), uint64_t(s.T * 31 + s.V), 4.0f);
    std::vector<int32_t> tg(static_cast<size_t>(s.T));
    int64_t n_valid = 0;
    for (int64_t t = 0; t < s.T; ++t) {
      tg[size_t(t)] = t % 4 == 3 ? -100 : int32_t((t * 13 + 1) % s.V);
      n_valid += tg[size_t(t)] >= 0;
    }
    const std::vector<float> ones(size_t(s.T), 1.0f);
    std::vector<float> d0(l.size()), d1(l.size()), d2(l.size());
    const double l0 = cross_entropy_forward_backward(l.data(), tg.data(), s.T, s.V, ld, d0.data());
    const double l1 = cross_entropy_forward_backward(l.data(), tg.data(), s.T, s.V, ld, d1.data(), ones.data());
    const double l2 =
        cross_entropy_forward_backward(l.data(), tg.data(), s.T, s.V, ld, d2.data(), ones.data(), double(n_valid));
    EXPECT_EQ(l0, l1);
    EXPECT_EQ(l0, l2);
    EXPECT_TRUE(d0 == d1) << s.T << "x" << s.V;
    EXPECT_TRUE(d0 == d2) << s.T << "x" << s.V;
  }
}

TEST(WeightedCrossEntropy, ZeroWeightRowsAreNotRead) {
  const int64_t T = 3, V = 4;
  std::vector<float> l = {1, 2, 3, 4, 0, 0, 0, 0, -1, 0.5f, 2, 0};
  l[5] = std::numeric_limits<float>::quiet_NaN();  // row 1: garbage that a w = 0 row must not read
  l[6] = std::numeric_limits<float>::infinity();
  const std::vector<int32_t> tg = {3, 1, 0};
  const std::vector<float> w = {0.5f, 0.0f, 2.0f};
  std::vector<float> d(l.size(), -7.0f);
  const double loss = cross_entropy_forward_backward(l.data(), tg.data(), T, V, V, d.data(), w.data(), 0);
  ASSERT_TRUE(std::isfinite(loss));
  // The same as the two scored rows alone with N = 3 (a zero weight still counts in the default N).
  const std::vector<float> l_ok = {1, 2, 3, 4, -1, 0.5f, 2, 0};
  const std::vector<int32_t> tg_ok = {3, 0};
  const std::vector<float> w_ok = {0.5f, 2.0f};
  std::vector<float> d_ok(l_ok.size());
  EXPECT_EQ(loss, cross_entropy_forward_backward(l_ok.data(), tg_ok.data(), 2, V, V, d_ok.data(), w_ok.data(), 3.0));
  for (int64_t i = 0; i < V; ++i) {
    EXPECT_EQ(d[size_t(i)], d_ok[size_t(i)]);
    EXPECT_EQ(d[size_t(V + i)], 0.0f);
    EXPECT_EQ(d[size_t(2 * V + i)], d_ok[size_t(V + i)]);
  }
  // Nothing scored: loss 0 and gradient 0 with the default N, no division by zero.
  const std::vector<float> zeros(size_t(T), 0.0f);
  EXPECT_EQ(cross_entropy_forward_backward(l.data(), tg.data(), T, V, V, d.data(), zeros.data(), 0), 0.0);
  for (float x : d) EXPECT_EQ(x, 0.0f);
}

}  // namespace

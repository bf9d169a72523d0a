// soft_cross_entropy_forward_backward (kernels/ops.h), the logit-distillation loss:
//  (a) loss against the double reference and gradients against its central finite differences,
//      with repeated ids, targets that do not sum to 1, masked rows, weights (zero and negative)
//      and both normalisers; in place over the logits;
//  (b) one-hot soft targets (k = 1, q = 1) are the hard cross-entropy exactly (same operations).
// Tolerance as in test_cross_entropy_weighted.cpp: the gradient is formed in double and rounded
// once per term (two terms at a target id: ≤ 2 f32 roundings), FD in double is good to ~1e-9, so
// 2e-6·|w|/N + 1e-6·|fd|.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/ops.h"
#include "grad_check.h"
#include "reference.h"

using namespace frugal;

namespace {

TEST(SoftCrossEntropy, MatchesTheReferenceAndFiniteDifferences) {
  const int64_t T = 5, k = 3;
  const std::vector<int32_t> scored = {0, -1, 0, 0, 0};  // row 1 masked
  const std::vector<float> w = {1.0f, 9.0f, -0.5f, 0.0f, 2.0f};
  for (int64_t V : {4, 19})
    for (double norm : {0.0, 3.0})
      for (bool weighted : {false, true}) {
        const int64_t ld = V + 1;
        auto l = test::randn(size_t(T * ld), uint64_t(V + 100 * int64_t(norm) + weighted), 2.0f);
        std::vector<int32_t> ids(size_t(T * k));
        std::vector<float> q(size_t(T * k));
        for (int64_t t = 0; t < T; ++t)
          for (int64_t j = 0; j < k; ++j) {
            ids[size_t(t * k + j)] = int32_t((t * 3 + j * 5) % V);
            q[size_t(t * k + j)] = 0.1f + 0.2f * float(j);  // sums to 0.9: not renormalised
          }
        ids[2] = ids[0];  // row 0 repeats an id
        const float* wp = weighted ? w.data() : nullptr;
        std::vector<float> d(size_t(T * ld), -7.0f);
        const double loss =
            soft_cross_entropy_forward_backward(l.data(), scored.data(), T, V, ld, k, ids.data(), q.data(), d.data(), wp, norm);
        auto ldd = test::to_double(l);
        auto ref = [&] { return soft_cross_entropy_ref(ldd.data(), scored.data(), T, V, ld, k, ids.data(), q.data(), wp, norm); };
        EXPECT_NEAR(loss, ref(), 1e-9 * (1 + std::fabs(ref())));
        const auto fd = test::fd_grad(&ldd, ref);
        const double n = norm > 0 ? norm : 4.0;
        for (int64_t t = 0; t < T; ++t)
          for (int64_t i = 0; i < ld; ++i) {
            const size_t x = size_t(t * ld + i);
            if (i >= V) {
              EXPECT_EQ(d[x], -7.0f);
            } else if (scored[size_t(t)] < 0 || (wp && w[size_t(t)] == 0.0f)) {
              EXPECT_EQ(d[x], 0.0f);
            } else {
              const double wt = wp ? std::fabs(w[size_t(t)]) : 1.0;
              EXPECT_NEAR(d[x], fd[x], 2e-6 * wt / n + 1e-6 * std::fabs(fd[x])) << "V=" << V << " t=" << t << " i=" << i;
            }
          }
        auto l2 = l;  // in place
        EXPECT_EQ(soft_cross_entropy_forward_backward(l2.data(), scored.data(), T, V, ld, k, ids.data(), q.data(),
                                                      l2.data(), wp, norm),
                  loss);
        for (int64_t t = 0; t < T; ++t)
          for (int64_t i = 0; i < V; ++i) EXPECT_EQ(l2[size_t(t * ld + i)], d[size_t(t * ld + i)]);
      }
}

TEST(SoftCrossEntropy, OneHotTargetsAreTheHardCrossEntropy) {
  const int64_t T = 4, V = 11;
  auto l = test::randn(size_t(T * V), 3, 3.0f);
  const std::vector<int32_t> tg = {3, -1, 10, 0};
  std::vector<int32_t> ids = {3, 0, 10, 0};
  const std::vector<float> q(4, 1.0f);
  std::vector<float> a(size_t(T * V)), b(size_t(T * V));
  const double hard = cross_entropy_forward_backward(l.data(), tg.data(), T, V, V, a.data());
  const double soft = soft_cross_entropy_forward_backward(l.data(), tg.data(), T, V, V, 1, ids.data(), q.data(), b.data());
  EXPECT_NEAR(soft, hard, 1e-12 * std::fabs(hard));
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-7f) << i;
}

}  // namespace

// pass@k and the Wilson interval (posttrain/stats.h) against independent definitions.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "posttrain/stats.h"
#include "test_util.h"

namespace frugal {
namespace {

// The definition: the fraction of the C(n, k) k-subsets of n samples (c of them correct) holding
// at least one correct sample, by enumerating the subsets as bit masks.
double pass_at_k_enumerated(int n, int c, int k) {
  int64_t hit = 0, total = 0;
  for (uint32_t m = 0; m < (1u << n); ++m) {
    if (__builtin_popcount(m) != k) continue;
    ++total;
    hit += (m & ((1u << c) - 1)) != 0;  // samples 0..c-1 are the correct ones
  }
  return double(hit) / double(total);
}

TEST(PassAtK, MatchesSubsetEnumeration) {
  for (int n = 1; n <= 10; ++n)
    for (int c = 0; c <= n; ++c)
      for (int k = 1; k <= n; ++k)
        EXPECT_NEAR(pass_at_k(n, c, k), pass_at_k_enumerated(n, c, k), 1e-12) << n << " " << c << " " << k;
  EXPECT_DOUBLE_EQ(pass_at_k(5, 2, 2), 0.7);  // 1 - C(3,2)/C(5,2) = 1 - 3/10, by hand
  // Large n: the product form stays exact enough where binomials would overflow.
  EXPECT_NEAR(pass_at_k(1000, 1, 1), 0.001, 1e-15);
  EXPECT_NEAR(pass_at_k(1000, 500, 1), 0.5, 1e-12);
}

TEST(PassAtK, BadArguments) {
  test::expect_error([] { pass_at_k(4, 5, 1); }, ErrorKind::kInvalidArgument, {"c = 5"});
  test::expect_error([] { pass_at_k(4, 1, 5); }, ErrorKind::kInvalidArgument, {"k = 5"});
  test::expect_error([] { pass_at_k(0, 0, 1); }, ErrorKind::kInvalidArgument, {"n = 0"});
}

TEST(Wilson, HandValues) {
  // Worked from the formula with z = 1.96 (Newcombe 1998 tabulates the same: 0.4902-0.9433 for
  // 8/10, 0-0.2775 for 0/10).
  Interval a = wilson_interval(8, 10);
  EXPECT_NEAR(a.lo, 0.4901625, 1e-6);
  EXPECT_NEAR(a.hi, 0.9433178, 1e-6);
  Interval b = wilson_interval(0, 10);
  EXPECT_EQ(b.lo, 0.0);
  EXPECT_NEAR(b.hi, 0.2775328, 1e-6);
  Interval c = wilson_interval(10, 10);  // symmetric to 0/10
  EXPECT_NEAR(c.lo, 1 - 0.2775328, 1e-6);
  EXPECT_NEAR(c.hi, 1.0, 1e-12);
  Interval d = wilson_interval(50, 100);
  EXPECT_NEAR(d.lo, 0.4038315, 1e-6);
  EXPECT_NEAR(d.hi, 0.5961685, 1e-6);
  test::expect_error([] { wilson_interval(3, 0); }, ErrorKind::kInvalidArgument, {"n >= 1"});
  test::expect_error([] { wilson_interval(11, 10); }, ErrorKind::kInvalidArgument, {"11 of 10"});
}

TEST(PassAtKTable, KsValuesAndIntervals) {
  // Three problems, K = 4, with 0, 2 and 4 correct samples.
  std::vector<PassAt> t = pass_at_k_table({0, 2, 4}, 4);
  ASSERT_EQ(t.size(), 3u);  // k = 1, 2, 4
  EXPECT_EQ(t[0].k, 1);
  EXPECT_DOUBLE_EQ(t[0].value, (0 + 0.5 + 1) / 3);
  EXPECT_EQ(t[1].k, 2);
  EXPECT_DOUBLE_EQ(t[1].value, (0 + (1 - 1.0 / 6) + 1) / 3);  // C(2,2)/C(4,2) = 1/6
  EXPECT_EQ(t[2].k, 4);
  EXPECT_DOUBLE_EQ(t[2].value, 2.0 / 3);
  const Interval w = wilson_interval(1.5, 3);
  EXPECT_EQ(t[0].ci.lo, w.lo);
  EXPECT_EQ(t[0].ci.hi, w.hi);
  // One sample each: only pass@1, the plain fraction with the exact Wilson interval.
  t = pass_at_k_table({1, 0, 1, 1}, 1);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].value, 0.75);
  EXPECT_EQ(t[0].ci.lo, wilson_interval(3, 4).lo);
  EXPECT_EQ(pass_at_k_table({0}, 6).back().k, 6);  // k = 1, 2, 4, 6
  EXPECT_EQ(pass_at_k_table({0}, 6).size(), 4u);
}

}  // namespace
}  // namespace frugal

// Accuracy statistics of an evaluation (docs/posttrain.md, Evaluation): the unbiased pass@k
// estimator and 95% confidence intervals.
#pragma once
#include <cstdint>
#include <vector>

namespace frugal {

// pass@k of one problem from n samples of which c are correct: the probability that k samples
// drawn without replacement from the n hold at least one correct one,
//   1 - C(n-c, k) / C(n, k) = 1 - Π_{i=n-c+1..n} (1 - k/i)
// (the product form never forms a binomial coefficient, so it neither overflows nor loses
// precision). Requires 0 <= c <= n and 1 <= k <= n; kInvalidArgument otherwise.
double pass_at_k(int64_t n, int64_t c, int64_t k);

struct Interval {
  double lo = 0, hi = 1;
};

constexpr double kZ95 = 1.959963984540054;  // the standard normal's 97.5% quantile

// Wilson score interval of a proportion: `successes` of `n` trials (n >= 1). It stays inside
// [0, 1] and keeps a sensible width at 0 or n successes, where the normal approximation collapses
// to a point. `successes` may be fractional: for K samples per problem the trial is the problem
// and its success is its score in [0, 1] (c/K, or its pass@k estimate). A score in [0, 1] with
// mean p has variance at most p(1-p), the Bernoulli variance the interval assumes, so for several
// samples the interval is conservative (at least as wide as needed), never too narrow; samples of
// one problem are correlated, so they are not counted as independent trials.
Interval wilson_interval(double successes, int64_t n, double z = kZ95);

struct PassAt {
  int64_t k = 1;
  double value = 0;  // mean over problems of pass_at_k(K, c_i, k)
  Interval ci;       // Wilson 95% over problems
};
// pass@k for k = 1, 2, 4, ... below K, and K, from the number of correct samples of each problem
// (each in [0, K], at least one problem). k = 1 is the mean of c/K.
std::vector<PassAt> pass_at_k_table(const std::vector<int64_t>& n_correct, int64_t K);

}  // namespace frugal

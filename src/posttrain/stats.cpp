#include "posttrain/stats.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace frugal {

double pass_at_k(int64_t n, int64_t c, int64_t k) {
  if (n < 1 || c < 0 || c > n || k < 1 || k > n)
    fail(ErrorKind::kInvalidArgument, "pass@k: need 0 <= c <= n and 1 <= k <= n (n = {}, c = {}, k = {})", n, c, k);
  if (n - c < k) return 1.0;  // every k-subset holds a correct sample
  double miss = 1.0;
  for (int64_t i = n - c + 1; i <= n; ++i) miss *= 1.0 - double(k) / double(i);
  return 1.0 - miss;
}

Interval wilson_interval(double successes, int64_t n, double z) {
  if (n < 1 || !(successes >= 0) || successes > double(n))
    fail(ErrorKind::kInvalidArgument, "Wilson interval: need 0 <= successes <= n, n >= 1 ({} of {})", successes, n);
  const double N = double(n), p = successes / N, z2 = z * z;
  const double denom = 1 + z2 / N;
  const double center = (p + z2 / (2 * N)) / denom;
  const double half = z / denom * std::sqrt(p * (1 - p) / N + z2 / (4 * N * N));
  return {std::max(0.0, center - half), std::min(1.0, center + half)};
}

std::vector<PassAt> pass_at_k_table(const std::vector<int64_t>& n_correct, int64_t K) {
  if (n_correct.empty()) fail(ErrorKind::kInvalidArgument, "pass@k of no problems");
  std::vector<int64_t> ks = {1};
  for (int64_t k = 2; k < K; k *= 2) ks.push_back(k);
  if (K > 1) ks.push_back(K);
  std::vector<PassAt> out;
  for (int64_t k : ks) {
    double sum = 0;
    for (int64_t c : n_correct) sum += pass_at_k(K, c, k);
    const int64_t n = int64_t(n_correct.size());
    out.push_back({k, sum / double(n), wilson_interval(sum, n)});
  }
  return out;
}

}  // namespace frugal

#include "infer/engine_metrics.h"

#include <algorithm>

namespace frugal {

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {
  std::sort(bounds_.begin(), bounds_.end());
  counts_.assign(bounds_.size(), 0);
}

void Histogram::observe(double v) {
  // Prometheus buckets are inclusive upper bounds (le="0.1" counts v <= 0.1).
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
  if (it != bounds_.end()) ++counts_[size_t(it - bounds_.begin())];
  sum_ += v;
  ++count_;
}

std::vector<int64_t> Histogram::cumulative() const {
  std::vector<int64_t> c(counts_.size());
  int64_t run = 0;
  for (size_t i = 0; i < counts_.size(); ++i) c[i] = (run += counts_[i]);
  return c;
}

std::vector<double> ttft_bucket_bounds() {
  return {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0,
          80.0, 160.0, 640.0, 2560.0};
}

std::vector<double> itl_bucket_bounds() {
  return {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0};
}

}  // namespace frugal

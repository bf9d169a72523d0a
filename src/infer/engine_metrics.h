// Latency histograms of the serving engine (docs/serving.md, Metrics): the bucket bounds are vLLM's for
// time_to_first_token_seconds and inter_token_latency_seconds, so dashboards built for vLLM read
// frugal's /metrics unchanged.
#pragma once
#include <cstdint>
#include <vector>

namespace frugal {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double v);
  // Prometheus form: cumulative counts per upper bound (the +Inf bucket is count()).
  std::vector<int64_t> cumulative() const;
  const std::vector<double>& bounds() const { return bounds_; }
  double sum() const { return sum_; }
  int64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;   // ascending
  std::vector<int64_t> counts_;  // per bucket, not cumulative; [bounds.size()]
  double sum_ = 0;
  int64_t count_ = 0;
};

// vLLM's bucket bounds (seconds).
std::vector<double> ttft_bucket_bounds();
std::vector<double> itl_bucket_bounds();

}  // namespace frugal

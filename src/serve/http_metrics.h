// /metrics: Prometheus text exposition with vLLM's metric names under the `frugal:` prefix
// (docs/serving.md, Metrics). Engine-side numbers (running/waiting, tokens, TTFT and inter-token latency
// histograms, KV-cache use) come from an EngineMetrics snapshot; request outcomes are counted here.
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "infer/engine.h"

namespace frugal::serve {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double x);
  // Prometheus lines for `name` with `labels` ("model_name=\"m\"").
  std::string render(const std::string& name, const std::string& help, const std::string& labels) const;

 private:
  std::vector<double> bounds_;
  std::vector<int64_t> counts_;  // per bucket, not cumulative
  double sum_ = 0;
  int64_t count_ = 0;
};

// Request outcomes seen by the HTTP layer. Thread-safe.
class HttpMetrics {
 public:
  HttpMetrics();
  void request(const std::string& route, int status);        // every answered request
  void finished(const std::string& reason, double e2e_seconds);  // a generation that ran to its end
  void aborted();                                            // the client went away mid-generation
  void rejected(const std::string& reason);                  // queue_full, unauthorized, invalid, too_large, ...

  // The whole exposition: engine gauges/counters/histograms, then ours.
  std::string render(const std::string& model_name, const EngineMetrics* engine) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, int64_t> requests_;
  std::map<std::string, int64_t> finished_, rejected_;
  int64_t aborted_ = 0;
  Histogram e2e_;
};

// "a\"b" -> "a\\\"b" for a label value.
std::string prometheus_escape(const std::string& s);

}  // namespace frugal::serve

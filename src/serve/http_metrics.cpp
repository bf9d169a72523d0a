#include "serve/http_metrics.h"

#include <fmt/format.h>

namespace frugal::serve {

namespace {

std::string num(double x) { return fmt::format("{}", x); }

void gauge(std::string& out, const std::string& name, const std::string& help, const std::string& type,
           const std::string& labels, double value) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{}{{{}}} {}\n", name, help, name, type, name, labels, num(value));
}

// An engine histogram given as cumulative bucket counts.
void cumulative_histogram(std::string& out, const std::string& name, const std::string& help,
                          const std::string& labels, const std::vector<double>& bounds,
                          const std::vector<int64_t>& cumulative, double sum, int64_t count) {
  out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
  for (size_t i = 0; i < bounds.size() && i < cumulative.size(); ++i)
    out += fmt::format("{}_bucket{{{},le=\"{}\"}} {}\n", name, labels, num(bounds[i]), cumulative[i]);
  out += fmt::format("{}_bucket{{{},le=\"+Inf\"}} {}\n", name, labels, count);
  out += fmt::format("{}_sum{{{}}} {}\n{}_count{{{}}} {}\n", name, labels, num(sum), name, labels, count);
}

}  // namespace

std::string prometheus_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double x) {
  size_t i = 0;
  while (i < bounds_.size() && x > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += x;
  ++count_;
}

std::string Histogram::render(const std::string& name, const std::string& help, const std::string& labels) const {
  std::vector<int64_t> cumulative;
  int64_t run = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) cumulative.push_back(run += counts_[i]);
  std::string out;
  cumulative_histogram(out, name, help, labels, bounds_, cumulative, sum_, count_);
  return out;
}

HttpMetrics::HttpMetrics() : e2e_({0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320, 640}) {}

void HttpMetrics::request(const std::string& route, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{route, status}];
}

void HttpMetrics::finished(const std::string& reason, double e2e_seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  ++finished_[reason];
  e2e_.observe(e2e_seconds);
}

void HttpMetrics::aborted() {
  std::lock_guard<std::mutex> lock(mu_);
  ++aborted_;
}

void HttpMetrics::rejected(const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  ++rejected_[reason];
}

std::string HttpMetrics::render(const std::string& model_name, const EngineMetrics* e) const {
  const std::string m = "model_name=\"" + prometheus_escape(model_name) + "\"";
  std::string out;
  if (e) {
    gauge(out, "frugal:num_requests_running", "Requests in the running batch.", "gauge", m, double(e->running));
    gauge(out, "frugal:num_requests_waiting", "Requests waiting to be admitted.", "gauge", m, double(e->waiting));
    const double kv = e->kv_capacity_tokens > 0 ? double(e->kv_used_tokens) / double(e->kv_capacity_tokens) : 0.0;
    gauge(out, "frugal:kv_cache_usage_perc", "KV-cache use, 0 to 1.", "gauge", m, kv);
    gauge(out, "frugal:kv_cache_used_tokens", "Tokens held in the latent KV cache.", "gauge", m,
          double(e->kv_used_tokens));
    gauge(out, "frugal:kv_cache_capacity_tokens", "Tokens the latent KV cache can hold.", "gauge", m,
          double(e->kv_capacity_tokens));
    gauge(out, "frugal:requests_total", "Requests the engine accepted.", "counter", m, double(e->requests_total));
    gauge(out, "frugal:prompt_tokens_total", "Prompt tokens processed.", "counter", m, double(e->prompt_tokens_total));
    gauge(out, "frugal:generation_tokens_total", "Tokens generated.", "counter", m,
          double(e->generation_tokens_total));
    gauge(out, "frugal:prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache.", "counter", m,
          double(e->prefix_query_tokens_total));
    gauge(out, "frugal:prefix_cache_hits_total", "Prompt tokens served from the prefix cache.", "counter", m,
          double(e->prefix_hit_tokens_total));
    gauge(out, "frugal:prefix_cache_tokens", "Tokens held by the prefix cache.", "gauge", m,
          double(e->prefix_cache_tokens));
    out += "# HELP frugal:engine_finished_total Engine requests ended, by reason (cancelled: client gone, stop "
           "string or shutdown).\n# TYPE frugal:engine_finished_total counter\n";
    const std::pair<const char*, int64_t> ends[] = {{"stop", e->finished_stop}, {"length", e->finished_length},
                                                    {"cancelled", e->finished_cancelled}, {"error", e->finished_error}};
    for (const auto& [reason, n] : ends)
      out += fmt::format("frugal:engine_finished_total{{{},reason=\"{}\"}} {}\n", m, reason, n);
    gauge(out, "frugal:engine_rejected_total", "submit() refusals (queue full, shutting down).", "counter", m,
          double(e->rejected_total));
    gauge(out, "frugal:decode_steps_total", "Batched decode steps.", "counter", m, double(e->decode_steps_total));
    gauge(out, "frugal:decode_rows_total", "Sequences advanced by decode steps (rows / steps = mean batch).",
          "counter", m, double(e->decode_rows_total));
    cumulative_histogram(out, "frugal:time_to_first_token_seconds", "Time from arrival to the first token.", m,
                         e->ttft_buckets, e->ttft_counts, e->ttft_sum, e->ttft_count);
    cumulative_histogram(out, "frugal:inter_token_latency_seconds", "Time between two tokens of a request.", m,
                         e->itl_buckets, e->itl_counts, e->itl_sum, e->itl_count);
  }
  std::lock_guard<std::mutex> lock(mu_);
  out += "# HELP frugal:request_success_total Generations that ran to their end, by finish reason.\n"
         "# TYPE frugal:request_success_total counter\n";
  for (const char* r : {"stop", "length", "tool_calls"}) {
    auto it = finished_.find(r);
    out += fmt::format("frugal:request_success_total{{{},finished_reason=\"{}\"}} {}\n", m, r,
                       it == finished_.end() ? 0 : it->second);
  }
  gauge(out, "frugal:num_aborted_requests_total", "Generations cancelled because the client went away.", "counter",
        m, double(aborted_));
  out += "# HELP frugal:num_rejected_requests_total Requests refused, by reason.\n"
         "# TYPE frugal:num_rejected_requests_total counter\n";
  for (const auto& [reason, n] : rejected_)
    out += fmt::format("frugal:num_rejected_requests_total{{{},reason=\"{}\"}} {}\n", m, prometheus_escape(reason), n);
  out += e2e_.render("frugal:e2e_request_latency_seconds", "Time from arrival to the last byte of a generation.", m);
  out += "# HELP frugal:http_requests_total HTTP requests answered, by route and status.\n"
         "# TYPE frugal:http_requests_total counter\n";
  for (const auto& [key, n] : requests_)
    out += fmt::format("frugal:http_requests_total{{{},route=\"{}\",code=\"{}\"}} {}\n", m,
                       prometheus_escape(key.first), key.second, n);
  return out;
}

}  // namespace frugal::serve

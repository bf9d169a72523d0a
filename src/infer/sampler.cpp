#include "infer/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace frugal {

void validate(const SamplingParams& p) {
  if (!(p.temperature >= 0) || !std::isfinite(p.temperature))
    fail(ErrorKind::kInvalidArgument, "temperature must be a finite number >= 0 (got {})", p.temperature);
  if (!(p.top_p > 0 && p.top_p <= 1)) fail(ErrorKind::kInvalidArgument, "top_p must be in (0, 1] (got {})", p.top_p);
  if (!(p.min_p >= 0 && p.min_p <= 1)) fail(ErrorKind::kInvalidArgument, "min_p must be in [0, 1] (got {})", p.min_p);
  if (p.top_k < 0) fail(ErrorKind::kInvalidArgument, "top_k must be >= 0 (got {})", p.top_k);
}

int32_t argmax(const float* x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (x[i] > x[best] || (std::isnan(x[best]) && !std::isnan(x[i]))) best = i;
  return int32_t(best);
}

Sampler::Sampler(const SamplingParams& p) : p_(p), rng_(p.seed) { validate(p); }

int32_t Sampler::sample(const float* logits, int64_t V) {
  if (p_.temperature == 0) return argmax(logits, V);
  // Candidates sorted by logit, descending (ties: lower id first, so results are deterministic).
  idx_.resize(size_t(V));
  std::iota(idx_.begin(), idx_.end(), 0);
  // NaN logits rank below everything (as -inf) so they are never drawn and the comparison stays a
  // strict weak order.
  auto key = [&](int32_t i) { return std::isnan(logits[i]) ? -INFINITY : logits[i]; };
  auto by_logit = [&](int32_t a, int32_t b) { return key(a) > key(b) || (key(a) == key(b) && a < b); };
  int64_t n = V;
  if (p_.top_k > 0 && p_.top_k < V) {
    n = p_.top_k;
    std::partial_sort(idx_.begin(), idx_.begin() + n, idx_.end(), by_logit);
  } else {
    std::sort(idx_.begin(), idx_.end(), by_logit);
  }
  // Softmax of logits / temperature over the candidates, in double for a stable cumulative sum.
  prob_.resize(size_t(n));
  const double inv_t = 1.0 / double(p_.temperature), top = double(key(idx_[0]));
  if (!std::isfinite(top)) return idx_[0];  // no finite logit at all: nothing better to draw
  double z = 0;
  for (int64_t i = 0; i < n; ++i) z += (prob_[size_t(i)] = float(std::exp((double(key(idx_[size_t(i)])) - top) * inv_t)));
  for (int64_t i = 0; i < n; ++i) prob_[size_t(i)] = float(prob_[size_t(i)] / z);
  if (p_.top_p < 1.0f) {
    double cum = 0;
    int64_t keep = n;
    for (int64_t i = 0; i < n; ++i) {
      cum += prob_[size_t(i)];
      // Inclusive, with slack for float rounding: p = {0.5, 0.3, ...} at top_p 0.8 keeps two.
      if (cum >= double(p_.top_p) - 1e-6) { keep = i + 1; break; }
    }
    n = keep;
  }
  if (p_.min_p > 0) {
    const float floor_p = p_.min_p * prob_[0];
    int64_t keep = 1;
    while (keep < n && prob_[size_t(keep)] >= floor_p) ++keep;
    n = keep;
  }
  double total = 0;
  for (int64_t i = 0; i < n; ++i) total += prob_[size_t(i)];
  double u = rng_.uniform_double() * total, cum = 0;
  for (int64_t i = 0; i < n; ++i) {
    cum += prob_[size_t(i)];
    if (u < cum) return idx_[size_t(i)];
  }
  return idx_[size_t(n - 1)];
}

}  // namespace frugal

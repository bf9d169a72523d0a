#include "infer/sampler.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
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

uint64_t rank_key(float logit, int32_t id) {
  // IEEE-754 bits as an unsigned integer in the same order as the floats (negatives flipped
  // whole, positives with the sign bit set), then complemented so larger logits come first.
  // -0 is taken as +0 (they compare equal as floats, so the id must decide); NaN is the caller's.
  const float f = logit == 0.0f ? 0.0f : logit;
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return (uint64_t(~u) << 32) | uint32_t(id);
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
  // NaN logits rank below everything (as -inf) so they are never drawn and the order stays strict.
  auto key = [&](int32_t i) { return std::isnan(logits[i]) ? -INFINITY : logits[i]; };
  // The order is sorted as packed integers rank_key(logit, id): one compare of contiguous
  // values instead of an indirect two-level float compare (this sort is most of the cost of a
  // sampled token at a 100k+ vocabulary), giving exactly the order described above.
  keys_.resize(size_t(V));
  for (int64_t i = 0; i < V; ++i) keys_[size_t(i)] = rank_key(key(int32_t(i)), int32_t(i));
  int64_t n = V;
  if (p_.top_k > 0 && p_.top_k < V) {
    n = p_.top_k;
    std::partial_sort(keys_.begin(), keys_.begin() + n, keys_.end());
  } else {
    std::sort(keys_.begin(), keys_.end());
  }
  idx_.resize(size_t(n));
  for (int64_t i = 0; i < n; ++i) idx_[size_t(i)] = int32_t(uint32_t(keys_[size_t(i)]));
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

TokenPenalties::TokenPenalties(float presence_penalty, float frequency_penalty)
    : presence_(presence_penalty), frequency_(frequency_penalty) {
  if (!(presence_penalty >= -2 && presence_penalty <= 2))
    fail(ErrorKind::kInvalidArgument, "presence_penalty must be in [-2, 2] (got {})", presence_penalty);
  if (!(frequency_penalty >= -2 && frequency_penalty <= 2))
    fail(ErrorKind::kInvalidArgument, "frequency_penalty must be in [-2, 2] (got {})", frequency_penalty);
}

void TokenPenalties::add(int32_t token) {
  auto it = std::lower_bound(counts_.begin(), counts_.end(), std::make_pair(token, INT32_MIN));
  if (it != counts_.end() && it->first == token) ++it->second;
  else counts_.insert(it, {token, 1});
}

int64_t TokenPenalties::count(int32_t token) const {
  auto it = std::lower_bound(counts_.begin(), counts_.end(), std::make_pair(token, INT32_MIN));
  return it != counts_.end() && it->first == token ? it->second : 0;
}

void TokenPenalties::apply(float* logits, int64_t V) const {
  if (!active()) return;
  for (const auto& [tok, n] : counts_)
    if (tok >= 0 && tok < V) logits[tok] -= float(n) * frequency_ + presence_;
}

TokenLogprobs token_logprobs(const float* logits, int64_t V, int32_t token, int64_t k) {
  auto key = [&](int64_t i) { return std::isnan(logits[i]) ? -INFINITY : logits[i]; };
  double mx = -INFINITY;
  for (int64_t i = 0; i < V; ++i) mx = std::max(mx, double(key(i)));
  double z = 0;
  if (std::isfinite(mx))
    for (int64_t i = 0; i < V; ++i) z += std::exp(double(key(i)) - mx);
  // log p_i = l_i - (max + log z); with no finite logit at all every id gets -inf.
  const double lse = std::isfinite(mx) ? mx + std::log(z) : INFINITY;
  auto logp = [&](int64_t i) { return float(double(key(i)) - lse); };
  TokenLogprobs out;
  out.logprob = token >= 0 && token < V ? logp(token) : -INFINITY;
  k = std::clamp<int64_t>(k, 0, V);
  if (k > 0) {
    std::vector<int32_t> idx(static_cast<size_t>(V));
    std::iota(idx.begin(), idx.end(), 0);
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                      [&](int32_t a, int32_t b) { return key(a) > key(b) || (key(a) == key(b) && a < b); });
    for (int64_t i = 0; i < k; ++i) out.top.emplace_back(idx[size_t(i)], logp(idx[size_t(i)]));
  }
  return out;
}

}  // namespace frugal

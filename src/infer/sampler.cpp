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

namespace {

// NaN logits rank below everything (as -inf) so they are never drawn and the order stays strict.
inline float rank_logit(const float* logits, int64_t i) { return std::isnan(logits[i]) ? -INFINITY : logits[i]; }

}  // namespace

void sampling_distribution_ref(const SamplingParams& p, const float* logits, int64_t V, std::vector<int32_t>* ids,
                               std::vector<float>* probs) {
  ids->clear();
  probs->clear();
  if (p.temperature == 0) {
    ids->push_back(argmax(logits, V));
    probs->push_back(1.0f);
    return;
  }
  // Every id sorted by logit, descending (ties: lower id first), then the filters in order.
  std::vector<int32_t> idx(static_cast<size_t>(V));
  std::iota(idx.begin(), idx.end(), 0);
  auto key = [&](int32_t i) { return rank_logit(logits, i); };
  std::sort(idx.begin(), idx.end(), [&](int32_t a, int32_t b) { return key(a) > key(b) || (key(a) == key(b) && a < b); });
  int64_t n = p.top_k > 0 && p.top_k < V ? p.top_k : V;
  const double inv_t = 1.0 / double(p.temperature), top = double(key(idx[0]));
  if (!std::isfinite(top)) {  // no finite logit at all: nothing better to draw than the first
    ids->push_back(idx[0]);
    probs->push_back(1.0f);
    return;
  }
  // Softmax of logits / temperature over the candidates (f32 terms summed in double).
  std::vector<float> prob(static_cast<size_t>(n));
  double z = 0;
  for (int64_t i = 0; i < n; ++i) z += (prob[size_t(i)] = float(std::exp((double(key(idx[size_t(i)])) - top) * inv_t)));
  for (int64_t i = 0; i < n; ++i) prob[size_t(i)] = float(prob[size_t(i)] / z);
  if (p.top_p < 1.0f) {
    double cum = 0;
    int64_t keep = n;
    for (int64_t i = 0; i < n; ++i) {
      cum += prob[size_t(i)];
      // Inclusive, with slack for float rounding: p = {0.5, 0.3, ...} at top_p 0.8 keeps two.
      if (cum >= double(p.top_p) - 1e-6) { keep = i + 1; break; }
    }
    n = keep;
  }
  if (p.min_p > 0) {
    const float floor_p = p.min_p * prob[0];
    int64_t keep = 1;
    while (keep < n && prob[size_t(keep)] >= floor_p) ++keep;
    n = keep;
  }
  ids->assign(idx.begin(), idx.begin() + n);
  probs->assign(prob.begin(), prob.begin() + n);
}

// The fast path computes the same distribution without sorting the vocabulary: top-k is a
// selection (nth_element), the softmax normaliser sums over the candidates in whatever order they
// are, and top-p / min-p select sets (see below). Without top-p / min-p the draw walks the
// candidates unsorted, which gives each id the same probability. Differences from the
// reference: double sums taken in another order (last-ulp effects at the top-p boundary), and
// which id a given uniform draw lands on (not its probability).
void Sampler::distribution(const float* logits, int64_t V) {
  idx_.clear();
  prob_.clear();
  if (p_.temperature == 0) {
    idx_.push_back(argmax(logits, V));
    prob_.push_back(1.0f);
    return;
  }
  keys_.resize(size_t(V));
  for (int64_t i = 0; i < V; ++i) keys_[size_t(i)] = rank_key(rank_logit(logits, i), int32_t(i));
  const int64_t n = p_.top_k > 0 && p_.top_k < V ? p_.top_k : V;
  if (n < V) std::nth_element(keys_.begin(), keys_.begin() + (n - 1), keys_.end());  // [0, n): the top n
  auto id_of = [](uint64_t k) { return int32_t(uint32_t(k)); };
  const uint64_t first = *std::min_element(keys_.begin(), keys_.begin() + n);
  const double inv_t = 1.0 / double(p_.temperature), top = double(rank_logit(logits, id_of(first)));
  if (!std::isfinite(top)) {
    idx_.push_back(id_of(first));
    prob_.push_back(1.0f);
    return;
  }
  // Unnormalised weights by id (each exp once), then z over the candidates.
  weight_.resize(size_t(V));
  double z = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int32_t id = id_of(keys_[size_t(i)]);
    z += (weight_[size_t(id)] = float(std::exp((double(rank_logit(logits, id)) - top) * inv_t)));
  }
  auto prob_of = [&](uint64_t k) { return float(weight_[size_t(id_of(k))] / z); };
  if (p_.top_p >= 1.0f && p_.min_p <= 0) {  // no filter needs the order
    idx_.resize(size_t(n));
    prob_.resize(size_t(n));
    for (int64_t i = 0; i < n; ++i) {
      idx_[size_t(i)] = id_of(keys_[size_t(i)]);
      prob_[size_t(i)] = prob_of(keys_[size_t(i)]);
    }
    return;
  }
  // top-p: the best 64 sorted first (a heap selection, O(V)); a language model's nucleus is
  // usually inside them. A wider one is completed by a mass-weighted quickselect over the rest
  // (expected O(V)): it yields the same set as walking the full sort, in no particular order,
  // which a draw does not mind (each id keeps its probability).
  int64_t keep = n;
  const int64_t head = std::min<int64_t>(n, 64);
  std::partial_sort(keys_.begin(), keys_.begin() + head, keys_.begin() + n);
  if (p_.top_p < 1.0f) {
    const double target = double(p_.top_p) - 1e-6;  // as in the reference
    double cum = 0;
    keep = -1;
    for (int64_t i = 0; i < head && keep < 0; ++i)
      if ((cum += prob_of(keys_[size_t(i)])) >= target) keep = i + 1;
    if (keep < 0) keep = select_mass(head, n, target - cum, prob_of);
  }
  // min-p keeps ids with p >= min_p · p_max; p falls with rank, so this is the reference's prefix.
  const float floor_p = p_.min_p > 0 ? p_.min_p * prob_of(keys_[0]) : 0.0f;
  for (int64_t i = 0; i < keep; ++i) {
    const float pr = prob_of(keys_[size_t(i)]);
    if (i > 0 && pr < floor_p) {
      if (i < head) break;  // sorted part: everything after is smaller still
      continue;
    }
    idx_.push_back(id_of(keys_[size_t(i)]));
    prob_.push_back(pr);
  }
}

// keys_[lo, hi) is partitioned so that its smallest keys (best ranks) whose probabilities first
// sum to >= need come first, in no order; returns the end of that prefix (hi if they never do).
template <typename ProbOf>
int64_t Sampler::select_mass(int64_t lo, int64_t hi, double need, const ProbOf& prob_of) {
  while (lo < hi && need > 0) {
    uint64_t a = keys_[size_t(lo)], b = keys_[size_t(lo + (hi - lo) / 2)], c = keys_[size_t(hi - 1)];
    const uint64_t pivot = std::max(std::min(a, b), std::min(std::max(a, b), c));  // median of three
    const int64_t mid = std::partition(keys_.begin() + lo, keys_.begin() + hi, [&](uint64_t k) { return k < pivot; }) -
                        keys_.begin();
    double mass = 0;
    for (int64_t i = lo; i < mid; ++i) mass += prob_of(keys_[size_t(i)]);
    if (mass >= need) {  // the prefix ends inside the better part
      hi = mid;
      continue;
    }
    // Take the better part and the pivot (keys are unique: it is at mid or later).
    std::iter_swap(keys_.begin() + mid, std::find(keys_.begin() + mid, keys_.begin() + hi, pivot));
    need -= mass + prob_of(pivot);
    lo = mid + 1;
  }
  return lo;
}

void Sampler::distribution(const float* logits, int64_t vocab, std::vector<int32_t>* ids,
                           std::vector<float>* probs) {
  distribution(logits, vocab);
  *ids = idx_;
  *probs = prob_;
}

int32_t Sampler::sample(const float* logits, int64_t V) {
  if (p_.temperature == 0) return argmax(logits, V);
  distribution(logits, V);
  const int64_t n = int64_t(idx_.size());
  if (n == 1) return idx_[0];
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

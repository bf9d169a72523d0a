#include "posttrain/logprobs.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "model/kv_cache.h"

namespace frugal {

void row_scores(const float* logits, int64_t V, int32_t y, float* logp, float* entropy) {
  double m = logits[0];
  for (int64_t v = 1; v < V; ++v) m = std::max(m, double(logits[v]));
  double z = 0, zl = 0;  // Σ e^(l−m), Σ e^(l−m)·(l−m)
  for (int64_t v = 0; v < V; ++v) {
    const double d = double(logits[v]) - m, e = std::exp(d);
    z += e;
    zl += e * d;
  }
  const double lse = std::log(z);
  *logp = float(double(logits[y]) - m - lse);
  *entropy = float(lse - zl / z);  // −Σ p log p with log p = d − lse
}

std::vector<TokenScores> score_completions(Transformer& model, const std::vector<int32_t>& prompt,
                                           const std::vector<std::vector<int32_t>>& completions) {
  const DeepSeekConfig& cfg = model.config();
  const int64_t V = cfg.vocab_size, P = int64_t(prompt.size());
  if (P == 0) fail(ErrorKind::kInvalidArgument, "score_completions: empty prompt");
  int64_t longest = 0;
  for (const auto& c : completions) {
    longest = std::max(longest, int64_t(c.size()));
    for (int32_t id : c)
      if (id < 0 || id >= V) fail(ErrorKind::kInvalidArgument, "completion token id {} is outside the vocabulary [0, {})", id, V);
  }
  if (cfg.max_position_embeddings > 0 && P + longest > cfg.max_position_embeddings)
    fail(ErrorKind::kInvalidArgument, "prompt ({}) + completion ({}) tokens exceed the context of {}", P, longest,
         cfg.max_position_embeddings);
  LatentKvCache base = model.make_cache(P + std::max<int64_t>(longest, 1));
  std::vector<float> last(static_cast<size_t>(V));  // [1, V]: the row that predicts completion[0]
  ForwardOptions first;
  first.all_logits = false;
  model.forward(prompt.data(), P, base, last.data(), first);
  std::vector<TokenScores> out(completions.size());
  std::vector<float> logits;
  for (size_t i = 0; i < completions.size(); ++i) {
    const std::vector<int32_t>& c = completions[i];
    const int64_t n = int64_t(c.size());
    TokenScores& s = out[i];
    s.logp.resize(size_t(n));
    s.entropy.resize(size_t(n));
    if (n == 0) continue;
    row_scores(last.data(), V, c[0], &s.logp[0], &s.entropy[0]);
    if (n == 1) continue;
    LatentKvCache cache = base;  // the prompt's rows; the copy continues with this completion
    logits.resize(size_t((n - 1) * V));  // [n − 1, V]: row t predicts c[t + 1]
    model.forward(c.data(), n - 1, cache, logits.data());
    for (int64_t t = 1; t < n; ++t) row_scores(logits.data() + (t - 1) * V, V, c[size_t(t)], &s.logp[size_t(t)], &s.entropy[size_t(t)]);
  }
  return out;
}

}  // namespace frugal

#include "posttrain/grpo.h"

#include <cmath>

#include "core/error.h"

namespace frugal {

std::vector<double> group_advantages(std::span<const double> rewards, int64_t G, AdvantageScale scale, double eps) {
  if (G < 1) fail(ErrorKind::kInvalidArgument, "group size G = {}: must be >= 1", G);
  if (rewards.size() % size_t(G) != 0)
    fail(ErrorKind::kInvalidArgument, "{} rewards do not split into groups of G = {}", rewards.size(), G);
  if (!(eps >= 0)) fail(ErrorKind::kInvalidArgument, "advantage eps = {}: must be >= 0", eps);
  for (size_t i = 0; i < rewards.size(); ++i)
    if (!std::isfinite(rewards[i])) fail(ErrorKind::kInvalidArgument, "reward {} is {} (must be finite)", i, rewards[i]);
  std::vector<double> adv(rewards.size(), 0.0);
  for (size_t g0 = 0; g0 < rewards.size(); g0 += size_t(G)) {
    const std::span<const double> r = rewards.subspan(g0, size_t(G));
    bool all_equal = true;
    for (double v : r) all_equal = all_equal && v == r[0];
    if (all_equal) continue;  // exactly 0; G >= 2 here
    double mean = 0;
    for (double v : r) mean += v;
    mean /= double(G);
    double ss = 0;
    for (double v : r) ss += (v - mean) * (v - mean);
    const double denom = scale == AdvantageScale::kGroupStd ? std::sqrt(ss / double(G - 1)) + eps : 1.0;
    for (size_t j = 0; j < size_t(G); ++j) adv[g0 + j] = (r[j] - mean) / denom;
  }
  return adv;
}

const char* loss_norm_name(LossNorm n) {
  return n == LossNorm::kSequence ? "sequence" : n == LossNorm::kToken ? "token" : "constant";
}

GrpoResult grpo_loss(const std::vector<GrpoSequence>& seqs, const GrpoSettings& s, bool with_grad) {
  if (!(s.epsilon_low >= 0 && s.epsilon_low < 1) || !(s.epsilon_high >= 0))
    fail(ErrorKind::kInvalidArgument, "epsilon = ({}, {}): need 0 <= epsilon_low < 1 and epsilon_high >= 0",
         s.epsilon_low, s.epsilon_high);
  if (!(s.beta >= 0)) fail(ErrorKind::kInvalidArgument, "beta = {}: must be >= 0", s.beta);
  const double S = double(seqs.size());
  int64_t total_tokens = 0;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const GrpoSequence& q = seqs[i];
    const size_t n = q.logp.size();
    if (q.old_logp.size() != n || (s.beta > 0 && q.ref_logp.size() != n))
      fail(ErrorKind::kInvalidArgument, "completion {}: {} log-probabilities, {} old, {} reference", i, n,
           q.old_logp.size(), q.ref_logp.size());
    if (!std::isfinite(q.advantage)) fail(ErrorKind::kInvalidArgument, "completion {}: advantage {}", i, q.advantage);
    if (s.norm == LossNorm::kConstant && (s.max_completion_length < 1 || int64_t(n) > s.max_completion_length))
      fail(ErrorKind::kInvalidArgument, "completion {}: {} tokens with max_completion_length = {} (constant norm)", i, n,
           s.max_completion_length);
    total_tokens += int64_t(n);
  }
  GrpoResult res;
  res.tokens = total_tokens;
  if (with_grad) res.grad.resize(seqs.size());
  int64_t clipped = 0;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const GrpoSequence& q = seqs[i];
    const size_t n = q.logp.size();
    const double c = s.norm == LossNorm::kSequence ? 1.0 / (S * double(n > 0 ? n : 1))
                     : s.norm == LossNorm::kToken  ? 1.0 / double(total_tokens > 0 ? total_tokens : 1)
                                                   : 1.0 / (S * double(s.max_completion_length));
    const double A = q.advantage;
    if (with_grad) res.grad[i].assign(n, 0.0);
    for (size_t t = 0; t < n; ++t) {
      const double x = q.logp[t], x_old = q.old_logp[t];
      const double r = s.beta > 0 ? double(q.ref_logp[t]) : x;
      if (!std::isfinite(x) || !std::isfinite(x_old) || !std::isfinite(r))
        fail(ErrorKind::kInvalidArgument, "completion {} token {}: non-finite log-probability ({}, old {}, ref {})", i,
             t, x, x_old, r);
      const double rho = std::exp(x - x_old);
      const bool clip = (A > 0 && rho > 1 + s.epsilon_high) || (A < 0 && rho < 1 - s.epsilon_low);
      const double rho_c = std::min(std::max(rho, 1 - s.epsilon_low), 1 + s.epsilon_high);
      const double surr = std::min(rho * A, rho_c * A);
      const double e = std::exp(r - x);
      const double k3 = e - (r - x) - 1;
      res.surrogate += c * surr;
      res.kl += c * k3;
      res.loss += c * (-surr + s.beta * k3);
      clipped += clip;
      if (with_grad) res.grad[i][t] = c * ((clip ? 0.0 : -rho * A) + s.beta * (1 - e));
    }
  }
  res.clip_fraction = total_tokens > 0 ? double(clipped) / double(total_tokens) : 0.0;
  return res;
}

}  // namespace frugal

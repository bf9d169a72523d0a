// The GRPO objective (posttrain/grpo.h): advantages, the loss against a plain double-precision
// re-implementation, its gradient against central differences, and the per-token weights
// through the weighted cross-entropy kernel against central differences over the logits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/rng.h"
#include "grad_check.h"
#include "kernels/ops.h"
#include "posttrain/grpo.h"
#include "test_util.h"

namespace frugal {
namespace {

TEST(GrpoAdvantages, GroupNormalised) {
  // By hand: {1, 0, 0, 1}: mean 0.5, sample sd sqrt(1/3); {3, 1, 2}: mean 2, sd 1.
  const std::vector<double> r = {1, 0, 0, 1, 3, 1, 2};
  test::expect_error([&] { group_advantages(r, 4); }, ErrorKind::kInvalidArgument, {"groups of G = 4"});
  const std::vector<double> r2 = {1, 0, 0, 1, 3, 1, 2, 2};
  std::vector<double> a = group_advantages(r2, 4);
  const double sd = std::sqrt(1.0 / 3);
  EXPECT_DOUBLE_EQ(a[0], 0.5 / (sd + 1e-4));
  EXPECT_DOUBLE_EQ(a[1], -0.5 / (sd + 1e-4));
  // Second group {3, 1, 2, 2}: mean 2, sample sd sqrt(2/3).
  EXPECT_DOUBLE_EQ(a[4], 1 / (std::sqrt(2.0 / 3) + 1e-4));
  EXPECT_EQ(a[6], 0.0);
  a = group_advantages(r2, 4, AdvantageScale::kNone);
  EXPECT_EQ(a, (std::vector<double>{0.5, -0.5, -0.5, 0.5, 1, -1, 0, 0}));
}

TEST(GrpoAdvantages, EqualRewardsGiveExactlyZeroNeverNaN) {
  // 0.1 · 3 / 3 != 0.1 in floating point: a naive mean would leave tiny non-zero advantages
  // divided by eps, and G = 1 has no sample sd at all (0/0).
  const std::vector<double> r = {0.1, 0.1, 0.1, 7, 7, 7, 0.3};
  for (int64_t G : {1, 3}) {
    const std::vector<double> a = group_advantages(std::span(r).first(G == 1 ? 7 : 6), G);
    for (double v : a) EXPECT_EQ(v, 0.0);
  }
  const std::vector<double> a = group_advantages(r, 1, AdvantageScale::kGroupStd, 0.0);  // eps 0 too
  for (double v : a) EXPECT_EQ(v, 0.0);
  test::expect_error([] { group_advantages(std::vector<double>{1, std::nan("")}, 2); }, ErrorKind::kInvalidArgument,
                     {"reward 1 is nan"});
  test::expect_error([] { group_advantages(std::vector<double>{1}, 0); }, ErrorKind::kInvalidArgument, {"G = 0"});
}

// The loss straight from its definition, in double (independent of grpo.cpp's arrangement).
double loss_ref(const std::vector<std::vector<double>>& x, const std::vector<std::vector<double>>& x_old,
                const std::vector<std::vector<double>>& ref, const std::vector<double>& A, const GrpoSettings& s) {
  double total = 0, n_all = 0;
  for (const auto& v : x) n_all += double(v.size());
  for (size_t i = 0; i < x.size(); ++i) {
    double seq = 0;
    for (size_t t = 0; t < x[i].size(); ++t) {
      const double rho = std::exp(x[i][t] - x_old[i][t]);
      const double clipped = std::clamp(rho, 1 - s.epsilon_low, 1 + s.epsilon_high);
      const double kl = std::exp(ref[i][t] - x[i][t]) - (ref[i][t] - x[i][t]) - 1;
      seq += -std::min(rho * A[i], clipped * A[i]) + s.beta * kl;
    }
    if (s.norm == LossNorm::kSequence) total += seq / double(std::max<size_t>(x[i].size(), 1)) / double(x.size());
    if (s.norm == LossNorm::kToken) total += seq / n_all;
    if (s.norm == LossNorm::kConstant) total += seq / double(x.size()) / double(s.max_completion_length);
  }
  return total;
}

struct Batch {
  std::vector<std::vector<float>> x, x_old, ref;
  std::vector<double> A;
  std::vector<GrpoSequence> seqs() const {
    std::vector<GrpoSequence> out;
    for (size_t i = 0; i < x.size(); ++i) out.push_back({x[i], x_old[i], ref[i], A[i]});
    return out;
  }
};

// Completions of 0 to 7 tokens; ρ spread over [0.55, 1.5] so both clip sides are hit.
Batch random_batch(uint64_t seed) {
  Rng rng(seed);
  Batch b;
  const std::vector<size_t> lens = {5, 7, 1, 0, 4, 6};
  for (size_t i = 0; i < lens.size(); ++i) {
    b.x.emplace_back();
    b.x_old.emplace_back();
    b.ref.emplace_back();
    for (size_t t = 0; t < lens[i]; ++t) {
      const float x = -0.1f - 3 * rng.uniform();
      b.x.back().push_back(x);
      b.x_old.back().push_back(x + 0.8f * (rng.uniform() - 0.5f) + 0.05f);
      b.ref.back().push_back(x + 0.6f * (rng.uniform() - 0.5f));
    }
    b.A.push_back(i % 3 == 2 ? 0.0 : (i % 2 ? -1.0 : 1.0) * (0.3 + rng.uniform()));
  }
  return b;
}

std::vector<std::vector<double>> as_double(const std::vector<std::vector<float>>& v) {
  std::vector<std::vector<double>> out;
  for (const auto& r : v) out.emplace_back(r.begin(), r.end());
  return out;
}

TEST(GrpoLoss, ValueAndGradientMatchDefinitionAndFiniteDifferences) {
  for (LossNorm norm : {LossNorm::kSequence, LossNorm::kToken, LossNorm::kConstant}) {
    SCOPED_TRACE(loss_norm_name(norm));
    GrpoSettings s;
    s.epsilon_low = 0.2;
    s.epsilon_high = 0.28;
    s.beta = 0.1;
    s.norm = norm;
    s.max_completion_length = 8;
    const Batch b = random_batch(11);
    const GrpoResult r = grpo_loss(b.seqs(), s, true);
    std::vector<std::vector<double>> x = as_double(b.x);
    const auto x_old = as_double(b.x_old), ref = as_double(b.ref);
    EXPECT_NEAR(r.loss, loss_ref(x, x_old, ref, b.A, s), 1e-12);
    EXPECT_EQ(r.tokens, 23);
    EXPECT_GT(r.clip_fraction, 0.05);  // the data reach both clipped regions ...
    EXPECT_LT(r.clip_fraction, 0.6);   // ... and the unclipped one
    EXPECT_NEAR(r.loss, -r.surrogate + s.beta * r.kl, 1e-12);
    EXPECT_GT(r.kl, 0);
    int checked = 0;
    for (size_t i = 0; i < x.size(); ++i)
      for (size_t t = 0; t < x[i].size(); ++t) {
        const double rho = std::exp(x[i][t] - x_old[i][t]);
        if (std::fabs(rho - 1.28) < 1e-5 || std::fabs(rho - 0.8) < 1e-5) continue;  // a kink of the min
        const double fd = test::fd_grad_at(&x[i], t, [&] { return loss_ref(x, x_old, ref, b.A, s); });
        EXPECT_NEAR(r.grad[i][t], fd, 1e-8 + 1e-6 * std::fabs(fd)) << i << "," << t;
        ++checked;
      }
    EXPECT_EQ(checked, 23);
  }
}

TEST(GrpoLoss, OnPolicyWithoutKlIsMinusTheMeanAdvantage) {
  // ρ = 1, β = 0: the surrogate is A and its gradient −c·A (the plain policy gradient).
  Batch b = random_batch(3);
  b.x_old = b.x;
  GrpoSettings s;
  s.beta = 0;
  s.norm = LossNorm::kSequence;
  const GrpoResult r = grpo_loss(b.seqs(), s, true);
  double want = 0;
  for (size_t i = 0; i < b.A.size(); ++i)
    if (!b.x[i].empty()) want -= b.A[i] / double(b.A.size());
  EXPECT_NEAR(r.loss, want, 1e-12);
  EXPECT_EQ(r.clip_fraction, 0.0);
  EXPECT_EQ(r.kl, 0.0);
  for (size_t i = 0; i < b.A.size(); ++i)
    for (double g : r.grad[i]) EXPECT_NEAR(g, -b.A[i] / double(b.A.size()) / double(b.x[i].size()), 1e-15);
}

TEST(GrpoLoss, BadInput) {
  Batch b = random_batch(5);
  GrpoSettings s;
  b.ref[1].pop_back();
  test::expect_error([&] { grpo_loss(b.seqs(), s, false); }, ErrorKind::kInvalidArgument, {"completion 1"});
  b = random_batch(5);
  b.x[0][2] = -INFINITY;
  test::expect_error([&] { grpo_loss(b.seqs(), s, false); }, ErrorKind::kInvalidArgument, {"completion 0 token 2"});
  b = random_batch(5);
  s.norm = LossNorm::kConstant;
  s.max_completion_length = 3;  // completion 0 has 5 tokens
  test::expect_error([&] { grpo_loss(b.seqs(), s, false); }, ErrorKind::kInvalidArgument, {"max_completion_length"});
  s = GrpoSettings{};
  s.epsilon_low = 1;
  test::expect_error([&] { grpo_loss(b.seqs(), s, false); }, ErrorKind::kInvalidArgument, {"epsilon"});
}

// log-softmax of row t at id y, in double.
double log_prob(const std::vector<double>& logits, int64_t V, int64_t t, int32_t y) {
  double m = -INFINITY;
  for (int64_t v = 0; v < V; ++v) m = std::max(m, logits[size_t(t * V + v)]);
  double z = 0;
  for (int64_t v = 0; v < V; ++v) z += std::exp(logits[size_t(t * V + v)] - m);
  return logits[size_t(t * V + y)] - m - std::log(z);
}

TEST(GrpoLoss, TokenWeightsGiveTheGradientThroughWeightedCrossEntropy) {
  // Two completions of 3 and 4 tokens over a vocabulary of 9: the kernel's ∂/∂logits with weights
  // −K·g (K = 1, norm 1) must equal central differences of the GRPO loss through log-softmax.
  const int64_t T = 7, V = 9;
  Rng rng(17);
  std::vector<float> logits(static_cast<size_t>(T * V));
  for (float& l : logits) l = 2 * rng.normal();
  std::vector<int32_t> targets(static_cast<size_t>(T));
  for (int32_t& y : targets) y = int32_t(rng.below(uint64_t(V)));
  std::vector<double> ld(logits.begin(), logits.end());
  std::vector<float> x(static_cast<size_t>(T)), x_old(x), ref(x);
  for (int64_t t = 0; t < T; ++t) {
    x[size_t(t)] = float(log_prob(ld, V, t, targets[size_t(t)]));
    x_old[size_t(t)] = x[size_t(t)] + 0.6f * (rng.uniform() - 0.5f);
    ref[size_t(t)] = x[size_t(t)] + 0.5f * (rng.uniform() - 0.5f);
  }
  const std::vector<size_t> start = {0, 3}, len = {3, 4};
  const std::vector<double> A = {0.9, -1.3};
  GrpoSettings s;
  s.beta = 0.2;
  s.norm = LossNorm::kToken;
  auto seqs_of = [&](const std::vector<float>& xs) {
    std::vector<GrpoSequence> q;
    for (size_t i = 0; i < 2; ++i)
      q.push_back({std::span(xs).subspan(start[i], len[i]), std::span(x_old).subspan(start[i], len[i]),
                   std::span(ref).subspan(start[i], len[i]), A[i]});
    return q;
  };
  const GrpoResult r = grpo_loss(seqs_of(x), s, true);
  std::vector<float> w(static_cast<size_t>(T));
  for (size_t i = 0; i < 2; ++i)
    for (size_t t = 0; t < len[i]; ++t) w[start[i] + t] = grpo_token_weight(r.grad[i][t], 1);
  std::vector<float> dlogits(static_cast<size_t>(T * V));
  cross_entropy_forward_backward(logits.data(), targets.data(), T, V, V, dlogits.data(), w.data(), 1.0);

  auto loss_of_logits = [&] {
    std::vector<std::vector<double>> xs(2), xo(2), rf(2);
    for (size_t i = 0; i < 2; ++i)
      for (size_t t = 0; t < len[i]; ++t) {
        const size_t k = start[i] + t;
        xs[i].push_back(log_prob(ld, V, int64_t(k), targets[k]));
        xo[i].push_back(x_old[k]);
        rf[i].push_back(ref[k]);
      }
    return loss_ref(xs, xo, rf, A, s);
  };
  const std::vector<double> fd = test::fd_grad(&ld, loss_of_logits);
  // f32 logits and log-probabilities: errors ~1e-6 relative to the largest entry.
  test::expect_grad_near(dlogits.data(), fd, 2e-5, "dlogits");
}

}  // namespace
}  // namespace frugal

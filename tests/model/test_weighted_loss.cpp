// Per-token loss weights through the whole training model (TokenWeights, model/transformer_train.h),
// on the micro fixture (3 layers, MoE, one MTP module):
//  (a) weights all 1 are bit for bit the unweighted forward/backward;
//  (b) a 0/1 weight mask is bit for bit the same targets masked (< 0) under the same N, in the main
//      head and in the MTP module, which checks that an MTP row takes the weight of the target it
//      predicts; and a zero-weight token's target does not change a single bit;
//  (c) weights −1 negate every cross-entropy gradient exactly;
//  (d) the weighted objective (zero, negative and large weights, the caller's N, MTP and balance
//      terms on) against central finite differences on sampled elements of the tensors each term
//      reaches. Tolerance as in test_transformer_train.cpp's ObjectiveFiniteDifferences: f32 losses
//      carry ~1e-6 absolute noise, so with h = 1e-3 the quotient is good to ~1e-3; we require 2%
//      relative or 2e-3 absolute.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "io/hf_config.h"
#include "io/hf_params.h"
#include "io/npy.h"
#include "model/param_store.h"
#include "model/transformer_train.h"
#include "grad_check.h"
#include "test_util.h"

using namespace frugal;

namespace {

using test::kFixtureDir;

struct WeightedLossFixture {
  DeepSeekConfig cfg = load_hf_config(kFixtureDir + "/micro_f32");
  ParamStore store{cfg, true};
  std::vector<int32_t> inputs, targets;
  int64_t B = 0, T = 0;
  WeightedLossFixture() {
    load_params_hf(kFixtureDir + "/micro_f32", store);
    Tensor ids = npy_read(kFixtureDir + "/oracles/input_ids.npy");
    B = ids.size(0);
    T = ids.size(1);
    const int32_t* p = ids.data_as<int32_t>();
    inputs.assign(p, p + B * T);
    targets.assign(size_t(B * T), -1);  // next token; the last position of each sequence has none
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t + 1 < T; ++t) targets[size_t(b * T + t)] = p[b * T + t + 1];
  }
  std::vector<float> grads() const {
    std::vector<float> all;
    for (const ParamStore::Entry& e : store.entries())
      if (e.trainable) all.insert(all.end(), store.grad(e), store.grad(e) + e.numel);
    return all;
  }
};

TrainOptions full_objective() {
  TrainOptions opt;
  opt.mtp_weight = 0.3;
  opt.aux_alpha = 1e-2;
  opt.loss_scale = 0.5;
  return opt;
}

struct Result {
  StepLosses losses;
  std::vector<float> grads;
};

Result run_fb(WeightedLossFixture& fx, TrainModel& model, const std::vector<int32_t>& targets, const TrainOptions& opt,
        const TokenWeights& tw) {
  fx.store.zero_grad();
  Result r;
  r.losses = model.forward_backward(fx.inputs.data(), targets.data(), fx.B, fx.T, opt, tw);
  r.grads = fx.grads();
  return r;
}

void expect_same(const Result& a, const Result& b, const char* what) {
  EXPECT_EQ(a.losses.main, b.losses.main) << what;
  EXPECT_EQ(a.losses.mtp, b.losses.mtp) << what;
  EXPECT_EQ(a.losses.balance + a.losses.balance_mtp, b.losses.balance + b.losses.balance_mtp) << what;
  ASSERT_EQ(a.grads.size(), b.grads.size());
  size_t differ = 0;
  for (size_t i = 0; i < a.grads.size(); ++i) differ += a.grads[i] != b.grads[i];
  EXPECT_EQ(differ, 0u) << what << ": gradient elements that differ";
}

TEST(WeightedLoss, UnitWeightsBitIdenticalToUnweighted) {
  WeightedLossFixture fx;
  TrainModel model(fx.cfg, fx.store.params());
  const std::vector<float> ones(fx.targets.size(), 1.0f);
  for (Recompute rc : {Recompute::kNone, Recompute::kFull}) {
    TrainOptions opt = full_objective();
    opt.recompute = rc;
    const Result plain = run_fb(fx, model, fx.targets, opt, {});
    const Result weighted = run_fb(fx, model, fx.targets, opt, {ones.data(), 0});
    expect_same(plain, weighted, "weights 1");
    EXPECT_GT(plain.losses.mtp, 0);
  }
}

TEST(WeightedLoss, ZeroWeightsAreMaskedTargets) {
  WeightedLossFixture fx;
  TrainModel model(fx.cfg, fx.store.params());
  const TrainOptions opt = full_objective();
  // A prompt/response-like mask: the first 5 positions of sequence 0 and the first 8 of sequence 1
  // are "prompt" (weight 0), the rest "response" (weight 1).
  std::vector<float> mask(fx.targets.size(), 1.0f);
  std::vector<int32_t> masked = fx.targets;
  for (int64_t b = 0; b < fx.B; ++b)
    for (int64_t t = 0; t < (b == 0 ? 5 : 8); ++t) {
      mask[size_t(b * fx.T + t)] = 0.0f;
      masked[size_t(b * fx.T + t)] = -1;
    }
  const double n_resp = 6 + 3;  // scored response targets: positions 5..10 and 8..10
  const Result by_weight = run_fb(fx, model, fx.targets, opt, {mask.data(), n_resp});
  const std::vector<float> ones(fx.targets.size(), 1.0f);
  const Result by_target = run_fb(fx, model, masked, opt, {ones.data(), n_resp});
  expect_same(by_weight, by_target, "weight 0 vs target -1");
  // N = the response count makes the main term the mean over response tokens, like plain masking.
  const Result plain = run_fb(fx, model, masked, opt, {});
  EXPECT_EQ(plain.losses.main_count, 9);
  EXPECT_NEAR(by_weight.losses.main, plain.losses.main, 1e-12 * plain.losses.main);
  // What a zero-weight token's target is does not matter at all.
  std::vector<int32_t> other = fx.targets;
  for (size_t i = 0; i < other.size(); ++i)
    if (mask[i] == 0.0f && other[i] >= 0) other[i] = (other[i] + 7) % int32_t(fx.cfg.vocab_size);
  expect_same(by_weight, run_fb(fx, model, other, opt, {mask.data(), n_resp}), "zero-weight targets changed");
}

TEST(WeightedLoss, NegativeWeightsNegateTheGradient) {
  WeightedLossFixture fx;
  TrainModel model(fx.cfg, fx.store.params());
  TrainOptions opt = full_objective();
  opt.aux_alpha = 0;  // the balance term is not weighted
  const std::vector<float> minus(fx.targets.size(), -1.0f);
  const Result plain = run_fb(fx, model, fx.targets, opt, {});
  const Result neg = run_fb(fx, model, fx.targets, opt, {minus.data(), 0});
  EXPECT_EQ(neg.losses.main, -plain.losses.main);
  EXPECT_EQ(neg.losses.mtp, -plain.losses.mtp);
  size_t differ = 0, nonzero = 0;
  for (size_t i = 0; i < plain.grads.size(); ++i) {
    differ += neg.grads[i] != -plain.grads[i];
    nonzero += plain.grads[i] != 0.0f;
  }
  EXPECT_EQ(differ, 0u);
  EXPECT_GT(nonzero, plain.grads.size() / 2);
}

TEST(WeightedLoss, ObjectiveFiniteDifferences) {
  WeightedLossFixture fx;
  TrainModel model(fx.cfg, fx.store.params());
  TrainOptions opt;
  opt.mtp_weight = 0.3;
  opt.aux_alpha = 0.05;
  // Advantage-like weights of both signs, some zero, one large; a caller's N.
  std::vector<float> w(fx.targets.size());
  for (size_t i = 0; i < w.size(); ++i) w[i] = i % 5 == 0 ? 0.0f : float(int(i % 7) - 3) * 0.6f;
  w[3] = 4.0f;
  const TokenWeights tw{w.data(), 7.0};
  auto objective = [&] {
    StepLosses l = model.evaluate(fx.inputs.data(), fx.targets.data(), fx.B, fx.T, opt, tw);
    return l.main + opt.mtp_weight * l.mtp + l.balance + l.balance_mtp;
  };
  fx.store.zero_grad();
  model.forward_backward(fx.inputs.data(), fx.targets.data(), fx.B, fx.T, opt, tw);
  const char* names[] = {"lm_head.weight", "model.embed_tokens.weight", "model.norm.weight",
                         "model.layers.2.mlp.shared_experts.down_proj.weight", "model.layers.0.self_attn.kv_a_proj_with_mqa.weight",
                         "model.layers.3.eh_proj.weight", "model.layers.3.shared_head.norm.weight",
                         "model.layers.3.mlp.gate.weight"};
  int compared = 0;
  for (const char* name : names) {
    const ParamStore::Entry* e = fx.store.find(name);
    ASSERT_NE(e, nullptr) << name;
    float* v = fx.store.value(*e);
    const float* g = fx.store.grad(*e);
    const int64_t best = test::argmax_abs(g, e->numel);
    EXPECT_GT(std::fabs(g[best]), 1e-3) << name << ": no gradient to check";
    for (int64_t i : {best, e->numel / 3, e->numel - 1}) {
      const double fd = test::fd_grad_at_f32(v, i, objective);
      EXPECT_NEAR(g[i], fd, 2e-3 + 0.02 * std::fabs(fd)) << name << " element " << i;
      ++compared;
    }
  }
  EXPECT_EQ(compared, 24);
}

TEST(WeightedLoss, BadWeightsAreErrors) {
  WeightedLossFixture fx;
  TrainModel model(fx.cfg, fx.store.params());
  std::vector<float> w(fx.targets.size(), 1.0f);
  w[4] = std::nanf("");
  EXPECT_THROW(model.evaluate(fx.inputs.data(), fx.targets.data(), fx.B, fx.T, TrainOptions{}, {w.data(), 0}), Error);
  w[4] = 1.0f;
  EXPECT_THROW(model.evaluate(fx.inputs.data(), fx.targets.data(), fx.B, fx.T, TrainOptions{}, {w.data(), -1.0}),
               Error);
}

}  // namespace

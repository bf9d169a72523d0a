// Whole-model training checks against the PyTorch fixture (tests/data/fixtures/oracles,
// train_micro_f32.*): main / MTP / balance losses, expert loads, the gradient of every parameter,
// the routing-bias update; plus recompute modes bit-identical and finite differences of the
// assembled objective (MTP and balance terms included, which the fixture gradients leave out).
//
// Gradient tolerance: the oracle is the same f32 arithmetic in a different order (PyTorch vs our
// GEMM blocking and reductions). Over 3 layers such reordering drifts ~1e-6 relative; the largest
// gradients are ~1e-1, so 2e-6 absolute + 2e-4 relative catches any real error (a missing term
// shows up at >= 1e-3 relative) while tolerating rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "io/hf_config.h"
#include "io/hf_params.h"
#include "io/npy.h"
#include "io/safetensors.h"
#include "model/moe_train.h"
#include "model/param_store.h"
#include "model/transformer_train.h"
#include "grad_check.h"
#include "test_util.h"

using namespace frugal;

namespace {

using test::kFixtureDir;

struct TrainFixtureData {
  DeepSeekConfig cfg = load_hf_config(kFixtureDir + "/micro_f32");
  ParamStore store{cfg, true};
  std::vector<int32_t> inputs, targets;
  int64_t B = 0, T = 0;
  nlohmann::json oracle;
  TrainFixtureData() {
    load_params_hf(kFixtureDir + "/micro_f32", store);
    Tensor ids = npy_read(kFixtureDir + "/oracles/input_ids.npy");
    B = ids.size(0);
    T = ids.size(1);
    const int32_t* p = ids.data_as<int32_t>();
    inputs.assign(p, p + B * T);
    // The oracle runs all 12 positions (balance loss and loads count every token) and scores
    // positions 0..10: the last target of each sequence is masked.
    targets.assign(size_t(B * T), -1);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t + 1 < T; ++t) targets[size_t(b * T + t)] = p[b * T + t + 1];
    std::ifstream f(kFixtureDir + "/oracles/train_micro_f32.json");
    oracle = nlohmann::json::parse(f);
  }
};

TEST(TrainFixture, LossesAndLoadsMatchOracle) {
  TrainFixtureData fx;
  TrainModel model(fx.cfg, fx.store.params());
  TrainOptions opt;
  opt.mtp_weight = 1.0;
  opt.aux_alpha = 1e-4;
  StepLosses l = model.evaluate(fx.inputs.data(), fx.targets.data(), fx.B, fx.T, opt);
  EXPECT_NEAR(l.main, fx.oracle["main_loss"]["value"].get<double>(), 2e-6);
  EXPECT_EQ(l.main_count, 22);
  EXPECT_NEAR(l.mtp, fx.oracle["mtp_loss"]["value"].get<double>(), 2e-6);
  EXPECT_EQ(l.mtp_count, 20);
  // The balance loss: the documented formula evaluated on the PyTorch reference's own routing
  // (tools/dsv3_ref.py with a hook on Router.forward) gives per-(layer, sequence) values
  // 1.002693e-4, 1.228433e-4, 1.141192e-4, 1.042689e-4 — ours to 1e-10 — and a total of 2.207503e-4.
  // The oracle's total, 2.206572e-4, is 4.2e-4 relative below that (its per-sequence entries differ
  // by 1e-4..2e-3 relative): its generator evaluated some undocumented variant. The loads (the
  // f_i) match exactly below, so we hold the total to 5e-4 relative and the formula to its spec.
  EXPECT_NEAR(l.balance, fx.oracle["balance_loss"]["total"].get<double>(), 5e-4 * 2.2066e-4);
  EXPECT_NEAR(l.balance, 2.2075034e-4, 1e-11);
  // Loads of the main MoE layers 1 and 2 (the MTP block's layer 3 comes after them).
  ASSERT_GE(l.moe_layers.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const std::string name = "model.layers." + std::to_string(l.moe_layers[i]);
    const auto& want = fx.oracle["balance_loss"]["per_layer"][name];
    ASSERT_FALSE(want.is_null()) << name;
    EXPECT_EQ(l.expert_load[i], want["expert_load"].get<std::vector<int64_t>>()) << name;
    // The aux-loss-free update from the step's loads reproduces the oracle's biases exactly.
    std::vector<float> bias = want["e_score_correction_bias_before"].get<std::vector<float>>();
    update_routing_bias(bias.data(), l.expert_load[i].data(), int64_t(bias.size()), 0.001);
    const auto after = want["e_score_correction_bias_after"].get<std::vector<float>>();
    for (size_t e = 0; e < bias.size(); ++e) EXPECT_FLOAT_EQ(bias[e], after[e]) << name << " expert " << e;
  }
}

TEST(TrainFixture, GradientsMatchPyTorch) {
  TrainFixtureData fx;
  TrainModel model(fx.cfg, fx.store.params());
  TrainOptions opt;
  opt.mtp_weight = 0;  // the oracle differentiates the main loss only
  opt.aux_alpha = 0;
  fx.store.zero_grad();
  model.forward_backward(fx.inputs.data(), fx.targets.data(), fx.B, fx.T, opt);
  SafetensorsFile grads(kFixtureDir + "/oracles/train_micro_f32_grads.safetensors");
  int checked = 0;
  double worst = 0;
  for (const ParamStore::Entry& e : fx.store.entries()) {
    if (e.mtp || !e.trainable) {
      EXPECT_FALSE(grads.has(e.name) && e.trainable && e.mtp) << e.name;
      continue;
    }
    ASSERT_TRUE(grads.has(e.name)) << e.name;
    Tensor want = grads.tensor(e.name);
    ASSERT_EQ(want.shape(), e.shape) << e.name;
    const float* w = want.data_as<float>();
    const float* g = fx.store.grad(e);
    for (int64_t i = 0; i < e.numel; ++i) {
      const double err = std::fabs(double(g[i]) - double(w[i]));
      worst = std::max(worst, err);
      ASSERT_LE(err, 2e-6 + 2e-4 * std::fabs(double(w[i]))) << e.name << " element " << i << ": " << g[i]
                                                            << " vs " << w[i];
    }
    ++checked;
  }
  EXPECT_EQ(checked, 89);  // every main-model tensor: 76 matrices + 13 norms
  std::printf("max |grad - oracle| over all parameters: %.3g\n", worst);
}

// Gradients of the full objective (MTP λ and the balance loss included) of every recompute mode
// are bit-identical; the MTP module's parameters get gradients.
TEST(TrainFixture, RecomputeModesBitIdentical) {
  TrainFixtureData fx;
  TrainModel model(fx.cfg, fx.store.params());
  std::vector<std::vector<float>> results;
  std::vector<double> losses;
  for (Recompute rc : {Recompute::kNone, Recompute::kAttn, Recompute::kFull}) {
    TrainOptions opt;
    opt.recompute = rc;
    opt.mtp_weight = 0.3;
    opt.aux_alpha = 1e-2;
    fx.store.zero_grad();
    StepLosses l = model.forward_backward(fx.inputs.data(), fx.targets.data(), fx.B, fx.T, opt);
    losses.push_back(l.main + 0.3 * l.mtp + l.balance + l.balance_mtp);
    std::vector<float> all;
    for (const ParamStore::Entry& e : fx.store.entries())
      if (e.trainable) all.insert(all.end(), fx.store.grad(e), fx.store.grad(e) + e.numel);
    results.push_back(std::move(all));
  }
  EXPECT_EQ(losses[0], losses[1]);
  EXPECT_EQ(losses[0], losses[2]);
  ASSERT_EQ(results[0].size(), results[1].size());
  EXPECT_TRUE(results[0] == results[1]) << "attn recompute differs";
  EXPECT_TRUE(results[0] == results[2]) << "full recompute differs";
  const ParamStore::Entry* eh = fx.store.find("model.layers.3.eh_proj.weight");
  ASSERT_NE(eh, nullptr);
  double norm = 0;
  for (int64_t i = 0; i < eh->numel; ++i) norm += double(fx.store.grad(*eh)[i]) * fx.store.grad(*eh)[i];
  EXPECT_GT(norm, 0);
}

// Central differences of the f32 objective for a sample of elements of the tensors the fixture
// gradients do not cover (MTP module, shared embedding through the MTP path, router through the
// balance loss). f32 losses carry ~1e-6 absolute noise, so with h = 1e-3 the difference quotient
// is good to ~1e-3; we require 2% relative or 2e-3 absolute.
TEST(TrainFixture, ObjectiveFiniteDifferences) {
  TrainFixtureData fx;
  TrainModel model(fx.cfg, fx.store.params());
  TrainOptions opt;
  opt.mtp_weight = 0.3;
  opt.aux_alpha = 0.05;  // large enough that its gradient is visible
  auto objective = [&] {
    StepLosses l = model.evaluate(fx.inputs.data(), fx.targets.data(), fx.B, fx.T, opt);
    return l.main + opt.mtp_weight * l.mtp + l.balance + l.balance_mtp;
  };
  fx.store.zero_grad();
  model.forward_backward(fx.inputs.data(), fx.targets.data(), fx.B, fx.T, opt);
  const char* names[] = {"model.layers.3.eh_proj.weight", "model.layers.3.enorm.weight",
                         "model.layers.3.hnorm.weight", "model.layers.3.shared_head.norm.weight",
                         "model.layers.3.self_attn.kv_b_proj.weight", "model.layers.3.mlp.gate.weight",
                         "model.layers.1.mlp.gate.weight", "model.embed_tokens.weight", "lm_head.weight",
                         "model.layers.0.self_attn.q_a_proj.weight"};
  int compared = 0;
  for (const char* name : names) {
    const ParamStore::Entry* e = fx.store.find(name);
    ASSERT_NE(e, nullptr) << name;
    float* v = fx.store.value(*e);
    const float* g = fx.store.grad(*e);
    // The elements with the largest gradients (informative) plus a few fixed ones.
    for (int64_t i : {test::argmax_abs(g, e->numel), e->numel / 3, e->numel - 1}) {
      const double fd = test::fd_grad_at_f32(v, i, objective);
      EXPECT_NEAR(g[i], fd, 2e-3 + 0.02 * std::fabs(fd)) << name << " element " << i;
      ++compared;
    }
  }
  EXPECT_EQ(compared, 30);
}

}  // namespace

namespace {

// Gradient accumulation: two micro-batches of one sequence with loss_scale 1/2 give the gradient
// of one batch of both sequences (every term is a mean over sequences of equal length), up to f32
// summation order.
TEST(TrainFixture, GradientAccumulationEqualsBigBatch) {
  TrainFixtureData fx;
  TrainModel model(fx.cfg, fx.store.params());
  TrainOptions opt;
  opt.mtp_weight = 0.3;
  opt.aux_alpha = 1e-2;
  auto grads = [&] {
    std::vector<float> all;
    for (const ParamStore::Entry& e : fx.store.entries())
      if (e.trainable) all.insert(all.end(), fx.store.grad(e), fx.store.grad(e) + e.numel);
    return all;
  };
  fx.store.zero_grad();
  model.forward_backward(fx.inputs.data(), fx.targets.data(), fx.B, fx.T, opt);
  const std::vector<float> big = grads();
  fx.store.zero_grad();
  opt.loss_scale = 0.5;
  for (int64_t b = 0; b < fx.B; ++b)
    model.forward_backward(fx.inputs.data() + b * fx.T, fx.targets.data() + b * fx.T, 1, fx.T, opt);
  const std::vector<float> acc = grads();
  ASSERT_EQ(big.size(), acc.size());
  double worst = 0, scale = 0;
  for (size_t i = 0; i < big.size(); ++i) {
    worst = std::max(worst, std::fabs(double(big[i]) - double(acc[i])));
    scale = std::max(scale, std::fabs(double(big[i])));
  }
  // Both sequences have 11 scored positions and 10 MTP rows, so the means weigh them equally.
  EXPECT_LT(worst, 1e-5 * scale) << "max |big - accumulated| = " << worst << " (max |g| " << scale << ")";
}

}  // namespace

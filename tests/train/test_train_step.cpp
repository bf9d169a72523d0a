// Trainer::step (train/train_step.h) on a micro-preset model with an MTP module:
//  (a) step() over K micro-batches is bit for bit the pretraining loop it was factored out of
//      (each micro-batch's gradient from zero at loss_scale 1/K, summed in the tree of
//      train/tree_sum.h; AdamW at the scheduled lr, bias update),
//      written out here by hand on a second copy of the model;
//  (b) state_tensors/state_json/restore continue a run bit for bit;
//  (c) SFT-style masked micro-batches: the documented step-wide normaliser (loss_norm = n/K) gives
//      the gradient of one micro-batch holding both, and repeated steps on the batch drive its loss down;
//  (d) malformed micro-batches are errors naming the micro-batch.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "io/random_model.h"
#include "model/moe_train.h"
#include "test_util.h"
#include "train/train_test_util.h"
#include "train/train_step.h"
#include "train/tree_sum.h"

using namespace frugal;
using namespace frugal::test;

namespace {

TrainerSettings settings() {
  TrainerSettings s = pattern_settings();
  s.bias_gamma = 1e-3;
  return s;
}

void init(ParamStore& store) {
  Rng rng(11);
  store.init_random(rng, 0.02);
}

std::vector<float> values(const ParamStore& store) {
  std::vector<float> all;
  for (const ParamStore::Entry& e : store.entries()) all.insert(all.end(), store.value(e), store.value(e) + e.numel);
  return all;
}

std::vector<float> grads(const ParamStore& store) {
  std::vector<float> all;
  for (const ParamStore::Entry& e : store.entries())
    if (e.trainable) all.insert(all.end(), store.grad(e), store.grad(e) + e.numel);
  return all;
}

TEST(TrainStep, EqualsTheHandWrittenLoop) {
  const DeepSeekConfig cfg = pattern_model();
  const TrainerSettings s = settings();
  Trainer trainer(cfg, s);
  init(trainer.store());

  // The reference: the loop as run_training ran it before Trainer existed.
  ParamStore store(cfg, true);
  init(store);
  std::vector<AdamWParam> aps;
  for (const ParamStore::Entry& e : store.entries())
    if (e.trainable) aps.push_back({e.name, store.value(e), store.grad(e), e.numel, e.decay, e.shape});
  AdamW adamw(std::move(aps), s.adamw);
  LrSchedule schedule(s.schedule);
  TrainModel model(cfg, store.params());
  std::vector<const LayerParams*> moe_blocks;
  for (const LayerParams& x : store.params().layers)
    if (x.is_moe) moe_blocks.push_back(&x);
  for (const MtpParams& m : store.params().mtp)
    if (m.block.is_moe) moe_blocks.push_back(&m.block);

  for (int64_t step = 0; step < 4; ++step) {
    const int64_t K = step % 2 ? 3 : 2;  // a batch ramp changes K between steps
    std::vector<MicroBatch> mbs;
    for (int64_t k = 0; k < K; ++k) mbs.push_back(pattern_batch(2, 12, uint64_t(100 * step + k)));
    const StepResult r = trainer.step(mbs);

    TrainOptions topt = s.model;
    topt.loss_scale = 1.0 / double(K);
    // Each micro-batch's gradient from zero, summed in the fixed tree of train/tree_sum.h.
    TreeAccumulator acc(store.total_numel());
    double loss = 0, mtp = 0, bal = 0;
    std::vector<std::vector<int64_t>> load;
    for (const MicroBatch& mb : mbs) {
      store.zero_grad();
      StepLosses l = model.forward_backward(mb.inputs.data(), mb.targets.data(), mb.B, mb.T, topt);
      acc.push(store.grads_data());
      loss += l.main / double(K);
      mtp += l.mtp / double(K);
      bal += (l.balance + l.balance_mtp) / double(K);
      if (load.empty()) load = l.expert_load;
      else
        for (size_t i = 0; i < load.size(); ++i)
          for (size_t e = 0; e < load[i].size(); ++e) load[i][e] += l.expert_load[i][e];
    }
    acc.finish(store.grads_data());
    const double lr = schedule.lr_at(step);
    const AdamWStepResult a = adamw.step(lr);
    ASSERT_TRUE(a.applied);
    for (size_t i = 0; i < load.size() && i < moe_blocks.size(); ++i)
      if (float* bias = moe_blocks[i]->moe.e_score_correction_bias)
        update_routing_bias(bias, load[i].data(), cfg.n_routed_experts, s.bias_gamma);

    EXPECT_EQ(r.step, step + 1);
    EXPECT_TRUE(r.applied);
    EXPECT_EQ(r.loss, loss);
    EXPECT_EQ(r.mtp_loss, mtp);
    EXPECT_EQ(r.balance_loss, bal);
    EXPECT_EQ(r.lr, lr);
    EXPECT_EQ(r.grad_norm, a.grad_norm);
    EXPECT_EQ(r.expert_load, load);
    EXPECT_EQ(r.tokens, K * 2 * 12);
    EXPECT_EQ(r.scored, K * 2 * 11);
    EXPECT_TRUE(values(trainer.store()) == values(store)) << "parameters differ after step " << step + 1;
  }
  EXPECT_EQ(trainer.step_count(), 4);
  EXPECT_EQ(trainer.optimizer().step_count(), 4);
}

TEST(TrainStep, RestoreContinuesBitExactly) {
  TempDir dir;
  const DeepSeekConfig cfg = pattern_model();
  Trainer a(cfg, settings());
  init(a.store());
  for (int i = 0; i < 2; ++i) a.step({pattern_batch(2, 12, uint64_t(i))});
  save_checkpoint(dir.str(), a.step_count(), a.state_tensors(), a.state_json(), 0);
  Trainer b(cfg, settings());
  std::optional<LoadedCheckpoint> ck = load_latest_checkpoint(dir.str());
  ASSERT_TRUE(ck.has_value());
  b.restore(*ck, ck->meta);
  EXPECT_EQ(b.step_count(), 2);
  const StepResult ra = a.step({pattern_batch(2, 12, 7), pattern_batch(2, 12, 8)});
  const StepResult rb = b.step({pattern_batch(2, 12, 7), pattern_batch(2, 12, 8)});
  EXPECT_EQ(ra.loss, rb.loss);
  EXPECT_EQ(ra.grad_norm, rb.grad_norm);
  EXPECT_EQ(ra.lr, rb.lr);
  EXPECT_TRUE(values(a.store()) == values(b.store()));
  // A meta without the trainer's keys is refused with the checkpoint's name.
  Trainer c(cfg, settings());
  expect_error([&] { c.restore(*ck, nlohmann::json::object()); }, ErrorKind::kFormat, {ck->dir, "step"});
}

// SFT: a "prompt" of P tokens per sequence has weight 0, the response weight 1.
void mask_prompt(MicroBatch& mb, int64_t P) {
  mb.weights.assign(mb.inputs.size(), 1.0f);
  for (int64_t b = 0; b < mb.B; ++b)
    for (int64_t t = 0; t < P; ++t) mb.weights[size_t(b * mb.T + t)] = 0.0f;
}

int64_t scored(const MicroBatch& mb) {
  int64_t n = 0;
  for (size_t i = 0; i < mb.targets.size(); ++i) n += mb.targets[i] >= 0 && mb.weights[i] != 0.0f;
  return n;
}

TEST(TrainStep, MaskedMicroBatchesStepWideMeanAndLearning) {
  const DeepSeekConfig cfg = pattern_model();
  TrainerSettings s = settings();
  s.model.aux_alpha = 0;  // the balance term is a per-micro-batch mean, not a token mean
  s.model.mtp_weight = 0;
  s.schedule.kind = LrScheduleKind::kConstant;
  s.schedule.warmup_steps = 0;
  // Two micro-batches with different prompt lengths, so their response counts differ.
  MicroBatch m1 = pattern_batch(1, 12, 21), m2 = pattern_batch(1, 12, 22);
  mask_prompt(m1, 3);
  mask_prompt(m2, 7);
  const int64_t n = scored(m1) + scored(m2);
  ASSERT_EQ(n, 8 + 4);
  m1.loss_norm = m2.loss_norm = double(n) / 2;  // step-wide token mean over K = 2 micro-batches
  MicroBatch both;
  both.B = 2;
  both.T = 12;
  for (const MicroBatch* m : {&m1, &m2}) {
    both.inputs.insert(both.inputs.end(), m->inputs.begin(), m->inputs.end());
    both.targets.insert(both.targets.end(), m->targets.begin(), m->targets.end());
    both.weights.insert(both.weights.end(), m->weights.begin(), m->weights.end());
  }
  both.loss_norm = double(n);
  Trainer split(cfg, s), merged(cfg, s);
  init(split.store());
  init(merged.store());
  const StepResult rs = split.step({m1, m2});
  const StepResult rm = merged.step({both});
  EXPECT_NEAR(rs.loss, rm.loss, 1e-6 * rm.loss);
  const std::vector<float> gs = grads(split.store()), gm = grads(merged.store());
  double worst = 0, scale = 0;
  for (size_t i = 0; i < gs.size(); ++i) {
    worst = std::max(worst, std::fabs(double(gs[i]) - double(gm[i])));
    scale = std::max(scale, std::fabs(double(gm[i])));
  }
  EXPECT_LT(worst, 1e-5 * scale) << "max |split - merged| = " << worst << " (max |g| " << scale << ")";
  // The same masked batch, stepped repeatedly: its loss falls well below where it started.
  const double first = rs.loss;
  double last = first;
  for (int i = 0; i < 15; ++i) last = split.step({m1, m2}).loss;
  std::printf("masked batch loss: %.4f at step 1, %.4f after 16 steps\n", first, last);
  EXPECT_LT(last, 0.5 * first);
  EXPECT_EQ(split.step_count(), 16);
}

TEST(TrainStep, MalformedMicroBatchesAreErrors) {
  Trainer t(pattern_model(), settings());
  init(t.store());
  expect_error([&] { t.step({}); }, ErrorKind::kInvalidArgument, {"at least one micro-batch"});
  MicroBatch bad = pattern_batch(2, 12, 1);
  bad.targets.pop_back();
  expect_error([&] { t.step({pattern_batch(2, 12, 0), bad}); }, ErrorKind::kInvalidArgument, {"micro-batch 1", "targets"});
  MicroBatch w = pattern_batch(2, 12, 1);
  w.weights.assign(5, 1.0f);
  expect_error([&] { t.step({w}); }, ErrorKind::kInvalidArgument, {"micro-batch 0", "loss weights"});
  EXPECT_EQ(t.step_count(), 0);  // nothing was stepped
}

}  // namespace

// LR schedules (constant / cosine / wsd with linear warmup) and the batch-size ramp
// (docs/training.md, Hyper-parameters).
#include <cmath>
#include <numbers>

#include "test_util.h"
#include "train/schedule.h"

namespace frugal {
namespace {

using test::expect_error;

LrScheduleConfig cfg(LrScheduleKind kind, double lr, int64_t warmup, int64_t steps) {
  LrScheduleConfig c;
  c.kind = kind, c.lr = lr, c.warmup_steps = warmup, c.total_steps = steps;
  return c;
}

TEST(LrSchedule, Names) {
  EXPECT_EQ(lr_schedule_kind_from_name("constant"), LrScheduleKind::kConstant);
  EXPECT_EQ(lr_schedule_kind_from_name("cosine"), LrScheduleKind::kCosine);
  EXPECT_EQ(lr_schedule_kind_from_name("wsd"), LrScheduleKind::kWsd);
  for (auto k : {LrScheduleKind::kConstant, LrScheduleKind::kCosine, LrScheduleKind::kWsd})
    EXPECT_EQ(lr_schedule_kind_from_name(lr_schedule_kind_name(k)), k);
  expect_error([] { lr_schedule_kind_from_name("linear"); }, ErrorKind::kConfig,
               {"'linear'", "constant, cosine, wsd"});
}

TEST(LrSchedule, WarmupIsLinearFromZero) {
  const LrSchedule s(cfg(LrScheduleKind::kConstant, 1e-3, 4, 100));
  EXPECT_DOUBLE_EQ(s.lr_at(0), 0.25e-3);
  EXPECT_DOUBLE_EQ(s.lr_at(1), 0.5e-3);
  EXPECT_DOUBLE_EQ(s.lr_at(3), 1e-3);
  EXPECT_DOUBLE_EQ(s.lr_at(4), 1e-3);
  EXPECT_DOUBLE_EQ(s.lr_at(99), 1e-3);
  EXPECT_DOUBLE_EQ(s.lr_at(1000), 1e-3);
  const LrSchedule none(cfg(LrScheduleKind::kConstant, 1e-3, 0, 10));
  EXPECT_DOUBLE_EQ(none.lr_at(0), 1e-3);
}

TEST(LrSchedule, CosineToMinLr) {
  // V3's numbers: peak 2.2e-4, min defaults to lr/10 = 2.2e-5.
  const LrSchedule s(cfg(LrScheduleKind::kCosine, 2.2e-4, 10, 110));
  EXPECT_DOUBLE_EQ(s.min_lr(), 2.2e-5);
  EXPECT_DOUBLE_EQ(s.lr_at(9), 2.2e-4);
  EXPECT_DOUBLE_EQ(s.lr_at(10), 2.2e-4);                       // p = 0
  EXPECT_NEAR(s.lr_at(60), (2.2e-4 + 2.2e-5) / 2, 1e-18);      // p = 1/2
  EXPECT_NEAR(s.lr_at(35), 2.2e-5 + 0.5 * 1.98e-4 * (1 + std::cos(std::numbers::pi / 4)), 1e-18);
  EXPECT_DOUBLE_EQ(s.lr_at(110), 2.2e-5);
  EXPECT_DOUBLE_EQ(s.lr_at(5000), 2.2e-5);
  for (int64_t t = 10; t < 120; ++t) EXPECT_LE(s.lr_at(t + 1), s.lr_at(t)) << t;
  LrScheduleConfig c = cfg(LrScheduleKind::kCosine, 1.0, 0, 4);
  c.min_lr = 0.0;
  const LrSchedule z(c);
  EXPECT_DOUBLE_EQ(z.lr_at(0), 1.0);
  EXPECT_NEAR(z.lr_at(2), 0.5, 1e-15);
  EXPECT_DOUBLE_EQ(z.lr_at(4), 0.0);
}

TEST(LrSchedule, WarmupStableDecay) {
  LrScheduleConfig c = cfg(LrScheduleKind::kWsd, 1e-3, 10, 100);
  c.decay_fraction = 0.2;  // decay over the last 20 steps
  const LrSchedule s(c);
  EXPECT_EQ(s.decay_steps(), 20);
  EXPECT_DOUBLE_EQ(s.lr_at(0), 1e-4);
  EXPECT_DOUBLE_EQ(s.lr_at(9), 1e-3);
  EXPECT_DOUBLE_EQ(s.lr_at(50), 1e-3);
  EXPECT_DOUBLE_EQ(s.lr_at(79), 1e-3);
  EXPECT_DOUBLE_EQ(s.lr_at(80), 1e-3);
  EXPECT_NEAR(s.lr_at(90), (1e-3 + 1e-4) / 2, 1e-18);
  EXPECT_LT(s.lr_at(99), 1.1e-4);
  EXPECT_DOUBLE_EQ(s.lr_at(100), 1e-4);
  // Default fraction 0.1: 1000 steps decay over the last 100.
  EXPECT_EQ(LrSchedule(cfg(LrScheduleKind::kWsd, 1e-3, 0, 1000)).decay_steps(), 100);
  EXPECT_EQ(LrSchedule(cfg(LrScheduleKind::kWsd, 1e-3, 0, 3)).decay_steps(), 1);  // at least one step
}

TEST(LrSchedule, RejectsBadValues) {
  expect_error([] { LrSchedule(cfg(LrScheduleKind::kCosine, 1e-3, 200, 100)); }, ErrorKind::kConfig,
               {"optim.warmup = 200", "train.steps = 100"});
  expect_error([] { LrSchedule(cfg(LrScheduleKind::kCosine, -1e-3, 0, 100)); }, ErrorKind::kConfig,
               {"optim.lr", "-0.001"});
  expect_error([] { LrSchedule(cfg(LrScheduleKind::kCosine, NAN, 0, 100)); }, ErrorKind::kConfig, {"optim.lr"});
  expect_error([] { LrSchedule(cfg(LrScheduleKind::kCosine, 1e-3, -1, 100)); }, ErrorKind::kConfig, {"optim.warmup"});
  expect_error([] { LrSchedule(cfg(LrScheduleKind::kCosine, 1e-3, 0, 0)); }, ErrorKind::kConfig, {"train.steps"});
  LrScheduleConfig c = cfg(LrScheduleKind::kCosine, 1e-3, 0, 100);
  c.min_lr = 2e-3;
  expect_error([&] { LrSchedule{c}; }, ErrorKind::kConfig, {"optim.min_lr", "0.002"});
  c = cfg(LrScheduleKind::kWsd, 1e-3, 0, 100);
  c.decay_fraction = 0;
  expect_error([&] { LrSchedule{c}; }, ErrorKind::kConfig, {"optim.decay_fraction"});
  c = cfg(LrScheduleKind::kWsd, 1e-3, 95, 100);  // warmup runs into the decay
  expect_error([&] { LrSchedule{c}; }, ErrorKind::kConfig, {"optim.warmup = 95", "decay"});
}

TEST(BatchRamp, LinearInWholeMicroBatches) {
  BatchRampConfig c;
  c.micro_batch = 4, c.grad_accum = 8, c.start_sequences = 8, c.ramp_tokens = 1000;  // 8 → 32 sequences
  const BatchRamp r(c);
  EXPECT_EQ(r.micro_batches_at(0), 2);
  EXPECT_EQ(r.micro_batches_at(500), 5);   // 20 sequences
  EXPECT_EQ(r.micro_batches_at(999), 8);   // 31.98 sequences → 7.99 → 8
  EXPECT_EQ(r.micro_batches_at(1000), 8);
  EXPECT_EQ(r.micro_batches_at(int64_t(1) << 50), 8);
  EXPECT_EQ(r.sequences_at(500), 20);
  int64_t prev = 0;
  for (int64_t t = 0; t <= 1100; t += 7) {
    const int64_t k = r.micro_batches_at(t);
    EXPECT_GE(k, prev) << t;
    EXPECT_GE(k, 1);
    EXPECT_LE(k, 8);
    prev = k;
  }
  // Rounding to the nearest micro-batch: 6 sequences / B = 4 is 1.5 → 2; a 1-sequence start → 1.
  c.start_sequences = 6;
  EXPECT_EQ(BatchRamp(c).micro_batches_at(0), 2);
  c.start_sequences = 1;
  EXPECT_EQ(BatchRamp(c).micro_batches_at(0), 1);
  // No ramp: always K.
  c.start_sequences = 0, c.ramp_tokens = 0;
  EXPECT_EQ(BatchRamp(c).micro_batches_at(0), 8);
}

TEST(BatchRamp, DeepSeekV3Numbers) {
  // 3072 → 15360 sequences over 469B tokens; with B = 16, K = 960.
  BatchRampConfig c;
  c.micro_batch = 16, c.grad_accum = 960, c.start_sequences = 3072, c.ramp_tokens = 469'000'000'000;
  const BatchRamp r(c);
  EXPECT_EQ(r.sequences_at(0), 3072);
  EXPECT_EQ(r.sequences_at(234'500'000'000), 9216);  // halfway
  EXPECT_EQ(r.sequences_at(469'000'000'000), 15360);
  EXPECT_EQ(r.sequences_at(14'800'000'000'000), 15360);
}

TEST(BatchRamp, RejectsBadValues) {
  BatchRampConfig c;
  c.micro_batch = 0;
  expect_error([&] { BatchRamp{c}; }, ErrorKind::kConfig, {"train.batch"});
  c = BatchRampConfig{};
  c.grad_accum = 0;
  expect_error([&] { BatchRamp{c}; }, ErrorKind::kConfig, {"train.grad_accum"});
  c = BatchRampConfig{};
  c.micro_batch = 2, c.grad_accum = 2, c.start_sequences = 5, c.ramp_tokens = 10;
  expect_error([&] { BatchRamp{c}; }, ErrorKind::kConfig, {"optim.batch_warmup_start = 5", "4"});
  c.start_sequences = 0;
  expect_error([&] { BatchRamp{c}; }, ErrorKind::kConfig, {"optim.batch_warmup_tokens"});
  c.start_sequences = 2, c.ramp_tokens = -1;
  expect_error([&] { BatchRamp{c}; }, ErrorKind::kConfig, {"optim.batch_warmup_tokens"});
}

}  // namespace
}  // namespace frugal

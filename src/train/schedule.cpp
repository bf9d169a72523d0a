#include "train/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"

namespace frugal {

LrScheduleKind lr_schedule_kind_from_name(const std::string& name) {
  if (name == "constant") return LrScheduleKind::kConstant;
  if (name == "cosine") return LrScheduleKind::kCosine;
  if (name == "wsd") return LrScheduleKind::kWsd;
  fail(ErrorKind::kConfig, "optim.schedule: unknown lr schedule '{}' (allowed: constant, cosine, wsd)", name);
}

const char* lr_schedule_kind_name(LrScheduleKind kind) {
  switch (kind) {
    case LrScheduleKind::kConstant: return "constant";
    case LrScheduleKind::kCosine: return "cosine";
    case LrScheduleKind::kWsd: return "wsd";
  }
  return "?";
}

LrSchedule::LrSchedule(const LrScheduleConfig& cfg) : cfg_(cfg) {
  if (!std::isfinite(cfg.lr) || cfg.lr < 0) fail(ErrorKind::kConfig, "optim.lr = {} must be >= 0", cfg.lr);
  min_lr_ = cfg.min_lr.value_or(cfg.lr / 10);
  if (!std::isfinite(min_lr_) || min_lr_ < 0 || min_lr_ > cfg.lr)
    fail(ErrorKind::kConfig, "optim.min_lr = {} must be in [0, optim.lr = {}]", min_lr_, cfg.lr);
  if (cfg.total_steps < 1)
    fail(ErrorKind::kConfig, "train.steps = {} must be >= 1", cfg.total_steps);
  if (cfg.warmup_steps < 0)
    fail(ErrorKind::kConfig, "optim.warmup = {} must be >= 0", cfg.warmup_steps);
  if (cfg.warmup_steps > cfg.total_steps)
    fail(ErrorKind::kConfig, "optim.warmup = {} is more than train.steps = {}", cfg.warmup_steps,
         cfg.total_steps);
  switch (cfg.kind) {
    case LrScheduleKind::kConstant: decay_steps_ = 0; break;
    case LrScheduleKind::kCosine: decay_steps_ = cfg.total_steps - cfg.warmup_steps; break;
    case LrScheduleKind::kWsd:
      if (!(cfg.decay_fraction > 0 && cfg.decay_fraction <= 1))
        fail(ErrorKind::kConfig, "optim.decay_fraction = {} must be in (0, 1]", cfg.decay_fraction);
      decay_steps_ = std::max<int64_t>(1, std::llround(cfg.decay_fraction * double(cfg.total_steps)));
      if (cfg.warmup_steps + decay_steps_ > cfg.total_steps)
        fail(ErrorKind::kConfig,
             "optim.warmup = {} plus the wsd decay steps ({} = optim.decay_fraction {} x train.steps {}) "
             "exceed train.steps",
             cfg.warmup_steps, decay_steps_, cfg.decay_fraction, cfg.total_steps);
      break;
  }
}

// Cosine from lr (at `start`) to min_lr (reached at start + len, held after).
double LrSchedule::cosine(int64_t step, int64_t start, int64_t len) const {
  if (len <= 0 || step >= start + len) return min_lr_;
  const double p = double(step - start) / double(len);  // [0, 1)
  return min_lr_ + 0.5 * (cfg_.lr - min_lr_) * (1 + std::cos(std::numbers::pi * p));
}

double LrSchedule::lr_at(int64_t step) const {
  if (step < 0) fail(ErrorKind::kInvalidArgument, "lr schedule: step {} must be >= 0", step);
  const int64_t W = cfg_.warmup_steps, T = cfg_.total_steps;
  if (step < W) return cfg_.lr * double(step + 1) / double(W);
  switch (cfg_.kind) {
    case LrScheduleKind::kConstant: return cfg_.lr;
    case LrScheduleKind::kCosine: return cosine(step, W, T - W);
    case LrScheduleKind::kWsd: return step < T - decay_steps_ ? cfg_.lr : cosine(step, T - decay_steps_, decay_steps_);
  }
  return cfg_.lr;
}

BatchRamp::BatchRamp(const BatchRampConfig& cfg) : cfg_(cfg) {
  if (cfg.micro_batch < 1) fail(ErrorKind::kConfig, "train.batch = {} must be >= 1", cfg.micro_batch);
  if (cfg.grad_accum < 1) fail(ErrorKind::kConfig, "train.grad_accum = {} must be >= 1", cfg.grad_accum);
  if (cfg.ramp_tokens < 0) fail(ErrorKind::kConfig, "optim.batch_warmup_tokens = {} must be >= 0", cfg.ramp_tokens);
  const int64_t final_seq = cfg.micro_batch * cfg.grad_accum;
  if (cfg.start_sequences < 0 || cfg.start_sequences > final_seq)
    fail(ErrorKind::kConfig,
         "optim.batch_warmup_start = {} must be in [0, train.batch x train.grad_accum = {}] (0: no ramp)",
         cfg.start_sequences, final_seq);
  if (cfg.ramp_tokens > 0 && cfg.start_sequences == 0)
    fail(ErrorKind::kConfig, "optim.batch_warmup_tokens = {} needs optim.batch_warmup_start >= 1", cfg.ramp_tokens);
}

int64_t BatchRamp::micro_batches_at(int64_t tokens_seen) const {
  const int64_t K = cfg_.grad_accum, B = cfg_.micro_batch, N = cfg_.ramp_tokens;
  if (N == 0 || cfg_.start_sequences == 0 || tokens_seen >= N) return K;
  if (tokens_seen < 0) fail(ErrorKind::kInvalidArgument, "batch ramp: tokens_seen {} must be >= 0", tokens_seen);
  // sequences = start + (B·K − start)·t/N; micro-batches = round(sequences / B), in 128-bit so
  // V3-sized numbers (t ~ 1e13 tokens) cannot overflow: round(num / den) = (2·num + den) / (2·den).
  const __int128 num = __int128(cfg_.start_sequences) * N + __int128(B * K - cfg_.start_sequences) * tokens_seen;
  const __int128 den = __int128(N) * B;
  const int64_t k = int64_t((2 * num + den) / (2 * den));
  return std::clamp<int64_t>(k, 1, K);
}

}  // namespace frugal

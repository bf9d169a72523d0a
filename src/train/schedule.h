// Learning-rate and batch-size schedules (docs/training.md, Hyper-parameters; DeepSeek-V3: linear
// warmup 0 → 2.2e-4 over 2K steps, constant, then cosine decay to 2.2e-5; batch ramped 3072 → 15360
// sequences over the first 469B tokens). Pure functions of the step / tokens seen, so a resumed
// run gets the same values.
//
// Step numbering: `step` is the 0-based index of the optimizer step about to run (the number of
// steps already taken). Warmup is linear from 0 as llm.c does it, lr·(step+1)/W for step < W, so
// the first step already moves and step W−1 reaches the peak.
//   constant: warmup, then lr.
//   cosine:   warmup, then min_lr + ½(lr − min_lr)(1 + cos(π p)), p = (step − W)/(T − W);
//             min_lr for step ≥ T.
//   wsd:      warmup-stable-decay: warmup, lr until T − D, then the same cosine from lr to min_lr over
//             the last D = round(decay_fraction · T) steps (V3's decay phase is a cosine); min_lr after T.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace frugal {

enum class LrScheduleKind { kConstant, kCosine, kWsd };

// "constant" | "cosine" | "wsd"; throws kConfig naming the value and the allowed names.
LrScheduleKind lr_schedule_kind_from_name(const std::string& name);
const char* lr_schedule_kind_name(LrScheduleKind kind);

struct LrScheduleConfig {
  LrScheduleKind kind = LrScheduleKind::kCosine;
  double lr = 2.2e-4;              // peak
  std::optional<double> min_lr;    // default lr / 10 (V3: 2.2e-4 → 2.2e-5)
  int64_t warmup_steps = 0;        // W
  int64_t total_steps = 1;         // T
  double decay_fraction = 0.1;     // wsd only: share of T spent decaying
};

class LrSchedule {
 public:
  // Validates (throws kConfig naming the field: negative/non-finite lr, min_lr outside [0, lr],
  // warmup > steps, decay_fraction outside (0, 1], warmup overlapping the wsd decay).
  explicit LrSchedule(const LrScheduleConfig& cfg);
  double lr_at(int64_t step) const;
  const LrScheduleConfig& config() const { return cfg_; }
  double min_lr() const { return min_lr_; }
  int64_t decay_steps() const { return decay_steps_; }  // wsd: D; cosine: T − W; constant: 0

 private:
  double cosine(int64_t step, int64_t start, int64_t len) const;
  LrScheduleConfig cfg_;
  double min_lr_ = 0;
  int64_t decay_steps_ = 0;
};

// Batch-size warmup: sequences per optimizer step ramp linearly from `start_sequences` to the final
// micro_batch · grad_accum over the first `ramp_tokens` tokens, rounded to the nearest whole number
// of micro-batches (at least 1). Integer arithmetic only, so every platform gets the same steps.
struct BatchRampConfig {
  int64_t micro_batch = 1;      // B: sequences per micro-batch
  int64_t grad_accum = 1;       // K: micro-batches per step once the ramp is over
  int64_t start_sequences = 0;  // sequences per step at token 0; 0 = no ramp (always B·K)
  int64_t ramp_tokens = 0;      // N; 0 = no ramp
};

class BatchRamp {
 public:
  explicit BatchRamp(const BatchRampConfig& cfg);  // throws kConfig naming the field
  // Micro-batches in the optimizer step that starts after `tokens_seen` tokens, in [1, K].
  int64_t micro_batches_at(int64_t tokens_seen) const;
  int64_t sequences_at(int64_t tokens_seen) const { return micro_batches_at(tokens_seen) * cfg_.micro_batch; }
  const BatchRampConfig& config() const { return cfg_; }

 private:
  BatchRampConfig cfg_;
};

}  // namespace frugal

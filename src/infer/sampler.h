// Token sampling: greedy (temperature 0), or temperature + top-k + top-p + min-p filtering
// followed by a draw from a seeded RNG (same seed, same output). Filters apply in the order
// Hugging Face's generate applies its warpers: temperature, top-k, top-p, min-p.
#pragma once
#include <cstdint>
#include <vector>

#include "core/rng.h"

namespace frugal {

struct SamplingParams {
  float temperature = 1.0f;  // 0: greedy argmax
  int64_t top_k = 0;         // 0: off
  float top_p = 1.0f;        // 1: off; keep the smallest set with cumulative probability >= top_p
  float min_p = 0.0f;        // 0: off; drop tokens with p < min_p · p_max
  uint64_t seed = 0;
};

// Throws kInvalidArgument naming the field for NaN/negative temperature, top_p outside (0, 1],
// min_p outside [0, 1], negative top_k.
void validate(const SamplingParams& p);

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p);
  int32_t sample(const float* logits, int64_t vocab);

 private:
  SamplingParams p_;
  Rng rng_;
  std::vector<int32_t> idx_;
  std::vector<float> prob_;
};

int32_t argmax(const float* x, int64_t n);  // ties -> lowest index; NaN never wins

}  // namespace frugal

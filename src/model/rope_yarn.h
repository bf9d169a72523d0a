// RoPE frequencies with YaRN context extension, and the attention softmax scale
// (docs/model.md, RoPE and YaRN / Softmax scale).
// Everything is computed in double once per model; kernels cast to their own precision.
// dr = qk_rope_head_dim (64 in every release); the tables have dr/2 entries, one per rotated pair.
#pragma once
#include <cstdint>
#include <vector>

#include "model/config.h"

namespace frugal {

// YaRN attention temperature m(s, mu) = 0.1 * mu * ln(s) + 1, or 1 when s <= 1 (docs/model.md, RoPE and YaRN).
double yarn_get_mscale(double factor, double mscale);

// The pair range [low, high] over which YaRN blends extrapolation into interpolation:
// low = max(floor(corr_dim(beta_fast)), 0), high = min(ceil(corr_dim(beta_slow)), dr - 1).
// V3: low 10, high 23. Only meaningful when rope_scaling.yarn.
struct YarnRange {
  int64_t low = 0, high = 0;
};
YarnRange yarn_correction_range(const DeepSeekConfig& c);

// [dr/2] inverse frequencies theta^(-2k/dr), blended with inv_freq/factor by the YaRN ramp:
// pairs k <= low keep their frequency, pairs k >= high are divided by factor.
std::vector<double> rope_inv_freq(const DeepSeekConfig& c);

// qk_head_dim^-0.5, times m(factor, mscale_all_dim)^2 under YaRN (V3 0.1352338, V2 0.1147214).
// The 192-dim head sets it even in the absorbed (576-dim) form.
double softmax_scale(const DeepSeekConfig& c);

// Multiplier on cos/sin: m(factor, mscale) / m(factor, mscale_all_dim); 1.0 for every released
// model (mscale == mscale_all_dim) and without YaRN.
double yarn_cos_sin_mscale(const DeepSeekConfig& c);

}  // namespace frugal

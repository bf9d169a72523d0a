// YaRN as in DeepSeek-V3 inference/model.py precompute_freqs_cis and the HF remote
// DeepseekV3YarnRotaryEmbedding (docs/model.md, RoPE and YaRN); both agree on every step below.
#include "model/rope_yarn.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace frugal {
namespace {

// The pair index whose wavelength fits `rotations` full turns into the original context:
// corr_dim(r) = dr * ln(L0 / (2 pi r)) / (2 ln theta).
double corr_dim(double rotations, double dim, double theta, double original_ctx) {
  return dim * std::log(original_ctx / (rotations * 2 * std::numbers::pi)) / (2 * std::log(theta));
}

}  // namespace

double yarn_get_mscale(double factor, double mscale) {
  return factor <= 1 ? 1.0 : 0.1 * mscale * std::log(factor) + 1.0;
}

YarnRange yarn_correction_range(const DeepSeekConfig& c) {
  const RopeScaling& y = c.rope_scaling;
  const double dim = double(c.qk_rope_head_dim), L0 = double(y.original_max_position_embeddings);
  // One-sided clamps exactly as the reference code (a degenerate config may give low > high; the
  // ramp below then still matches the reference). The +-1e15 bounds only keep the int64 cast defined.
  double low = std::max(std::floor(corr_dim(y.beta_fast, dim, c.rope_theta, L0)), 0.0);
  double high = std::min(std::ceil(corr_dim(y.beta_slow, dim, c.rope_theta, L0)), dim - 1);
  return {int64_t(std::min(low, 1e15)), int64_t(std::max(high, -1e15))};
}

std::vector<double> rope_inv_freq(const DeepSeekConfig& c) {
  const int64_t half = c.qk_rope_head_dim / 2;
  std::vector<double> inv_freq(static_cast<size_t>(half));  // [dr/2]
  for (int64_t k = 0; k < half; ++k)
    inv_freq[size_t(k)] = 1.0 / std::pow(c.rope_theta, double(2 * k) / double(c.qk_rope_head_dim));
  if (!c.rope_scaling.yarn) return inv_freq;

  const YarnRange r = yarn_correction_range(c);
  const double low = double(r.low);
  const double high = r.low == r.high ? double(r.high) + 0.001 : double(r.high);  // avoid 0/0
  for (int64_t k = 0; k < half; ++k) {
    double ramp = std::clamp((double(k) - low) / (high - low), 0.0, 1.0);  // 0: extrapolate, 1: interpolate
    double& f = inv_freq[size_t(k)];
    f = f * (1.0 - ramp) + (f / c.rope_scaling.factor) * ramp;
  }
  return inv_freq;
}

double softmax_scale(const DeepSeekConfig& c) {
  double scale = 1.0 / std::sqrt(double(c.qk_head_dim()));
  const RopeScaling& y = c.rope_scaling;
  if (y.yarn && y.mscale_all_dim != 0) {
    double m = yarn_get_mscale(y.factor, y.mscale_all_dim);
    scale *= m * m;
  }
  return scale;
}

double yarn_cos_sin_mscale(const DeepSeekConfig& c) {
  const RopeScaling& y = c.rope_scaling;
  if (!y.yarn) return 1.0;
  return yarn_get_mscale(y.factor, y.mscale) / yarn_get_mscale(y.factor, y.mscale_all_dim);
}

}  // namespace frugal

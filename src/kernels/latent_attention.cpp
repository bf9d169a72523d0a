#include "kernels/latent_attention.h"

#include <cmath>
#include <vector>

#include "kernels/latent_attention_impl.h"
#include "kernels/linear.h"
#include "kernels/softmax.h"

namespace frugal {

void latent_attention_ref(const float* q_lat, const float* q_pe, int64_t G, int64_t C, int64_t dr,
                          const float* cache, int64_t cw, int64_t S, float scale, float* scratch, float* out) {
  for (int64_t g = 0; g < G; ++g) {
    float* p = scratch + g * S;
    for (int64_t s = 0; s < S; ++s) {
      const float* row = cache + s * cw;
      double d = 0;
      for (int64_t k = 0; k < C; ++k) d += double(q_lat[g * C + k]) * row[k];
      for (int64_t k = 0; k < dr; ++k) d += double(q_pe[g * dr + k]) * row[C + k];
      p[s] = float(double(scale) * d);
    }
  }
  softmax_rows(scratch, G, S, S);
  std::vector<double> acc(static_cast<size_t>(C));
  for (int64_t g = 0; g < G; ++g) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int64_t s = 0; s < S; ++s)
      for (int64_t k = 0; k < C; ++k) acc[size_t(k)] += double(scratch[g * S + s]) * cache[s * cw + k];
    for (int64_t k = 0; k < C; ++k) out[g * C + k] = float(acc[size_t(k)]);
  }
}

void latent_attention(const float* q_lat, const float* q_pe, int64_t G, int64_t C, int64_t dr, const float* cache,
                      int64_t cw, int64_t S, float scale, float* scratch, float* out) {
  if (kernel_isa() >= KernelIsa::kAvx2) {
    latent_attention_detail::scores_avx2(q_lat, q_pe, G, C, dr, cache, cw, S, scale, scratch);
    latent_attention_detail::softmax_rows_avx2(scratch, G, S);
    latent_attention_detail::weighted_sum_avx2(scratch, G, S, cache, cw, C, out);
    return;
  }
  // Portable: the same two products in f32, row by row.
  for (int64_t g = 0; g < G; ++g)
    for (int64_t s = 0; s < S; ++s) {
      const float* row = cache + s * cw;
      float d = 0;
      for (int64_t k = 0; k < C; ++k) d += q_lat[g * C + k] * row[k];
      for (int64_t k = 0; k < dr; ++k) d += q_pe[g * dr + k] * row[C + k];
      scratch[g * S + s] = scale * d;
    }
  softmax_rows(scratch, G, S, S);
  for (int64_t g = 0; g < G; ++g) {
    float* o = out + g * C;
    for (int64_t k = 0; k < C; ++k) o[k] = 0;
    for (int64_t s = 0; s < S; ++s) {
      const float p = scratch[g * S + s];
      for (int64_t k = 0; k < C; ++k) o[k] += p * cache[s * cw + k];
    }
  }
}

}  // namespace frugal

// Private to latent_attention: the AVX2 halves (latent_attention_avx2.cpp, compiled for AVX2+FMA).
#pragma once
#include <cstdint>

namespace frugal::latent_attention_detail {

// scores [G, S] = scale · (q_lat · c_kvᵀ + q_pe · k_peᵀ)
void scores_avx2(const float* q_lat, const float* q_pe, int64_t G, int64_t C, int64_t dr, const float* cache,
                 int64_t cw, int64_t S, float scale, float* scores);
// softmax of each of `rows` contiguous rows of n scores, in place (a vectorised exp)
void softmax_rows_avx2(float* x, int64_t rows, int64_t n);
// out [G, C] = p [G, S] · c_kv [S, C]
void weighted_sum_avx2(const float* p, int64_t G, int64_t S, const float* cache, int64_t cw, int64_t C, float* out);

}  // namespace frugal::latent_attention_detail

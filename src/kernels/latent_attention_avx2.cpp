// AVX2 halves of latent_attention. Register tiles: scores take 4 heads x 3 cache rows (7 loads
// per 12 FMAs); the weighted sum 4 heads x 3 vectors of 8 columns (3 loads + 4 broadcasts per 12
// FMAs). Dot products over C and dr run in 8-wide steps with a scalar tail, so any C and dr work.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/latent_attention_impl.h"

namespace frugal::latent_attention_detail {

namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// e^x for x <= 0 (softmax after the row max is subtracted), within ~2 ulp of expf: x = n·ln2 + r
// with |r| <= ln2/2, e^r by its degree-6 Taylor/minimax polynomial, 2^n through the exponent bits.
// Inputs below -87 (e^x under FLT_MIN, and -inf) give exactly 0.
inline __m256 exp_nonpositive(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.0f);
  const __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  x = _mm256_max_ps(x, lo);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);  // ln2 split in two: exact n·hi
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(under, _mm256_mul_ps(y, _mm256_castsi256_ps(e)));
}

// acc[g][r] += Σ_k q[g·ldq + k] · row_r[k] over k in [0, n).
template <int GH, int SR>
inline void dot_tile(const float* q, int64_t ldq, const float* const* rows, int64_t n, __m256 (&acc)[GH][SR],
                     float (&tail)[GH][SR]) {
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    __m256 c[SR];
    for (int r = 0; r < SR; ++r) c[r] = _mm256_loadu_ps(rows[r] + k);
    for (int g = 0; g < GH; ++g) {
      const __m256 qv = _mm256_loadu_ps(q + g * ldq + k);
      for (int r = 0; r < SR; ++r) acc[g][r] = _mm256_fmadd_ps(qv, c[r], acc[g][r]);
    }
  }
  for (; k < n; ++k)
    for (int g = 0; g < GH; ++g)
      for (int r = 0; r < SR; ++r) tail[g][r] += q[g * ldq + k] * rows[r][k];
}

template <int GH, int SR>
void score_tile(const float* q_lat, const float* q_pe, int64_t C, int64_t dr, const float* cache, int64_t cw,
                int64_t s0, int64_t S, float scale, float* scores) {
  __m256 acc[GH][SR];
  float tail[GH][SR];
  const float* rows[SR];
  for (int r = 0; r < SR; ++r) rows[r] = cache + (s0 + r) * cw;
  for (int g = 0; g < GH; ++g)
    for (int r = 0; r < SR; ++r) {
      acc[g][r] = _mm256_setzero_ps();
      tail[g][r] = 0;
    }
  dot_tile<GH, SR>(q_lat, C, rows, C, acc, tail);
  for (int r = 0; r < SR; ++r) rows[r] += C;
  dot_tile<GH, SR>(q_pe, dr, rows, dr, acc, tail);
  for (int g = 0; g < GH; ++g)
    for (int r = 0; r < SR; ++r) scores[g * S + s0 + r] = scale * (hsum(acc[g][r]) + tail[g][r]);
}

// Rows [s0, s1) of the scores of GH heads.
template <int GH>
void score_heads(const float* q_lat, const float* q_pe, int64_t C, int64_t dr, const float* cache, int64_t cw,
                 int64_t s0, int64_t s1, int64_t S, float scale, float* scores) {
  int64_t s = s0;
  for (; s + 3 <= s1; s += 3) score_tile<GH, 3>(q_lat, q_pe, C, dr, cache, cw, s, S, scale, scores);
  for (; s < s1; ++s) score_tile<GH, 1>(q_lat, q_pe, C, dr, cache, cw, s, S, scale, scores);
}

// out[g][v·8 ..] = Σ_s p[g, s] · c_kv[s, col + v·8 ..] for NV vectors of 8 columns from col.
template <int GH, int NV>
void sum_tile(const float* p, int64_t S, const float* cache, int64_t cw, int64_t col, int64_t C, float* out) {
  __m256 acc[GH][NV];
  for (int g = 0; g < GH; ++g)
    for (int v = 0; v < NV; ++v) acc[g][v] = _mm256_setzero_ps();
  for (int64_t s = 0; s < S; ++s) {
    const float* row = cache + s * cw + col;
    __m256 c[NV];
    for (int v = 0; v < NV; ++v) c[v] = _mm256_loadu_ps(row + v * 8);
    for (int g = 0; g < GH; ++g) {
      const __m256 pv = _mm256_broadcast_ss(p + g * S + s);
      for (int v = 0; v < NV; ++v) acc[g][v] = _mm256_fmadd_ps(pv, c[v], acc[g][v]);
    }
  }
  for (int g = 0; g < GH; ++g)
    for (int v = 0; v < NV; ++v) _mm256_storeu_ps(out + g * C + col + v * 8, acc[g][v]);
}

// Columns [col, col + 8·NV) of every head's output: that slice of all S cache rows stays in L2
// while the head blocks pass over it.
template <int NV>
void sum_columns(const float* p, int64_t G, int64_t S, const float* cache, int64_t cw, int64_t col, int64_t C,
                 float* out) {
  int64_t g = 0;
  for (; g + 4 <= G; g += 4) sum_tile<4, NV>(p + g * S, S, cache, cw, col, C, out + g * C);
  for (; g < G; ++g) sum_tile<1, NV>(p + g * S, S, cache, cw, col, C, out + g * C);
}

}  // namespace

void scores_avx2(const float* q_lat, const float* q_pe, int64_t G, int64_t C, int64_t dr, const float* cache,
                 int64_t cw, int64_t S, float scale, float* scores) {
  // Chunks of cache rows small enough to stay in L2 while every head block passes over them.
  const int64_t chunk = std::max<int64_t>(3, (int64_t(128) << 10) / (cw * int64_t(sizeof(float))) / 3 * 3);
  for (int64_t s0 = 0; s0 < S; s0 += chunk) {
    const int64_t s1 = std::min(S, s0 + chunk);
    int64_t g = 0;
    for (; g + 4 <= G; g += 4)
      score_heads<4>(q_lat + g * C, q_pe + g * dr, C, dr, cache, cw, s0, s1, S, scale, scores + g * S);
    for (; g < G; ++g) score_heads<1>(q_lat + g * C, q_pe + g * dr, C, dr, cache, cw, s0, s1, S, scale, scores + g * S);
  }
}

void softmax_rows_avx2(float* x, int64_t rows, int64_t n) {
  for (int64_t g = 0; g < rows; ++g) {
    float* r = x + g * n;
    float m = -std::numeric_limits<float>::infinity();
    int64_t i = 0;
    __m256 mv = _mm256_set1_ps(m);
    for (; i + 8 <= n; i += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(r + i));
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, mv);
    for (float v : lanes) m = std::max(m, v);
    for (; i < n; ++i) m = std::max(m, r[i]);
    if (m == -std::numeric_limits<float>::infinity()) {  // nothing to attend to: all zero, as softmax_rows
      std::fill(r, r + n, 0.0f);
      continue;
    }
    const __m256 mb = _mm256_set1_ps(m);
    __m256 sv = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
      const __m256 e = exp_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(r + i), mb));
      _mm256_storeu_ps(r + i, e);
      sv = _mm256_add_ps(sv, e);
    }
    float sum = hsum(sv);
    for (; i < n; ++i) sum += (r[i] = std::exp(r[i] - m));
    const __m256 inv = _mm256_set1_ps(1.0f / sum);
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(r + i, _mm256_mul_ps(_mm256_loadu_ps(r + i), inv));
    for (; i < n; ++i) r[i] *= 1.0f / sum;
  }
}

void weighted_sum_avx2(const float* p, int64_t G, int64_t S, const float* cache, int64_t cw, int64_t C, float* out) {
  int64_t col = 0;
  for (; col + 24 <= C; col += 24) sum_columns<3>(p, G, S, cache, cw, col, C, out);
  for (; col + 8 <= C; col += 8) sum_columns<1>(p, G, S, cache, cw, col, C, out);
  for (; col < C; ++col)  // C % 8 columns: scalar
    for (int64_t g = 0; g < G; ++g) {
      float a = 0;
      for (int64_t s = 0; s < S; ++s) a += p[g * S + s] * cache[s * cw + col];
      out[g * C + col] = a;
    }
}

}  // namespace frugal::latent_attention_detail

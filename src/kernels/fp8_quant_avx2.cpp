// AVX2 pieces of fp8_quantize (fp8_quant.h): 8 lanes of the same integer and float operations as
// the scalar e4m3_round / amax_bits_portable, so the results are bit-identical to them.
#include <immintrin.h>

#include <algorithm>

#include "kernels/fp8_quant.h"

namespace frugal::fp8_detail {

uint32_t amax_bits_avx2(const float* x, int64_t n) {
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
  __m256i m = _mm256_setzero_si256();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i v = _mm256_and_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i)), abs_mask);
    m = _mm256_max_epu32(m, v);
  }
  alignas(32) uint32_t lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), m);
  uint32_t r = *std::max_element(lanes, lanes + 8);
  return std::max(r, amax_bits_portable(x + i, n - i));
}

void quantize_tile_avx2(float* x, int64_t n, float s) {
  const __m256 vs = _mm256_set1_ps(s);
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff), sign_mask = _mm256_set1_epi32(int(0x80000000u));
  const __m256i half = _mm256_set1_epi32(0x7ffff), one = _mm256_set1_epi32(1), keep = _mm256_set1_epi32(int(~0xfffffu));
  const __m256i max448 = _mm256_set1_epi32(0x43e00000), inf = _mm256_set1_epi32(0x7f800000);
  const __m256i min_normal = _mm256_set1_epi32(0x3c800000 - 1);  // a > this: |x| >= 2^-6
  const __m256 magic = _mm256_set1_ps(16384.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_div_ps(_mm256_loadu_ps(x + i), vs);
    const __m256i u = _mm256_castps_si256(v);
    const __m256i sign = _mm256_and_si256(u, sign_mask), a = _mm256_and_si256(u, abs_mask);
    // Normal range: round the mantissa to 3 bits (ties to even), clamp to 448 (inf included).
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(a, 20), one);
    __m256i rn = _mm256_and_si256(_mm256_add_epi32(a, _mm256_add_epi32(half, lsb)), keep);
    rn = _mm256_min_epu32(rn, max448);
    // Subnormal range: (|x| + 2^14) - 2^14 rounds to E4M3's step 2^-9.
    const __m256 af = _mm256_castsi256_ps(a);
    const __m256i rs = _mm256_castps_si256(_mm256_sub_ps(_mm256_add_ps(af, magic), magic));
    // a is below 2^31 (sign cleared), so the signed compares order it correctly.
    const __m256i normal = _mm256_cmpgt_epi32(a, min_normal);
    const __m256i is_nan = _mm256_cmpgt_epi32(a, inf);
    __m256i r = _mm256_blendv_epi8(rs, rn, normal);
    r = _mm256_blendv_epi8(r, a, is_nan);  // NaN stays (its payload, quiet or not)
    _mm256_storeu_ps(x + i, _mm256_castsi256_ps(_mm256_or_si256(r, sign)));
  }
  quantize_tile_portable(x + i, n - i, s);
}

}  // namespace frugal::fp8_detail

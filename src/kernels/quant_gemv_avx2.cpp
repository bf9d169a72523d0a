// AVX2 integer GEMV on GGUF blocks (compiled with -mavx2 -mfma -mf16c). One 32-value block per
// 256-bit register:
//  * q8_0: vpmaddubsw needs an unsigned operand, so it multiplies |w| (vpsignb w, w; a -128 code
//    becomes the byte 0x80, i.e. 128 as unsigned: still exact) by qa with w's sign (vpsignb qa, w).
//    Pair sums are <= 2 · 128 · 127 < 2^15: no saturation.
//  * q4_0: the nibbles are already unsigned (0..15) and go to vpmaddubsw as they are; the −8
//    centring is subtracted once per block as 8 · Σ qa (a set1(−Σqa) into each of the 8 lanes).
// vpmaddwd with ones widens to 8 int32 lanes, converted to f32 and multiplied by d_w · d_a.
// Up to 4 activation rows share each weight block load (MT), as decode batches do.
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "kernels/linear_impl.h"

namespace frugal::linear_detail {

namespace {

float hsum_q(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

void row_scales_f16c(const uint8_t* row, int64_t nb, int64_t bb, float* ds) {
  for (int64_t b = 0; b < nb; ++b) {
    uint16_t h;
    __builtin_memcpy(&h, row + b * bb, 2);
    ds[b] = _cvtsh_ss(h);
  }
}

template <DType T, int MT>
void qdot_rows(const QActs& a, const uint8_t* row, const float* ds, int64_t m0, float* y, int64_t ldy) {
  constexpr int64_t bb = T == DType::kQ8_0 ? 34 : 18;
  const __m256i ones16 = _mm256_set1_epi16(1);
  const __m128i low4 = _mm_set1_epi8(0x0f);
  __m256 acc[MT];
  for (int i = 0; i < MT; ++i) acc[i] = _mm256_setzero_ps();
  for (int64_t b = 0; b < a.nb; ++b) {
    const uint8_t* blk = row + b * bb;
    __m256i wv, wsgn;
    if constexpr (T == DType::kQ8_0) {
      wsgn = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
      wv = _mm256_sign_epi8(wsgn, wsgn);
    } else {
      const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2));
      wv = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), low4), _mm_and_si128(q, low4));
    }
    for (int i = 0; i < MT; ++i) {
      const int64_t m = m0 + i;
      __m256i qa = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.qs + m * a.K + b * 32));
      if constexpr (T == DType::kQ8_0) qa = _mm256_sign_epi8(qa, wsgn);
      __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(wv, qa), ones16);
      if constexpr (T == DType::kQ4_0) p = _mm256_sub_epi32(p, _mm256_set1_epi32(a.sum[m * a.nb + b]));
      acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(ds[b] * a.d[m * a.nb + b]), acc[i]);
    }
  }
  for (int i = 0; i < MT; ++i) y[(m0 + i) * ldy] = hsum_q(acc[i]);
}

template <DType T>
void qgemv_t(const QActs& a, const WeightView& w, int64_t n0, int64_t n1, float* y, int64_t ldy) {
  const int64_t bb = int64_t(dtype_block_bytes(T));
  thread_local std::vector<float> ds;
  ds.resize(size_t(a.nb));
  const int64_t ahead = std::max<int64_t>(1, (16 << 10) / std::max<int64_t>(1, a.nb * bb));
  for (int64_t n = n0; n < n1; ++n) {
    const uint8_t* row = q_row(w, n);
    if (n + ahead < n1) {  // a row ~16 KiB ahead into L2 while this one is computed
      const uint8_t* next = q_row(w, n + ahead);
      for (int64_t off = 0; off < a.nb * bb; off += 64) _mm_prefetch(reinterpret_cast<const char*>(next + off), _MM_HINT_T1);
    }
    row_scales_f16c(row, a.nb, bb, ds.data());
    int64_t m = 0;
    for (; m + 4 <= a.M; m += 4) qdot_rows<T, 4>(a, row, ds.data(), m, y + n, ldy);
    switch (a.M - m) {
      case 3: qdot_rows<T, 3>(a, row, ds.data(), m, y + n, ldy); break;
      case 2: qdot_rows<T, 2>(a, row, ds.data(), m, y + n, ldy); break;
      case 1: qdot_rows<T, 1>(a, row, ds.data(), m, y + n, ldy); break;
      default: break;
    }
  }
}

}  // namespace

void qgemv_rows_avx2(const QActs& a, const WeightView& w, int64_t n0, int64_t n1, float* y, int64_t ldy) {
  if (w.dtype == DType::kQ8_0) return qgemv_t<DType::kQ8_0>(a, w, n0, n1, y, ldy);
  return qgemv_t<DType::kQ4_0>(a, w, n0, n1, y, ldy);
}

}  // namespace frugal::linear_detail

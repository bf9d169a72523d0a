// AVX-512 VNNI integer GEMV on GGUF blocks (compiled with -mavx512f -mavx512bw -mavx512vl
// -mavx512dq -mavx512vnni; picked only when best_kernel_isa() saw all of them at run time).
// Two 32-value blocks per 512-bit register, one vpdpbusd (u8 x s8 -> int32, 4 products per lane)
// per block pair: lanes 0..7 hold block b's partial sums, lanes 8..15 block b + 1's.
//  * q8_0: vpdpbusd's unsigned operand is |w| (vpabsb; -128 becomes the byte 0x80 = 128 unsigned,
//    exact), the signed one qa negated where w < 0 (a masked subtract from zero: AVX-512 has no
//    vpsignb). Lane sums stay far below 2^31.
//  * q4_0: the nibbles are unsigned as they are: [lo0 | hi0 | lo1 | hi1] from two 16-byte loads;
//    the −8 centring starts each lane of block b at −Σqa[b] (8 lanes: −8 · Σqa[b]).
// Lanes are converted to f32 and multiplied by d_w · d_a of their block. An odd last block uses
// the 256-bit forms. Up to 4 activation rows share each weight load (MT).
#pragma GCC diagnostic ignored "-Wuninitialized"  // GCC bug 105593, see linear_avx512.cpp
#ifndef __clang__
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "kernels/linear_impl.h"

namespace frugal::linear_detail {

namespace {

float hsum_vnni(__m512 v) { return _mm512_reduce_add_ps(v); }

inline __m512i two_halves_epi32(int32_t lo, int32_t hi) {
  return _mm512_inserti64x4(_mm512_set1_epi32(lo), _mm256_set1_epi32(hi), 1);
}
inline __m512 two_halves_ps(float lo, float hi) {
  return _mm512_insertf32x8(_mm512_set1_ps(lo), _mm256_set1_ps(hi), 1);
}

template <DType T, int MT>
void qdot_rows_vnni(const QActs& a, const uint8_t* row, const float* ds, int64_t m0, float* y, int64_t ldy) {
  constexpr int64_t bb = T == DType::kQ8_0 ? 34 : 18;
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m512i zero = _mm512_setzero_si512();
  __m512 acc[MT];
  for (int i = 0; i < MT; ++i) acc[i] = _mm512_setzero_ps();
  int64_t b = 0;
  for (; b + 2 <= a.nb; b += 2) {
    const uint8_t* blk = row + b * bb;
    __m512i wv;
    __mmask64 neg = 0;
    if constexpr (T == DType::kQ8_0) {
      const __m512i w = _mm512_inserti64x4(
          _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2))),
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + bb + 2)), 1);
      neg = _mm512_movepi8_mask(w);
      wv = _mm512_abs_epi8(w);
    } else {
      const __m256i q0 = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2)));
      const __m256i q1 = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + bb + 2)));
      const __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(q0), q1, 1);  // [q0 q0 q1 q1]
      // 128-bit lanes 1 and 3 (qwords 2, 3, 6, 7) take the high nibbles.
      wv = _mm512_and_si512(_mm512_mask_blend_epi64(0xCC, q, _mm512_srli_epi16(q, 4)), low4);
    }
    for (int i = 0; i < MT; ++i) {
      const int64_t m = m0 + i;
      __m512i qa = _mm512_loadu_si512(a.qs + m * a.K + b * 32);
      __m512i p;
      if constexpr (T == DType::kQ8_0) {
        qa = _mm512_mask_sub_epi8(qa, neg, zero, qa);
        p = _mm512_dpbusd_epi32(zero, wv, qa);
      } else {
        const int32_t* s = a.sum + m * a.nb + b;
        p = _mm512_dpbusd_epi32(two_halves_epi32(-s[0], -s[1]), wv, qa);
      }
      const float* da = a.d + m * a.nb + b;
      acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), two_halves_ps(ds[b] * da[0], ds[b + 1] * da[1]), acc[i]);
    }
  }
  float tail[MT] = {};
  if (b < a.nb) {  // one block left: 256-bit forms
    const uint8_t* blk = row + b * bb;
    __m256i wv, wsgn = _mm256_setzero_si256();
    if constexpr (T == DType::kQ8_0) {
      wsgn = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
      wv = _mm256_sign_epi8(wsgn, wsgn);
    } else {
      const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2));
      const __m128i l4 = _mm_set1_epi8(0x0f);
      wv = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), l4), _mm_and_si128(q, l4));
    }
    for (int i = 0; i < MT; ++i) {
      const int64_t m = m0 + i;
      __m256i qa = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.qs + m * a.K + b * 32));
      __m256i init = _mm256_setzero_si256();
      if constexpr (T == DType::kQ8_0) qa = _mm256_sign_epi8(qa, wsgn);
      else init = _mm256_set1_epi32(-a.sum[m * a.nb + b]);
      const __m256 p = _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(init, wv, qa));
      const __m256 t = _mm256_mul_ps(p, _mm256_set1_ps(ds[b] * a.d[m * a.nb + b]));
      tail[i] = hsum_vnni(_mm512_insertf32x8(_mm512_setzero_ps(), t, 0));
    }
  }
  for (int i = 0; i < MT; ++i) y[(m0 + i) * ldy] = hsum_vnni(acc[i]) + tail[i];
}

template <DType T>
void qgemv_vnni_t(const QActs& a, const WeightView& w, int64_t n0, int64_t n1, float* y, int64_t ldy) {
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
    for (int64_t b = 0; b < a.nb; ++b) {
      uint16_t h;
      __builtin_memcpy(&h, row + b * bb, 2);
      ds[size_t(b)] = _cvtsh_ss(h);
    }
    int64_t m = 0;
    for (; m + 4 <= a.M; m += 4) qdot_rows_vnni<T, 4>(a, row, ds.data(), m, y + n, ldy);
    switch (a.M - m) {
      case 3: qdot_rows_vnni<T, 3>(a, row, ds.data(), m, y + n, ldy); break;
      case 2: qdot_rows_vnni<T, 2>(a, row, ds.data(), m, y + n, ldy); break;
      case 1: qdot_rows_vnni<T, 1>(a, row, ds.data(), m, y + n, ldy); break;
      default: break;
    }
  }
}

}  // namespace

void qgemv_rows_avx512vnni(const QActs& a, const WeightView& w, int64_t n0, int64_t n1, float* y, int64_t ldy) {
  if (w.dtype == DType::kQ8_0) return qgemv_vnni_t<DType::kQ8_0>(a, w, n0, n1, y, ldy);
  return qgemv_vnni_t<DType::kQ4_0>(a, w, n0, n1, y, ldy);
}

}  // namespace frugal::linear_detail

// AVX-512 VNNI integer GEMV on GGUF blocks (compiled with -mavx512f -mavx512bw -mavx512vl
// -mavx512dq -mavx512vnni; picked only when best_kernel_isa() saw all of them at run time).
// Two 32-value blocks per 512-bit register, one vpdpbusd (u8 x s8 -> int32, 4 products per lane)
// per block pair: lanes 0..7 hold block b's partial sums, lanes 8..15 block b + 1's.
//  * q8_0: vpdpbusd's unsigned operand is |w| (vpabsb; -128 becomes the byte 0x80 = 128 unsigned,
//    exact), the signed one qa negated where w < 0 (a masked subtract from zero: AVX-512 has no
//    vpsignb). Lane sums stay far below 2^31.
//  * q4_0: the nibbles are unsigned as they are: [lo0 | hi0 | lo1 | hi1] from two 16-byte loads;
//    the −8 centring starts each lane of block b at −Σqa[b] (8 lanes: −8 · Σqa[b]).
// Lanes are converted to f32 and multiplied by d_w · d_a of their block: the fp16 d_w of 16 blocks
// come in one gather (block stride 34 or 18 bytes), are multiplied by 16 d_a at once, and vpermps
// spreads each pair's two products over its two halves. Block pairs alternate between two
// accumulators (the FMA latency), an odd last block uses the 256-bit forms, and up to 4
// activation rows share each weight load (MT).
#pragma GCC diagnostic ignored "-Wuninitialized"  // GCC bug 105593, see linear_avx512.cpp
#ifndef __clang__
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>

#include "kernels/linear_impl.h"

namespace frugal::linear_detail {

namespace {

float hsum_vnni(__m512 v) { return _mm512_reduce_add_ps(v); }

inline __m512i two_halves_epi32(int32_t lo, int32_t hi) {
  return _mm512_inserti64x4(_mm512_set1_epi32(lo), _mm256_set1_epi32(hi), 1);
}

// Lane pattern for block pair p of a 16-block group: lanes 0..7 take element 2p of a 16-float
// vector of per-block values, lanes 8..15 element 2p + 1 (vpermps).
struct PairIdx {
  __m512i idx[8];
  PairIdx() {
    for (int p = 0; p < 8; ++p) idx[p] = two_halves_epi32(2 * p, 2 * p + 1);
  }
};

// The 16 fp16 block scales of a group of blocks (up to 16: `gm`) as f32, with one gather at the
// 34- or 18-byte block stride (4 bytes from each block start; the high half is dropped).
template <int64_t bb>
inline __m512 group_scales(const uint8_t* first, __mmask16 gm) {
  const __m512i offs = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                          _mm512_set1_epi32(int32_t(bb)));
  const __m512i raw = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), gm, offs, first, 1);
  return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(raw));
}

template <DType T, int MT>
void qdot_rows_vnni(const QActs& a, const uint8_t* row, int64_t m0, float* y, int64_t ldy) {
  constexpr int64_t bb = T == DType::kQ8_0 ? 34 : 18;
  static const PairIdx pidx;
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m512i zero = _mm512_setzero_si512();
  __m512 acc[MT][2];
  float tail[MT] = {};
  for (int i = 0; i < MT; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int64_t g = 0; g < a.nb; g += 16) {
    const int64_t gn = std::min<int64_t>(16, a.nb - g);
    const __mmask16 gm = __mmask16((1u << gn) - 1);
    // d_w · d_a for the group's blocks, and (q4_0) −Σqa, per activation row.
    const __m512 dw = group_scales<bb>(row + g * bb, gm);
    __m512 sc[MT];
    __m512i ns[MT];
    for (int i = 0; i < MT; ++i) {
      const int64_t m = m0 + i;
      sc[i] = _mm512_mul_ps(dw, _mm512_maskz_loadu_ps(gm, a.d + m * a.nb + g));
      if constexpr (T == DType::kQ4_0) ns[i] = _mm512_sub_epi32(zero, _mm512_maskz_loadu_epi32(gm, a.sum + m * a.nb + g));
    }
    int64_t p = 0;
    for (; 2 * p + 1 < gn; ++p) {
      const uint8_t* blk = row + (g + 2 * p) * bb;
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
      const __m512i ix = pidx.idx[p];
      for (int i = 0; i < MT; ++i) {
        const int64_t m = m0 + i;
        __m512i qa = _mm512_loadu_si512(a.qs + m * a.K + (g + 2 * p) * 32);
        __m512i d;
        if constexpr (T == DType::kQ8_0) {
          qa = _mm512_mask_sub_epi8(qa, neg, zero, qa);
          d = _mm512_dpbusd_epi32(zero, wv, qa);
        } else {
          d = _mm512_dpbusd_epi32(_mm512_permutexvar_epi32(ix, ns[i]), wv, qa);
        }
        acc[i][p & 1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_permutexvar_ps(ix, sc[i]), acc[i][p & 1]);
      }
    }
    if (2 * p < gn) {  // one block left (odd block count): 256-bit forms
      const int64_t b = g + 2 * p;
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
        const __m256 d = _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(init, wv, qa));
        const float s = _mm512_cvtss_f32(_mm512_permutexvar_ps(_mm512_set1_epi32(int32_t(2 * p)), sc[i]));
        tail[i] += hsum_vnni(_mm512_insertf32x8(_mm512_setzero_ps(), _mm256_mul_ps(d, _mm256_set1_ps(s)), 0));
      }
    }
  }
  for (int i = 0; i < MT; ++i) y[(m0 + i) * ldy] = hsum_vnni(_mm512_add_ps(acc[i][0], acc[i][1])) + tail[i];
}

template <DType T>
void qgemv_vnni_t(const QActs& a, const WeightView& w, int64_t n0, int64_t n1, float* y, int64_t ldy) {
  const int64_t bb = int64_t(dtype_block_bytes(T));
  const int64_t ahead = std::max<int64_t>(1, (16 << 10) / std::max<int64_t>(1, a.nb * bb));
  for (int64_t n = n0; n < n1; ++n) {
    const uint8_t* row = q_row(w, n);
    if (n + ahead < n1) {  // a row ~16 KiB ahead into L2 while this one is computed
      const uint8_t* next = q_row(w, n + ahead);
      for (int64_t off = 0; off < a.nb * bb; off += 64) _mm_prefetch(reinterpret_cast<const char*>(next + off), _MM_HINT_T1);
    }
    int64_t m = 0;
    for (; m + 4 <= a.M; m += 4) qdot_rows_vnni<T, 4>(a, row, m, y + n, ldy);
    switch (a.M - m) {
      case 3: qdot_rows_vnni<T, 3>(a, row, m, y + n, ldy); break;
      case 2: qdot_rows_vnni<T, 2>(a, row, m, y + n, ldy); break;
      case 1: qdot_rows_vnni<T, 1>(a, row, m, y + n, ldy); break;
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

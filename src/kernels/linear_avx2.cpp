// AVX2 + FMA + F16C kernels for linear layers (compiled with -mavx2 -mfma -mf16c; only called
// when cpu_features() says the CPU has them).
//
// Decode (M small) is memory bound: each weight row is streamed once from DRAM, widened to f32 in
// registers and FMA'd against all M activation rows; the next row group is prefetched into L2.
//  * M = 1, e4m3 (DeepSeek's format): gemv_e4m3_m1_tile, a shuffle-free decode of 32 codes at a
//    time against a permuted, pre-scaled copy of x (see the comment there).
//  * M = 1, other dtypes with block scales: the scales go into a copy of x per row-block
//    (gemv_rows_prescaled), the weights through the unscaled tile.
//  * otherwise gemv_tile: R weight rows x MR activation rows in R*MR ymm accumulators, so one
//    weight load serves MR FMAs and one activation load serves R FMAs; block scales multiply the
//    widened weights (MR > 1) or per-segment partial sums (MR = 1).
// All of them multiply x by the exact decoded codes and the exact block scales, with at most one
// extra rounding per product compared with x * fl(code * scale) (the reference's WeightView::at());
// test_linear.cpp derives the resulting error bound.
#include <immintrin.h>

#include <cstring>
#include <limits>
#include <vector>

#include "kernels/linear_impl.h"

namespace frugal::linear_detail {

namespace {

// Decode<T>::load8(p): 8 stored elements at p (any alignment) widened to f32, as `raw` values:
// true value = raw * kRawScale. Only e4m3 needs kRawScale != 1 (see below).
template <DType T> struct Decode;

template <> struct Decode<DType::kF32> {
  static constexpr int kBytes = 4;
  static constexpr float kRawScale = 1.0f;
  static __m256 load8(const uint8_t* p) { return _mm256_loadu_ps(reinterpret_cast<const float*>(p)); }
};

// bf16 is the top half of an f32: zero-extend to 32 bits and shift.
template <> struct Decode<DType::kBF16> {
  static constexpr int kBytes = 2;
  static constexpr float kRawScale = 1.0f;
  static __m256 load8(const uint8_t* p) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
  }
};

template <> struct Decode<DType::kF16> {
  static constexpr int kBytes = 2;
  static constexpr float kRawScale = 1.0f;
  static __m256 load8(const uint8_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
};

// e5m2 is the top byte of an f16 (same 5-bit exponent and bias; inf and NaN map to inf and NaN).
template <> struct Decode<DType::kF8E5M2> {
  static constexpr int kBytes = 1;
  static constexpr float kRawScale = 1.0f;
  static __m256 load8(const uint8_t* p) {
    __m128i h = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
    return _mm256_cvtph_ps(_mm_slli_epi16(h, 8));
  }
};

// e4m3 S.EEEE.MMM placed as f16 S.0EEEE.MMM0000000 is the same number times 2^-8 (f16 bias 15 vs
// 7), exactly, subnormals included (vcvtph2ps widens f16 subnormals in hardware, so no f32
// denormal ever reaches the FP units). kRawScale = 2^8 is folded into the block scale.
// The NaN codes S.1111.111 would come out as ±480 this way; see e4m3_nan_track().
template <> struct Decode<DType::kF8E4M3> {
  static constexpr int kBytes = 1;
  static constexpr float kRawScale = 256.0f;
  static __m256 load8(const uint8_t* p) {
    // Sign-extend each byte to 16 bits, so after << 7 the sign lands in bit 15; the mask clears
    // the copy of the sign that lands in bit 14 (the f16 exponent's top bit).
    __m128i h = _mm_cvtepi8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
    h = _mm_and_si128(_mm_slli_epi16(h, 7), _mm_set1_epi16(int16_t(0xBF80)));
    return _mm256_cvtph_ps(h);
  }
};

// Up to 8 elements (n < 8) through a zero-padded copy: no read past the end of the weight.
template <DType T> __m256 load_partial(const uint8_t* p, int64_t n) {
  alignas(32) uint8_t buf[32] = {};
  std::memcpy(buf, p, size_t(n) * Decode<T>::kBytes);
  return Decode<T>::load8(buf);
}

// Lane mask with the first n (0..8) lanes set, for maskload/maskstore of partial vectors.
__m256i lane_mask(int64_t n) {
  static const int32_t kOnes[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kOnes + 8 - n));
}

float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// NaN-code tracking for 32 e4m3 codes at a time, 2 ALU ops: a code is NaN iff (code | 0x80) is
// 0xff, so a running unsigned byte max of (code | 0x80) reaches 0xff iff a NaN code went by.
__m256i e4m3_nan_track(__m256i acc, const uint8_t* p) {
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm256_max_epu8(acc, _mm256_or_si256(v, _mm256_set1_epi8(int8_t(0x80))));
}
bool e4m3_nan_seen(__m256i acc) {
  return _mm256_movemask_epi8(_mm256_cmpeq_epi8(acc, _mm256_set1_epi8(-1))) != 0;
}

// True if any of the n e4m3 codes at p is a NaN code (S.1111.111).
bool e4m3_has_nan(const uint8_t* p, int64_t n) {
  __m256i acc = _mm256_setzero_si256();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) acc = e4m3_nan_track(acc, p + i);
  if (e4m3_nan_seen(acc)) return true;
  for (; i < n; ++i)
    if ((p[i] & 0x7f) == 0x7f) return true;
  return false;
}

// The multiplier for one (row, K-block) segment: kRawScale times the block scale. kRawScale is a
// power of two, so raw * (kRawScale * s) rounds exactly like true_value * s.
template <DType T> float segment_scale(const float* srow, int64_t block) {
  return Decode<T>::kRawScale * (srow ? srow[block] : 1.0f);
}

// Software prefetch into L2 of the row group(s) ahead: the hardware streamers stop at 4 KiB pages
// and ramp up again on each new row, which leaves DRAM idle while fp8 decode computes. Prefetching
// at least kPrefetchAhead bytes ahead (in whole groups: the addresses are those of the current rows
// plus a multiple of the group stride) measured best on the dev VM; one group of short rows is
// not enough to cover DRAM latency.
constexpr auto kPrefetchHint = _MM_HINT_T1;  // GCC: enum _mm_hint; clang: int
constexpr int64_t kPrefetchAhead = 24 << 10;
// Byte offset from a group's rows to the rows being prefetched.
inline int64_t prefetch_offset(int64_t group_bytes, int64_t row_stride_bytes, int R) {
  const int64_t groups = std::max<int64_t>(1, (kPrefetchAhead + group_bytes - 1) / std::max<int64_t>(group_bytes, 1));
  return groups * R * row_stride_bytes;
}

// One tile: y[m, n + r] for m < MR, r < R; x points at activation row m0.
//  kMul: weights need a scale (block scales, or e4m3's raw 2^8).
//  With MR == 1 the scale is applied to per-segment partial sums instead of to every weight vector
//  (saves one vmulps per 8 weights, which decode at M = 1 cannot afford); with MR > 1 it is applied
//  to the weight vector, shared by the MR FMAs, and the 12 accumulators leave no room for partials.
//  first: this is the first M chunk of the group, the one that streams it from DRAM (prefetch).
// An e4m3 NaN code decodes to ±480 here, so rows are checked as they stream and their outputs set
// to NaN if they have one (never in a valid checkpoint; costs 2 ops per 32 codes).
template <DType T, int MR, int R, bool kMul>
void gemv_tile(const float* x, int64_t ldx, const WeightView& w, int64_t n, float* y, int64_t ldy,
               bool first) {
  using D = Decode<T>;
  constexpr bool kFold = kMul && MR == 1;
  constexpr bool kNanCheck = T == DType::kF8E4M3;
  constexpr int64_t kStep = kNanCheck ? 32 : 8;  // elements per main-loop step
  const int64_t K = w.cols, next = prefetch_offset(R * K * D::kBytes, w.ld * D::kBytes, R);
  const auto* base = static_cast<const uint8_t*>(w.data);
  const uint8_t* row[R];
  const float* srow[R];
  for (int r = 0; r < R; ++r) {
    row[r] = base + (n + r) * w.ld * D::kBytes;
    srow[r] = scale_row(w, n + r);
  }
  __m256 acc[R][MR], total[R];
  __m256i nan_acc = _mm256_setzero_si256();  // all R rows together: NaN codes are never expected
  bool nan_tail = false;
  for (int r = 0; r < R; ++r) {
    total[r] = _mm256_setzero_ps();
    for (int m = 0; m < MR; ++m) acc[r][m] = _mm256_setzero_ps();
  }

  // Segments of K sharing one block scale per row (the whole row when unscaled).
  const bool scaled = w.scale_inv != nullptr;
  int64_t block = scaled ? w.col0 / w.block_cols : 0;
  for (int64_t c0 = 0; c0 < K; ++block) {
    const int64_t c1 = scaled ? std::min(K, (block + 1) * w.block_cols - w.col0) : K;
    __m256 s[R];
    if constexpr (kMul)
      for (int r = 0; r < R; ++r) s[r] = _mm256_set1_ps(segment_scale<T>(srow[r], block));
    // 8 weights of each row at column k (all 8 valid, or `tail` < 8 valid and zero-padded).
    auto step8 = [&](int64_t k, int64_t tail) {
      __m256 wv[R];
      for (int r = 0; r < R; ++r) {
        wv[r] = tail ? load_partial<T>(row[r] + k * D::kBytes, tail) : D::load8(row[r] + k * D::kBytes);
        if constexpr (kMul && !kFold) wv[r] = _mm256_mul_ps(wv[r], s[r]);
      }
      for (int m = 0; m < MR; ++m) {
        const __m256 xv = tail ? _mm256_maskload_ps(x + m * ldx + k, lane_mask(tail))
                               : _mm256_loadu_ps(x + m * ldx + k);
        for (int r = 0; r < R; ++r) acc[r][m] = _mm256_fmadd_ps(wv[r], xv, acc[r][m]);
      }
    };
    int64_t k = c0;
    for (; k + kStep <= c1; k += kStep) {
      if (first && uint64_t(k * D::kBytes) % 64 < uint64_t(kStep * D::kBytes))
        for (int r = 0; r < R; ++r)
          _mm_prefetch(reinterpret_cast<const char*>(row[r] + next + k * D::kBytes), kPrefetchHint);
      if constexpr (kNanCheck)
        for (int r = 0; r < R; ++r) nan_acc = e4m3_nan_track(nan_acc, row[r] + k);
      for (int64_t j = 0; j < kStep; j += 8) step8(k + j, 0);
    }
    if constexpr (kNanCheck)
      if (k < c1)
        for (int r = 0; r < R; ++r) nan_tail |= e4m3_has_nan(row[r] + k, c1 - k);
    for (; k + 8 <= c1; k += 8) step8(k, 0);
    if (k < c1) step8(k, c1 - k);
    if constexpr (kFold)
      for (int r = 0; r < R; ++r) {
        total[r] = _mm256_fmadd_ps(acc[r][0], s[r], total[r]);
        acc[r][0] = _mm256_setzero_ps();
      }
    c0 = c1;
  }
  for (int r = 0; r < R; ++r)
    for (int m = 0; m < MR; ++m) y[m * ldy + n + r] = hsum(kFold ? total[r] : acc[r][m]);

  if constexpr (kNanCheck) {
    if (nan_tail || e4m3_nan_seen(nan_acc))  // a NaN weight makes its outputs NaN, as in the reference
      for (int r = 0; r < R; ++r)
        if (e4m3_has_nan(row[r], K))
          for (int m = 0; m < MR; ++m) y[m * ldy + n + r] = std::numeric_limits<float>::quiet_NaN();
  }
}

// R weight rows starting at n against all M activation rows, MR <= 4 at a time. The R rows stay
// in L1/L2 between the M chunks, so DRAM streams them once.
template <DType T, int R, bool kMul>
void gemv_group(const float* x, int64_t M, int64_t ldx, const WeightView& w, int64_t n, float* y,
                int64_t ldy) {
  for (int64_t m0 = 0; m0 < M; m0 += 4) {
    const float* xm = x + m0 * ldx;
    float* ym = y + m0 * ldy;
    switch (std::min<int64_t>(M - m0, 4)) {
      case 1: gemv_tile<T, 1, R, kMul>(xm, ldx, w, n, ym, ldy, m0 == 0); break;
      case 2: gemv_tile<T, 2, R, kMul>(xm, ldx, w, n, ym, ldy, m0 == 0); break;
      case 3:
        if constexpr (R <= 3) gemv_tile<T, 3, R, kMul>(xm, ldx, w, n, ym, ldy, m0 == 0);
        else for (int r = 0; r < R; ++r) gemv_tile<T, 3, 1, kMul>(xm, ldx, w, n + r, ym, ldy, m0 == 0);
        break;
      default:
        if constexpr (R <= 3) gemv_tile<T, 4, R, kMul>(xm, ldx, w, n, ym, ldy, m0 == 0);
        else for (int r = 0; r < R; ++r) gemv_tile<T, 4, 1, kMul>(xm, ldx, w, n + r, ym, ldy, m0 == 0);
        break;
    }
  }
}

// Decode (M = 1) with block scales: rows of one row-block share their K-block scales, so the
// scales go into a copy of x (xs[k] = x[k] * kRawScale * scale[block of k], once per row-block,
// K multiplies per block_rows x K weights) and the weights stream through the unscaled kernel, with
// no per-segment work at all. (Rounding: fl(x * s) * code instead of x * fl(code * s); both are
// within one rounding of the exact product, see test_linear.cpp.)
template <DType T>
void gemv_rows_prescaled(const float* x, const WeightView& w, int64_t n0, int64_t n1, float* y) {
  thread_local std::vector<float> xs_buf;
  xs_buf.resize(size_t(w.cols));
  float* xs = xs_buf.data();
  WeightView wu = w;
  wu.scale_inv = nullptr;
  for (int64_t n = n0; n < n1;) {
    const int64_t rb_end = row_block_end(w, n, n1);
    const float* srow = scale_row(w, n);
    for_each_scale_segment(w, [&](int64_t c0, int64_t c1, int64_t block) {
      const float s = segment_scale<T>(srow, block);
      for (int64_t k = c0; k < c1; ++k) xs[k] = x[k] * s;
    });
    for (; n + 4 <= rb_end; n += 4) gemv_tile<T, 1, 4, false>(xs, 0, wu, n, y, 0, true);
    for (; n < rb_end; ++n) gemv_tile<T, 1, 1, false>(xs, 0, wu, n, y, 0, true);
  }
}

// ---- e4m3 decode at M = 1 (DeepSeek's checkpoint format on the hot path) ----
//
// The generic Decode<kF8E4M3>::load8 spends 2 shuffle-port ops per 8 codes (vpmovsxbw, and the
// lane crossing inside vcvtph2ps), which is the bottleneck on Intel cores. Here 32 codes are split
// into even and odd bytes without shuffles: in 16-bit lanes, (v << 8) holds the even byte on top
// and v itself the odd one; an arithmetic shift right by 1 then leaves S.S.EEEE.MMM.xxxxxxx, and
// the mask 0xBF80 makes it the f16 S.0EEEE.MMM0000000 = code * 2^-8 (as in Decode<kF8E4M3>).
// The four f16 octets come out as codes {0,2..14}, {16,18..30}, {1,3..15}, {17,19..31} of the
// block, so x is stored permuted the same way (xs, built once per row-block together with the
// scales: see e4m3_m1_prepare_x).
constexpr int64_t kE4m3Block = 32;

// Position of element k (of a full 32-block starting at 0) in the permuted x.
inline int64_t e4m3_perm(int64_t off) {
  return (off & 1) * 16 + (off >> 4) * 8 + ((off & 15) >> 1);
}

// Even and odd elements of the 16 floats p[0..16), each as 8 in order.
inline void split_even_odd(const float* p, __m256 s, __m256& even, __m256& odd) {
  const __m256 a = _mm256_mul_ps(_mm256_loadu_ps(p), s), b = _mm256_mul_ps(_mm256_loadu_ps(p + 8), s);
  // shuffle_ps works within 128-bit lanes: [a0 a2 b0 b2 | a4 a6 b4 b6]; the 64-bit permute then
  // orders the pairs as [a0 a2, a4 a6, b0 b2, b4 b6].
  even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
  odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
}

// xs = x * (2^8 * block scale) in the permuted order for the full 32-blocks, in order for the tail.
// Runs once per row-block (block_rows x K weights), so it must stay cheap next to the kernel.
void e4m3_m1_prepare_x(const float* x, const WeightView& w, const float* srow, float* xs) {
  const int64_t K = w.cols, K32 = K / kE4m3Block * kE4m3Block;
  for_each_scale_segment(w, [&](int64_t c0, int64_t c1, int64_t block) {
    const float s = segment_scale<DType::kF8E4M3>(srow, block);
    const __m256 sv = _mm256_set1_ps(s);
    for (int64_t k = c0; k < c1;) {
      if (k % kE4m3Block == 0 && k + kE4m3Block <= std::min(c1, K32)) {
        __m256 e0, o0, e1, o1;
        split_even_odd(x + k, sv, e0, o0);
        split_even_odd(x + k + 16, sv, e1, o1);
        _mm256_storeu_ps(xs + k, e0);
        _mm256_storeu_ps(xs + k + 8, e1);
        _mm256_storeu_ps(xs + k + 16, o0);
        _mm256_storeu_ps(xs + k + 24, o1);
        k += kE4m3Block;
      } else {  // segment edges that are not 32-aligned, and the tail
        const int64_t b = k / kE4m3Block * kE4m3Block;
        xs[k < K32 ? b + e4m3_perm(k - b) : k] = x[k] * s;
        ++k;
      }
    }
  });
}

// y[n + r] for R rows of an unscaled e4m3 view against the prepared xs.
template <int R>
void gemv_e4m3_m1_tile(const float* xs, const WeightView& w, int64_t n, float* y) {
  const int64_t K = w.cols, K32 = K / kE4m3Block * kE4m3Block, next = prefetch_offset(R * K, w.ld, R);
  const auto* base = static_cast<const uint8_t*>(w.data);
  const uint8_t* row[R];
  __m256 acc[R];
  for (int r = 0; r < R; ++r) {
    row[r] = base + (n + r) * w.ld;
    acc[r] = _mm256_setzero_ps();
  }
  const __m256i f16_mask = _mm256_set1_epi16(int16_t(0xBF80)), sign = _mm256_set1_epi8(int8_t(0x80));
  __m256i nan_acc = _mm256_setzero_si256();
  int64_t k = 0;
  for (; k < K32; k += kE4m3Block) {
    if (uint64_t(k) % 64 == 0)
      for (int r = 0; r < R; ++r) _mm_prefetch(reinterpret_cast<const char*>(row[r] + next + k), kPrefetchHint);
    const __m256 x0 = _mm256_loadu_ps(xs + k), x1 = _mm256_loadu_ps(xs + k + 8);
    const __m256 x2 = _mm256_loadu_ps(xs + k + 16), x3 = _mm256_loadu_ps(xs + k + 24);
    for (int r = 0; r < R; ++r) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row[r] + k));
      nan_acc = _mm256_max_epu8(nan_acc, _mm256_or_si256(v, sign));  // see e4m3_nan_track
      const __m256i ev = _mm256_and_si256(_mm256_srai_epi16(_mm256_slli_epi16(v, 8), 1), f16_mask);
      const __m256i od = _mm256_and_si256(_mm256_srai_epi16(v, 1), f16_mask);
      acc[r] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm256_castsi256_si128(ev)), x0, acc[r]);
      acc[r] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm256_extracti128_si256(ev, 1)), x1, acc[r]);
      acc[r] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm256_castsi256_si128(od)), x2, acc[r]);
      acc[r] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm256_extracti128_si256(od, 1)), x3, acc[r]);
    }
  }
  bool nan = e4m3_nan_seen(nan_acc);
  for (; k < K; k += 8) {  // tail (< 32 codes), x in order
    const int64_t t = std::min<int64_t>(8, K - k);
    const __m256 xv = t == 8 ? _mm256_loadu_ps(xs + k) : _mm256_maskload_ps(xs + k, lane_mask(t));
    for (int r = 0; r < R; ++r) {
      nan |= e4m3_has_nan(row[r] + k, t);
      const __m256 wv = t == 8 ? Decode<DType::kF8E4M3>::load8(row[r] + k) : load_partial<DType::kF8E4M3>(row[r] + k, t);
      acc[r] = _mm256_fmadd_ps(wv, xv, acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) y[n + r] = hsum(acc[r]);
  if (nan)  // a NaN weight makes its output NaN, exactly as in the reference
    for (int r = 0; r < R; ++r)
      if (e4m3_has_nan(row[r], K)) y[n + r] = std::numeric_limits<float>::quiet_NaN();
}

void gemv_rows_e4m3_m1(const float* x, const WeightView& w, int64_t n0, int64_t n1, float* y) {
  thread_local std::vector<float> xs_buf;
  xs_buf.resize(size_t(w.cols));
  float* xs = xs_buf.data();
  WeightView wu = w;
  wu.scale_inv = nullptr;
  for (int64_t n = n0; n < n1;) {
    // Rows up to the end of this row-block share xs (all rows when unscaled).
    const int64_t rb_end = row_block_end(w, n, n1);
    const float* srow = scale_row(w, n);
    e4m3_m1_prepare_x(x, w, srow, xs);
    for (; n + 4 <= rb_end; n += 4) gemv_e4m3_m1_tile<4>(xs, wu, n, y);
    for (; n < rb_end; ++n) gemv_e4m3_m1_tile<1>(xs, wu, n, y);
  }
}

// Rows [n0, n1) in groups of R (4 rows when M <= 2, else 3 so a 4x3 tile fits 12 accumulators).
template <DType T, bool kMul>
void gemv_rows_t(const float* x, int64_t M, int64_t ldx, const WeightView& w, int64_t n0, int64_t n1,
                 float* y, int64_t ldy) {
  if constexpr (T == DType::kF8E4M3)
    if (M == 1) return gemv_rows_e4m3_m1(x, w, n0, n1, y);
  if constexpr (kMul)
    if (M == 1 && w.scale_inv) return gemv_rows_prescaled<T>(x, w, n0, n1, y);
  int64_t n = n0;
  if (M <= 2) {
    for (; n + 4 <= n1; n += 4) gemv_group<T, 4, kMul>(x, M, ldx, w, n, y, ldy);
  } else {
    for (; n + 3 <= n1; n += 3) gemv_group<T, 3, kMul>(x, M, ldx, w, n, y, ldy);
  }
  for (; n < n1; ++n) gemv_group<T, 1, kMul>(x, M, ldx, w, n, y, ldy);
}

template <DType T, bool kMul>
void dequant_rows_t(const WeightView& w, int64_t r0, int64_t r1, float* dst, int64_t ldd) {
  using D = Decode<T>;
  const auto* base = static_cast<const uint8_t*>(w.data);
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = base + r * w.ld * D::kBytes;
    const float* srow = scale_row(w, r);
    float* out = dst + (r - r0) * ldd;
    for_each_scale_segment(w, [&](int64_t c0, int64_t c1, int64_t block) {
      const __m256 s = _mm256_set1_ps(segment_scale<T>(srow, block));
      int64_t k = c0;
      for (; k + 8 <= c1; k += 8) {
        __m256 v = D::load8(row + k * D::kBytes);
        if constexpr (kMul) v = _mm256_mul_ps(v, s);
        _mm256_storeu_ps(out + k, v);
      }
      if (k < c1) {
        __m256 v = load_partial<T>(row + k * D::kBytes, c1 - k);
        if constexpr (kMul) v = _mm256_mul_ps(v, s);
        _mm256_maskstore_ps(out + k, lane_mask(c1 - k), v);
      }
      if constexpr (T == DType::kF8E4M3) {  // patch NaN codes (see gemv_tile)
        if (e4m3_has_nan(row + c0, c1 - c0))
          for (int64_t c = c0; c < c1; ++c)
            if ((row[c] & 0x7f) == 0x7f) out[c] = w.at(r, c);
      }
    });
  }
}

}  // namespace

void gemv_rows_avx2(const float* x, int64_t M, int64_t ldx, const WeightView& w, int64_t n0, int64_t n1,
                    float* y, int64_t ldy) {
  const bool s = w.scale_inv != nullptr;
  switch (w.dtype) {
    case DType::kF32:
      return s ? gemv_rows_t<DType::kF32, true>(x, M, ldx, w, n0, n1, y, ldy)
               : gemv_rows_t<DType::kF32, false>(x, M, ldx, w, n0, n1, y, ldy);
    case DType::kBF16:
      return s ? gemv_rows_t<DType::kBF16, true>(x, M, ldx, w, n0, n1, y, ldy)
               : gemv_rows_t<DType::kBF16, false>(x, M, ldx, w, n0, n1, y, ldy);
    case DType::kF16:
      return s ? gemv_rows_t<DType::kF16, true>(x, M, ldx, w, n0, n1, y, ldy)
               : gemv_rows_t<DType::kF16, false>(x, M, ldx, w, n0, n1, y, ldy);
    case DType::kF8E5M2:
      return s ? gemv_rows_t<DType::kF8E5M2, true>(x, M, ldx, w, n0, n1, y, ldy)
               : gemv_rows_t<DType::kF8E5M2, false>(x, M, ldx, w, n0, n1, y, ldy);
    case DType::kF8E4M3: return gemv_rows_t<DType::kF8E4M3, true>(x, M, ldx, w, n0, n1, y, ldy);
    default: break;
  }
}

void dequant_rows_avx2(const WeightView& w, int64_t r0, int64_t r1, float* dst, int64_t ldd) {
  const bool s = w.scale_inv != nullptr;
  switch (w.dtype) {
    case DType::kF32:
      return s ? dequant_rows_t<DType::kF32, true>(w, r0, r1, dst, ldd)
               : dequant_rows_t<DType::kF32, false>(w, r0, r1, dst, ldd);
    case DType::kBF16:
      return s ? dequant_rows_t<DType::kBF16, true>(w, r0, r1, dst, ldd)
               : dequant_rows_t<DType::kBF16, false>(w, r0, r1, dst, ldd);
    case DType::kF16:
      return s ? dequant_rows_t<DType::kF16, true>(w, r0, r1, dst, ldd)
               : dequant_rows_t<DType::kF16, false>(w, r0, r1, dst, ldd);
    case DType::kF8E5M2:
      return s ? dequant_rows_t<DType::kF8E5M2, true>(w, r0, r1, dst, ldd)
               : dequant_rows_t<DType::kF8E5M2, false>(w, r0, r1, dst, ldd);
    case DType::kF8E4M3: return dequant_rows_t<DType::kF8E4M3, true>(w, r0, r1, dst, ldd);
    default: break;
  }
}

}  // namespace frugal::linear_detail

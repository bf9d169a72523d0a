// AVX-512 kernels for linear layers (compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq
// -mavx512vbmi -mfma -mf16c; only called when best_kernel_isa() found all of them at run time).
//
// Only the small-M GEMV of bf16 and fp8 e4m3 weights is specialised here (decode: memory bound,
// and on AVX2 e4m3 is limited by the f16 conversion throughput); every other dtype/path is the
// AVX2 code (the dispatch table in linear.cpp mixes them).
//
// Weight decode without any conversion instruction: both dtypes become bf16 bit patterns in 16-bit
// lanes, and a bf16 in the top half of a 32-bit lane is its f32 (one shift or one and per 16
// floats). The resulting f32 lanes are not in code order, so the activations are stored in the same
// permuted order instead (xs, built per row-block together with the block scales, as the AVX2
// prescaled path does: xs = fl(x * scale), multiplied by the exact code value).
//  * bf16: 32 weights per 64-byte load; the even elements are (v << 16), the odd ones
//    (v & 0xffff0000).
//  * e4m3: 64 codes per load; two vpermi2b (AVX512-VBMI, a 128-entry byte table: bit 7 of the index,
//    the sign, is ignored) give the high and low byte of the exact bf16 value of each magnitude
//    (subnormals included, all e4m3 values have <= 4 significant bits), the sign is or-ed into the
//    high byte and vpunpck{l,h}bw pairs the bytes into bf16 lanes. The NaN codes S.1111.111 map to
//    a bf16 NaN, so a NaN weight makes its outputs NaN through the FMAs, with no extra check.
// No f16/f32 conversion instruction and no f32 denormal weight is ever involved.
// GCC 12's AVX-512 headers build "undefined" pass-through operands as `__m512 __Y = __Y;`, which
// -W(maybe-)uninitialized reports at every inlined use (GCC bug 105593); nothing is uninitialised.
#pragma GCC diagnostic ignored "-Wuninitialized"
#ifndef __clang__  // a GCC-only warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/linear_impl.h"

namespace frugal::linear_detail {

namespace {

// Software prefetch into L2 of the row group(s) ahead, as in linear_avx2.cpp (see there).
constexpr auto kPrefetchHint = _MM_HINT_T1;  // GCC: enum _mm_hint; clang: int
constexpr int64_t kPrefetchAhead = 24 << 10;  // 12K..96K measured the same here
inline int64_t prefetch_offset(int64_t group_bytes, int64_t row_stride_bytes, int R) {
  const int64_t groups = std::max<int64_t>(1, (kPrefetchAhead + group_bytes - 1) / std::max<int64_t>(group_bytes, 1));
  return groups * R * row_stride_bytes;
}

// The e4m3 -> bf16 byte tables, indexed by the 7-bit magnitude.
struct E4m3Tables {
  __m512i hi0, hi1, lo0, lo1;  // high byte (entries 0..63, 64..127), low byte
};

const E4m3Tables& e4m3_tables() {
  static const E4m3Tables t = [] {
    alignas(64) uint8_t hi[128], lo[128];
    for (int m = 0; m < 128; ++m) {
      uint16_t b;
      if (m == 0x7f) {
        b = 0x7fc0;  // quiet NaN
      } else {
        const int e = m >> 3, f = m & 7;
        // value = (e ? 8 + f : f) * 2^(max(e, 1) - 10), exact in bf16 (<= 4 significant bits).
        const float v = std::ldexp(float(e ? 8 + f : f), std::max(e, 1) - 10);
        uint32_t u;
        std::memcpy(&u, &v, 4);
        b = uint16_t(u >> 16);
      }
      hi[m] = uint8_t(b >> 8);
      lo[m] = uint8_t(b & 0xff);
    }
    E4m3Tables r;
    r.hi0 = _mm512_load_si512(hi);
    r.hi1 = _mm512_load_si512(hi + 64);
    r.lo0 = _mm512_load_si512(lo);
    r.lo1 = _mm512_load_si512(lo + 64);
    return r;
  }();
  return t;
}

// Per-dtype decode: kStep elements (kStep * kBytes = 64 bytes) into kOut f32 vectors, and the
// position in xs of element `off` (0 <= off < kStep) of a step.
template <DType T> struct Dec512;

template <> struct Dec512<DType::kBF16> {
  static constexpr int kBytes = 2, kStep = 32, kOut = 2;
  struct Ctx {};
  static Ctx ctx() { return {}; }
  static __m512i load(const uint8_t* p) { return _mm512_loadu_si512(p); }
  static __m512i load_tail(const uint8_t* p, int64_t n) {
    return _mm512_maskz_loadu_epi16(__mmask32((uint64_t(1) << n) - 1), p);
  }
  static void decode(const Ctx&, __m512i v, __m512 out[kOut]) {
    out[0] = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
    out[1] = _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32(int32_t(0xffff0000u))));
  }
  static int64_t pos(int64_t off) { return 16 * (off & 1) + (off >> 1); }
  // o[pos(j)] = p[j] * s for the kStep elements of one step.
  static void permute_step(const float* p, __m512 s, float* o) {
    const __m512 a = _mm512_mul_ps(_mm512_loadu_ps(p), s), b = _mm512_mul_ps(_mm512_loadu_ps(p + 16), s);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    _mm512_store_ps(o, _mm512_permutex2var_ps(a, even, b));
    _mm512_store_ps(o + 16, _mm512_permutex2var_ps(a, odd, b));
  }
};

template <> struct Dec512<DType::kF8E4M3> {
  static constexpr int kBytes = 1, kStep = 64, kOut = 4;
  using Ctx = E4m3Tables;
  static const Ctx& ctx() { return e4m3_tables(); }
  static __m512i load(const uint8_t* p) { return _mm512_loadu_si512(p); }
  static __m512i load_tail(const uint8_t* p, int64_t n) {
    return _mm512_maskz_loadu_epi8(n >= 64 ? ~__mmask64(0) : (__mmask64(1) << n) - 1, p);
  }
  static void decode(const Ctx& t, __m512i v, __m512 out[kOut]) {
    const __m512i hm = _mm512_permutex2var_epi8(t.hi0, v, t.hi1);
    const __m512i lo = _mm512_permutex2var_epi8(t.lo0, v, t.lo1);
    // hi = hm | (v & 0x80): the sign into the bf16's top bit.
    const __m512i hi = _mm512_ternarylogic_epi32(hm, v, _mm512_set1_epi8(int8_t(0x80)), 0xF8);
    const __m512i u0 = _mm512_unpacklo_epi8(lo, hi), u1 = _mm512_unpackhi_epi8(lo, hi);
    const __m512i top = _mm512_set1_epi32(int32_t(0xffff0000u));
    out[0] = _mm512_castsi512_ps(_mm512_slli_epi32(u0, 16));
    out[1] = _mm512_castsi512_ps(_mm512_and_si512(u0, top));
    out[2] = _mm512_castsi512_ps(_mm512_slli_epi32(u1, 16));
    out[3] = _mm512_castsi512_ps(_mm512_and_si512(u1, top));
  }
  // Code off = 16 a + 8 h + 2 b + c lands in 128-bit lane a, dword b of out[2 h + c].
  static int64_t pos(int64_t off) {
    const int64_t a = off >> 4, h = (off >> 3) & 1, b = (off >> 1) & 3, c = off & 1;
    return 16 * (2 * h + c) + 4 * a + b;
  }
  // o[pos(j)] = p[j] * s for the kStep elements of one step: output vector q = 2 h + c, lane
  // 4 a + b takes input vector a, element 8 h + 2 b + c.
  static void permute_step(const float* p, __m512 s, float* o) {
    __m512 v[4];
    for (int a = 0; a < 4; ++a) v[a] = _mm512_mul_ps(_mm512_loadu_ps(p + 16 * a), s);
    // Lane 4a + b of the index for q = 0: (a & 1) * 16 + 2b (vectors a = 0,1 / 2,3 pairwise).
    const __m512i base = _mm512_setr_epi32(0, 2, 4, 6, 16, 18, 20, 22, 0, 2, 4, 6, 16, 18, 20, 22);
    for (int q = 0; q < 4; ++q) {
      const __m512i idx = _mm512_add_epi32(base, _mm512_set1_epi32(8 * (q >> 1) + (q & 1)));
      const __m512 lo = _mm512_permutex2var_ps(v[0], idx, v[1]), hi = _mm512_permutex2var_ps(v[2], idx, v[3]);
      _mm512_store_ps(o + 16 * q, _mm512_mask_blend_ps(__mmask16(0xff00), lo, hi));
    }
  }
};

// xs[m] (rows ldxs apart, Kpad = K rounded up to kStep, zero padded) = x[m] * block scale of the
// row-block with scale row srow (null: unscaled), each step's elements in Dec512::pos order.
template <DType T>
void prepare_xs(const float* x, int64_t M, int64_t ldx, const WeightView& w, const float* srow, float* xs,
                int64_t ldxs) {
  using D = Dec512<T>;
  const int64_t K = w.cols, Kfull = K / D::kStep * D::kStep;
  auto block_of = [&](int64_t k) { return (k + w.col0) / w.block_cols; };
  for (int64_t m = 0; m < M; ++m) {
    const float* xm = x + m * ldx;
    float* o = xs + m * ldxs;
    std::memset(o + Kfull, 0, size_t(ldxs - Kfull) * sizeof(float));
    for (int64_t k = 0; k < K; k += D::kStep) {
      if (k < Kfull && (!srow || block_of(k) == block_of(k + D::kStep - 1))) {
        D::permute_step(xm + k, _mm512_set1_ps(srow ? srow[block_of(k)] : 1.0f), o + k);
      } else {  // a step across a scale-block edge, or the tail
        for (int64_t j = k; j < std::min(K, k + D::kStep); ++j)
          o[k + D::pos(j - k)] = xm[j] * (srow ? srow[block_of(j)] : 1.0f);
      }
    }
  }
}

// (Not _mm512_reduce_add_ps: GCC 12's header trips -Wuninitialized on it.)
float hsum(__m512 v) {
  const __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// y[m, n + r] for r < R, m < MR against the prepared xs (rows ldxs apart).
template <DType T, int MR, int R>
void gemv512_tile(const typename Dec512<T>::Ctx& ctx, const float* xs, int64_t ldxs, const WeightView& w,
                  int64_t n, float* y, int64_t ldy, int64_t next) {
  using D = Dec512<T>;
  const int64_t K = w.cols, Kfull = K / D::kStep * D::kStep;
  const bool first = next != 0;
  const auto* base = static_cast<const uint8_t*>(w.data);
  const uint8_t* row[R];
  __m512 acc[R][MR];
  for (int r = 0; r < R; ++r) {
    row[r] = base + (n + r) * w.ld * D::kBytes;
    for (int m = 0; m < MR; ++m) acc[r][m] = _mm512_setzero_ps();
  }
  auto step = [&](int64_t k, const __m512i* v) {
    for (int r = 0; r < R; ++r) {
      __m512 wv[D::kOut];
      D::decode(ctx, v[r], wv);
      for (int m = 0; m < MR; ++m)
        for (int q = 0; q < D::kOut; ++q)
          acc[r][m] = _mm512_fmadd_ps(wv[q], _mm512_load_ps(xs + m * ldxs + k + 16 * q), acc[r][m]);
    }
  };
  int64_t k = 0;
  for (; k < Kfull; k += D::kStep) {
    __m512i v[R];
    for (int r = 0; r < R; ++r) {
      const uint8_t* p = row[r] + k * D::kBytes;
      if (first) _mm_prefetch(reinterpret_cast<const char*>(p + next), kPrefetchHint);
      v[r] = D::load(p);
    }
    step(k, v);
  }
  if (k < K) {
    __m512i v[R];
    for (int r = 0; r < R; ++r) v[r] = D::load_tail(row[r] + k * D::kBytes, K - k);
    step(k, v);
  }
  for (int r = 0; r < R; ++r)
    for (int m = 0; m < MR; ++m) y[m * ldy + n + r] = hsum(acc[r][m]);
}

// R weight rows at n against all M prepared activation rows, at most 4 at a time (the rows stay in
// L1/L2 between the chunks, so DRAM streams them once).
template <DType T, int R>
void gemv512_group(const typename Dec512<T>::Ctx& ctx, const float* xs, int64_t ldxs, int64_t M,
                   const WeightView& w, int64_t n, float* y, int64_t ldy, int64_t next0) {
  // next0: bytes from the group's rows to the rows to prefetch, done by the first M chunk only (the
  // one that streams the rows from DRAM).
  for (int64_t m0 = 0; m0 < M; m0 += 4) {
    const float* xm = xs + m0 * ldxs;
    float* ym = y + m0 * ldy;
    const int64_t first = m0 == 0 ? next0 : 0;
    switch (std::min<int64_t>(M - m0, 4)) {
      case 1: gemv512_tile<T, 1, R>(ctx, xm, ldxs, w, n, ym, ldy, first); break;
      case 2: gemv512_tile<T, 2, R>(ctx, xm, ldxs, w, n, ym, ldy, first); break;
      case 3: gemv512_tile<T, 3, R>(ctx, xm, ldxs, w, n, ym, ldy, first); break;
      default: gemv512_tile<T, 4, R>(ctx, xm, ldxs, w, n, ym, ldy, first); break;
    }
  }
}

template <DType T>
void gemv_rows_512(const float* x, int64_t M, int64_t ldx, const WeightView& w, int64_t n0, int64_t n1,
                   float* y, int64_t ldy) {
  using D = Dec512<T>;
  const int64_t Kpad = (w.cols + D::kStep - 1) / D::kStep * D::kStep;
  thread_local std::vector<float> buf;
  buf.resize(size_t(M * Kpad + 16));
  float* xs = buf.data();
  xs += (64 - reinterpret_cast<uintptr_t>(xs) % 64) % 64 / sizeof(float);  // 64-byte aligned
  const auto& ctx = D::ctx();
  const int64_t next4 = prefetch_offset(4 * w.cols * D::kBytes, w.ld * D::kBytes, 4);
  const int64_t next1 = prefetch_offset(w.cols * D::kBytes, w.ld * D::kBytes, 1);
  for (int64_t n = n0; n < n1;) {
    // Rows up to the end of this row-block share xs (all rows when unscaled).
    const int64_t rb_end = row_block_end(w, n, n1);
    const float* srow = scale_row(w, n);
    prepare_xs<T>(x, M, ldx, w, srow, xs, Kpad);
    for (; n + 4 <= rb_end; n += 4) gemv512_group<T, 4>(ctx, xs, Kpad, M, w, n, y, ldy, next4);
    for (; n < rb_end; ++n) gemv512_group<T, 1>(ctx, xs, Kpad, M, w, n, y, ldy, next1);
  }
}

}  // namespace

void gemv_rows_avx512(const float* x, int64_t M, int64_t ldx, const WeightView& w, int64_t n0, int64_t n1,
                      float* y, int64_t ldy) {
  switch (w.dtype) {
    case DType::kBF16: return gemv_rows_512<DType::kBF16>(x, M, ldx, w, n0, n1, y, ldy);
    case DType::kF8E4M3: return gemv_rows_512<DType::kF8E4M3>(x, M, ldx, w, n0, n1, y, ldy);
    default: return gemv_rows_avx2(x, M, ldx, w, n0, n1, y, ldy);
  }
}

}  // namespace frugal::linear_detail

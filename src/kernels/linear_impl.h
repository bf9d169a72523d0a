// Private to the linear kernels: the per-ISA entry points the dispatcher in linear.cpp picks
// from, and the block-scale bookkeeping every implementation shares.
#pragma once
#include <algorithm>
#include <cstdint>

#include "kernels/linear.h"

namespace frugal::linear_detail {

// y[m, n] (m in [0, M), n in [n0, n1)) = x[m, :] · W[n, :], single-threaded over that row range
// (the caller splits N across threads). Products are f32 dequantised weight x f32 activation,
// accumulated in f32.
using GemvRowsFn = void (*)(const float* x, int64_t M, int64_t ldx, const WeightView& w, int64_t n0,
                            int64_t n1, float* y, int64_t ldy);
// dst[r - r0, c] = w.at(r, c) for r in [r0, r1), c in [0, w.cols); dst rows are ldd apart.
using DequantRowsFn = void (*)(const WeightView& w, int64_t r0, int64_t r1, float* dst, int64_t ldd);

void gemv_rows_avx2(const float* x, int64_t M, int64_t ldx, const WeightView& w, int64_t n0, int64_t n1,
                    float* y, int64_t ldy);
void dequant_rows_avx2(const WeightView& w, int64_t r0, int64_t r1, float* dst, int64_t ldd);
// AVX-512 (F, BW, VL, DQ, VBMI): bf16 and e4m3 specialised, the other dtypes go to the AVX2 kernel.
void gemv_rows_avx512(const float* x, int64_t M, int64_t ldx, const WeightView& w, int64_t n0, int64_t n1,
                      float* y, int64_t ldy);

// ---- GGUF block weights (q8_0, q4_0): integer dot products against q8 activations ----

// The M activation rows quantized by quantize_act_q8 (quant_blocks.h): qs [M, K] int8,
// d and sum [M, nb] (nb = K / 32), rows dense.
struct QActs {
  const int8_t* qs = nullptr;
  const float* d = nullptr;
  const int32_t* sum = nullptr;
  int64_t M = 0, K = 0, nb = 0;
};
// y[m, n] for n in [n0, n1) = Σ_b fl(d_w[b] · d_a[m, b]) · isum(m, n, b), where isum is the exact
// integer dot of block b (q4_0: Σ q · qa − 8 · sum[m, b]); single-threaded over that row range.
using QGemvRowsFn = void (*)(const QActs& a, const WeightView& w, int64_t n0, int64_t n1, float* y, int64_t ldy);
void qgemv_rows_portable(const QActs& a, const WeightView& w, int64_t n0, int64_t n1, float* y, int64_t ldy);
void qgemv_rows_avx2(const QActs& a, const WeightView& w, int64_t n0, int64_t n1, float* y, int64_t ldy);
// AVX-512 F+BW+VL+DQ and VNNI (vpdpbusd): two blocks per 512-bit register.
void qgemv_rows_avx512vnni(const QActs& a, const WeightView& w, int64_t n0, int64_t n1, float* y, int64_t ldy);
// dst[r - r0, :] = the dequantised view rows [r0, r1) (scalar: prefill panels, matmul_xw).
void dequant_rows_q(const WeightView& w, int64_t r0, int64_t r1, float* dst, int64_t ldd);

// Start of view row n of a block-typed view (ld is a whole number of blocks).
inline const uint8_t* q_row(const WeightView& w, int64_t n) {
  return static_cast<const uint8_t*>(w.data) + n * (w.ld / 32) * int64_t(dtype_block_bytes(w.dtype));
}

// The row of block scales that view row r uses (null when the view has no scales).
inline const float* scale_row(const WeightView& w, int64_t r) {
  if (!w.scale_inv) return nullptr;
  return w.scale_inv + ((r + w.row0) / w.block_rows) * w.scale_ld;
}

// One past the last view row in [r, limit) that shares view row r's block scales (limit when the
// view has no scales): kernels prepare x once per such run of rows.
inline int64_t row_block_end(const WeightView& w, int64_t r, int64_t limit) {
  if (!w.scale_inv) return limit;
  return std::min(limit, ((r + w.row0) / w.block_rows + 1) * w.block_rows - w.row0);
}

// Walks the columns [0, cols) of a view in segments that share one block scale: calls
// f(c0, c1, block) with block the scale-grid column (0 and one segment when unscaled).
template <typename F>
inline void for_each_scale_segment(const WeightView& w, F&& f) {
  if (!w.scale_inv) {
    f(int64_t(0), w.cols, int64_t(0));
    return;
  }
  int64_t block = w.col0 / w.block_cols;
  for (int64_t c0 = 0; c0 < w.cols; ++block) {
    int64_t c1 = std::min(w.cols, (block + 1) * w.block_cols - w.col0);
    f(c0, c1, block);
    c0 = c1;
  }
}

}  // namespace frugal::linear_detail

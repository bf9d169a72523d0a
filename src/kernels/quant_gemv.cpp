// GGUF block weights (q8_0, q4_0) in the linear layers: the portable integer GEMV, the scalar
// panel dequantiser, and the reference of the integer path (double accumulation).
//
// Dims legend: M activation rows, K inputs (nb = K / 32 blocks), N outputs (weight rows).
#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "kernels/linear.h"
#include "kernels/linear_impl.h"
#include "kernels/quant_blocks.h"

namespace frugal {

namespace linear_detail {

namespace {

// The nb fp16 block scales of one weight row as f32.
void row_scales(DType t, const uint8_t* row, int64_t nb, float* ds) {
  const int64_t bb = int64_t(dtype_block_bytes(t));
  for (int64_t b = 0; b < nb; ++b) {
    uint16_t h;
    std::memcpy(&h, row + b * bb, 2);
    ds[b] = f16_to_f32(h);
  }
}

// Exact integer dot of weight block `blk` with 32 activation quants (q4_0: before the −8 · sum).
int32_t block_dot(DType t, const uint8_t* blk, const int8_t* qa) {
  int32_t s = 0;
  if (t == DType::kQ8_0) {
    for (int j = 0; j < 32; ++j) s += int32_t(int8_t(blk[2 + j])) * qa[j];
  } else {
    for (int j = 0; j < 16; ++j) s += int32_t(blk[2 + j] & 15) * qa[j] + int32_t(blk[2 + j] >> 4) * qa[j + 16];
  }
  return s;
}

}  // namespace

void qgemv_rows_portable(const QActs& a, const WeightView& w, int64_t n0, int64_t n1, float* y, int64_t ldy) {
  const int64_t bb = int64_t(dtype_block_bytes(w.dtype));
  const int32_t centre = w.dtype == DType::kQ4_0 ? 8 : 0;
  thread_local std::vector<float> ds;
  ds.resize(size_t(a.nb));
  for (int64_t n = n0; n < n1; ++n) {
    const uint8_t* row = q_row(w, n);
    row_scales(w.dtype, row, a.nb, ds.data());
    for (int64_t m = 0; m < a.M; ++m) {
      const int8_t* qa = a.qs + m * a.K;
      const float* da = a.d + m * a.nb;
      const int32_t* sa = a.sum + m * a.nb;
      float acc = 0.0f;
      for (int64_t b = 0; b < a.nb; ++b)
        acc += float(block_dot(w.dtype, row + b * bb, qa + b * 32) - centre * sa[b]) * (ds[b] * da[b]);
      y[m * ldy + n] = acc;
    }
  }
}

void dequant_rows_q(const WeightView& w, int64_t r0, int64_t r1, float* dst, int64_t ldd) {
  for (int64_t r = r0; r < r1; ++r) dequantize_row_q(w.dtype, q_row(w, r), dst + (r - r0) * ldd, w.cols);
}

}  // namespace linear_detail

void matmul_xwt_q8act_ref(const float* x, int64_t M, int64_t ldx, const WeightView& w, float* y, int64_t ldy) {
  FRUGAL_ASSERT(dtype_is_block(w.dtype) && w.cols % 32 == 0, "matmul_xwt_q8act_ref: {} view with {} cols",
                dtype_name(w.dtype), w.cols);
  const int64_t K = w.cols, nb = K / 32;
  std::vector<int8_t> qs(static_cast<size_t>(K));
  std::vector<float> da(static_cast<size_t>(nb));
  std::vector<int32_t> sa(static_cast<size_t>(nb));
  for (int64_t m = 0; m < M; ++m) {
    quantize_act_q8(x + m * ldx, K, qs.data(), da.data(), sa.data());
    for (int64_t n = 0; n < w.rows; ++n) {
      const uint8_t* row = linear_detail::q_row(w, n);
      double s = 0.0;
      for (int64_t b = 0; b < nb; ++b) {
        int64_t isum = 0;
        for (int64_t j = 0; j < 32; ++j) isum += int64_t(q_row_quant(w.dtype, row, b * 32 + j)) * qs[size_t(b * 32 + j)];
        const float dw = f16_to_f32(q_block_scale_bits(w.dtype, row, b));
        s += double(dw) * double(da[size_t(b)]) * double(isum);
      }
      y[m * ldy + n] = float(s);
    }
  }
}

}  // namespace frugal

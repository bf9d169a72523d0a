// linear_backward through the OpenBLAS sgemm wrapper, and its scalar reference.
#include "kernels/linear_grad.h"

#include <algorithm>

#include "kernels/linear.h"

namespace frugal {

void linear_backward(const float* x, int64_t ldx, const float* w, int64_t ldw, const float* dy, int64_t lddy,
                     int64_t M, int64_t N, int64_t K, float* dx, int64_t lddx, float* dw, int64_t lddw,
                     Precision prec) {
  // dx [M, K] = dy [M, N] · W [N, K]. With N = 0 the sum is empty: dx = 0 (written here rather
  // than trusting a BLAS to apply beta = 0 when its inner dimension is 0).
  if (dx && N == 0) {
    for (int64_t m = 0; m < M; ++m) std::fill(dx + m * lddx, dx + m * lddx + K, 0.0f);
  } else if (dx) {
    linear_gemm(prec, sgemm, false, false, M, K, N, 1.0f, dy, lddy, w, ldw, 0.0f, dx, lddx);
  }
  // dW [N, K] += dyᵀ [N, M] · x [M, K]. With M = 0 nothing is added (beta = 1, empty sum).
  if (dw && M > 0) linear_gemm(prec, sgemm, true, false, N, K, M, 1.0f, dy, lddy, x, ldx, 1.0f, dw, lddw);
}

void linear_backward_ref(const float* x, int64_t ldx, const float* w, int64_t ldw, const float* dy, int64_t lddy,
                         int64_t M, int64_t N, int64_t K, float* dx, int64_t lddx, float* dw, int64_t lddw) {
  if (dx)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t k = 0; k < K; ++k) {
        double s = 0;
        for (int64_t n = 0; n < N; ++n) s += double(dy[m * lddy + n]) * double(w[n * ldw + k]);
        dx[m * lddx + k] = float(s);
      }
  if (dw)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k) {
        double s = 0;
        for (int64_t m = 0; m < M; ++m) s += double(dy[m * lddy + n]) * double(x[m * ldx + k]);
        dw[n * lddw + k] = float(double(dw[n * lddw + k]) + s);
      }
}

}  // namespace frugal

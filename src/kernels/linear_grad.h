// Backward of the f32 linear layer y[M, N] = x[M, K] · Wᵀ (W = weight [N, K], the nn.Linear
// convention of matmul_xwt). Kept apart from linear.{h,cpp} (the inference kernels): training
// keeps its master weights in f32, so the backward is two plain sgemm calls.
//
// Dims legend: M rows of activations (tokens), K input features, N output features.
#pragma once
#include <cstdint>

#include "kernels/gemm_precision.h"

namespace frugal {

// dx[M, K] = dy[M, N] · W          (overwritten; skipped when dx is null)
// dW[N, K] += dyᵀ[N, M] · x[M, K]  (accumulated, so micro-batches sum; skipped when dW is null)
// Row strides: ldx (x), ldw (W), lddy (dy), lddx (dx), lddw (dW). dx must not alias x, W or dy.
// `prec` is the precision policy of both GEMMs (kernels/gemm_precision.h; kF32: OpenBLAS sgemm).
void linear_backward(const float* x, int64_t ldx, const float* w, int64_t ldw, const float* dy, int64_t lddy,
                     int64_t M, int64_t N, int64_t K, float* dx, int64_t lddx, float* dw, int64_t lddw,
                     Precision prec = Precision::kF32);

// Scalar reference of the same (double accumulation); the spec linear_backward is tested against.
void linear_backward_ref(const float* x, int64_t ldx, const float* w, int64_t ldw, const float* dy, int64_t lddy,
                         int64_t M, int64_t N, int64_t K, float* dx, int64_t lddx, float* dw, int64_t lddw);

}  // namespace frugal

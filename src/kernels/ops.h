// Row-wise elementwise kernels of the transformer: RMSNorm, SwiGLU, softmax, interleaved RoPE.
// Each is memory-bound and tiny next to the GEMMs, so the plain loop (which GCC vectorises) is
// both the reference and the implementation; backward passes will sit beside each forward here.
//
// Dims legend: T rows (tokens), D features per row.
#pragma once
#include <cstdint>

namespace frugal {

// y[T, D] = x · rsqrt(mean(x²) + eps) · w. Statistics in double-free f32 like HF (which normalises
// in fp32). x and y may alias.
void rmsnorm_forward(const float* x, int64_t ldx, const float* w, int64_t T, int64_t D, float eps, float* y,
                     int64_t ldy);

// h[T, F] = silu(g) ⊙ u, with g and u rows F wide (SwiGLU's elementwise part). h may alias g.
void swiglu_forward(const float* g, const float* u, int64_t T, int64_t F, float* h);

float silu(float x);

// x[i] += y[i] for n elements (the residual adds), threaded for prefill-sized n.
void add_inplace(float* x, const float* y, int64_t n);

// In-place softmax over each of T rows of length n (row stride ld); rows whose entries are all
// -inf become all-zero rather than NaN.
void softmax_rows(float* x, int64_t T, int64_t n, int64_t ld);

// Rotate adjacent pairs (2i, 2i+1) of each row of x [T, R] (row stride ld) by angle
// pos[t] · inv_freq[i] (the released DeepSeek "interleaved" convention), scaling cos/sin by mscale.
void rope_interleaved(float* x, int64_t ld, int64_t T, int64_t R, const int64_t* pos, const double* inv_freq,
                      double mscale);

}  // namespace frugal

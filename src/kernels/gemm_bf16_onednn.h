// oneDNN's bf16 matmul on one tile, for gemm_bf16's kOnednn path (kernels/gemm_precision.h).
// Internal to the kernels library.
#pragma once
#include <cstdint>

namespace frugal {

// True when this CPU has native bf16 dot products (AVX512-BF16 or AMX-BF16) and oneDNN builds a
// bf16 matmul for it. Checked once.
bool onednn_bf16_available();

// c [m, n] = alpha · a [m, K] · b [K, n] + beta · c, a and b bf16 bits row-major with row strides
// lda, ldb; c f32 with row stride ldc. Runs single-threaded on the calling thread (the caller
// spreads tiles over threads), so the result does not depend on the thread count.
void onednn_tile_bf16(int64_t m, int64_t n, int64_t K, const uint16_t* a, int64_t lda, const uint16_t* b,
                      int64_t ldb, float alpha, float beta, float* c, int64_t ldc);

}  // namespace frugal

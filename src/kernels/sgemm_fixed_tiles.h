// An f32 GEMM whose result does not depend on the thread count, for training passes that must be
// bit-reproducible (MLP and MoE forward/backward). Reference: sgemm_ref (kernels/linear.h).
//
// Dims legend: C [M, N] = op(A) [M, K] · op(B) [K, N].
#pragma once
#include <cstdint>

namespace frugal {

// C[M, N] = alpha · op(A) · op(B) + beta · C, like sgemm (kernels/linear.h), but bit-identical for
// every thread count: C is cut into fixed tiles (kGemmTileRows x kGemmTileCols, independent of the
// thread count), each computed by one single-threaded OpenBLAS call over the whole inner dimension,
// the tiles spread over the threads. OpenBLAS's own threading partitions C by thread count, and its
// results then differ in the last bits between 1 and 2 threads (seen in the MoE training tests).
// Inside a parallel region the tiles simply run in order on the calling thread.
void sgemm_fixed_tiles(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                       int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
constexpr int64_t kGemmTileRows = 128, kGemmTileCols = 256;

}  // namespace frugal

// Linear layers with weights in their stored dtype (f32, bf16, f16, fp8 e4m3/e5m2 with optional
// block scales, GGUF q8_0/q4_0 blocks). Activations are always f32. bf16/fp8 weights are widened to f32 in registers
// inside the kernels (this CPU has no native bf16/fp8 math); nothing keeps a dequantised copy of a
// whole weight — the GEMM path dequantises one panel at a time into arena scratch.
//
// Dims legend: M rows of activations (tokens), K input features, N output features.
#pragma once
#include <cstdint>

#include "core/dtype.h"

namespace frugal {

class Arena;

// A [rows, cols] row-major matrix view in storage dtype, possibly a sub-block of a larger
// block-scaled tensor. For fp8 with scales, element (r, c) of the view dequantises as
//   code(r, c) * scale_inv[((r + row0) / block_rows) * scale_ld + (c + col0) / block_cols]
// so a view of rows [a, b) of `kv_b_proj` still finds the right 128x128 (or 32x32 ...) block.
struct WeightView {
  DType dtype = DType::kF32;
  int64_t rows = 0, cols = 0;
  int64_t ld = 0;                  // elements between consecutive rows in storage (>= cols)
  const void* data = nullptr;      // element (0, 0) of this view
  const float* scale_inv = nullptr;  // fp8 block scales (null: scale 1)
  int64_t scale_ld = 0;            // scales per row of the scale grid = ceil(full_cols / block_cols)
  int64_t block_rows = 0, block_cols = 0;
  int64_t row0 = 0, col0 = 0;      // offset of this view inside the full scaled tensor
  // q8_0 / q4_0 (dtype_is_block): the 32-value blocks run along a row, each with its own fp16
  // scale inside it (scale_inv stays null); ld, cols and col slices are whole blocks, and the
  // small-M kernels quantize x to q8 blocks and use integer dot products (quant_blocks.h).

  // Rows [r, r + n) as a view (shares scales, adjusts row0).
  WeightView row_slice(int64_t r, int64_t n) const;
  // Columns [c, c + n) as a view (adjusts col0).
  WeightView col_slice(int64_t c, int64_t n) const;
  // Element (r, c) dequantised to f32 (slow; references and tests).
  float at(int64_t r, int64_t c) const;
  // Bytes of weight storage this view touches (telemetry: bandwidth roofline).
  int64_t bytes() const;
};

// y[M, N] = x[M, K] · Wᵀ with W a [N, K] view (the nn.Linear convention: W = weight [out, in]).
// x rows are ldx apart, y rows ldy apart. Overwrites y. Threads with OpenMP / OpenBLAS.
// `scratch` (optional) holds dequantised panels for the large-M path.
void matmul_xwt(const float* x, int64_t M, int64_t ldx, const WeightView& w, float* y, int64_t ldy,
                Arena* scratch = nullptr);
// y[M, N] = x[M, K] · W with W a [K, N] view (used by absorbed MLA: q̃ = q_nope · W_UK).
void matmul_xw(const float* x, int64_t M, int64_t ldx, const WeightView& w, float* y, int64_t ldy,
               Arena* scratch = nullptr);

// Plain scalar references (the spec the fast paths are tested against). Accumulate in double.
void matmul_xwt_ref(const float* x, int64_t M, int64_t ldx, const WeightView& w, float* y, int64_t ldy);
void matmul_xw_ref(const float* x, int64_t M, int64_t ldx, const WeightView& w, float* y, int64_t ldy);
// The integer path's definition for q8_0 / q4_0 views: each x row quantized to q8 blocks
// (quantize_act_q8), exact integer block dots, Σ_b d_w[b] · d_x[b] · dot_b in double. The fast
// kernels equal it up to f32 summation; matmul_xwt_ref differs from it by the activation rounding.
void matmul_xwt_q8act_ref(const float* x, int64_t M, int64_t ldx, const WeightView& w, float* y, int64_t ldy);

// f32 GEMM through OpenBLAS (row-major): C[M,N] = alpha · op(A) · op(B) + beta · C.
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
void sgemm_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
               int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// Instruction set of the matmul kernels. The best one the CPU supports is picked at first use
// (cpu_features(), plus the AVX-512 sub-features). Ordered: each ISA needs the ones before it.
//  kAvx512: AVX-512 F+BW+VL+DQ+VBMI; bf16/e4m3 GEMV specialised, everything else as kAvx2.
//  kAvx512Vnni: kAvx512 plus AVX512-VNNI; the q8_0/q4_0 GEMV uses vpdpbusd, the rest as kAvx512.
enum class KernelIsa : uint8_t { kPortable, kAvx2, kAvx512, kAvx512Vnni };
KernelIsa best_kernel_isa();   // the fastest this CPU runs
KernelIsa kernel_isa();        // the one in use
// Force an ISA (tests and benchmarks compare paths); throws kUnsupported if the CPU lacks it.
void set_kernel_isa(KernelIsa isa);
const char* kernel_isa_name(KernelIsa isa);

// Which BLAS is linked, e.g. "OpenBLAS 0.3.21 ... OpenMP" (refuses to start with netlib; see .cpp).
const char* blas_info();

}  // namespace frugal

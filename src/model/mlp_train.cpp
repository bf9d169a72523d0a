#include "model/mlp_train.h"

#include "core/arena.h"
#include "core/error.h"
#include "kernels/fp8_quant.h"
#include "kernels/gemm_precision.h"
#include "kernels/ops.h"
#include "kernels/sgemm_fixed_tiles.h"

namespace frugal {

namespace {

void check_mlp(const MlpParams& p, int64_t D) {
  const int64_t F = p.gate_proj.rows;
  FRUGAL_ASSERT(p.gate_proj.cols == D && p.up_proj.rows == F && p.up_proj.cols == D && p.down_proj.rows == D &&
                    p.down_proj.cols == F,
                "MLP shapes gate {}x{} up {}x{} down {}x{} for D = {}", p.gate_proj.rows, p.gate_proj.cols,
                p.up_proj.rows, p.up_proj.cols, p.down_proj.rows, p.down_proj.cols, D);
}

}  // namespace

void mlp_tape_store_fp8(const MlpTape& t, Arena& keep, MlpTapeFp8& out) {
  out.N = t.N;
  out.F = t.F;
  const int64_t ns = t.N * fp8_row_scales(t.F);
  out.g = keep.alloc<uint8_t>(size_t(t.N * t.F));
  out.u = keep.alloc<uint8_t>(size_t(t.N * t.F));
  out.gs = keep.alloc<float>(size_t(ns));
  out.us = keep.alloc<float>(size_t(ns));
  fp8_store_rows(t.g, t.N, t.F, out.g, out.gs);
  fp8_store_rows(t.u, t.N, t.F, out.u, out.us);
}

void mlp_tape_load_fp8(const MlpTapeFp8& in, const MlpTape& dst) {
  FRUGAL_ASSERT(dst.N == in.N && dst.F == in.F, "FP8 MLP tape {}x{} into {}x{}", in.N, in.F, dst.N, dst.F);
  fp8_load_rows(in.g, in.gs, in.N, in.F, dst.g);
  fp8_load_rows(in.u, in.us, in.N, in.F, dst.u);
  swiglu_forward(dst.g, dst.u, in.N, in.F, dst.h);
}

void mlp_train_forward_buffers(const MlpParams& p, const float* x, int64_t N, int64_t D, const MlpTape& tape,
                               float* y, Precision prec) {
  check_mlp(p, D);
  const int64_t F = p.gate_proj.rows;
  FRUGAL_ASSERT(tape.N == N && tape.F == F, "MLP tape {}x{} for N = {}, F = {}", tape.N, tape.F, N, F);
  linear_gemm(prec, sgemm_fixed_tiles, false, true, N, F, D, 1.0f, x, D, p.gate_proj.w, D, 0.0f, tape.g, F);  // g [N, F] = x·W_gateᵀ
  linear_gemm(prec, sgemm_fixed_tiles, false, true, N, F, D, 1.0f, x, D, p.up_proj.w, D, 0.0f, tape.u, F);    // u [N, F] = x·W_upᵀ
  swiglu_forward(tape.g, tape.u, N, F, tape.h);                                            // h [N, F]
  linear_gemm(prec, sgemm_fixed_tiles, false, true, N, D, F, 1.0f, tape.h, F, p.down_proj.w, F, 0.0f, y, D);  // y [N, D] = h·W_downᵀ
}

void mlp_train_forward(const MlpParams& p, const float* x, int64_t N, int64_t D, Arena& keep, MlpTape& tape,
                       float* y, Precision prec) {
  const int64_t F = p.gate_proj.rows;
  tape.N = N;
  tape.F = F;
  tape.g = keep.alloc<float>(size_t(N * F));
  tape.u = keep.alloc<float>(size_t(N * F));
  tape.h = keep.alloc<float>(size_t(N * F));
  mlp_train_forward_buffers(p, x, N, D, tape, y, prec);
}

void mlp_train_backward_buffers(const MlpParams& p, const float* x, int64_t N, int64_t D, const MlpTape& tape,
                                const float* dy, float* dx, float* dg, float* du, Precision prec) {
  check_mlp(p, D);
  const int64_t F = p.gate_proj.rows;
  FRUGAL_ASSERT(tape.N == N && tape.F == F, "MLP tape {}x{} for N = {}, F = {}", tape.N, tape.F, N, F);
  // down: dh [N, F] = dy · W_down (into dg), dW_down [D, F] += dyᵀ · h.
  linear_gemm(prec, sgemm_fixed_tiles, false, false, N, F, D, 1.0f, dy, D, p.down_proj.w, F, 0.0f, dg, F);
  if (p.down_proj.g) linear_gemm(prec, sgemm_fixed_tiles, true, false, D, F, N, 1.0f, dy, D, tape.h, F, 1.0f, p.down_proj.g, F);
  // SwiGLU: dg = dh · u · silu'(g) (in place over dh), du = dh · silu(g).
  swiglu_backward(tape.g, tape.u, dg, N, F, dg, du);
  // gate and up: dW [F, D] += dgᵀ · x (duᵀ · x), dx [N, D] = dg · W_gate + du · W_up.
  if (p.gate_proj.g) linear_gemm(prec, sgemm_fixed_tiles, true, false, F, D, N, 1.0f, dg, F, x, D, 1.0f, p.gate_proj.g, D);
  if (p.up_proj.g) linear_gemm(prec, sgemm_fixed_tiles, true, false, F, D, N, 1.0f, du, F, x, D, 1.0f, p.up_proj.g, D);
  if (dx) {
    linear_gemm(prec, sgemm_fixed_tiles, false, false, N, D, F, 1.0f, dg, F, p.gate_proj.w, D, 0.0f, dx, D);
    linear_gemm(prec, sgemm_fixed_tiles, false, false, N, D, F, 1.0f, du, F, p.up_proj.w, D, 1.0f, dx, D);
  }
}

void mlp_train_backward(const MlpParams& p, const float* x, int64_t N, int64_t D, const MlpTape& tape,
                        const float* dy, float* dx, Arena& scratch, Precision prec) {
  const Arena::Mark mark = scratch.mark();
  float* dg = scratch.alloc<float>(size_t(N * tape.F));  // [N, F]
  float* du = scratch.alloc<float>(size_t(N * tape.F));  // [N, F]
  mlp_train_backward_buffers(p, x, N, D, tape, dy, dx, dg, du, prec);
  scratch.rewind(mark);
}

}  // namespace frugal

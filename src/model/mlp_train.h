// Training forward and backward of the SwiGLU MLP y = down(silu(gate(x)) ⊙ up(x)): the dense FFN of
// the first layers, the fused shared expert and every routed expert of DeepSeekMoE (docs/model.md, Experts).
// The forward is the inference mlp_forward's math (equal up to f32 summation order) with its
// activations kept for the backward; the backward is three transposed GEMM pairs plus
// swiglu_backward.
//
// Dims legend: N tokens (rows), D hidden, F intermediate width (gate_proj.rows).
#pragma once
#include <cstdint>

#include "kernels/gemm_precision.h"
#include "model/train_params.h"

namespace frugal {

class Arena;

// Activations of one MLP forward, kept for its backward. Keeping h (instead of recomputing it from
// g and u) costs N·F floats and saves a sigmoid per element in the backward.
struct MlpTape {
  float* g = nullptr;  // [N, F] gate_proj(x), pre-activation
  float* u = nullptr;  // [N, F] up_proj(x)
  float* h = nullptr;  // [N, F] silu(g) ⊙ u, the input of down_proj
  int64_t N = 0, F = 0;
};

// An MlpTape with g and u stored in FP8 E4M3 (kernels/fp8_quant.h fp8_store_rows: 1x128 tiles along
// F) and no h: what the MoE keeps under the FP8 precisions, as V3 caches the SwiGLU inputs in FP8
// and recomputes its output in the backward (§3.3.3). 2·(1 + 4/128) bytes per [N, F] element
// instead of 3·4.
struct MlpTapeFp8 {
  uint8_t* g = nullptr;  // [N, F] E4M3
  uint8_t* u = nullptr;  // [N, F] E4M3
  float* gs = nullptr;   // [N, ceil(F / 128)] scales
  float* us = nullptr;   // [N, ceil(F / 128)] scales
  int64_t N = 0, F = 0;
};
// Stores t.g and t.u into `out`, its buffers from `keep`.
void mlp_tape_store_fp8(const MlpTape& t, Arena& keep, MlpTapeFp8& out);
// dst.g, dst.u = the stored values (q · scale), dst.h = silu(g) ⊙ u recomputed from them; dst's
// buffers [N, F] are the caller's.
void mlp_tape_load_fp8(const MlpTapeFp8& in, const MlpTape& dst);

// y [N, D] = MLP(x [N, D]); fills `tape` with buffers from `keep` (released by the caller after the
// backward). Every GEMM is sgemm_fixed_tiles (kernels/sgemm_fixed_tiles.h), so outputs and gradients do not depend on threads.
// `prec` is the precision policy of the three projections' GEMMs (kernels/gemm_precision.h).
void mlp_train_forward(const MlpParams& p, const float* x, int64_t N, int64_t D, Arena& keep, MlpTape& tape,
                       float* y, Precision prec = Precision::kF32);

// dx [N, D] = ∂/∂x (overwritten; null: not wanted); the parameter gradients are accumulated (+=)
// into p.gate_proj.g, p.up_proj.g, p.down_proj.g (a null .g skips that weight). `x` and `tape` are
// the forward's. Deterministic: every sum has a fixed order whatever the thread count. dx must not
// alias x.
void mlp_train_backward(const MlpParams& p, const float* x, int64_t N, int64_t D, const MlpTape& tape,
                        const float* dy, float* dx, Arena& scratch, Precision prec = Precision::kF32);

// The same two passes on caller-provided buffers: they allocate nothing, so they are safe inside a
// parallel region (where OpenBLAS runs single-threaded), which is how MoE runs its experts.
//   forward:  tape.{g,u,h} [N, F] must point at storage; writes them and y [N, D].
//   backward: dg, du [N, F] are scratch, overwritten; distinct from each other and from the inputs.
void mlp_train_forward_buffers(const MlpParams& p, const float* x, int64_t N, int64_t D, const MlpTape& tape,
                               float* y, Precision prec = Precision::kF32);
void mlp_train_backward_buffers(const MlpParams& p, const float* x, int64_t N, int64_t D, const MlpTape& tape,
                                const float* dy, float* dx, float* dg, float* du,
                                Precision prec = Precision::kF32);

}  // namespace frugal

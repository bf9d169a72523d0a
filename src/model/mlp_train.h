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

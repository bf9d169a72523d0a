// Model FLOPs per training token and MFU (docs/training.md, FLOPs and MFU).
//
// What is counted, per token of a training step (forward + backward = 3 × forward):
//  * 6·N, N = the parameters one token touches (model/params.h count_params().active_main) minus
//    the input embedding table (a lookup, no multiply), i.e. every layer's attention projections,
//    dense MLPs, per MoE layer the router + shared experts + num_experts_per_tok routed experts,
//    the RMSNorm weights (elementwise, < 0.01%, kept so V3's N is 37.552B − 0.927B), and
//    the lm_head. With MTP (include_mtp and num_nextn_predict_layers > 0), each module adds its
//    decoder layer (same active subset), eh_proj [D, 2D], its three norms and one more application
//    of the shared head [V, D]; the shared embedding lookup is again free. V3: N = 38.24B → 229.4 GFLOP.
//  * Attention scores and values, which have no parameters: per layer (main + MTP) and head, the
//    naive-MHA form computes q·k over qk_head_dim (dn + dr) and p·v over v_head_dim for each key,
//    2·(dqk + dv) FLOPs per key; a causal token sees T/2 keys on average (the diagonal's half key
//    is ignored, as the V3 figures do), so forward = 2·H·(dqk + dv)·T/2 per layer, × 3 for fwd + bwd.
//    V3 (62 layers, T = 4096): 31.2 GFLOP/token.
// Not counted (model FLOPs, not hardware FLOPs): recomputation, softmax/norm/RoPE/SwiGLU
// elementwise work, the router's top-k, the optimizer step, the loss.
#pragma once
#include <cstdint>

#include "model/config.h"

namespace frugal {

struct TrainingFlops {
  int64_t n_params = 0;        // N as counted above
  double params_flops = 0;     // 6·N
  double attention_flops = 0;  // 3 · layers · 2·H·(dqk + dv)·T/2
  double total = 0;            // per training token
};

TrainingFlops training_flops_per_token(const DeepSeekConfig& c, int64_t seq_len, bool include_mtp);

// MFU = achieved model FLOP/s / peak FLOP/s (a fraction). 0 when the peak is unknown (<= 0).
double model_flops_utilization(double flops_per_token, double tokens_per_s, double peak_gflops);

// The machine's f32 GEMM peak in GFLOP/s: best of repeated 1024³ OpenBLAS sgemms for about
// `seconds` (at least one timed call after a warm-up). The training loop runs it once at start-up
// as the MFU denominator: on a CPU no datasheet number is closer than this.
double measure_sgemm_peak_gflops(double seconds);

}  // namespace frugal

// DeepSeekMoE (docs/model.md, DeepSeekMoE): a router picks num_experts_per_tok routed experts per token, tokens are
// grouped per expert so each expert runs as one GEMM over its tokens, and the fused shared
// expert(s) are added unweighted.
//
// Dims legend: T tokens, D hidden, E n_routed_experts, K num_experts_per_tok, F expert width.
#pragma once
#include <cstdint>
#include <vector>

#include "model/config.h"
#include "model/weights.h"

namespace frugal {

class Arena;

// The routing decision for T tokens: expert ids and gate weights, row t = slots [t·K, t·K + K).
struct Routing {
  std::vector<int32_t> expert;  // [T·K]
  std::vector<float> weight;    // [T·K], already × routed_scaling_factor
  std::vector<float> scores;    // [T·E] affinities s (sigmoid or softmax), for balance losses
};

// The scalar specification of routing (V3 noaux_tc, V2 group_limited_greedy, greedy) for a single
// token's router logits [E]. Group-limited selection masks dropped groups with -inf (not 0, see
// docs/model.md, Routing: biased scores can be negative).
void route_token(const DeepSeekConfig& cfg, const float* logits, const float* bias, int32_t* expert_out,
                 float* weight_out, float* scores_out);

// Router: logits = x · gateᵀ in f32, then route_token per row.
Routing moe_route(const DeepSeekConfig& cfg, const MoeWeights& w, const float* x, int64_t T, Arena& arena);

// y [T, D] = SwiGLU MLP(x [T, D]) with caller-provided activations g, u [T, F]; scratch may be null
// (per-thread buffers: safe inside a parallel region).
void mlp_forward_buffers(const MlpWeights& w, const float* x, int64_t T, int64_t D, float* g, float* u, float* y,
                         Arena* scratch);
// The same with g and u taken from the arena.
void mlp_forward(const MlpWeights& w, const float* x, int64_t T, int64_t D, Arena& arena, float* y);

// y [T, D] = Σ_k g_k · expert_k(x) + shared(x). Fills `routing` if non-null.
void moe_forward(const DeepSeekConfig& cfg, const MoeWeights& w, const float* x, int64_t T, Arena& arena,
                 float* y, Routing* routing = nullptr);

}  // namespace frugal

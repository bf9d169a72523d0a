// Training forward and backward of DeepSeekMoE (docs/model.md, DeepSeekMoE): top-K routing exactly as the inference
// (route_token: V3 noaux_tc sigmoid + correction bias for selection only, group-limited; V2
// softmax group_limited_greedy; greedy), routed experts as GEMMs over their grouped tokens, the
// fused shared expert, the complementary sequence-wise balance loss (docs/model.md, Balance loss) and the
// auxiliary-loss-free bias update (docs/model.md, Bias update).
//
// What is differentiated: y_t = shared(x_t) + Σ_k g_tk · expert_{e_tk}(x_t) with the choice e_tk
// held fixed. The router gets its gradient only through the chosen experts' gate weights g_tk
// (c·s_e / Σ_sel s, or c·s_e without norm_topk_prob; s = sigmoid or softmax of the logits) and
// through P_i of the balance loss; the discrete choice and e_score_correction_bias get none.
// Experts that received no token get no gradient at all (their .g is not touched).
//
// Dims legend: B sequences, T tokens per sequence, N = B·T rows, D hidden, E n_routed_experts,
// K num_experts_per_tok, F moe_intermediate_size, Fs shared width (n_shared_experts · F).
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/gemm_precision.h"
#include "model/config.h"
#include "model/mlp_train.h"
#include "model/train_params.h"

namespace frugal {

class Arena;

// Everything the backward needs from one forward; the buffers live in the forward's `keep` arena.
// A "slot" is (token t, choice k) = t·K + k; "rows" are slots sorted by expert (counting sort,
// slots ascending within an expert), so each expert's tokens are one contiguous block of rows.
struct MoeTape {
  int64_t B = 0, T = 0, N = 0, D = 0, E = 0, K = 0, F = 0;
  float* scores = nullptr;       // [N, E] affinities s (sigmoid or softmax, f32, as route_token made them)
  int32_t* expert = nullptr;     // [N·K] chosen expert per slot
  float* weight = nullptr;       // [N·K] gate weight per slot (× routed_scaling_factor)
  int64_t* offset = nullptr;     // [E + 1] rows of expert e: [offset[e], offset[e + 1])
  int64_t* slot_of_row = nullptr;  // [N·K]
  int64_t* row_of_slot = nullptr;  // [N·K]
  int64_t* seq_count = nullptr;  // [B, E] assignments per sequence and expert (the f_i counts)
  MlpTape routed;                // g, u, h [N·K, F] by row (every expert's block stacked)
  float* expert_out = nullptr;   // [N·K, D] expert output by row, before its gate weight
  MlpTape shared;                // [N, Fs] (has_shared)
  // Under the FP8 precisions routed and shared hold no buffers after the forward: their g and u
  // are kept here in FP8 (h recomputed in the backward), as V3 caches the SwiGLU inputs.
  bool fp8_stored = false;
  MlpTapeFp8 routed8, shared8;
};

struct MoeStats {
  std::vector<int64_t> load;           // [E] (token, slot) assignments per expert over the B·T tokens
  std::vector<double> balance_loss_seq;  // [B] α Σ_i f_i P_i per sequence
  double balance_loss = 0;             // mean of balance_loss_seq over the B sequences
};

// `prec` (kernels/gemm_precision.h) applies to the experts' projections; the router gate stays f32.
// x [B·T, D] (the post_attention_layernorm output of B sequences of T tokens) -> y [B·T, D].
// The tape's buffers come from `keep`; `stats` (optional) gets the loads and the balance loss
// with coefficient aux_alpha (the loss is only reported here; its gradient is the backward's).
void moe_train_forward(const DeepSeekConfig& cfg, const MoeParams& p, const float* x, int64_t B, int64_t T,
                       double aux_alpha, Arena& keep, MoeTape& tape, float* y, MoeStats* stats,
                       Precision prec = Precision::kF32);

// dy [B·T, D] -> dx [B·T, D] (overwritten); gradients accumulated (+=) into the router gate, the
// experts that got tokens and the shared experts. The objective differentiated is
//   Σ (∂L/∂y) ⊙ y  +  balance_weight · balance_loss,
// balance_loss as in MoeStats (already × aux_alpha): balance_weight is its coefficient in the
// objective (e.g. 1/grad_accum; 0 turns the balance loss off). Bit-identical results for any
// thread count and schedule. dx must not alias x or dy. The tape stays valid (a second backward
// with another dy is allowed).
void moe_train_backward(const DeepSeekConfig& cfg, const MoeParams& p, const float* x, int64_t B, int64_t T,
                        double aux_alpha, double balance_weight, const MoeTape& tape, const float* dy, float* dx,
                        Arena& scratch, Precision prec = Precision::kF32);

// Auxiliary-loss-free balancing (docs/model.md, Bias update), once per step with the loads summed over the whole
// step (all micro-batches): bias_i += γ · sign(mean_load − load_i), sign(0) = 0.
void update_routing_bias(float* bias, const int64_t* load, int64_t E, double gamma);
// MaxVio = (max_i load_i − mean) / mean (0 when nothing was routed).
double max_violation(const int64_t* load, int64_t E);


// ---- pieces, exposed for the tests ----

// Balance loss of one sequence from its counts [E] and its affinities s [T, E]:
// α Σ_i f_i P_i, f_i = E/(K·T) · count_i, P_i = (1/T) Σ_t s_ti / Σ_j s_tj (sums in double).
double sequence_balance_loss(const int64_t* count, const float* scores, int64_t T, int64_t E, int64_t K,
                             double aux_alpha);

// Router backward of T·B tokens: given ∂/∂g per slot (dweight [N·K]), the tape's scores and
// choice, and the balance-loss coefficient coef = balance_weight · aux_alpha, writes
// dlogits [N, E] = ∂objective/∂(x·gateᵀ).
void router_backward(const DeepSeekConfig& cfg, const MoeTape& tape, const float* dweight, double coef,
                     float* dlogits);

}  // namespace frugal

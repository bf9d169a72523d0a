// The weights of a DeepSeek-V2/V3 model as views in their stored dtype (usually straight into an
// mmapped checkpoint: nothing is dequantised at load time). Norm vectors and routing biases are
// tiny and kept as f32 copies. Names follow the Hugging Face checkpoint / DeepSeek paper.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/linear.h"

namespace frugal {

struct MlaWeights {
  WeightView q_a_proj;               // [q_lora_rank, hidden]            (q_lora_rank > 0)
  std::vector<float> q_a_layernorm;  // [q_lora_rank]
  WeightView q_b_proj;               // [heads·(nope+rope), q_lora_rank]
  WeightView q_proj;                 // [heads·(nope+rope), hidden]       (q_lora_rank == 0)
  WeightView kv_a_proj_with_mqa;     // [kv_lora_rank + rope, hidden]
  std::vector<float> kv_a_layernorm; // [kv_lora_rank]
  WeightView kv_b_proj;              // [heads·(nope+v), kv_lora_rank]; per head: W_UK rows, then W_UV rows
  WeightView o_proj;                 // [hidden, heads·v]
};

struct MlpWeights {  // SwiGLU: down(silu(gate(x)) ⊙ up(x))
  WeightView gate_proj;  // [inter, hidden]
  WeightView up_proj;    // [inter, hidden]
  WeightView down_proj;  // [hidden, inter]
};

struct MoeWeights {
  WeightView gate;                            // router [n_routed_experts, hidden]
  std::vector<float> e_score_correction_bias; // [n_routed_experts] (noaux_tc only; selection only)
  std::vector<MlpWeights> experts;            // n_routed_experts
  bool has_shared = false;
  MlpWeights shared_experts;                  // fused: inter = n_shared · moe_intermediate_size
};

struct LayerWeights {
  std::vector<float> input_layernorm;          // [hidden]
  std::vector<float> post_attention_layernorm; // [hidden]
  MlaWeights self_attn;
  bool is_moe = false;
  MlpWeights mlp;  // dense layers
  MoeWeights moe;  // MoE layers
};

// Multi-token prediction module k (SPEC §4): h' = eh_proj([enorm(emb(t_{i+k})); hnorm(h_i)]),
// then one decoder block, then shared_head.norm and shared_head.head.
struct MtpWeights {
  std::vector<float> enorm, hnorm;  // [hidden]
  WeightView eh_proj;               // [hidden, 2·hidden]; input = [embedding ; hidden]
  LayerWeights block;
  std::vector<float> shared_head_norm;  // [hidden]
  WeightView shared_head_head;          // [vocab, hidden]
  WeightView embed_tokens;              // [vocab, hidden]
};

struct ModelWeights {
  WeightView embed_tokens;        // [vocab, hidden]
  std::vector<LayerWeights> layers;
  std::vector<float> norm;        // [hidden]
  WeightView lm_head;             // [vocab, hidden]
  std::vector<MtpWeights> mtp;    // num_nextn_predict_layers (may be empty: not loaded)
};

// Row `r` of an embedding-like weight, widened to f32.
void weight_row_f32(const WeightView& w, int64_t r, float* out);

}  // namespace frugal

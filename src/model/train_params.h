// The trainable view of a DeepSeek-V2/V3 model: every parameter as an f32 value with its f32
// gradient beside it (master weights and gradients stay f32 on this CPU; FP8/BF16 training will
// quantise copies of `w`, not replace it). Mirrors model/weights.h field for field, with the
// Hugging Face names, so the inference forward and the training forward read the same numbers.
//
// Convention: a matrix is [rows, cols] row-major (a Linear weight is [out, in], the nn.Linear
// layout used by matmul_xwt); a vector (norm weight) has rows = 1, cols = its length.
// Gradients are accumulated (+=) by every backward, so micro-batches sum; the trainer zeroes them.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/linear.h"

namespace frugal {

struct Param {
  float* w = nullptr;  // value [rows, cols]
  float* g = nullptr;  // gradient, same shape (null: frozen, no gradient wanted)
  int64_t rows = 0, cols = 0;

  int64_t numel() const { return rows * cols; }
  // The value as an f32 WeightView, so inference kernels (matmul_xwt) can read it.
  WeightView view() const {
    WeightView v;
    v.dtype = DType::kF32;
    v.rows = rows;
    v.cols = cols;
    v.ld = cols;
    v.data = w;
    return v;
  }
};

struct MlaParams {
  Param q_a_proj;            // [q_lora_rank, D]            (q_lora_rank > 0)
  Param q_a_layernorm;       // [1, q_lora_rank]
  Param q_b_proj;            // [H·(dn+dr), q_lora_rank]
  Param q_proj;              // [H·(dn+dr), D]              (q_lora_rank == 0)
  Param kv_a_proj_with_mqa;  // [C + dr, D]
  Param kv_a_layernorm;      // [1, C]
  Param kv_b_proj;           // [H·(dn+dv), C]; per head h: rows [h·(dn+dv), +dn) = W_UK, then dv rows W_UV
  Param o_proj;              // [D, H·dv]
};

struct MlpParams {  // SwiGLU: down(silu(gate(x)) ⊙ up(x))
  Param gate_proj;  // [F, D]
  Param up_proj;    // [F, D]
  Param down_proj;  // [D, F]
};

struct MoeParams {
  Param gate;                    // router [E, D]
  float* e_score_correction_bias = nullptr;  // [E] routing bias (noaux_tc): a buffer, no gradient;
                                             // updated by the aux-loss-free rule, null if unused
  std::vector<MlpParams> experts;  // E routed experts, each F = moe_intermediate_size
  bool has_shared = false;
  MlpParams shared_experts;        // fused: F = n_shared_experts · moe_intermediate_size
};

struct LayerParams {
  Param input_layernorm;           // [1, D]
  Param post_attention_layernorm;  // [1, D]
  MlaParams self_attn;
  bool is_moe = false;
  MlpParams mlp;   // dense layers
  MoeParams moe;   // MoE layers
};

// MTP module k: h' = eh_proj([enorm(emb(t_{i+k})) ; hnorm(h_i)]) -> block -> shared_head.norm ->
// head. In training the embedding and output head are physically shared with the main model
// (SPEC §4.1, V3 report §3.2.3): embed_tokens / shared_head_head alias the main model's Params,
// so their gradients add up in one place; export writes the copies HF checkpoints carry.
struct MtpParams {
  Param enorm, hnorm;      // [1, D]
  Param eh_proj;           // [D, 2·D]; input = [embedding ; hidden]
  LayerParams block;
  Param shared_head_norm;  // [1, D]
  Param shared_head_head;  // alias of ModelParams::lm_head
  Param embed_tokens;      // alias of ModelParams::embed_tokens
};

struct ModelParams {
  Param embed_tokens;  // [V, D]
  std::vector<LayerParams> layers;
  Param norm;          // [1, D]
  Param lm_head;       // [V, D]
  std::vector<MtpParams> mtp;
};

}  // namespace frugal

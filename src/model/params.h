// The checkpoint's tensor list and the parameter / KV-cache arithmetic of a DeepSeekConfig
// (docs/model.md, Checkpoint tensors / Parameter counts / KV-cache sizes).
// Dims legend: V vocab_size, D hidden_size, H num_attention_heads,
// C kv_lora_rank, Cq q_lora_rank, dn/dr/dv qk_nope/qk_rope/v head dims, I intermediate_size,
// Im moe_intermediate_size, E n_routed_experts, L num_hidden_layers.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/config.h"
#include "model/tensor_table.h"

namespace frugal {

// Every tensor of a HF checkpoint in a stable order: model.embed_tokens, layers 0..L-1, model.norm,
// lm_head, then (include_mtp) the MTP modules at layer indices L..L+num_nextn_predict_layers-1.
// An MTP module is a full decoder layer (MoE when c.is_moe_layer(index)) plus enorm, hnorm,
// eh_proj, shared_head.norm and the stored copies shared_head.head and embed_tokens.
// The walk of the tensor table (model/tensor_table.h) without binding anything.
std::vector<TensorSpec> expected_tensors(const DeepSeekConfig& c, bool include_mtp);

// Parameter counts in elements. Conventions (they reproduce every figure in docs/model.md, Parameter counts exactly):
//  * total_main: embedding + L layers + final norm + lm_head; every stored main-model tensor,
//    including the FP32 e_score_correction_bias (a buffer, but stored: V3 total needs it) and
//    excluding MTP modules and FP8 scale tensors.
//  * active_main: what one token touches: the whole embedding table and head, attention and norms
//    of every layer, dense MLPs, and per MoE layer the router (weight + bias), the shared experts
//    and num_experts_per_tok routed experts.
//  * per_layer_attention: q/kv projections, o_proj and the q_a/kv_a latent norms; the two
//    per-layer RMSNorms (input/post_attention) are counted in per_layer_norms instead.
//  * moe_layer_total / moe_layer_active: the FFN part of one MoE layer (router + experts).
//  * mtp_unique: the MTP modules without the copies of embed_tokens / shared_head.head;
//    mtp_active adds one token's MoE subset and counts the shared embedding and head once.
struct ParamCounts {
  int64_t embedding = 0;            // [V, D]
  int64_t head = 0;                 // lm_head [V, D]
  int64_t final_norm = 0;           // [D]
  int64_t per_layer_attention = 0;  // V3: 187,107,328
  int64_t per_layer_norms = 0;      // 2 * D
  int64_t dense_mlp = 0;            // one dense SwiGLU 3*D*I; V3: 396,361,728
  int64_t expert = 0;               // one routed expert 3*D*Im; V3: 44,040,192
  int64_t shared_experts = 0;       // the fused shared MLP 3*D*(n_shared*Im)
  int64_t router = 0;               // gate.weight [E, D] + e_score_correction_bias [E] (noaux_tc)
  int64_t moe_layer_total = 0;      // V3: 11,320,164,608
  int64_t moe_layer_active = 0;
  int64_t n_dense_layers = 0, n_moe_layers = 0;  // main model only
  int64_t total_main = 0;           // V3: 671,026,419,200
  int64_t active_main = 0;          // V3: 37,552,297,472
  int64_t mtp_unique = 0;           // V3: 11,610,068,224
  int64_t mtp_active = 0;           // V3: 2,541,458,688
};

// Throws kConfig if a count overflows int64 (only for configs far beyond any real model).
ParamCounts count_params(const DeepSeekConfig& c);

// Cached elements per token over the L main layers (MTP layers not included; each adds one layer).
// Absorbed MLA: L * (C + dr), V3 35,136.
int64_t kv_cache_elems_per_token(const DeepSeekConfig& c);
// The multi-head attention baseline of docs/model.md, KV-cache sizes: 2 * H * dv * L (d_h = dv = 128), V3 1,998,848.
int64_t mha_cache_elems_per_token(const DeepSeekConfig& c);
// Naive MLA caching materialised K (dn + dr) and V (dv) per head: L * H * (dn + dr + dv), V3 2,498,560.
int64_t naive_mla_cache_elems_per_token(const DeepSeekConfig& c);

}  // namespace frugal

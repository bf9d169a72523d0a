// Tensor list and parameter counts of one DeepSeekConfig (docs/model.md, Checkpoint tensors / Parameter counts).
#include "model/params.h"

#include <string>

#include "core/error.h"

namespace frugal {
namespace {

// Checked arithmetic: the parser's caps keep single tensors small, but sums over 10,000 layers
// x 65,536 experts could still overflow.
int64_t mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) fail(ErrorKind::kConfig, "parameter count overflows int64 ({} x {})", a, b);
  return r;
}
int64_t add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) fail(ErrorKind::kConfig, "parameter count overflows int64 ({} + {})", a, b);
  return r;
}

}  // namespace

std::vector<TensorSpec> expected_tensors(const DeepSeekConfig& c, bool include_mtp) {
  std::vector<TensorSpec> out;
  ModelT<SpecSlots> none;
  visit_model_tensors(c, include_mtp, none, [&](TensorSpec&& t, NoSlot&) { out.push_back(std::move(t)); });
  return out;
}

ParamCounts count_params(const DeepSeekConfig& c) {
  const int64_t D = c.hidden_size, H = c.num_attention_heads, E = c.n_routed_experts;
  ParamCounts p;
  p.embedding = mul(c.vocab_size, D);
  p.head = p.embedding;
  p.final_norm = D;

  int64_t q = c.q_lora_rank > 0
                  ? add(add(mul(c.q_lora_rank, D), c.q_lora_rank), mul(mul(H, c.qk_head_dim()), c.q_lora_rank))
                  : mul(mul(H, c.qk_head_dim()), D);
  int64_t kv = add(add(mul(c.kv_cache_dim(), D), c.kv_lora_rank),
                   mul(mul(H, c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank));
  p.per_layer_attention = add(add(q, kv), mul(D, mul(H, c.v_head_dim)));
  p.per_layer_norms = 2 * D;
  const int64_t layer_common = add(p.per_layer_attention, p.per_layer_norms);

  p.dense_mlp = mul(3, mul(D, c.intermediate_size));
  p.expert = mul(3, mul(D, c.moe_intermediate_size));
  p.shared_experts = mul(c.n_shared_experts, p.expert);
  p.router = add(mul(E, D), c.topk_method == TopkMethod::kNoauxTc ? E : 0);
  p.moe_layer_total = add(add(p.router, p.shared_experts), mul(E, p.expert));
  p.moe_layer_active = add(add(p.router, p.shared_experts), mul(c.num_experts_per_tok, p.expert));

  auto ffn_total = [&](int64_t l) { return c.is_moe_layer(l) ? p.moe_layer_total : p.dense_mlp; };
  auto ffn_active = [&](int64_t l) { return c.is_moe_layer(l) ? p.moe_layer_active : p.dense_mlp; };

  p.total_main = add(add(p.embedding, p.head), p.final_norm);
  p.active_main = p.total_main;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    (c.is_moe_layer(l) ? p.n_moe_layers : p.n_dense_layers) += 1;
    p.total_main = add(p.total_main, add(layer_common, ffn_total(l)));
    p.active_main = add(p.active_main, add(layer_common, ffn_active(l)));
  }

  // Per MTP module: enorm + hnorm + shared_head.norm (3D) + eh_proj (2D^2) + one decoder layer.
  const int64_t mtp_extra = add(3 * D, mul(D, 2 * D));
  if (c.num_nextn_predict_layers > 0) p.mtp_active = add(p.embedding, p.head);  // shared, once
  for (int64_t k = 0; k < c.num_nextn_predict_layers; ++k) {
    const int64_t l = c.num_hidden_layers + k;
    p.mtp_unique = add(p.mtp_unique, add(add(mtp_extra, layer_common), ffn_total(l)));
    p.mtp_active = add(p.mtp_active, add(add(mtp_extra, layer_common), ffn_active(l)));
  }
  return p;
}

int64_t kv_cache_elems_per_token(const DeepSeekConfig& c) { return mul(c.num_hidden_layers, c.kv_cache_dim()); }

int64_t mha_cache_elems_per_token(const DeepSeekConfig& c) {
  return mul(mul(2 * c.num_attention_heads, c.v_head_dim), c.num_hidden_layers);
}

int64_t naive_mla_cache_elems_per_token(const DeepSeekConfig& c) {
  return mul(mul(c.num_attention_heads, c.qk_head_dim() + c.v_head_dim), c.num_hidden_layers);
}

}  // namespace frugal

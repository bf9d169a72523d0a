// Tensor list (SPEC §10.1) and parameter counts (SPEC §9.5) from one DeepSeekConfig.
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

class TensorList {
 public:
  TensorList(std::vector<TensorSpec>& out, int64_t layer, bool mtp) : out_(out), layer_(layer), mtp_(mtp) {
    prefix_ = layer < 0 ? "" : "model.layers." + std::to_string(layer) + ".";
  }
  void add(const std::string& name, Shape shape, bool fp8 = false) {
    out_.push_back({prefix_ + name, std::move(shape), fp8, layer_, mtp_});
  }
  // SwiGLU MLP of width `inter` under `prefix` (dense mlp., experts.E., shared_experts.).
  void swiglu(const std::string& prefix, int64_t hidden, int64_t inter) {
    add(prefix + "gate_proj.weight", {inter, hidden}, true);
    add(prefix + "up_proj.weight", {inter, hidden}, true);
    add(prefix + "down_proj.weight", {hidden, inter}, true);
  }

 private:
  std::vector<TensorSpec>& out_;
  int64_t layer_;
  bool mtp_;
  std::string prefix_;
};

void decoder_layer(const DeepSeekConfig& c, TensorList& t, int64_t layer) {
  const int64_t D = c.hidden_size, H = c.num_attention_heads;
  t.add("input_layernorm.weight", {D});
  if (c.q_lora_rank > 0) {
    t.add("self_attn.q_a_proj.weight", {c.q_lora_rank, D}, true);
    t.add("self_attn.q_a_layernorm.weight", {c.q_lora_rank});
    t.add("self_attn.q_b_proj.weight", {H * c.qk_head_dim(), c.q_lora_rank}, true);
  } else {
    t.add("self_attn.q_proj.weight", {H * c.qk_head_dim(), D}, true);
  }
  t.add("self_attn.kv_a_proj_with_mqa.weight", {c.kv_cache_dim(), D}, true);  // [C + dr, D]
  t.add("self_attn.kv_a_layernorm.weight", {c.kv_lora_rank});
  t.add("self_attn.kv_b_proj.weight", {H * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank}, true);
  t.add("self_attn.o_proj.weight", {D, H * c.v_head_dim}, true);
  t.add("post_attention_layernorm.weight", {D});
  if (!c.is_moe_layer(layer)) {
    t.swiglu("mlp.", D, c.intermediate_size);
    return;
  }
  t.add("mlp.gate.weight", {c.n_routed_experts, D});
  if (c.topk_method == TopkMethod::kNoauxTc) t.add("mlp.gate.e_score_correction_bias", {c.n_routed_experts});
  for (int64_t e = 0; e < c.n_routed_experts; ++e)
    t.swiglu("mlp.experts." + std::to_string(e) + ".", D, c.moe_intermediate_size);
  if (c.n_shared_experts > 0) t.swiglu("mlp.shared_experts.", D, c.n_shared_experts * c.moe_intermediate_size);
}

}  // namespace

std::vector<TensorSpec> expected_tensors(const DeepSeekConfig& c, bool include_mtp) {
  const int64_t V = c.vocab_size, D = c.hidden_size;
  std::vector<TensorSpec> out;
  TensorList global(out, -1, false);
  global.add("model.embed_tokens.weight", {V, D});
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    TensorList t(out, l, false);
    decoder_layer(c, t, l);
  }
  global.add("model.norm.weight", {D});
  global.add("lm_head.weight", {V, D});
  if (!include_mtp) return out;
  for (int64_t k = 0; k < c.num_nextn_predict_layers; ++k) {
    const int64_t l = c.num_hidden_layers + k;
    TensorList t(out, l, true);
    t.add("enorm.weight", {D});
    t.add("hnorm.weight", {D});
    t.add("eh_proj.weight", {D, 2 * D});  // [D, 2D]: input is concat(enorm(emb), hnorm(h))
    decoder_layer(c, t, l);
    t.add("shared_head.norm.weight", {D});
    t.add("shared_head.head.weight", {V, D});  // copy of lm_head.weight
    t.add("embed_tokens.weight", {V, D});      // copy of model.embed_tokens.weight
  }
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

// The tensor table: every tensor of a DeepSeek-V2/V3 checkpoint declared once, block by block.
//
// Why: the Hugging Face name, shape rule, role and dtype rules of a tensor used to be written by
// hand in the expected-tensor list, the checkpoint loader, the training ParamStore (twice) and in
// two parallel structs. Now each block is one struct template over its slot types (a slot is what
// a tensor binds to: a WeightView for inference, a Param for training, nothing for a bare list)
// plus one visit_tensors() overload that names each of its tensors once, with the member it binds
// to. Every consumer walks the same visit:
//   expected_tensors (model/params.cpp)      the list, in the stable order ParamStore offsets,
//                                            checkpoints and random models rely on;
//   load_model (io/hf_loader.cpp)            binds WeightViews into the mmapped checkpoint;
//   ParamStore (model/param_store.cpp)       lays out the f32 master copy, binds Params, and
//                                            builds f32 WeightViews for the inference forward;
//   load_params_hf / export_params_hf        read and write the HF layout through ParamStore.
// Future quantization (TensorSpec::fp8_in_release / role) and sharding (layer, expert) select
// tensors from TensorSpec instead of keeping their own lists.
//
// Adding a tensor: add the member to its block struct below and one `f(s.spec(...), b.member)`
// line to that block's visit_tensors, then use it in the model code. Loading, the expected list,
// training, checkpoints and export follow. Order matters: it is the order of expected_tensors,
// hence of ParamStore offsets, so append where the checkpoint layout puts it.
//
// Dims: V vocab_size, D hidden_size, H num_attention_heads, C kv_lora_rank, Cq q_lora_rank,
// dn/dr/dv qk_nope/qk_rope/v head dims, I intermediate_size, Im moe_intermediate_size,
// E n_routed_experts, L num_hidden_layers.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "model/config.h"

namespace frugal {

enum class TensorRole {
  kEmbedding,      // model.embed_tokens [V, D]
  kHead,           // lm_head [V, D]; with tie_word_embeddings the loader may alias the embedding
  kNorm,           // an RMSNorm weight [n]
  kProjection,     // a Linear weight [out, in] of attention or a SwiGLU MLP / expert: FP8 in release
  kRouter,         // mlp.gate.weight [E, D] (kept in BF16 in the release)
  kRoutingBias,    // mlp.gate.e_score_correction_bias [E]: a buffer set by aux-loss-free balancing
  kMtpProjection,  // eh_proj [D, 2D] (kept in BF16 in the release)
  kMtpEmbedCopy,   // an MTP module's embed_tokens: stored copy of model.embed_tokens
  kMtpHeadCopy,    // an MTP module's shared_head.head: stored copy of lm_head
};

struct TensorSpec {
  std::string name;  // Hugging Face name, e.g. "model.layers.3.mlp.experts.17.up_proj.weight"
  Shape shape;
  // Stored as FP8 E4M3 + "<name>_scale_inv" in the released V3 checkpoints: attention projections,
  // dense MLP, routed and shared experts (role kProjection). Embeddings, heads, norms, router, bias,
  // eh_proj are not. This is the set a quantizer may quantize.
  bool fp8_in_release = false;
  int64_t layer = -1;  // -1 for global tensors (embed_tokens, norm, lm_head); pipeline stages split here
  bool mtp = false;    // part of an MTP module (layer index >= num_hidden_layers)
  TensorRole role = TensorRole::kNorm;
  int64_t expert = -1;  // routed expert index (expert parallelism picks by it); -1 otherwise

  // The MTP copies are one tensor in training (aliases of the main embedding / head), two on disk.
  bool is_mtp_copy() const { return role == TensorRole::kMtpEmbedCopy || role == TensorRole::kMtpHeadCopy; }
  const char* copy_of() const {  // for an MTP copy: the main-model tensor it copies
    return role == TensorRole::kMtpEmbedCopy ? "model.embed_tokens.weight" : "lm_head.weight";
  }
  bool trainable() const { return role != TensorRole::kRoutingBias; }  // bias: no gradient, not stepped
  bool decay() const { return trainable() && shape.size() == 2; }     // every 2-D tensor (V3 recipe)
};

// Where a block sits: the name prefix and the tags its tensors carry.
struct TensorScope {
  std::string prefix;  // "" (globals) or "model.layers.<l>." (+ "mlp.experts.<e>." ...)
  int64_t layer = -1;
  bool mtp = false;
  int64_t expert = -1;

  static TensorScope global() { return {}; }
  static TensorScope layer_of(const DeepSeekConfig& c, int64_t l) {
    return {"model.layers." + std::to_string(l) + ".", l, l >= c.num_hidden_layers, -1};
  }
  TensorScope sub(const std::string& more, int64_t expert_index = -1) const {
    return {prefix + more, layer, mtp, expert_index};
  }
  TensorSpec spec(const char* suffix, Shape shape, TensorRole role) const {
    return {prefix + suffix, std::move(shape), role == TensorRole::kProjection, layer, mtp, role, expert};
  }
};

// ---- the blocks. S names the slot types: S::Mat (a matrix), S::Vec (a norm vector),
// S::Buf (a non-trained buffer). See WeightSlots (weights.h) and ParamSlots (train_params.h).

template <class S>
struct MlaT {  // multi-head latent attention
  typename S::Mat q_a_proj;            // [Cq, D]              (q_lora_rank > 0)
  typename S::Vec q_a_layernorm;       // [Cq]
  typename S::Mat q_b_proj;            // [H·(dn+dr), Cq]
  typename S::Mat q_proj;              // [H·(dn+dr), D]       (q_lora_rank == 0)
  typename S::Mat kv_a_proj_with_mqa;  // [C + dr, D]
  typename S::Vec kv_a_layernorm;      // [C]
  typename S::Mat kv_b_proj;           // [H·(dn+dv), C]; per head h: dn rows W_UK, then dv rows W_UV
  typename S::Mat o_proj;              // [D, H·dv]
};

template <class S, class F>
void visit_tensors(const DeepSeekConfig& c, const TensorScope& s, MlaT<S>& a, F&& f) {
  const int64_t D = c.hidden_size, H = c.num_attention_heads;
  using R = TensorRole;
  if (c.q_lora_rank > 0) {
    f(s.spec("q_a_proj.weight", {c.q_lora_rank, D}, R::kProjection), a.q_a_proj);
    f(s.spec("q_a_layernorm.weight", {c.q_lora_rank}, R::kNorm), a.q_a_layernorm);
    f(s.spec("q_b_proj.weight", {H * c.qk_head_dim(), c.q_lora_rank}, R::kProjection), a.q_b_proj);
  } else {
    f(s.spec("q_proj.weight", {H * c.qk_head_dim(), D}, R::kProjection), a.q_proj);
  }
  f(s.spec("kv_a_proj_with_mqa.weight", {c.kv_cache_dim(), D}, R::kProjection), a.kv_a_proj_with_mqa);
  f(s.spec("kv_a_layernorm.weight", {c.kv_lora_rank}, R::kNorm), a.kv_a_layernorm);
  f(s.spec("kv_b_proj.weight", {H * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank}, R::kProjection),
    a.kv_b_proj);
  f(s.spec("o_proj.weight", {D, H * c.v_head_dim}, R::kProjection), a.o_proj);
}

template <class S>
struct MlpT {  // SwiGLU: down(silu(gate(x)) ⊙ up(x)), width F
  typename S::Mat gate_proj;  // [F, D]
  typename S::Mat up_proj;    // [F, D]
  typename S::Mat down_proj;  // [D, F]
};

template <class S, class F>
void visit_tensors(const TensorScope& s, int64_t hidden, int64_t inter, MlpT<S>& m, F&& f) {
  f(s.spec("gate_proj.weight", {inter, hidden}, TensorRole::kProjection), m.gate_proj);
  f(s.spec("up_proj.weight", {inter, hidden}, TensorRole::kProjection), m.up_proj);
  f(s.spec("down_proj.weight", {hidden, inter}, TensorRole::kProjection), m.down_proj);
}

template <class S>
struct MoeT {
  typename S::Mat gate;                     // router [E, D]
  typename S::Buf e_score_correction_bias{};  // [E] (noaux_tc only; expert selection only)
  std::vector<MlpT<S>> experts;             // E routed experts, F = Im
  bool has_shared = false;
  MlpT<S> shared_experts;                   // fused: F = n_shared_experts · Im
};

template <class S, class F>
void visit_tensors(const DeepSeekConfig& c, const TensorScope& s, MoeT<S>& m, F&& f) {
  const int64_t D = c.hidden_size;
  f(s.spec("gate.weight", {c.n_routed_experts, D}, TensorRole::kRouter), m.gate);
  if (c.topk_method == TopkMethod::kNoauxTc)
    f(s.spec("gate.e_score_correction_bias", {c.n_routed_experts}, TensorRole::kRoutingBias),
      m.e_score_correction_bias);
  m.experts.resize(size_t(c.n_routed_experts));
  for (int64_t e = 0; e < c.n_routed_experts; ++e)
    visit_tensors(s.sub("experts." + std::to_string(e) + ".", e), D, c.moe_intermediate_size, m.experts[size_t(e)], f);
  m.has_shared = c.n_shared_experts > 0;
  if (m.has_shared)
    visit_tensors(s.sub("shared_experts."), D, c.n_shared_experts * c.moe_intermediate_size, m.shared_experts, f);
}

template <class S>
struct LayerT {  // decoder layer: x + MLA(norm(x)), then + FFN(norm(.)), FFN dense or MoE
  typename S::Vec input_layernorm;           // [D]
  typename S::Vec post_attention_layernorm;  // [D]
  MlaT<S> self_attn;
  bool is_moe = false;
  MlpT<S> mlp;  // dense layers, F = I
  MoeT<S> moe;  // MoE layers
};

template <class S, class F>
void visit_tensors(const DeepSeekConfig& c, const TensorScope& s, LayerT<S>& l, F&& f) {
  f(s.spec("input_layernorm.weight", {c.hidden_size}, TensorRole::kNorm), l.input_layernorm);
  visit_tensors(c, s.sub("self_attn."), l.self_attn, f);
  f(s.spec("post_attention_layernorm.weight", {c.hidden_size}, TensorRole::kNorm), l.post_attention_layernorm);
  l.is_moe = c.is_moe_layer(s.layer);
  if (l.is_moe) visit_tensors(c, s.sub("mlp."), l.moe, f);
  else visit_tensors(s.sub("mlp."), c.hidden_size, c.intermediate_size, l.mlp, f);
}

// Multi-token prediction module k (layer index L + k): h' = eh_proj([enorm(emb(t_{i+k})) ;
// hnorm(h_i)]) -> one decoder block -> shared_head.norm -> shared_head.head. The checkpoint
// stores the embedding and head again; training shares them with the main model.
template <class S>
struct MtpT {
  typename S::Vec enorm, hnorm;         // [D]
  typename S::Mat eh_proj;              // [D, 2·D]; input = [embedding ; hidden]
  LayerT<S> block;
  typename S::Vec shared_head_norm;     // [D]
  typename S::Mat shared_head_head;     // [V, D] copy of lm_head
  typename S::Mat embed_tokens;         // [V, D] copy of model.embed_tokens
};

template <class S, class F>
void visit_tensors(const DeepSeekConfig& c, const TensorScope& s, MtpT<S>& m, F&& f) {
  const int64_t D = c.hidden_size;
  using R = TensorRole;
  f(s.spec("enorm.weight", {D}, R::kNorm), m.enorm);
  f(s.spec("hnorm.weight", {D}, R::kNorm), m.hnorm);
  f(s.spec("eh_proj.weight", {D, 2 * D}, R::kMtpProjection), m.eh_proj);
  visit_tensors(c, s, m.block, f);
  f(s.spec("shared_head.norm.weight", {D}, R::kNorm), m.shared_head_norm);
  f(s.spec("shared_head.head.weight", {c.vocab_size, D}, R::kMtpHeadCopy), m.shared_head_head);
  f(s.spec("embed_tokens.weight", {c.vocab_size, D}, R::kMtpEmbedCopy), m.embed_tokens);
}

template <class S>
struct ModelT {
  typename S::Mat embed_tokens;  // [V, D]
  std::vector<LayerT<S>> layers;  // L
  typename S::Vec norm;          // [D]
  typename S::Mat lm_head;       // [V, D]
  std::vector<MtpT<S>> mtp;      // num_nextn_predict_layers (empty: not loaded / not trained)
};

// The main model: embed_tokens, layers 0..L-1, norm, lm_head.
template <class S, class F>
void visit_main_tensors(const DeepSeekConfig& c, ModelT<S>& m, F&& f) {
  const TensorScope g = TensorScope::global();
  f(g.spec("model.embed_tokens.weight", {c.vocab_size, c.hidden_size}, TensorRole::kEmbedding), m.embed_tokens);
  m.layers.resize(size_t(c.num_hidden_layers));
  for (int64_t l = 0; l < c.num_hidden_layers; ++l)
    visit_tensors(c, TensorScope::layer_of(c, l), m.layers[size_t(l)], f);
  f(g.spec("model.norm.weight", {c.hidden_size}, TensorRole::kNorm), m.norm);
  f(g.spec("lm_head.weight", {c.vocab_size, c.hidden_size}, TensorRole::kHead), m.lm_head);
}

// MTP module k (0-based) at layer index L + k.
template <class S, class F>
void visit_mtp_tensors(const DeepSeekConfig& c, int64_t k, MtpT<S>& m, F&& f) {
  visit_tensors(c, TensorScope::layer_of(c, c.num_hidden_layers + k), m, f);
}

// Every tensor in table order: the main model, then (with_mtp) the MTP modules.
template <class S, class F>
void visit_model_tensors(const DeepSeekConfig& c, bool with_mtp, ModelT<S>& m, F&& f) {
  visit_main_tensors(c, m, f);
  m.mtp.resize(with_mtp ? size_t(c.num_nextn_predict_layers) : 0);
  for (size_t k = 0; k < m.mtp.size(); ++k) visit_mtp_tensors(c, int64_t(k), m.mtp[k], f);
}

// Slots of a bare list: the walk without binding anything (expected_tensors).
struct NoSlot {};
struct SpecSlots {
  using Mat = NoSlot;
  using Vec = NoSlot;
  using Buf = NoSlot;
};

// Several lambdas as one visitor, one per slot type: f(spec, WeightView&) and f(spec, std::vector<float>&).
template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

}  // namespace frugal

#include "model/param_store.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "core/error.h"
#include "core/rng.h"
#include "model/params.h"

namespace frugal {

namespace {

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// The MTP modules' stored copies of the shared embedding and head (not separate parameters).
bool is_mtp_copy(const TensorSpec& t) {
  return t.mtp && (ends_with(t.name, ".shared_head.head.weight") || ends_with(t.name, ".embed_tokens.weight"));
}

}  // namespace

ParamStore::ParamStore(const DeepSeekConfig& cfg, bool with_mtp)
    : cfg_(cfg), with_mtp_(with_mtp && cfg.num_nextn_predict_layers > 0) {
  int64_t offset = 0;
  for (const TensorSpec& t : expected_tensors(cfg_, with_mtp_)) {
    if (is_mtp_copy(t)) continue;
    Entry e;
    e.name = t.name;
    e.shape = t.shape;
    e.numel = shape_numel(t.shape);
    // 64-byte aligned tensors: the GEMMs and the optimizer's vector loops start on a cache line.
    e.offset = offset;
    offset += (e.numel + 15) / 16 * 16;
    e.trainable = !ends_with(t.name, "e_score_correction_bias");
    e.decay = e.trainable && t.shape.size() == 2;
    e.mtp = t.mtp;
    entries_.push_back(std::move(e));
  }
  values_.assign(size_t(offset), 0.0f);
  grads_.assign(size_t(offset), 0.0f);
  bind();
}

const ParamStore::Entry* ParamStore::find(const std::string& name) const {
  for (const Entry& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

void ParamStore::bind() {
  std::unordered_map<std::string, const Entry*> by_name;
  for (const Entry& e : entries_) by_name[e.name] = &e;
  auto get = [&](const std::string& name) -> Param {
    auto it = by_name.find(name);
    if (it == by_name.end()) fail(ErrorKind::kInternal, "ParamStore: tensor '{}' missing", name);
    const Entry& e = *it->second;
    Param p;
    p.w = values_.data() + e.offset;
    p.g = e.trainable ? grads_.data() + e.offset : nullptr;
    p.rows = e.shape.size() == 2 ? e.shape[0] : 1;
    p.cols = e.shape.size() == 2 ? e.shape[1] : e.shape[0];
    return p;
  };
  auto mlp = [&](const std::string& prefix) {
    return MlpParams{get(prefix + "gate_proj.weight"), get(prefix + "up_proj.weight"),
                     get(prefix + "down_proj.weight")};
  };
  auto layer = [&](int64_t l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LayerParams lp;
    lp.input_layernorm = get(p + "input_layernorm.weight");
    lp.post_attention_layernorm = get(p + "post_attention_layernorm.weight");
    MlaParams& a = lp.self_attn;
    if (cfg_.q_lora_rank > 0) {
      a.q_a_proj = get(p + "self_attn.q_a_proj.weight");
      a.q_a_layernorm = get(p + "self_attn.q_a_layernorm.weight");
      a.q_b_proj = get(p + "self_attn.q_b_proj.weight");
    } else {
      a.q_proj = get(p + "self_attn.q_proj.weight");
    }
    a.kv_a_proj_with_mqa = get(p + "self_attn.kv_a_proj_with_mqa.weight");
    a.kv_a_layernorm = get(p + "self_attn.kv_a_layernorm.weight");
    a.kv_b_proj = get(p + "self_attn.kv_b_proj.weight");
    a.o_proj = get(p + "self_attn.o_proj.weight");
    lp.is_moe = cfg_.is_moe_layer(l);
    if (!lp.is_moe) {
      lp.mlp = mlp(p + "mlp.");
      return lp;
    }
    MoeParams& m = lp.moe;
    m.gate = get(p + "mlp.gate.weight");
    if (cfg_.topk_method == TopkMethod::kNoauxTc) m.e_score_correction_bias = get(p + "mlp.gate.e_score_correction_bias").w;
    for (int64_t e = 0; e < cfg_.n_routed_experts; ++e) m.experts.push_back(mlp(p + "mlp.experts." + std::to_string(e) + "."));
    m.has_shared = cfg_.n_shared_experts > 0;
    if (m.has_shared) m.shared_experts = mlp(p + "mlp.shared_experts.");
    return lp;
  };
  params_ = ModelParams{};
  params_.embed_tokens = get("model.embed_tokens.weight");
  for (int64_t l = 0; l < cfg_.num_hidden_layers; ++l) params_.layers.push_back(layer(l));
  params_.norm = get("model.norm.weight");
  params_.lm_head = get("lm_head.weight");
  if (!with_mtp_) return;
  for (int64_t k = 0; k < cfg_.num_nextn_predict_layers; ++k) {
    const int64_t l = cfg_.num_hidden_layers + k;
    const std::string p = "model.layers." + std::to_string(l) + ".";
    MtpParams m;
    m.enorm = get(p + "enorm.weight");
    m.hnorm = get(p + "hnorm.weight");
    m.eh_proj = get(p + "eh_proj.weight");
    m.block = layer(l);
    m.shared_head_norm = get(p + "shared_head.norm.weight");
    m.shared_head_head = params_.lm_head;
    m.embed_tokens = params_.embed_tokens;
    params_.mtp.push_back(std::move(m));
  }
}

ModelWeights ParamStore::weights() const {
  auto vec = [](const Param& p) { return std::vector<float>(p.w, p.w + p.numel()); };
  auto mlp = [](const MlpParams& p) { return MlpWeights{p.gate_proj.view(), p.up_proj.view(), p.down_proj.view()}; };
  auto layer = [&](const LayerParams& lp) {
    LayerWeights lw;
    lw.input_layernorm = vec(lp.input_layernorm);
    lw.post_attention_layernorm = vec(lp.post_attention_layernorm);
    const MlaParams& a = lp.self_attn;
    MlaWeights& w = lw.self_attn;
    if (cfg_.q_lora_rank > 0) {
      w.q_a_proj = a.q_a_proj.view();
      w.q_a_layernorm = vec(a.q_a_layernorm);
      w.q_b_proj = a.q_b_proj.view();
    } else {
      w.q_proj = a.q_proj.view();
    }
    w.kv_a_proj_with_mqa = a.kv_a_proj_with_mqa.view();
    w.kv_a_layernorm = vec(a.kv_a_layernorm);
    w.kv_b_proj = a.kv_b_proj.view();
    w.o_proj = a.o_proj.view();
    lw.is_moe = lp.is_moe;
    if (!lp.is_moe) {
      lw.mlp = mlp(lp.mlp);
      return lw;
    }
    lw.moe.gate = lp.moe.gate.view();
    if (lp.moe.e_score_correction_bias)
      lw.moe.e_score_correction_bias.assign(lp.moe.e_score_correction_bias,
                                            lp.moe.e_score_correction_bias + cfg_.n_routed_experts);
    for (const MlpParams& e : lp.moe.experts) lw.moe.experts.push_back(mlp(e));
    lw.moe.has_shared = lp.moe.has_shared;
    if (lp.moe.has_shared) lw.moe.shared_experts = mlp(lp.moe.shared_experts);
    return lw;
  };
  ModelWeights mw;
  mw.embed_tokens = params_.embed_tokens.view();
  for (const LayerParams& lp : params_.layers) mw.layers.push_back(layer(lp));
  mw.norm = vec(params_.norm);
  mw.lm_head = params_.lm_head.view();
  for (const MtpParams& m : params_.mtp) {
    MtpWeights w;
    w.enorm = vec(m.enorm);
    w.hnorm = vec(m.hnorm);
    w.eh_proj = m.eh_proj.view();
    w.block = layer(m.block);
    w.shared_head_norm = vec(m.shared_head_norm);
    w.shared_head_head = m.shared_head_head.view();
    w.embed_tokens = m.embed_tokens.view();
    mw.mtp.push_back(std::move(w));
  }
  return mw;
}

void ParamStore::zero_grad() { std::fill(grads_.begin(), grads_.end(), 0.0f); }

void ParamStore::init_random(Rng& rng, double std) {
  for (const Entry& e : entries_) {
    float* v = value(e);
    if (!e.trainable) {
      std::fill(v, v + e.numel, 0.0f);  // routing bias starts neutral
    } else if (e.shape.size() == 1) {
      std::fill(v, v + e.numel, 1.0f);  // RMSNorm weights
    } else {
      for (int64_t i = 0; i < e.numel; ++i) v[i] = float(std * double(rng.normal()));
    }
  }
}

}  // namespace frugal

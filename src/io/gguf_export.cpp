#include "io/gguf_export.h"

#include <cmath>
#include <filesystem>
#include <map>
#include <type_traits>

#include "core/error.h"
#include "core/gguf.h"
#include "io/gguf_model.h"
#include "io/hf_loader.h"
#include "kernels/quant_blocks.h"
#include "model/weights.h"

namespace frugal {

namespace {

// llama.cpp's llama_ftype for general.file_type.
uint32_t file_type_of(DType t) {
  switch (t) {
    case DType::kF32: return 0;
    case DType::kBF16: return 32;
    case DType::kQ8_0: return 7;
    case DType::kQ4_0: return 2;
    default: return 0;
  }
}

DType parse_type(const std::string& s) {
  if (s == "f32") return DType::kF32;
  if (s == "bf16") return DType::kBF16;
  if (s == "q8_0") return DType::kQ8_0;
  if (s == "q4_0") return DType::kQ4_0;
  fail(ErrorKind::kInvalidArgument, "--type '{}': expected f32, bf16, q8_0 or q4_0", s);
}

DType keep_float(DType t) { return t == DType::kF16 || t == DType::kBF16 ? t : DType::kF32; }

// Appends `n` f32 values converted to `t` (a whole row for block types).
void append_row(std::string& out, DType t, const float* x, int64_t n) {
  const size_t at = out.size();
  out.resize(at + size_t(dtype_row_bytes(t, n)));
  char* dst = out.data() + at;
  switch (t) {
    case DType::kF32: std::memcpy(dst, x, size_t(n) * 4); break;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t b = f32_to_bf16(x[i]);
        std::memcpy(dst + 2 * i, &b, 2);
      }
      break;
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t b = f32_to_f16(x[i]);
        std::memcpy(dst + 2 * i, &b, 2);
      }
      break;
    default: quantize_row_q(t, x, dst, n); break;
  }
}

// A [rows, cols] view as GGUF bytes of type t: stored rows copied when the type is the same,
// otherwise widened to f32 and converted (or quantized with ggml's reference rounding).
void append_matrix(std::string& out, const WeightView& w, DType t) {
  if (w.dtype == t && w.scale_inv == nullptr && w.col0 == 0) {
    const int64_t rb = dtype_row_bytes(t, w.cols), ld = dtype_row_bytes(t, w.ld);
    for (int64_t r = 0; r < w.rows; ++r) out.append(static_cast<const char*>(w.data) + r * ld, size_t(rb));
    return;
  }
  std::vector<float> row(size_t(w.cols));
  for (int64_t r = 0; r < w.rows; ++r) {
    weight_row_f32(w, r, row.data());
    append_row(out, t, row.data(), w.cols);
  }
}

class Exporter {
 public:
  Exporter(const DeepSeekConfig& c, DType type, GgufWriter& w) : c_(c), type_(type), w_(w) {}

  void matrix(const TensorSpec& s, const WeightView& v) {
    if (s.name.find("self_attn.kv_b_proj") != std::string::npos) return kv_b(s, v);
    const GgufTensorRef ref = *gguf_name_of(s.name);
    DType t = type_;
    if (s.role == TensorRole::kRouter) t = DType::kF32;
    else if (dtype_is_block(type_) && (!s.fp8_in_release || v.cols % kQBlock != 0)) t = keep_float(v.dtype);
    if (ref.expert < 0) {
      std::string bytes;
      append_matrix(bytes, v, t);
      add(ref.name, {v.cols, v.rows}, t, std::move(bytes));
      return;
    }
    std::string& acc = experts_[ref.name];  // experts arrive in order 0..E-1
    append_matrix(acc, v, t);
    if (ref.expert == c_.n_routed_experts - 1) {
      add(ref.name, {v.cols, v.rows, c_.n_routed_experts}, t, std::move(acc));
      experts_.erase(ref.name);
    }
  }

  void vector(const TensorSpec& s, const std::vector<float>& v) {
    std::string bytes(reinterpret_cast<const char*>(v.data()), v.size() * 4);
    add(gguf_name_of(s.name)->name, {int64_t(v.size())}, DType::kF32, std::move(bytes));
  }

  int64_t count() const { return n_; }

 private:
  void add(const std::string& name, std::vector<int64_t> ne, DType t, std::string bytes) {
    w_.add_tensor(name, ne, *ggml_type_of(t), std::move(bytes));
    ++n_;
  }

  // kv_b_proj [H·(dn+dv), C] -> attn_k_b ne [dn, C, H] (head h: W_UK,hᵀ, C rows of dn) and
  // attn_v_b ne [C, dv, H] (head h: the dv rows of W_UV,h), as llama.cpp's converter splits it.
  void kv_b(const TensorSpec& s, const WeightView& v) {
    const int64_t H = c_.num_attention_heads, C = c_.kv_lora_rank, dn = c_.qk_nope_head_dim, dv = c_.v_head_dim;
    const DType t = type_ == DType::kBF16 ? DType::kBF16 : type_ == DType::kF32 ? DType::kF32 : keep_float(v.dtype);
    std::vector<float> W(size_t(H * (dn + dv) * C));
    for (int64_t r = 0; r < H * (dn + dv); ++r) weight_row_f32(v, r, W.data() + r * C);
    std::string kb, vb;
    std::vector<float> row(size_t(std::max(dn, C)));
    for (int64_t h = 0; h < H; ++h) {
      const float* head = W.data() + h * (dn + dv) * C;
      for (int64_t c = 0; c < C; ++c) {
        for (int64_t i = 0; i < dn; ++i) row[size_t(i)] = head[i * C + c];
        append_row(kb, t, row.data(), dn);
      }
      for (int64_t j = 0; j < dv; ++j) append_row(vb, t, head + (dn + j) * C, C);
    }
    const std::string blk = "blk." + std::to_string(s.layer) + ".";
    add(blk + "attn_k_b.weight", {dn, C, H}, t, std::move(kb));
    add(blk + "attn_v_b.weight", {C, dv, H}, t, std::move(vb));
  }

  const DeepSeekConfig& c_;
  DType type_;
  GgufWriter& w_;
  std::map<std::string, std::string> experts_;
  int64_t n_ = 0;
};

void add_config(const DeepSeekConfig& c, const std::string& name, DType type, GgufWriter& w) {
  const std::string P = "deepseek2.";
  auto u32 = [&](const std::string& k, int64_t v) {
    if (v < 0 || v > int64_t(UINT32_MAX)) fail(ErrorKind::kInvalidArgument, "{}{} = {} does not fit u32", P, k, v);
    w.add_u32(P + k, uint32_t(v));
  };
  w.add_string("general.architecture", "deepseek2");
  w.add_string("general.name", name);
  w.add_u32("general.file_type", file_type_of(type));
  if (dtype_is_block(type)) w.add_u32("general.quantization_version", 2);
  u32("block_count", c.num_hidden_layers);
  u32("context_length", c.max_position_embeddings);
  u32("embedding_length", c.hidden_size);
  u32("feed_forward_length", c.intermediate_size);
  u32("attention.head_count", c.num_attention_heads);
  u32("attention.head_count_kv", 1);  // MLA as MQA over the latent (llama.cpp's converter)
  w.add_f32(P + "rope.freq_base", float(c.rope_theta));
  w.add_f32(P + "attention.layer_norm_rms_epsilon", float(c.rms_norm_eps));
  u32("leading_dense_block_count", c.n_routed_experts > 0 ? c.first_k_dense_replace : c.num_hidden_layers);
  u32("vocab_size", c.vocab_size);
  if (c.q_lora_rank > 0) u32("attention.q_lora_rank", c.q_lora_rank);
  u32("attention.kv_lora_rank", c.kv_lora_rank);
  u32("attention.key_length", c.kv_lora_rank + c.qk_rope_head_dim);
  u32("attention.value_length", c.kv_lora_rank);
  u32("attention.key_length_mla", c.qk_head_dim());
  u32("attention.value_length_mla", c.v_head_dim);
  u32("expert_feed_forward_length", c.n_routed_experts > 0 ? c.moe_intermediate_size : c.intermediate_size);
  if (c.n_routed_experts > 0) {
    u32("expert_count", c.n_routed_experts);
    u32("expert_used_count", c.num_experts_per_tok);
    u32("expert_shared_count", c.n_shared_experts);
    w.add_f32(P + "expert_weights_scale", float(c.routed_scaling_factor));
    w.add_bool(P + "expert_weights_norm", c.norm_topk_prob);
    u32("expert_gating_func", c.scoring_func == ScoringFunc::kSigmoid ? 2 : 1);
    u32("expert_group_count", c.n_group);
    u32("expert_group_used_count", c.topk_group);
  } else {
    u32("expert_shared_count", 0);
  }
  u32("rope.dimension_count", c.qk_rope_head_dim);
  if (c.rope_scaling.yarn) {
    const RopeScaling& y = c.rope_scaling;
    if (y.mscale != y.mscale_all_dim)
      fail(ErrorKind::kUnsupported, "rope_scaling.mscale {} differs from mscale_all_dim {}: llama.cpp's deepseek2 "
           "metadata has one (yarn_log_multiplier = 0.1 * mscale_all_dim)", y.mscale, y.mscale_all_dim);
    w.add_string(P + "rope.scaling.type", "yarn");
    w.add_f32(P + "rope.scaling.factor", float(y.factor));
    u32("rope.scaling.original_context_length", y.original_max_position_embeddings);
    w.add_f32(P + "rope.scaling.yarn_log_multiplier", float(0.1 * y.mscale_all_dim));
    w.add_f32(P + "rope.scaling.yarn_beta_fast", float(y.beta_fast));
    w.add_f32(P + "rope.scaling.yarn_beta_slow", float(y.beta_slow));
  }
}

}  // namespace

int64_t add_gguf_model(const std::string& model_dir, const std::string& type_name, GgufWriter& w) {
  const DType type = parse_type(type_name);
  LoadOptions lo;
  lo.load_mtp = false;
  auto m = load_model(model_dir, lo);
  const DeepSeekConfig& c = m->config;
  std::filesystem::path p(model_dir);
  if (!p.has_filename()) p = p.parent_path();
  add_config(c, p.stem().string(), type, w);
  Exporter ex(c, type, w);
  ModelWeights weights = m->weights;
  visit_main_tensors(c, weights, Overloaded{[&](const TensorSpec& s, WeightView& v) { ex.matrix(s, v); },
                                            [&](const TensorSpec& s, std::vector<float>& v) { ex.vector(s, v); }});
  return ex.count();
}

}  // namespace frugal

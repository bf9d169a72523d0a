#include "io/gguf_model.h"

#include <cmath>
#include <cstring>
#include <set>
#include <type_traits>

#include "core/error.h"
#include "io/hf_config.h"
#include "kernels/quant_blocks.h"
#include "model/tensor_table.h"

namespace frugal {

namespace {

using nlohmann::json;

const char* const kArch = "deepseek2";

// Hugging Face suffix (after "model.layers.N.") -> llama.cpp name (after "blk.N.").
struct NamePair {
  const char* hf;
  const char* gguf;
};
constexpr NamePair kLayerNames[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"self_attn.q_a_proj.weight", "attn_q_a.weight"},
    {"self_attn.q_a_layernorm.weight", "attn_q_a_norm.weight"},
    {"self_attn.q_b_proj.weight", "attn_q_b.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.kv_a_proj_with_mqa.weight", "attn_kv_a_mqa.weight"},
    {"self_attn.kv_a_layernorm.weight", "attn_kv_a_norm.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
    {"mlp.gate.weight", "ffn_gate_inp.weight"},
    {"mlp.gate.e_score_correction_bias", "exp_probs_b.bias"},
    {"mlp.shared_experts.gate_proj.weight", "ffn_gate_shexp.weight"},
    {"mlp.shared_experts.up_proj.weight", "ffn_up_shexp.weight"},
    {"mlp.shared_experts.down_proj.weight", "ffn_down_shexp.weight"},
};

// The GGUF tensors frugal binds and the buffers it rebuilt (kv_b_proj from k_b / v_b).
struct GgufModelData {
  std::shared_ptr<GgufFile> file;
  std::vector<std::vector<uint8_t>> rebuilt;
};

std::string shape_ne(const std::vector<int64_t>& ne) {
  std::string s = "[";
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "]";
}

// Row r (ne[0] values) of a 2-D-or-more tensor, widened to f32 (float and block types).
void gguf_row_f32(const GgufTensor& t, DType d, int64_t r, float* out) {
  const int64_t n = t.ne[0];
  const uint8_t* row = t.data + size_t(r) * size_t(dtype_row_bytes(d, n));
  if (dtype_is_block(d)) dequantize_row_q(d, row, out, n);
  else convert_to_f32(d, row, out, size_t(n));
}

class GgufBinder {
 public:
  GgufBinder(GgufModelData& data, const DeepSeekConfig& c, bool check_finite)
      : d_(data), f_(*data.file), c_(c), check_finite_(check_finite) {}

  const GgufTensor& require(const std::string& name, const std::vector<int64_t>& ne) {
    const GgufTensor* t = f_.tensor(name);
    if (!t)
      fail(ErrorKind::kShape, "{}: missing tensor '{}' (expected ne {} for this file's deepseek2 metadata)", f_.path(),
           name, shape_ne(ne));
    if (t->ne != ne)
      fail(ErrorKind::kShape, "{}: tensor '{}' has ne {}, expected {} for this file's deepseek2 metadata", f_.path(),
           name, shape_ne(t->ne), shape_ne(ne));
    used_.insert(name);
    return *t;
  }

  DType dtype_of(const GgufTensor& t, bool allow_blocks) {
    if (!t.type->dtype || (!allow_blocks && dtype_is_block(*t.type->dtype)))
      fail(ErrorKind::kUnsupported, "{}: tensor '{}' has type {}, which frugal cannot compute with here (supported: "
           "F32, F16, BF16{})", f_.path(), t.name, t.type->name, allow_blocks ? ", Q8_0, Q4_0" : "");
    const DType d = *t.type->dtype;
    if (!dtype_is_block(d) && reinterpret_cast<uintptr_t>(t.data) % dtype_size(d) != 0)
      fail(ErrorKind::kFormat, "{}: tensor '{}' ({}) is not aligned to {} bytes in the file (general.alignment {})",
           f_.path(), t.name, t.type->name, dtype_size(d), f_.alignment());
    return d;
  }

  WeightView matrix(const TensorSpec& s) {
    if (s.name.find("self_attn.kv_b_proj.weight") != std::string::npos) return kv_b(s);
    const int64_t rows = s.shape[0], cols = s.shape[1];
    const GgufTensorRef ref = ref_of(s.name);
    std::vector<int64_t> ne = {cols, rows};
    if (ref.expert >= 0) ne.push_back(c_.n_routed_experts);
    const GgufTensor& t = require(ref.name, ne);
    WeightView w;
    w.dtype = dtype_of(t, true);
    w.rows = rows;
    w.cols = cols;
    w.ld = cols;
    const int64_t slab = ref.expert >= 0 ? ref.expert * rows * dtype_row_bytes(w.dtype, cols) : 0;
    w.data = t.data + slab;
    finite(t.name, w);
    return w;
  }

  std::vector<float> vector(const TensorSpec& s) {
    const GgufTensorRef ref = ref_of(s.name);
    const GgufTensor& t = require(ref.name, {s.shape[0]});
    const DType d = dtype_of(t, false);
    std::vector<float> v(size_t(s.shape[0]));
    convert_to_f32(d, t.data, v.data(), v.size());
    if (check_finite_)
      for (float x : v)
        if (!std::isfinite(x)) fail(ErrorKind::kShape, "{}: tensor '{}' contains NaN or Inf", f_.path(), t.name);
    return v;
  }

  bool has(const std::string& name) const { return f_.tensor(name) != nullptr; }

  // Tensors nobody bound; those of blocks past the main layers (nextn / MTP) are counted apart.
  std::vector<std::string> unused(int64_t n_layers, int64_t& skipped_nextn) const {
    std::vector<std::string> out;
    skipped_nextn = 0;
    for (const GgufTensor& t : f_.tensors()) {
      if (used_.count(t.name)) continue;
      long long l = -1;
      if (std::sscanf(t.name.c_str(), "blk.%lld.", &l) == 1 && l >= n_layers) {
        ++skipped_nextn;
        continue;
      }
      out.push_back(t.name);
    }
    return out;
  }

 private:
  GgufTensorRef ref_of(const std::string& hf) {
    auto r = gguf_name_of(hf);
    if (!r) fail(ErrorKind::kInternal, "no GGUF name for tensor '{}'", hf);
    return *r;
  }

  // kv_b_proj [H·(dn+dv), C]: attn_kv_b as it is (older files), else rebuilt from attn_k_b
  // (ne [dn, C, H]: head h is C rows of dn, i.e. W_UK,hᵀ) and attn_v_b (ne [C, dv, H]).
  WeightView kv_b(const TensorSpec& s) {
    const std::string blk = "blk." + std::to_string(s.layer) + ".";
    const int64_t H = c_.num_attention_heads, C = c_.kv_lora_rank, dn = c_.qk_nope_head_dim, dv = c_.v_head_dim;
    if (has(blk + "attn_kv_b.weight")) {
      const GgufTensor& t = require(blk + "attn_kv_b.weight", {C, H * (dn + dv)});
      WeightView w{};
      w.dtype = dtype_of(t, true);
      w.rows = H * (dn + dv);
      w.cols = C;
      w.ld = C;
      w.data = t.data;
      finite(t.name, w);
      return w;
    }
    const GgufTensor& kb = require(blk + "attn_k_b.weight", {dn, C, H});
    const GgufTensor& vb = require(blk + "attn_v_b.weight", {C, dv, H});
    const DType dk = dtype_of(kb, true), dvt = dtype_of(vb, true);
    // Same float type: elements are moved, not converted. Otherwise F32, which holds every
    // dequantised block value exactly (an int8/int4 code times an fp16 scale).
    const DType out = (dk == dvt && !dtype_is_block(dk)) ? dk : DType::kF32;
    const size_t es = dtype_size(out);
    std::vector<uint8_t>& buf = d_.rebuilt.emplace_back(size_t(H * (dn + dv) * C) * es);
    std::vector<float> row(size_t(std::max(C, dn)));
    for (int64_t h = 0; h < H; ++h) {
      uint8_t* head = buf.data() + size_t(h * (dn + dv) * C) * es;
      for (int64_t c = 0; c < C; ++c) {  // k_b row (h, c): dn values, column c of kv_b's rows 0..dn
        const int64_t r = h * C + c;
        if (out == dk) {
          const uint8_t* src = kb.data + size_t(r * dn) * es;
          for (int64_t i = 0; i < dn; ++i) std::memcpy(head + size_t(i * C + c) * es, src + size_t(i) * es, es);
        } else {
          gguf_row_f32(kb, dk, r, row.data());
          for (int64_t i = 0; i < dn; ++i) reinterpret_cast<float*>(head)[i * C + c] = row[size_t(i)];
        }
      }
      for (int64_t j = 0; j < dv; ++j) {  // v_b row (h, j): C values, kv_b row dn + j
        uint8_t* dst = head + size_t((dn + j) * C) * es;
        const int64_t r = h * dv + j;
        if (out == dvt) std::memcpy(dst, vb.data + size_t(r * C) * es, size_t(C) * es);
        else gguf_row_f32(vb, dvt, r, reinterpret_cast<float*>(dst));
      }
    }
    WeightView w{};
    w.dtype = out;
    w.rows = H * (dn + dv);
    w.cols = C;
    w.ld = C;
    w.data = buf.data();
    finite(kb.name + " / " + vb.name, w);
    return w;
  }

  void finite(const std::string& name, const WeightView& w) {
    if (!check_finite_) return;
    for (int64_t r = 0; r < w.rows; ++r)
      for (int64_t c = 0; c < w.cols; ++c)
        if (!std::isfinite(w.at(r, c)))
          fail(ErrorKind::kShape, "{}: tensor '{}' has a non-finite value at [{}, {}]", f_.path(), name, r, c);
  }

  GgufModelData& d_;
  const GgufFile& f_;
  const DeepSeekConfig& c_;
  bool check_finite_;
  std::set<std::string> used_;
};

// head_count may be one number or (in some writers) one per layer, all equal for deepseek2.
int64_t uniform_int(const GgufFile& f, const std::string& key) {
  const GgufValue* v = f.find(key);
  if (!v) fail(ErrorKind::kConfig, "{}: metadata '{}' is missing", f.path(), key);
  if (v->type != GgufType::kArray) return *f.get_int(key);
  f.get_array(key, GgufType::kU8);
  if (v->count == 0) fail(ErrorKind::kConfig, "{}: metadata '{}' is an empty array", f.path(), key);
  for (uint64_t k = 1; k < v->count; ++k)
    if (v->int_at(k) != v->int_at(0))
      fail(ErrorKind::kUnsupported, "{}: metadata '{}' differs between layers ({} and {}); frugal needs one value",
           f.path(), key, v->int_at(0), v->int_at(k));
  return v->int_at(0);
}

}  // namespace

std::optional<GgufTensorRef> gguf_name_of(const std::string& hf) {
  if (hf == "model.embed_tokens.weight") return GgufTensorRef{"token_embd.weight"};
  if (hf == "model.norm.weight") return GgufTensorRef{"output_norm.weight"};
  if (hf == "lm_head.weight") return GgufTensorRef{"output.weight"};
  long long l = -1;
  int used = 0;
  if (std::sscanf(hf.c_str(), "model.layers.%lld.%n", &l, &used) != 1 || used == 0) return std::nullopt;
  const std::string blk = "blk." + std::to_string(l) + ".";
  const std::string rest = hf.substr(size_t(used));
  for (const NamePair& p : kLayerNames)
    if (rest == p.hf) return GgufTensorRef{blk + p.gguf};
  long long e = -1;
  char proj[16] = {};
  if (std::sscanf(rest.c_str(), "mlp.experts.%lld.%15[a-z]_proj.weight", &e, proj) == 2) {
    const std::string p = proj;
    if (p == "gate" || p == "up" || p == "down") return GgufTensorRef{blk + "ffn_" + p + "_exps.weight", e};
  }
  return std::nullopt;
}

DeepSeekConfig gguf_deepseek_config(const GgufFile& f) {
  const std::string& path = f.path();
  const auto arch = f.get_string("general.architecture");
  if (!arch) fail(ErrorKind::kConfig, "{}: metadata 'general.architecture' is missing", path);
  if (*arch != kArch)
    fail(ErrorKind::kUnsupported, "{}: general.architecture is '{}'; frugal reads '{}' (DeepSeek-V2/V3) GGUF files",
         path, *arch, kArch);
  const std::string P = std::string(kArch) + ".";
  auto req = [&](const std::string& k) {
    auto v = f.get_int(P + k);
    if (!v) fail(ErrorKind::kConfig, "{}: metadata '{}' is missing", path, P + k);
    return *v;
  };
  auto opt_int = [&](const std::string& k, int64_t d) { return f.get_int(P + k).value_or(d); };
  auto opt_float = [&](const std::string& k, double d) { return f.get_float(P + k).value_or(d); };

  const GgufTensor* embd = f.tensor("token_embd.weight");
  if (!embd || embd->ne.size() != 2)
    fail(ErrorKind::kShape, "{}: tensor 'token_embd.weight' is missing or not 2-D", path);
  const int64_t vocab = embd->ne[1];
  if (auto v = f.get_int(P + "vocab_size"); v && *v != vocab)
    fail(ErrorKind::kConfig, "{}: metadata '{}vocab_size' is {} but token_embd.weight has {} rows", path, P, *v, vocab);

  json j;
  const int64_t nextn = opt_int("nextn_predict_layers", 0);
  const int64_t blocks = req("block_count");
  if (nextn < 0 || nextn >= blocks)
    fail(ErrorKind::kConfig, "{}: metadata '{}nextn_predict_layers' is {}, expected 0 to block_count - 1", path, P, nextn);
  const int64_t E = opt_int("expert_count", 0);
  const int64_t dr = req("rope.dimension_count");
  // Newer conversions store the MLA head sizes in *_mla and the latent sizes in key/value_length;
  // older ones have only key_length = dn + dr and value_length = dv.
  const bool mla_keys = f.find(P + "attention.key_length_mla") != nullptr;
  const int64_t qk = mla_keys ? req("attention.key_length_mla") : req("attention.key_length");
  const int64_t dv = mla_keys ? req("attention.value_length_mla") : req("attention.value_length");
  if (qk <= dr)
    fail(ErrorKind::kConfig, "{}: metadata '{}attention.key_length{}' is {}, not more than rope.dimension_count {}",
         path, P, mla_keys ? "_mla" : "", qk, dr);
  const int64_t gating = opt_int("expert_gating_func", 0);  // 0 absent (V2 files: softmax), 1 softmax, 2 sigmoid
  if (gating < 0 || gating > 2)
    fail(ErrorKind::kUnsupported, "{}: metadata '{}expert_gating_func' is {}, expected 1 (softmax) or 2 (sigmoid)",
         path, P, gating);
  const bool sigmoid = gating == 2;
  j["model_type"] = sigmoid ? "deepseek_v3" : "deepseek_v2";
  j["vocab_size"] = vocab;
  j["hidden_size"] = req("embedding_length");
  j["num_hidden_layers"] = blocks - nextn;
  j["num_attention_heads"] = uniform_int(f, P + "attention.head_count");
  j["q_lora_rank"] = opt_int("attention.q_lora_rank", 0);
  j["kv_lora_rank"] = req("attention.kv_lora_rank");
  j["qk_nope_head_dim"] = qk - dr;
  j["qk_rope_head_dim"] = dr;
  j["v_head_dim"] = dv;
  j["max_position_embeddings"] = opt_int("context_length", 4096);
  j["rms_norm_eps"] = opt_float("attention.layer_norm_rms_epsilon", 1e-6);
  j["rope_theta"] = opt_float("rope.freq_base", 10000.0);
  const int64_t lead = opt_int("leading_dense_block_count", 0);
  const int64_t ff = opt_int("feed_forward_length", 0);
  // A model with no dense layer may omit the dense width; parse_hf_config wants one anyway.
  j["intermediate_size"] = ff > 0 ? ff : opt_int("expert_feed_forward_length", 1);
  if (E > 0) {
    j["n_routed_experts"] = E;
    j["num_experts_per_tok"] = req("expert_used_count");
    j["moe_intermediate_size"] = req("expert_feed_forward_length");
    j["n_shared_experts"] = opt_int("expert_shared_count", 0);
    j["first_k_dense_replace"] = lead;
    const int64_t groups = opt_int("expert_group_count", 1), used_groups = opt_int("expert_group_used_count", 1);
    const bool bias = lead < blocks - nextn && f.tensor("blk." + std::to_string(lead) + ".exp_probs_b.bias");
    j["scoring_func"] = sigmoid ? "sigmoid" : "softmax";
    j["topk_method"] = sigmoid && bias ? "noaux_tc" : groups > 1 ? "group_limited_greedy" : "greedy";
    j["routed_scaling_factor"] = opt_float("expert_weights_scale", 1.0);
    const GgufValue* norm = f.find(P + "expert_weights_norm");
    j["norm_topk_prob"] = norm ? *f.get_bool(P + "expert_weights_norm") : false;
    j["n_group"] = groups;
    j["topk_group"] = used_groups;
  }
  if (auto type = f.get_string(P + "rope.scaling.type"); type && *type != "none") {
    json r;
    r["type"] = *type;  // parse_hf_config refuses anything but yarn, naming the key
    r["factor"] = opt_float("rope.scaling.factor", 1.0);
    r["original_max_position_embeddings"] = opt_int("rope.scaling.original_context_length", 0);
    // llama.cpp's deepseek2 yarn_log_multiplier is 0.1 · mscale_all_dim; it has no separate
    // mscale, i.e. mscale = mscale_all_dim (as in every released V2/V3 config).
    const double m = opt_float("rope.scaling.yarn_log_multiplier", 0.0) / 0.1;
    r["mscale"] = m;
    r["mscale_all_dim"] = m;
    if (auto b = f.get_float(P + "rope.scaling.yarn_beta_fast")) r["beta_fast"] = *b;
    if (auto b = f.get_float(P + "rope.scaling.yarn_beta_slow")) r["beta_slow"] = *b;
    j["rope_scaling"] = r;
  }
  if (auto b = f.get_int("tokenizer.ggml.bos_token_id")) j["bos_token_id"] = *b;
  if (auto e = f.get_int("tokenizer.ggml.eos_token_id")) j["eos_token_id"] = *e;
  return parse_hf_config(j, path + " (deepseek2 metadata as config.json keys)");
}

std::unique_ptr<LoadedModel> load_gguf_model(const std::string& path, const LoadOptions& opt) {
  auto data = std::make_shared<GgufModelData>();
  data->file = std::make_shared<GgufFile>(path);
  auto m = std::make_unique<LoadedModel>();
  m->dir = path;
  m->config = gguf_deepseek_config(*data->file);
  const DeepSeekConfig& c = m->config;
  GgufBinder b(*data, c, opt.check_finite);
  const bool tied = !b.has("output.weight");
  visit_main_tensors(c, m->weights, Overloaded{
      [&](const TensorSpec& t, WeightView& w) {
        if (t.role == TensorRole::kHead && tied) w = m->weights.embed_tokens;  // llama.cpp: no output = tied
        else w = b.matrix(t);
      },
      [&](const TensorSpec& t, std::vector<float>& v) { v = b.vector(t); }});
  int64_t nextn = 0;
  const std::vector<std::string> extra = b.unused(c.num_hidden_layers, nextn);
  if (!extra.empty()) {
    std::string list;
    for (size_t i = 0; i < extra.size() && i < 5; ++i) list += (i ? ", " : "") + extra[i];
    fail(ErrorKind::kShape, "{}: {} tensor(s) not used by this file's deepseek2 metadata (e.g. {})", path, extra.size(),
         list);
  }
  if (nextn > 0) m->mtp_note = fmt::format("{} tensor(s) of MTP (nextn) layers not loaded from the GGUF", nextn);
  m->gguf = data;
  return m;
}

const GgufFile* loaded_gguf_file(const LoadedModel& m) {
  return m.gguf ? static_cast<const GgufModelData*>(m.gguf.get())->file.get() : nullptr;
}

}  // namespace frugal

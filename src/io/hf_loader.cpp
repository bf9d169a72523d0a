#include "io/hf_loader.h"

#include <cmath>
#include <set>

#include "core/error.h"
#include "io/hf_config.h"

namespace frugal {

namespace {

bool is_fp8(DType t) { return t == DType::kF8E4M3 || t == DType::kF8E5M2; }

// Binds tensors by name and remembers which names were consumed, so leftovers can be reported.
class Binder {
 public:
  Binder(const WeightStore& store, const DeepSeekConfig& cfg, bool check_finite)
      : store_(store), cfg_(cfg), check_finite_(check_finite) {}

  bool has(const std::string& name) const { return store_.has(name); }

  const SafetensorsEntry& require(const std::string& name, const Shape& shape) {
    if (!store_.has(name))
      fail(ErrorKind::kShape, "{}: missing tensor '{}' (expected shape {} for this config.json)", store_.dir(), name,
           shape_str(shape));
    const SafetensorsEntry& e = store_.entry(name);
    if (e.shape != shape)
      fail(ErrorKind::kShape, "{}: tensor '{}' has shape {}, expected {} for this config.json", store_.file_of(name),
           name, shape_str(e.shape), shape_str(shape));
    used_.insert(name);
    return e;
  }

  // A [rows, cols] matrix in any float dtype; fp8 with its `<name>_scale_inv` block scales.
  WeightView matrix(const std::string& name, int64_t rows, int64_t cols) {
    const SafetensorsEntry& e = require(name, {rows, cols});
    if (!dtype_is_float(e.dtype) || e.dtype == DType::kF64)
      fail(ErrorKind::kShape, "{}: tensor '{}' has dtype {}, expected F32, BF16, F16 or F8", store_.file_of(name), name,
           dtype_name(e.dtype));
    Tensor t = store_.get(name);
    WeightView w;
    w.dtype = e.dtype;
    w.rows = rows;
    w.cols = cols;
    w.ld = cols;
    w.data = t.data();
    if (is_fp8(e.dtype)) bind_scales(name, w);
    else if (store_.has(name + "_scale_inv"))
      fail(ErrorKind::kShape, "{}: '{}_scale_inv' accompanies a {} weight; block scales are only for FP8",
           store_.file_of(name), name, dtype_name(e.dtype));
    if (check_finite_) check_finite(name, w);
    return w;
  }

  std::vector<float> vector(const std::string& name, int64_t n) {
    const SafetensorsEntry& e = require(name, {n});
    if (!dtype_is_float(e.dtype))
      fail(ErrorKind::kShape, "{}: tensor '{}' has dtype {}, expected a float type", store_.file_of(name), name,
           dtype_name(e.dtype));
    std::vector<float> v(static_cast<size_t>(n));
    convert_to_f32(e.dtype, store_.get(name).data(), v.data(), size_t(n));
    if (check_finite_)
      for (float x : v)
        if (!std::isfinite(x)) fail(ErrorKind::kShape, "{}: tensor '{}' contains NaN or Inf", store_.file_of(name), name);
    return v;
  }

  std::vector<std::string> unused() const {
    std::vector<std::string> out;
    for (const auto& n : store_.names())
      if (!used_.count(n)) out.push_back(n);
    return out;
  }

 private:
  void bind_scales(const std::string& name, WeightView& w) {
    const std::string sname = name + "_scale_inv";
    if (!store_.has(sname)) {
      if (cfg_.quant.fp8)
        fail(ErrorKind::kShape, "{}: FP8 weight '{}' has no '{}' block-scale tensor", store_.file_of(name), name, sname);
      return;  // plain fp8 values, scale 1
    }
    const int64_t br = cfg_.quant.block_rows, bc = cfg_.quant.block_cols;
    const Shape want = {(w.rows + br - 1) / br, (w.cols + bc - 1) / bc};
    const SafetensorsEntry& e = require(sname, want);
    if (e.dtype != DType::kF32)
      fail(ErrorKind::kShape, "{}: scale tensor '{}' has dtype {}, expected F32", store_.file_of(sname), sname,
           dtype_name(e.dtype));
    w.scale_inv = static_cast<const float*>(store_.get(sname).data());
    w.scale_ld = want[1];
    w.block_rows = br;
    w.block_cols = bc;
  }

  void check_finite(const std::string& name, const WeightView& w) {
    for (int64_t r = 0; r < w.rows; ++r)
      for (int64_t c = 0; c < w.cols; ++c)
        if (!std::isfinite(w.at(r, c)))
          fail(ErrorKind::kShape, "{}: tensor '{}' has a non-finite value at [{}, {}]", store_.file_of(name), name, r, c);
  }

  const WeightStore& store_;
  const DeepSeekConfig& cfg_;
  bool check_finite_;
  std::set<std::string> used_;
};

MlpWeights bind_mlp(Binder& b, const std::string& p, int64_t hidden, int64_t inter) {
  MlpWeights m;
  m.gate_proj = b.matrix(p + "gate_proj.weight", inter, hidden);
  m.up_proj = b.matrix(p + "up_proj.weight", inter, hidden);
  m.down_proj = b.matrix(p + "down_proj.weight", hidden, inter);
  return m;
}

LayerWeights bind_layer(Binder& b, const DeepSeekConfig& c, int64_t l) {
  const std::string p = "model.layers." + std::to_string(l) + ".";
  const int64_t D = c.hidden_size, H = c.num_attention_heads;
  LayerWeights lw;
  lw.input_layernorm = b.vector(p + "input_layernorm.weight", D);
  lw.post_attention_layernorm = b.vector(p + "post_attention_layernorm.weight", D);
  MlaWeights& a = lw.self_attn;
  const std::string ap = p + "self_attn.";
  if (c.q_lora_rank > 0) {
    a.q_a_proj = b.matrix(ap + "q_a_proj.weight", c.q_lora_rank, D);
    a.q_a_layernorm = b.vector(ap + "q_a_layernorm.weight", c.q_lora_rank);
    a.q_b_proj = b.matrix(ap + "q_b_proj.weight", H * c.qk_head_dim(), c.q_lora_rank);
  } else {
    a.q_proj = b.matrix(ap + "q_proj.weight", H * c.qk_head_dim(), D);
  }
  a.kv_a_proj_with_mqa = b.matrix(ap + "kv_a_proj_with_mqa.weight", c.kv_cache_dim(), D);
  a.kv_a_layernorm = b.vector(ap + "kv_a_layernorm.weight", c.kv_lora_rank);
  a.kv_b_proj = b.matrix(ap + "kv_b_proj.weight", H * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank);
  a.o_proj = b.matrix(ap + "o_proj.weight", D, H * c.v_head_dim);

  lw.is_moe = c.is_moe_layer(l);
  if (!lw.is_moe) {
    lw.mlp = bind_mlp(b, p + "mlp.", D, c.intermediate_size);
    return lw;
  }
  MoeWeights& m = lw.moe;
  m.gate = b.matrix(p + "mlp.gate.weight", c.n_routed_experts, D);
  if (c.topk_method == TopkMethod::kNoauxTc)
    m.e_score_correction_bias = b.vector(p + "mlp.gate.e_score_correction_bias", c.n_routed_experts);
  m.experts.reserve(size_t(c.n_routed_experts));
  for (int64_t e = 0; e < c.n_routed_experts; ++e)
    m.experts.push_back(bind_mlp(b, p + "mlp.experts." + std::to_string(e) + ".", D, c.moe_intermediate_size));
  m.has_shared = c.n_shared_experts > 0;
  if (m.has_shared)
    m.shared_experts = bind_mlp(b, p + "mlp.shared_experts.", D, c.n_shared_experts * c.moe_intermediate_size);
  return lw;
}

MtpWeights bind_mtp(Binder& b, const DeepSeekConfig& c, int64_t l) {
  const std::string p = "model.layers." + std::to_string(l) + ".";
  const int64_t D = c.hidden_size;
  MtpWeights m;
  m.enorm = b.vector(p + "enorm.weight", D);
  m.hnorm = b.vector(p + "hnorm.weight", D);
  m.eh_proj = b.matrix(p + "eh_proj.weight", D, 2 * D);
  m.block = bind_layer(b, c, l);
  m.shared_head_norm = b.vector(p + "shared_head.norm.weight", D);
  m.shared_head_head = b.matrix(p + "shared_head.head.weight", c.vocab_size, D);
  m.embed_tokens = b.matrix(p + "embed_tokens.weight", c.vocab_size, D);
  return m;
}

bool store_has_layer(const WeightStore& s, int64_t l) {
  const std::string p = "model.layers." + std::to_string(l) + ".";
  for (const auto& n : s.names())
    if (n.rfind(p, 0) == 0) return true;
  return false;
}

}  // namespace

std::unique_ptr<LoadedModel> load_model(const std::string& dir, const LoadOptions& opt) {
  auto m = std::make_unique<LoadedModel>();
  m->dir = dir;
  m->config = load_hf_config(dir);
  m->store = std::make_unique<WeightStore>(dir);
  const DeepSeekConfig& c = m->config;
  Binder b(*m->store, c, opt.check_finite);
  ModelWeights& w = m->weights;
  w.embed_tokens = b.matrix("model.embed_tokens.weight", c.vocab_size, c.hidden_size);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) w.layers.push_back(bind_layer(b, c, l));
  w.norm = b.vector("model.norm.weight", c.hidden_size);
  if (c.tie_word_embeddings && !b.has("lm_head.weight")) w.lm_head = w.embed_tokens;
  else w.lm_head = b.matrix("lm_head.weight", c.vocab_size, c.hidden_size);

  for (int64_t k = 0; k < c.num_nextn_predict_layers; ++k) {
    const int64_t l = c.num_hidden_layers + k;
    if (!store_has_layer(*m->store, l)) {  // many conversions drop the MTP layer: fine for inference
      m->mtp_note = fmt::format("config.json declares {} MTP module(s) but the checkpoint has no layer {}",
                                c.num_nextn_predict_layers, l);
      break;
    }
    if (!opt.load_mtp) {
      m->mtp_note = "MTP modules not loaded (load_mtp = false)";
      break;
    }
    w.mtp.push_back(bind_mtp(b, c, l));
  }
  std::vector<std::string> extra = b.unused();
  if (opt.load_mtp && !extra.empty()) {
    std::string list;
    for (size_t i = 0; i < extra.size() && i < 5; ++i) list += (i ? ", " : "") + extra[i];
    fail(ErrorKind::kShape, "{}: {} tensor(s) not used by this config.json (e.g. {}); the checkpoint and config disagree",
         dir, extra.size(), list);
  }
  return m;
}

}  // namespace frugal

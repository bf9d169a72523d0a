// config.json -> DeepSeekConfig with every value checked (docs/model.md, Configuration;
// docs/conventions.md, Configuration).
//
// Keys ignored on purpose (unknown keys are ignored too: HF configs grow new keys every release):
//   architectures, auto_map, torch_dtype, transformers_version — bookkeeping, not architecture;
//   initializer_range, aux_loss_alpha, seq_aux — HF training defaults, not the paper's values
//     (docs/model.md, Released configurations); training hyper-parameters come from our own train config;
//   num_key_value_heads — MLA has no KV heads (every head reads the same latent);
//   pretraining_tp, use_cache, attention_dropout (0.0 in every release), ep_size — runtime knobs;
//   qk_head_dim, head_dim, rope_interleave — derived keys newer transformers add; qk_head_dim is
//     always nope + rope, and we pick the RoPE pairing ourselves (docs/model.md, RoPE and YaRN);
//   quantization_config.scale_fmt ("ue8m0", V3.1) — how activation scales are rounded at run time;
//     weight scales are stored as plain FP32 either way.
// MoE keys are read only when n_routed_experts is non-null and non-zero (a dense model may carry
// leftovers of them).
#include "io/hf_config.h"

#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/file.h"
#include "core/json.h"

namespace frugal {
namespace {

using nlohmann::json;

// Caps ~10-100x beyond any released model. They keep every tensor's element count below 2^52 and
// every per-layer sum inside int64, so shape and parameter arithmetic downstream cannot overflow.
constexpr int64_t kMaxInt32 = std::numeric_limits<int32_t>::max();
constexpr int64_t kMaxWidth = int64_t(1) << 20;    // hidden, intermediate, LoRA ranks, blocks
constexpr int64_t kMaxHeadDim = int64_t(1) << 16;  // qk_nope / qk_rope / v head dims
constexpr int64_t kMaxLayers = 10000;
constexpr int64_t kMaxHeads = 4096;
constexpr int64_t kMaxExperts = int64_t(1) << 16;
constexpr int64_t kMaxShared = 1024;
constexpr int64_t kMaxNextn = 64;
constexpr const char* kCap = "a sanity cap that keeps size arithmetic inside int64";

// A value for an error message (non-finite doubles dump as "null" in nlohmann, so print them).
std::string show(const json& v) {
  if (v.is_number_float() && !std::isfinite(v.get<double>())) return fmt::format("{}", v.get<double>());
  std::string s = v.dump();
  return s.size() > 80 ? s.substr(0, 77) + "..." : s;
}

// Typed access to one JSON object; `prefix` names nested objects ("rope_scaling.").
class Keys {
 public:
  Keys(const json& obj, const std::string& source, std::string prefix = "")
      : obj_(obj), source_(source), prefix_(std::move(prefix)) {}

  [[noreturn]] void bad(ErrorKind kind, const std::string& key, const std::string& what) const {
    fail(kind, "{}: config key '{}{}' {}", source_, prefix_, key, what);
  }
  // Absent and null both mean "not given" (HF writes null for unset optional keys).
  const json* find(const std::string& key) const {
    auto it = obj_.find(key);
    return it == obj_.end() || it->is_null() ? nullptr : &*it;
  }
  bool present(const std::string& key) const { return find(key) != nullptr; }
  const json& required(const std::string& key) const {
    auto it = obj_.find(key);
    if (it == obj_.end()) bad(ErrorKind::kConfig, key, "is missing (required)");
    return *it;
  }

  // Integers: JSON integers, or floats with an integral value (64.0); never 64.5, inf or bools.
  int64_t to_int(const json& v, const std::string& key) const {
    if (v.is_number_unsigned()) {
      if (v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
        bad(ErrorKind::kConfig, key, fmt::format("= {} does not fit in int64", show(v)));
      return int64_t(v.get<uint64_t>());
    }
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_number_float()) {
      double d = v.get<double>();
      if (!std::isfinite(d) || std::fabs(d) >= 9.2e18)
        bad(ErrorKind::kConfig, key, fmt::format("must be an integer, got {} (out of range)", show(v)));
      if (d != std::floor(d)) bad(ErrorKind::kConfig, key, fmt::format("must be an integer, got {}", show(v)));
      return int64_t(d);
    }
    bad(ErrorKind::kConfig, key, fmt::format("must be an integer, got {} {}", v.type_name(), show(v)));
  }
  int64_t in_range(const std::string& key, int64_t x, int64_t lo, int64_t hi, const char* why) const {
    if (x < lo || x > hi) bad(ErrorKind::kConfig, key, fmt::format("= {} must be in [{}, {}] ({})", x, lo, hi, why));
    return x;
  }
  int64_t integer(const std::string& key, int64_t lo, int64_t hi, const char* why) const {
    return in_range(key, to_int(required(key), key), lo, hi, why);
  }
  int64_t integer_or(const std::string& key, int64_t dflt, int64_t lo, int64_t hi, const char* why) const {
    const json* v = find(key);
    return v ? in_range(key, to_int(*v, key), lo, hi, why) : dflt;
  }

  double to_double(const json& v, const std::string& key) const {
    if (!v.is_number())
      bad(ErrorKind::kConfig, key, fmt::format("must be a number, got {} {}", v.type_name(), show(v)));
    double d = v.get<double>();
    if (!std::isfinite(d)) bad(ErrorKind::kConfig, key, fmt::format("must be a finite number, got {}", show(v)));
    return d;
  }
  double number(const std::string& key) const { return to_double(required(key), key); }
  double number_or(const std::string& key, double dflt) const {
    const json* v = find(key);
    return v ? to_double(*v, key) : dflt;
  }
  void check(bool ok, const std::string& key, double value, const char* why) const {
    if (!ok) bad(ErrorKind::kConfig, key, fmt::format("= {} is invalid: {}", value, why));
  }

  bool boolean(const std::string& key) const { return to_bool(required(key), key); }
  bool boolean_or(const std::string& key, bool dflt) const {
    const json* v = find(key);
    return v ? to_bool(*v, key) : dflt;
  }
  bool to_bool(const json& v, const std::string& key) const {
    if (!v.is_boolean())
      bad(ErrorKind::kConfig, key, fmt::format("must be true or false, got {} {}", v.type_name(), show(v)));
    return v.get<bool>();
  }

  std::string string(const std::string& key) const { return to_string(required(key), key); }
  std::string to_string(const json& v, const std::string& key) const {
    if (!v.is_string())
      bad(ErrorKind::kConfig, key, fmt::format("must be a string, got {} {}", v.type_name(), show(v)));
    return v.get<std::string>();
  }

  Keys object(const std::string& key) const {
    const json& v = required(key);
    if (!v.is_object())
      bad(ErrorKind::kConfig, key, fmt::format("must be an object, got {} {}", v.type_name(), show(v)));
    return Keys(v, source_, prefix_ + key + ".");
  }

 private:
  const json& obj_;
  const std::string& source_;
  std::string prefix_;
};

// Architecture switches that every DeepSeek release sets one way; we implement only that way.
void check_fixed_architecture(const Keys& k) {
  if (k.present("hidden_act")) {
    std::string act = k.to_string(*k.find("hidden_act"), "hidden_act");
    if (act != "silu")
      k.bad(ErrorKind::kUnsupported, "hidden_act", fmt::format("= \"{}\": only \"silu\" (SwiGLU) is supported", act));
  }
  if (k.boolean_or("attention_bias", false))
    k.bad(ErrorKind::kUnsupported, "attention_bias", "= true: DeepSeek attention projections have no bias");
  // Tied weights would leave no lm_head.weight in the checkpoint; no DeepSeek model ties them.
  if (k.boolean_or("tie_word_embeddings", false))
    k.bad(ErrorKind::kUnsupported, "tie_word_embeddings", "= true: only an untied lm_head is supported");
}

void read_dims(const Keys& k, DeepSeekConfig& c) {
  c.vocab_size = k.integer("vocab_size", 1, kMaxInt32, "token ids are int32");
  c.hidden_size = k.integer("hidden_size", 1, kMaxWidth, kCap);
  c.intermediate_size = k.integer("intermediate_size", 1, kMaxWidth, kCap);
  c.num_hidden_layers = k.integer("num_hidden_layers", 1, kMaxLayers, kCap);
  c.num_nextn_predict_layers = k.integer_or("num_nextn_predict_layers", 0, 0, kMaxNextn, kCap);
  c.num_attention_heads = k.integer("num_attention_heads", 1, kMaxHeads, kCap);
  // q_lora_rank null (V2-Lite) or 0 (reference configs) means a plain q_proj.
  c.q_lora_rank = k.integer_or("q_lora_rank", 0, 0, kMaxWidth, kCap);
  c.kv_lora_rank = k.integer("kv_lora_rank", 1, kMaxWidth, kCap);
  c.qk_nope_head_dim = k.integer("qk_nope_head_dim", 1, kMaxHeadDim, kCap);
  c.qk_rope_head_dim = k.integer("qk_rope_head_dim", 1, kMaxHeadDim, kCap);
  if (c.qk_rope_head_dim % 2 != 0)
    k.bad(ErrorKind::kConfig, "qk_rope_head_dim",
          fmt::format("= {} must be even (RoPE rotates pairs of dims)", c.qk_rope_head_dim));
  c.v_head_dim = k.integer("v_head_dim", 1, kMaxHeadDim, kCap);
  c.max_position_embeddings = k.integer("max_position_embeddings", 1, kMaxInt32, "positions are int32");

  c.rms_norm_eps = k.number("rms_norm_eps");
  k.check(c.rms_norm_eps > 0, "rms_norm_eps", c.rms_norm_eps, "must be > 0 (it guards the 1/sqrt)");
}

TopkMethod parse_topk_method(const Keys& k, const std::string& s) {
  if (s == "noaux_tc") return TopkMethod::kNoauxTc;
  if (s == "group_limited_greedy") return TopkMethod::kGroupLimitedGreedy;
  if (s == "greedy") return TopkMethod::kGreedy;
  k.bad(ErrorKind::kUnsupported, "topk_method",
        fmt::format("= \"{}\": expected \"noaux_tc\", \"group_limited_greedy\" or \"greedy\"", s));
}

ScoringFunc parse_scoring_func(const Keys& k, const std::string& s) {
  if (s == "sigmoid") return ScoringFunc::kSigmoid;
  if (s == "softmax") return ScoringFunc::kSoftmax;
  k.bad(ErrorKind::kUnsupported, "scoring_func", fmt::format("= \"{}\": expected \"sigmoid\" or \"softmax\"", s));
}

void read_moe(const Keys& k, DeepSeekConfig& c) {
  c.moe_layer_freq = k.integer_or("moe_layer_freq", 1, 1, kMaxLayers, "every moe_layer_freq-th layer is MoE");
  c.n_routed_experts = k.integer_or("n_routed_experts", 0, 0, kMaxExperts, kCap);
  if (c.n_routed_experts == 0) return;  // dense model: no MoE key is needed or read

  c.num_experts_per_tok = k.integer("num_experts_per_tok", 1, c.n_routed_experts, "top-k picks among n_routed_experts");
  c.moe_intermediate_size = k.integer("moe_intermediate_size", 1, kMaxWidth, kCap);
  k.required("n_shared_experts");  // null is fine (no shared expert), absent is not
  c.n_shared_experts = k.integer_or("n_shared_experts", 0, 0, kMaxShared, kCap);
  c.first_k_dense_replace = k.integer("first_k_dense_replace", 0, c.num_hidden_layers, "at most every layer is dense");
  c.topk_method = parse_topk_method(k, k.string("topk_method"));
  c.scoring_func = parse_scoring_func(k, k.string("scoring_func"));
  c.routed_scaling_factor = k.number("routed_scaling_factor");
  k.check(c.routed_scaling_factor > 0, "routed_scaling_factor", c.routed_scaling_factor, "must be > 0");
  c.norm_topk_prob = k.boolean("norm_topk_prob");

  c.n_group = k.integer("n_group", 1, c.n_routed_experts, "groups partition the routed experts");
  if (c.n_routed_experts % c.n_group != 0)
    k.bad(ErrorKind::kConfig, "n_group",
          fmt::format("= {} must divide n_routed_experts = {} (equal-size expert groups)", c.n_group,
                      c.n_routed_experts));
  c.topk_group = k.integer("topk_group", 1, c.n_group, "groups kept per token, out of n_group");
  const int64_t group_size = c.n_routed_experts / c.n_group;
  if (c.topk_method != TopkMethod::kGreedy && c.topk_group * group_size < c.num_experts_per_tok)
    k.bad(ErrorKind::kConfig, "topk_group",
          fmt::format("= {} keeps {} groups x {} experts = {} candidates, fewer than num_experts_per_tok = {}",
                      c.topk_group, c.topk_group, group_size, c.topk_group * group_size, c.num_experts_per_tok));
  if (c.topk_method == TopkMethod::kNoauxTc) {
    if (c.scoring_func != ScoringFunc::kSigmoid)
      k.bad(ErrorKind::kConfig, "scoring_func",
            "must be \"sigmoid\" when topk_method is \"noaux_tc\" (V3 gating, see docs/model.md, Routing)");
    // V3 scores a group by the sum of its top-2 biased scores, so a group needs two experts.
    if (c.n_group > 1 && group_size < 2)
      k.bad(ErrorKind::kConfig, "n_group",
            fmt::format("= {} leaves {} expert per group; noaux_tc scores groups by their top-2 experts", c.n_group,
                        group_size));
  }
}

void read_rope(const Keys& k, DeepSeekConfig& c) {
  c.rope_theta = k.number("rope_theta");
  k.check(c.rope_theta > 0, "rope_theta", c.rope_theta, "the RoPE base must be > 0");
  if (!k.present("rope_scaling")) {
    // transformers v5 moves YaRN into rope_parameters; reading plain RoPE instead would silently
    // produce wrong positions, so refuse.
    if (k.present("rope_parameters"))
      k.bad(ErrorKind::kUnsupported, "rope_parameters", "is not supported; give the YaRN settings as rope_scaling");
    return;
  }
  Keys r = k.object("rope_scaling");
  const json* type = r.find("type");
  const json* rope_type = r.find("rope_type");  // transformers' newer spelling
  if (!type && !rope_type) r.bad(ErrorKind::kConfig, "type", "is missing (expected \"yarn\")");
  std::string t = r.to_string(type ? *type : *rope_type, type ? "type" : "rope_type");
  if (type && rope_type && r.to_string(*rope_type, "rope_type") != t)
    r.bad(ErrorKind::kConfig, "rope_type", fmt::format("disagrees with type = \"{}\"", t));
  if (t == "default") return;  // transformers' name for unscaled RoPE
  if (t != "yarn")
    r.bad(ErrorKind::kUnsupported, type ? "type" : "rope_type", fmt::format("= \"{}\": only \"yarn\" is supported", t));
  if (r.present("attention_factor"))
    r.bad(ErrorKind::kUnsupported, "attention_factor",
          "is not supported; DeepSeek sets the YaRN temperature with mscale/mscale_all_dim");

  RopeScaling& y = c.rope_scaling;
  y.yarn = true;
  y.factor = r.number("factor");
  r.check(y.factor >= 1, "factor", y.factor, "YaRN extends the context, so factor must be >= 1");
  y.original_max_position_embeddings =
      r.integer("original_max_position_embeddings", 1, kMaxInt32, "positions are int32");
  y.beta_fast = r.number_or("beta_fast", 32);
  y.beta_slow = r.number_or("beta_slow", 1);
  r.check(y.beta_slow > 0, "beta_slow", y.beta_slow, "must be > 0 (it is a rotation count inside a log)");
  r.check(y.beta_fast >= y.beta_slow, "beta_fast", y.beta_fast,
          "must be >= beta_slow (the ramp runs from beta_fast to beta_slow)");
  y.mscale = r.number_or("mscale", 1);
  y.mscale_all_dim = r.number_or("mscale_all_dim", 0);
  r.check(y.mscale >= 0, "mscale", y.mscale, "must be >= 0 (attention temperature 0.1*mscale*ln(factor)+1)");
  r.check(y.mscale_all_dim >= 0, "mscale_all_dim", y.mscale_all_dim, "must be >= 0 (it divides the cos/sin scale)");
  // The correction range divides by ln(rope_theta).
  k.check(c.rope_theta > 1, "rope_theta", c.rope_theta, "YaRN needs a RoPE base > 1");
}

void read_quant(const Keys& k, DeepSeekConfig& c) {
  if (!k.present("quantization_config")) return;
  Keys q = k.object("quantization_config");
  std::string method = q.string("quant_method");
  if (method == "frugal_gguf_blocks") {  // io/quant_format.h
    c.quant.gguf_blocks = true;
    c.quant.gguf_weight_type = q.string("weight_type");
    if (c.quant.gguf_weight_type != "q8_0" && c.quant.gguf_weight_type != "q4_0")
      q.bad(ErrorKind::kUnsupported, "weight_type",
            fmt::format("= \"{}\": only \"q8_0\" and \"q4_0\" are supported", c.quant.gguf_weight_type));
    if (q.present("block_size") && q.to_int(*q.find("block_size"), "block_size") != 32)
      q.bad(ErrorKind::kUnsupported, "block_size", fmt::format("= {}: GGUF q8_0/q4_0 blocks have 32 values",
                                                               show(*q.find("block_size"))));
    return;
  }
  if (method != "fp8")
    q.bad(ErrorKind::kUnsupported, "quant_method",
          fmt::format("= \"{}\": only \"fp8\" (DeepSeek-V3 block FP8) and \"frugal_gguf_blocks\" are supported", method));
  if (q.present("fmt") && q.to_string(*q.find("fmt"), "fmt") != "e4m3")
    q.bad(ErrorKind::kUnsupported, "fmt",
          fmt::format("= {}: only \"e4m3\" weights are supported", show(*q.find("fmt"))));
  // "static" would ship activation scales that we would silently ignore.
  if (q.present("activation_scheme") && q.to_string(*q.find("activation_scheme"), "activation_scheme") != "dynamic")
    q.bad(ErrorKind::kUnsupported, "activation_scheme",
          fmt::format("= {}: only \"dynamic\" is supported", show(*q.find("activation_scheme"))));
  c.quant.fp8 = true;
  if (const json* b = q.find("weight_block_size")) {
    if (!b->is_array() || b->size() != 2)
      q.bad(ErrorKind::kConfig, "weight_block_size", fmt::format("must be [rows, cols], got {}", show(*b)));
    c.quant.block_rows =
        q.in_range("weight_block_size[0]", q.to_int((*b)[0], "weight_block_size[0]"), 1, kMaxWidth, kCap);
    c.quant.block_cols =
        q.in_range("weight_block_size[1]", q.to_int((*b)[1], "weight_block_size[1]"), 1, kMaxWidth, kCap);
  }
}

// null/absent -> -1; eos_token_id may be a list (several stop tokens): we keep the first.
int64_t read_token_id(const Keys& k, const std::string& key, int64_t vocab_size) {
  const json* v = k.find(key);
  if (!v) return -1;
  if (v->is_array()) {
    if (v->empty()) return -1;
    v = &(*v)[0];
  }
  return k.in_range(key, k.to_int(*v, key), 0, vocab_size - 1, "token ids index the vocabulary");
}

}  // namespace

DeepSeekConfig parse_hf_config(const json& j, const std::string& source) {
  if (!j.is_object())
    fail(ErrorKind::kConfig, "{}: a config.json must be a JSON object, got {}", source, j.type_name());
  Keys k(j, source);
  DeepSeekConfig c;
  c.model_type = k.string("model_type");
  if (c.model_type != "deepseek_v3" && c.model_type != "deepseek_v2")
    k.bad(ErrorKind::kUnsupported, "model_type",
          fmt::format("= \"{}\": only \"deepseek_v3\" and \"deepseek_v2\" are supported", c.model_type));
  check_fixed_architecture(k);
  read_dims(k, c);
  read_moe(k, c);
  read_rope(k, c);
  read_quant(k, c);
  c.bos_token_id = read_token_id(k, "bos_token_id", c.vocab_size);
  c.eos_token_id = read_token_id(k, "eos_token_id", c.vocab_size);
  return c;
}

DeepSeekConfig load_hf_config(const std::string& path_or_dir) {
  const bool dir = is_directory(path_or_dir);
  const std::string path = dir ? path_join(path_or_dir, "config.json") : path_or_dir;
  if (!file_exists(path))
    fail(ErrorKind::kIo, "{}: no such file{}", path, dir ? " (the model directory has no config.json)" : "");
  // parse_json names the last key read in a syntax error: nlohmann gives a byte offset at best
  // and no position at all for a number overflow ("1e400").
  return parse_hf_config(parse_json(read_file(path), path), path);
}

json hf_config_to_json(const DeepSeekConfig& c) {
  json j;
  j["architectures"] = json::array({c.model_type == "deepseek_v2" ? "DeepseekV2ForCausalLM" : "DeepseekV3ForCausalLM"});
  j["model_type"] = c.model_type;
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_nextn_predict_layers"] = c.num_nextn_predict_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_attention_heads;  // what HF writes; unused by MLA
  j["q_lora_rank"] = c.q_lora_rank > 0 ? json(c.q_lora_rank) : json(nullptr);
  j["kv_lora_rank"] = c.kv_lora_rank;
  j["qk_nope_head_dim"] = c.qk_nope_head_dim;
  j["qk_rope_head_dim"] = c.qk_rope_head_dim;
  j["v_head_dim"] = c.v_head_dim;
  j["moe_layer_freq"] = c.moe_layer_freq;
  j["n_routed_experts"] = c.n_routed_experts > 0 ? json(c.n_routed_experts) : json(nullptr);
  if (c.n_routed_experts > 0) {
    j["num_experts_per_tok"] = c.num_experts_per_tok;
    j["moe_intermediate_size"] = c.moe_intermediate_size;
    j["n_shared_experts"] = c.n_shared_experts;
    j["first_k_dense_replace"] = c.first_k_dense_replace;
    j["topk_method"] = c.topk_method == TopkMethod::kNoauxTc              ? "noaux_tc"
                       : c.topk_method == TopkMethod::kGroupLimitedGreedy ? "group_limited_greedy"
                                                                          : "greedy";
    j["scoring_func"] = c.scoring_func == ScoringFunc::kSigmoid ? "sigmoid" : "softmax";
    j["routed_scaling_factor"] = c.routed_scaling_factor;
    j["n_group"] = c.n_group;
    j["topk_group"] = c.topk_group;
    j["norm_topk_prob"] = c.norm_topk_prob;
  }
  j["hidden_act"] = "silu";
  j["attention_bias"] = false;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_theta"] = c.rope_theta;
  j["max_position_embeddings"] = c.max_position_embeddings;
  if (c.rope_scaling.yarn) {
    const RopeScaling& y = c.rope_scaling;
    j["rope_scaling"] = {{"type", "yarn"},
                         {"factor", y.factor},
                         {"original_max_position_embeddings", y.original_max_position_embeddings},
                         {"beta_fast", y.beta_fast},
                         {"beta_slow", y.beta_slow},
                         {"mscale", y.mscale},
                         {"mscale_all_dim", y.mscale_all_dim}};
  } else {
    j["rope_scaling"] = nullptr;
  }
  if (c.quant.fp8)
    j["quantization_config"] = {{"quant_method", "fp8"},
                                {"fmt", "e4m3"},
                                {"activation_scheme", "dynamic"},
                                {"weight_block_size", json::array({c.quant.block_rows, c.quant.block_cols})}};
  if (c.quant.gguf_blocks)
    j["quantization_config"] = {{"quant_method", "frugal_gguf_blocks"}, {"weight_type", c.quant.gguf_weight_type},
                                {"block_size", 32}};
  j["bos_token_id"] = c.bos_token_id >= 0 ? json(c.bos_token_id) : json(nullptr);
  j["eos_token_id"] = c.eos_token_id >= 0 ? json(c.eos_token_id) : json(nullptr);
  return j;
}

}  // namespace frugal

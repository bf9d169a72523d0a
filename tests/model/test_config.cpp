// config.json parsing (io/hf_config), tensor list and parameter counts (model/params), RoPE/YaRN
// tables (model/rope_yarn). Targets are the numbers in docs/model.md and tests/data/fixtures/README.md.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>

#include "core/error.h"
#include "core/file.h"
#include "io/hf_config.h"
#include "model/params.h"
#include "model/rope_yarn.h"

using namespace frugal;
using nlohmann::json;

namespace {

std::string fixture(const std::string& name) { return std::string(FRUGAL_TEST_DATA) + "/fixtures/" + name; }

// DeepSeek-V3's config.json (docs/model.md, Released configurations), including the keys we ignore
// on purpose.
const char* kV3 = R"({
  "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3",
  "auto_map": {"AutoConfig": "configuration_deepseek.DeepseekV3Config"},
  "vocab_size": 129280, "hidden_size": 7168, "intermediate_size": 18432, "moe_intermediate_size": 2048,
  "num_hidden_layers": 61, "num_nextn_predict_layers": 1, "num_attention_heads": 128, "num_key_value_heads": 128,
  "q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128,
  "n_routed_experts": 256, "n_shared_experts": 1, "num_experts_per_tok": 8, "n_group": 8, "topk_group": 4,
  "topk_method": "noaux_tc", "scoring_func": "sigmoid", "norm_topk_prob": true, "routed_scaling_factor": 2.5,
  "first_k_dense_replace": 3, "moe_layer_freq": 1, "ep_size": 1, "hidden_act": "silu", "rms_norm_eps": 1e-6,
  "rope_theta": 10000, "rope_scaling": {"type": "yarn", "factor": 40, "original_max_position_embeddings": 4096,
  "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0}, "max_position_embeddings": 163840,
  "attention_bias": false, "attention_dropout": 0.0, "tie_word_embeddings": false, "bos_token_id": 0,
  "eos_token_id": 1, "initializer_range": 0.02, "pretraining_tp": 1, "use_cache": true, "torch_dtype": "bfloat16",
  "aux_loss_alpha": 0.001, "seq_aux": true, "transformers_version": "4.46.3",
  "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
  "weight_block_size": [128, 128]}})";

// DeepSeek-V2's config.json (docs/model.md, Released configurations).
const char* kV2 = R"({
  "architectures": ["DeepseekV2ForCausalLM"], "model_type": "deepseek_v2", "vocab_size": 102400,
  "hidden_size": 5120, "intermediate_size": 12288, "moe_intermediate_size": 1536, "num_hidden_layers": 60,
  "num_attention_heads": 128, "num_key_value_heads": 128, "q_lora_rank": 1536, "kv_lora_rank": 512,
  "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128, "n_routed_experts": 160,
  "n_shared_experts": 2, "num_experts_per_tok": 6, "n_group": 8, "topk_group": 3,
  "topk_method": "group_limited_greedy", "scoring_func": "softmax", "norm_topk_prob": false,
  "routed_scaling_factor": 16.0, "first_k_dense_replace": 1, "moe_layer_freq": 1, "aux_loss_alpha": 0.001,
  "seq_aux": true, "rms_norm_eps": 1e-6, "rope_theta": 10000, "rope_scaling": {"type": "yarn", "factor": 40,
  "original_max_position_embeddings": 4096, "beta_fast": 32, "beta_slow": 1, "mscale": 0.707,
  "mscale_all_dim": 0.707}, "max_position_embeddings": 163840, "bos_token_id": 100000, "eos_token_id": 100001,
  "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.39.3"})";

// DeepSeek-V2-Lite's config.json (docs/model.md, Released configurations); moe_layer_freq and
// num_nextn_predict_layers are left to their defaults.
const char* kV2Lite = R"({
  "model_type": "deepseek_v2", "vocab_size": 102400, "hidden_size": 2048, "intermediate_size": 10944,
  "moe_intermediate_size": 1408, "num_hidden_layers": 27, "num_attention_heads": 16, "q_lora_rank": null,
  "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128,
  "n_routed_experts": 64, "n_shared_experts": 2, "num_experts_per_tok": 6, "n_group": 1, "topk_group": 1,
  "topk_method": "greedy", "scoring_func": "softmax", "norm_topk_prob": false, "routed_scaling_factor": 1.0,
  "first_k_dense_replace": 1, "aux_loss_alpha": 0.001, "seq_aux": true, "rms_norm_eps": 1e-6,
  "rope_theta": 10000, "rope_scaling": {"type": "yarn", "factor": 40, "original_max_position_embeddings": 4096,
  "beta_fast": 32, "beta_slow": 1, "mscale": 0.707, "mscale_all_dim": 0.707},
  "max_position_embeddings": 163840, "bos_token_id": 100000, "eos_token_id": 100001})";

DeepSeekConfig v3() { return parse_hf_config(json::parse(kV3), "v3/config.json"); }
DeepSeekConfig v2() { return parse_hf_config(json::parse(kV2), "v2/config.json"); }
DeepSeekConfig v2_lite() { return parse_hf_config(json::parse(kV2Lite), "v2lite/config.json"); }

void expect_same(const DeepSeekConfig& a, const DeepSeekConfig& b) {
  EXPECT_EQ(a.model_type, b.model_type);
  const int64_t ai[] = {a.vocab_size,
                        a.hidden_size,
                        a.intermediate_size,
                        a.moe_intermediate_size,
                        a.num_hidden_layers,
                        a.num_nextn_predict_layers,
                        a.num_attention_heads,
                        a.q_lora_rank,
                        a.kv_lora_rank,
                        a.qk_nope_head_dim,
                        a.qk_rope_head_dim,
                        a.v_head_dim,
                        a.n_routed_experts,
                        a.n_shared_experts,
                        a.num_experts_per_tok,
                        a.n_group,
                        a.topk_group,
                        a.first_k_dense_replace,
                        a.moe_layer_freq,
                        a.max_position_embeddings,
                        a.bos_token_id,
                        a.eos_token_id,
                        a.rope_scaling.original_max_position_embeddings,
                        a.quant.block_rows,
                        a.quant.block_cols};
  const int64_t bi[] = {b.vocab_size,
                        b.hidden_size,
                        b.intermediate_size,
                        b.moe_intermediate_size,
                        b.num_hidden_layers,
                        b.num_nextn_predict_layers,
                        b.num_attention_heads,
                        b.q_lora_rank,
                        b.kv_lora_rank,
                        b.qk_nope_head_dim,
                        b.qk_rope_head_dim,
                        b.v_head_dim,
                        b.n_routed_experts,
                        b.n_shared_experts,
                        b.num_experts_per_tok,
                        b.n_group,
                        b.topk_group,
                        b.first_k_dense_replace,
                        b.moe_layer_freq,
                        b.max_position_embeddings,
                        b.bos_token_id,
                        b.eos_token_id,
                        b.rope_scaling.original_max_position_embeddings,
                        b.quant.block_rows,
                        b.quant.block_cols};
  for (size_t i = 0; i < std::size(ai); ++i) EXPECT_EQ(ai[i], bi[i]) << "integer field #" << i;
  const double ad[] = {
      a.routed_scaling_factor,  a.rms_norm_eps,           a.rope_theta,          a.rope_scaling.factor,
      a.rope_scaling.beta_fast, a.rope_scaling.beta_slow, a.rope_scaling.mscale, a.rope_scaling.mscale_all_dim};
  const double bd[] = {
      b.routed_scaling_factor,  b.rms_norm_eps,           b.rope_theta,          b.rope_scaling.factor,
      b.rope_scaling.beta_fast, b.rope_scaling.beta_slow, b.rope_scaling.mscale, b.rope_scaling.mscale_all_dim};
  for (size_t i = 0; i < std::size(ad); ++i) EXPECT_EQ(ad[i], bd[i]) << "double field #" << i;  // bit-exact
  EXPECT_EQ(a.topk_method, b.topk_method);
  EXPECT_EQ(a.scoring_func, b.scoring_func);
  EXPECT_EQ(a.norm_topk_prob, b.norm_topk_prob);
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  EXPECT_EQ(a.rope_scaling.yarn, b.rope_scaling.yarn);
  EXPECT_EQ(a.quant.fp8, b.quant.fp8);
}

// name -> shape from a safetensors header (u64 LE length + JSON), read directly so this test does
// not depend on the safetensors reader.
std::map<std::string, Shape> safetensors_shapes(const std::string& path) {
  std::string bytes = read_file(path);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  json h = json::parse(bytes.substr(8, n));
  std::map<std::string, Shape> out;
  for (auto& [name, v] : h.items())
    if (name != "__metadata__") out[name] = v.at("shape").get<Shape>();
  return out;
}

std::map<std::string, Shape> expected_shapes(const DeepSeekConfig& c, bool mtp) {
  std::map<std::string, Shape> out;
  for (const TensorSpec& t : expected_tensors(c, mtp)) EXPECT_TRUE(out.emplace(t.name, t.shape).second) << t.name;
  return out;
}

}  // namespace

// ---- parsing the shipped fixtures and the released configs ----

TEST(ConfigFixtures, MicroF32) {
  DeepSeekConfig c = load_hf_config(fixture("micro_f32"));  // a directory means DIR/config.json
  EXPECT_EQ(c.model_type, "deepseek_v3");
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.num_hidden_layers, 3);
  EXPECT_EQ(c.num_nextn_predict_layers, 1);
  EXPECT_EQ(c.q_lora_rank, 32);
  EXPECT_EQ(c.kv_cache_dim(), 24);
  EXPECT_EQ(c.qk_head_dim(), 24);
  EXPECT_EQ(c.topk_method, TopkMethod::kNoauxTc);
  EXPECT_EQ(c.scoring_func, ScoringFunc::kSigmoid);
  EXPECT_TRUE(c.norm_topk_prob);
  EXPECT_TRUE(c.rope_scaling.yarn);
  EXPECT_EQ(c.rope_scaling.factor, 4.0);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 64);
  EXPECT_FALSE(c.quant.fp8);
  EXPECT_FALSE(c.is_moe_layer(0));
  EXPECT_TRUE(c.is_moe_layer(1));
  EXPECT_TRUE(c.is_moe_layer(3));  // the MTP layer
  EXPECT_EQ(c.bos_token_id, 0);
  EXPECT_EQ(c.eos_token_id, 1);
}

TEST(ConfigFixtures, MicroBf16Fp8V2) {
  DeepSeekConfig bf16 = load_hf_config(fixture("micro_bf16/config.json"));
  EXPECT_EQ(bf16.num_nextn_predict_layers, 0);
  EXPECT_FALSE(bf16.quant.fp8);

  DeepSeekConfig fp8 = load_hf_config(fixture("micro_fp8"));
  EXPECT_TRUE(fp8.quant.fp8);
  EXPECT_EQ(fp8.quant.block_rows, 32);  // not the default 128
  EXPECT_EQ(fp8.quant.block_cols, 32);

  DeepSeekConfig v2m = load_hf_config(fixture("micro_v2"));
  EXPECT_EQ(v2m.model_type, "deepseek_v2");
  EXPECT_EQ(v2m.q_lora_rank, 0);  // null -> plain q_proj
  EXPECT_EQ(v2m.topk_method, TopkMethod::kGroupLimitedGreedy);
  EXPECT_EQ(v2m.scoring_func, ScoringFunc::kSoftmax);
  EXPECT_FALSE(v2m.norm_topk_prob);
  EXPECT_EQ(v2m.routed_scaling_factor, 16.0);
  EXPECT_FALSE(v2m.rope_scaling.yarn);
}

TEST(ConfigReleased, V3V2V2Lite) {
  DeepSeekConfig a = v3();
  EXPECT_EQ(a.vocab_size, 129280);
  EXPECT_EQ(a.first_k_dense_replace, 3);
  EXPECT_EQ(a.n_group, 8);
  EXPECT_EQ(a.topk_group, 4);
  EXPECT_EQ(a.routed_scaling_factor, 2.5);
  EXPECT_EQ(a.rope_scaling.mscale_all_dim, 1.0);
  EXPECT_TRUE(a.quant.fp8);
  EXPECT_EQ(a.quant.block_rows, 128);
  DeepSeekConfig b = v2();
  EXPECT_EQ(b.topk_method, TopkMethod::kGroupLimitedGreedy);
  EXPECT_EQ(b.rope_scaling.mscale, 0.707);
  EXPECT_EQ(b.bos_token_id, 100000);
  EXPECT_EQ(b.num_nextn_predict_layers, 0);
  DeepSeekConfig c = v2_lite();
  EXPECT_EQ(c.q_lora_rank, 0);
  EXPECT_EQ(c.topk_method, TopkMethod::kGreedy);
  EXPECT_EQ(c.moe_layer_freq, 1);  // default
}

TEST(ConfigParse, AcceptedVariants) {
  json j = json::parse(kV3);
  j["hidden_size"] = 7168.0;    // integral float
  j["eos_token_id"] = {1, 2};   // list: first id
  j["bos_token_id"] = nullptr;  // none
  j["q_lora_rank"] = 0;         // plain q_proj
  j["rope_scaling"].erase("type");
  j["rope_scaling"]["rope_type"] = "yarn";              // newer transformers spelling
  j["rope_scaling"].erase("beta_fast");                 // default 32
  j["quantization_config"].erase("weight_block_size");  // default [128, 128]
  j["some_future_key"] = {{"x", 1}};                    // unknown keys are ignored
  DeepSeekConfig c = parse_hf_config(j, "x");
  EXPECT_EQ(c.hidden_size, 7168);
  EXPECT_EQ(c.eos_token_id, 1);
  EXPECT_EQ(c.bos_token_id, -1);
  EXPECT_EQ(c.q_lora_rank, 0);
  EXPECT_TRUE(c.rope_scaling.yarn);
  EXPECT_EQ(c.rope_scaling.beta_fast, 32);
  EXPECT_EQ(c.quant.block_rows, 128);

  json plain = json::parse(kV3);
  plain["rope_scaling"] = nullptr;
  plain.erase("quantization_config");
  DeepSeekConfig p = parse_hf_config(plain, "x");
  EXPECT_FALSE(p.rope_scaling.yarn);
  EXPECT_FALSE(p.quant.fp8);
}

// A dense model: n_routed_experts null, no MoE key needed.
TEST(ConfigParse, DenseModel) {
  json j = json::parse(kV3);
  for (const char* k :
       {"num_experts_per_tok", "moe_intermediate_size", "n_shared_experts", "first_k_dense_replace", "topk_method",
        "scoring_func", "routed_scaling_factor", "n_group", "topk_group", "norm_topk_prob"})
    j.erase(k);
  j["n_routed_experts"] = nullptr;
  DeepSeekConfig c = parse_hf_config(j, "dense");
  EXPECT_EQ(c.n_routed_experts, 0);
  for (int64_t l = 0; l < 62; ++l) EXPECT_FALSE(c.is_moe_layer(l));
  expect_same(c, parse_hf_config(hf_config_to_json(c), "rt"));
  EXPECT_EQ(count_params(c).n_dense_layers, 61);
}

TEST(ConfigParse, RoundTrip) {
  std::vector<DeepSeekConfig> all = {v3(), v2(), v2_lite()};
  for (const char* f : {"micro_f32", "micro_bf16", "micro_fp8", "micro_v2"}) all.push_back(load_hf_config(fixture(f)));
  for (const DeepSeekConfig& c : all) {
    SCOPED_TRACE(c.model_type + " " + std::to_string(c.hidden_size));
    // Through text, as a written config.json would be.
    expect_same(c, parse_hf_config(json::parse(hf_config_to_json(c).dump(1)), "roundtrip"));
  }
}

// ---- rejected configs: each error names the key (and the source) ----

struct BadCase {
  std::string label;
  std::function<void(json&)> mutate;
  std::string key;  // must appear in the message
  ErrorKind kind;
};

std::vector<BadCase> bad_cases() {
  std::vector<BadCase> cases;
  auto set = [](const char* k, json v) { return [k, v](json& j) { j[k] = v; }; };
  auto nested = [](const char* o, const char* k, json v) { return [o, k, v](json& j) { j[o][k] = v; }; };
  const ErrorKind C = ErrorKind::kConfig, U = ErrorKind::kUnsupported;
  for (const char* k :
       {"model_type", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim", "rms_norm_eps", "rope_theta",
        "max_position_embeddings",
        // MoE keys: required because n_routed_experts is set
        "num_experts_per_tok", "moe_intermediate_size", "n_shared_experts", "first_k_dense_replace", "topk_method",
        "scoring_func", "routed_scaling_factor", "n_group", "topk_group", "norm_topk_prob"})
    cases.push_back({std::string("missing ") + k, [k](json& j) { j.erase(k); }, k, C});
  // A literal 1e400 is a parse error in nlohmann (ConfigBad.Files); a json built in memory can hold inf.
  const json inf = std::numeric_limits<double>::infinity();
  cases.insert(
      cases.end(),
      {
          {"string for int", set("hidden_size", "64"), "hidden_size", C},
          {"bool for int", set("hidden_size", true), "hidden_size", C},
          {"null required", set("hidden_size", nullptr), "hidden_size", C},
          {"zero size", set("hidden_size", 0), "hidden_size", C},
          {"negative size", set("vocab_size", -5), "vocab_size", C},
          {"zero heads", set("num_attention_heads", 0), "num_attention_heads", C},
          {"fractional int", set("num_hidden_layers", 64.5), "num_hidden_layers", C},
          {"inf int", set("hidden_size", inf), "hidden_size", C},
          {"inf eps", set("rms_norm_eps", inf), "rms_norm_eps", C},
          {"zero eps", set("rms_norm_eps", 0.0), "rms_norm_eps", C},
          {"zero theta", set("rope_theta", 0), "rope_theta", C},
          {"u64 overflow", set("vocab_size", json(uint64_t(18446744073709551615ull))), "vocab_size", C},
          {"hidden over cap", set("hidden_size", int64_t(1) << 21), "hidden_size", C},
          {"vocab over int32", set("vocab_size", int64_t(1) << 31), "vocab_size", C},
          {"layers over cap", set("num_hidden_layers", 10001), "num_hidden_layers", C},
          {"odd rope dim", set("qk_rope_head_dim", 63), "qk_rope_head_dim", C},
          {"negative q_lora", set("q_lora_rank", -1), "q_lora_rank", C},
          {"negative shared", set("n_shared_experts", -1), "n_shared_experts", C},
          {"negative nextn", set("num_nextn_predict_layers", -1), "num_nextn_predict_layers", C},
          {"zero max pos", set("max_position_embeddings", 0), "max_position_embeddings", C},
          {"topk > routed", set("num_experts_per_tok", 300), "num_experts_per_tok", C},
          {"uneven groups", set("n_group", 7), "n_group", C},
          {"topk_group > n_group", set("topk_group", 9), "topk_group", C},
          {"too few candidates",
           [](json& j) {
             j["n_routed_experts"] = 16;
             j["topk_group"] = 1;
           },
           "topk_group", C},
          {"group of one",
           [](json& j) {
             j["n_routed_experts"] = 8;
             j["num_experts_per_tok"] = 4;
           },
           "n_group", C},
          {"noaux_tc softmax", set("scoring_func", "softmax"), "scoring_func", C},
          {"dense > layers", set("first_k_dense_replace", 62), "first_k_dense_replace", C},
          {"zero moe freq", set("moe_layer_freq", 0), "moe_layer_freq", C},
          {"zero scaling", set("routed_scaling_factor", 0.0), "routed_scaling_factor", C},
          {"string scaling", set("routed_scaling_factor", "2.5"), "routed_scaling_factor", C},
          {"string bool", set("norm_topk_prob", "true"), "norm_topk_prob", C},
          {"bos >= vocab", set("bos_token_id", 129280), "bos_token_id", C},
          {"eos list >= vocab", set("eos_token_id", {200000}), "eos_token_id", C},
          {"negative bos", set("bos_token_id", -1), "bos_token_id", C},
          {"unknown model_type", set("model_type", "llama"), "model_type", U},
          {"unknown topk_method", set("topk_method", "random"), "topk_method", U},
          {"unknown scoring_func", set("scoring_func", "tanh"), "scoring_func", U},
          {"gelu", set("hidden_act", "gelu"), "hidden_act", U},
          {"attention bias", set("attention_bias", true), "attention_bias", U},
          {"tied embeddings", set("tie_word_embeddings", true), "tie_word_embeddings", U},
          {"rope linear", nested("rope_scaling", "type", "linear"), "rope_scaling.type", U},
          {"rope not object", set("rope_scaling", "yarn"), "rope_scaling", C},
          {"yarn factor < 1", nested("rope_scaling", "factor", 0.5), "rope_scaling.factor", C},
          {"yarn no original", [](json& j) { j["rope_scaling"].erase("original_max_position_embeddings"); },
           "rope_scaling.original_max_position_embeddings", C},
          {"yarn zero original", nested("rope_scaling", "original_max_position_embeddings", 0),
           "rope_scaling.original_max_position_embeddings", C},
          {"gptq", nested("quantization_config", "quant_method", "gptq"), "quantization_config.quant_method", U},
          {"e5m2", nested("quantization_config", "fmt", "e5m2"), "quantization_config.fmt", U},
          {"block one dim", nested("quantization_config", "weight_block_size", {128}),
           "quantization_config.weight_block_size", C},
          {"block zero", nested("quantization_config", "weight_block_size", {128, 0}),
           "quantization_config.weight_block_size[1]", C},
      });
  return cases;
}

TEST(ConfigBad, EachCaseNamesTheKey) {
  for (const BadCase& bc : bad_cases()) {
    SCOPED_TRACE(bc.label);
    json j = json::parse(kV3);
    bc.mutate(j);
    try {
      parse_hf_config(j, "bad/config.json");
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find("'" + bc.key + "'"), std::string::npos) << msg;
      EXPECT_NE(msg.find("bad/config.json"), std::string::npos) << msg;
      EXPECT_EQ(e.kind(), bc.kind) << msg;
    }
  }
  EXPECT_THROW(parse_hf_config(json::array(), "x"), Error);
}

TEST(ConfigBad, Files) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("frugal_test_config_" + std::to_string(::getpid()));
  fs::create_directories(dir / "empty");
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  };
  auto expect_error = [](const std::string& path, ErrorKind kind, const std::vector<std::string>& needles) {
    try {
      load_hf_config(path);
      ADD_FAILURE() << path << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), kind) << e.what();
      for (const std::string& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
    }
  };
  const std::string broken = write("broken.json", R"({"model_type": "deepseek_v3", )");
  expect_error(broken, ErrorKind::kFormat, {broken});
  expect_error((dir / "nope.json").string(), ErrorKind::kIo, {"nope.json"});
  expect_error((dir / "empty").string(), ErrorKind::kIo, {(dir / "empty" / "config.json").string()});
  json j = json::parse(kV3);
  j["hidden_size"] = "64";
  const std::string typed = write("typed.json", j.dump());
  expect_error(typed, ErrorKind::kConfig, {typed, "'hidden_size'"});
  j["hidden_size"] = 12345;
  std::string text = j.dump();
  text.replace(text.find("12345"), 5, "1e400");  // overflows double: rejected while parsing
  const std::string huge = write("huge.json", text);
  expect_error(huge, ErrorKind::kFormat, {huge, "'hidden_size'"});
  const std::string d = std::string(100000, '[') + std::string(100000, ']');  // overflowed the stack in copies
  const std::string deep = write("deep.json", "{\"rope_scaling\": " + d + "}");
  expect_error(deep, ErrorKind::kFormat, {deep, "nested deeper than 64 levels", "under key 'rope_scaling'"});
  fs::remove_all(dir);
}

// ---- parameter counts and KV cache (docs/model.md, Parameter counts / KV-cache sizes) ----

TEST(ParamsCounts, V3) {
  ParamCounts p = count_params(v3());
  EXPECT_EQ(p.embedding, 926'679'040);
  EXPECT_EQ(p.head, 926'679'040);
  EXPECT_EQ(p.per_layer_attention, 187'107'328);
  EXPECT_EQ(p.dense_mlp, 396'361'728);
  EXPECT_EQ(p.expert, 44'040'192);
  EXPECT_EQ(p.router, 1'835'008 + 256);
  EXPECT_EQ(p.moe_layer_total, 11'320'164'608);
  EXPECT_EQ(p.n_dense_layers, 3);
  EXPECT_EQ(p.n_moe_layers, 58);
  EXPECT_EQ(p.total_main, 671'026'419'200);
  EXPECT_EQ(p.active_main, 37'552'297'472);
  EXPECT_EQ(p.active_main - p.embedding, 36'625'618'432);  // "36.62B excluding embedding"
  EXPECT_EQ(p.mtp_unique, 11'610'068'224);
  EXPECT_EQ(p.mtp_active, 2'541'458'688);  // "2.54B incl. shared emb/head"
}

TEST(ParamsCounts, V2AndV2Lite) {
  ParamCounts a = count_params(v2());
  EXPECT_EQ(a.total_main, 235'741'434'880);
  EXPECT_EQ(a.active_main, 21'375'800'320);
  EXPECT_EQ(a.expert, 23'592'960);
  EXPECT_EQ(a.router, 160 * 5120);  // no correction bias outside noaux_tc
  EXPECT_EQ(a.mtp_unique, 0);
  ParamCounts b = count_params(v2_lite());
  EXPECT_EQ(b.total_main, 15'706'484'224);
  EXPECT_EQ(b.active_main, 2'661'150'208);
  EXPECT_EQ(b.expert, 8'650'752);
  EXPECT_EQ(b.shared_experts, 2 * 8'650'752);
}

TEST(ParamsCounts, KvCache) {
  EXPECT_EQ(kv_cache_elems_per_token(v3()), 35'136);
  EXPECT_EQ(kv_cache_elems_per_token(v3()) * 2, 70'272);  // BF16 bytes
  EXPECT_EQ(kv_cache_elems_per_token(v2()), 34'560);
  EXPECT_EQ(kv_cache_elems_per_token(v2_lite()), 15'552);
  EXPECT_EQ(mha_cache_elems_per_token(v3()), 1'998'848);
  EXPECT_EQ(mha_cache_elems_per_token(v2()), 1'966'080);
  EXPECT_EQ(mha_cache_elems_per_token(v2_lite()), 110'592);
  EXPECT_EQ(naive_mla_cache_elems_per_token(v3()), 2'498'560);
  EXPECT_EQ(naive_mla_cache_elems_per_token(v2()), 2'457'600);
  EXPECT_EQ(naive_mla_cache_elems_per_token(v2_lite()), 138'240);
}

// The tensor list agrees with the counts and with the stored R1/V3 checkpoint (docs/model.md, Parameter counts):
// 684,531,386,000 elements, of which 41,540,496 are FP32 block scales of the FP8 tensors.
TEST(ParamsTensors, V3ListMatchesCheckpointTotals) {
  const DeepSeekConfig c = v3();
  int64_t main = 0, all = 0, scales = 0;
  for (const TensorSpec& t : expected_tensors(c, false)) main += shape_numel(t.shape);
  for (const TensorSpec& t : expected_tensors(c, true)) {
    all += shape_numel(t.shape);
    if (t.fp8_in_release) scales += ((t.shape[0] + 127) / 128) * ((t.shape[1] + 127) / 128);
  }
  EXPECT_EQ(main, count_params(c).total_main);
  EXPECT_EQ(scales, 41'540'496);
  EXPECT_EQ(all + scales, 684'531'386'000);
}

TEST(ParamsTensors, MatchMicroCheckpoints) {
  for (const char* name : {"micro_f32", "micro_bf16", "micro_v2"}) {
    SCOPED_TRACE(name);
    DeepSeekConfig c = load_hf_config(fixture(name));
    auto stored = safetensors_shapes(fixture(std::string(name) + "/model.safetensors"));
    EXPECT_EQ(expected_shapes(c, true), stored);
    int64_t n = 0;
    for (auto& [k, s] : stored) n += shape_numel(s);
    ParamCounts p = count_params(c);
    EXPECT_EQ(n, p.total_main + p.mtp_unique + (c.num_nextn_predict_layers > 0 ? p.embedding + p.head : 0));
  }
}

// micro_fp8: exactly the fp8_in_release tensors carry a "_scale_inv" with a [ceil(r/32), ceil(c/32)] grid.
TEST(ParamsTensors, MicroFp8ScalesMatchFlags) {
  DeepSeekConfig c = load_hf_config(fixture("micro_fp8"));
  auto stored = safetensors_shapes(fixture("micro_fp8/model.safetensors"));
  std::map<std::string, Shape> want;
  for (const TensorSpec& t : expected_tensors(c, true)) {
    want[t.name] = t.shape;
    if (t.fp8_in_release)
      want[t.name + "_scale_inv"] = {(t.shape[0] + c.quant.block_rows - 1) / c.quant.block_rows,
                                     (t.shape[1] + c.quant.block_cols - 1) / c.quant.block_cols};
  }
  EXPECT_EQ(want, stored);
}

TEST(ParamsTensors, LayerAndMtpTags) {
  DeepSeekConfig c = load_hf_config(fixture("micro_f32"));
  std::vector<TensorSpec> t = expected_tensors(c, true);
  EXPECT_EQ(t.front().name, "model.embed_tokens.weight");
  EXPECT_EQ(t.front().layer, -1);
  for (const TensorSpec& s : t) {
    EXPECT_EQ(s.mtp, s.layer >= 3) << s.name;
    const std::string prefix = s.layer >= 0 ? "model.layers." + std::to_string(s.layer) + "." : "";
    EXPECT_EQ(s.name.rfind(prefix, 0), 0u) << s.name;
  }
  // MTP module: enorm, hnorm, eh_proj + 9 attention/norm tensors + router and bias + 8 experts x 3
  // + shared x 3 + shared_head.norm, shared_head.head, embed_tokens.
  EXPECT_EQ(expected_tensors(c, false).size() + 3 + 9 + 2 + 8 * 3 + 3 + 3, t.size());
}

// ---- RoPE / YaRN (docs/model.md, RoPE and YaRN; tests/data/fixtures/README.md) ----

TEST(RopeYarn, MicroFixtures) {
  DeepSeekConfig c = load_hf_config(fixture("micro_f32"));
  const std::vector<double> want = {1.0, 0.0625, 0.0025, 0.00025};
  std::vector<double> f = rope_inv_freq(c);
  ASSERT_EQ(f.size(), 4u);
  for (size_t k = 0; k < 4; ++k) EXPECT_NEAR(f[k], want[k], 1e-15 + 1e-12 * want[k]) << k;
  EXPECT_EQ(yarn_correction_range(c).low, 0);
  EXPECT_EQ(yarn_correction_range(c).high, 2);
  EXPECT_NEAR(softmax_scale(c), 0.26464225796, 1e-11);
  EXPECT_EQ(yarn_cos_sin_mscale(c), 1.0);

  DeepSeekConfig v = load_hf_config(fixture("micro_v2"));
  const std::vector<double> plain = {1, 0.1, 0.01, 0.001};
  f = rope_inv_freq(v);
  ASSERT_EQ(f.size(), 4u);
  for (size_t k = 0; k < 4; ++k) EXPECT_NEAR(f[k], plain[k], 1e-12 * plain[k]) << k;
  EXPECT_DOUBLE_EQ(softmax_scale(v), 1.0 / std::sqrt(24.0));
  EXPECT_EQ(yarn_cos_sin_mscale(v), 1.0);
}

TEST(RopeYarn, V3AndV2) {
  DeepSeekConfig c = v3();
  EXPECT_EQ(yarn_correction_range(c).low, 10);
  EXPECT_EQ(yarn_correction_range(c).high, 23);
  std::vector<double> f = rope_inv_freq(c);
  ASSERT_EQ(f.size(), 32u);
  for (int k = 0; k < 32; ++k) {
    double base = std::pow(10000.0, -2.0 * k / 64), ratio = base / f[k];
    if (k <= 10 || k >= 23) {
      EXPECT_DOUBLE_EQ(ratio, k <= 10 ? 1.0 : 40.0) << k;
    }
  }
  EXPECT_NEAR(std::pow(10000.0, -22.0 / 64) / f[11], 1.081, 5e-4);  // pair factors of docs/model.md, RoPE and YaRN
  EXPECT_NEAR(std::pow(10000.0, -32.0 / 64) / f[16], 1.818, 5e-4);
  EXPECT_NEAR(std::pow(10000.0, -44.0 / 64) / f[22], 10.0, 1e-9);
  EXPECT_NEAR(yarn_get_mscale(40, 1.0), 1.368888, 1e-6);
  EXPECT_NEAR(softmax_scale(c), 0.1352338, 1e-7);
  EXPECT_EQ(yarn_cos_sin_mscale(c), 1.0);
  DeepSeekConfig no_yarn = c;
  no_yarn.rope_scaling.yarn = false;
  EXPECT_NEAR(softmax_scale(no_yarn), 0.0721688, 1e-7);
  EXPECT_NEAR(yarn_get_mscale(40, 0.707), 1.260804, 1e-6);
  EXPECT_NEAR(softmax_scale(v2()), 0.1147214, 1e-7);
  EXPECT_NEAR(softmax_scale(v2_lite()), 0.1147214, 1e-7);
  EXPECT_EQ(yarn_cos_sin_mscale(v2()), 1.0);
}

// low == high (both clamp to pair 0): the +0.001 keeps the ramp finite; pair 0 keeps its frequency.
TEST(RopeYarn, DegenerateRangeAndMscaleRatio) {
  DeepSeekConfig c = load_hf_config(fixture("micro_f32"));
  c.rope_scaling.original_max_position_embeddings = 6;  // < 2*pi: corr_dim(1) in (-1, 0]
  ASSERT_EQ(yarn_correction_range(c).low, 0);
  ASSERT_EQ(yarn_correction_range(c).high, 0);
  std::vector<double> f = rope_inv_freq(c);
  const std::vector<double> want = {1.0, 0.1 / 4, 0.01 / 4, 0.001 / 4};
  for (size_t k = 0; k < 4; ++k) EXPECT_NEAR(f[k], want[k], 1e-12 * want[k]) << k;

  c.rope_scaling.mscale = 1.0;
  c.rope_scaling.mscale_all_dim = 0.0;  // HF default: no softmax correction, cos/sin scaled by m
  EXPECT_DOUBLE_EQ(softmax_scale(c), 1.0 / std::sqrt(24.0));
  EXPECT_DOUBLE_EQ(yarn_cos_sin_mscale(c), 0.1 * std::log(4.0) + 1);
}

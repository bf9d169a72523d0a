// frugal inspect MODEL_DIR [--json]: architecture, total and active parameters per token, weight
// bytes by dtype, KV-cache bytes per token (latent MLA vs what standard attention would need).
#include <cstdio>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "io/gguf_model.h"
#include "io/hf_loader.h"
#include "io/quant_format.h"
#include "model/params.h"
#include "model/rope_yarn.h"

namespace frugal::cli {

namespace {

const char* topk_method_name(TopkMethod m) {
  switch (m) {
    case TopkMethod::kNoauxTc: return "noaux_tc";
    case TopkMethod::kGroupLimitedGreedy: return "group_limited_greedy";
    case TopkMethod::kGreedy: return "greedy";
  }
  return "?";
}

std::string human(double v, const char* unit) {
  const char* p[] = {"", "K", "M", "G", "T"};
  int i = 0;
  while (v >= 1000 && i < 4) { v /= 1000; ++i; }
  return fmt::format("{:.3g} {}{}", v, p[i], unit);
}

nlohmann::json inspect_json(const LoadedModel& m) {
  const DeepSeekConfig& c = m.config;
  ParamCounts pc = count_params(c);
  std::map<std::string, int64_t> bytes_by_dtype;
  int64_t total_bytes = 0;
  if (const GgufFile* g = loaded_gguf_file(m)) {  // a .gguf file: bytes by ggml type
    for (const GgufTensor& t : g->tensors()) {
      bytes_by_dtype[t.type->name] += int64_t(t.nbytes);
      total_bytes += int64_t(t.nbytes);
    }
  }
  for (const auto& n : m.store ? m.store->names() : std::vector<std::string>{}) {
    const SafetensorsEntry& e = m.store->entry(n);
    // GGUF block weights are U8 on disk; count them under their block type (io/quant_format.h).
    const std::optional<DType> block = stored_block_type(*m.store, n);
    bytes_by_dtype[std::string(dtype_name(block ? *block : e.dtype))] += int64_t(e.end - e.begin);
    total_bytes += int64_t(e.end - e.begin);
  }
  const int64_t latent = kv_cache_elems_per_token(c), mha = mha_cache_elems_per_token(c);
  nlohmann::json j;
  j["model_dir"] = m.dir;
  j["model_type"] = c.model_type;
  j["architecture"] = {
      {"vocab_size", c.vocab_size}, {"hidden_size", c.hidden_size}, {"num_hidden_layers", c.num_hidden_layers},
      {"num_attention_heads", c.num_attention_heads}, {"q_lora_rank", c.q_lora_rank},
      {"kv_lora_rank", c.kv_lora_rank}, {"qk_nope_head_dim", c.qk_nope_head_dim},
      {"qk_rope_head_dim", c.qk_rope_head_dim}, {"v_head_dim", c.v_head_dim},
      {"intermediate_size", c.intermediate_size}, {"first_k_dense_replace", c.first_k_dense_replace},
      {"n_routed_experts", c.n_routed_experts}, {"n_shared_experts", c.n_shared_experts},
      {"num_experts_per_tok", c.num_experts_per_tok}, {"moe_intermediate_size", c.moe_intermediate_size},
      {"n_group", c.n_group}, {"topk_group", c.topk_group}, {"topk_method", topk_method_name(c.topk_method)},
      {"scoring_func", c.scoring_func == ScoringFunc::kSigmoid ? "sigmoid" : "softmax"},
      {"routed_scaling_factor", c.routed_scaling_factor}, {"norm_topk_prob", c.norm_topk_prob},
      {"num_nextn_predict_layers", c.num_nextn_predict_layers}, {"yarn", c.rope_scaling.yarn},
      {"softmax_scale", softmax_scale(c)}, {"max_position_embeddings", c.max_position_embeddings}};
  j["parameters"] = {{"total", pc.total_main}, {"active_per_token", pc.active_main},
                     {"embedding", pc.embedding}, {"lm_head", pc.head}, {"mtp_unique", pc.mtp_unique},
                     {"mtp_loaded", !m.weights.mtp.empty()}};
  j["weights"] = {{"bytes_total", total_bytes}, {"bytes_by_dtype", bytes_by_dtype},
                  {"fp8_block_size", c.quant.fp8 ? nlohmann::json{c.quant.block_rows, c.quant.block_cols}
                                                 : nlohmann::json(nullptr)}};
  j["kv_cache_per_token"] = {{"latent_elements", latent},
                             {"latent_bytes_f32", latent * 4},
                             {"latent_bytes_bf16", latent * 2},
                             {"mha_elements", mha},
                             {"mha_bytes_bf16", mha * 2},
                             {"ratio_mha_over_latent", double(mha) / double(latent)}};
  if (!m.mtp_note.empty()) j["note"] = m.mtp_note;
  return j;
}

}  // namespace

void register_inspect(CLI::App& app) {
  struct Opts {
    std::string model;
    bool json = false, check_tensors = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* c = app.add_subcommand("inspect", "show architecture, parameter counts, weight bytes and KV-cache size");
  c->add_option("MODEL_DIR", o->model, "Hugging Face checkpoint directory or .gguf file")->required();
  c->add_flag("--check-tensors", o->check_tensors, "scan every weight for NaN/Inf while loading (slow)");
  c->add_flag("--json", o->json, "machine-readable output");
  c->callback([o] {
    LoadOptions lo;
    lo.check_finite = o->check_tensors;
    auto m = load_model(o->model, lo);
    nlohmann::json j = inspect_json(*m);
    if (o->json) {
      std::printf("%s\n", j.dump(2).c_str());
      return;
    }
    const auto& a = j["architecture"];
    std::printf("%s (%s)\n", o->model.c_str(), m->config.model_type.c_str());
    std::printf("  layers %lld (first %lld dense), hidden %lld, heads %lld, vocab %lld\n",
                (long long)m->config.num_hidden_layers, (long long)m->config.first_k_dense_replace,
                (long long)m->config.hidden_size, (long long)m->config.num_attention_heads,
                (long long)m->config.vocab_size);
    std::printf("  MLA: q_lora_rank %lld, kv_lora_rank %lld, nope/rope/v %lld/%lld/%lld, yarn %s\n",
                (long long)m->config.q_lora_rank, (long long)m->config.kv_lora_rank,
                (long long)m->config.qk_nope_head_dim, (long long)m->config.qk_rope_head_dim,
                (long long)m->config.v_head_dim, m->config.rope_scaling.yarn ? "on" : "off");
    std::printf("  MoE: %lld routed (top-%lld, %s, %s) + %lld shared, expert width %lld\n",
                (long long)m->config.n_routed_experts, (long long)m->config.num_experts_per_tok,
                a["topk_method"].get<std::string>().c_str(), a["scoring_func"].get<std::string>().c_str(),
                (long long)m->config.n_shared_experts, (long long)m->config.moe_intermediate_size);
    const auto& p = j["parameters"];
    std::printf("  parameters: %s total, %s active per token (MTP: %s, %s)\n",
                human(p["total"].get<double>(), "").c_str(), human(p["active_per_token"].get<double>(), "").c_str(),
                human(p["mtp_unique"].get<double>(), "").c_str(), p["mtp_loaded"].get<bool>() ? "loaded" : "not loaded");
    std::printf("  weights: %s", human(j["weights"]["bytes_total"].get<double>(), "B").c_str());
    for (auto& [k, v] : j["weights"]["bytes_by_dtype"].items())
      std::printf(" | %s %s", k.c_str(), human(v.get<double>(), "B").c_str());
    std::printf("\n");
    const auto& kv = j["kv_cache_per_token"];
    std::printf("  KV cache per token: %lld latent values = %s in bf16 (standard MHA: %s, %.1fx more)\n",
                kv["latent_elements"].get<long long>(), human(kv["latent_bytes_bf16"].get<double>(), "B").c_str(),
                human(kv["mha_bytes_bf16"].get<double>(), "B").c_str(), kv["ratio_mha_over_latent"].get<double>());
    if (j.contains("note")) std::printf("  note: %s\n", j["note"].get<std::string>().c_str());
  });
}

}  // namespace frugal::cli

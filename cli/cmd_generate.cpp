// frugal generate MODEL_DIR --ids 1,2,3 --max-tokens N [--temperature T --top-p P --top-k K
//                 --min-p M --seed S] [--json]
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/sys.h"
#include "infer/generate.h"
#include "io/hf_loader.h"

namespace frugal::cli {

void register_generate(CLI::App& app) {
  struct Opts {
    std::string model, ids;
    int64_t max_tokens = 16, prefill_chunk = 512;
    SamplingParams s;
    bool json = false, ignore_eos = false, stats = false, check_tensors = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* c = app.add_subcommand("generate", "generate tokens from a prompt of token ids");
  c->add_option("MODEL_DIR", o->model, "Hugging Face checkpoint directory")->required();
  c->add_flag("--check-tensors", o->check_tensors, "scan every weight for NaN/Inf while loading (slow)");
  c->add_option("--ids", o->ids, "prompt token ids, comma-separated")->required();
  c->add_option("--max-tokens", o->max_tokens, "token budget")->check(CLI::NonNegativeNumber);
  c->add_option("--temperature", o->s.temperature, "0 = greedy")->default_val(1.0f);
  c->add_option("--top-p", o->s.top_p, "nucleus sampling threshold")->default_val(1.0f);
  c->add_option("--top-k", o->s.top_k, "keep the k most likely tokens (0 = off)")->default_val(0);
  c->add_option("--min-p", o->s.min_p, "drop tokens below min_p x the top probability")->default_val(0.0f);
  c->add_option("--seed", o->s.seed, "sampling seed (same seed, same output)")
      ->default_val(0)
      ->check(CLI::NonNegativeNumber);
  c->add_option("--prefill-chunk", o->prefill_chunk, "prompt tokens per forward pass")->check(CLI::PositiveNumber);
  c->add_flag("--ignore-eos", o->ignore_eos, "do not stop at the end-of-sequence token");
  c->add_flag("--json", o->json, "print {\"ids\": [generated ids]}");
  c->add_flag("--stats", o->stats, "print prefill/decode speed to stderr");
  c->callback([o] {
    std::vector<int32_t> ids = parse_ids(o->ids);
    validate(o->s);
    LoadOptions lo;
    lo.check_finite = o->check_tensors;
    auto m = load_model(o->model, lo);
    Transformer model(m->config, m->weights);
    GenerateParams gp;
    gp.max_tokens = o->max_tokens;
    gp.sampling = o->s;
    gp.stop_at_eos = !o->ignore_eos;
    gp.prefill_chunk = o->prefill_chunk;
    auto stream = [&](int32_t id) {
      if (!o->json) {
        std::printf("%d\n", id);
        std::fflush(stdout);
      }
      return true;
    };
    GenerateResult r = generate(model, ids, gp, stream);
    if (o->json) std::printf("%s\n", nlohmann::json{{"ids", r.ids}}.dump().c_str());
    if (o->stats) {
      const double n_dec = double(r.ids.size() > 1 ? r.ids.size() - 1 : 0);
      std::fprintf(stderr,
                   "prompt %lld tokens: prefill %.1f tok/s | %zu generated: decode %.1f tok/s | finish %s | "
                   "kv cache %.1f KiB | peak rss %.1f MiB\n",
                   (long long)r.prompt_tokens, double(r.prompt_tokens) / r.prefill_seconds, r.ids.size(),
                   r.decode_seconds > 0 ? n_dec / r.decode_seconds : 0.0, r.finish_reason.c_str(),
                   double(r.kv_cache_bytes) / 1024, double(peak_rss_bytes()) / (1 << 20));
    }
  });
}

}  // namespace frugal::cli

// frugal random-model OUT_DIR [--preset micro|tiny|small|medium] [--dtype f32|bf16|fp8] [--seed S] [--mtp]
//                     [--vocab-size V] [--dense]
// Writes a random DeepSeek-V3-layout checkpoint (for benchmarks and tests).
#include <cstdio>

#include "cli/commands.h"
#include "core/error.h"
#include "io/random_model.h"

namespace frugal::cli {

void register_random_model(CLI::App& app) {
  struct Opts {
    std::string out, preset = "tiny", dtype = "f32";
    uint64_t seed = 0;
    int64_t vocab_size = 0;  // 0: the preset's
    bool mtp = false;
    bool dense = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* c = app.add_subcommand("random-model", "write a random DeepSeek-V3-layout checkpoint");
  c->add_option("OUT_DIR", o->out, "output directory")->required();
  c->add_option("--preset", o->preset, "micro|tiny|small|medium")->check(CLI::IsMember({"micro", "tiny", "small", "medium"}));
  c->add_option("--dtype", o->dtype, "f32|bf16|fp8")->check(CLI::IsMember({"f32", "bf16", "fp8"}));
  c->add_option("--seed", o->seed, "random seed");
  c->add_flag("--mtp", o->mtp, "include one multi-token-prediction module");
  // MoE off: every layer a dense SwiGLU MLP (first_k_dense_replace = num_hidden_layers), e.g. a
  // dense student for distillation.
  c->add_flag("--dense", o->dense, "no MoE: every layer a dense MLP");
  // A preset's shape with the vocabulary of a given tokenizer (tests pair presets with small ones).
  c->add_option("--vocab-size", o->vocab_size, "vocabulary size (default: the preset's)")->check(CLI::Range(int64_t(2), int64_t(1) << 24));
  c->callback([o] {
    RandomModelOptions opt;
    opt.dtype = o->dtype == "f32" ? DType::kF32 : o->dtype == "bf16" ? DType::kBF16 : DType::kF8E4M3;
    opt.seed = o->seed;
    opt.mtp = o->mtp;
    DeepSeekConfig cfg = random_model_preset(o->preset);
    if (o->vocab_size > 0) cfg.vocab_size = o->vocab_size;
    if (o->dense) cfg.first_k_dense_replace = cfg.num_hidden_layers;
    int64_t bytes = write_random_model(o->out, cfg, opt);
    std::fprintf(stderr, "wrote %s (%.1f MB)\n", o->out.c_str(), double(bytes) / 1e6);
  });
}

}  // namespace frugal::cli

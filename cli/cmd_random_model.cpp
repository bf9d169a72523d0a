// frugal random-model OUT_DIR [--preset micro|tiny|small|medium] [--dtype f32|bf16|fp8] [--seed S] [--mtp]
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
    bool mtp = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* c = app.add_subcommand("random-model", "write a random DeepSeek-V3-layout checkpoint");
  c->add_option("OUT_DIR", o->out, "output directory")->required();
  c->add_option("--preset", o->preset, "micro|tiny|small|medium")->check(CLI::IsMember({"micro", "tiny", "small", "medium"}));
  c->add_option("--dtype", o->dtype, "f32|bf16|fp8")->check(CLI::IsMember({"f32", "bf16", "fp8"}));
  c->add_option("--seed", o->seed, "random seed");
  c->add_flag("--mtp", o->mtp, "include one multi-token-prediction module");
  c->callback([o] {
    RandomModelOptions opt;
    opt.dtype = o->dtype == "f32" ? DType::kF32 : o->dtype == "bf16" ? DType::kBF16 : DType::kF8E4M3;
    opt.seed = o->seed;
    opt.mtp = o->mtp;
    int64_t bytes = write_random_model(o->out, random_model_preset(o->preset), opt);
    std::fprintf(stderr, "wrote %s (%.1f MB)\n", o->out.c_str(), double(bytes) / 1e6);
  });
}

}  // namespace frugal::cli

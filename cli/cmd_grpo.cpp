// frugal grpo --init MODEL_DIR --task NAME [--steps N] [--num-generations G] [--out RUN_DIR]
//             [--export OUT] [--config FILE.toml] [--section.key=value ...]
// GRPO on a verifiable task (posttrain/grpo_loop.h); every option is declared once in
// posttrain/grpo_config.cpp (see --help).
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/config_flags.h"
#include "posttrain/grpo_loop.h"

namespace frugal::cli {

namespace {

void register_grpo(CLI::App& app) {
  CLI::App* c = app.add_subcommand("grpo", "GRPO reinforcement learning on a verifiable task (see --help)");
  auto o = ConfigFlags::add_to(c, grpo_cli_flags(), "TOML config file ([model] [task] [grpo] [train] [optim] ...)");
  c->callback([o, c] {
    const std::vector<std::string> overrides = o->assignments(c);
    const GrpoConfig cfg = load_grpo_config(o->config(), overrides);
    const int64_t every = cfg.log.every;
    const GrpoSummary s = run_grpo(cfg, [&](const GrpoStepStats& st) {
      if (st.step % every != 0 && st.step != cfg.train.steps) return;
      std::printf("step %4lld/%lld | reward %.3f | acc %.3f |", (long long)st.step, (long long)cfg.train.steps,
                  st.reward, st.accuracy);
      for (size_t i = 0; i < st.reward_names.size(); ++i)
        std::printf(" %s %.3f", st.reward_names[i].c_str(), st.reward_means[i]);
      std::printf(" | len %.1f | kl %.4f | clip %.3f | ent %.3f | rollout %.0f tok/s %.2fs | update %.0f tok/s %.2fs\n",
                  st.completion_length, st.kl, st.clip_fraction, st.entropy, st.rollout_tokens_per_s, st.rollout_s,
                  st.update_tokens_per_s, st.update_s);
      std::fflush(stdout);
    });
    std::printf("grpo: %zu steps in %s (grpo_metrics.jsonl)\n", s.steps.size(), s.run_dir.c_str());
    if (!s.export_dir.empty()) std::printf("exported to %s\n", s.export_dir.c_str());
  });
}

CommandRegistrar reg_grpo(201, &register_grpo);

}  // namespace

}  // namespace frugal::cli

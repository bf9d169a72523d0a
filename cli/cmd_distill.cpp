// frugal distill --teacher T_DIR --student S_DIR --data PROMPTS.jsonl [--mode seq|logit]
//                [frugal train's options: --steps --batch --seq-len --lr --out --export --resume ...]
// A teacher's answers, filtered by rejection sampling, into a student (posttrain/distill.h); every
// option is declared once in posttrain/distill_config.cpp and train/train_config.cpp (see --help).
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/config_flags.h"
#include "posttrain/distill.h"

namespace frugal::cli {

namespace {

void register_distill(CLI::App& app) {
  CLI::App* c = app.add_subcommand(
      "distill", "distil a teacher into a student: SFT on the teacher's filtered answers (see --help for every key)");
  auto o = ConfigFlags::add_to(c, distill_cli_flags(),
                               "TOML config file ([data] [train] [optim] [checkpoint] [log] [distill])");
  c->callback([o, c] {
    const std::vector<std::string> overrides = o->assignments(c);
    const DistillConfig cfg = load_distill_config(o->config(), overrides);
    const DistillSummary s = run_distill(cfg);
    if (!s.gen.reused)
      std::printf("teacher: %lld of %lld answers kept (%lld of %lld prompts), %.0f tok/s\n", (long long)s.gen.kept,
                  (long long)s.gen.generated, (long long)s.gen.prompts_kept, (long long)s.gen.prompts,
                  s.gen.seconds > 0 ? double(s.gen.completion_tokens) / s.gen.seconds : 0.0);
    std::printf("student: %lld steps in %s: last loss %.4f, %.0f tok/s (data %s)\n", (long long)s.train.steps_done,
                s.train.run_dir.c_str(), s.train.last_loss, s.train.tokens_per_s, s.data_path.c_str());
    if (!s.train.export_dir.empty()) std::printf("exported to %s\n", s.train.export_dir.c_str());
  });
}

CommandRegistrar reg_distill(202, &register_distill);

}  // namespace

}  // namespace frugal::cli

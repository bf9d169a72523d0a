// frugal sft --init MODEL_DIR --data FILE.jsonl [--dry-run [--samples N]] [frugal train's options ...]
// Supervised fine-tuning on chat conversations (posttrain/sft.h); every option is declared once in
// posttrain/sft_config.cpp and train/train_config.cpp (see --help).
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/config_flags.h"
#include "posttrain/sft.h"

namespace frugal::cli {

namespace {

void register_sft(CLI::App& app) {
  CLI::App* c = app.add_subcommand(
      "sft", "supervised fine-tuning on chat conversations, loss on assistant tokens (see --help for every key)");
  auto o = ConfigFlags::add_to(c, sft_cli_flags(),
                               "TOML config file ([model] [data] [train] [optim] [checkpoint] [log] [sft])");
  auto dry = std::make_shared<bool>(false);
  auto samples = std::make_shared<int64_t>(2);
  c->add_flag("--dry-run", *dry, "print the rendered examples with the trained spans marked ⟦...⟧, then stop");
  c->add_option("--samples", *samples, "examples --dry-run prints (default 2)")->check(CLI::Range(0, 1000));
  c->callback([o, c, dry, samples] {
    const std::vector<std::string> overrides = o->assignments(c);
    const SftConfig cfg = load_sft_config(o->config(), overrides);
    if (*dry) {
      std::fputs(sft_dry_run(cfg, *samples).c_str(), stdout);
      return;
    }
    const TrainSummary s = run_sft(cfg);
    std::printf("fine-tuned %lld steps (%lld this run) in %s: last loss %.4f", (long long)s.steps_done,
                (long long)(s.steps_done - s.start_step), s.run_dir.c_str(), s.last_loss);
    if (s.val_loss >= 0) std::printf(", validation loss %.4f", s.val_loss);
    std::printf(", %.0f tok/s, MFU %.1f%%\n", s.tokens_per_s, 100 * s.mfu);
    if (s.nan_skips > 0) std::printf("skipped %lld steps with NaN/Inf loss\n", (long long)s.nan_skips);
    if (!s.export_dir.empty()) std::printf("exported to %s\n", s.export_dir.c_str());
  });
}

CommandRegistrar reg_sft(199, &register_sft);

}  // namespace

}  // namespace frugal::cli

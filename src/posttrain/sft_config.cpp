// SftConfig's field table: the training loop's (kFineTune set) plus [sft].
#include "posttrain/sft_config.h"

#include "core/error.h"

namespace frugal {
namespace {

constexpr std::string_view kSftPromptFormats[] = {"auto", "chat", "plain"};
constexpr std::string_view kBadLinePolicies[] = {"stop", "skip"};

Options sft_options(SftConfig& c) {
  Options f = train_options(c.train, TrainOptionSet::kFineTune);
  auto& s = c.sft;
  f.add(option("sft", "data", "data", "JSONL conversations {\"messages\": [...]} to train on"), s.data);
  f.add(option("sft", "val_data", "val-data", "held-out JSONL conversations for validation (empty: none)"),
        s.val_data);
  f.add(option("sft", "tokenizer", "tokenizer", "tokenizer.json, its folder or .gz (empty: init's)"), s.tokenizer);
  f.add(option("sft", "prompt_format", "prompt-format", "auto (chat template when there is one) | chat | plain"),
        s.prompt_format, kSftPromptFormats);
  f.add(option("sft", "on_bad_line", "on-bad-line", "a malformed JSONL line: stop (error) | skip (count, warn)"),
        s.on_bad_line, kBadLinePolicies);
  return f;
}

void validate(SftConfig& c) {
  if (c.train.model.init.empty()) fail(ErrorKind::kConfig, "model.init: required (--init MODEL_DIR)");
  if (c.sft.data.empty()) fail(ErrorKind::kConfig, "sft.data: required (--data FILE.jsonl)");
  if (c.train.data.seq_len < 2) fail(ErrorKind::kConfig, "data.seq_len = {}: SFT rows need at least 2 tokens",
                                     c.train.data.seq_len);
  validate_train_config(c.train);
}

}  // namespace

SftConfig::SftConfig() {
  train.optim.lr = 2e-5;  // TRL's SFT default; the tiny demo models take more (--lr)
  train.optim.warmup = 0;
  train.checkpoint.out = "runs/sft";
}

SftConfig load_sft_config(const std::string* toml_path, const std::vector<std::string>& overrides) {
  return load_config<SftConfig>(&sft_options, toml_path, overrides, [](auto& c) { validate(c); });
}

std::string to_toml(const SftConfig& c) {
  return config_toml(c, &sft_options, "# frugal sft: resolved configuration (every key; load it with --config)");
}

const std::vector<CliFlag>& sft_cli_flags() {
  static const std::vector<CliFlag> flags = config_cli_flags<SftConfig>(&sft_options);
  return flags;
}

}  // namespace frugal

// SftConfig: every option of `frugal sft` (docs/posttrain.md, SFT): the training loop's options
// (train_config.h's table, TrainOptionSet::kFineTune: schedules, accumulation, checkpoints,
// --resume, --export, ...) plus an [sft] section for the conversations, declared once in
// sft_config.cpp through the shared option machinery (core/options.h).
#pragma once
#include <string>
#include <vector>

#include "core/options.h"
#include "posttrain/chat_format.h"
#include "posttrain/sft_data.h"
#include "train/train_config.h"

namespace frugal {

struct SftConfig {
  TrainConfig train;  // its model.init is required; data.seq_len is the packed row length
  struct Sft {
    std::string data;      // JSONL conversations (key: sft.data, flag --data)
    std::string val_data;  // held-out conversations ("" = none)
    std::string tokenizer;  // "" = model.init's
    PromptFormat prompt_format = PromptFormat::kAuto;
    BadLinePolicy on_bad_line = BadLinePolicy::kStop;
  } sft;
  SftConfig();  // SFT's defaults differ from pretraining's (lr 2e-5, no warmup, runs/sft)
};

// Defaults, then TOML, then overrides in order; validates (kConfig naming the key and value).
SftConfig load_sft_config(const std::string* toml_path, const std::vector<std::string>& overrides);
std::string to_toml(const SftConfig& c);
const std::vector<CliFlag>& sft_cli_flags();

}  // namespace frugal

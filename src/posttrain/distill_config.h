// DistillConfig: every option of `frugal distill` (docs/posttrain.md, Distillation): the training
// loop's options for the student (train_config.h's table, TrainOptionSet::kStudent) plus a
// [distill] section, declared once in distill_config.cpp through core/options.h.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/options.h"
#include "posttrain/chat_format.h"
#include "posttrain/sft_data.h"
#include "train/train_config.h"

namespace frugal {

enum class DistillMode { kSeq, kLogit };

struct DistillConfig {
  TrainConfig train;  // the student's training; model.init is set from distill.student
  struct Distill {
    std::string teacher, student;  // model folders (--teacher, --student)
    std::string data;              // JSONL prompts (--data): {"messages": [...], "task"?, "problem"?}
    DistillMode mode = DistillMode::kSeq;
    int64_t samples = 4;         // teacher completions per prompt
    int64_t max_tokens = 256;    // completion budget
    double temperature = 0.6, top_p = 0.95;  // the R1 report's sampling
    std::string filter = "accuracy,format";  // rewards that must each score 1 ("none": keep all)
    int64_t keep_per_prompt = 1;             // distinct survivors kept per prompt
    int64_t batch = 64;                      // sequences the teacher generates together
    int64_t top_k = 20;                      // logit mode: teacher probabilities kept per position
    PromptFormat prompt_format = PromptFormat::kAuto;  // the teacher's prompts; the student's SFT
    BadLinePolicy on_bad_line = BadLinePolicy::kStop;
    uint64_t seed = 0;  // sampling
  } distill;
  DistillConfig();  // the student trains with SFT's defaults (lr 2e-5, no warmup), in runs/distill
};

// Defaults, then TOML, then overrides in order; validates (kConfig naming the key and value).
DistillConfig load_distill_config(const std::string* toml_path, const std::vector<std::string>& overrides);
std::string to_toml(const DistillConfig& c);
const std::vector<CliFlag>& distill_cli_flags();

}  // namespace frugal

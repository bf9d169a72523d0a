// GrpoConfig: every option of `frugal grpo` (docs/posttrain.md, GRPO training), declared once in
// grpo_config.cpp's field table through the shared option machinery (core/options.h): TOML
// (--config), `--section.key=value` overrides, the dedicated flags and --help come from it.
// Names follow TRL's GRPOConfig where it has one (num_generations, max_completion_length,
// temperature, beta, epsilon, epsilon_high, num_iterations = μ, loss_type, scale_rewards).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/options.h"
#include "posttrain/grpo.h"
#include "posttrain/prompt.h"

namespace frugal {

struct GrpoConfig {
  struct Model {
    std::string init;       // HF checkpoint dir (policy start and frozen reference)
    std::string tokenizer;  // "" = init's
    PromptFormat prompt_format = PromptFormat::kAuto;
  } model;
  struct Task {
    std::string name = "arithmetic";
    std::string rewards = "accuracy,format";  // reward_list (reward.h)
  } task;
  struct Grpo {
    int64_t num_generations = 8;  // G
    int64_t prompts = 4;          // prompts per step (rollout batch = prompts · G completions)
    int64_t max_completion_length = 128;
    double temperature = 1.0, top_p = 1.0;
    double beta = 0.04;
    double epsilon = 0.2;
    double epsilon_high = -1;  // -1: epsilon
    int64_t num_iterations = 1;  // μ: optimizer steps per rollout batch
    LossNorm loss_type = LossNorm::kSequence;
    AdvantageScale scale_rewards = AdvantageScale::kGroupStd;
    bool mask_truncated_completions = false;  // TRL's: completions cut at the budget add no loss
  } grpo;
  struct Train {
    int64_t steps = 100;       // rollout batches
    int64_t micro_batch = 16;  // completions per micro-batch of an optimizer step
    uint64_t seed = 0;         // training problems and sampling
  } train;
  struct Optim {
    double lr = 1e-5, weight_decay = 0, beta1 = 0.9, beta2 = 0.99, eps = 1e-8, grad_clip = 1.0;
    int64_t warmup = 0;  // linear warmup in optimizer steps, then constant
  } optim;
  struct Checkpoint {
    std::string out = "runs/grpo";
    std::string export_dir;  // key: export
    int64_t every = 10;      // rollout steps between checkpoints; 0 = only at the end
    int64_t keep_last = 3;   // checkpoints kept; 0 = all
    bool resume = false;     // continue from the latest complete checkpoint in `out`
  } checkpoint;
  struct Log {
    int64_t every = 1;
  } log;
};

// Defaults, then TOML, then overrides in order; validates (kConfig naming the key and value).
GrpoConfig load_grpo_config(const std::string* toml_path, const std::vector<std::string>& overrides);
std::string to_toml(const GrpoConfig& c);
const std::vector<CliFlag>& grpo_cli_flags();

}  // namespace frugal

// The GRPO training loop (`frugal grpo`, docs/posttrain.md, GRPO training). Per step:
//  1. rollout: `prompts` training problems of the task, G = num_generations completions each,
//     sampled together through BatchGenerator (the G samples of a prompt share its KV rows); the
//     engine returns each token's log-probability under the rollout policy (x_old);
//  2. rewards (the weighted RewardSet) and group-normalised advantages (grpo.h);
//  3. the frozen reference model's log-probabilities of every completion token (when β > 0);
//  4. μ = num_iterations updates: the current policy's log-probabilities (teacher forcing through
//     an inference forward over the trainer's f32 weights), grpo_loss with its per-token gradient,
//     then Trainer::step on micro-batches of [prompt | completion] rows whose completion tokens
//     carry the weights −K·g (prompt tokens masked), and the engine gets the new weights
//     (BatchGenerator::update_weights: its model views the trainer's parameters, and the version
//     bump drops prefix rows computed with the old ones);
//  5. telemetry: one JSON line in RUN_DIR/grpo_metrics.jsonl and a log line.
// The router's bias update, the balance loss and the MTP loss are off (γ = α = λ = 0): RL moves
// only what the objective asks for.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "posttrain/grpo_config.h"

namespace frugal {

struct GrpoStepStats {
  int64_t step = 0;  // 1-based
  double reward = 0, reward_std = 0;     // total (weighted) reward: mean, std over completions
  std::vector<std::string> reward_names;  // the configured rewards ...
  std::vector<double> reward_means;       // ... and the mean of each (unweighted)
  double accuracy = 0;                    // fraction whose answer passes the task's check
  double completion_length = 0;           // mean tokens
  double truncated = 0;                   // fraction cut at max_completion_length
  double zero_advantage_groups = 0;       // fraction of groups whose rewards were all equal
  double kl = 0;             // mean k3 to the reference at the first update (0 when β = 0)
  double clip_fraction = 0;  // mean over the μ updates
  double entropy = 0;        // mean token entropy of the policy at the first update
  double loss = 0;           // GRPO loss at the first update
  double grad_norm = 0, lr = 0;  // of the last update
  int64_t skipped_updates = 0;   // updates not applied (NaN/Inf)
  int64_t reward_errors = 0;     // reward calls that failed this step (scored 0)
  double rollout_s = 0, update_s = 0;
  double rollout_tokens_per_s = 0;  // completion tokens generated / rollout_s
  double update_tokens_per_s = 0;   // tokens through the training steps (prompt + completion) / update_s
};

std::string grpo_step_json(const GrpoStepStats& s);

struct GrpoSummary {
  std::string run_dir, export_dir;
  int64_t weights_version = 0;  // the rollout engine's weight updates (one per optimizer step)
  std::vector<GrpoStepStats> steps;
};

// Throws (kConfig/kInvalidArgument/kIo, naming the input) for a bad config, model or tokenizer.
GrpoSummary run_grpo(const GrpoConfig& c, const std::function<void(const GrpoStepStats&)>& on_step = {});

}  // namespace frugal

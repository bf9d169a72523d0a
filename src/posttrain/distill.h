// `frugal distill` (docs/posttrain.md, Distillation): a teacher's reasoning into a student.
//
// seq (the R1 report's recipe): the teacher answers every prompt `samples` times through the
// batched engine (a prompt's samples share its KV rows); rejection sampling keeps the answers on
// which every reward of `filter` scores 1 (accuracy against the prompt's task problem, the
// <think> format), at most `keep_per_prompt` distinct ones per prompt; the survivors are written
// as conversations to RUN_DIR/distill_data.jsonl (atomically: a file there is complete, and a
// --resume run reuses it), and the student is SFT'd on them (sft.h) with the training loop's
// every option.
// logit: the same teacher answers, and in addition the teacher's top-k next-token distribution at
// every answer token of the student's rendering (teacher_topk.h, cached in RUN_DIR/teacher_topk.bin
// and reused by --resume); the student's main head is trained on those soft targets (forward KL,
// kernels/ops.h soft_cross_entropy), its MTP modules on the tokens. Teacher and student must share
// one vocabulary (check_same_vocabulary refuses other pairs with the reason, before any work).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "posttrain/distill_config.h"
#include "posttrain/task.h"
#include "train/trainer.h"

namespace frugal {

// One prompt of a distillation file: {"messages": [...], "task": NAME, "problem": {...}}; the task
// and problem are optional together (without them no accuracy check is possible).
struct DistillPrompt {
  nlohmann::ordered_json messages;
  const Task* task = nullptr;
  std::optional<Problem> problem;
  int64_t line = 0;
};

// Reads the prompts; a malformed line stops with an error naming "FILE:LINE" and the field, or is
// skipped (counted in *skipped, its message in *notes) under BadLinePolicy::kSkip. No prompt at
// all is an error naming the file.
std::vector<DistillPrompt> load_distill_prompts(const std::string& path, BadLinePolicy policy, int64_t* skipped,
                                                std::vector<std::string>* notes);

// Throws kInvalidArgument with the reason unless the two model folders share one vocabulary: the
// same size and the same token for every id (what logit distillation compares position by position).
void check_same_vocabulary(const std::string& teacher_dir, const std::string& student_dir);

struct DistillGenReport {
  int64_t prompts = 0, generated = 0, kept = 0;
  int64_t prompts_kept = 0;  // prompts with at least one survivor
  int64_t completion_tokens = 0, reward_errors = 0;
  double seconds = 0;
  bool reused = false;  // a --resume run found the data already written
};

// The teacher's filtered answers as SFT conversations in `out_path` (atomically).
DistillGenReport generate_distill_data(const DistillConfig& c, const std::string& out_path);

struct DistillSummary {
  DistillGenReport gen;
  TrainSummary train;
  std::string data_path;
};

DistillSummary run_distill(const DistillConfig& c);

}  // namespace frugal

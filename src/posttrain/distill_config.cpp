// DistillConfig's field table: the student's training options (kStudent) plus [distill].
#include "posttrain/distill_config.h"

#include "core/error.h"
#include "posttrain/reward.h"

namespace frugal {
namespace {

constexpr std::string_view kDistillModes[] = {"seq", "logit"};
constexpr std::string_view kDistillPromptFormats[] = {"auto", "chat", "plain"};
constexpr std::string_view kDistillBadLines[] = {"stop", "skip"};

Options distill_options(DistillConfig& c) {
  Options f = train_options(c.train, TrainOptionSet::kStudent);
  auto& d = c.distill;
  f.add(option("distill", "teacher", "teacher", "teacher model dir (generates the answers)"), d.teacher);
  f.add(option("distill", "student", "student", "student model dir to train (any DeepSeek-V3-shaped config, MoE or dense)"),
        d.student);
  f.add(option("distill", "data", "data", "JSONL prompts {\"messages\": [...], \"task\", \"problem\"} (frugal task-data)"),
        d.data);
  f.add(option("distill", "mode", "mode", "seq (SFT on the teacher's filtered answers) | logit (forward KL, top-k)"),
        d.mode, kDistillModes);
  f.add(option("distill", "samples", "samples", "teacher completions per prompt", between(1, 1024)), d.samples);
  f.add(option("distill", "max_tokens", "max-tokens", "teacher completion budget", between(1, 1 << 20)), d.max_tokens);
  f.add(option("distill", "temperature", "temperature", "teacher sampling temperature (0: greedy)", at_least(0)),
        d.temperature);
  f.add(option("distill", "top_p", "top-p", "teacher nucleus threshold", OptionRule{.lo = 0, .hi = 1, .lo_open = true}),
        d.top_p);
  f.add(option("distill", "filter", "filter",
               "rewards an answer must each score 1 on, and not be cut at max_tokens, to be kept (rejection sampling); none keeps every answer"),
        d.filter);
  f.add(option("distill", "keep_per_prompt", "keep-per-prompt", "distinct answers kept per prompt", between(1, 1024)),
        d.keep_per_prompt);
  f.add(option("distill", "batch", "gen-batch", "sequences the teacher generates together", between(1, 4096)),
        d.batch);
  f.add(option("distill", "top_k", "top-k", "logit mode: the teacher's most likely tokens kept per position",
               between(1, 1 << 20)),
        d.top_k);
  f.add(option("distill", "prompt_format", "prompt-format", "auto (chat template when there is one) | chat | plain"),
        d.prompt_format, kDistillPromptFormats);
  f.add(option("distill", "on_bad_line", "on-bad-line", "a malformed JSONL line: stop (error) | skip (count, warn)"),
        d.on_bad_line, kDistillBadLines);
  f.add(option("distill", "seed", "gen-seed", "teacher sampling seed", between(0, 9.2e18)), d.seed);
  return f;
}

void validate(DistillConfig& c) {
  if (c.distill.teacher.empty()) fail(ErrorKind::kConfig, "distill.teacher: required (--teacher T_DIR)");
  if (c.distill.student.empty()) fail(ErrorKind::kConfig, "distill.student: required (--student S_DIR)");
  if (c.distill.data.empty()) fail(ErrorKind::kConfig, "distill.data: required (--data PROMPTS.jsonl)");
  if (c.distill.filter != "none")
    for (const RewardTerm& t : parse_reward_list(c.distill.filter)) (void)t;  // unknown names: an error naming them
  c.train.model.init = c.distill.student;
  validate_train_config(c.train);
}

}  // namespace

DistillConfig::DistillConfig() {
  train.optim.lr = 2e-5;
  train.optim.warmup = 0;
  train.checkpoint.out = "runs/distill";
}

DistillConfig load_distill_config(const std::string* toml_path, const std::vector<std::string>& overrides) {
  return load_config<DistillConfig>(&distill_options, toml_path, overrides, [](auto& c) { validate(c); });
}

std::string to_toml(const DistillConfig& c) {
  return config_toml(c, &distill_options, "# frugal distill: resolved configuration (every key; load it with --config)");
}

const std::vector<CliFlag>& distill_cli_flags() {
  static const std::vector<CliFlag> flags = config_cli_flags<DistillConfig>(&distill_options);
  return flags;
}

}  // namespace frugal

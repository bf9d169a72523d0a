// GrpoConfig's field table (core/options.h derives TOML, overrides, flags and --help from it).
#include "posttrain/grpo_config.h"

#include "core/error.h"

namespace frugal {
namespace {

constexpr std::string_view kPromptFormats[] = {"auto", "chat", "plain"};
constexpr std::string_view kLossTypes[] = {"sequence", "token", "constant"};
constexpr std::string_view kScaleRewards[] = {"group", "none"};
constexpr double kMaxCount = double(1 << 24);

Options grpo_options(GrpoConfig& c) {
  Options f;
  auto& m = c.model;
  f.add(option("model", "init", "init", "HF checkpoint dir: the policy's start and the frozen reference",
               OptionRule{.nonempty = true}),
        m.init);
  f.add(option("model", "tokenizer", "tokenizer", "tokenizer.json, its folder or .gz (empty: init's)"), m.tokenizer);
  f.add(option("model", "prompt_format", "prompt-format", "auto (chat template when there is one) | chat | plain"),
        m.prompt_format, kPromptFormats);
  auto& t = c.task;
  f.add(option("task", "name", "task", "task: arithmetic | addsub | countdown | sort", OptionRule{.nonempty = true}), t.name);
  f.add(option("task", "rewards", "rewards", "weighted rewards, e.g. accuracy,format=0.5,length=0.1",
               OptionRule{.nonempty = true}),
        t.rewards);
  auto& g = c.grpo;
  f.add(option("grpo", "num_generations", "num-generations", "completions per prompt G", between(2, 4096)),
        g.num_generations);
  f.add(option("grpo", "prompts", "prompts", "prompts per step", between(1, kMaxCount)), g.prompts);
  f.add(option("grpo", "max_completion_length", "max-completion-length", "completion token budget",
               between(1, kMaxCount)),
        g.max_completion_length);
  f.add(option("grpo", "temperature", "temperature", "rollout sampling temperature (0: greedy)", at_least(0)),
        g.temperature);
  f.add(option("grpo", "top_p", "top-p", "rollout nucleus threshold", OptionRule{.lo = 0, .hi = 1, .lo_open = true}),
        g.top_p);
  f.add(option("grpo", "beta", "beta", "KL coefficient to the reference (0: no reference model)", at_least(0)), g.beta);
  f.add(option("grpo", "epsilon", "epsilon", "clip range epsilon (low side)", unit_open()), g.epsilon);
  f.add(option("grpo", "epsilon_high", "epsilon-high", "clip range, high side (-1: epsilon)", at_least(-1)),
        g.epsilon_high);
  f.add(option("grpo", "num_iterations", "num-iterations", "policy updates per rollout batch (mu)", between(1, 1024)),
        g.num_iterations);
  f.add(option("grpo", "loss_type", "loss-type", "loss normalisation: sequence | token | constant"), g.loss_type,
        kLossTypes);
  f.add(option("grpo", "scale_rewards", "scale-rewards", "advantage scaling: group (std) | none"), g.scale_rewards,
        kScaleRewards);
  f.add(option("grpo", "mask_truncated_completions", "mask-truncated-completions",
               "completions cut at max_completion_length add no loss (their rewards still shape the group's advantages)"),
        g.mask_truncated_completions);
  auto& tr = c.train;
  f.add(option("train", "steps", "steps", "rollout batches (each followed by num_iterations updates)",
               between(1, 1e12)),
        tr.steps);
  f.add(option("train", "micro_batch", "micro-batch", "completions per micro-batch", between(1, kMaxCount)),
        tr.micro_batch);
  f.add(option("train", "seed", "seed", "training problems and sampling seed", between(0, 9.2e18)), tr.seed);
  auto& o = c.optim;
  f.add(option("optim", "lr", "lr", "learning rate (constant after warmup)", positive()), o.lr);
  f.add(option("optim", "weight_decay", "weight-decay", "AdamW decoupled weight decay", at_least(0)), o.weight_decay);
  f.add(option("optim", "beta1", "beta1", "AdamW beta1", unit_open()), o.beta1);
  f.add(option("optim", "beta2", "beta2", "AdamW beta2", unit_open()), o.beta2);
  f.add(option("optim", "eps", "eps", "AdamW epsilon", positive()), o.eps);
  f.add(option("optim", "grad_clip", "grad-clip", "global gradient-norm clip (0: off)", at_least(0)), o.grad_clip);
  f.add(option("optim", "warmup", "warmup", "linear warmup in optimizer steps", between(0, 1e12)), o.warmup);
  auto& k = c.checkpoint;
  f.add(option("checkpoint", "out", "out", "run directory (grpo_metrics.jsonl, config)", OptionRule{.nonempty = true}),
        k.out);
  f.add(option("checkpoint", "export", "export", "HF export dir of the final policy (empty: none)"), k.export_dir);
  f.add(option("checkpoint", "every", "checkpoint-every", "rollout steps between checkpoints (0: only at the end)",
               between(0, 1e12)),
        k.every);
  f.add(option("checkpoint", "keep_last", "keep-last", "checkpoints kept (0: all)", between(0, 1e9)), k.keep_last);
  f.add(option("checkpoint", "resume", "resume", "resume from the latest complete checkpoint in out"), k.resume);
  f.add(option("log", "every", "log-every", "steps between log lines", between(1, 1e12)), c.log.every);
  return f;
}

void validate(GrpoConfig& c) {
  if (c.model.init.empty()) fail(ErrorKind::kConfig, "model.init: required (--init MODEL_DIR)");
  if (c.grpo.epsilon_high != -1 && c.grpo.epsilon_high < 0)
    fail(ErrorKind::kConfig, "grpo.epsilon_high = {}: must be >= 0, or -1 for grpo.epsilon", c.grpo.epsilon_high);
  if (c.optim.warmup > c.train.steps * c.grpo.num_iterations)
    fail(ErrorKind::kConfig, "optim.warmup = {} exceeds the {} optimizer steps (train.steps * grpo.num_iterations)",
         c.optim.warmup, c.train.steps * c.grpo.num_iterations);
}

}  // namespace

GrpoConfig load_grpo_config(const std::string* toml_path, const std::vector<std::string>& overrides) {
  return load_config<GrpoConfig>(&grpo_options, toml_path, overrides, [](auto& c) { validate(c); });
}

std::string to_toml(const GrpoConfig& c) {
  return config_toml(c, &grpo_options, "# frugal grpo: resolved configuration (every key; load it with --config)");
}

const std::vector<CliFlag>& grpo_cli_flags() {
  static const std::vector<CliFlag> flags = config_cli_flags<GrpoConfig>(&grpo_options);
  return flags;
}

}  // namespace frugal

// frugal eval-task MODEL_DIR --task NAME [--limit N] [--samples K] [--seed S] [--max-tokens N]
//                  [--temperature T] [--top-p P] [--batch B] [--prompt-format auto|chat|plain]
//                  [--tokenizer PATH] [--output FILE.jsonl] [--json]
// Held-out accuracy of a model on a task (posttrain/eval_task.h): pass@1 (and pass@k with K
// samples) with a 95% interval, the mean of every reward, completion lengths and speed.
#include <cstdio>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "core/file.h"
#include "infer/batch_generate.h"
#include "io/hf_loader.h"
#include "model/transformer.h"
#include "posttrain/eval_task.h"

namespace frugal::cli {

namespace {

nlohmann::json report_json(const EvalReport& r) {
  nlohmann::json j = {{"task", r.task},
                      {"problems", r.problems},
                      {"samples", r.samples},
                      {"max_tokens", r.max_tokens},
                      {"temperature", r.temperature},
                      {"top_p", r.top_p},
                      {"correct", r.correct},
                      {"mean_completion_tokens", r.mean_completion_tokens},
                      {"truncated_fraction", r.truncated_fraction},
                      {"prompt_tokens", r.prompt_tokens},
                      {"cached_prompt_tokens", r.cached_prompt_tokens},
                      {"completion_tokens", r.completion_tokens},
                      {"generation_errors", r.generation_errors},
                      {"seconds", r.seconds}};
  for (const PassAt& p : r.pass)
    j["pass"].push_back({{"k", p.k}, {"value", p.value}, {"ci95", {p.ci.lo, p.ci.hi}}});
  for (size_t i = 0; i < r.reward_names.size(); ++i)
    j["rewards"][r.reward_names[i]] = {{"mean", r.reward_means[i]}, {"errors", r.reward_errors[i]}};
  return j;
}

void print_report(const EvalReport& r, const std::string& prompt) {
  std::printf("task %s: %lld held-out problems, %lld sample%s each, %s, max %lld tokens\nprompt: %s\n", r.task.c_str(),
              (long long)r.problems, (long long)r.samples, r.samples == 1 ? "" : "s",
              r.temperature == 0 ? "greedy" : fmt::format("temperature {:g}, top-p {:g}", r.temperature, r.top_p).c_str(),
              (long long)r.max_tokens, prompt.c_str());
  for (const PassAt& p : r.pass) {
    std::printf("pass@%lld = %.4f", (long long)p.k, p.value);
    if (p.k == 1 && r.samples == 1) std::printf(" (%lld/%lld)", (long long)r.correct, (long long)r.problems);
    std::printf(", 95%% CI [%.4f, %.4f] (Wilson%s)\n", p.ci.lo, p.ci.hi,
                r.samples > 1 ? " over problems; unbiased pass@k estimator" : "");
  }
  std::printf("rewards (mean):");
  for (size_t i = 0; i < r.reward_names.size(); ++i) std::printf(" %s %.4f", r.reward_names[i].c_str(), r.reward_means[i]);
  std::printf("\ncompletions: mean %.1f tokens, %.1f%% cut at max tokens; %.2f s, %.1f generated tok/s; prompt "
              "tokens %lld (%lld shared or cached)\n",
              r.mean_completion_tokens, 100 * r.truncated_fraction, r.seconds,
              r.seconds > 0 ? double(r.completion_tokens) / r.seconds : 0.0, (long long)r.prompt_tokens,
              (long long)r.cached_prompt_tokens);
  for (size_t i = 0; i < r.reward_names.size(); ++i)
    if (r.reward_errors[i] > 0)
      std::fprintf(stderr, "frugal eval-task: warning: %lld completions scored 0 because the %s reward failed: %s\n",
                   (long long)r.reward_errors[i], r.reward_names[i].c_str(), r.reward_first_errors[i].c_str());
  if (r.generation_errors > 0)
    std::fprintf(stderr, "frugal eval-task: warning: %lld completions ended in an engine error (counted wrong): %s\n",
                 (long long)r.generation_errors, r.first_generation_error.c_str());
}

void register_eval_task(CLI::App& app) {
  struct Opts {
    std::string model, task, tokenizer, output, format = "auto";
    EvalTaskOptions e;
    int64_t batch = 16;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* c = app.add_subcommand("eval-task", "held-out accuracy on a verifiable task (pass@1, pass@k, 95% CI)");
  c->add_option("MODEL_DIR", o->model, "Hugging Face checkpoint directory with a tokenizer")->required();
  c->add_option("--task", o->task, "task name (arithmetic, addsub, countdown, sort)")->required();
  c->add_option("--limit", o->e.limit, "held-out problems to evaluate")->default_val(100)->check(CLI::PositiveNumber);
  c->add_option("--samples", o->e.samples, "completions per problem K (pass@k up to K)")
      ->default_val(1)
      ->check(CLI::PositiveNumber);
  c->add_option("--seed", o->e.seed, "problem-set and sampling seed")->default_val(0);
  c->add_option("--max-tokens", o->e.max_tokens, "completion budget")->default_val(256)->check(CLI::PositiveNumber);
  c->add_option("--temperature", o->e.temperature, "sampling temperature (default: 0 for 1 sample, 0.6 for more)")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--top-p", o->e.top_p, "nucleus threshold (default: 1 for 1 sample, 0.95 for more)")
      ->check(CLI::Range(0.0f, 1.0f));
  c->add_option("--batch", o->batch, "sequences generated together")->default_val(16)->check(CLI::PositiveNumber);
  c->add_option("--prompt-format", o->format, "auto (chat template when there is one) | chat | plain")
      ->check(CLI::IsMember({"auto", "chat", "plain"}));
  c->add_option("--tokenizer", o->tokenizer, "tokenizer.json, its folder or .gz (default: MODEL_DIR)");
  c->add_option("--output", o->output, "write every completion as a JSON line to this file");
  c->add_flag("--json", o->json, "print the report as one JSON object");
  c->callback([o] {
    const Task& task = find_task(o->task);
    const PromptFormat fmt = o->format == "chat" ? PromptFormat::kChat
                             : o->format == "plain" ? PromptFormat::kPlain
                                                    : PromptFormat::kAuto;
    TaskPrompter prompter(o->model, o->tokenizer, fmt);
    auto m = load_model(o->model);
    Transformer model(m->config, m->weights);
    EngineOptions eo;
    eo.max_batch = o->batch;
    eo.ctx = m->config.max_position_embeddings;
    BatchGenerator gen(model, eo);
    std::vector<EvalRecord> records;
    const EvalReport r = run_eval_task(gen, prompter, task, m->config.eos_token_id, o->e,
                                       o->output.empty() ? nullptr : &records);
    if (!o->output.empty()) {
      std::string lines;
      for (const EvalRecord& rec : records) {
        nlohmann::json j = {{"problem", rec.problem},   {"sample", rec.sample},       {"question", rec.question},
                            {"reference", rec.reference}, {"completion", rec.completion}, {"correct", rec.correct},
                            {"finish", rec.finish},     {"tokens", rec.tokens}};
        for (size_t i = 0; i < r.reward_names.size(); ++i) j["rewards"][r.reward_names[i]] = rec.rewards[i];
        lines += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
      }
      write_file_atomic(o->output, lines);
    }
    if (o->json) {
      nlohmann::json j = report_json(r);
      j["prompt"] = prompter.describe();
      std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    } else {
      print_report(r, prompter.describe());
    }
  });
}

CommandRegistrar reg_eval_task(200, &register_eval_task);

}  // namespace

}  // namespace frugal::cli

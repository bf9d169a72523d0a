// frugal task-data --task NAME [--n N] [--split train|eval] [--seed S] [--format text|sft|prompts]
//                  [--out FILE]
// Task problems as data for the R1 recipe's stages (posttrain/task_data.h): pretraining text, SFT
// conversations in the answer format, or distillation prompts that carry their problem.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "core/error.h"
#include "core/file.h"
#include "posttrain/task_data.h"

namespace frugal::cli {

namespace {

void register_task_data(CLI::App& app) {
  struct Opts {
    std::string task, split = "train", format = "prompts", out;
    int64_t n = 100;
    uint64_t seed = 0;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* c = app.add_subcommand("task-data", "write a task's problems as pretraining text, SFT conversations or "
                                                "distillation prompts (JSONL)");
  c->add_option("--task", o->task, "task: " + task_names())->required();
  c->add_option("--n", o->n, "problems (default 100), the split's first n")->check(CLI::Range(1, 10000000));
  c->add_option("--split", o->split, "train (default) or eval: disjoint by construction")
      ->check(CLI::IsMember({"train", "eval"}));
  c->add_option("--seed", o->seed, "problem seed (default 0)");
  c->add_option("--format", o->format, "text | sft | prompts (default)")->check(CLI::IsMember({"text", "sft", "prompts"}));
  c->add_option("--out", o->out, "output file (written atomically; default: stdout)");
  c->callback([o] {
    const Task& task = find_task(o->task);
    const TaskDataFormat fmt = parse_task_data_format(o->format);
    std::string text;
    for (const Problem& p : task_problems(task, o->seed, o->split == "eval" ? Split::kEval : Split::kTrain, o->n))
      text += task_data_line(task, p, fmt) + "\n";
    if (o->out.empty()) std::fputs(text.c_str(), stdout);
    else write_file_atomic(o->out, text);
  });
}

CommandRegistrar reg_task_data(198, &register_task_data);

}  // namespace

}  // namespace frugal::cli

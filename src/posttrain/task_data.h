// Task problems as data files (`frugal task-data`, docs/posttrain.md, Task data), so the stages of
// the R1 recipe can be fed from one generator:
//   text     one "QUESTION ANSWER" line per problem: pretraining text (tokenize it with
//            `frugal data prepare`);
//   sft      conversations {"messages": [user: the task prompt, assistant: the reference answer in
//            the R1 format, "<think>\nQUESTION ANSWER\n</think>\n\nANSWER"]} for `frugal sft`:
//            the reasoning restates the problem and solves it in the pretraining text's own form;
//   prompts  {"messages": [user: the task prompt], "task": NAME, "problem": {...}} for
//            `frugal distill`, whose rejection sampling checks answers against the problem.
// A problem in JSON is {"key", "question", "reference", "numbers", "target"}; reading one back
// validates every field (kInvalidArgument naming it) and checks that its reference answer passes
// the task's own check, so a hand-edited problem cannot silently be unsolvable.
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "posttrain/task.h"

namespace frugal {

enum class TaskDataFormat { kText, kSft, kPrompts };
TaskDataFormat parse_task_data_format(std::string_view s);  // text | sft | prompts

nlohmann::ordered_json problem_to_json(const Problem& p);
Problem problem_from_json(const nlohmann::ordered_json& j, const Task& task);

// One line (without the newline) of `format` for problem p of `task`.
std::string task_data_line(const Task& task, const Problem& p, TaskDataFormat format);

}  // namespace frugal

#include "posttrain/task_data.h"

#include "core/error.h"
#include "posttrain/answer.h"
#include "posttrain/prompt.h"

namespace frugal {

using ojson = nlohmann::ordered_json;

TaskDataFormat parse_task_data_format(std::string_view s) {
  if (s == "text") return TaskDataFormat::kText;
  if (s == "sft") return TaskDataFormat::kSft;
  if (s == "prompts") return TaskDataFormat::kPrompts;
  fail(ErrorKind::kInvalidArgument, "unknown task data format '{}' (expected text, sft or prompts)", s);
}

ojson problem_to_json(const Problem& p) {
  return {{"key", p.key}, {"question", p.question}, {"reference", p.reference}, {"numbers", p.numbers},
          {"target", p.target}};
}

Problem problem_from_json(const ojson& j, const Task& task) {
  if (!j.is_object()) fail(ErrorKind::kInvalidArgument, "problem: expected an object");
  Problem p;
  for (auto [field, out] : {std::pair{"key", &p.key}, std::pair{"question", &p.question}, std::pair{"reference", &p.reference}}) {
    if (!j.contains(field) || !j[field].is_string())
      fail(ErrorKind::kInvalidArgument, "problem.{}: expected a string", field);
    *out = j[field].get<std::string>();
  }
  if (!j.contains("numbers") || !j["numbers"].is_array() || j["numbers"].size() > 64)
    fail(ErrorKind::kInvalidArgument, "problem.numbers: expected an array of at most 64 integers");
  for (const ojson& v : j["numbers"]) {
    if (!v.is_number_integer()) fail(ErrorKind::kInvalidArgument, "problem.numbers: expected integers");
    p.numbers.push_back(v.get<int64_t>());
  }
  if (!j.contains("target") || !j["target"].is_number_integer())
    fail(ErrorKind::kInvalidArgument, "problem.target: expected an integer");
  p.target = j["target"].get<int64_t>();
  if (!task.check(p, p.reference))
    fail(ErrorKind::kInvalidArgument, "problem.reference '{}' does not pass task {}'s check of '{}'", p.reference,
         task.name, p.question);
  return p;
}

std::string task_data_line(const Task& task, const Problem& p, TaskDataFormat format) {
  const ojson user = {{"role", "user"}, {"content", task_user_message(p)}};
  switch (format) {
    case TaskDataFormat::kText:
      return p.question + " " + p.reference;
    case TaskDataFormat::kSft: {
      const ojson assistant = {{"role", "assistant"},
                               {"content", p.reference},
                               {"reasoning_content", p.question + " " + p.reference}};
      return ojson{{"messages", ojson::array({user, assistant})}}.dump();
    }
    case TaskDataFormat::kPrompts:
      return ojson{{"messages", ojson::array({user})}, {"task", task.name}, {"problem", problem_to_json(p)}}.dump();
  }
  return "";
}

}  // namespace frugal

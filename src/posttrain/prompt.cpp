#include "posttrain/prompt.h"

namespace frugal {

const char* const kAnswerFormatInstruction =
    "Reason step by step between <think> and </think>, then write only the final answer after </think>.";

std::string task_user_message(const Problem& p) { return std::string(kAnswerFormatInstruction) + "\n" + p.question; }

std::string TaskPrompter::render(const Problem& p) const {
  return fmt_.render(nlohmann::ordered_json::array({{{"role", "user"}, {"content", user_message(p)}}}), true);
}

}  // namespace frugal

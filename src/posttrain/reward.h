// Rule-based rewards (docs/posttrain.md, Rewards): a registry of named functions of one
// completion, each row in reward.cpp's table (adding a reward is adding a row):
//   accuracy  1 when the parsed answer (answer.h) passes the task's exact check, else 0
//   format    1 when the completion is <think> … </think> then a non-empty answer, else 0
//   length    0 up to 3/4 of the token budget, then falling linearly to -1 at the budget; -1 for
//             a completion cut at the budget (it has no answer worth the tokens)
// A RewardSet is a weighted list of them ("accuracy,format=0.5"). A reward that throws or returns
// NaN/Inf scores 0 for that completion and is counted (per reward, with the first message kept):
// one bad completion or a buggy reward never stops an evaluation or a training run, and the
// count is reported so it is not silent.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "posttrain/task.h"

namespace frugal {

struct RewardInput {
  const Task* task = nullptr;
  const Problem* problem = nullptr;
  std::string_view completion;  // decoded text, the end-of-sequence token left out
  bool think_prefilled = false;  // the prompt ended with <think> (answer.h)
  int64_t completion_tokens = 0, max_tokens = 0;
  bool truncated = false;  // generation stopped at max_tokens
};

using RewardFn = std::function<double(const RewardInput&)>;
struct RewardSpec {
  std::string name, help;
  RewardFn fn;
};

const std::vector<RewardSpec>& reward_registry();
const RewardSpec& find_reward(std::string_view name);  // kInvalidArgument naming the known ones
std::string reward_names();

struct RewardTerm {
  RewardSpec spec;
  double weight = 1;
};
// "accuracy,format=0.5,length=0.1": registry names, each with an optional finite weight (default
// 1), no name twice. Throws kInvalidArgument naming the bad item.
std::vector<RewardTerm> parse_reward_list(std::string_view list);

struct RewardScores {
  std::vector<double> values;  // per term, unweighted
  double total = 0;            // Σ weight · value
};

class RewardSet {
 public:
  explicit RewardSet(std::vector<RewardTerm> terms);
  RewardScores score(const RewardInput& in);

  size_t size() const { return terms_.size(); }
  const RewardTerm& term(size_t i) const { return terms_[i]; }
  int64_t errors(size_t i) const { return errors_[i]; }
  const std::string& first_error(size_t i) const { return first_error_[i]; }
  int64_t total_errors() const;

 private:
  std::vector<RewardTerm> terms_;
  std::vector<int64_t> errors_;
  std::vector<std::string> first_error_;
};

}  // namespace frugal

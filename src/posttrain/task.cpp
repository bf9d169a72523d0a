#include "posttrain/task.h"

#include <unordered_set>

#include "core/error.h"

namespace frugal {

const char* split_name(Split s) { return s == Split::kTrain ? "train" : "eval"; }

// THE task registry: one row per task.
const std::vector<Task>& task_registry() {
  static const std::vector<Task> tasks = {arithmetic_task(), addsub_task(), countdown_task(), sort_task()};
  return tasks;
}

std::string task_names() {
  std::string s;
  for (const Task& t : task_registry()) s += (s.empty() ? "" : ", ") + std::string(t.name);
  return s;
}

const Task& find_task(std::string_view name) {
  for (const Task& t : task_registry())
    if (t.name == name) return t;
  fail(ErrorKind::kInvalidArgument, "unknown task '{}' (expected one of: {})", name, task_names());
}

Split split_of(std::string_view key) {
  // FNV-1a over the key, then the splitmix finaliser: fixed forever (changing it would move
  // problems between splits), independent of every seed.
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : key) h = (h ^ c) * 0x100000001b3ull;
  return mix64(h) % 8 == 0 ? Split::kEval : Split::kTrain;
}

Problem task_problem(const Task& task, uint64_t seed, Split split, int64_t index) {
  Rng rng(mix64(seed ^ mix64(uint64_t(index) * 2 + (split == Split::kEval ? 1 : 0))));
  // P(a draw lands in the eval split) = 1/8: 4096 misses in a row has probability (7/8)^4096 ~ 1e-237.
  for (int attempt = 0; attempt < 4096; ++attempt) {
    Problem p = task.make(rng);
    if (split_of(p.key) == split) return p;
  }
  fail(ErrorKind::kInternal, "task {}: no {} problem in 4096 draws", task.name, split_name(split));
}

std::vector<Problem> task_problems(const Task& task, uint64_t seed, Split split, int64_t n) {
  std::vector<Problem> out;
  std::unordered_set<std::string> seen;
  // Duplicates are rare in every built-in task; a bounded number of extra draws covers them.
  const int64_t max_draws = 4 * n + 64;
  for (int64_t i = 0; int64_t(out.size()) < n && i < max_draws; ++i) {
    Problem p = task_problem(task, seed, split, i);
    if (seen.insert(p.key).second) out.push_back(std::move(p));
  }
  if (int64_t(out.size()) < n)
    fail(ErrorKind::kInvalidArgument, "task {}: only {} distinct {} problems in {} draws (asked for {})", task.name,
         out.size(), split_name(split), max_draws, n);
  return out;
}

}  // namespace frugal

#include "posttrain/reward.h"

#include <cmath>
#include <exception>

#include "core/error.h"
#include "posttrain/answer.h"

namespace frugal {

namespace {

double accuracy(const RewardInput& in) {
  if (!in.task || !in.problem) fail(ErrorKind::kInternal, "accuracy reward without a task and problem");
  const ParsedCompletion p = parse_completion(in.completion, in.think_prefilled);
  return in.task->check(*in.problem, p.answer) ? 1.0 : 0.0;
}

double format(const RewardInput& in) { return parse_completion(in.completion, in.think_prefilled).formatted ? 1.0 : 0.0; }

double length(const RewardInput& in) {
  if (in.max_tokens <= 0) fail(ErrorKind::kInvalidArgument, "length reward: max_tokens = {} (must be > 0)", in.max_tokens);
  if (in.truncated || in.completion_tokens >= in.max_tokens) return -1.0;
  const double soft = double(in.max_tokens) * 0.75;
  if (double(in.completion_tokens) <= soft) return 0.0;
  return -(double(in.completion_tokens) - soft) / (double(in.max_tokens) - soft);
}

}  // namespace

// THE reward registry: one row per reward.
const std::vector<RewardSpec>& reward_registry() {
  static const std::vector<RewardSpec> rewards = {
      {"accuracy", "1 when the parsed answer passes the task's exact check, else 0", &accuracy},
      {"format", "1 when the completion is <think>...</think> then an answer, else 0", &format},
      {"length", "0 up to 3/4 of max_tokens, then down to -1 at max_tokens; -1 when cut at max_tokens", &length},
  };
  return rewards;
}

std::string reward_names() {
  std::string s;
  for (const RewardSpec& r : reward_registry()) s += (s.empty() ? "" : ", ") + r.name;
  return s;
}

const RewardSpec& find_reward(std::string_view name) {
  for (const RewardSpec& r : reward_registry())
    if (r.name == name) return r;
  fail(ErrorKind::kInvalidArgument, "unknown reward '{}' (expected one of: {})", name, reward_names());
}

std::vector<RewardTerm> parse_reward_list(std::string_view list) {
  std::vector<RewardTerm> out;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = list.find(',', start);
    const std::string_view item = trim(list.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (item.empty()) fail(ErrorKind::kInvalidArgument, "reward list '{}': empty item", list);
    const size_t eq = item.find('=');
    RewardTerm t{find_reward(trim(item.substr(0, eq)))};
    if (eq != std::string_view::npos) {
      const std::string w(trim(item.substr(eq + 1)));
      size_t used = 0;
      try {
        t.weight = std::stod(w, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != w.size() || w.empty() || !std::isfinite(t.weight))
        fail(ErrorKind::kInvalidArgument, "reward list '{}': weight '{}' of {} is not a finite number", list, w,
             t.spec.name);
    }
    for (const RewardTerm& o : out)
      if (o.spec.name == t.spec.name) fail(ErrorKind::kInvalidArgument, "reward list '{}': {} given twice", list, o.spec.name);
    out.push_back(std::move(t));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

RewardSet::RewardSet(std::vector<RewardTerm> terms)
    : terms_(std::move(terms)), errors_(terms_.size(), 0), first_error_(terms_.size()) {}

RewardScores RewardSet::score(const RewardInput& in) {
  RewardScores s;
  s.values.resize(terms_.size(), 0.0);
  for (size_t i = 0; i < terms_.size(); ++i) {
    std::string why;
    double v = 0;
    try {
      v = terms_[i].spec.fn(in);
      if (!std::isfinite(v)) why = "returned a non-finite value";
    } catch (const std::exception& e) {
      why = e.what();
    } catch (...) {
      why = "threw a non-standard exception";
    }
    if (!why.empty()) {
      if (errors_[i]++ == 0) first_error_[i] = terms_[i].spec.name + " reward: " + why;
      v = 0;
    }
    s.values[i] = v;
    s.total += terms_[i].weight * v;
  }
  return s;
}

int64_t RewardSet::total_errors() const {
  int64_t n = 0;
  for (int64_t e : errors_) n += e;
  return n;
}

}  // namespace frugal

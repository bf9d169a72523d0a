// sort: 4 to 8 integers in [0, 99] to put in ascending order; the answer is the sorted list
// ("3, 7, 19, 42"; brackets and whitespace separators are accepted, answer.h parse_int_list).
#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "posttrain/answer.h"
#include "posttrain/task.h"

namespace frugal {

namespace {

Problem make_sort(Rng& rng) {
  std::vector<int64_t> nums(4 + rng.below(5));
  for (int64_t& x : nums) x = int64_t(rng.below(100));
  std::vector<int64_t> sorted = nums;
  std::sort(sorted.begin(), sorted.end());
  Problem p;
  // The key is the multiset: the same numbers in another order are the same problem for the
  // split, so an evaluation answer is never a training answer.
  p.key = fmt::format("sort:{}", fmt::join(sorted, ","));
  p.question = fmt::format("Sort these numbers in ascending order: {}.", fmt::join(nums, ", "));
  p.reference = fmt::format("{}", fmt::join(sorted, ", "));
  p.numbers = nums;
  return p;
}

bool check_sort(const Problem& p, std::string_view answer) {
  const std::optional<std::vector<int64_t>> got = parse_int_list(answer);
  if (!got) return false;
  std::vector<int64_t> want = p.numbers;
  std::sort(want.begin(), want.end());
  return *got == want;
}

}  // namespace

Task sort_task() {
  return {"sort", "4-8 integers in [0, 99] to sort ascending; the answer is the sorted list", &make_sort, &check_sort};
}

}  // namespace frugal

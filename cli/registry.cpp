// The self-registration list behind CommandRegistrar (see commands.h).
#include <algorithm>
#include <utility>
#include <vector>

#include "cli/commands.h"

namespace frugal::cli {

namespace {
// A function-local static: registrars in other translation units may run before this file's
// globals are initialised, so the list must be constructed on first use.
std::vector<std::pair<int, RegisterFn>>& registry() {
  static std::vector<std::pair<int, RegisterFn>> list;
  return list;
}
}  // namespace

CommandRegistrar::CommandRegistrar(int order, RegisterFn fn) { registry().emplace_back(order, fn); }

void register_all_commands(CLI::App& app) {
  auto list = registry();
  std::stable_sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [order, fn] : list) fn(app);
}

}  // namespace frugal::cli

#include <charconv>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"

namespace frugal::cli {

std::vector<int32_t> parse_ids(const std::string& s) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    std::string item = s.substr(i, j - i);
    size_t a = item.find_first_not_of(" \t"), b = item.find_last_not_of(" \t");
    item = a == std::string::npos ? "" : item.substr(a, b - a + 1);
    int64_t v = 0;
    auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || p != item.data() + item.size() || v < INT32_MIN || v > INT32_MAX)
      fail(ErrorKind::kInvalidArgument, "--ids: '{}' is not an integer token id (expected e.g. 1,2,3)", item);
    ids.push_back(int32_t(v));
    i = j + 1;
  }
  return ids;
}

}  // namespace frugal::cli

#include "core/json.h"

#include <set>
#include <vector>

#include "core/error.h"

namespace frugal {
namespace {

// One open container while parsing.
struct Frame {
  std::string owner;            // the key it was found under, or its array's ("" at the top level)
  bool object = false;
  int64_t members = 0;          // keys seen (objects)
  std::set<std::string> keys;   // keys seen, only when JsonLimits::unique_keys
};

template <class Json>
Json parse_limited(std::string_view text, const std::string& what, const JsonLimits& lim) {
  if (const size_t nul = text.find('\0'); nul != std::string_view::npos)
    fail(ErrorKind::kFormat, "{}: NUL byte at offset {} (JSON cannot contain one)", what, nul);
  std::vector<Frame> frames;
  std::string last_key;  // for messages: nlohmann's own give a byte offset at best
  // Errors are thrown from inside the parse (nlohmann lets a callback's exception through), so
  // nothing more of a bad document is read or built.
  auto on_event = [&](int depth, typename Json::parse_event_t event, Json& parsed) {
    using E = typename Json::parse_event_t;
    switch (event) {
      case E::object_start:
      case E::array_start: {
        // Containers in an array belong to the array's key, so messages name a key of the file.
        std::string owner = frames.empty() ? std::string() : frames.back().object ? last_key : frames.back().owner;
        if (depth > lim.max_depth)
          fail(ErrorKind::kFormat, "{}: JSON nested deeper than {} levels{}", what, lim.max_depth,
               owner.empty() ? std::string() : fmt::format(" (under key '{}')", owner));
        frames.push_back({std::move(owner), event == E::object_start, 0, {}});
        break;
      }
      case E::object_end:
      case E::array_end:
        if (!frames.empty()) frames.pop_back();
        break;
      case E::key: {
        last_key = parsed.template get<std::string>();
        if (frames.empty()) break;
        Frame& f = frames.back();
        if (lim.max_members > 0 && ++f.members > lim.max_members)
          fail(ErrorKind::kFormat, "{}: a JSON object{} has more than {} members", what,
               f.owner.empty() ? std::string() : fmt::format(" under key '{}'", f.owner), lim.max_members);
        if (lim.unique_keys && !f.keys.insert(last_key).second) {
          if (frames.size() == 1) fail(ErrorKind::kFormat, "{}: duplicate {} '{}'", what, lim.top_level_key, last_key);
          fail(ErrorKind::kFormat, "{}: duplicate key '{}' inside '{}'", what, last_key, f.owner);
        }
        break;
      }
      case E::value:
        break;
    }
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), on_event);
  } catch (const typename Json::exception& e) {
    fail(ErrorKind::kFormat, "{}: not valid JSON{}: {}", what,
         last_key.empty() ? std::string() : fmt::format(" (at or after key '{}')", last_key), e.what());
  }
}

}  // namespace

nlohmann::json parse_json(std::string_view text, const std::string& what, const JsonLimits& limits) {
  return parse_limited<nlohmann::json>(text, what, limits);
}

nlohmann::ordered_json parse_ordered_json(std::string_view text, const std::string& what, const JsonLimits& limits) {
  return parse_limited<nlohmann::ordered_json>(text, what, limits);
}

}  // namespace frugal

// JSON from files and users (docs/conventions.md, Malformed files): the one way frugal parses
// JSON it did not write itself, so every such input gets the same limits and the same messages.
//
// nlohmann's parser is iterative, but copying, comparing and dumping a document recurse once per
// nesting level, so a 10^5-deep file would overflow the stack long after parsing succeeded. The
// limits are therefore checked while parsing, as each container opens, and a too-deep document is
// rejected before any of it is built. The same pass rejects NUL bytes (nlohmann's lexer takes one
// for the end of input and would silently ignore whatever follows) and, on request, repeated keys
// and objects with too many members.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace frugal {

// Deeper than any file frugal reads (tokenizer.json and meta.json nest about 6 levels, chat
// requests with tool schemas a few tens) and shallow enough for any recursion over the result.
inline constexpr int kJsonMaxDepth = 64;

struct JsonLimits {
  // A container's depth is the number of containers around it (the root is at depth 0); one
  // deeper than this is an error.
  int max_depth = kJsonMaxDepth;
  // Members of one object, 0 for no limit. ordered_json keeps keys in a linear map, so a million
  // keys would make parsing quadratic.
  int64_t max_members = 0;
  // Reject a key repeated within one object (nlohmann keeps the last, silently), naming a
  // top-level key as `top_level_key` ("tensor name") in the message.
  bool unique_keys = false;
  const char* top_level_key = "key";
};

// Parses `text` as one JSON value (whitespace around it allowed, nothing else). Throws
// Error(kFormat) starting with `what` (the file, or "stdin line 3"): "not valid JSON" with the
// parser's reason and the last key read, "JSON nested deeper than N levels", "NUL byte at offset",
// "duplicate key", "more than N members".
nlohmann::json parse_json(std::string_view text, const std::string& what, const JsonLimits& limits = {});
// The same, keeping object keys in file order (chat messages, tool schemas).
nlohmann::ordered_json parse_ordered_json(std::string_view text, const std::string& what,
                                          const JsonLimits& limits = {});

}  // namespace frugal

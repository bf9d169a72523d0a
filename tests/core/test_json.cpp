// parse_json / parse_ordered_json (src/core/json.h): the one parser for JSON frugal did not write.
// Deep nesting is an error naming the input and the limit, never a stack overflow in the copies
// and dumps that follow; NUL bytes, duplicate keys and oversized objects are errors too.
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "core/json.h"
#include "test_util.h"

using namespace frugal;
using namespace frugal::test;
using nlohmann::json;

namespace {

// `n` nested arrays: [[[...]]]. Their depths (containers around each) run from 0 to n - 1.
std::string arrays(size_t n) { return std::string(n, '[') + std::string(n, ']'); }

// `n` nested objects {"k":{"k":...{}}}.
std::string objects(size_t n) {
  std::string s;
  for (size_t i = 0; i + 1 < n; ++i) s += "{\"k\":";
  s += "{}";
  s += std::string(n - 1, '}');
  return s;
}

TEST(Json, AcceptsNestingUpToTheLimit) {
  // max_depth + 1 containers: the innermost is at depth max_depth, the deepest allowed.
  const json a = parse_json(arrays(kJsonMaxDepth + 1), "a.json");
  const json* p = &a;
  int levels = 0;
  while (p->is_array()) {
    ++levels;
    if (p->empty()) break;
    p = &(*p)[0];
  }
  EXPECT_EQ(levels, kJsonMaxDepth + 1);
  EXPECT_NO_THROW(parse_json(objects(kJsonMaxDepth + 1), "o.json"));
  JsonLimits lim;
  lim.max_depth = 3;
  EXPECT_NO_THROW(parse_json(arrays(4), "x", lim));
  expect_error([&] { parse_json(arrays(5), "x", lim); }, ErrorKind::kFormat, {"x: JSON nested deeper than 3 levels"});
}

TEST(Json, RejectsDeepNestingByNameAndLimit) {
  expect_error([] { parse_json(arrays(kJsonMaxDepth + 2), "a.json"); }, ErrorKind::kFormat,
               {"a.json", "nested deeper than 64 levels"});
  expect_error([] { parse_json(objects(kJsonMaxDepth + 2), "o.json"); }, ErrorKind::kFormat,
               {"o.json", "nested deeper than 64 levels", "under key 'k'"});
  // The sizes that overflowed the stack (copies and dumps of the result recurse per level), and a
  // deep value under a key of an ordinary document, as in a doctored config.json.
  for (size_t n : {size_t(100000), size_t(1000000)}) {
    expect_error([&] { parse_json(arrays(n), "deep.json"); }, ErrorKind::kFormat, {"deep.json", "nested deeper"});
    expect_error([&] { parse_ordered_json(arrays(n), "stdin"); }, ErrorKind::kFormat, {"stdin", "nested deeper"});
  }
  expect_error([] { parse_json(R"({"vocab_size": 10, "rope_scaling": )" + arrays(100000) + "}", "config.json"); },
               ErrorKind::kFormat, {"config.json", "nested deeper than 64 levels", "under key 'rope_scaling'"});
  // An unterminated deep prefix is rejected at the limit too, not only once the text has ended.
  expect_error([] { parse_json(std::string(100000, '['), "open.json"); }, ErrorKind::kFormat, {"nested deeper"});
}

TEST(Json, SyntaxErrorsNameTheInputAndTheLastKey) {
  expect_error([] { parse_json(R"({"a": 1, "b": [1, 2,)", "f.json"); }, ErrorKind::kFormat,
               {"f.json: not valid JSON", "at or after key 'b'"});
  expect_error([] { parse_json("{} x", "f.json"); }, ErrorKind::kFormat, {"f.json: not valid JSON"});
  expect_error([] { parse_json("", "empty.json"); }, ErrorKind::kFormat, {"empty.json: not valid JSON"});
}

TEST(Json, RejectsNulBytes) {
  // nlohmann's lexer stops at a NUL, which would silently accept whatever follows it.
  expect_error([] { parse_json(std::string("{}\0garbage", 10), "n.json"); }, ErrorKind::kFormat,
               {"n.json", "NUL byte at offset 2"});
}

TEST(Json, DuplicateKeysOnRequest) {
  EXPECT_EQ(parse_json(R"({"a": 1, "a": 2})", "d.json")["a"], 2);  // nlohmann's default: the last wins
  JsonLimits lim;
  lim.unique_keys = true;
  lim.top_level_key = "tensor name";
  expect_error([&] { parse_json(R"({"a": 1, "a": 2})", "d.json", lim); }, ErrorKind::kFormat,
               {"d.json: duplicate tensor name 'a'"});
  expect_error([&] { parse_json(R"({"m": {"x": 1, "x": 2}})", "d.json", lim); }, ErrorKind::kFormat,
               {"duplicate key 'x' inside 'm'"});
  // Objects in an array belong to the array's key; equal keys in sibling objects are fine.
  expect_error([&] { parse_json(R"({"l": [{"x": 1}, {"x": 1, "x": 2}]})", "d.json", lim); }, ErrorKind::kFormat,
               {"duplicate key 'x' inside 'l'"});
  EXPECT_NO_THROW(parse_json(R"({"l": [{"x": 1}, {"x": 2}], "x": 3})", "d.json", lim));
}

TEST(Json, MemberLimitOnRequest) {
  std::string big = "{";
  for (int i = 0; i < 101; ++i) big += (i ? ",\"" : "\"") + std::to_string(i) + "\":0";
  big += "}";
  EXPECT_EQ(parse_ordered_json(big, "m.json").size(), 101u);
  JsonLimits lim;
  lim.max_members = 100;
  expect_error([&] { parse_ordered_json(big, "m.json", lim); }, ErrorKind::kFormat, {"m.json", "more than 100 members"});
  expect_error([&] { parse_ordered_json(R"({"tools": )" + big + "}", "m.json", lim); }, ErrorKind::kFormat,
               {"under key 'tools'", "more than 100 members"});
}

TEST(Json, SameDocumentAsNlohmann) {
  const std::string text = R"( {"b": [1, 2.5, "x", null, true, {"c": {}}], "a": -3, "u": 18446744073709551615} )";
  EXPECT_EQ(parse_json(text, "t"), json::parse(text));
  const nlohmann::ordered_json o = parse_ordered_json(text, "t");
  EXPECT_EQ(o.begin().key(), "b");  // file order kept
  EXPECT_EQ(o, nlohmann::ordered_json::parse(text));
}

}  // namespace

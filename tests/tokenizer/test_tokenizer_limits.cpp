// tokenizer.json, tokenizer_config.json and `frugal chat-template` inputs that used to cost
// gigabytes, crash or yield garbage ids: a stray huge token id (the id -> token table is sized by
// the largest id), post-processor ids that name no token, JSON nested deep enough to overflow the
// stack, and request objects large enough to make ordered_json's linear key map quadratic.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "core/error.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_config.h"

namespace frugal {
namespace {

using test::expect_error;

// A small BPE tokenizer without pre-tokenizer: "a", "b", "ab" (one merge) plus `extra_vocab`,
// one added token "<s>" with `added_id`, and `post` as its post_processor (JSON).
std::string tok_json(const std::string& extra_vocab = "", int64_t added_id = 3, const std::string& post = "null",
                     const std::string& normalizer = "null") {
  return R"({"added_tokens": [{"id": )" + std::to_string(added_id) +
         R"(, "content": "<s>", "special": true, "normalized": false}],
    "normalizer": )" + normalizer + R"(, "pre_tokenizer": null, "post_processor": )" + post +
         R"(, "decoder": null,
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2)" + extra_vocab + R"(}, "merges": ["a b"]}})";
}

std::string template_post(const std::string& ids) {
  return R"({"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
    {"Sequence": {"id": "A", "type_id": 0}}], "pair": [],
    "special_tokens": {"<s>": {"id": "<s>", "ids": )" + ids + R"(, "tokens": ["<s>"]}}})";
}

void expect_load_error(const std::string& text, ErrorKind kind, const std::vector<std::string>& needles) {
  std::vector<std::string> all = needles;
  all.push_back("t.json");
  expect_error([&] { Tokenizer::from_json_text(text, "t.json"); }, kind, all);
}

TEST(TokenizerLimits, FixtureLoads) {
  const Tokenizer t = Tokenizer::from_json_text(tok_json("", 3, template_post("[3]")), "t.json");
  EXPECT_EQ(t.encode("ab", true), (std::vector<int32_t>{3, 2}));
  EXPECT_EQ(t.vocab_size(), 4);
}

// One vocabulary id of 2^26 - 1 made the loader allocate a 2^26-entry table (2 GB) for 5 tokens.
TEST(TokenizerLimits, HugeVocabularyIdIsAnErrorNamingTheEntry) {
  expect_load_error(tok_json(R"(, "x": 67108863)"), ErrorKind::kConfig,
                    {"model.vocab[\"x\"]", "67108863", "outside [0, 266)"});
  expect_load_error(tok_json(R"(, "x": 1000000000000)"), ErrorKind::kConfig, {"model.vocab[\"x\"]"});
}

TEST(TokenizerLimits, HugeAddedTokenIdIsAnErrorNamingTheEntry) {
  expect_load_error(tok_json("", 67108000), ErrorKind::kConfig, {"added_tokens[0]", "67108000"});
}

TEST(TokenizerLimits, ModestGapsInTheIdsStillLoad) {
  // Ids need not be dense (the added token sits above a gap, as in hand-written files), as long
  // as unused ids do not outnumber the tokens.
  const Tokenizer t = Tokenizer::from_json_text(tok_json(R"(, "c": 40)", 100), "t.json");
  EXPECT_EQ(t.vocab_size(), 101);
  EXPECT_EQ(t.token_to_id("c"), 40);
  EXPECT_EQ(t.encode("<s>"), (std::vector<int32_t>{100}));
}

// Post-processor ids were copied into every encoding unchecked, so a model got ids it has no row for.
TEST(TokenizerLimits, TemplateIdOutsideTheVocabularyIsAnError) {
  expect_load_error(tok_json("", 3, template_post("[999]")), ErrorKind::kConfig,
                    {"post_processor", "special_tokens[\"<s>\"].ids[0]", "999", "not a token id"});
  expect_load_error(tok_json("", 3, template_post("[-1]")), ErrorKind::kConfig, {"ids[0]", "-1"});
  // 2^32 + 3 wrapped to 3 when read as int32.
  expect_load_error(tok_json("", 3, template_post("[4294967299]")), ErrorKind::kConfig, {"4294967299"});
  expect_load_error(tok_json("", 3, template_post(R"(["3"])")), ErrorKind::kConfig, {"ids[0]", "\"3\""});
  // Inside the id range but in a gap: no token has that id.
  expect_load_error(tok_json(R"(, "c": 10)", 3, template_post("[7]")), ErrorKind::kConfig, {"ids[0]", "7"});
}

TEST(TokenizerLimits, BertProcessingIdsAreChecked) {
  const std::string ok = R"({"type": "BertProcessing", "cls": ["<s>", 3], "sep": ["b", 1]})";
  EXPECT_EQ(Tokenizer::from_json_text(tok_json("", 3, ok), "t.json").encode("a", true),
            (std::vector<int32_t>{3, 0, 1}));
  const std::string bad = R"({"type": "BertProcessing", "cls": ["<s>", 3], "sep": ["</s>", 50000]})";
  expect_load_error(tok_json("", 3, bad), ErrorKind::kConfig, {"sep[1]", "50000"});
}

// The old loader parsed these fine and then overflowed the stack copying the nested value.
TEST(TokenizerLimits, DeeplyNestedJsonIsAnError) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  expect_load_error(tok_json("", 3, "null", deep), ErrorKind::kFormat,
                    {"nested deeper than 64 levels", "under key 'normalizer'"});
  expect_error([&] { TokenizerConfig::from_json_text(R"({"chat_template": )" + deep + "}", "tc.json"); },
               ErrorKind::kFormat, {"tc.json", "nested deeper than 64 levels"});
}

// `frugal chat-template` copied a parsed 10^5-deep request into ChatRequest and crashed.
TEST(ChatTemplateInput, DeepOrHugeRequestsAreErrors) {
  ASSERT_TRUE(std::filesystem::exists(FRUGAL_BINARY)) << FRUGAL_BINARY " missing: the test target depends on it";
  test::TempDir dir;
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  test::write_bytes(dir.file("deep.json"), R"({"messages": [{"role": "user", "content": )" + deep + "}]}\n");
  std::string wide = R"({"messages": [{"role": "user", "content": "x"}], "chat_template_kwargs": {)";
  for (int i = 0; i <= 10000; ++i) wide += (i ? ", \"k" : "\"k") + std::to_string(i) + "\": 0";
  test::write_bytes(dir.file("wide.json"), wide + "}}\n");
  const std::string cmd = std::string(FRUGAL_BINARY) + " chat-template --no-ids --tokenizer " + FRUGAL_TEST_DATA +
                          "/tokenizer/qwen3";
  auto r = test::run_command(cmd + " < " + dir.file("deep.json") + " 2>&1");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("stdin: JSON nested deeper than 64 levels (under key 'content')"), std::string::npos) << r.out;
  r = test::run_command(cmd + " --jsonl < " + dir.file("deep.json") + " 2>&1");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("stdin line 1: JSON nested deeper"), std::string::npos) << r.out;
  r = test::run_command(cmd + " < " + dir.file("wide.json") + " 2>&1");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("under key 'chat_template_kwargs' has more than 10000 members"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace frugal

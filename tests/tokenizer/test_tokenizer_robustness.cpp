// Bad input gets a clear frugal::Error (naming the file and field), never a crash or a hang; odd
// but valid input (invalid UTF-8, 10 MB lines) round-trips; the pipeline pieces follow the format.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace frugal {
namespace {

const Tokenizer& deepseek() {
  static const Tokenizer t = Tokenizer::load(std::string(FRUGAL_TEST_DATA) + "/tokenizer/deepseek_v3");
  return t;
}

// A tiny byte-level tokenizer: all 256 byte symbols, a few merges, one special token.
std::string tiny_json(const std::string& model_extra = "", const std::string& pretok = "",
                      const std::string& merges = R"(["h e", "he l", ["l", "o"]])",
                      const std::string& extra_vocab = "") {
  std::string vocab;
  // The GPT-2 byte alphabet, written as \u escapes so the test needs no table of its own.
  int next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const int cp = printable ? b : next++;
    vocab += fmt::format("\"\\u{:04x}\": {}, ", cp, b);
  }
  vocab += R"("he": 256, "hel": 257, "lo": 258)" + extra_vocab;
  const std::string pt = pretok.empty()
                             ? R"({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\s+|\\S+"}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]})"
                             : pretok;
  return R"({"version": "1.0", "added_tokens": [{"id": 300, "content": "<eos>", "special": true, "normalized": false},
    {"id": 301, "content": "<w>", "special": false, "normalized": true, "single_word": true, "lstrip": true, "rstrip": true}],
    "normalizer": null, "pre_tokenizer": )" +
         pt + R"(, "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<eos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
    "pair": [], "special_tokens": {"<eos>": {"id": "<eos>", "ids": [300], "tokens": ["<eos>"]}}},
    "decoder": {"type": "ByteLevel"}, "model": {"type": "BPE", )" +
         model_extra + R"("vocab": {)" + vocab + R"(}, "merges": )" + merges + "}}";
}

void expect_error(const std::string& json_text, ErrorKind kind, const std::string& needle) {
  try {
    Tokenizer::from_json_text(json_text, "t.json");
    FAIL() << "expected an error containing " << needle;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("t.json"), std::string::npos) << e.what();
  }
}

TEST(TokenizerTiny, MergesBothFormatsTemplateAndAddedTokens) {
  const Tokenizer t = Tokenizer::from_json_text(tiny_json(), "tiny");
  EXPECT_EQ(t.encode("hello"), (std::vector<int32_t>{257, 258}));
  EXPECT_EQ(t.encode("hello", true), (std::vector<int32_t>{300, 257, 258}));
  EXPECT_EQ(t.encode("he<eos>lo"), (std::vector<int32_t>{256, 300, 258}));
  // single_word: not inside a word; lstrip/rstrip swallow the spaces around it.
  EXPECT_EQ(t.encode("a <w> b"), (std::vector<int32_t>{'a', 301, 'b'}));
  EXPECT_EQ(t.decode({300, 257, 258}), "<eos>hello");
  EXPECT_EQ(t.decode({300, 257, 258}, true), "hello");
  EXPECT_TRUE(t.is_special(300));
  EXPECT_FALSE(t.is_special(301));
  EXPECT_EQ(t.vocab_size(), 302);
}

TEST(TokenizerTiny, SingleWordRejectsInsideWords) {
  const Tokenizer t = Tokenizer::from_json_text(tiny_json(), "tiny");
  const auto ids = t.encode("x<w>y");
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 301), 0);
}

TEST(TokenizerTiny, IgnoreMergesTakesWholeWords) {
  const Tokenizer t = Tokenizer::from_json_text(tiny_json(R"("ignore_merges": true, )", "", R"([["l", "o"]])",
                                                          R"(, "hello": 259)"),
                                                "tiny");
  EXPECT_EQ(t.encode("hello"), (std::vector<int32_t>{259}));
}

TEST(TokenizerTiny, SplitBehaviors) {
  auto pieces = [](const std::string& behavior, bool invert) {
    const std::string pt = R"({"type": "Split", "pattern": {"String": "-"}, "behavior": ")" + behavior +
                           R"(", "invert": )" + (invert ? "true" : "false") + "}";
    return Tokenizer::from_json_text(tiny_json("", pt), "tiny").pre_tokenize("a-b--c");
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(pieces("Isolated", false), (V{"a", "-", "b", "-", "-", "c"}));
  EXPECT_EQ(pieces("Removed", false), (V{"a", "b", "c"}));
  EXPECT_EQ(pieces("MergedWithPrevious", false), (V{"a-", "b-", "-", "c"}));
  EXPECT_EQ(pieces("MergedWithNext", false), (V{"a", "-b", "-", "-c"}));
  EXPECT_EQ(pieces("Contiguous", false), (V{"a", "-", "b", "--", "c"}));
  EXPECT_EQ(pieces("Removed", true), (V{"-", "-", "-"}));
}

TEST(TokenizerTiny, DigitsAndByteLevelRegex) {
  const std::string pt = R"({"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true},
      {"type": "ByteLevel", "add_prefix_space": true, "use_regex": true}]})";
  const Tokenizer t = Tokenizer::from_json_text(tiny_json("", pt), "tiny");
  // add_prefix_space applies to every piece that does not start with a space.
  EXPECT_EQ(t.pre_tokenize("ab12 c"), (std::vector<std::string>{" ab", " 1", " 2", " c"}));
}

TEST(TokenizerBadInput, MalformedJson) { expect_error("{\"model\": {", ErrorKind::kFormat, "not valid JSON"); }

TEST(TokenizerBadInput, MergeNamesUnknownToken) {
  expect_error(tiny_json("", "", R"(["h zz"])"), ErrorKind::kConfig, "merges[0]");
}

TEST(TokenizerBadInput, MergeResultNotInVocab) {
  expect_error(tiny_json("", "", R"(["a b"])"), ErrorKind::kConfig, "\"ab\", which is not in the vocabulary");
}

TEST(TokenizerBadInput, DuplicateIds) {
  expect_error(tiny_json("", "", "[]", R"(, "dup": 256)"), ErrorKind::kConfig, "id 256");
}

TEST(TokenizerBadInput, UnknownPreTokenizer) {
  expect_error(tiny_json("", R"({"type": "Frobnicate"})"), ErrorKind::kUnsupported, "Frobnicate");
}

TEST(TokenizerBadInput, BadRegex) {
  expect_error(tiny_json("", R"({"type": "Split", "pattern": {"Regex": "(["}, "behavior": "Isolated"})"),
               ErrorKind::kConfig, "invalid regex");
}

TEST(TokenizerBadInput, UnsupportedModels) {
  expect_error(R"({"model": {"type": "WordPiece", "vocab": {}}})", ErrorKind::kUnsupported, "WordPiece");
  expect_error(R"({"model": {"type": "Unigram", "vocab": []}})", ErrorKind::kUnsupported, "Unigram");
}

TEST(TokenizerBadInput, MissingFileAndBadGzip) {
  EXPECT_THROW(Tokenizer::load("/nonexistent/tokenizer.json"), Error);
  EXPECT_THROW(Tokenizer::load(std::string(FRUGAL_TEST_DATA) + "/tokenizer/deepseek_v3/decode.jsonl"), Error);
}

TEST(TokenizerProperty, RandomBytesRoundTrip) {
  const Tokenizer& t = deepseek();
  std::mt19937 rng(1234);
  // Raw random bytes (mostly invalid UTF-8) mixed with valid characters and an added token.
  const char* pieces[] = {"a", " ", "\n", "é", "中", "😀", "<｜User｜>", "\xE4\xBD", "\x80", "\xF0\x9F", "12", "'s"};
  for (int iter = 0; iter < 1000; ++iter) {
    std::string s;
    const int n = int(rng() % 40);
    for (int k = 0; k < n; ++k) {
      if (rng() % 2) s += char(rng() % 256);
      else s += pieces[rng() % (sizeof(pieces) / sizeof(pieces[0]))];
    }
    const auto ids = t.encode(s);
    // Byte-level BPE without a normalizer loses nothing: the tokens' bytes are the input bytes...
    std::string bytes;
    for (int32_t id : ids) {
      const std::string tokstr = *t.id_to_token(id);
      if (!tok::symbols_to_bytes(tokstr, bytes)) bytes += tokstr;
    }
    EXPECT_EQ(bytes, s);
    // ...and decode gives them back, with invalid sequences as U+FFFD exactly like from_utf8_lossy.
    EXPECT_EQ(t.decode(ids), tok::utf8_lossy(s));
    if (tok::utf8_valid(s)) {
      EXPECT_EQ(t.decode(ids), s);
    }
  }
}

TEST(TokenizerProperty, TenMegabyteLine) {
  const Tokenizer& t = deepseek();
  std::string s;
  s.reserve(10 << 20);
  while (s.size() < (10u << 20)) s += "The quick brown fox jumps over 12345 lazy dogs. ";
  const auto start = std::chrono::steady_clock::now();
  const auto ids = t.encode(s);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(t.decode(ids), s);
  EXPECT_LT(secs, 60.0);
  const std::string run(1 << 20, 'a');  // one 1 MB word: the heap merge keeps this near-linear
  EXPECT_EQ(t.decode(t.encode(run)), run);
}

}  // namespace
}  // namespace frugal

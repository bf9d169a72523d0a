// The output pipeline stages (openai_output.h), each against a slow obvious reference over random
// texts cut into random chunks: a streamed result must not depend on where the chunks fall.
#include <gtest/gtest.h>

#include <random>

#include "serve/openai_output.h"
#include "test_http_util.h"

namespace frugal::serve {
namespace {

// Splits `text` at random byte positions.
std::vector<std::string> random_chunks(const std::string& text, std::mt19937& rng) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t n = 1 + rng() % 6;
    out.push_back(text.substr(pos, n));
    pos += n;
  }
  return out;
}

// ---- StopMatcher ---------------------------------------------------------------------------

// The reference: the text before the earliest occurrence of any stop string.
std::pair<std::string, bool> stop_reference(const std::string& text, const std::vector<std::string>& stops) {
  size_t best = std::string::npos;
  for (const auto& s : stops) best = std::min(best, text.find(s));
  return best == std::string::npos ? std::make_pair(text, false) : std::make_pair(text.substr(0, best), true);
}

TEST(StopMatcher, HoldsBackAPossibleStartAndNeverEmitsTheStop) {
  StopMatcher m({"STOP"});
  auto r = m.push("abc ST");
  EXPECT_EQ(r.text, "abc ");  // "ST" may become "STOP"
  EXPECT_FALSE(r.matched);
  r = m.push("O");
  EXPECT_EQ(r.text, "");
  r = m.push("P and more");
  EXPECT_EQ(r.text, "");
  EXPECT_TRUE(r.matched);
  EXPECT_EQ(m.push("later").text, "");  // nothing after a match
}

TEST(StopMatcher, ReleasesTheTailWhenItCannotBeAStop) {
  StopMatcher m({"STOP"});
  EXPECT_EQ(m.push("ab S").text, "ab ");
  EXPECT_EQ(m.push("x").text, "Sx");
  EXPECT_EQ(m.push("ST").text, "");
  EXPECT_EQ(m.flush(), "ST");  // the end without a match: the held text is output
}

TEST(StopMatcher, EarliestOfSeveralWins) {
  StopMatcher m({"world", "lo w"});
  auto r = m.push("hello world");
  EXPECT_TRUE(r.matched);
  EXPECT_EQ(r.text, "hel");
}

TEST(StopMatcher, MultibyteStopString) {
  StopMatcher m({"中文"});
  std::string out;
  bool matched = false;
  for (const char* piece : {"ab\xE4", "\xB8\xAD", "\xE6\x96\x87", "zz"}) {  // 中 and 文 cut between pushes
    auto r = m.push(piece);
    out += r.text;
    matched = matched || r.matched;
  }
  EXPECT_TRUE(matched);
  EXPECT_EQ(out, "ab");
}

TEST(StopMatcher, AgreesWithTheReferenceOnRandomChunkings) {
  std::mt19937 rng(7);
  const std::string alphabet = "ab ST中";
  for (int trial = 0; trial < 2000; ++trial) {
    std::string text;
    const int len = int(rng() % 40);
    for (int i = 0; i < len; ++i) {
      const size_t k = rng() % 6;
      text += k == 5 ? std::string("中") : std::string(1, alphabet[k]);
    }
    std::vector<std::string> stops;
    for (int s = 0, n = 1 + int(rng() % 3); s < n; ++s) {
      std::string stop;
      for (int i = 0, l = 1 + int(rng() % 3); i < l; ++i) stop += alphabet[rng() % 5];
      stops.push_back(stop);
    }
    StopMatcher m(stops);
    std::string out;
    bool matched = false;
    for (const std::string& c : random_chunks(text, rng)) {
      auto r = m.push(c);
      out += r.text;
      matched = matched || r.matched;
      for (const auto& s : stops) ASSERT_EQ(out.find(s), std::string::npos) << "a stop string was emitted";
    }
    if (!matched) out += m.flush();
    const auto [want, want_matched] = stop_reference(text, stops);
    ASSERT_EQ(out, want) << "text '" << text << "'";
    ASSERT_EQ(matched, want_matched);
  }
}

TEST(StopMatcher, PartialMarkerSuffix) {
  EXPECT_EQ(partial_marker_suffix("abc</th", "</think>"), 4u);
  EXPECT_EQ(partial_marker_suffix("abc<", "</think>"), 1u);
  EXPECT_EQ(partial_marker_suffix("abc", "</think>"), 0u);
  EXPECT_EQ(partial_marker_suffix("</think>", "</think>"), 0u);  // whole markers are found, not held
  EXPECT_EQ(partial_marker_suffix("", "x"), 0u);
}

// ---- ReasoningSplitter -----------------------------------------------------------------------

ChatDelta split_all(const std::vector<std::string>& chunks, bool in_reasoning) {
  ReasoningSplitter s(in_reasoning);
  ChatDelta all;
  for (const auto& c : chunks) {
    ChatDelta d = s.push(c);
    all.reasoning += d.reasoning;
    all.content += d.content;
  }
  ChatDelta d = s.flush();
  all.reasoning += d.reasoning;
  all.content += d.content;
  return all;
}

TEST(ReasoningSplitter, PromptOpenedBlock) {
  auto d = split_all({"\nLet me think", ".</think>\n\nThe answer."}, true);
  EXPECT_EQ(d.reasoning, "Let me think.");
  EXPECT_EQ(d.content, "The answer.");
}

TEST(ReasoningSplitter, ModelOpensTheBlock) {
  auto d = split_all({"<th", "ink>\nhmm</thi", "nk>yes"}, false);
  EXPECT_EQ(d.reasoning, "hmm");
  EXPECT_EQ(d.content, "yes");
}

TEST(ReasoningSplitter, NoBlockIsAllContent) {
  auto d = split_all({"<b>hello</b>"}, false);
  EXPECT_EQ(d.reasoning, "");
  EXPECT_EQ(d.content, "<b>hello</b>");
}

TEST(ReasoningSplitter, UnclosedBlockIsAllReasoning) {
  auto d = split_all({"still thinking </thi"}, true);
  EXPECT_EQ(d.reasoning, "still thinking </thi");
  EXPECT_EQ(d.content, "");
}

TEST(ReasoningSplitter, ChunkingDoesNotMatter) {
  std::mt19937 rng(3);
  const std::vector<std::pair<std::string, bool>> cases = {
      {"a<think>b</think>c", false}, {"<think>\n\nx y z\n</think>\n\nanswer </think> again", false},
      {"r1 r2</think>c1", true}, {" <thinking> is not a tag", false}, {"<think>", false}, {"</think>", true}};
  for (const auto& [text, in] : cases) {
    const ChatDelta want = split_all({text}, in);
    for (int t = 0; t < 200; ++t) {
      const ChatDelta got = split_all(random_chunks(text, rng), in);
      ASSERT_EQ(got.reasoning, want.reasoning) << text;
      ASSERT_EQ(got.content, want.content) << text;
    }
  }
}

// ---- ToolCallParser --------------------------------------------------------------------------

std::string v3_call(const std::string& name, const std::string& args) {
  return std::string(kToolCallBegin) + "function" + std::string(kToolSep) + name + "\n```json\n" + args + "\n```" +
         std::string(kToolCallEnd);
}

ToolCallParser::Delta parse_all(const std::vector<std::string>& chunks) {
  ToolCallParser p;
  ToolCallParser::Delta all;
  auto add = [&](ToolCallParser::Delta d) {
    all.content += d.content;
    for (auto& c : d.calls) all.calls.push_back(c);
  };
  for (const auto& c : chunks) add(p.push(c));
  add(p.flush());
  return all;
}

TEST(ToolCallParser, DeepSeekV3Calls) {
  const std::string text = "Let me check." + std::string(kToolCallsBegin) + v3_call("get_weather", R"({"city": "Paris"})") +
                           "\n" + v3_call("get_time", "{}") + std::string(kToolCallsEnd);
  auto d = parse_all({text});
  EXPECT_EQ(d.content, "Let me check.");
  ASSERT_EQ(d.calls.size(), 2u);
  EXPECT_EQ(d.calls[0].name, "get_weather");
  EXPECT_EQ(d.calls[0].arguments, R"({"city": "Paris"})");
  EXPECT_EQ(d.calls[1].name, "get_time");
  EXPECT_EQ(d.calls[1].arguments, "{}");
  EXPECT_EQ(d.calls[0].id.rfind("call_", 0), 0u);
  EXPECT_NE(d.calls[0].id, d.calls[1].id);
}

TEST(ToolCallParser, V31Format) {
  ToolCall c;
  ASSERT_TRUE(parse_tool_call("search" + std::string(kToolSep) + R"({"q": "x"})", c));
  EXPECT_EQ(c.name, "search");
  EXPECT_EQ(c.arguments, R"({"q": "x"})");
  EXPECT_FALSE(parse_tool_call("no separator here", c));
  EXPECT_FALSE(parse_tool_call("function" + std::string(kToolSep) + "\n```json\n{}\n```", c));  // no name
}

TEST(ToolCallParser, ChunkingDoesNotMatter) {
  const std::string text = "pre " + std::string(kToolCallsBegin) + v3_call("f", R"({"a": [1, 2]})") +
                           std::string(kToolCallsEnd) + " post";
  const auto want = parse_all({text});
  ASSERT_EQ(want.calls.size(), 1u);
  EXPECT_EQ(want.content, "pre  post");
  std::mt19937 rng(5);
  for (int t = 0; t < 300; ++t) {
    const auto got = parse_all(random_chunks(text, rng));
    ASSERT_EQ(got.content, want.content);
    ASSERT_EQ(got.calls.size(), 1u);
    ASSERT_EQ(got.calls[0].name, "f");
    ASSERT_EQ(got.calls[0].arguments, want.calls[0].arguments);
  }
}

TEST(ToolCallParser, UnfinishedBlockStaysVisible) {
  const std::string text = "x" + std::string(kToolCallsBegin) + std::string(kToolCallBegin) + "function" +
                           std::string(kToolSep) + "f\n```json\n{\"a\"";
  auto d = parse_all({text});
  EXPECT_TRUE(d.calls.empty());
  EXPECT_EQ(d.content, text);  // a truncated call is not invented; the raw text is kept
}

TEST(ToolCallParser, MalformedCallIsKeptAsContent) {
  const std::string bad = std::string(kToolCallBegin) + "garbage" + std::string(kToolCallEnd);
  auto d = parse_all({std::string(kToolCallsBegin) + bad + v3_call("g", "{}") + std::string(kToolCallsEnd)});
  ASSERT_EQ(d.calls.size(), 1u);
  EXPECT_EQ(d.calls[0].name, "g");
  EXPECT_EQ(d.content, bad);
}

// ---- IncrementalDecoder ----------------------------------------------------------------------

bool valid_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

TEST(IncrementalDecoder, NeverEmitsHalfACharacter) {
  auto model = test::make_test_model();
  const Tokenizer& tok = *model->tokenizer;
  const std::string text = "héllo 中文 😀 done";
  const std::vector<int32_t> ids = tok.encode(text, false);  // one id per byte: characters span ids
  ASSERT_GT(ids.size(), 20u);
  IncrementalDecoder dec(tok);
  std::string out;
  for (int32_t id : ids) {
    const std::string piece = dec.push(id);
    EXPECT_TRUE(valid_utf8(piece)) << "half a character emitted";
    EXPECT_EQ(piece.find("\xEF\xBF\xBD"), std::string::npos);
    out += piece;
  }
  out += dec.flush();
  EXPECT_EQ(out, text);
}

TEST(IncrementalDecoder, SpecialTokensVanishUnlessStructural) {
  auto model = test::make_test_model();
  const Tokenizer& tok = *model->tokenizer;
  std::vector<int32_t> ids = tok.encode("ab", false);
  ids.insert(ids.begin() + 1, 15);  // <｜▁pad▁｜>: special
  IncrementalDecoder plain(tok);
  std::string out;
  for (int32_t id : ids) out += plain.push(id);
  out += plain.flush();
  EXPECT_EQ(out, "ab");
  // Invalid bytes still come out (as U+FFFD) once 8 tokens did not complete them.
  IncrementalDecoder d2(tok);
  std::string junk;
  for (int i = 0; i < 9; ++i) junk += d2.push(tok.encode("\xC3\xA9", false)[0]);  // lead bytes only
  junk += d2.flush();
  EXPECT_TRUE(valid_utf8(junk));
  EXPECT_NE(junk.find("\xEF\xBF\xBD"), std::string::npos);
}

}  // namespace
}  // namespace frugal::serve

// SFT data (posttrain/sft_data.h, sft_packer.h): which tokens of a rendered conversation are
// trained, how examples are packed into rows, and what malformed JSONL gets. Expected texts are
// written out by hand from the test templates (tests/data/serve/byte_v3: DeepSeek-V3's format;
// byte_r1: R1's, which pre-fills "<think>\n" and drops the reasoning of past answers).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "posttrain/posttrain_test_util.h"
#include "posttrain/sft_data.h"
#include "posttrain/sft_packer.h"

namespace frugal {
namespace {

using test::TempDir;
using ojson = nlohmann::ordered_json;

const std::string kBos = "<｜begin▁of▁sentence｜>", kEos = "<｜end▁of▁sentence｜>", kUser = "<｜User｜>",
                  kAsst = "<｜Assistant｜>";

ojson conversation(std::initializer_list<std::pair<const char*, const char*>> turns) {
  ojson m = ojson::array();
  for (const auto& [role, content] : turns) m.push_back({{"role", role}, {"content", content}});
  return m;
}

// The trained text and the whole text of a segment list.
std::pair<std::string, std::string> texts(const SftSegments& s) {
  std::string trained, all;
  for (const auto& [t, on] : s) {
    all += t;
    if (on) trained += "[" + t + "]";
  }
  return {trained, all};
}

TEST(SftSegments, V3TemplateTrainsEachAnswerThroughItsEos) {
  TempDir dir;
  const ChatFormat fmt(test::micro_model_with_tokenizer(dir, "m", "byte_v3"), "", PromptFormat::kAuto);
  const ojson msgs = conversation({{"system", "S"}, {"user", "Hi"}, {"assistant", "Hello"}, {"user", "Q"},
                                   {"assistant", "A"}});
  const std::vector<SftSegments> ex = sft_segments(fmt, msgs);
  ASSERT_EQ(ex.size(), 1u);  // V3's template renders history as it renders the last turn: one example
  const auto [trained, all] = texts(ex[0]);
  EXPECT_EQ(all, fmt.render(msgs, false));
  EXPECT_EQ(trained, "[Hello" + kEos + "][A" + kEos + "]");
  EXPECT_EQ(all, kBos + "S" + kUser + "Hi" + kAsst + "Hello" + kEos + kUser + "Q" + kAsst + "A" + kEos);
}

TEST(SftSegments, ReasoningIsWrittenInTheR1Format) {
  TempDir dir;
  const ChatFormat fmt(test::micro_model_with_tokenizer(dir, "m", "byte_v3"), "", PromptFormat::kAuto);
  ojson msgs = conversation({{"user", "2+3?"}, {"assistant", "5"}});
  msgs[1]["reasoning_content"] = "add";
  const auto [trained, all] = texts(sft_segments(fmt, msgs).at(0));
  EXPECT_EQ(trained, "[<think>\nadd\n</think>\n\n5" + kEos + "]");
}

TEST(SftSegments, R1TemplateGivesOneExamplePerTurnAndSkipsThePrefill) {
  TempDir dir;
  const ChatFormat fmt(test::micro_model_with_tokenizer(dir, "m", "byte_r1"), "", PromptFormat::kAuto);
  ojson msgs = conversation({{"user", "Hi"}, {"assistant", "Hello"}, {"user", "Q"}, {"assistant", "A"}});
  msgs[3]["reasoning_content"] = "think";
  const std::vector<SftSegments> ex = sft_segments(fmt, msgs);
  ASSERT_EQ(ex.size(), 2u);
  // The prompt ends with the pre-filled "<think>\n"; the trained text is what generation adds.
  EXPECT_EQ(texts(ex[0]).second, kBos + kUser + "Hi" + kAsst + "<think>\nHello" + kEos);
  EXPECT_EQ(texts(ex[0]).first, "[Hello" + kEos + "]");
  EXPECT_EQ(texts(ex[1]).second,
            kBos + kUser + "Hi" + kAsst + "Hello" + kEos + kUser + "Q" + kAsst + "<think>\nthink\n</think>\n\nA" + kEos);
  EXPECT_EQ(texts(ex[1]).first, "[think\n</think>\n\nA" + kEos + "]");
}

TEST(SftSegments, PlainFormatWithoutTemplate) {
  TempDir dir;
  const std::string m = test::micro_model_with_tokenizer(dir, "m", "byte_v3", /*config=*/false);
  const ChatFormat fmt(m, "", PromptFormat::kAuto);
  EXPECT_FALSE(fmt.uses_chat_template());
  const auto [trained, all] = texts(sft_segments(fmt, conversation({{"user", "Hi"}, {"assistant", "Yo"}})).at(0));
  EXPECT_EQ(all, "User: Hi\nAssistant: Yo\n");
  EXPECT_EQ(trained, "[ Yo\n]");  // no eos_token without tokenizer_config.json: the turn's whole text
  test::expect_error([&] { sft_segments(fmt, conversation({{"tool", "x"}, {"assistant", "y"}})); },
                     ErrorKind::kInvalidArgument, {"messages[0].role = 'tool'"});
}

TEST(SftSegments, MalformedMessagesNameTheField) {
  TempDir dir;
  const ChatFormat fmt(test::micro_model_with_tokenizer(dir, "m", "byte_v3"), "", PromptFormat::kAuto);
  auto err = [&](const ojson& m, const std::string& needle) {
    test::expect_error([&] { sft_segments(fmt, m); }, ErrorKind::kInvalidArgument, {needle});
  };
  err(ojson::array(), "messages: expected a non-empty array");
  err(ojson::object(), "messages: expected a non-empty array");
  err(ojson::array({1}), "messages[0]: expected an object");
  err(ojson::array({{{"content", "x"}}}), "messages[0].role");
  err(ojson::array({{{"role", "user"}, {"content", 3}}}), "messages[0].content: expected a string");
  err(ojson::array({{{"role", "user"}, {"content", "x"}, {"reasoning_content", "r"}}}), "only assistant turns");
  EXPECT_TRUE(sft_segments(fmt, conversation({{"user", "x"}})).empty());  // no assistant turn: no example
}

TEST(SftJsonl, BadLinesStopOrAreSkippedWithLineNumbers) {
  TempDir dir;
  const ChatFormat fmt(test::micro_model_with_tokenizer(dir, "m", "byte_v3"), "", PromptFormat::kAuto);
  const std::string good = R"({"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]})";
  const std::string path = dir.file("d.jsonl");
  test::write_bytes(path, good + "\n\n{not json\n" + R"({"messages":[{"role":"user","content":"q"}]})" + "\n" +
                              R"({"text":"x"})" + "\n" + good + "\n");
  test::expect_error([&] { load_sft_jsonl(path, fmt, BadLinePolicy::kStop, nullptr); }, ErrorKind::kFormat,
                     {path + ":3", "not valid JSON", "on_bad_line"});
  SftLoadReport r;
  const std::vector<SftExample> ex = load_sft_jsonl(path, fmt, BadLinePolicy::kSkip, &r);
  EXPECT_EQ(ex.size(), 2u);
  EXPECT_EQ(ex[0].line, 1);
  EXPECT_EQ(ex[1].line, 6);
  EXPECT_EQ(r.lines, 5);
  EXPECT_EQ(r.bad_lines, 2);
  EXPECT_EQ(r.no_assistant, 1);
  ASSERT_EQ(r.notes.size(), 3u);
  EXPECT_NE(r.notes[1].find(path + ":4: no assistant turn"), std::string::npos) << r.notes[1];
  EXPECT_NE(r.notes[2].find(path + ":5"), std::string::npos) << r.notes[2];
  EXPECT_NE(r.notes[2].find("\"messages\""), std::string::npos) << r.notes[2];
  // Nothing trainable at all is an error naming the file.
  test::write_bytes(path, R"({"messages":[{"role":"user","content":"q"}]})" "\n");
  test::expect_error([&] { load_sft_jsonl(path, fmt, BadLinePolicy::kSkip, nullptr); },
                     ErrorKind::kInvalidArgument, {path, "no conversation with an assistant turn"});
}

TEST(SftJsonl, TokensAreTheSegmentsTokenizedOneByOne) {
  TempDir dir;
  const ChatFormat fmt(test::micro_model_with_tokenizer(dir, "m", "byte_v3"), "", PromptFormat::kAuto);
  const std::vector<SftSegments> seg = sft_segments(fmt, conversation({{"user", "Hi"}, {"assistant", "Yo"}}));
  const SftExample ex = sft_tokenize(fmt, seg.at(0), 7);
  std::vector<int32_t> want;
  std::vector<uint8_t> flags;
  for (const auto& [t, on] : seg[0]) {
    const std::vector<int32_t> ids = fmt.encode(t);
    want.insert(want.end(), ids.begin(), ids.end());
    flags.insert(flags.end(), ids.size(), on);
  }
  EXPECT_EQ(ex.tokens, want);
  EXPECT_EQ(ex.trained, flags);
  EXPECT_EQ(ex.line, 7);
  // "Yo" + EOS: 2 bytes and the special token are trained.
  int trained = 0;
  for (uint8_t f : ex.trained) trained += f;
  EXPECT_EQ(trained, 3);
}

SftExample example(std::vector<int32_t> tokens, std::vector<uint8_t> trained) {
  return SftExample{std::move(tokens), std::move(trained), 1};
}

TEST(SftPacker, RowsByHand) {
  // T = 6: examples of 3, 2 and 4 tokens in file order. Row 0 holds the first two (5 tokens) and
  // one pad; row 1 the third and two pads. A target is the next token when that one is trained.
  std::vector<SftExample> ex = {example({10, 11, 12}, {0, 1, 1}), example({20, 21}, {0, 1}),
                                example({30, 31, 32, 33}, {0, 0, 1, 1})};
  SftPacker p(ex, {}, 2, 6, 0, false, 99, "mem", "three examples");
  EXPECT_EQ(p.stats().rows, 2);
  EXPECT_EQ(p.stats().tokens, 9);
  MicroBatch mb;
  p.next(mb);
  EXPECT_EQ(mb.B, 2);
  EXPECT_EQ(mb.inputs, (std::vector<int32_t>{10, 11, 12, 20, 21, 99, 30, 31, 32, 33, 99, 99}));
  EXPECT_EQ(mb.targets, (std::vector<int32_t>{11, 12, -1, 21, -1, -1, -1, 32, 33, -1, -1, -1}));
  EXPECT_EQ(mb.positions, (std::vector<int32_t>{0, 1, 2, 0, 1, 0, 0, 1, 2, 3, 0, 1}));
  EXPECT_EQ(p.rows_seen(), 2);
  // The next epoch starts over (no shuffle: the same rows).
  MicroBatch again;
  p.next(again);
  EXPECT_EQ(again.inputs, mb.inputs);
  EXPECT_GE(p.max_id(), 99);
}

TEST(SftPacker, TruncatesLongExamplesAndResumesExactly) {
  std::vector<SftExample> ex;
  for (int i = 0; i < 7; ++i) {
    std::vector<int32_t> t(size_t(2 + i % 4 * 3), 40 + i);
    ex.push_back(example(t, std::vector<uint8_t>(t.size(), 1)));
  }
  ex.push_back(example(std::vector<int32_t>(20, 5), std::vector<uint8_t>(20, 1)));
  SftPacker a(ex, {}, 3, 8, 42, true, 0, "mem", "");
  EXPECT_EQ(a.stats().truncated, 2);  // lengths 2 5 8 11 2 5 8 20: 11 and 20 exceed T = 8
  MicroBatch mb;
  for (int s = 0; s < 3; ++s) a.next(mb);
  const nlohmann::json st = a.state();
  std::vector<MicroBatch> rest(4);
  for (MicroBatch& m : rest) a.next(m);
  SftPacker b(ex, {}, 3, 8, 42, true, 0, "mem", "");
  b.restore(st);
  for (const MicroBatch& m : rest) {
    MicroBatch got;
    b.next(got);
    EXPECT_EQ(got.inputs, m.inputs);
    EXPECT_EQ(got.targets, m.targets);
    EXPECT_EQ(got.positions, m.positions);
  }
  // Other data or another cut is refused, naming what differs.
  std::vector<SftExample> other = ex;
  other[0].tokens[0] = 41;
  SftPacker c(other, {}, 3, 8, 42, true, 0, "mem", "");
  test::expect_error([&] { c.restore(st); }, ErrorKind::kInvalidArgument, {"fingerprint", "data file"});
  SftPacker d(ex, {}, 3, 9, 42, true, 0, "mem", "");
  test::expect_error([&] { d.restore(st); }, ErrorKind::kInvalidArgument, {"seq_len = 8", "9"});
}

TEST(SftPacker, DropsExamplesWhoseAnswerLiesBeyondT) {
  // T = 4: the first example's only trained tokens are its 5th and 6th (cut off), the second's
  // trained token is its 4th (input 2 predicts it): kept.
  std::vector<SftExample> ex = {example({1, 2, 3, 4, 5, 6}, {0, 0, 0, 0, 1, 1}), example({7, 8, 9, 10}, {0, 0, 0, 1})};
  SftPacker p(ex, {}, 1, 4, 0, false, 0, "mem", "");
  EXPECT_EQ(p.stats().dropped, 1);
  MicroBatch mb;
  p.next(mb);
  EXPECT_EQ(mb.inputs, (std::vector<int32_t>{7, 8, 9, 10}));
  EXPECT_EQ(mb.targets, (std::vector<int32_t>{-1, -1, 10, -1}));
  test::expect_error([&] { SftPacker({ex[0]}, {}, 1, 4, 0, false, 0, "mem", ""); }, ErrorKind::kInvalidArgument,
                     {"no example has an assistant token within its first data.seq_len = 4", "--seq-len"});
}

TEST(SftPacker, ValidationIsFixedAndOnlyItsRows) {
  std::vector<SftExample> val = {example({1, 2, 3}, {0, 1, 1}), example({4, 5, 6, 7}, {0, 1, 1, 1}),
                                 example({8, 9}, {0, 1})};
  SftPacker p({example({1, 2}, {0, 1})}, val, 2, 4, 0, false, 0, "mem", "");
  const std::vector<MicroBatch> v = p.validation(8);
  ASSERT_EQ(v.size(), 2u);  // rows [1 2 3 pad], [4 5 6 7] | [8 9 pad pad]
  EXPECT_EQ(v[0].B, 2);
  EXPECT_EQ(v[1].B, 1);
  EXPECT_EQ(v[1].inputs, (std::vector<int32_t>{8, 9, 0, 0}));
  EXPECT_EQ(v[1].targets, (std::vector<int32_t>{9, -1, -1, -1}));
  EXPECT_EQ(p.validation(1).size(), 1u);
  EXPECT_EQ(p.validation(8)[0].inputs, v[0].inputs);
}

}  // namespace
}  // namespace frugal

// Work per request in the OpenAI layer (issue 12): special-token escaping through the trie agrees
// with the token-by-token definition; /tokenize with pieces is written without a JSON tree and
// says the same; an oversized prompt is refused with the limit and its size. The timings and peak
// memory of the old and new code are printed by bench/bench_request_bounds.cpp.
#include <gtest/gtest.h>

#include <random>

#include "serve/openai_error.h"
#include "serve/openai_request.h"
#include "serve/openai_tokenize.h"
#include "serve/special_escape.h"
#include "serve/tokenize_json.h"
#include "test_http_util.h"
#include "tokenizer/tokenizer_impl.h"

namespace frugal::serve {
namespace {

using ojson = nlohmann::ordered_json;

const std::vector<std::string>& v3_specials() {
  static const std::vector<std::string> s =
      added_token_strings(tok::read_tokenizer_file(std::string(FRUGAL_TEST_DATA) + "/tokenizer/deepseek_v3", nullptr));
  return s;
}

TEST(SpecialEscaper, AgreesWithTheDefinitionOnRandomTexts) {
  ASSERT_GT(v3_specials().size(), 800u);
  const SpecialEscaper esc(v3_specials());
  std::mt19937 rng(3);
  // Texts glued from pieces of special tokens, whole ones, '<' and plain letters.
  std::vector<std::string> bits = {"<", "｜", "a", " ", "<｜", "｜>", "▁"};
  for (int k = 0; k < 40; ++k) {
    const std::string& s = v3_specials()[rng() % v3_specials().size()];
    bits.push_back(s);
    bits.push_back(s.substr(0, rng() % s.size()));
  }
  for (int round = 0; round < 300; ++round) {
    std::string text;
    const int n = int(rng() % 30);
    for (int k = 0; k < n; ++k) text += bits[rng() % bits.size()];
    ASSERT_EQ(esc.escape(text), escape_specials_ref(text, v3_specials())) << text;
  }
}

TEST(SpecialEscaper, AMegabyteOfAngleBrackets) {
  // Every position starts like 800 special tokens; only the real one gets the marker.
  const SpecialEscaper esc(v3_specials());
  const std::string lts(1 << 20, '<');
  const std::string out = esc.escape(lts + "<｜User｜>" + lts);
  EXPECT_EQ(out, lts + "<" + kSpecialMarker + "｜User｜>" + lts);
}

TEST(TokenizeJson, SameAnswerAsTheJsonTree) {
  auto m = test::make_test_model();
  for (const std::string& text : {std::string(""), std::string("héllo \"world\"\n\t\\"), std::string("\xC3")}) {
    std::vector<int32_t> ids = m->tokenizer->encode(text, false);
    ids.push_back(0);  // a special token
    for (bool pieces : {false, true})
      EXPECT_EQ(tokenize_json(*m->tokenizer, ids, pieces, 256), tokenize_json_ref(*m->tokenizer, ids, pieces, 256));
  }
}

TEST(TokenizeRoute, PiecesOfALongText) {
  test::TestServer s;
  auto c = s.client();
  std::string text;
  for (int k = 0; k < 100000; ++k) text += "a1";
  auto res = c.Post("/tokenize", ojson{{"content", text}, {"with_pieces", true}, {"add_special", false}}.dump(),
                    "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  const std::vector<int32_t> ids = s.ids(text);
  EXPECT_EQ(res->body, tokenize_json_ref(*s.model->tokenizer, ids, true, 256));
}

// The longest completion prompt that fits: ctx - 1 tokens (one is left to generate).
TEST(PromptLimit, RefusedBeforeTokenizingItAll) {
  auto m = test::make_test_model("byte_v3", 256);
  const RequestLimits lim;
  std::string text;
  while (encode_completion_prompt(text, *m).size() < 255) text += 'a';
  ASSERT_EQ(encode_completion_prompt(text, *m).size(), 255u);
  EXPECT_EQ(parse_completion_request(ojson{{"prompt", text}}, *m, lim).gen.prompt.size(), 255u);
  try {
    parse_completion_request(ojson{{"prompt", text + "a"}}, *m, lim);
    FAIL() << "expected context_length_exceeded";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code, "context_length_exceeded");
    EXPECT_EQ(e.param, "prompt");
    const std::string msg = e.what();
    EXPECT_NE(msg.find("maximum context length is 256 tokens"), std::string::npos) << msg;
    EXPECT_NE(msg.find("more than 255 tokens"), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::to_string(text.size() + 1) + " bytes"), std::string::npos) << msg;
  }
  // A long chat prompt: the same, naming "messages"; encoding stopped near the limit.
  const std::string big(3 << 20, 'b');
  std::vector<int32_t> partial;
  EXPECT_FALSE(m->tokenizer->encode_at_most(big, 255, partial));
  EXPECT_LT(partial.size(), 1000u);  // (one piece: no BPE on it at all)
  try {
    parse_chat_request(ojson{{"messages", ojson::array({{{"role", "user"}, {"content", big}}})}}, *m, lim);
    FAIL() << "expected context_length_exceeded";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code, "context_length_exceeded");
    EXPECT_EQ(e.param, "messages");
    EXPECT_NE(std::string(e.what()).find("more than 255 tokens"), std::string::npos) << e.what();
  }
  // /tokenize counts prompts of any length (it is how a client learns the count).
  const std::string longer(4096, 'b');
  EXPECT_GT(render_chat_prompt(ojson{{"messages", ojson::array({{{"role", "user"}, {"content", longer}}})}}, *m).ids.size(),
            size_t(4096));
}

// The server's abort flag reaches the chat-template render of every route that renders one: with
// it set, a render stops ("cancelled") instead of running out its budget during shutdown.
TEST(TemplateCancel, TheAbortFlagEndsChatRenders) {
  auto m = test::make_test_model("byte_v3", 256);
  const ojson chat = {{"messages", ojson::array({{{"role", "user"}, {"content", "hi"}}})}};
  std::atomic<bool> abort{false};
  RequestLimits lim;
  lim.cancel = &abort;
  EXPECT_FALSE(parse_chat_request(chat, *m, lim).gen.prompt.empty());  // not set: renders
  abort = true;
  for (int route = 0; route < 3; ++route) {
    try {
      if (route == 0) parse_chat_request(chat, *m, lim);
      if (route == 1) tokenize_response(chat, *m, lim.cancel);
      if (route == 2) apply_template_response(chat, *m, lim.cancel);
      ADD_FAILURE() << "route " << route << " rendered with the abort flag set";
    } catch (const ApiError& e) {
      EXPECT_NE(std::string(e.what()).find("cancelled"), std::string::npos) << route << ": " << e.what();
    }
  }
}

}  // namespace
}  // namespace frugal::serve

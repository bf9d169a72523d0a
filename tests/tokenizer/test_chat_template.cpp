// Chat templates against the Hugging Face reference renderings (tests/data/tokenizer/*/chat.jsonl,
// produced with @huggingface/jinja 0.5.11 and tokenizers 0.23.2): the rendered text and its ids;
// tokenizer_config.json loading; and the `frugal chat-template` command.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "test_util.h"
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace frugal {
namespace {

using ojson = nlohmann::ordered_json;

std::string data_dir(const std::string& name) { return std::string(FRUGAL_TEST_DATA) + "/tokenizer/" + name; }

std::vector<ojson> read_jsonl(const std::string& path) {
  std::ifstream f(path);
  EXPECT_TRUE(f.good()) << path;
  std::vector<ojson> out;
  std::string line;
  while (std::getline(f, line))
    if (!line.empty()) out.push_back(ojson::parse(line));
  return out;
}

class ChatTemplateVectors : public ::testing::TestWithParam<const char*> {};

TEST_P(ChatTemplateVectors, RenderedTextMatchesReference) {
  const std::string dir = data_dir(GetParam());
  const TokenizerConfig cfg = TokenizerConfig::load(dir);
  ASSERT_FALSE(cfg.chat_template.empty());
  const ChatTemplate tmpl(cfg.chat_template);
  const auto cases = read_jsonl(dir + "/chat.jsonl");
  ASSERT_GE(cases.size(), 5u);
  for (const ojson& c : cases) {
    const std::string got = render_chat(tmpl, cfg, ChatRequest::from_json(c));
    EXPECT_EQ(got, c["rendered"].get<std::string>()) << GetParam() << " / " << c["name"];
  }
}

TEST_P(ChatTemplateVectors, IdsMatchReference) {
  const std::string dir = data_dir(GetParam());
  const TokenizerConfig cfg = TokenizerConfig::load(dir);
  const ChatTemplate tmpl(cfg.chat_template);
  const Tokenizer tok = Tokenizer::load(dir);
  for (const ojson& c : read_jsonl(dir + "/chat.jsonl")) {
    const std::string rendered = render_chat(tmpl, cfg, ChatRequest::from_json(c));
    // The template writes BOS itself; Hugging Face encodes without adding special tokens.
    EXPECT_EQ(tok.encode(rendered, /*add_special_tokens=*/false), c["ids"].get<std::vector<int32_t>>())
        << GetParam() << " / " << c["name"];
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, ChatTemplateVectors, ::testing::Values("deepseek_v3", "qwen3"));

TEST(ChatTemplate, TemplateFileMatchesConfig) {
  for (const char* name : {"deepseek_v3", "qwen3"}) {
    std::ifstream f(data_dir(name) + "/chat_template.jinja");
    const std::string file((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const TokenizerConfig cfg = TokenizerConfig::load(data_dir(name) + "/tokenizer_config.json");
    EXPECT_EQ(ChatTemplate(file).render({{"messages", ojson::array({{{"role", "user"}, {"content", "x"}}})}}),
              ChatTemplate(cfg.chat_template).render({{"messages", ojson::array({{{"role", "user"}, {"content", "x"}}})}}))
        << name;
  }
}

TEST(ChatTemplate, ConfigSpecialTokens) {
  const TokenizerConfig ds = TokenizerConfig::load(data_dir("deepseek_v3"));
  EXPECT_EQ(ds.bos_token, "<｜begin▁of▁sentence｜>");  // from an AddedToken object
  EXPECT_EQ(ds.eos_token, "<｜end▁of▁sentence｜>");
  EXPECT_TRUE(ds.add_bos_token);
  const TokenizerConfig qw = TokenizerConfig::load(data_dir("qwen3"));
  EXPECT_FALSE(qw.bos_token.has_value());  // null
  EXPECT_EQ(qw.eos_token, "<|im_end|>");    // plain string
  EXPECT_FALSE(qw.add_bos_token);
}

TEST(ChatTemplate, ConfigTemplateForms) {
  const TokenizerConfig list = TokenizerConfig::from_json_text(
      R"({"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D{{ bos_token }}"}],
          "bos_token": {"content": "<s>"}})",
      "cfg");
  EXPECT_EQ(list.chat_template, "D{{ bos_token }}");
  ChatRequest r;
  EXPECT_EQ(render_chat(ChatTemplate(list.chat_template), list, r), "D<s>");
  EXPECT_TRUE(TokenizerConfig::from_json_text("{}", "cfg").chat_template.empty());
  EXPECT_THROW(TokenizerConfig::from_json_text(R"({"chat_template": [{"name": "x", "template": "y"}]})", "cfg"), Error);
  EXPECT_THROW(TokenizerConfig::from_json_text(R"({"chat_template": 3})", "cfg"), Error);
  EXPECT_THROW(TokenizerConfig::from_json_text(R"({"bos_token": 3})", "cfg"), Error);
  EXPECT_THROW(TokenizerConfig::from_json_text("{not json", "cfg"), Error);
  EXPECT_THROW(TokenizerConfig::load("/nonexistent/dir"), Error);
}

TEST(ChatTemplate, RequestValidation) {
  EXPECT_THROW(ChatRequest::from_json(ojson::parse(R"({"add_generation_prompt": true})")), Error);
  EXPECT_THROW(ChatRequest::from_json(ojson::parse(R"({"messages": {}})")), Error);
  EXPECT_THROW(ChatRequest::from_json(ojson::parse(R"({"messages": [1]})")), Error);
  EXPECT_THROW(ChatRequest::from_json(ojson::parse(R"({"messages": [], "add_generation_prompt": "yes"})")), Error);
  EXPECT_THROW(ChatRequest::from_json(ojson::parse(R"({"messages": [], "tools": {}})")), Error);
  const ChatRequest r = ChatRequest::from_json(
      ojson::parse(R"({"messages": [], "tools": [{"a": 1}], "chat_template_kwargs": {"enable_thinking": false}})"));
  const ChatTemplate t("{{ tools|tojson }} {{ enable_thinking }} {{ documents is none }} {{ add_generation_prompt }}");
  EXPECT_EQ(render_chat(t, TokenizerConfig{}, r), "[{\"a\": 1}] False True False");
}

TEST(ChatTemplate, QwenThinkingSwitchAndTools) {
  const std::string dir = data_dir("qwen3");
  const TokenizerConfig cfg = TokenizerConfig::load(dir);
  const ChatTemplate tmpl(cfg.chat_template);
  const ChatRequest r = ChatRequest::from_json(ojson::parse(R"({"messages": [{"role": "user", "content": "Hi"}],
      "add_generation_prompt": true, "chat_template_kwargs": {"enable_thinking": false},
      "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]})"));
  EXPECT_EQ(render_chat(tmpl, cfg, r),
            "<|im_start|>system\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
            "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
            "{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {\"type\": \"object\"}}}\n"
            "</tools>\n\nFor each function call, return a json object with function name and arguments within "
            "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
            "<args-json-object>}\n</tool_call><|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\n<think>\n\n</think>\n\n");
}

std::string run(const std::string& cmd, int* rc) {
  auto r = test::run_command(cmd);
  *rc = r.rc;
  return r.out;
}

TEST(ChatTemplateCommand, JsonlRenderedAndIds) {
  ASSERT_TRUE(std::filesystem::exists(FRUGAL_BINARY)) << FRUGAL_BINARY " missing: the test target depends on it";
  const std::string dir = data_dir("deepseek_v3");
  int rc = -1;
  const std::string out = run(std::string(FRUGAL_BINARY) + " chat-template --tokenizer " + dir + " --jsonl < " + dir +
                                  "/chat.jsonl",
                              &rc);
  ASSERT_EQ(rc, 0) << out;
  const auto want = read_jsonl(dir + "/chat.jsonl");
  std::istringstream lines(out);
  std::string line;
  size_t k = 0;
  for (; std::getline(lines, line); ++k) {
    ASSERT_LT(k, want.size());
    const ojson got = ojson::parse(line);
    EXPECT_EQ(got["rendered"], want[k]["rendered"]);
    EXPECT_EQ(got["ids"], want[k]["ids"]);
  }
  EXPECT_EQ(k, want.size());
}

TEST(ChatTemplateCommand, BadInputIsAnErrorNotACrash) {
  ASSERT_TRUE(std::filesystem::exists(FRUGAL_BINARY)) << FRUGAL_BINARY " missing: the test target depends on it";
  const std::string dir = data_dir("qwen3");
  int rc = -1;
  run("printf '{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}\\n{bad\\n' | " + std::string(FRUGAL_BINARY) +
          " chat-template --tokenizer " + dir + " --jsonl --no-ids 2>&1",
      &rc);
  EXPECT_NE(rc, 0);
  const std::string out = run("printf '{\"messages\": [{\"role\": \"user\"}]}' | " + std::string(FRUGAL_BINARY) +
                                  " chat-template --tokenizer " + dir + " 2>&1",
                              &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("template line"), std::string::npos) << out;
}

}  // namespace
}  // namespace frugal

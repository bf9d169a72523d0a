// Reference vectors from Hugging Face `tokenizers` (tests/data/tokenizer/*): every encode case
// (ids, and pre-tokenizer pieces where given) and every decode case must match exactly.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"

namespace frugal {
namespace {

using json = nlohmann::json;

std::string data_dir(const std::string& name) { return std::string(FRUGAL_TEST_DATA) + "/tokenizer/" + name; }

std::vector<json> read_jsonl(const std::string& path) {
  std::istringstream in(tok::read_tokenizer_file(path, nullptr));
  std::vector<json> out;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

const Tokenizer& get(const std::string& name) {
  static std::map<std::string, Tokenizer> cache;
  auto it = cache.find(name);
  if (it == cache.end()) it = cache.emplace(name, Tokenizer::load(data_dir(name))).first;
  return it->second;
}

class Vectors : public ::testing::TestWithParam<std::string> {};

TEST_P(Vectors, EncodeMatchesReference) {
  const Tokenizer& t = get(GetParam());
  const auto cases = read_jsonl(data_dir(GetParam()) + "/vectors.jsonl.gz");
  ASSERT_GT(cases.size(), 100u);
  int ok = 0, pretok_checked = 0;
  for (const auto& c : cases) {
    const std::string text = c["text"];
    const auto ids = t.encode(text, false);
    EXPECT_EQ(ids, c["ids"].get<std::vector<int32_t>>()) << GetParam() << " case " << c["name"];
    if (ids == c["ids"].get<std::vector<int32_t>>()) ++ok;
    // Decoding what we encoded gives the text back (DeepSeek-V3 has no normalizer).
    if (GetParam() == "deepseek_v3") {
      EXPECT_EQ(t.decode(ids), text) << "roundtrip " << c["name"];
    }
    if (c.contains("pretok")) {
      ++pretok_checked;
      EXPECT_EQ(t.pre_tokenize(text), c["pretok"].get<std::vector<std::string>>()) << "pretok " << c["name"];
    }
    if (c.contains("tokens")) {
      std::vector<std::string> toks;
      for (int32_t id : ids) toks.push_back(t.id_to_token(id).value_or("?"));
      EXPECT_EQ(toks, c["tokens"].get<std::vector<std::string>>()) << "tokens " << c["name"];
    }
    if (c.contains("decoded")) {
      EXPECT_EQ(t.decode(ids, false), c["decoded"].get<std::string>()) << c["name"];
    }
    if (c.contains("decoded_skip_special")) {
      EXPECT_EQ(t.decode(ids, true), c["decoded_skip_special"].get<std::string>()) << c["name"];
    }
  }
  EXPECT_EQ(ok, int(cases.size()));
  EXPECT_GT(pretok_checked, 100);
}

TEST_P(Vectors, DecodeMatchesReference) {
  const Tokenizer& t = get(GetParam());
  const auto cases = read_jsonl(data_dir(GetParam()) + "/decode.jsonl");
  ASSERT_GT(cases.size(), 10u);
  for (const auto& c : cases) {
    const auto ids = c["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(t.decode(ids, false), c["text"].get<std::string>()) << c["name"];
    EXPECT_EQ(t.decode(ids, true), c["text_skip_special"].get<std::string>()) << c["name"];
  }
}

TEST_P(Vectors, ChatIdsMatchWhenRenderedTextIsEncoded) {
  // chat.jsonl carries rendered prompts with their reference ids: a long, special-token-dense check.
  const Tokenizer& t = get(GetParam());
  for (const auto& c : read_jsonl(data_dir(GetParam()) + "/chat.jsonl")) {
    if (!c.contains("rendered") || !c.contains("ids")) continue;
    EXPECT_EQ(t.encode(c["rendered"].get<std::string>(), false), c["ids"].get<std::vector<int32_t>>()) << c.dump().substr(0, 80);
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, Vectors, ::testing::Values("deepseek_v3", "qwen3"));

TEST(TokenizerMeta, SizesAndSpecials) {
  const Tokenizer& ds = get("deepseek_v3");
  EXPECT_EQ(ds.vocab_size(), 128815);
  EXPECT_TRUE(ds.is_special(0));
  EXPECT_TRUE(ds.is_special(1));
  EXPECT_FALSE(ds.is_special(128803));  // <｜User｜> is added but not special
  EXPECT_EQ(ds.token_to_id("<｜end▁of▁sentence｜>"), 1);
  EXPECT_FALSE(ds.token_to_id("<think>").has_value());
  const Tokenizer& qw = get("qwen3");
  EXPECT_EQ(qw.token_to_id("<think>"), 151667);
  EXPECT_EQ(qw.token_to_id("</think>"), 151668);
}

}  // namespace
}  // namespace frugal

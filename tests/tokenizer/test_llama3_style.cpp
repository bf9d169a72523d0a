// A Llama-3-style tokenizer.json (Llama 3's pre-tokenizer regex with its case-insensitive
// contraction group and `\s+(?!\S)` lookahead, ignore_merges, an NFC normalizer, a BOS
// TemplateProcessing, special and non-special added tokens with single_word/lstrip) built over a
// frugal-trained vocabulary. The expected ids and decodings in tests/data/tokenizer/llama3_style
// were produced by Hugging Face `tokenizers` 0.23.2 (its Node binding) on the texts of the
// DeepSeek-V3 vector set (less the Unicode-16 case) plus contraction/added-token cases.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"

namespace frugal {
namespace {

TEST(Llama3Style, EncodeAndDecodeMatchHuggingFace) {
  const std::string dir = std::string(FRUGAL_TEST_DATA) + "/tokenizer/llama3_style";
  const Tokenizer t = Tokenizer::load(dir + "/tokenizer.json.gz");
  std::istringstream in(tok::read_tokenizer_file(dir + "/vectors.jsonl.gz", nullptr));
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const auto c = nlohmann::json::parse(line);
    const std::string text = c["text"];
    const auto ids = c["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(t.encode(text, false), ids) << text;
    EXPECT_EQ(t.encode(text, true), c["ids_with_special"].get<std::vector<int32_t>>()) << text;
    EXPECT_EQ(t.decode(ids, false), c["decoded"].get<std::string>()) << text;
    EXPECT_EQ(t.decode(ids, true), c["decoded_skip_special"].get<std::string>()) << text;
    ++n;
  }
  EXPECT_EQ(n, 191);
}

}  // namespace
}  // namespace frugal

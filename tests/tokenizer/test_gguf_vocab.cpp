// The tokenizer embedded in a GGUF (tokenizer/gguf_vocab.h): DeepSeek-V3's tokenizer.json written
// as tokenizer.ggml.* keys (what `frugal export-gguf` writes, llama.cpp's layout) and read back by
// Tokenizer::load(.gguf) encodes every reference vector of Hugging Face `tokenizers` to the same
// ids and decodes them back; BOS/EOS, add_bos_token, the chat template and the refusals.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/file.h"
#include "core/gguf.h"
#include "core/gguf_writer.h"
#include "test_util.h"
#include "tokenizer/gguf_vocab.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"

namespace frugal {
namespace {

std::string gv_v3_dir() { return std::string(FRUGAL_TEST_DATA) + "/tokenizer/deepseek_v3"; }

TEST(GgufVocab, DeepSeekV3RoundTripMatchesTheReferenceVectors) {
  test::TempDir tmp;
  const std::string dir = tmp.file("v3");
  std::filesystem::create_directories(dir);
  write_file_atomic(path_join(dir, "tokenizer.json"), tok::read_tokenizer_file(gv_v3_dir(), nullptr));
  std::filesystem::copy_file(path_join(gv_v3_dir(), "tokenizer_config.json"), path_join(dir, "tokenizer_config.json"));
  const Tokenizer hf = Tokenizer::load(dir);
  GgufWriter w;
  add_gguf_vocab(w, dir, 129280, -1, -1);  // V3's vocab_size (ids past the tokenizer's become [PAD<id>])
  const std::string g = tmp.file("v3.gguf");
  w.write(g);
  const GgufFile f(g);
  EXPECT_EQ(f.get_string("tokenizer.ggml.pre"), "deepseek-v3");
  EXPECT_EQ(f.get_int("tokenizer.ggml.bos_token_id"), 0);  // from tokenizer_config.json's bos_token text
  EXPECT_EQ(f.get_int("tokenizer.ggml.eos_token_id"), 1);
  EXPECT_FALSE(gguf_tokenizer_config(f).chat_template.empty());

  const Tokenizer t = Tokenizer::load(g);
  std::istringstream in(tok::read_tokenizer_file(gv_v3_dir() + "/vectors.jsonl.gz", nullptr));
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const nlohmann::json c = nlohmann::json::parse(line);
    const std::string text = c["text"];
    const std::vector<int32_t> ids = t.encode(text, false);
    EXPECT_EQ(ids, c["ids"].get<std::vector<int32_t>>()) << c["name"];
    EXPECT_EQ(t.decode(ids), hf.decode(ids)) << c["name"];
    ++n;
  }
  EXPECT_GT(n, 100);
  // add_bos_token is true in V3's tokenizer_config.json: the post-processor prepends BOS (id 0).
  EXPECT_EQ(t.encode("Hi", true).front(), 0);
  EXPECT_TRUE(t.is_special(1));
  EXPECT_EQ(t.id_to_token(129279), "[PAD129279]");
}

TEST(GgufVocab, RefusesWhatItCannotRead) {
  test::TempDir tmp;
  auto file_with = [&](const std::string& name, const std::function<void(GgufWriter&)>& add) {
    GgufWriter w;
    add(w);
    const std::string p = tmp.file(name + ".gguf");
    w.write(p);
    return p;
  };
  auto expect_error = [](const std::string& path, const std::string& needle) {
    try {
      Tokenizer::load(path);
      ADD_FAILURE() << "loaded " << path;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(file_with("none", [](GgufWriter&) {}), "tokenizer.ggml.model");
  expect_error(file_with("spm", [](GgufWriter& w) { w.add_string("tokenizer.ggml.model", "llama"); }),
               "tokenizer.ggml.model is 'llama'");
  expect_error(file_with("pre", [](GgufWriter& w) {
                 w.add_string("tokenizer.ggml.model", "gpt2");
                 w.add_string("tokenizer.ggml.pre", "deepseek-llm");
                 w.add_string_array("tokenizer.ggml.tokens", {"a", "b"});
               }),
               "tokenizer.ggml.pre is 'deepseek-llm'");
  expect_error(file_with("merge", [](GgufWriter& w) {
                 w.add_string("tokenizer.ggml.model", "gpt2");
                 w.add_string_array("tokenizer.ggml.tokens", {"a", "b", "ab"});
                 w.add_string_array("tokenizer.ggml.merges", {"ab"});
               }),
               "tokenizer.ggml.merges entry 0");
  expect_error(file_with("types", [](GgufWriter& w) {
                 w.add_string("tokenizer.ggml.model", "gpt2");
                 w.add_string_array("tokenizer.ggml.tokens", {"a", "b"});
                 w.add_i32_array("tokenizer.ggml.token_type", {1});
               }),
               "tokenizer.ggml.token_type has 1 entries");
}

}  // namespace
}  // namespace frugal

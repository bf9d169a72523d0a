// BPE training (`frugal tokenizer train`): the output loads with our Tokenizer and TokenizerConfig,
// round-trips every corpus line byte-exactly, is deterministic, and bad input fails clearly.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/file.h"
#include "test_util.h"
#include "tokenizer/bpe_trainer.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_config.h"
#include "tokenizer/tokenizer_impl.h"

namespace frugal {
namespace {

using json = nlohmann::json;

// ~300 KB of English, code, CJK, emoji, digits and whitespace runs, generated deterministically.
std::string make_corpus(size_t target = 300000) {
  static const char* kWords[] = {"the", "of", "and", "to", "in", "is", "that", "for", "it", "with", "as", "was",
                                 "tokenizer", "model", "training", "data", "function", "return", "value", "The",
                                 "language", "byte", "pair", "encoding", "merge", "frequency", "déjà", "naïve"};
  static const char* kCode[] = {"for (int i = 0; i < n; ++i) {", "  return x * y + 1;", "}",
                                "def train(corpus, vocab_size=32000):", "    if not corpus: raise ValueError()",
                                "std::vector<int32_t> ids;", "#include <cstdio>", "\tprintf(\"%d\\n\", x);"};
  static const char* kCjk[] = {"你好世界", "机器学习", "こんにちは", "カタカナ", "自然语言处理", "한국어", "数据"};
  static const char* kEmoji[] = {"😀", "🚀", "👍🏽", "❤️", "🇫🇷", "✨"};
  std::mt19937 rng(1234);
  std::string out;
  while (out.size() < target) {
    const uint32_t kind = rng() % 10;
    std::string line;
    if (kind < 5) {
      const uint32_t n = 3 + rng() % 15;
      for (uint32_t i = 0; i < n; ++i) {
        if (i) line += ' ';
        if (rng() % 4) {
          line += kWords[rng() % std::size(kWords)];
        } else {  // invented words of 1-4 syllables give the corpus a long tail
          static const char kC[] = "bcdfghklmnprstvz", kV[] = "aeiou";
          for (uint32_t k = 0, m = 1 + rng() % 4; k < m; ++k) line += {kC[rng() % 16], kV[rng() % 5]};
        }
        if (rng() % 9 == 0) line += ",";
      }
      line += rng() % 2 ? "." : "!";
    } else if (kind < 7) {
      line = kCode[rng() % std::size(kCode)];
    } else if (kind < 8) {
      for (uint32_t i = 0, n = 1 + rng() % 4; i < n; ++i) line += kCjk[rng() % std::size(kCjk)];
      line += "。";
    } else if (kind < 9) {
      line = std::string("Emoji ") + kEmoji[rng() % std::size(kEmoji)] + " and " + std::to_string(rng() % 100000);
    } else {
      line = std::string(rng() % 6, ' ') + "x" + std::string(rng() % 3, '\t') + "  y";
    }
    out += line + "\n";
  }
  return out;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l + "\n");
  return out;
}

tok::BpeTrainOptions opts(int64_t vocab, int threads = 2) {
  tok::BpeTrainOptions o;
  o.vocab_size = vocab;
  o.threads = threads;
  return o;
}

class BpeTrainer : public ::testing::Test {
 protected:
  void SetUp() override {
    corpus_ = dir_.file("corpus.txt");
    test::write_bytes(corpus_, make_corpus());
  }
  test::TempDir dir_;
  std::string corpus_;
};

TEST_F(BpeTrainer, OutputLoadsAndRoundTrips) {
  const std::string out = dir_.file("tok");
  const auto st = tok::train_tokenizer_files({corpus_}, out, opts(1000));
  EXPECT_EQ(st.vocab_size, 1000);
  const Tokenizer t = Tokenizer::load(out);
  EXPECT_EQ(t.vocab_size(), 1000);
  const std::string text = read_file(corpus_);
  for (const auto& line : lines_of(text)) ASSERT_EQ(t.decode(t.encode(line)), line);
  EXPECT_EQ(t.decode(t.encode(text)), text);
  // Bytes never seen in training still round-trip (byte-level alphabet).
  const std::string odd = "\x01\x7f zebra Ω ∑ 𝔘 \xE2\x80\x8B end";
  EXPECT_EQ(t.decode(t.encode(odd)), odd);
  // Frequent words are single tokens.
  for (const char* w : {" the", " tokenizer", "function", " model", " and"})
    EXPECT_EQ(t.encode(w).size(), 1u) << w;
  // Added tokens: ids right after the BPE vocabulary, matched in text, BOS from the post-processor.
  // All are special except <think> and </think> (as in R1's and Qwen3's tokenizers), which
  // decoding with skip_special_tokens keeps.
  const auto& sp = tok::deepseek_special_tokens();
  const int32_t base = int32_t(1000 - sp.size());
  for (size_t i = 0; i < sp.size(); ++i) {
    EXPECT_EQ(t.token_to_id(sp[i]), base + int32_t(i)) << sp[i];
    EXPECT_EQ(t.is_special(base + int32_t(i)), sp[i] != "<think>" && sp[i] != "</think>") << sp[i];
  }
  const auto ids = t.encode("<｜User｜>hi<think>x</think><｜Assistant｜>");
  EXPECT_EQ(ids.front(), *t.token_to_id("<｜User｜>"));
  EXPECT_EQ(ids.back(), *t.token_to_id("<｜Assistant｜>"));
  EXPECT_EQ(t.encode("the", true).front(), base);
  EXPECT_EQ(t.decode(t.encode("<｜User｜><think>a</think>"), true), "<think>a</think>");
  EXPECT_EQ(t.encode("<think>a</think>").size(), 3u);  // still whole tokens in text
  // The config: BOS/EOS and DeepSeek's chat template, which renders.
  const TokenizerConfig cfg = TokenizerConfig::load(out);
  EXPECT_TRUE(cfg.add_bos_token);
  EXPECT_EQ(cfg.bos_token, sp[0]);
  EXPECT_EQ(cfg.eos_token, sp[1]);
  ChatRequest req;
  req.messages = nlohmann::ordered_json::parse(R"([{"role":"user","content":"Hi"},{"role":"assistant","content":"Yo"}])");
  req.add_generation_prompt = false;
  const std::string chat = render_chat(ChatTemplate(cfg.chat_template), cfg, req);
  EXPECT_EQ(chat, sp[0] + "<｜User｜>Hi<｜Assistant｜>Yo" + sp[1]);
  EXPECT_EQ(t.decode(t.encode(chat)), chat);
}

// --digits individual: the pre-tokenizer isolates every digit, so no merge ever joins two digits
// and a number encodes as one token per digit, in training and in the written tokenizer alike;
// the default keeps DeepSeek-V3's groups of three.
TEST_F(BpeTrainer, IndividualDigitsNeverMerge) {
  const std::string in = dir_.file("numbers.txt");
  std::string text;
  for (int i = 0; i < 3000; ++i) text += "What is " + std::to_string(i % 97 + 10) + " + " + std::to_string(i % 89 * 7) + "? 1234\n";
  test::write_bytes(in, text);
  auto o = opts(400);
  tok::train_tokenizer_files({in}, dir_.file("grouped"), o);
  o.digits = tok::DigitSplit::kIndividual;
  tok::train_tokenizer_files({in}, dir_.file("individual"), o);
  const Tokenizer grouped = Tokenizer::load(dir_.file("grouped"));
  const Tokenizer individual = Tokenizer::load(dir_.file("individual"));
  EXPECT_EQ(grouped.encode("1234").size(), 2u);  // "123" "4": frequent groups are merged
  const auto ids = individual.encode("What is 53 + 1234?");
  EXPECT_EQ(individual.decode(ids), "What is 53 + 1234?");
  EXPECT_EQ(individual.encode("1234").size(), 4u);
  for (const json& m : json::parse(read_file(dir_.file("individual") + "/tokenizer.json"))["model"]["merges"]) {
    const std::string left = m[0], right = m[1];
    EXPECT_FALSE(std::isdigit((unsigned char)left.back()) && std::isdigit((unsigned char)right.front())) << left << " " << right;
  }
}

TEST_F(BpeTrainer, JsonMatchesDeepSeekStructure) {
  const std::string out = dir_.file("tok");
  tok::train_tokenizer_files({corpus_}, out, opts(600));
  const json mine = json::parse(read_file(out + "/tokenizer.json"));
  const json ds = json::parse(tok::read_tokenizer_file(std::string(FRUGAL_TEST_DATA) + "/tokenizer/deepseek_v3", nullptr));
  for (const char* k : {"normalizer", "pre_tokenizer", "decoder"}) EXPECT_EQ(mine[k], ds[k]) << k;
  for (const auto& [k, v] : ds.items()) EXPECT_TRUE(mine.contains(k)) << k;
  for (const auto& [k, v] : ds["model"].items()) {
    ASSERT_TRUE(mine["model"].contains(k)) << k;
    if (k != "vocab" && k != "merges") {
      EXPECT_EQ(mine["model"][k], v) << k;
    }
  }
  EXPECT_EQ(mine["model"]["ignore_merges"], false);
  ASSERT_FALSE(mine["model"]["merges"].empty());
  EXPECT_TRUE(mine["model"]["merges"][0].is_array());
  EXPECT_EQ(mine["post_processor"]["type"], "TemplateProcessing");
  // Byte tokens first, id = byte value, written in the GPT-2 alphabet.
  EXPECT_EQ(mine["model"]["vocab"]["Ġ"], 32);
  EXPECT_EQ(mine["model"]["vocab"]["A"], 65);
  EXPECT_EQ(mine["model"]["vocab"].size() + mine["added_tokens"].size(), 600u);
}

TEST_F(BpeTrainer, Deterministic) {
  tok::train_tokenizer_files({corpus_}, dir_.file("a"), opts(800, 1));
  tok::train_tokenizer_files({corpus_}, dir_.file("b"), opts(800, 4));
  EXPECT_EQ(read_file(dir_.file("a/tokenizer.json")), read_file(dir_.file("b/tokenizer.json")));
  EXPECT_EQ(read_file(dir_.file("a/tokenizer_config.json")), read_file(dir_.file("b/tokenizer_config.json")));
}

TEST_F(BpeTrainer, WordCountsMatchEncodingPieces) {
  // Training and encoding split text identically.
  const std::string text = "Hello, world! 12345 你好ab 😀\n\n  x = f(y);\n";
  tok::WordCounts wc;
  tok::count_words(tok::deepseek_v3_pre_tokenizer(), text, wc);
  const Tokenizer ds = Tokenizer::load(std::string(FRUGAL_TEST_DATA) + "/tokenizer/deepseek_v3");
  std::map<std::string, int64_t> expect;
  for (const auto& p : ds.pre_tokenize(text)) ++expect[p];
  const std::map<std::string, int64_t> got(wc.counts.begin(), wc.counts.end());
  EXPECT_EQ(got, expect);
}

TEST_F(BpeTrainer, TinyCorpusGivesCorrectSmallerVocab) {
  const std::string in = dir_.file("tiny.txt");
  test::write_bytes(in, "ab");
  const auto st = tok::train_tokenizer_files({in}, dir_.file("tok"), opts(5000));
  EXPECT_EQ(st.merges, 0);  // "ab" occurs once < min_frequency 2
  EXPECT_EQ(st.vocab_size, 256 + int64_t(tok::deepseek_special_tokens().size()));
  const Tokenizer t = Tokenizer::load(dir_.file("tok"));
  EXPECT_EQ(t.decode(t.encode("ab cd")), "ab cd");
}

TEST_F(BpeTrainer, Errors) {
  const std::string empty = dir_.file("empty.txt");
  test::write_bytes(empty, "");
  test::expect_error([&] { tok::train_tokenizer_files({empty}, dir_.file("o"), opts(1000)); },
                     ErrorKind::kInvalidArgument, {"empty"});
  test::expect_error([&] { tok::train_tokenizer_files({corpus_, dir_.file("nope.txt")}, dir_.file("o"), opts(1000)); },
                     ErrorKind::kIo, {"nope.txt"});
  test::expect_error([&] { tok::train_tokenizer_files({corpus_}, dir_.file("o"), opts(100)); },
                     ErrorKind::kInvalidArgument, {"at least 272"});
  // A directory below a regular file cannot be created (root ignores permission bits).
  test::expect_error([&] { tok::train_tokenizer_files({corpus_}, corpus_ + "/out", opts(1000)); }, ErrorKind::kIo,
                     {"corpus.txt/out"});
  test::expect_error([&] { tok::train_tokenizer_files({}, dir_.file("o"), opts(1000)); }, ErrorKind::kInvalidArgument,
                     {"no input"});
}

test::CommandResult run_cli(const std::string& args) {
  return test::run_command(std::string(FRUGAL_BINARY) + " " + args + " 2>&1");
}

TEST_F(BpeTrainer, CliEndToEnd) {
  ASSERT_TRUE(std::filesystem::exists(FRUGAL_BINARY)) << FRUGAL_BINARY " missing: the test target depends on it";
  const std::string out = dir_.file("cli_tok");
  auto r = run_cli("tokenizer train --input " + corpus_ + " --vocab-size 700 --out " + out);
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("vocab size 700"), std::string::npos) << r.out;
  const Tokenizer t = Tokenizer::load(out);
  EXPECT_EQ(t.vocab_size(), 700);
  // Same bytes as the library call.
  tok::train_tokenizer_files({corpus_}, dir_.file("lib_tok"), opts(700));
  EXPECT_EQ(read_file(out + "/tokenizer.json"), read_file(dir_.file("lib_tok/tokenizer.json")));
  r = run_cli("tokenizer train --input " + dir_.file("missing.txt") + " --vocab-size 700 --out " + out);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("missing.txt"), std::string::npos) << r.out;
  r = run_cli("tokenizer train --input " + corpus_ + " --vocab-size 10 --out " + out);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("at least"), std::string::npos) << r.out;
  r = run_cli("tokenizer train --input " + corpus_ + " --out " + out);
  EXPECT_EQ(r.rc, 2) << r.out;
}

}  // namespace
}  // namespace frugal

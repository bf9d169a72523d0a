// `frugal eval-task` end to end: the report, the completions file, bad input, and the
// DeepSeek-V3 tokenizer's full 129,280-entry vocabulary.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "posttrain/posttrain_test_util.h"

namespace frugal {
namespace {

using test::TempDir;

TEST(EvalTaskCli, JsonReportAndCompletionsFile) {
  TempDir dir;
  const std::string m = test::micro_model_with_tokenizer(dir, "m", "byte_v3");
  const std::string out = dir.file("c.jsonl");
  test::CommandResult r = test::run_frugal(
      {"eval-task", m, "--task", "sort", "--limit", "4", "--samples", "2", "--max-tokens", "6", "--json", "--output", out});
  ASSERT_EQ(r.rc, 0) << r.out;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["task"], "sort");
  EXPECT_EQ(j["problems"], 4);
  EXPECT_EQ(j["samples"], 2);
  ASSERT_EQ(j["pass"].size(), 2u);
  EXPECT_EQ(j["pass"][1]["k"], 2);
  for (const auto& p : j["pass"]) {
    EXPECT_GE(p["value"].get<double>(), p["ci95"][0].get<double>());
    EXPECT_LE(p["value"].get<double>(), p["ci95"][1].get<double>());
  }
  EXPECT_NE(j["prompt"].get<std::string>().find("chat template"), std::string::npos);
  EXPECT_EQ(j["rewards"]["format"]["errors"], 0);
  std::ifstream f(out);
  int lines = 0;
  for (std::string line; std::getline(f, line); ++lines) {
    const nlohmann::json rec = nlohmann::json::parse(line);
    EXPECT_TRUE(rec.contains("completion") && rec.contains("reference") && rec.contains("rewards")) << line;
  }
  EXPECT_EQ(lines, 8);
  // The text report names the interval.
  r = test::run_frugal({"eval-task", m, "--task", "arithmetic", "--limit", "3", "--max-tokens", "4"});
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("pass@1 = "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(Wilson)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("greedy"), std::string::npos) << r.out;
}

TEST(EvalTaskCli, BadInput) {
  TempDir dir;
  const std::string m = test::micro_model_with_tokenizer(dir, "m", "byte_v3", /*config=*/false);
  test::CommandResult r = test::run_frugal({"eval-task", m, "--task", "calculus"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("unknown task 'calculus' (expected one of: arithmetic, addsub, countdown, sort)"), std::string::npos)
      << r.out;
  r = test::run_frugal({"eval-task", m, "--task", "arithmetic", "--prompt-format", "chat"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find(m + "/tokenizer_config.json"), std::string::npos) << r.out;
  r = test::run_frugal({"eval-task", m, "--task", "arithmetic", "--limit", "0"});
  EXPECT_EQ(r.rc, 2) << r.out;  // a command-line error
  // No chat template: the plain prompt, reported as such.
  r = test::run_frugal({"eval-task", m, "--task", "arithmetic", "--limit", "2", "--max-tokens", "2", "--json"});
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(nlohmann::json::parse(r.out)["prompt"].get<std::string>().find("plain"), std::string::npos) << r.out;
  const std::string bare = test::micro_model_with_tokenizer(dir, "bare", "");
  r = test::run_frugal({"eval-task", bare, "--task", "arithmetic"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("holds no tokenizer.json"), std::string::npos) << r.out;
}

TEST(EvalTaskCli, DeepSeekV3TokenizerFullVocabulary) {
  TempDir dir;
  const std::string m = test::v3_vocab_model(dir, "v3");
  test::CommandResult r = test::run_frugal(
      {"eval-task", m, "--task", "countdown", "--limit", "2", "--samples", "2", "--max-tokens", "3", "--json"});
  ASSERT_EQ(r.rc, 0) << r.out;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["problems"], 2);
  EXPECT_LE(j["completion_tokens"].get<int64_t>(), 12);
  // The BPE merges words: far fewer tokens per prompt than its ~330 bytes.
  EXPECT_GT(j["prompt_tokens"].get<int64_t>(), 0);
  EXPECT_LT(j["prompt_tokens"].get<int64_t>() / 4, 120);
  EXPECT_EQ(j["cached_prompt_tokens"].get<int64_t>() * 2, j["prompt_tokens"].get<int64_t>());
  EXPECT_NE(j["prompt"].get<std::string>().find("chat template"), std::string::npos);
}

}  // namespace
}  // namespace frugal

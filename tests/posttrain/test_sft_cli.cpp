// `frugal sft` end to end: --dry-run, training with the loss falling on a memorisable answer, a
// resumed run equal to an uninterrupted one, the export with its tokenizer, bad input, and the
// DeepSeek-V3 tokenizer's full vocabulary.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "posttrain/posttrain_test_util.h"

namespace frugal {
namespace {

using test::TempDir;

std::string sft_jsonl(const TempDir& dir) {
  const std::string path = dir.file("d.jsonl");
  std::string text;
  for (int i = 0; i < 6; ++i)
    text += R"({"messages":[{"role":"user","content":"ping )" + std::to_string(i) +
            R"("},{"role":"assistant","content":"pong","reasoning_content":"easy"}]})" + "\n";
  test::write_bytes(path, text);
  return path;
}

// The "loss" of every step in RUN/metrics.jsonl, as written.
std::vector<std::string> losses(const std::string& run) {
  std::ifstream f(run + "/metrics.jsonl");
  std::vector<std::string> out;
  for (std::string line; std::getline(f, line);) {
    const nlohmann::json j = nlohmann::json::parse(line);
    if (j.contains("loss")) out.push_back(j["loss"].dump());
  }
  return out;
}

std::vector<std::string> train_args(const std::string& m, const std::string& data, const std::string& out,
                                    const std::string& steps) {
  // A constant lr: a run stopped after 4 of 8 steps is then the first half of the 8-step run.
  return {"sft", "--init", m, "--data", data, "--steps", steps, "--batch", "2", "--seq-len", "48", "--lr", "3e-3",
          "--schedule", "constant", "--out", out, "--log-every", "1", "--checkpoint-every", "2", "--seed", "3"};
}

TEST(SftCli, DryRunMarksTheTrainedSpans) {
  TempDir dir;
  const std::string m = test::micro_model_with_tokenizer(dir, "m", "byte_v3");
  const test::CommandResult r = test::run_frugal({"sft", "--init", m, "--data", sft_jsonl(dir), "--dry-run"});
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("chat template"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("6 conversations -> 6 examples"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("<｜Assistant｜>⟦<think>\neasy\n</think>\n\npong<｜end▁of▁sentence｜>⟧"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("--- example 2"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("--- example 3"), std::string::npos) << r.out;  // --samples defaults to 2
  EXPECT_FALSE(std::filesystem::exists("runs/sft")) << "a dry run writes nothing";
}

TEST(SftCli, LearnsTheAnswerAndResumesBitForBit) {
  TempDir dir;
  const std::string m = test::micro_model_with_tokenizer(dir, "m", "byte_v3");
  const std::string data = sft_jsonl(dir);
  // Uninterrupted: 8 steps.
  std::vector<std::string> a = train_args(m, data, dir.file("a"), "8");
  a.push_back("--export");
  a.push_back(dir.file("exp"));
  test::CommandResult r = test::run_frugal(a);
  ASSERT_EQ(r.rc, 0) << r.out;
  const std::vector<std::string> la = losses(dir.file("a"));
  ASSERT_EQ(la.size(), 8u) << r.out;
  // The answer is the same every time, so its loss must fall far (from ~ln 256 = 5.5 per byte).
  EXPECT_LT(std::stod(la.back()), 0.5 * std::stod(la.front())) << r.out;
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"})
    EXPECT_TRUE(std::filesystem::exists(dir.file("exp") + "/" + f)) << f;
  EXPECT_NE(test::read_bytes(dir.file("a") + "/config.resolved.toml").find("[sft]"), std::string::npos);

  // Stopped after step 4, then resumed to 8.
  r = test::run_frugal(train_args(m, data, dir.file("b"), "4"));
  ASSERT_EQ(r.rc, 0) << r.out;
  std::vector<std::string> b = train_args(m, data, dir.file("b"), "8");
  b.push_back("--resume");
  r = test::run_frugal(b);
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("resumed from"), std::string::npos) << r.out;
  EXPECT_EQ(losses(dir.file("b")), la);
}

TEST(SftCli, BadInput) {
  TempDir dir;
  const std::string m = test::micro_model_with_tokenizer(dir, "m", "byte_v3");
  test::CommandResult r = test::run_frugal({"sft", "--init", m});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("sft.data: required"), std::string::npos) << r.out;
  r = test::run_frugal({"sft", "--data", sft_jsonl(dir)});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("model.init: required"), std::string::npos) << r.out;
  const std::string bad = dir.file("bad.jsonl");
  test::write_bytes(bad, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}, {\"role\": \"assistant\"}]}\n");
  r = test::run_frugal({"sft", "--init", m, "--data", bad, "--dry-run"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find(bad + ":1: messages[1].content: expected a string"), std::string::npos) << r.out;
  // A model without a chat template: the plain format, said so; --prompt-format chat refuses.
  const std::string plain = test::micro_model_with_tokenizer(dir, "plain", "byte_v3", /*config=*/false);
  r = test::run_frugal({"sft", "--init", plain, "--data", sft_jsonl(dir), "--dry-run", "--samples", "1"});
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("format: plain"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("User: ping 0\nAssistant:⟦ <think>"), std::string::npos) << r.out;
  r = test::run_frugal({"sft", "--init", plain, "--data", sft_jsonl(dir), "--prompt-format", "chat", "--dry-run"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("tokenizer_config.json"), std::string::npos) << r.out;
}

TEST(SftCli, DeepSeekV3TokenizerFullVocabulary) {
  TempDir dir;
  const std::string m = test::v3_vocab_model(dir, "v3");
  const test::CommandResult r = test::run_frugal({"sft", "--init", m, "--data", sft_jsonl(dir), "--steps", "1",
                                                  "--batch", "1", "--seq-len", "32", "--out", dir.file("run")});
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("fine-tuned 1 steps"), std::string::npos) << r.out;
  EXPECT_EQ(losses(dir.file("run")).size(), 1u);
}

}  // namespace
}  // namespace frugal

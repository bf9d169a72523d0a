// `frugal distill` (posttrain/distill.h): the prompt files it reads, the vocabulary check of logit
// mode, and seq mode end to end on random micro models (a random teacher never writes the <think>
// format, so these runs keep every answer with --filter none; the filter's effect on a trained
// teacher is in docs/posttrain.md's evidence run).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "posttrain/distill.h"
#include "posttrain/posttrain_test_util.h"
#include "posttrain/task_data.h"

namespace frugal {
namespace {

using test::TempDir;

std::string prompts_file(const TempDir& dir, int n) {
  const Task& t = find_task("arithmetic");
  std::string text;
  for (const Problem& p : task_problems(t, 0, Split::kTrain, n)) text += task_data_line(t, p, TaskDataFormat::kPrompts) + "\n";
  const std::string path = dir.file("p.jsonl");
  test::write_bytes(path, text);
  return path;
}

TEST(DistillPrompts, ReadsTaskPromptsAndNamesBadLines) {
  TempDir dir;
  const std::string path = prompts_file(dir, 3);
  const std::vector<DistillPrompt> ps = load_distill_prompts(path, BadLinePolicy::kStop, nullptr, nullptr);
  ASSERT_EQ(ps.size(), 3u);
  EXPECT_EQ(ps[0].task->name, "arithmetic");
  EXPECT_TRUE(find_task("arithmetic").check(*ps[0].problem, ps[0].problem->reference));
  EXPECT_EQ(ps[2].line, 3);

  const std::string bad = dir.file("bad.jsonl");
  auto expect_bad = [&](const std::string& line, const std::string& needle) {
    test::write_bytes(bad, line + "\n");
    test::expect_error([&] { load_distill_prompts(bad, BadLinePolicy::kStop, nullptr, nullptr); }, std::nullopt,
                       {bad + ":1", needle});
  };
  expect_bad("[1]", "non-empty \"messages\"");
  expect_bad(R"({"messages": [{"role": "user"}]})", "messages[0]");
  expect_bad(R"({"messages": [{"role": "user", "content": "x"}], "task": "arithmetic"})", "come together");
  expect_bad(R"({"messages": [{"role": "user", "content": "x"}], "task": "algebra", "problem": {}})",
             "unknown task 'algebra'");
  // A problem whose reference does not pass its own check is refused, not trained on.
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(test::read_bytes(path).substr(0, test::read_bytes(path).find('\n')));
  j["problem"]["reference"] = "12345678";
  expect_bad(j.dump(), "problem.reference '12345678' does not pass");
  // Skipping counts and quotes the line.
  test::write_bytes(bad, "nope\n" + test::read_bytes(path));
  int64_t skipped = 0;
  std::vector<std::string> notes;
  EXPECT_EQ(load_distill_prompts(bad, BadLinePolicy::kSkip, &skipped, &notes).size(), 3u);
  EXPECT_EQ(skipped, 1);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find(bad + ":1"), std::string::npos) << notes[0];
}

TEST(DistillVocabulary, LogitModeNeedsOneVocabulary) {
  TempDir dir;
  const std::string a = test::micro_model_with_tokenizer(dir, "a", "byte_v3");
  const std::string b = test::micro_model_with_tokenizer(dir, "b", "byte_r1", true, 7);
  check_same_vocabulary(a, b);  // the two byte tokenizers share their 256 tokens
  const std::string v3 = test::v3_vocab_model(dir, "v3");
  test::expect_error([&] { check_same_vocabulary(a, v3); }, ErrorKind::kInvalidArgument,
                     {"one vocabulary", "vocab_size 256", "129280"});
}

TEST(DistillCli, SeqModeTrainsTheStudentOnTheTeachersAnswers) {
  TempDir dir;
  const std::string teacher = test::micro_model_with_tokenizer(dir, "t", "byte_v3", true, 1);
  const std::string student = test::micro_model_with_tokenizer(dir, "s", "byte_v3", true, 2);
  const std::string data = prompts_file(dir, 4);
  const std::vector<std::string> args = {"distill", "--teacher", teacher, "--student", student, "--data", data,
                                         "--filter", "none", "--samples", "3", "--keep-per-prompt", "2",
                                         "--max-tokens", "6", "--steps", "2", "--batch", "2", "--seq-len", "160",
                                         "--out", dir.file("run"), "--export", dir.file("exp")};
  test::CommandResult r = test::run_frugal(args);
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("teacher: 8 of 12 answers kept (4 of 4 prompts)"), std::string::npos) << r.out;
  std::ifstream f(dir.file("run/distill_data.jsonl"));
  int lines = 0;
  for (std::string line; std::getline(f, line); ++lines) {
    const nlohmann::json j = nlohmann::json::parse(line);
    ASSERT_EQ(j["messages"].size(), 2u);
    EXPECT_EQ(j["messages"][1]["role"], "assistant");
    EXPECT_EQ(j["task"], "arithmetic");
  }
  EXPECT_EQ(lines, 8);
  EXPECT_TRUE(std::filesystem::exists(dir.file("exp/tokenizer.json")));
  EXPECT_NE(test::read_bytes(dir.file("run/config.resolved.toml")).find("[distill]"), std::string::npos);
  // --resume reuses the written answers instead of asking the teacher again.
  std::vector<std::string> more = args;
  more.push_back("--resume");
  more[std::find(more.begin(), more.end(), "--steps") - more.begin() + 1] = "3";
  r = test::run_frugal(more);
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("reusing"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("student: 3 steps"), std::string::npos) << r.out;
}

TEST(DistillCli, BadInput) {
  TempDir dir;
  const std::string m = test::micro_model_with_tokenizer(dir, "m", "byte_v3");
  test::CommandResult r = test::run_frugal({"distill", "--student", m, "--data", prompts_file(dir, 1)});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("distill.teacher: required"), std::string::npos) << r.out;
  // The default filter checks accuracy, which a prompt without its problem cannot offer.
  test::write_bytes(dir.file("q.jsonl"), R"({"messages": [{"role": "user", "content": "hi"}]})" "\n");
  r = test::run_frugal({"distill", "--teacher", m, "--student", m, "--data", dir.file("q.jsonl")});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find(dir.file("q.jsonl") + ":1: distill.filter has accuracy"), std::string::npos) << r.out;
  r = test::run_frugal({"distill", "--teacher", m, "--student", m, "--data", dir.file("q.jsonl"), "--filter", "speed"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("unknown reward 'speed'"), std::string::npos) << r.out;
  const std::string v3 = test::v3_vocab_model(dir, "v3");
  r = test::run_frugal({"distill", "--teacher", v3, "--student", m, "--data", dir.file("q.jsonl"), "--mode", "logit"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("need one vocabulary"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace frugal

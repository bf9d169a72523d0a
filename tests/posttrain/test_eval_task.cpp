// Task prompts (posttrain/prompt.h) and held-out evaluation (posttrain/eval_task.h) on random
// micro models with the byte-level test tokenizers.
#include <gtest/gtest.h>

#include <filesystem>

#include "infer/batch_generate.h"
#include "io/hf_loader.h"
#include "model/transformer.h"
#include "posttrain/answer.h"
#include "posttrain/eval_task.h"
#include "posttrain/posttrain_test_util.h"

namespace frugal {
namespace {

using test::TempDir;

TEST(TaskPrompter, ChatTemplateRendersOneUserTurn) {
  TempDir dir;
  const std::string m = test::micro_model_with_tokenizer(dir, "m", "byte_v3");
  TaskPrompter p(m, "", PromptFormat::kAuto);
  EXPECT_TRUE(p.uses_chat_template());
  Problem q;
  q.question = "What is 12 + 30?";
  const std::string text = p.render(q);
  EXPECT_EQ(text, "<｜begin▁of▁sentence｜><｜User｜>" + std::string(kAnswerFormatInstruction) + "\nWhat is 12 + 30?" +
                      "<｜Assistant｜>");
  EXPECT_FALSE(prompt_prefills_think(text));
  const std::vector<int32_t> ids = p.encode(text);
  EXPECT_EQ(ids.front(), 0);  // BOS, written by the template (no second one from the post-processor)
  EXPECT_EQ(ids[1], 2);       // <｜User｜>
  // Stop ids: the model's eos (1 in the micro preset) and the tokenizer's, once.
  EXPECT_EQ(p.stop_ids(1), (std::vector<int32_t>{1}));
  EXPECT_EQ(p.stop_ids(-1), (std::vector<int32_t>{1}));
  // A final stop id is dropped before decoding; others are kept.
  const std::vector<int32_t> hi = p.encode("<think>a</think> 42");
  std::vector<int32_t> with_eos = hi;
  with_eos.push_back(1);
  EXPECT_EQ(p.decode_completion(with_eos, {1}), "<think>a</think> 42");
  EXPECT_EQ(p.decode_completion(hi, {1}), "<think>a</think> 42");
}

TEST(TaskPrompter, R1TemplatePrefillsThink) {
  TempDir dir;
  const std::string m = test::micro_model_with_tokenizer(dir, "m", "byte_r1");
  TaskPrompter p(m, "", PromptFormat::kAuto);
  Problem q;
  q.question = "Sort these numbers in ascending order: 3, 1.";
  EXPECT_TRUE(prompt_prefills_think(p.render(q)));
}

TEST(TaskPrompter, NoChatTemplate) {
  TempDir dir;
  const std::string m = test::micro_model_with_tokenizer(dir, "m", "byte_v3", /*config=*/false);
  Problem q;
  q.question = "What is 1 + 1?";
  // auto falls back to the plain form, and says so.
  TaskPrompter plain(m, "", PromptFormat::kAuto);
  EXPECT_FALSE(plain.uses_chat_template());
  EXPECT_NE(plain.describe().find("no " + m + "/tokenizer_config.json"), std::string::npos) << plain.describe();
  EXPECT_EQ(plain.render(q), "User: " + std::string(kAnswerFormatInstruction) + "\nWhat is 1 + 1?\nAssistant:");
  // chat refuses, naming the file and the way out.
  test::expect_error([&] { TaskPrompter(m, "", PromptFormat::kChat); }, ErrorKind::kInvalidArgument,
                     {m + "/tokenizer_config.json", "--prompt-format plain"});
  // A config without a chat_template: the same, and plain adds the BOS the config asks for.
  test::write_bytes(m + "/tokenizer_config.json",
                    R"({"add_bos_token": true, "bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"})");
  test::expect_error([&] { TaskPrompter(m, "", PromptFormat::kChat); }, ErrorKind::kInvalidArgument,
                     {"no chat_template"});
  TaskPrompter with_bos(m, "", PromptFormat::kAuto);
  EXPECT_EQ(with_bos.render(q), "<｜begin▁of▁sentence｜>User: " + std::string(kAnswerFormatInstruction) +
                                 "\nWhat is 1 + 1?\nAssistant:");
  // And no tokenizer at all is an error naming the folder.
  const std::string bare = test::micro_model_with_tokenizer(dir, "bare", "");
  test::expect_error([&] { TaskPrompter(bare, "", PromptFormat::kAuto); }, ErrorKind::kIo,
                     {bare, "no tokenizer.json"});
}

TEST(EvalTask, SamplesShareThePromptAndLengthLimitsAreScored) {
  TempDir dir;
  const std::string m = test::micro_model_with_tokenizer(dir, "m", "byte_v3");
  TaskPrompter prompter(m, "", PromptFormat::kAuto);
  auto lm = load_model(m);
  Transformer model(lm->config, lm->weights);
  EngineOptions eo;
  eo.max_batch = 16;  // all 9 sequences admitted together: every extra sample forks its prompt's rows
  BatchGenerator gen(model, eo);
  EvalTaskOptions opt;
  opt.limit = 3;
  opt.samples = 3;
  opt.max_tokens = 5;
  std::vector<EvalRecord> recs;
  const Task& task = find_task("countdown");
  const EvalReport r = run_eval_task(gen, prompter, task, lm->config.eos_token_id, opt, &recs);
  ASSERT_EQ(recs.size(), 9u);
  EXPECT_EQ(r.problems, 3);
  EXPECT_EQ(r.temperature, 0.6f);  // the several-samples default
  ASSERT_EQ(r.pass.size(), 3u);    // k = 1, 2, 3
  EXPECT_EQ(r.pass[2].k, 3);
  // Each problem's prompt ran once; its other samples copied the rows. The prompts of different
  // problems also share the instruction they start with, which may be reused too, but each
  // problem's first sample computes at least its own question.
  EXPECT_GE(r.cached_prompt_tokens, r.prompt_tokens * 2 / 3);
  EXPECT_LT(r.cached_prompt_tokens, r.prompt_tokens - 3 * 4);
  const std::vector<Problem> probs = task_problems(task, 0, Split::kEval, 3);
  int64_t cut = 0, correct = 0;
  for (const EvalRecord& rec : recs) {
    EXPECT_EQ(rec.question, probs[size_t(rec.problem)].question);
    EXPECT_LE(rec.tokens, 5);
    ASSERT_EQ(rec.rewards.size(), r.reward_names.size());
    if (rec.finish == "length") {
      ++cut;
      EXPECT_EQ(rec.tokens, 5);
      EXPECT_EQ(rec.rewards[2], -1.0);  // length: a completion cut at the budget
    }
    correct += rec.correct;
    // The record's verdict is the task's check of the parsed answer.
    EXPECT_EQ(rec.correct, task.check(probs[size_t(rec.problem)], parse_completion(rec.completion, false).answer));
  }
  EXPECT_EQ(r.reward_names, (std::vector<std::string>{"accuracy", "format", "length"}));
  EXPECT_DOUBLE_EQ(r.truncated_fraction, double(cut) / 9);
  EXPECT_EQ(r.correct, correct);
  test::expect_error(
      [&] {
        EvalTaskOptions bad = opt;
        bad.samples = 0;
        run_eval_task(gen, prompter, task, 1, bad);
      },
      ErrorKind::kInvalidArgument, {"--samples = 0"});
}

}  // namespace
}  // namespace frugal

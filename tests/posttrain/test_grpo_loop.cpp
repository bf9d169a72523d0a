// The GRPO loop (posttrain/grpo_loop.h) end to end on a random micro model, its config, and the
// teacher-forced scores it trains with (posttrain/logprobs.h).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "infer/batch_generate.h"
#include "io/hf_loader.h"
#include "model/transformer.h"
#include "posttrain/grpo_loop.h"
#include "posttrain/grpo_plot.h"
#include "posttrain/logprobs.h"
#include "posttrain/posttrain_test_util.h"

namespace frugal {
namespace {

using test::TempDir;

TEST(ScoreCompletions, MatchTheEngineLogprobs) {
  TempDir dir;
  const std::string m = test::micro_model_with_tokenizer(dir, "m", "byte_v3");
  auto lm = load_model(m);
  Transformer model(lm->config, lm->weights), scorer(lm->config, lm->weights);
  BatchGenerator gen(model, EngineOptions{});
  const std::vector<int32_t> prompt = {0, 2, 60, 61, 62, 63, 3};
  std::vector<BatchRequest> reqs(3);
  for (size_t i = 0; i < reqs.size(); ++i) {
    reqs[i].prompt = prompt;
    reqs[i].max_tokens = 9;
    reqs[i].sampling.seed = 40 + i;  // temperature 1: three different completions
  }
  const std::vector<Completion> outs = gen.generate(reqs);
  std::vector<std::vector<int32_t>> ids;
  for (const Completion& c : outs) ids.push_back(c.ids);
  ids.push_back({});  // an empty completion scores nothing
  const std::vector<TokenScores> sc = score_completions(scorer, prompt, ids);
  ASSERT_EQ(sc.size(), 4u);
  EXPECT_TRUE(sc[3].logp.empty());
  for (size_t i = 0; i < outs.size(); ++i) {
    ASSERT_EQ(sc[i].logp.size(), outs[i].logprobs.size());
    for (size_t t = 0; t < sc[i].logp.size(); ++t) {
      // The same f32 model, batched decode vs one teacher-forced chunk: rounding only.
      EXPECT_NEAR(sc[i].logp[t], outs[i].logprobs[t], 2e-4) << i << "," << t;
      EXPECT_GE(sc[i].entropy[t], 0.0f);
      EXPECT_LE(sc[i].entropy[t], std::log(256.0f) + 1e-4f);
    }
  }
  test::expect_error([&] { score_completions(scorer, prompt, {{5, 300}}); }, ErrorKind::kInvalidArgument,
                     {"300", "outside the vocabulary"});
}

TEST(RowScores, LogSoftmaxAndEntropyByHand) {
  // logits {0, ln 3}: p = {1/4, 3/4}; H = −(¼ ln ¼ + ¾ ln ¾) = 0.5623351.
  const float l[2] = {0.0f, std::log(3.0f)};
  float lp = 0, h = 0;
  row_scores(l, 2, 1, &lp, &h);
  EXPECT_NEAR(lp, std::log(0.75), 1e-6);
  EXPECT_NEAR(h, 0.5623351, 1e-6);
}

GrpoConfig tiny_config(const TempDir& dir, const std::string& model, std::vector<std::string> extra = {}) {
  std::vector<std::string> o = {"model.init=" + model,
                                "task.name=arithmetic",
                                "task.rewards=length",
                                "grpo.num_generations=8",
                                "grpo.prompts=4",
                                "grpo.max_completion_length=16",
                                "optim.lr=3e-3",
                                "checkpoint.out=" + dir.file("run")};
  o.insert(o.end(), extra.begin(), extra.end());
  return load_grpo_config(nullptr, o);
}

TEST(GrpoLoop, LearnsTheLengthRewardAndUpdatesTheEngine) {
  // A random micro model rarely ends a completion (EOS is 1 of 256 ids), so the length reward
  // (0 up to 12 of 16 tokens, then down to −1) is −1 almost everywhere at first; the groups where
  // one completion stopped early carry the signal. If the rollouts did not see the updated
  // weights, the completions would stay long.
  TempDir dir;
  const std::string m = test::micro_model_with_tokenizer(dir, "m", "byte_v3");
  const GrpoConfig c = tiny_config(dir, m, {"train.steps=10", "checkpoint.export=" + dir.file("out")});
  const GrpoSummary s = run_grpo(c);
  ASSERT_EQ(s.steps.size(), 10u);
  EXPECT_EQ(s.weights_version, 10);
  EXPECT_LT(s.steps[0].kl, 1e-6);  // the first update's policy is the reference
  EXPECT_GT(s.steps[0].completion_length, 13);
  const double late = (s.steps[7].completion_length + s.steps[8].completion_length + s.steps[9].completion_length) / 3;
  EXPECT_LT(late, 8) << "completion length did not fall";
  EXPECT_GT(s.steps[9].reward, s.steps[0].reward + 0.4);
  EXPECT_GT(s.steps[9].kl, 0);
  for (const GrpoStepStats& st : s.steps) {
    EXPECT_EQ(st.skipped_updates, 0);
    EXPECT_EQ(st.reward_names, (std::vector<std::string>{"length"}));
    EXPECT_GT(st.rollout_tokens_per_s, 0);
    EXPECT_GT(st.update_tokens_per_s, 0);
  }
  // Telemetry: one JSON line per step.
  std::ifstream f(dir.file("run/grpo_metrics.jsonl"));
  int lines = 0;
  for (std::string line; std::getline(f, line); ++lines) {
    const nlohmann::json j = nlohmann::json::parse(line);
    EXPECT_EQ(j["step"], lines + 1);
    for (const char* k : {"reward", "reward_length", "accuracy", "completion_length", "kl", "clip_fraction", "entropy",
                          "rollout_tokens_per_s", "update_tokens_per_s"})
      EXPECT_TRUE(j.contains(k)) << k;
  }
  EXPECT_EQ(lines, 10);
  // The export is a loadable model folder with the tokenizer.
  auto out = load_model(dir.file("out"));
  EXPECT_EQ(out->config.vocab_size, 256);
  EXPECT_TRUE(test::read_bytes(dir.file("out/tokenizer_config.json")).size() > 0);
}

TEST(GrpoLoop, SeveralUpdatesPerRolloutBatch) {
  TempDir dir;
  const std::string m = test::micro_model_with_tokenizer(dir, "m", "byte_v3");
  const GrpoConfig c = tiny_config(dir, m, {"train.steps=3", "grpo.num_iterations=3", "grpo.loss_type=token",
                                            "grpo.beta=0", "train.micro_batch=5"});
  const GrpoSummary s = run_grpo(c);
  EXPECT_EQ(s.weights_version, 9);  // the engine got every one of the μ updates
  for (const GrpoStepStats& st : s.steps) {
    EXPECT_EQ(st.kl, 0.0);  // β = 0: no reference
    EXPECT_GE(st.clip_fraction, 0.0);
    EXPECT_LE(st.clip_fraction, 1.0);
  }
}

// Each line of RUN/grpo_metrics.jsonl without its timings (which differ between runs).
std::vector<std::string> grpo_records(const std::string& run) {
  std::ifstream f(run + "/grpo_metrics.jsonl");
  std::vector<std::string> out;
  for (std::string line; std::getline(f, line);) {
    nlohmann::json j = nlohmann::json::parse(line);
    for (const char* k : {"rollout_s", "update_s", "rollout_tokens_per_s", "update_tokens_per_s"}) j.erase(k);
    out.push_back(j.dump());
  }
  return out;
}

TEST(GrpoLoop, ResumesBitForBit) {
  // Problems and sampling seeds are functions of (seed, step), so a run resumed from its step-2
  // checkpoint must log exactly the steps the uninterrupted run logged: same completions, rewards,
  // KL and losses, to the last bit of every number written.
  TempDir dir;
  const std::string m = test::micro_model_with_tokenizer(dir, "m", "byte_v3");
  const std::vector<std::string> small = {"grpo.num_generations=4", "grpo.prompts=2", "grpo.max_completion_length=8"};
  auto cfg = [&](std::vector<std::string> extra) {
    extra.insert(extra.begin(), small.begin(), small.end());
    return tiny_config(dir, m, extra);
  };
  run_grpo(cfg({"train.steps=4", "checkpoint.every=2", "checkpoint.out=" + dir.file("a")}));
  const std::vector<std::string> a = grpo_records(dir.file("a"));
  ASSERT_EQ(a.size(), 4u);
  // "Killed" after step 2 — its checkpoint is there — and after logging a step 3 it never saved.
  run_grpo(cfg({"train.steps=2", "checkpoint.out=" + dir.file("b")}));
  {
    std::ofstream torn(dir.file("b/grpo_metrics.jsonl"), std::ios::app);
    torn << a[2] << "\n{\"step\": 4, \"rew";
  }
  const GrpoSummary s = run_grpo(cfg({"train.steps=4", "checkpoint.resume=true", "checkpoint.out=" + dir.file("b")}));
  EXPECT_EQ(s.steps.size(), 2u);  // steps 3 and 4 only
  EXPECT_EQ(grpo_records(dir.file("b")), a);
}

TEST(GrpoLoop, MaskedTruncatedCompletionsAddNoLoss) {
  // A 2-token budget cuts nearly every completion of a random model (EOS is 1 of 256 ids). With
  // TRL's mask_truncated_completions they add no tokens to the update: when all of a step's
  // completions are cut there is nothing to train on and the engine's weights stay as they were.
  TempDir dir;
  const std::string m = test::micro_model_with_tokenizer(dir, "m", "byte_v3");
  const std::vector<std::string> base = {"train.steps=2", "grpo.max_completion_length=2", "task.rewards=length",
                                         "grpo.prompts=2", "grpo.num_generations=4"};
  std::vector<std::string> masked = base;
  masked.push_back("grpo.mask_truncated_completions=true");
  const GrpoSummary on = run_grpo(tiny_config(dir, m, masked));
  int64_t steps_with_survivors = 0;
  for (const GrpoStepStats& st : on.steps) steps_with_survivors += st.truncated < 1.0;
  EXPECT_EQ(on.weights_version, steps_with_survivors);
  EXPECT_LT(steps_with_survivors, 2) << "the seed no longer cuts every completion of a step; pick another budget";
  const GrpoSummary off = run_grpo(tiny_config(dir, m, base));
  EXPECT_EQ(off.weights_version, 2);  // unmasked, the cut completions are trained on
}

TEST(GrpoLoop, PlotOfTheRun) {
  TempDir dir;
  const std::string m = test::micro_model_with_tokenizer(dir, "m", "byte_v3");
  run_grpo(tiny_config(dir, m, {"train.steps=2", "task.rewards=accuracy,format,length=0.1", "grpo.prompts=2",
                                "grpo.num_generations=2", "grpo.max_completion_length=4"}));
  const PlotPage page = grpo_plot(dir.file("run/grpo_metrics.jsonl"), "g");
  ASSERT_EQ(page.charts.size(), 7u);
  ASSERT_EQ(page.charts[0].series.size(), 4u);  // total and the three rewards
  EXPECT_EQ(page.charts[0].series[1].name, "reward_accuracy");
  EXPECT_EQ(page.charts[0].series[0].points.size(), 2u);
  const std::string svg = plot_svg(page);
  for (const char* k : {"reward_format", "accuracy", "completion_length", "kl", "clip_fraction", "entropy",
                        "rollout_tokens_per_s", "update_tokens_per_s"})
    EXPECT_NE(svg.find(std::string("data-series=\"") + k + "\""), std::string::npos) << k;
  // frugal plot finds the GRPO log in the run directory.
  const test::CommandResult r = test::run_frugal({"plot", dir.file("run"), "--out", dir.file("g.svg")});
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(test::read_bytes(dir.file("g.svg")).find("data-series=\"kl\""), std::string::npos);
  test::write_bytes(dir.file("bad.jsonl"), "{\"step\": 1}\nnope\n{\"step\": 2}\n");
  test::expect_error([&] { grpo_plot(dir.file("bad.jsonl"), "x"); }, ErrorKind::kFormat, {"bad.jsonl:2"});
}

TEST(GrpoConfigTest, ValidationAndRoundTrip) {
  test::expect_error([] { load_grpo_config(nullptr, {"task.name=sort"}); }, ErrorKind::kConfig, {"model.init"});
  test::expect_error([] { load_grpo_config(nullptr, {"model.init=x", "grpo.num_generations=1"}); }, ErrorKind::kConfig,
                     {"grpo.num_generations"});
  test::expect_error([] { load_grpo_config(nullptr, {"model.init=x", "grpo.num_generation=4"}); }, ErrorKind::kConfig,
                     {"num_generations"});  // the did-you-mean hint
  test::expect_error([] { load_grpo_config(nullptr, {"model.init=x", "grpo.loss_type=mean"}); }, ErrorKind::kConfig,
                     {"sequence"});
  TempDir dir;
  const GrpoConfig c = load_grpo_config(nullptr, {"model.init=x", "grpo.beta=0.1", "grpo.loss_type=token"});
  test::write_bytes(dir.file("c.toml"), to_toml(c));
  const std::string path = dir.file("c.toml");
  EXPECT_EQ(to_toml(load_grpo_config(&path, {})), to_toml(c));
  // An unknown task and a bad reward list are errors before any work.
  TempDir d2;
  const std::string m = test::micro_model_with_tokenizer(d2, "m", "byte_v3");
  test::expect_error([&] { run_grpo(tiny_config(d2, m, {"task.name=algebra"})); }, ErrorKind::kInvalidArgument,
                     {"unknown task 'algebra'"});
  test::expect_error([&] { run_grpo(tiny_config(d2, m, {"task.rewards=accuracy,speed"})); },
                     ErrorKind::kInvalidArgument, {"unknown reward 'speed'"});
}

}  // namespace
}  // namespace frugal

namespace frugal {
namespace {

TEST(GrpoCli, ExactCommandForm) {
  TempDir dir;
  const std::string m = test::micro_model_with_tokenizer(dir, "m", "byte_v3");
  const std::string run = dir.file("run"), out = dir.file("out");
  test::CommandResult r = test::run_frugal({"grpo", "--init", m, "--task", "countdown", "--steps", "2",
                                            "--num-generations", "4", "--out", run, "--export", out, "--prompts", "2",
                                            "--max-completion-length", "8"});
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("step    2/2 | reward"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("accuracy"), std::string::npos) << r.out;  // the default rewards: accuracy, format
  EXPECT_TRUE(std::filesystem::exists(run + "/grpo_metrics.jsonl"));
  EXPECT_TRUE(std::filesystem::exists(run + "/config.resolved.toml"));
  EXPECT_TRUE(std::filesystem::exists(out + "/model.safetensors"));
  // The export evaluates like any model folder.
  r = test::run_frugal({"eval-task", out, "--task", "countdown", "--limit", "2", "--max-tokens", "4"});
  EXPECT_EQ(r.rc, 0) << r.out;
  r = test::run_frugal({"grpo", "--task", "countdown"});  // no --init
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("model.init: required (--init MODEL_DIR)"), std::string::npos) << r.out;
  r = test::run_frugal({"grpo", "--init", m, "--num-generations", "1"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("grpo.num_generations"), std::string::npos) << r.out;
}

TEST(GrpoCli, DeepSeekV3TokenizerFullVocabulary) {
  TempDir dir;
  const std::string m = test::v3_vocab_model(dir, "v3");
  test::CommandResult r = test::run_frugal({"grpo", "--init", m, "--task", "sort", "--steps", "1", "--num-generations",
                                            "2", "--prompts", "1", "--max-completion-length", "3", "--out",
                                            dir.file("run")});
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("step    1/1 | reward"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace frugal

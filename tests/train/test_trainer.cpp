// The training loop end to end on the micro preset: bit-exact resume (in process and after a
// SIGKILL at arbitrary moments), --no-shuffle order, a model that learns, export that loads,
// and the bad inputs the issue names (tiny corpus, NaN loss bound, corrupt newest checkpoint).
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/rng.h"
#include "io/hf_config.h"
#include "io/npy.h"
#include "test_util.h"
#include "train/train_test_util.h"
#include "train/train_config.h"
#include "train/trainer.h"

using namespace frugal;
using namespace frugal::test;

namespace {

TEST(Trainer, ResumeIsBitExactInProcess) {
  TempDir dir;
  const std::string ids = write_corpus(dir, 4000);
  run_training(micro_config(ids, dir.file("full"), 10));
  // The split run has the same total (the lr schedule depends on it); it is cut after step 6 by
  // throwing away the newer checkpoints, as a kill before them would, then resumed.
  TrainConfig part = micro_config(ids, dir.file("split"), 10);
  run_training(part);
  std::filesystem::remove_all(dir.file("split") + "/ckpt/" + "step_00000009");
  std::filesystem::remove_all(dir.file("split") + "/ckpt/" + "step_00000010");
  write_bytes(dir.file("split") + "/ckpt/latest", "step_00000006\n");
  TrainConfig resume = part;
  resume.checkpoint.resume = true;
  TrainSummary s = run_training(resume);
  EXPECT_EQ(s.start_step, 6);
  EXPECT_EQ(s.steps_done, 10);
  auto a = read_losses(dir.file("full")), b = read_losses(dir.file("split"));
  ASSERT_EQ(a.size(), 10u);
  ASSERT_EQ(b.size(), 10u);
  for (int64_t st = 1; st <= 10; ++st) EXPECT_EQ(a[st], b[st]) << "step " << st;
}

// The real thing: SIGKILL at arbitrary moments (mid-step, mid-checkpoint), resume, compare.
TEST(Trainer, SigkillAndResumeIsBitExact) {
  TempDir dir;
  const std::string ids = write_corpus(dir, 6000);
  const std::string bin = FRUGAL_BINARY;
  const std::string args = " --threads 2 train --tokens " + ids +
                           " --preset micro --vocab-size 64 --seq-len 16 --batch 2 --steps 30 --lr 3e-3 "
                           "--warmup 2 --checkpoint-every 2 --log-every 1000 --eval-every 0";
  ASSERT_EQ(run_command(bin + args + " --out " + dir.file("ref") + " > /dev/null 2>&1").rc, 0);
  const auto ref = read_losses(dir.file("ref"));
  ASSERT_EQ(ref.size(), 30u);
  const std::string run = dir.file("killed");
  int kills = 0;
  for (int attempt = 0; attempt < 40 && kills < 3; ++attempt) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      const std::string cmd = bin + args + " --out " + run + (attempt > 0 ? " --resume" : "") + " > /dev/null 2>&1";
      execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), (char*)nullptr);
      _exit(127);
    }
    usleep(useconds_t(150000 + 97000 * (attempt % 5)));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) ++kills;
    else break;  // it finished before the kill
  }
  ASSERT_EQ(run_command(bin + args + " --out " + run + " --resume > /dev/null 2>&1").rc, 0);
  const auto got = read_losses(run);
  EXPECT_GE(kills, 1);
  ASSERT_EQ(got.size(), ref.size());
  for (const auto& [st, v] : ref) EXPECT_EQ(got.at(st), v) << "step " << st << " after " << kills << " kills";
}

TEST(Trainer, LearnsAndExportsLoadableModel) {
  TempDir dir;
  const std::string ids = write_corpus(dir, 20000);
  TrainConfig c = micro_config(ids, dir.file("run"), 60);
  c.data.val_tokens = write_corpus(dir, 2000, "val.npy");
  c.log.eval_every = 30;
  c.checkpoint.export_dir = dir.file("hf");
  TrainSummary s = run_training(c);
  // The phrase corpus has ~log(8)/6 + ... nats of real uncertainty; the unigram entropy is ~3.5.
  EXPECT_GT(s.unigram_entropy, 3.0);
  EXPECT_LT(s.val_loss, s.unigram_entropy - 1.0) << "the model did not learn";
  const CommandResult r =
      run_command(std::string(FRUGAL_BINARY) + " generate " + dir.file("hf") + " --ids 1,2,3 --max-tokens 4 --json 2>&1");
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("\"ids\""), std::string::npos) << r.out;
  // frugal export of the run's checkpoint writes the same tensors.
  const CommandResult e = run_command(std::string(FRUGAL_BINARY) + " export " + dir.file("run") + " " +
                                      dir.file("hf2") + " 2>&1");
  EXPECT_EQ(e.rc, 0) << e.out;
  EXPECT_TRUE(read_bytes(dir.file("hf") + "/model.safetensors") == read_bytes(dir.file("hf2") + "/model.safetensors"));
}

// model.dense: the preset's shape with every layer a dense MLP, so the exported model has no
// expert tensors and fewer parameters than the MoE one.
TEST(Trainer, DenseFromScratchHasNoExperts) {
  TempDir dir;
  const std::string ids = write_corpus(dir, 4000);
  TrainConfig c = micro_config(ids, dir.file("run"), 2);
  c.model.dense = true;
  c.model.mtp_layers = 0;
  c.checkpoint.export_dir = dir.file("hf");
  run_training(c);
  const DeepSeekConfig m = load_hf_config(dir.file("hf"));
  EXPECT_EQ(m.first_k_dense_replace, m.num_hidden_layers);
  const std::string header = read_bytes(dir.file("hf") + "/model.safetensors").substr(0, 1 << 16);
  EXPECT_EQ(header.find("experts"), std::string::npos);
  EXPECT_NE(header.find("mlp.gate_proj"), std::string::npos);
}

TEST(Trainer, NoShuffleReadsSequencesInOrder) {
  // With --no-shuffle and a corpus of exactly one batch per step, two runs over the same ids in
  // the same order give the same losses, and the loader state says rows were read in order.
  TempDir dir;
  const std::string ids = write_corpus(dir, 2000);
  TrainConfig c = micro_config(ids, dir.file("a"), 3);
  c.data.shuffle = false;
  run_training(c);
  std::ifstream f(dir.file("a") + "/ckpt/step_00000003/meta.json");
  nlohmann::json meta = nlohmann::json::parse(f);
  EXPECT_EQ(meta["meta"]["loader"]["rows_seen"].get<int64_t>(), 6);
  EXPECT_FALSE(meta["meta"]["loader"]["shuffle"].get<bool>());
}

TEST(Trainer, BadInputs) {
  TempDir dir;
  // A corpus smaller than one batch.
  const std::string tiny = write_corpus(dir, 20, "tiny.npy");
  expect_error([&] { run_training(micro_config(tiny, dir.file("t"), 2)); }, std::nullopt, {"tiny.npy"});
  // Missing token file.
  expect_error([&] { run_training(micro_config(dir.file("nope.npy"), dir.file("n"), 2)); }, std::nullopt,
               {"nope.npy"});
  // Ids outside the model's vocabulary.
  const std::string ids = write_corpus(dir, 4000);
  TrainConfig v = micro_config(ids, dir.file("v"), 2);
  v.model.vocab_size = 16;
  expect_error([&] { run_training(v); }, std::nullopt, {"vocabulary"});
  // A diverging run: NaN/Inf steps are skipped and counted, then the run stops with a clear message.
  TrainConfig nan = micro_config(ids, dir.file("nan"), 50);
  nan.optim.lr = 1e30;
  nan.optim.warmup = 0;
  nan.optim.grad_clip = 0;
  nan.train.max_nan_skips = 2;
  expect_error([&] { run_training(nan); }, std::nullopt, {"NaN/Inf", "max_nan_skips"});
}

TEST(Trainer, CorruptNewestCheckpointFallsBack) {
  TempDir dir;
  const std::string ids = write_corpus(dir, 4000);
  run_training(micro_config(ids, dir.file("run"), 6));  // checkpoints at 3 and 6
  const std::string state = dir.file("run") + "/ckpt/step_00000006/state.safetensors";
  std::string bytes = read_bytes(state);
  bytes[bytes.size() / 2] ^= 0x5a;
  write_bytes(state, bytes);
  TrainConfig r = micro_config(ids, dir.file("run"), 6);
  r.checkpoint.resume = true;
  TrainSummary s = run_training(r);
  EXPECT_EQ(s.start_step, 3);  // the corrupt step 6 was refused, step 3 used
  EXPECT_EQ(s.steps_done, 6);
}

}  // namespace

namespace {

// --init continues from a Hugging Face checkpoint (its config, MTP module and routing biases):
// the first step's loss is that checkpoint's loss on the batch, not a fresh model's.
TEST(Trainer, InitFromHuggingFaceCheckpoint) {
  TempDir dir;
  const std::string ids = write_corpus(dir, 4000);
  TrainConfig c = micro_config(ids, dir.file("run"), 2);
  c.model.init = FRUGAL_TEST_DATA "/fixtures/micro_f32";
  c.model.vocab_size = 0;
  c.checkpoint.export_dir = dir.file("hf");
  TrainSummary s = run_training(c);
  EXPECT_EQ(s.steps_done, 2);
  // The fixture's random weights predict 64 ids no better than chance over its 256-token vocabulary.
  std::istringstream in(read_bytes(dir.file("run") + "/metrics.jsonl"));
  std::string line;
  std::getline(in, line);
  const double first = nlohmann::json::parse(line)["loss"].get<double>();
  EXPECT_GT(first, 4.0);
  EXPECT_LT(first, 8.0);
  // The export keeps the checkpoint's architecture, MTP module included.
  std::ifstream f(dir.file("hf") + "/config.json");
  nlohmann::json cfg = nlohmann::json::parse(f);
  EXPECT_EQ(cfg["vocab_size"].get<int64_t>(), 256);
  EXPECT_EQ(cfg["num_nextn_predict_layers"].get<int64_t>(), 1);
}

}  // namespace

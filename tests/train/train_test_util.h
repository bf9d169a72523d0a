// Helpers shared by the training tests: a learnable corpus, the micro run config, the losses a
// run logged, and a checkpoint rewritten so that its tensor data is misaligned.
#pragma once
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/rng.h"
#include "core/tensor.h"
#include "io/npy.h"
#include "io/random_model.h"
#include "test_util.h"
#include "train/train_config.h"
#include "train/train_step.h"
#include "train/trainer.h"

namespace frugal::test {

// The micro preset over a 64-token vocabulary with one MTP module and no BOS/EOS: the model the
// training-step tests (one process, data parallel, mixed precision) step on pattern_batch data.
inline constexpr int64_t kPatternVocab = 64;
inline DeepSeekConfig pattern_model() {
  DeepSeekConfig m = random_model_preset("micro");
  m.vocab_size = kPatternVocab;
  m.num_nextn_predict_layers = 1;
  m.bos_token_id = -1;
  m.eos_token_id = -1;
  return m;
}

// The settings those tests share: a cosine schedule with warmup 2 over `total_steps`, and the MTP
// and balance losses on, so every term of the step is exercised.
inline TrainerSettings pattern_settings(double lr = 3e-3, int64_t total_steps = 20) {
  TrainerSettings s;
  s.schedule.kind = LrScheduleKind::kCosine;
  s.schedule.lr = lr;
  s.schedule.warmup_steps = 2;
  s.schedule.total_steps = total_steps;
  s.model.mtp_weight = 0.3;
  s.model.aux_alpha = 1e-3;
  return s;
}

// B sequences of T tokens of a learnable rule (each token from the one 3 back), next-token
// targets, the last target of each sequence masked.
inline MicroBatch pattern_batch(int64_t B, int64_t T, uint64_t seed) {
  Rng rng(seed);
  MicroBatch mb;
  mb.B = B;
  mb.T = T;
  for (int64_t b = 0; b < B; ++b) {
    std::vector<int32_t> seq(size_t(T + 1));
    for (int64_t t = 0; t <= T; ++t)
      seq[size_t(t)] = t < 3 ? int32_t(rng.below(kPatternVocab)) : (seq[size_t(t - 3)] * 5 + 1) % kPatternVocab;
    for (int64_t t = 0; t < T; ++t) {
      mb.inputs.push_back(seq[size_t(t)]);
      mb.targets.push_back(t + 1 < T ? seq[size_t(t + 1)] : -1);
    }
  }
  return mb;
}

// A learnable corpus over 64 ids: a few fixed "phrases" repeated in random order, so the next
// token is mostly determined by the previous one.
inline std::string write_corpus(const TempDir& dir, int64_t n, const std::string& name = "ids.npy") {
  Rng rng(7);
  std::vector<std::vector<int32_t>> phrases;
  for (int p = 0; p < 8; ++p) {
    std::vector<int32_t> ph;
    for (int i = 0; i < 6; ++i) ph.push_back(int32_t(rng.below(64)));
    phrases.push_back(ph);
  }
  std::vector<int32_t> ids;
  while (int64_t(ids.size()) < n) {
    const auto& ph = phrases[rng.below(phrases.size())];
    ids.insert(ids.end(), ph.begin(), ph.end());
  }
  ids.resize(size_t(n));
  Tensor t = Tensor::zeros(DType::kI32, {n});
  std::copy(ids.begin(), ids.end(), t.data_as<int32_t>());
  const std::string path = dir.file(name);
  npy_write(path, t);
  return path;
}

inline TrainConfig micro_config(const std::string& tokens, const std::string& out, int64_t steps) {
  return load_train_config(nullptr, {"data.tokens=" + tokens, "checkpoint.out=" + out, "model.preset=micro",
                                     "model.vocab_size=64", "data.seq_len=16", "train.batch=2",
                                     "train.steps=" + std::to_string(steps), "optim.lr=3e-3", "optim.warmup=2",
                                     "checkpoint.every=3", "log.every=100", "log.eval_every=0"});
}

// step -> loss, from RUN_DIR/metrics.jsonl (the exact doubles).
inline std::map<int64_t, std::vector<double>> read_losses(const std::string& run_dir) {
  std::map<int64_t, std::vector<double>> out;
  std::istringstream in(read_bytes(run_dir + "/metrics.jsonl"));
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line);
    out[j["step"].get<int64_t>()] = {j["loss"].get<double>(), j.value("mtp_loss", 0.0), j["grad_norm"].get<double>()};
  }
  return out;
}

// The training loop in `precision`, killed after step 6 (the checkpoints after it dropped) and
// resumed: the same losses bit for bit as 10 uninterrupted steps. Returns the resumed run's
// config, for follow-up checks on its directory.
inline TrainConfig expect_resume_bit_exact(const TempDir& dir, Precision precision) {
  const std::string ids = write_corpus(dir, 4000);
  TrainConfig full = micro_config(ids, dir.file("full"), 10);
  full.train.precision = precision;
  run_training(full);
  TrainConfig part = micro_config(ids, dir.file("split"), 10);
  part.train.precision = precision;
  run_training(part);
  std::filesystem::remove_all(dir.file("split") + "/ckpt/step_00000009");
  std::filesystem::remove_all(dir.file("split") + "/ckpt/step_00000010");
  write_bytes(dir.file("split") + "/ckpt/latest", "step_00000006\n");
  part.checkpoint.resume = true;
  TrainSummary s = run_training(part);
  EXPECT_EQ(s.start_step, 6);
  auto a = read_losses(dir.file("full")), b = read_losses(dir.file("split"));
  EXPECT_EQ(a.size(), 10u);
  EXPECT_EQ(b.size(), 10u);
  for (int64_t st = 1; st <= 10; ++st) EXPECT_EQ(a[st], b[st]) << "step " << st;
  return part;
}

// Rewrites STEP_DIR/state.safetensors with a header one byte longer (one more trailing space,
// which is still valid JSON), so every tensor starts one byte later and no f32 is 4-aligned, and
// updates meta.json's size and CRC-32 to match: a valid checkpoint another writer could produce.
inline void misalign_checkpoint(const std::string& step_dir) {
  const std::string path = step_dir + "/state.safetensors";
  const std::string bytes = read_bytes(path);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(uint8_t(bytes[size_t(i)])) << (8 * i);
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char(((n + 1) >> (8 * i)) & 0xff);
  out += bytes.substr(8, n) + " " + bytes.substr(8 + n);
  write_bytes(path, out);
  nlohmann::json doc = nlohmann::json::parse(read_bytes(step_dir + "/meta.json"));
  const uLong crc = ::crc32_z(0, reinterpret_cast<const Bytef*>(out.data()), out.size());
  doc["files"]["state.safetensors"] = {{"bytes", out.size()}, {"crc32", fmt::format("{:08x}", crc)}};
  write_bytes(step_dir + "/meta.json", doc.dump(2) + "\n");
}

}  // namespace frugal::test

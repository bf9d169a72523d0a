#include "train/trainer.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/dir_lock.h"
#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "core/rng.h"
#include "core/sys.h"
#include "data/batch_loader.h"
#include "data/token_source.h"
#include "io/hf_config.h"
#include "io/hf_params.h"
#include "io/random_model.h"
#include "kernels/gemm_precision.h"
#include "kernels/linear.h"
#include "model/param_store.h"
#include "train/checkpoint.h"
#include "train/flops.h"
#include "train/schedule.h"
#include "train/telemetry.h"
#include "train/train_step.h"

namespace frugal {

namespace {

constexpr double kInitStd = 0.02;  // from-scratch init of linear/embedding weights (HF initializer_range)

// Unigram entropy (nats) of a token source: the loss of the best context-free predictor; a model
// that learns anything must go below it.
double unigram_entropy(const data::TokenSource& src) {
  std::vector<int64_t> count;
  std::vector<int32_t> buf(1 << 16);
  for (int64_t pos = 0; pos < src.size(); pos += int64_t(buf.size())) {
    const int64_t n = std::min<int64_t>(int64_t(buf.size()), src.size() - pos);
    src.read(pos, n, buf.data());
    for (int64_t i = 0; i < n; ++i) {
      if (size_t(buf[size_t(i)]) >= count.size()) count.resize(size_t(buf[size_t(i)]) + 1, 0);
      ++count[size_t(buf[size_t(i)])];
    }
  }
  double h = 0;
  const double total = double(src.size());
  for (int64_t c : count)
    if (c > 0) h -= double(c) / total * std::log(double(c) / total);
  return h;
}

// The model's configuration: from --init's config.json, or a preset sized to the data's vocabulary.
DeepSeekConfig model_config(const TrainConfig& c, const data::TokenSource& train) {
  DeepSeekConfig m;
  if (!c.model.init.empty()) {
    m = load_hf_config(c.model.init);
    m.quant = QuantConfig{};  // training weights are f32 whatever the checkpoint stored
  } else {
    m = random_model_preset(c.model.preset);
    int64_t vocab = c.model.vocab_size;
    if (vocab == 0) vocab = train.vocab_size() > 0 ? train.vocab_size() : int64_t(train.max_id()) + 1;
    m.vocab_size = vocab;
    m.num_nextn_predict_layers = c.model.mtp_layers;
    m.max_position_embeddings = std::max<int64_t>(m.max_position_embeddings, c.data.seq_len);
    if (train.eos_id() >= 0) m.eos_token_id = train.eos_id();
    if (m.bos_token_id >= vocab) m.bos_token_id = -1;
    if (m.eos_token_id >= vocab) m.eos_token_id = -1;
  }
  if (train.max_id() >= m.vocab_size)
    fail(ErrorKind::kInvalidArgument, "{}: token id {} is outside the model's vocabulary of {}", train.path(),
         train.max_id(), m.vocab_size);
  return m;
}

// Mean validation losses over a fixed set of batches (always the same ones, from the start of the
// validation split), so successive evaluations are comparable.
double evaluate(Trainer& trainer, const data::TokenSource& val, const TrainConfig& c, int64_t* batches_out) {
  const int64_t B = c.train.batch, T = c.data.seq_len;
  const int64_t n_seq = val.size() / (T + 1);
  const int64_t rows = std::min<int64_t>(n_seq, B * c.log.eval_batches);
  if (rows <= 0) return -1;
  data::BatchLoader loader(val, std::min<int64_t>(B, rows), T, 0, false);
  MicroBatch mb;
  mb.B = loader.batch();
  mb.T = T;
  mb.inputs.resize(size_t(mb.B * T));
  mb.targets.resize(size_t(mb.B * T));
  double sum = 0;
  int64_t n = 0;
  for (int64_t r = 0; r + loader.batch() <= rows; r += loader.batch()) {
    loader.next(mb.inputs.data(), mb.targets.data());
    sum += trainer.evaluate(mb).main;
    ++n;
  }
  if (batches_out) *batches_out = n;
  return n > 0 ? sum / double(n) : -1;
}

// Drops metrics of steps after `step` (a killed run logged steps its last checkpoint does not
// have; the resumed run logs them again).
void truncate_metrics(const std::string& path, int64_t step) {
  if (!file_exists(path)) return;
  std::istringstream in(read_file(path));
  std::string line, kept;
  while (std::getline(in, line)) {
    nlohmann::json j;
    try {
      j = parse_json(line, path);
    } catch (const Error&) {
      continue;  // a torn last line
    }
    if (!j.is_object() || !j.contains("step") || !j["step"].is_number_integer()) continue;
    if (j["step"].get<int64_t>() <= step) kept += line + "\n";
  }
  write_file_atomic(path, kept);
}

}  // namespace

TrainSummary run_training(const TrainConfig& c) {
  TrainSummary sum;
  sum.run_dir = c.checkpoint.out;
  if (c.data.tokens.empty()) fail(ErrorKind::kConfig, "data.tokens (--tokens) is required: the training tokens");
  std::filesystem::create_directories(c.checkpoint.out);
  // Held until this function returns (or the process dies): a second run on the same directory
  // is refused here, before it reads or writes anything in it.
  const DirLock run_lock(c.checkpoint.out, kRunLockFile, "training run");

  data::TokenSource train = data::TokenSource::open(c.data.tokens);
  std::optional<data::TokenSource> val;
  // An explicit validation source: a prepared directory's val split, or a whole .bin / .npy file.
  if (!c.data.val_tokens.empty())
    val = is_directory(c.data.val_tokens) ? data::TokenSource::open(c.data.val_tokens, data::Split::kVal)
                                          : data::TokenSource::open(c.data.val_tokens);
  else val = data::TokenSource::open_val(c.data.tokens);
  const int64_t B = c.train.batch, T = c.data.seq_len;
  data::BatchLoader loader(train, B, T, c.train.seed, c.data.shuffle);

  const DeepSeekConfig mcfg = model_config(c, train);
  Trainer trainer(mcfg, trainer_settings(c));
  ParamStore& store = trainer.store();
  if (!c.model.init.empty()) {
    load_params_hf(c.model.init, store);
  } else {
    Rng rng(c.train.seed ^ 0x9e3779b97f4a7c15ULL);
    store.init_random(rng, kInitStd);
  }
  BatchRamp ramp({B, c.train.grad_accum, c.optim.batch_warmup_start, c.optim.batch_warmup_tokens});
  const TrainOptions& topt = trainer.settings().model;

  // Accumulated across resumes (stored in the checkpoint).
  int64_t tokens_seen = 0, nan_skips = 0;
  double elapsed_prev = 0;
  const std::string metrics_path = path_join(c.checkpoint.out, "metrics.jsonl");
  const nlohmann::json model_json = hf_config_to_json(mcfg);
  if (c.checkpoint.resume) {
    std::optional<LoadedCheckpoint> ck = load_latest_checkpoint(c.checkpoint.out);
    if (!ck) {
      std::fprintf(stderr, "frugal train: --resume: no checkpoint in %s/ckpt, starting from step 0\n",
                   c.checkpoint.out.c_str());
    } else {
      for (const std::string& w : ck->warnings) std::fprintf(stderr, "frugal train: warning: %s\n", w.c_str());
      const nlohmann::json& meta = ck->meta;
      if (meta.value("model", nlohmann::json()) != model_json)
        fail(ErrorKind::kInvalidArgument, "{}: the checkpoint's model config differs from this run's", ck->dir);
      trainer.restore(*ck, meta);
      loader.restore(meta.at("loader"));
      tokens_seen = meta.at("tokens_seen").get<int64_t>();
      nan_skips = meta.at("nan_skips").get<int64_t>();
      elapsed_prev = meta.at("elapsed_s").get<double>();
      truncate_metrics(metrics_path, trainer.step_count());
      std::fprintf(stderr, "frugal train: resumed from %s (step %lld)\n", ck->dir.c_str(),
                   (long long)trainer.step_count());
    }
  } else if (file_exists(metrics_path)) {
    write_file_atomic(metrics_path, "");  // a fresh run in an old directory starts a fresh log
  }
  write_file_atomic(path_join(c.checkpoint.out, "config.resolved.toml"), to_toml(c));
  sum.start_step = trainer.step_count();

  // A checkpoint of the step just taken: the trainer's state ("step", "optimizer", tensors) plus the loop's.
  auto save = [&](double elapsed) {
    nlohmann::json meta = trainer.state_json();
    meta["tokens_seen"] = tokens_seen;
    meta["nan_skips"] = nan_skips;
    meta["elapsed_s"] = elapsed;
    meta["model"] = model_json;
    meta["loader"] = loader.state();
    save_checkpoint(c.checkpoint.out, trainer.step_count(), trainer.state_tensors(), meta,
                    int(c.checkpoint.keep_last));
  };

  const double peak_gflops = measure_sgemm_peak_gflops(0.3);
  // Said once: bf16 on a CPU without native bf16 dot products is exact but no faster than f32.
  const char* bf16_note = topt.precision != Precision::kBf16              ? ""
                          : bf16_gemm_path() == Bf16GemmPath::kOnednn ? " (oneDNN, native bf16 dot products)"
                                                                        : " (emulated: this CPU has no AVX512-BF16/AMX, "
                                                                          "so bf16 is exact but not faster than f32)";
  const double flops_per_token = training_flops_per_token(mcfg, T, topt.mtp_weight > 0).total;
  sum.unigram_entropy = unigram_entropy(train);
  std::fprintf(stderr,
               "frugal train: %lld params (%s), %lld train tokens (unigram entropy %.3f nats), "
               "B=%lld T=%lld K=%lld, %lld steps, recompute %s, precision %s%s, sgemm peak %.0f GFLOP/s (%s)\n",
               (long long)store.total_numel(), c.model.init.empty() ? c.model.preset.c_str() : c.model.init.c_str(),
               (long long)train.size(), sum.unigram_entropy, (long long)B, (long long)T,
               (long long)c.train.grad_accum, (long long)c.train.steps, recompute_name(topt.recompute),
               precision_name(topt.precision), bf16_note, peak_gflops, blas_info());

  TelemetryOptions tel_opt;
  tel_opt.usd_per_hour = c.log.usd_per_hour;
  tel_opt.prior_elapsed_s = elapsed_prev;
  Telemetry tel(c.checkpoint.out, tel_opt);
  const double t_start = now_seconds();
  int64_t consecutive_nan = 0, tokens_this_run = 0;
  std::vector<MicroBatch> micro_batches;
  while (trainer.step_count() < c.train.steps) {
    const double t0 = now_seconds();
    micro_batches.resize(size_t(ramp.micro_batches_at(tokens_seen)));
    for (MicroBatch& mb : micro_batches) {
      mb.B = B;
      mb.T = T;
      mb.inputs.resize(size_t(B * T));
      mb.targets.resize(size_t(B * T));
      loader.next(mb.inputs.data(), mb.targets.data());
    }
    const StepResult r = trainer.step(micro_batches);
    tokens_seen += r.tokens;
    tokens_this_run += r.tokens;
    if (!r.applied) {  // NaN/Inf loss or gradient: the update was skipped; count it, stop after a bound
      ++nan_skips;
      if (++consecutive_nan > c.train.max_nan_skips)
        fail(ErrorKind::kInvalidArgument,
             "step {}: loss or gradient is NaN/Inf for {} consecutive steps (train.max_nan_skips = {}); "
             "lower the learning rate or check the data",
             r.step, consecutive_nan, c.train.max_nan_skips);
    } else {
      consecutive_nan = 0;
    }
    const int64_t step = r.step;
    const double now = now_seconds();
    StepRecord rec;
    rec.step = step;
    rec.total_steps = c.train.steps;
    rec.loss = r.loss;
    if (topt.mtp_weight > 0 && mcfg.num_nextn_predict_layers > 0) rec.mtp_loss = r.mtp_loss;
    rec.balance_loss = r.balance_loss;
    rec.lr = r.lr;
    rec.grad_norm = r.grad_norm;
    rec.step_ms = (now - t0) * 1e3;
    rec.tokens_per_s = double(r.tokens) / (now - t0);
    rec.mfu = model_flops_utilization(flops_per_token, rec.tokens_per_s, peak_gflops);
    rec.moe_max_violation = r.moe_max_violation;
    rec.tokens_seen = tokens_seen;
    rec.examples_seen = loader.rows_seen();
    rec.nan_skips = nan_skips;
    const bool last = step == c.train.steps;
    if (val && c.log.eval_every > 0 && (step % c.log.eval_every == 0 || last)) {
      const double v = evaluate(trainer, *val, c, nullptr);
      if (v >= 0) rec.val_loss = v;
    }
    rec = tel.log(rec, last || step == 1 || step % c.log.every == 0 || rec.val_loss.has_value());
    const double elapsed = rec.elapsed_s;
    sum.last_loss = r.loss;
    if (rec.val_loss) sum.val_loss = *rec.val_loss;
    if ((c.checkpoint.every > 0 && step % c.checkpoint.every == 0) || last) {
      save(elapsed);
      tel.message(fmt::format("checkpoint step {} saved", step));
    }
  }
  const double run_s = now_seconds() - t_start;
  sum.steps_done = trainer.step_count();
  sum.nan_skips = nan_skips;
  sum.tokens_per_s = run_s > 0 ? double(tokens_this_run) / run_s : 0;
  sum.mfu = model_flops_utilization(flops_per_token, sum.tokens_per_s, peak_gflops);
  if (val && sum.val_loss < 0) sum.val_loss = evaluate(trainer, *val, c, nullptr);
  if (!c.checkpoint.export_dir.empty()) {
    export_params_hf(store, c.checkpoint.export_dir);
    sum.export_dir = c.checkpoint.export_dir;
  }
  return sum;
}

}  // namespace frugal

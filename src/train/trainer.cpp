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
#include "io/hf_config.h"
#include "io/hf_params.h"
#include "io/random_model.h"
#include "kernels/gemm_precision.h"
#include "kernels/linear.h"
#include "model/param_store.h"
#include "train/checkpoint.h"
#include "train/flops.h"
#include "train/pretrain_data.h"
#include "train/schedule.h"
#include "train/telemetry.h"
#include "train/train_step.h"

namespace frugal {

namespace {

constexpr double kInitStd = 0.02;  // from-scratch init of linear/embedding weights (HF initializer_range)

// The model's configuration: from --init's config.json, or a preset sized to the data's vocabulary.
// `train` is the pretraining corpus (null for other data, which needs --init).
DeepSeekConfig model_config(const TrainConfig& c, const TrainData& data, const data::TokenSource* train) {
  DeepSeekConfig m;
  if (!c.model.init.empty()) {
    m = load_hf_config(c.model.init);
    m.quant = QuantConfig{};  // training weights are f32 whatever the checkpoint stored
  } else {
    if (!train) fail(ErrorKind::kConfig, "model.init (--init) is required: the model to train on {}", data.path());
    m = random_model_preset(c.model.preset);
    int64_t vocab = c.model.vocab_size;
    if (vocab == 0) vocab = train->vocab_size() > 0 ? train->vocab_size() : int64_t(train->max_id()) + 1;
    m.vocab_size = vocab;
    m.num_nextn_predict_layers = c.model.mtp_layers;
    if (c.model.dense) m.first_k_dense_replace = m.num_hidden_layers;  // as random-model --dense
    m.max_position_embeddings = std::max<int64_t>(m.max_position_embeddings, c.data.seq_len);
    if (train->eos_id() >= 0) m.eos_token_id = train->eos_id();
    if (m.bos_token_id >= vocab) m.bos_token_id = -1;
    if (m.eos_token_id >= vocab) m.eos_token_id = -1;
  }
  if (data.max_id() >= m.vocab_size)
    fail(ErrorKind::kInvalidArgument, "{}: token id {} is outside the model's vocabulary of {}", data.path(),
         data.max_id(), m.vocab_size);
  return m;
}

// Mean validation loss over the data's fixed validation batches; -1 without any.
double evaluate(Trainer& trainer, const std::vector<MicroBatch>& batches) {
  if (batches.empty()) return -1;
  double sum = 0;
  for (const MicroBatch& mb : batches) sum += trainer.evaluate(mb).main;
  return sum / double(batches.size());
}

// The checkpoint's parallel layout (meta.layout, absent before data parallelism: one process).
// Data-parallel checkpoints hold whole tensors, so any dp and either zero1 resumes them; a layout
// this build cannot reshard (expert or pipeline parallel) is refused by name.
void check_layout(const nlohmann::json& meta, const std::string& dir) {
  if (!meta.contains("layout")) return;
  const nlohmann::json& l = meta["layout"];
  if (!l.is_object()) fail(ErrorKind::kFormat, "{}: meta.layout is not an object: {}", dir, l.dump());
  for (const auto& [key, value] : l.items()) {
    if (key == "dp" || key == "zero1") continue;
    if ((key == "ep" || key == "pp") && value.is_number_integer() && value.get<int64_t>() == 1) continue;
    fail(ErrorKind::kInvalidArgument,
         "{}: checkpoint layout {} = {} cannot be resumed: this build reshards data-parallel checkpoints only", dir, key,
         value.dump());
  }
  if (!l.contains("dp") || !l["dp"].is_number_integer() || l["dp"].get<int64_t>() < 1)
    fail(ErrorKind::kFormat, "{}: meta.layout.dp must be a positive integer: {}", dir, l.dump());
}

}  // namespace

TrainSummary run_training(const TrainConfig& c, TrainData* data, const std::string* resolved_toml,
                          DataParallelComm* dp) {
  TrainSummary sum;
  sum.run_dir = c.checkpoint.out;
  std::unique_ptr<PretrainData> pretrain;
  if (!data) {
    pretrain = std::make_unique<PretrainData>(c);  // checks data.tokens before the run directory exists
    data = pretrain.get();
  }
  const int dp_size = dp ? dp->size() : 1;
  if (dp_size != c.dist.dp)
    fail(ErrorKind::kConfig, "dist.dp = {} but the job has {} rank(s): run it as mpirun -np {} frugal train ... --dp {}",
         c.dist.dp, dp_size, c.dist.dp, c.dist.dp);
  if (dp_size == 1) dp = nullptr;
  // Rank 0 writes everything (metrics, config, checkpoints, export); the others only compute.
  const bool lead = !dp || dp->rank() == 0;
  std::filesystem::create_directories(c.checkpoint.out);
  // Held until this function returns (or the process dies): a second run on the same directory
  // is refused here, before it reads or writes anything in it.
  std::optional<DirLock> run_lock;
  if (lead) run_lock.emplace(c.checkpoint.out, kRunLockFile, "training run");
  if (dp) dp->barrier();  // the others start reading once rank 0 holds the directory

  const int64_t B = c.train.batch, T = c.data.seq_len;
  const std::vector<MicroBatch> val = data->validation(c.log.eval_batches);

  const DeepSeekConfig mcfg = model_config(c, *data, pretrain ? &pretrain->train_source() : nullptr);
  Trainer trainer(mcfg, trainer_settings(c));
  trainer.set_data_parallel(dp, c.dist.zero1);
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
      if (lead) std::fprintf(stderr, "frugal train: --resume: no checkpoint in %s/ckpt, starting from step 0\n",
                   c.checkpoint.out.c_str());
    } else {
      if (lead)
        for (const std::string& w : ck->warnings) std::fprintf(stderr, "frugal train: warning: %s\n", w.c_str());
      const nlohmann::json& meta = ck->meta;
      if (meta.value("model", nlohmann::json()) != model_json)
        fail(ErrorKind::kInvalidArgument, "{}: the checkpoint's model config differs from this run's", ck->dir);
      check_layout(meta, ck->dir);
      trainer.restore(*ck, meta);
      data->restore(meta.at("loader"));
      tokens_seen = meta.at("tokens_seen").get<int64_t>();
      nan_skips = meta.at("nan_skips").get<int64_t>();
      elapsed_prev = meta.at("elapsed_s").get<double>();
      if (lead) {
        truncate_metrics_after(metrics_path, trainer.step_count());
        std::fprintf(stderr, "frugal train: resumed from %s (step %lld, saved with dp %lld, now dp %d)\n",
                     ck->dir.c_str(), (long long)trainer.step_count(),
                     (long long)meta.value("layout", nlohmann::json::object()).value("dp", int64_t(1)), dp_size);
      }
    }
  } else if (lead && file_exists(metrics_path)) {
    write_file_atomic(metrics_path, "");  // a fresh run in an old directory starts a fresh log
  }
  if (lead)
    write_file_atomic(path_join(c.checkpoint.out, "config.resolved.toml"), resolved_toml ? *resolved_toml : to_toml(c));
  sum.start_step = trainer.step_count();

  // A checkpoint of the step just taken: the trainer's state ("step", "optimizer", tensors) plus the loop's.
  // A collective under data parallelism (ZeRO-1 gathers the moments); rank 0 writes.
  auto save = [&](double elapsed) {
    trainer.gather_state();
    if (!lead) {
      dp->barrier();
      return;
    }
    nlohmann::json meta = trainer.state_json();
    meta["layout"] = {{"dp", dp_size}, {"zero1", trainer.zero1()}};
    meta["tokens_seen"] = tokens_seen;
    meta["nan_skips"] = nan_skips;
    meta["elapsed_s"] = elapsed;
    meta["model"] = model_json;
    meta["loader"] = data->state();
    save_checkpoint(c.checkpoint.out, trainer.step_count(), trainer.state_tensors(), meta,
                    int(c.checkpoint.keep_last));
    // Every rank leaves the save together: a rank that dies after it can count on the checkpoint.
    if (dp) dp->barrier();
  };

  const double peak_gflops = lead ? measure_sgemm_peak_gflops(0.3) : 0;
  // Said once: bf16 on a CPU without native bf16 dot products is exact but no faster than f32.
  // FP8 is exact emulation (docs/precision.md): it shows the numerics, not a speed-up.
  const bool fp8 = topt.precision == Precision::kFp8 || topt.precision == Precision::kFp8Tensor;
  const char* bf16_note = fp8 ? " (emulated E4M3 GEMMs with f32 promotion: exact, slower than f32)"
                          : topt.precision != Precision::kBf16              ? ""
                          : bf16_gemm_path() == Bf16GemmPath::kOnednn ? " (oneDNN, native bf16 dot products)"
                                                                        : " (emulated: this CPU has no AVX512-BF16/AMX, "
                                                                          "so bf16 is exact but not faster than f32)";
  const double flops_per_token = training_flops_per_token(mcfg, T, topt.mtp_weight > 0).total;
  sum.unigram_entropy = pretrain ? pretrain->unigram_entropy() : -1;
  if (lead && dp)
    std::fprintf(stderr, "frugal train: data parallel over %d ranks (%s), %lld micro-batches per rank per step\n",
                 dp_size, trainer.zero1() ? "ZeRO-1: AdamW moments sharded" : "replicated optimizer",
                 (long long)(c.train.grad_accum / dp_size));
  if (lead)
    std::fprintf(stderr,
                 "frugal train: %lld params (%s), %s, "
                 "B=%lld T=%lld K=%lld, %lld steps, recompute %s, precision %s%s, sgemm peak %.0f GFLOP/s (%s)\n",
                 (long long)store.total_numel(), c.model.init.empty() ? c.model.preset.c_str() : c.model.init.c_str(),
                 data->describe().c_str(), (long long)B, (long long)T, (long long)c.train.grad_accum,
                 (long long)c.train.steps, recompute_name(topt.recompute), precision_name(topt.precision), bf16_note,
                 peak_gflops, blas_info());

  TelemetryOptions tel_opt;
  tel_opt.usd_per_hour = c.log.usd_per_hour;
  tel_opt.prior_elapsed_s = elapsed_prev;
  std::optional<Telemetry> tel;
  if (lead) tel.emplace(c.checkpoint.out, tel_opt);
  const double t_start = now_seconds();
  int64_t consecutive_nan = 0, tokens_this_run = 0;
  std::vector<MicroBatch> micro_batches;
  while (trainer.step_count() < c.train.steps) {
    const double t0 = now_seconds();
    micro_batches.resize(size_t(ramp.micro_batches_at(tokens_seen)));
    for (MicroBatch& mb : micro_batches) data->next(mb);
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
    rec.examples_seen = data->rows_seen();
    rec.nan_skips = nan_skips;
    const bool last = step == c.train.steps;
    if (lead && !val.empty() && c.log.eval_every > 0 && (step % c.log.eval_every == 0 || last)) {
      const double v = evaluate(trainer, val);
      if (v >= 0) rec.val_loss = v;
    }
    if (tel) rec = tel->log(rec, last || step == 1 || step % c.log.every == 0 || rec.val_loss.has_value());
    const double elapsed = rec.elapsed_s;
    sum.last_loss = r.loss;
    if (rec.val_loss) sum.val_loss = *rec.val_loss;
    if ((c.checkpoint.every > 0 && step % c.checkpoint.every == 0) || last) {
      save(elapsed);
      if (tel) tel->message(fmt::format("checkpoint step {} saved", step));
    }
    if (dp) dp->on_step(step);
  }
  const double run_s = now_seconds() - t_start;
  sum.steps_done = trainer.step_count();
  sum.nan_skips = nan_skips;
  sum.tokens_per_s = run_s > 0 ? double(tokens_this_run) / run_s : 0;
  sum.mfu = model_flops_utilization(flops_per_token, sum.tokens_per_s, peak_gflops);
  if (lead && !val.empty() && sum.val_loss < 0) sum.val_loss = evaluate(trainer, val);
  if (lead && !c.checkpoint.export_dir.empty()) {
    export_params_hf(store, c.checkpoint.export_dir);
    sum.export_dir = c.checkpoint.export_dir;
  }
  return sum;
}

}  // namespace frugal

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

#include "core/error.h"
#include "core/file.h"
#include "core/rng.h"
#include "core/sys.h"
#include "data/batch_loader.h"
#include "data/token_source.h"
#include "io/hf_config.h"
#include "io/hf_params.h"
#include "io/random_model.h"
#include "model/moe_train.h"
#include "model/param_store.h"
#include "model/transformer_train.h"
#include "train/checkpoint.h"
#include "train/flops.h"
#include "train/optimizer.h"
#include "train/schedule.h"
#include "train/telemetry.h"

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

LrScheduleKind to_schedule_kind(TrainConfig::Schedule s) {
  switch (s) {
    case TrainConfig::Schedule::kConstant: return LrScheduleKind::kConstant;
    case TrainConfig::Schedule::kCosine: return LrScheduleKind::kCosine;
    case TrainConfig::Schedule::kWsd: return LrScheduleKind::kWsd;
  }
  return LrScheduleKind::kCosine;
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
double evaluate(TrainModel& model, const data::TokenSource& val, const TrainConfig& c, const TrainOptions& opt,
                int64_t* batches_out) {
  const int64_t B = c.train.batch, T = c.data.seq_len;
  const int64_t n_seq = val.size() / (T + 1);
  const int64_t rows = std::min<int64_t>(n_seq, B * c.log.eval_batches);
  if (rows <= 0) return -1;
  data::BatchLoader loader(val, std::min<int64_t>(B, rows), T, 0, false);
  std::vector<int32_t> in(size_t(loader.batch() * T)), tg(size_t(loader.batch() * T));
  double sum = 0;
  int64_t n = 0;
  for (int64_t r = 0; r + loader.batch() <= rows; r += loader.batch()) {
    loader.next(in.data(), tg.data());
    sum += model.evaluate(in.data(), tg.data(), loader.batch(), T, opt).main;
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
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("step")) continue;  // a torn last line
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
  ParamStore store(mcfg, mcfg.num_nextn_predict_layers > 0);
  if (!c.model.init.empty()) {
    load_params_hf(c.model.init, store);
  } else {
    Rng rng(c.train.seed ^ 0x9e3779b97f4a7c15ULL);
    store.init_random(rng, kInitStd);
  }
  std::vector<AdamWParam> aps;
  for (const ParamStore::Entry& e : store.entries())
    if (e.trainable) aps.push_back({e.name, store.value(e), store.grad(e), e.numel, e.decay, e.shape});
  AdamWConfig acfg;
  acfg.beta1 = c.optim.beta1;
  acfg.beta2 = c.optim.beta2;
  acfg.eps = c.optim.eps;
  acfg.weight_decay = c.optim.weight_decay;
  acfg.grad_clip = c.optim.grad_clip;
  AdamW adamw(std::move(aps), acfg);
  LrScheduleConfig lcfg;
  lcfg.kind = to_schedule_kind(c.optim.schedule);
  lcfg.lr = c.optim.lr;
  lcfg.min_lr = c.optim.min_lr;
  lcfg.warmup_steps = c.optim.warmup;
  lcfg.total_steps = c.train.steps;
  lcfg.decay_fraction = c.optim.decay_fraction;
  LrSchedule schedule(lcfg);
  BatchRamp ramp({B, c.train.grad_accum, c.optim.batch_warmup_start, c.optim.batch_warmup_tokens});

  TrainModel model(mcfg, store.params());
  TrainOptions topt;
  topt.recompute = c.train.recompute;
  topt.mtp_weight = c.train.mtp_weight;
  topt.aux_alpha = c.train.aux_alpha;

  // Accumulated across resumes (stored in the checkpoint).
  int64_t step = 0, tokens_seen = 0, nan_skips = 0;
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
      for (const ParamStore::Entry& e : store.entries()) ck->copy_to(e.name, store.value(e), e.numel);
      adamw.import_state(meta.at("optimizer"), *ck);
      loader.restore(meta.at("loader"));
      step = meta.at("step").get<int64_t>();
      tokens_seen = meta.at("tokens_seen").get<int64_t>();
      nan_skips = meta.at("nan_skips").get<int64_t>();
      elapsed_prev = meta.at("elapsed_s").get<double>();
      truncate_metrics(metrics_path, step);
      std::fprintf(stderr, "frugal train: resumed from %s (step %lld)\n", ck->dir.c_str(), (long long)step);
    }
  } else if (file_exists(metrics_path)) {
    write_file_atomic(metrics_path, "");  // a fresh run in an old directory starts a fresh log
  }
  write_file_atomic(path_join(c.checkpoint.out, "config.resolved.toml"), to_toml(c));
  sum.start_step = step;

  auto save = [&](int64_t at_step, double elapsed) {
    std::vector<CheckpointTensor> tensors;
    for (const ParamStore::Entry& e : store.entries()) tensors.push_back({e.name, e.shape, store.value(e)});
    for (CheckpointTensor& t : adamw.state_tensors()) tensors.push_back(std::move(t));
    nlohmann::json meta = {{"step", at_step},           {"tokens_seen", tokens_seen},
                           {"nan_skips", nan_skips},    {"elapsed_s", elapsed},
                           {"model", model_json},       {"optimizer", adamw.state_json()},
                           {"loader", loader.state()}};
    save_checkpoint(c.checkpoint.out, at_step, tensors, meta, int(c.checkpoint.keep_last));
  };

  const double peak_gflops = measure_sgemm_peak_gflops(0.3);
  const double flops_per_token = training_flops_per_token(mcfg, T, topt.mtp_weight > 0).total;
  sum.unigram_entropy = unigram_entropy(train);
  std::fprintf(stderr,
               "frugal train: %lld params (%s), %lld train tokens (unigram entropy %.3f nats), "
               "B=%lld T=%lld K=%lld, %lld steps, recompute %s, sgemm peak %.0f GFLOP/s\n",
               (long long)store.total_numel(), c.model.init.empty() ? c.model.preset.c_str() : c.model.init.c_str(),
               (long long)train.size(), sum.unigram_entropy, (long long)B, (long long)T,
               (long long)c.train.grad_accum, (long long)c.train.steps, recompute_name(topt.recompute), peak_gflops);

  TelemetryOptions tel_opt;
  tel_opt.usd_per_hour = c.log.usd_per_hour;
  tel_opt.prior_elapsed_s = elapsed_prev;
  Telemetry tel(c.checkpoint.out, tel_opt);
  std::vector<int32_t> inputs(size_t(B * T)), targets(size_t(B * T));
  const double t_start = now_seconds();
  int64_t consecutive_nan = 0, tokens_this_run = 0;
  std::vector<std::vector<int64_t>> load;
  std::vector<const LayerParams*> moe_blocks;
  for (const LayerParams& x : store.params().layers)
    if (x.is_moe) moe_blocks.push_back(&x);
  for (const MtpParams& m : store.params().mtp)
    if (m.block.is_moe) moe_blocks.push_back(&m.block);
  while (step < c.train.steps) {
    const double t0 = now_seconds();
    const int64_t K = ramp.micro_batches_at(tokens_seen);
    topt.loss_scale = 1.0 / double(K);
    store.zero_grad();
    double loss = 0, mtp = 0, bal = 0;
    load.clear();
    for (int64_t k = 0; k < K; ++k) {
      loader.next(inputs.data(), targets.data());
      StepLosses l = model.forward_backward(inputs.data(), targets.data(), B, T, topt);
      loss += l.main / double(K);
      mtp += l.mtp / double(K);
      bal += (l.balance + l.balance_mtp) / double(K);
      if (load.empty()) load = l.expert_load;
      else
        for (size_t i = 0; i < load.size(); ++i)
          for (size_t e = 0; e < load[i].size(); ++e) load[i][e] += l.expert_load[i][e];
    }
    tokens_seen += K * B * T;
    tokens_this_run += K * B * T;
    const double lr = schedule.lr_at(step);
    AdamWStepResult r;
    if (std::isfinite(loss) && std::isfinite(mtp)) r = adamw.step(lr);
    if (!r.applied) {  // NaN/Inf loss or gradient: skip the update, count it, stop after a bound
      ++nan_skips;
      if (++consecutive_nan > c.train.max_nan_skips)
        fail(ErrorKind::kInvalidArgument,
             "step {}: loss or gradient is NaN/Inf for {} consecutive steps (train.max_nan_skips = {}); "
             "lower the learning rate or check the data",
             step + 1, consecutive_nan, c.train.max_nan_skips);
    } else {
      consecutive_nan = 0;
      // Aux-loss-free balancing: one bias update per step from the loads of the whole step
      // (moe_blocks is in the order the forward reports loads: main layers, then MTP blocks).
      for (size_t i = 0; i < load.size() && i < moe_blocks.size(); ++i)
        if (float* bias = moe_blocks[i]->moe.e_score_correction_bias)
          update_routing_bias(bias, load[i].data(), mcfg.n_routed_experts, c.train.bias_gamma);
    }
    ++step;
    const double now = now_seconds();
    StepRecord rec;
    rec.step = step;
    rec.total_steps = c.train.steps;
    rec.loss = loss;
    if (topt.mtp_weight > 0 && mcfg.num_nextn_predict_layers > 0) rec.mtp_loss = mtp;
    rec.balance_loss = bal;
    rec.lr = lr;
    rec.grad_norm = r.grad_norm;
    rec.step_ms = (now - t0) * 1e3;
    rec.tokens_per_s = double(K * B * T) / (now - t0);
    rec.mfu = model_flops_utilization(flops_per_token, rec.tokens_per_s, peak_gflops);
    double vio = 0;
    for (const auto& l : load) vio = std::max(vio, moe_max_violation(l));
    rec.moe_max_violation = vio;
    rec.tokens_seen = tokens_seen;
    rec.examples_seen = loader.rows_seen();
    rec.nan_skips = nan_skips;
    const bool last = step == c.train.steps;
    if (val && c.log.eval_every > 0 && (step % c.log.eval_every == 0 || last)) {
      const double v = evaluate(model, *val, c, topt, nullptr);
      if (v >= 0) rec.val_loss = v;
    }
    rec = tel.log(rec, last || step == 1 || step % c.log.every == 0 || rec.val_loss.has_value());
    const double elapsed = rec.elapsed_s;
    sum.last_loss = loss;
    if (rec.val_loss) sum.val_loss = *rec.val_loss;
    if ((c.checkpoint.every > 0 && step % c.checkpoint.every == 0) || last) {
      save(step, elapsed);
      tel.message(fmt::format("checkpoint step {} saved", step));
    }
  }
  const double run_s = now_seconds() - t_start;
  sum.steps_done = step;
  sum.nan_skips = nan_skips;
  sum.tokens_per_s = run_s > 0 ? double(tokens_this_run) / run_s : 0;
  sum.mfu = model_flops_utilization(flops_per_token, sum.tokens_per_s, peak_gflops);
  if (val && sum.val_loss < 0) sum.val_loss = evaluate(model, *val, c, topt, nullptr);
  if (!c.checkpoint.export_dir.empty()) {
    export_params_hf(store, c.checkpoint.export_dir);
    sum.export_dir = c.checkpoint.export_dir;
  }
  return sum;
}

}  // namespace frugal

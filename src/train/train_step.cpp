#include "train/train_step.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "model/moe_train.h"
#include "train/telemetry.h"
#include "train/tree_sum.h"

namespace frugal {

namespace {

LrScheduleKind to_schedule_kind(TrainConfig::Schedule s) {
  switch (s) {
    case TrainConfig::Schedule::kConstant: return LrScheduleKind::kConstant;
    case TrainConfig::Schedule::kCosine: return LrScheduleKind::kCosine;
    case TrainConfig::Schedule::kWsd: return LrScheduleKind::kWsd;
  }
  return LrScheduleKind::kCosine;
}

// Every trainable tensor of the store, in entry order (the order of the norm reduction and of the
// checkpoint's moments).
std::vector<AdamWParam> adamw_params(ParamStore& store) {
  std::vector<AdamWParam> aps;
  for (const ParamStore::Entry& e : store.entries())
    if (e.trainable) aps.push_back({e.name, store.value(e), store.grad(e), e.numel, e.decay, e.shape});
  return aps;
}

void check_micro_batch(const MicroBatch& mb, size_t k) {
  if (mb.B <= 0 || mb.T <= 0)
    fail(ErrorKind::kInvalidArgument, "micro-batch {}: B = {} and T = {} must be positive", k, mb.B, mb.T);
  const size_t n = size_t(mb.B * mb.T);
  if (mb.inputs.size() != n || mb.targets.size() != n)
    fail(ErrorKind::kInvalidArgument, "micro-batch {}: {} inputs and {} targets, expected B·T = {}", k,
         mb.inputs.size(), mb.targets.size(), n);
  if (!mb.weights.empty() && mb.weights.size() != n)
    fail(ErrorKind::kInvalidArgument, "micro-batch {}: {} loss weights, expected B·T = {} (or none)", k,
         mb.weights.size(), n);
  if (mb.soft_k < 0 || mb.soft_ids.size() != n * size_t(mb.soft_k) || mb.soft_q.size() != n * size_t(mb.soft_k))
    fail(ErrorKind::kInvalidArgument, "micro-batch {}: soft targets of k = {}: {} ids and {} probabilities, expected "
         "B·T·k = {}", k, mb.soft_k, mb.soft_ids.size(), mb.soft_q.size(), n * size_t(std::max<int64_t>(mb.soft_k, 0)));
  if (!mb.positions.empty() && mb.positions.size() != n)
    fail(ErrorKind::kInvalidArgument, "micro-batch {}: {} positions, expected B·T = {} (or none)", k,
         mb.positions.size(), n);
}

TokenWeights token_weights(const MicroBatch& mb) {
  return TokenWeights{mb.weights.empty() ? nullptr : mb.weights.data(), mb.loss_norm};
}

const int32_t* positions_of(const MicroBatch& mb) { return mb.positions.empty() ? nullptr : mb.positions.data(); }

SoftTargets soft_of(const MicroBatch& mb) {
  return mb.soft_k > 0 ? SoftTargets{mb.soft_k, mb.soft_ids.data(), mb.soft_q.data()} : SoftTargets{};
}

// One micro-batch's contribution, as gathered across ranks: the three loss terms and two counts.
struct MbStats {
  double main = 0, mtp = 0, balance = 0;
  int64_t tokens = 0, scored = 0;
  std::vector<std::vector<int64_t>> load;
};

// P contiguous ranges of the optimizer's chunks with near-equal element counts: rank r owns
// chunks [first[r], first[r+1]). Cuts fall on chunk boundaries, so every shard's update and norm
// partials are those of the whole optimizer (optimizer.h, kAdamWChunk).
std::vector<size_t> shard_first_chunk(const std::vector<AdamWChunk>& chunks, int P) {
  int64_t total = 0;
  for (const AdamWChunk& c : chunks) total += c.end - c.begin;
  std::vector<size_t> first(size_t(P) + 1, chunks.size());
  first[0] = 0;
  int64_t seen = 0;
  size_t c = 0;
  for (int r = 1; r < P; ++r) {
    const int64_t target = total * r / P;
    while (c < chunks.size() && seen + (chunks[c].end - chunks[c].begin) / 2 < target) {
      seen += chunks[c].end - chunks[c].begin;
      ++c;
    }
    first[size_t(r)] = c;
  }
  return first;
}

}  // namespace

TrainerSettings trainer_settings(const TrainConfig& c) {
  TrainerSettings s;
  s.adamw.beta1 = c.optim.beta1;
  s.adamw.beta2 = c.optim.beta2;
  s.adamw.bf16_moments = c.optim.moments == TrainConfig::Moments::kBf16;
  s.adamw.eps = c.optim.eps;
  s.adamw.weight_decay = c.optim.weight_decay;
  s.adamw.grad_clip = c.optim.grad_clip;
  s.schedule.kind = to_schedule_kind(c.optim.schedule);
  s.schedule.lr = c.optim.lr;
  s.schedule.min_lr = c.optim.min_lr;
  s.schedule.warmup_steps = c.optim.warmup;
  s.schedule.total_steps = c.train.steps;
  s.schedule.decay_fraction = c.optim.decay_fraction;
  s.model.recompute = c.train.recompute;
  s.model.precision = c.train.precision;
  s.model.mtp_weight = c.train.mtp_weight;
  s.model.aux_alpha = c.train.aux_alpha;
  s.bias_gamma = c.train.bias_gamma;
  return s;
}

Trainer::Trainer(const DeepSeekConfig& cfg, const TrainerSettings& settings)
    : settings_(settings),
      store_(cfg, cfg.num_nextn_predict_layers > 0),
      adamw_(std::make_unique<AdamW>(adamw_params(store_), settings.adamw)),
      schedule_(settings.schedule),
      model_(cfg, store_.params()) {
  // The order the forward reports expert loads in: main layers, then the MTP modules' blocks.
  for (const LayerParams& x : store_.params().layers)
    if (x.is_moe) routing_bias_.push_back(x.moe.e_score_correction_bias);
  for (const MtpParams& m : store_.params().mtp)
    if (m.block.is_moe) routing_bias_.push_back(m.block.moe.e_score_correction_bias);
  shard_offsets_ = {0, store_.total_numel()};
}

void Trainer::set_data_parallel(DataParallelComm* comm, bool zero1) {
  dp_ = comm && comm->size() > 1 ? comm : nullptr;
  zero1_ = dp_ && zero1;
  const int P = dp_ ? dp_->size() : 1, rank = dp_ ? dp_->rank() : 0;
  std::vector<AdamWParam> whole = adamw_params(store_);
  global_chunks_ = adamw_chunks(whole);
  const std::vector<size_t> first = shard_first_chunk(global_chunks_, P);
  // Flat bounds: a shard starts where its first chunk sits in the store's buffer (entries are laid
  // out in list order, so the bounds increase); buffers and padding ride along with the shard.
  std::vector<int64_t> flat_of_param;
  for (const ParamStore::Entry& e : store_.entries())
    if (e.trainable) flat_of_param.push_back(e.offset);
  shard_offsets_.assign(size_t(P) + 1, store_.total_numel());
  shard_offsets_[0] = 0;
  for (int r = 1; r < P; ++r) {
    const size_t c = first[size_t(r)];
    if (c < global_chunks_.size())
      shard_offsets_[size_t(r)] = flat_of_param[global_chunks_[c].param] + global_chunks_[c].begin;
  }
  if (!zero1_) {
    adamw_ = std::make_unique<AdamW>(std::move(whole), settings_.adamw);
    return;
  }
  // This rank's slices: one per tensor its chunk range touches.
  std::vector<AdamWParam> mine;
  for (size_t c = first[size_t(rank)]; c < first[size_t(rank) + 1]; ++c) {
    const AdamWChunk& ch = global_chunks_[c];
    if (mine.empty() || mine.back().name != whole[ch.param].name) {
      AdamWParam p = whole[ch.param];
      p.offset = ch.begin;
      p.slice = true;
      p.n = 0;
      p.w += ch.begin;
      p.g += ch.begin;
      if (p.shape.empty()) p.shape = {whole[ch.param].n};
      mine.push_back(p);
    }
    mine.back().n = ch.end - mine.back().offset;
  }
  adamw_ = std::make_unique<AdamW>(std::move(mine), settings_.adamw);
  // The global norm: every shard's chunk partials, gathered in rank order = global chunk order.
  adamw_->set_norm_reducer([this](const std::vector<double>& local) {
    return combine_norm_partials(global_chunks_, dp_->all_gather_v(local));
  });
  gathered_step_ = -1;
}

StepResult Trainer::step(const std::vector<MicroBatch>& micro_batches) {
  if (micro_batches.empty()) fail(ErrorKind::kInvalidArgument, "a training step needs at least one micro-batch");
  for (size_t k = 0; k < micro_batches.size(); ++k) check_micro_batch(micro_batches[k], k);
  const int64_t K = int64_t(micro_batches.size());
  const int P = dp_ ? dp_->size() : 1, rank = dp_ ? dp_->rank() : 0;
  if (K % P != 0)
    fail(ErrorKind::kInvalidArgument,
         "{} micro-batches per step do not divide among {} data-parallel ranks (train.grad_accum must be a multiple "
         "of --dp)",
         K, P);
  const int64_t m = K / P;
  if (P > 1 && !is_power_of_two(m))
    fail(ErrorKind::kInvalidArgument,
         "{} micro-batches per step on {} data-parallel ranks: each rank's share {} must be a power of two, so the "
         "gradient sum keeps the single-process order (docs/distributed.md, Determinism)",
         K, P, m);
  TrainOptions opt = settings_.model;
  opt.loss_scale = 1.0 / double(K);
  float* grads = store_.grads_data();
  const int64_t n_flat = store_.total_numel();
  // This rank's micro-batches: each gradient from zero, summed in the tree (tree_sum.h).
  std::vector<MbStats> local;
  TreeAccumulator acc(m > 1 ? n_flat : 0);
  for (int64_t k = rank * m; k < (rank + 1) * m; ++k) {
    const MicroBatch& mb = micro_batches[size_t(k)];
    store_.zero_grad();
    StepLosses l = model_.forward_backward(mb.inputs.data(), mb.targets.data(), mb.B, mb.T, opt, token_weights(mb),
                                          positions_of(mb), soft_of(mb));
    if (m > 1) acc.push(grads);
    local.push_back({l.main, l.mtp, l.balance + l.balance_mtp, mb.B * mb.T, l.main_count, std::move(l.expert_load)});
  }
  if (m > 1) acc.finish(grads);

  // Every micro-batch's numbers on every rank, in micro-batch order.
  std::vector<MbStats> all = local;
  if (dp_) {
    dp_->reduce_scatter_sum(grads, shard_offsets_);
    if (!zero1_) dp_->all_gather(grads, shard_offsets_);
    std::vector<double> d;
    std::vector<int64_t> ints;
    for (const MbStats& s : local) {
      d.insert(d.end(), {s.main, s.mtp, s.balance});
      ints.insert(ints.end(), {s.tokens, s.scored});
      for (const auto& layer : s.load) ints.insert(ints.end(), layer.begin(), layer.end());
    }
    const std::vector<double> d_all = dp_->all_gather_v(d);
    const std::vector<int64_t> i_all = dp_->all_gather_v(ints);
    const size_t ints_per_mb = ints.size() / size_t(m);
    all.assign(size_t(K), MbStats{});
    for (size_t k = 0; k < size_t(K); ++k) {
      MbStats& s = all[k];
      s.main = d_all[3 * k];
      s.mtp = d_all[3 * k + 1];
      s.balance = d_all[3 * k + 2];
      const int64_t* p = i_all.data() + k * ints_per_mb;
      s.tokens = p[0];
      s.scored = p[1];
      s.load = local[0].load;  // the shape; the values are micro-batch k's
      size_t j = 2;
      for (auto& layer : s.load)
        for (int64_t& v : layer) v = p[j++];
    }
  }
  StepResult r;
  double loss = 0, mtp = 0, bal = 0;
  for (MbStats& s : all) {
    loss += s.main / double(K);
    mtp += s.mtp / double(K);
    bal += s.balance / double(K);
    if (r.expert_load.empty()) r.expert_load = std::move(s.load);
    else
      for (size_t i = 0; i < r.expert_load.size(); ++i)
        for (size_t e = 0; e < r.expert_load[i].size(); ++e) r.expert_load[i][e] += s.load[i][e];
    r.tokens += s.tokens;
    r.scored += s.scored;
  }
  r.lr = schedule_.lr_at(step_);
  AdamWStepResult a;
  if (std::isfinite(loss) && std::isfinite(mtp)) a = adamw_->step(r.lr);
  if (a.applied && zero1_) dp_->all_gather(store_.values_data(), shard_offsets_);
  if (a.applied) {
    // Aux-loss-free balancing: one bias update per step from the loads of the whole step.
    for (size_t i = 0; i < r.expert_load.size() && i < routing_bias_.size(); ++i)
      if (float* bias = routing_bias_[i])
        update_routing_bias(bias, r.expert_load[i].data(), config().n_routed_experts, settings_.bias_gamma);
  }
  r.step = ++step_;
  r.applied = a.applied;
  r.loss = loss;
  r.mtp_loss = mtp;
  r.balance_loss = bal;
  r.grad_norm = a.grad_norm;
  for (const auto& l : r.expert_load) r.moe_max_violation = std::max(r.moe_max_violation, moe_max_violation(l));
  return r;
}

StepLosses Trainer::evaluate(const MicroBatch& mb) {
  check_micro_batch(mb, 0);
  return model_.evaluate(mb.inputs.data(), mb.targets.data(), mb.B, mb.T, settings_.model, token_weights(mb),
                         positions_of(mb), soft_of(mb));
}

void Trainer::gather_state() {
  if (!zero1_) return;
  // Each rank writes its slices' moments at their flat positions, then the shards are gathered.
  full_m_.assign(size_t(store_.total_numel()), 0.0f);
  full_v_.assign(size_t(store_.total_numel()), 0.0f);
  const AdamW& opt = *adamw_;
  for (size_t i = 0; i < opt.params().size(); ++i) {
    const AdamWParam& p = opt.params()[i];
    const int64_t at = store_.find(p.name)->offset + p.offset;
    const std::vector<float> m = opt.exp_avg(i), v = opt.exp_avg_sq(i);
    std::copy(m.begin(), m.end(), full_m_.begin() + at);
    std::copy(v.begin(), v.end(), full_v_.begin() + at);
  }
  dp_->all_gather(full_m_.data(), shard_offsets_);
  dp_->all_gather(full_v_.data(), shard_offsets_);
  gathered_step_ = step_;
}

std::vector<CheckpointTensor> Trainer::state_tensors() const {
  std::vector<CheckpointTensor> tensors;
  for (const ParamStore::Entry& e : store_.entries()) tensors.push_back({e.name, e.shape, store_.value(e)});
  if (!zero1_) {
    for (CheckpointTensor& t : adamw_->state_tensors()) tensors.push_back(std::move(t));
    return tensors;
  }
  if (gathered_step_ != step_)
    fail(ErrorKind::kInvalidArgument, "ZeRO-1 trainer: call gather_state() on every rank before state_tensors()");
  // The same names and order as the whole optimizer's state_tensors().
  for (const ParamStore::Entry& e : store_.entries())
    if (e.trainable) {
      tensors.push_back({e.name + ".exp_avg", e.shape, full_m_.data() + e.offset});
      tensors.push_back({e.name + ".exp_avg_sq", e.shape, full_v_.data() + e.offset});
    }
  return tensors;
}

nlohmann::json Trainer::state_json() const {
  return {{"step", step_}, {"optimizer", adamw_->state_json()}, {"precision", precision_name(settings_.model.precision)}};
}

void Trainer::restore(const LoadedCheckpoint& ckpt, const nlohmann::json& meta) {
  auto it = meta.is_object() ? meta.find("step") : meta.end();
  if (it == meta.end() || !it->is_number_integer() || it->get<int64_t>() < 0)
    fail(ErrorKind::kFormat, "{}: checkpoint meta needs a non-negative integer 'step'", ckpt.dir);
  if (!meta.contains("optimizer")) fail(ErrorKind::kFormat, "{}: checkpoint meta has no 'optimizer' state", ckpt.dir);
  // A checkpoint without "precision" predates mixed precision: it was trained in f32. Resuming at
  // another precision is refused rather than silently changing the run's arithmetic mid-way.
  const auto prec = meta.find("precision");
  const std::string written = prec == meta.end() ? "f32" : prec->is_string() ? prec->get<std::string>() : "?";
  if (written != precision_name(settings_.model.precision))
    fail(ErrorKind::kConfig, "{}: the checkpoint was trained with precision {}, this run asks for {}; resume with "
         "--precision {}", ckpt.dir, written, precision_name(settings_.model.precision), written);
  for (const ParamStore::Entry& e : store_.entries()) ckpt.copy_to(e.name, store_.value(e), e.numel);
  adamw_->import_state(meta.at("optimizer"), ckpt);
  step_ = it->get<int64_t>();
}

}  // namespace frugal

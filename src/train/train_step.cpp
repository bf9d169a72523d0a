#include "train/train_step.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "model/moe_train.h"
#include "train/telemetry.h"

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
}

TokenWeights token_weights(const MicroBatch& mb) {
  return TokenWeights{mb.weights.empty() ? nullptr : mb.weights.data(), mb.loss_norm};
}

}  // namespace

TrainerSettings trainer_settings(const TrainConfig& c) {
  TrainerSettings s;
  s.adamw.beta1 = c.optim.beta1;
  s.adamw.beta2 = c.optim.beta2;
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
      adamw_(adamw_params(store_), settings.adamw),
      schedule_(settings.schedule),
      model_(cfg, store_.params()) {
  // The order the forward reports expert loads in: main layers, then the MTP modules' blocks.
  for (const LayerParams& x : store_.params().layers)
    if (x.is_moe) routing_bias_.push_back(x.moe.e_score_correction_bias);
  for (const MtpParams& m : store_.params().mtp)
    if (m.block.is_moe) routing_bias_.push_back(m.block.moe.e_score_correction_bias);
}

StepResult Trainer::step(const std::vector<MicroBatch>& micro_batches) {
  if (micro_batches.empty()) fail(ErrorKind::kInvalidArgument, "a training step needs at least one micro-batch");
  for (size_t k = 0; k < micro_batches.size(); ++k) check_micro_batch(micro_batches[k], k);
  const int64_t K = int64_t(micro_batches.size());
  TrainOptions opt = settings_.model;
  opt.loss_scale = 1.0 / double(K);
  store_.zero_grad();
  StepResult r;
  double loss = 0, mtp = 0, bal = 0;
  for (const MicroBatch& mb : micro_batches) {
    StepLosses l = model_.forward_backward(mb.inputs.data(), mb.targets.data(), mb.B, mb.T, opt, token_weights(mb));
    loss += l.main / double(K);
    mtp += l.mtp / double(K);
    bal += (l.balance + l.balance_mtp) / double(K);
    if (r.expert_load.empty()) r.expert_load = std::move(l.expert_load);
    else
      for (size_t i = 0; i < r.expert_load.size(); ++i)
        for (size_t e = 0; e < r.expert_load[i].size(); ++e) r.expert_load[i][e] += l.expert_load[i][e];
    r.tokens += mb.B * mb.T;
    r.scored += l.main_count;
  }
  r.lr = schedule_.lr_at(step_);
  AdamWStepResult a;
  if (std::isfinite(loss) && std::isfinite(mtp)) a = adamw_.step(r.lr);
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
  return model_.evaluate(mb.inputs.data(), mb.targets.data(), mb.B, mb.T, settings_.model, token_weights(mb));
}

std::vector<CheckpointTensor> Trainer::state_tensors() const {
  std::vector<CheckpointTensor> tensors;
  for (const ParamStore::Entry& e : store_.entries()) tensors.push_back({e.name, e.shape, store_.value(e)});
  for (CheckpointTensor& t : adamw_.state_tensors()) tensors.push_back(std::move(t));
  return tensors;
}

nlohmann::json Trainer::state_json() const {
  return {{"step", step_}, {"optimizer", adamw_.state_json()}, {"precision", precision_name(settings_.model.precision)}};
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
  adamw_.import_state(meta.at("optimizer"), ckpt);
  step_ = it->get<int64_t>();
}

}  // namespace frugal

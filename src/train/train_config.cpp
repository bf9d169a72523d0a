// TrainConfig: the field table (core/options.h derives TOML, overrides, flags and --help from it),
// cross-field validation and the resolved-config writer.
#include "train/train_config.h"

#include <cmath>

#include <fmt/format.h>

#include "core/error.h"
#include "core/options.h"

namespace frugal {
namespace {

constexpr std::string_view kPresets[] = {"micro", "tiny", "small", "medium"};
constexpr std::string_view kScheduleNames[] = {"constant", "cosine", "wsd"};
constexpr std::string_view kRecomputeNames[] = {"none", "attn", "full"};
constexpr std::string_view kPrecisionNames[] = {"f32", "bf16", "fp8", "fp8-tensor"};  // index = Precision
constexpr std::string_view kMomentNames[] = {"f32", "bf16"};  // index = TrainConfig::Moments
constexpr double kMaxCount = double(1 << 24);  // caps keep products like B·K·T far from overflow

}  // namespace

// THE field table: every key of the config, once, in file order, with its `frugal train` flag
// ("" = none; a bool's flag sets it true, or false when the flag starts with "no-"). The table
// points into `c`: use it while `c` lives. kFineTune leaves out what only pretraining reads: the
// from-scratch shape and the token files.
Options train_options(TrainConfig& c, TrainOptionSet set) {
  const bool pretrain = set == TrainOptionSet::kPretrain;
  Options f;
  auto& m = c.model;
  if (set != TrainOptionSet::kStudent)
    f.add(option("model", "init", "init",
                 pretrain ? "HF checkpoint dir to start from (empty: from scratch)" : "HF model dir to fine-tune"),
          m.init);
  if (pretrain) {
  f.add(option("model", "preset", "preset", "from-scratch model shape: micro|tiny|small|medium",
               OptionRule{.choices = kPresets}),
        m.preset);
  f.add(
      option("model", "vocab_size", "vocab-size", "vocabulary size (0: from the tokenizer / token file)", at_least(0)),
      m.vocab_size);
  f.add(option("model", "mtp_layers", "mtp-layers", "MTP depth D of a from-scratch model (0: no MTP)", between(0, 8)),
        m.mtp_layers);
  f.add(option("model", "dense", "dense", "from-scratch model without MoE: every layer a dense MLP (e.g. a student)"),
        m.dense);
  }

  auto& d = c.data;
  if (pretrain) {
    f.add(option("data", "tokens", "tokens", "training token file"), d.tokens);
    f.add(option("data", "val_tokens", "val-tokens", "validation token file (empty: no validation)"), d.val_tokens);
  }
  f.add(option("data", "seq_len", "seq-len", "sequence length T", between(1, kMaxCount)), d.seq_len);
  f.add(option("data", "shuffle", "no-shuffle", "shuffle the sequence order (seeded by train.seed)"), d.shuffle);

  auto& t = c.train;
  f.add(option("train", "steps", "steps", "optimizer steps", between(1, 1e12)), t.steps);
  f.add(option("train", "batch", "batch", "sequences per micro-batch B", between(1, kMaxCount)), t.batch);
  f.add(option("train", "grad_accum", "grad-accum", "micro-batches per optimizer step K", between(1, kMaxCount)),
        t.grad_accum);
  f.add(option("train", "seed", "seed", "random seed (init, data order)", between(0, 9.2e18)), t.seed);
  f.add(option("train", "recompute", "recompute", "activations recomputed in backward: none|attn|full"), t.recompute,
        kRecomputeNames);
  f.add(option("train", "precision", "precision",
               "linear-layer GEMM inputs: f32|bf16|fp8|fp8-tensor (f32 accumulation, f32 master weights)"),
        t.precision, kPrecisionNames);
  f.add(option("train", "mtp_weight", "mtp-weight", "MTP loss weight lambda", at_least(0)), t.mtp_weight);
  f.add(option("train", "aux_alpha", "aux-alpha", "sequence-wise balance loss weight alpha", at_least(0)), t.aux_alpha);
  f.add(option("train", "bias_gamma", "bias-gamma", "aux-loss-free routing bias update speed gamma", at_least(0)),
        t.bias_gamma);
  f.add(option("train", "max_nan_skips", "max-nan-skips", "stop after this many consecutive NaN/Inf steps",
               between(0, 1e9)),
        t.max_nan_skips);

  auto& o = c.optim;
  f.add(option("optim", "lr", "lr", "peak learning rate", positive()), o.lr);
  f.add(option("optim", "min_lr", "min-lr", "final learning rate (-1: lr / 10)", at_least(-1)), o.min_lr);
  f.add(option("optim", "schedule", "schedule", "learning-rate schedule: constant|cosine|wsd"), o.schedule,
        kScheduleNames);
  f.add(option("optim", "warmup", "warmup", "linear warmup steps", between(0, 1e12)), o.warmup);
  f.add(option("optim", "decay_fraction", "decay-fraction", "wsd: fraction of steps in the final decay",
               OptionRule{.lo = 0, .hi = 1, .lo_open = true}),
        o.decay_fraction);
  f.add(option("optim", "weight_decay", "weight-decay", "AdamW decoupled weight decay", at_least(0)), o.weight_decay);
  f.add(option("optim", "beta1", "beta1", "AdamW beta1", unit_open()), o.beta1);
  f.add(option("optim", "beta2", "beta2", "AdamW beta2", unit_open()), o.beta2);
  f.add(option("optim", "eps", "eps", "AdamW epsilon", positive()), o.eps);
  f.add(option("optim", "grad_clip", "grad-clip", "global gradient-norm clip (0: off)", at_least(0)), o.grad_clip);
  f.add(option("optim", "moments", "optim-moments", "AdamW moment storage: f32|bf16 (bf16 halves it, as V3)"),
        o.moments, kMomentNames);
  f.add(option("optim", "batch_warmup_start", "batch-warmup-start", "sequences per step at step 0 (0: no batch ramp)",
               between(0, kMaxCount)),
        o.batch_warmup_start);
  f.add(option("optim", "batch_warmup_tokens", "batch-warmup-tokens", "tokens over which the batch ramps to B*K",
               between(0, 1e18)),
        o.batch_warmup_tokens);

  auto& k = c.checkpoint;
  f.add(option("checkpoint", "out", "out", "run directory", OptionRule{.nonempty = true}), k.out);
  f.add(option("checkpoint", "every", "checkpoint-every", "steps between checkpoints (0: only at the end)",
               between(0, 1e12)),
        k.every);
  f.add(option("checkpoint", "keep_last", "keep-last", "checkpoints kept (0: all)", between(0, 1e9)), k.keep_last);
  f.add(option("checkpoint", "resume", "resume", "resume from the latest complete checkpoint in out"), k.resume);
  f.add(option("checkpoint", "export", "export", "HF safetensors export dir of the final model (empty: none)"),
        k.export_dir);

  auto& l = c.log;
  f.add(option("log", "every", "log-every", "steps between log lines", between(1, 1e12)), l.every);
  f.add(option("log", "usd_per_hour", "usd-per-hour", "device price per hour for the cost meter", at_least(0)),
        l.usd_per_hour);
  f.add(option("log", "eval_every", "eval-every", "steps between validation passes (0: never)", between(0, 1e12)),
        l.eval_every);
  f.add(option("log", "eval_batches", "eval-batches", "validation micro-batches per pass", between(1, 1e9)),
        l.eval_batches);

  // Data parallelism is wired into `frugal train` only (cli/cmd_train.cpp sets up the ranks).
  if (pretrain) {
    auto& ds = c.dist;
    f.add(option("dist", "dp", "dp", "data-parallel ranks (run under mpirun -np N; 1: one process)", between(1, 65536)),
          ds.dp);
    f.add(option("dist", "zero1", "zero1", "shard the AdamW moments across data-parallel ranks (ZeRO-1)"), ds.zero1);
    f.add(option("dist", "timeout_s", "dist-timeout", "seconds a collective may wait for the other ranks", positive()),
          ds.timeout_s);
  }
  return f;
}

const char* schedule_name(TrainConfig::Schedule s) { return kScheduleNames[size_t(s)].data(); }

void apply_override(TrainConfig& c, std::string_view key, std::string_view value, std::string_view source) {
  train_options(c).set(key, value, source);
}

void apply_override_string(TrainConfig& c, std::string_view assignment, std::string_view source) {
  train_options(c).set_assignment(assignment, source);
}

void validate_train_config(TrainConfig& c) {
  auto& o = c.optim;
  if (o.min_lr < 0 && o.min_lr != -1)
    fail(ErrorKind::kConfig, "optim.min_lr = {}: must be >= 0, or -1 for lr / 10", o.min_lr);
  if (o.min_lr == -1) o.min_lr = o.lr / 10;
  if (o.min_lr > o.lr) fail(ErrorKind::kConfig, "optim.min_lr = {} exceeds optim.lr = {}", o.min_lr, o.lr);
  if (o.warmup > c.train.steps)
    fail(ErrorKind::kConfig, "optim.warmup = {} exceeds train.steps = {}", o.warmup, c.train.steps);
  if (o.schedule == TrainConfig::Schedule::kWsd) {
    // The same rounding as train/schedule.h: D = round(decay_fraction · steps).
    const int64_t decay = int64_t(std::llround(o.decay_fraction * double(c.train.steps)));
    if (o.warmup > c.train.steps - decay)
      fail(ErrorKind::kConfig,
           "optim.warmup = {} overlaps the wsd decay (the last {} of train.steps = {}, optim.decay_fraction = {})",
           o.warmup, decay, c.train.steps, o.decay_fraction);
  }
  if (c.dist.dp > 1 && c.train.grad_accum % c.dist.dp != 0)
    fail(ErrorKind::kConfig,
         "train.grad_accum = {} micro-batches do not divide among dist.dp = {} data-parallel ranks (make it a multiple)",
         c.train.grad_accum, c.dist.dp);
  if (c.dist.dp > 1 && o.batch_warmup_start > 0)
    fail(ErrorKind::kConfig, "optim.batch_warmup_start (a batch ramp) is not supported with dist.dp = {} > 1", c.dist.dp);
  const int64_t global_batch = c.train.batch * c.train.grad_accum;
  if (o.batch_warmup_start > 0 && o.batch_warmup_tokens == 0)
    fail(ErrorKind::kConfig, "optim.batch_warmup_start = {} needs optim.batch_warmup_tokens > 0 (the ramp length)",
         o.batch_warmup_start);
  if (o.batch_warmup_start == 0 && o.batch_warmup_tokens > 0)
    fail(ErrorKind::kConfig, "optim.batch_warmup_tokens = {} needs optim.batch_warmup_start > 0 (the first batch)",
         o.batch_warmup_tokens);
  if (o.batch_warmup_start > global_batch)
    fail(ErrorKind::kConfig,
         "optim.batch_warmup_start = {} exceeds the global batch train.batch * train.grad_accum = {}",
         o.batch_warmup_start, global_batch);
}

TrainConfig load_train_config(const std::string* toml_path, const std::vector<std::string>& overrides) {
  return load_config<TrainConfig>([](TrainConfig& x) { return train_options(x); }, toml_path, overrides, &validate_train_config);
}

std::string to_toml(const TrainConfig& c) {
  return config_toml(c, [](TrainConfig& x) { return train_options(x); }, "# frugal train: resolved configuration (every key; load it with --config)");
}

const std::vector<TrainConfigField>& train_config_fields() {
  static const std::vector<TrainConfigField> fields = [] {
    TrainConfig defaults;
    return train_options(defaults).fields();
  }();
  return fields;
}

const std::vector<TrainCliFlag>& train_cli_flags() {
  static const std::vector<TrainCliFlag> flags = config_cli_flags<TrainConfig>([](TrainConfig& x) { return train_options(x); });
  return flags;
}

}  // namespace frugal

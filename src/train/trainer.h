// The pretraining loop behind `frugal train`: data -> micro-batches -> Trainer::step (train_step.h:
// forward/backward with MTP, balance loss, recomputation; global-norm clip + AdamW at the scheduled
// lr; aux-loss-free bias update) -> telemetry, validation, atomic checkpoints; `--resume` continues
// bit for bit.
//
// docs/training.md, Run directory: RUN_DIR/{config.resolved.toml, metrics.jsonl, train.lock, ckpt/step_N/,
// ckpt/latest}. A run holds RUN_DIR/train.lock (core/dir_lock.h) while it lives; a second run on
// the same directory is refused at start with the holder's PID.
// Determinism: with the same config and thread count every loss is a pure function of the step,
// so a run killed at any moment and resumed from its last checkpoint reproduces the uninterrupted
// run's losses bit for bit (the checkpoint holds weights, moments, routing biases, the loader
// position and the step; nothing else is random).
#pragma once
#include <cstdint>
#include <string>

#include "train/data_parallel.h"
#include "train/train_config.h"
#include "train/train_data.h"

namespace frugal {

struct TrainSummary {
  std::string run_dir;
  int64_t steps_done = 0;        // optimizer steps completed (including those of a resumed run)
  int64_t start_step = 0;        // where this invocation started (0, or the checkpoint it resumed)
  double last_loss = 0;          // main loss of the last step
  double val_loss = -1;          // final validation loss (-1: no validation data)
  double unigram_entropy = 0;    // of the pretraining tokens, nats: the loss a context-free model reaches (-1: other data)
  int64_t nan_skips = 0;
  double tokens_per_s = 0;       // this invocation's average
  double mfu = 0;                // this invocation's average, vs the measured sgemm peak
  std::string export_dir;        // where the final weights were exported ("" if not)
};

// The lock file a live run holds in its directory.
inline constexpr const char* kRunLockFile = "train.lock";

// Runs the job on `data` (null: pretraining on cfg.data's token files, train/pretrain_data.h; other
// data, such as SFT's, needs cfg.model.init and ignores cfg.data's paths). Throws frugal::Error
// with a clear message on bad input (data, config, checkpoint) or when too many consecutive steps
// had a NaN/Inf loss. `resolved_toml` is what RUN_DIR/config.resolved.toml gets (null:
// to_toml(cfg)); a command with more sections than TrainConfig passes its own.
// Data parallel (docs/distributed.md): every rank calls it with the same config and its `dp`
// (size = cfg.dist.dp); each reads the same data, computes its share of each step's micro-batches,
// and only rank 0 holds the run lock and writes metrics, config, checkpoints and the export.
// Checkpoints record meta.layout = {"dp", "zero1"} and hold whole tensors: any rank count resumes them.
TrainSummary run_training(const TrainConfig& cfg, TrainData* data = nullptr, const std::string* resolved_toml = nullptr,
                          DataParallelComm* dp = nullptr);

}  // namespace frugal

// Where a training loop's micro-batches come from. run_training (train/trainer.h) reads every
// micro-batch, its validation batches and its resumable position through this interface, so the
// same loop — schedules, accumulation, checkpoints, --resume, --export, telemetry — serves
// pretraining on token files (PretrainData, train/pretrain_data.h) and SFT on rendered, packed
// conversations (posttrain/sft_data.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "train/train_step.h"

namespace frugal {

class TrainData {
 public:
  virtual ~TrainData() = default;

  // Fills mb with the next B×T micro-batch (inputs, targets; weights and positions when the data
  // has them) and advances. Deterministic: a function of the seed and the position only.
  virtual void next(MicroBatch& mb) = 0;
  // The position (JSON) a checkpoint stores; restore() continues exactly there, or throws
  // kInvalidArgument saying what differs when the state belongs to other data or settings.
  virtual nlohmann::json state() const = 0;
  virtual void restore(const nlohmann::json& state) = 0;
  virtual int64_t rows_seen() const = 0;  // B×T rows served so far (telemetry's examples_seen)

  // The validation micro-batches: the same list on every call, at most `max_batches` (none: no
  // validation data).
  virtual std::vector<MicroBatch> validation(int64_t max_batches) const = 0;

  // The largest token id any micro-batch holds (checked against the model's vocabulary before the
  // first step), and where the data comes from (for messages).
  virtual int32_t max_id() const = 0;
  virtual std::string path() const = 0;
  // One line for the start-of-run log: what the data is, its size, and anything the user should
  // know (e.g. a pretraining corpus' unigram entropy, the loss a context-free model reaches).
  virtual std::string describe() const = 0;
};

}  // namespace frugal

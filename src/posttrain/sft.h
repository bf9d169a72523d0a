// `frugal sft` (docs/posttrain.md, SFT): supervised fine-tuning on chat conversations, the loss on
// the assistant's tokens only, examples packed without attention across them — run by the same
// training loop as pretraining (train/trainer.h), so every option of `frugal train` works:
// schedules, accumulation, recomputation, checkpoints, --resume, --export, telemetry and plots.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "posttrain/sft_config.h"
#include "posttrain/sft_packer.h"
#include "train/trainer.h"

namespace frugal {

// The conversations of c.sft.data (and c.sft.val_data) rendered by the model's ChatFormat.
struct SftExamples {
  std::vector<SftExample> train, val;
  int32_t pad_id = 0;   // the model's eos_token_id (0 without one)
  std::string summary;  // format and counts, for the start-of-run line
};
SftExamples load_sft_examples(const SftConfig& c, SftLoadReport* report = nullptr);
// Packed for c.train's B, T and seed.
std::unique_ptr<SftPacker> pack_sft_examples(const SftConfig& c, SftExamples ex);
// Both.
std::unique_ptr<SftPacker> load_sft_data(const SftConfig& c, SftLoadReport* report = nullptr);

// Trains; the export (when asked) gets the tokenizer files beside the weights.
TrainSummary run_sft(const SftConfig& c);

// What --dry-run prints: the format used, the counts, and the first `samples` examples as text
// with each trained span between ⟦ and ⟧ (token counts per example), without loading weights.
std::string sft_dry_run(const SftConfig& c, int64_t samples);

}  // namespace frugal

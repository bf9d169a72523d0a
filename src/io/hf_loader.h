// Load a Hugging Face DeepSeek-V2/V3 checkpoint directory (config.json + safetensors) into
// ModelWeights that view the mmapped files in their stored dtype. Every tensor's presence, shape
// and dtype is checked against config.json before anything runs; errors name the file, the tensor
// and what was expected.
#pragma once
#include <memory>
#include <string>

#include "io/safetensors.h"
#include "model/config.h"
#include "model/weights.h"

namespace frugal {

struct LoadOptions {
  bool load_mtp = true;        // bind the MTP modules when the checkpoint has them
  bool check_finite = false;   // scan every weight for NaN/Inf (slow on big models)
};

struct LoadedModel {
  std::string dir;
  DeepSeekConfig config;
  std::unique_ptr<WeightStore> store;  // owns the mappings the weights point into (null for GGUF)
  std::shared_ptr<const void> gguf;    // a GGUF model: its mapped file and rebuilt tensors
  ModelWeights weights;
  std::string mtp_note;                // why MTP modules were not loaded, if they were not
};

// `dir` is a checkpoint directory, or a .gguf file (io/gguf_model.h).
std::unique_ptr<LoadedModel> load_model(const std::string& dir, const LoadOptions& opt = {});

// load_model's binding step for a parsed config: walks the tensor table (model/tensor_table.h),
// binding each tensor to its slot, then rejects tensors the config does not use. Sets mtp_note
// when MTP modules are declared but not bound.
ModelWeights bind_weights(const WeightStore& store, const DeepSeekConfig& c, const LoadOptions& opt,
                          std::string& mtp_note);

}  // namespace frugal

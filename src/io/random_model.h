// Random DeepSeek-V3-layout checkpoints (config.json + model.safetensors) for benchmarks and
// tests: deterministic per seed, streamed to disk tensor by tensor so a multi-GB model never sits
// in memory twice. Linear weights ~ N(0, 1/fan_in) (activations stay O(1) through the layers),
// norm weights 1 + N(0, 0.1²) (so a missing norm shows), embeddings N(0, 1), routing bias
// N(0, 0.1²) (large enough to change expert choices).
#pragma once
#include <cstdint>
#include <string>

#include "core/dtype.h"
#include "model/config.h"

namespace frugal {

// Presets: "micro" (the fixture shape), "tiny" and "small" (the shapes of the reference tools'
// presets, so PyTorch comparisons run the same model), "medium" (~1.2 B parameters, the
// inference benchmark size).
DeepSeekConfig random_model_preset(const std::string& name);

struct RandomModelOptions {
  DType dtype = DType::kF32;  // F32, BF16, or F8_E4M3 (FP8 with block scales where V3 uses FP8)
  uint64_t seed = 0;
  bool mtp = false;           // add num_nextn_predict_layers = 1 module
};

// Writes DIR/config.json and DIR/model.safetensors (atomically). Returns total bytes written.
int64_t write_random_model(const std::string& dir, DeepSeekConfig cfg, const RandomModelOptions& opt);

}  // namespace frugal

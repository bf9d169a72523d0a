// A ParamStore (f32 training weights) to and from the Hugging Face checkpoint layout:
// `--init HF_DIR` (continue from a released or exported checkpoint, any stored dtype, FP8 block
// scales dequantised) and `frugal export` / `--export` (config.json + model.safetensors that
// `frugal generate` and the PyTorch reference load).
#pragma once
#include <string>

#include "core/dtype.h"
#include "model/param_store.h"

namespace frugal {

// Fills every tensor of `store` from the checkpoint in `dir` (validated like load_model: shapes,
// dtypes, FP8 scales). MTP tensors are read only if the store has them. Throws naming the
// directory and tensor when one is missing or has the wrong shape.
void load_params_hf(const std::string& dir, ParamStore& store);

// Writes `out_dir`/config.json and `out_dir`/model.safetensors (tensors in `dtype`: f32 or bf16;
// the routing bias always f32), each atomically; the MTP modules get the copies of the embedding
// and head that the released layout carries. Creates out_dir if needed.
void export_params_hf(const ParamStore& store, const std::string& out_dir, DType dtype = DType::kF32);

}  // namespace frugal

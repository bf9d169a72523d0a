// How frugal stores GGUF q8_0 / q4_0 weights in a Hugging Face folder (safetensors has no block
// types). Written by `frugal quantize` (io/quantize.h), read by the loader (io/hf_loader.cpp).
//
//  * The tensor keeps its name; its safetensors entry is U8 with shape [N, (K / 32) · B] (B = 34 for
//    q8_0, 18 for q4_0): row n holds the K / 32 GGUF blocks of weight row n, byte for byte as
//    ggml lays them out, so a GGUF tensor's data is this tensor's data.
//  * The shard's __metadata__ has key "frugal.quant.<name>" with the JSON string
//    {"type": "Q8_0", "shape": [N, K]}: the logical type and shape.
//  * config.json has "quantization_config": {"quant_method": "frugal_gguf_blocks",
//    "weight_type": "q8_0" | "q4_0", "block_size": 32} (weight_type: what `frugal quantize` used;
//    excluded tensors stay in their float type, so each tensor's own metadata decides).
// Everything is validated before use: the metadata's type and shape, K % 32, the U8 shape, and
// every block's fp16 scale (NaN or Inf is an error naming the tensor, row and block; 0 is the
// scale ggml writes for an all-zero block and is accepted).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "core/dtype.h"
#include "io/safetensors.h"

namespace frugal {

constexpr const char* kQuantMetadataPrefix = "frugal.quant.";
constexpr const char* kGgufBlocksMethod = "frugal_gguf_blocks";

// "Q8_0" / "Q4_0" <-> DType; also accepts the lower-case config/CLI spellings.
std::optional<DType> block_type_from_name(const std::string& s);

// The metadata value describing a [rows, cols] tensor of block type t.
std::string block_tensor_metadata(DType t, int64_t rows, int64_t cols);

struct BlockTensor {
  DType type;
  int64_t rows = 0, cols = 0;
  const uint8_t* data = nullptr;  // rows · (cols / 32) blocks, into the store's mapping
};

// The block tensor `name` if the store holds it in the convention above (nullopt for an ordinary
// tensor without metadata); every inconsistency is an Error naming the file and the tensor.
// Only the block type from the metadata (for reports on a store the loader already validated).
std::optional<DType> stored_block_type(const WeightStore& store, const std::string& name);

std::optional<BlockTensor> find_block_tensor(const WeightStore& store, const std::string& name);

}  // namespace frugal

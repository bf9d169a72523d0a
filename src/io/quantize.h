// `frugal quantize IN_DIR OUT --type fp8-block|q8_0|q4_0 [--exclude REGEX]`: a Hugging Face model
// folder (F32 / BF16 / F16 weights) to a new folder with its projection weights quantized.
//
//  * Only tensors with TensorSpec::fp8_in_release (role kProjection: attention projections, dense
//    MLP, routed and shared experts; model/tensor_table.h) are quantized, minus those whose name
//    matches --exclude (ECMAScript regex, searched anywhere in the name). The embedding, norms,
//    router, routing bias, eh_proj and the heads are copied unchanged.
//  * fp8-block: the released DeepSeek-V3 layout: F8_E4M3 weights and `<name>_scale_inv` F32
//    [ceil(N/128), ceil(K/128)], W = code · scale_inv, scale_inv = amax(block) / 448 (an all-zero
//    block gets scale 1: the loader refuses zero scales), codes rounded to nearest even and
//    saturated; config.json gets the V3 release's quantization_config
//    {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8", "weight_block_size": [128, 128]}.
//  * q8_0 / q4_0: GGUF blocks in the convention of io/quant_format.h.
// The output is one model.safetensors plus config.json and every other file of IN_DIR that is not
// a weight file (tokenizer.json, tokenizer_config.json, generation_config.json, ...), written into a
// temporary folder beside OUT and renamed to OUT at the end: OUT appears complete or not at all.
// OUT must not exist. Refused with an Error naming the tensor: an already-quantized model
// (quantization_config or F8 / U8 tensors), NaN or Inf weights, q8_0/q4_0 on a tensor whose
// input dimension is not a multiple of 32, values whose block scale overflows fp16.
#pragma once
#include <cstdint>
#include <string>

namespace frugal {

struct QuantizeOptions {
  std::string type;     // "fp8-block" | "q8_0" | "q4_0"
  std::string exclude;  // regex; empty: exclude nothing
};

struct QuantizeReport {
  int64_t quantized = 0, copied = 0;       // tensors
  int64_t bytes_in = 0, bytes_out = 0;     // tensor data bytes
};

QuantizeReport quantize_model(const std::string& in_dir, const std::string& out_dir, const QuantizeOptions& opt);

}  // namespace frugal

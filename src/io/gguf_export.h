// `frugal export-gguf`: a frugal / Hugging Face model folder as a llama.cpp `deepseek2` GGUF
// (docs/quantization.md, GGUF). The metadata and tensor names are llama.cpp's (the ones its
// converter writes: key/value_length = latent sizes, *_mla = head sizes, head_count_kv 1, experts
// stacked into 3-D ffn_*_exps, kv_b_proj split into attn_k_b (transposed) and attn_v_b).
//
// Types (`type`): f32 writes every matrix F32; bf16 every matrix BF16; q8_0 / q4_0 quantize the
// projections `frugal quantize` quantizes (TensorSpec::fp8_in_release) with the same quantizer, so
// the blocks are byte-identical, and keep the embedding, head and the split k_b / v_b in their
// stored float type (F32 for fp8 or block sources). Already-quantized q8_0 / q4_0 blocks are copied
// unchanged when the type matches. Norms, the routing bias and the router are always F32 (as
// llama.cpp's converter keeps them). MTP modules are not written (llama.cpp's converter drops them).
#pragma once
#include <string>

#include "core/gguf_writer.h"

namespace frugal {

// Adds the model of `model_dir` (config metadata and tensors) to `w`. The tokenizer keys are
// added by the caller (tokenizer/gguf_vocab.h). Returns the number of tensors written.
int64_t add_gguf_model(const std::string& model_dir, const std::string& type, GgufWriter& w);

}  // namespace frugal

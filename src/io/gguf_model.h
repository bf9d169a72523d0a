// A GGUF file of llama.cpp's `deepseek2` architecture as a frugal model (docs/quantization.md, GGUF).
//
// Config: from the `deepseek2.*` metadata keys (block_count, embedding_length, attention.*,
// expert_*, rope.*), turned into config.json's names and validated by parse_hf_config like a
// downloaded checkpoint. Tensors: llama.cpp's names (token_embd, blk.N.attn_q_a, ...,
// ffn_gate_exps ...) bound as views into the mapped file in their stored type (F32, F16, BF16,
// Q8_0, Q4_0); a GGUF tensor's ne = [cols, rows(, experts)] is frugal's [rows, cols] row-major
// (experts: expert e is the e-th [rows, cols] slab). llama.cpp's converter does not permute q or
// k for deepseek2 (its rope is the interleaved one frugal uses), so no reordering is needed.
// The one exception to zero-copy: newer files split kv_b_proj into attn_k_b [H][C][dn]
// (transposed) and attn_v_b [H][dv][C]; frugal's kernels take the [H·(dn+dv), C] kv_b_proj, so it
// is rebuilt once at load (in the stored float type, or F32 holding the exact dequantised values
// of block types). MTP (nextn) layers are not read.
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "core/gguf.h"
#include "io/hf_loader.h"

namespace frugal {

// The GGUF name of a Hugging Face tensor name, and for a routed expert the slab of the 3-D
// tensor. nullopt for kv_b_proj (split into attn_k_b / attn_v_b) and names with no counterpart.
struct GgufTensorRef {
  std::string name;
  int64_t expert = -1;
};
std::optional<GgufTensorRef> gguf_name_of(const std::string& hf_name);

// The frugal config of a deepseek2 GGUF (errors name the file and the key).
DeepSeekConfig gguf_deepseek_config(const GgufFile& f);

std::unique_ptr<LoadedModel> load_gguf_model(const std::string& path, const LoadOptions& opt = {});

// The GGUF file a model was loaded from (nullptr for a checkpoint directory).
const GgufFile* loaded_gguf_file(const LoadedModel& m);

}  // namespace frugal

// Generation: chunked prefill of the prompt into the latent KV cache, then one token at a time
// with absorbed-attention decode, until EOS (or another stop id) or the token budget.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "infer/sampler.h"
#include "model/transformer.h"

namespace frugal {

struct GenerateParams {
  int64_t max_tokens = 16;
  SamplingParams sampling;
  std::vector<int32_t> stop_ids;  // default: the config's eos_token_id
  bool stop_at_eos = true;
  int64_t prefill_chunk = 512;    // prompt tokens per forward pass (bounds activation memory)
  AttnImpl prefill_attn = AttnImpl::kAuto;
  AttnImpl decode_attn = AttnImpl::kAbsorb;
};

struct GenerateResult {
  std::vector<int32_t> ids;     // generated tokens (a stop token is included when it ended generation)
  std::string finish_reason;    // "stop" or "length"
  int64_t prompt_tokens = 0;
  double prefill_seconds = 0, decode_seconds = 0;
  int64_t kv_cache_bytes = 0;
};

// on_token(id) is called as each token is produced; return false to stop early.
GenerateResult generate(Transformer& model, const std::vector<int32_t>& prompt, const GenerateParams& params,
                        const std::function<bool(int32_t)>& on_token = {});

}  // namespace frugal

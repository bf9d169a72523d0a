// The DeepSeek-V2/V3 decoder: embedding -> layers (pre-norm MLA + dense MLP or MoE, residual) ->
// final RMSNorm -> lm_head; plus the multi-token-prediction modules (forward only for now).
//
// Dims legend: T tokens in this chunk, D hidden, V vocab.
#pragma once
#include <cstdint>
#include <functional>
#include <string_view>

#include "core/arena.h"
#include "model/config.h"
#include "model/kv_cache.h"
#include "model/mla.h"
#include "model/moe.h"
#include "model/weights.h"

namespace frugal {

// Called with each named intermediate when set (docs/conventions.md, Named intermediates):
// "attn_out", "ffn_out", "layer_out" per layer (layer >= 0), "final_norm" (layer -1). data is [rows, cols] row-major.
using DumpFn = std::function<void(std::string_view name, int64_t layer, const float* data, int64_t rows,
                                  int64_t cols)>;

struct ForwardOptions {
  AttnImpl attn = AttnImpl::kAuto;
  bool all_logits = true;       // logits for every row (else only the last row)
  float* hidden_out = nullptr;  // optional [T, D]: last layer output before the final norm (MTP input)
  DumpFn dump;
};

class Transformer {
 public:
  Transformer(const DeepSeekConfig& cfg, const ModelWeights& weights);

  const DeepSeekConfig& config() const { return cfg_; }
  const ModelWeights& weights() const { return w_; }
  const RopeTables& rope() const { return rope_; }
  Arena& arena() { return arena_; }

  // A cache sized for `capacity` tokens of the main model's layers.
  LatentKvCache make_cache(int64_t capacity) const;

  // Forward T tokens at positions [cache.length(), cache.length() + T), appending them to the
  // cache. logits: [T, V] (all_logits) or [1, V]. Throws kInvalidArgument for ids outside the
  // vocabulary or a full cache, before touching the cache.
  void forward(const int32_t* ids, int64_t T, LatentKvCache& cache, float* logits, const ForwardOptions& opt = {});

  // MTP module k (0-based) over a whole sequence: row i combines hidden[i] (main model's last
  // layer output, pre-norm) with the embedding of next_ids[i] (= ids[i+1]) and predicts ids[i+2].
  // hidden [T, D], next_ids [T] -> logits [T, V]. Uses its own temporary cache.
  void forward_mtp(int64_t k, const float* hidden, const int32_t* next_ids, int64_t T, float* logits);

  // Continuous-batching step over a ragged batch: sequence i (its own cache caches[i], from its
  // own position caches[i]->length()) appends n_tokens[i] >= 1 tokens, taken from ids one
  // sequence after another; logits [n, V] are each sequence's last row. Every projection, the MoE
  // (routing, grouped experts, shared expert) and lm_head run over all rows at once; attention
  // runs per sequence over its own cache (absorbed form, causal within the chunk, parallel over
  // sequences). Mixing decode rows (1 token) and prompt chunks in one call reads every weight once
  // for both. Sequence i's logits equal forward(its ids, n_tokens[i], *caches[i], ...) with
  // absorbed attention up to f32 rounding (the GEMV/GEMM paths differ with the row count), and
  // bit for bit when n = 1. Throws kInvalidArgument (before touching any cache) for ids outside
  // the vocabulary, n_tokens < 1, a cache without room or not made by this model, or one cache
  // given twice.
  void forward_batch(const int32_t* ids, const int64_t* n_tokens, int64_t n, LatentKvCache* const* caches,
                     float* logits);
  // The decode step: forward_batch with one token per sequence.
  void decode_batch(const int32_t* ids, int64_t n, LatentKvCache* const* caches, float* logits);

 private:
  // The attention sublayer of one decoder layer: RMSNorm'ed input [T, D] -> output [T, D].
  using AttnFn = std::function<void(const float* x_norm, float* out)>;
  void decoder_layer(const LayerWeights& lw, int64_t layer, float* x, int64_t T, const AttnFn& attn,
                     const ForwardOptions& opt);
  void check_ids(const int32_t* ids, int64_t T) const;

  DeepSeekConfig cfg_;
  const ModelWeights& w_;
  RopeTables rope_;
  Arena arena_;
};

}  // namespace frugal

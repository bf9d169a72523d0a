#include "infer/generate.h"

#include <algorithm>

#include "core/error.h"
#include "core/sys.h"

namespace frugal {

GenerateResult generate(Transformer& model, const std::vector<int32_t>& prompt, const GenerateParams& params,
                        const std::function<bool(int32_t)>& on_token) {
  const DeepSeekConfig& cfg = model.config();
  if (prompt.empty()) fail(ErrorKind::kInvalidArgument, "the prompt is empty: give at least one token id");
  if (params.max_tokens < 0) fail(ErrorKind::kInvalidArgument, "max_tokens must be >= 0 (got {})", params.max_tokens);
  if (params.prefill_chunk <= 0) fail(ErrorKind::kInvalidArgument, "prefill_chunk must be > 0");
  const int64_t n_prompt = int64_t(prompt.size());
  const int64_t capacity = n_prompt + std::max<int64_t>(params.max_tokens, 1);
  if (cfg.max_position_embeddings > 0 && capacity > cfg.max_position_embeddings)
    fail(ErrorKind::kInvalidArgument, "prompt ({} tokens) + max_tokens ({}) exceeds the model context of {} tokens",
         n_prompt, params.max_tokens, cfg.max_position_embeddings);
  std::vector<int32_t> stop = params.stop_ids;
  if (stop.empty() && params.stop_at_eos && cfg.eos_token_id >= 0) stop.push_back(int32_t(cfg.eos_token_id));

  Sampler sampler(params.sampling);
  LatentKvCache cache = model.make_cache(capacity);
  GenerateResult res;
  res.prompt_tokens = n_prompt;
  res.kv_cache_bytes = cache.bytes();
  std::vector<float> logits(static_cast<size_t>(cfg.vocab_size));
  ForwardOptions fo;
  fo.all_logits = false;

  double t0 = now_seconds();
  fo.attn = params.prefill_attn;
  for (int64_t p = 0; p < n_prompt; p += params.prefill_chunk) {
    const int64_t n = std::min(params.prefill_chunk, n_prompt - p);
    model.forward(prompt.data() + p, n, cache, logits.data(), fo);
  }
  res.prefill_seconds = now_seconds() - t0;
  res.finish_reason = "length";
  t0 = now_seconds();
  fo.attn = params.decode_attn;
  for (int64_t i = 0; i < params.max_tokens; ++i) {
    int32_t tok = sampler.sample(logits.data(), cfg.vocab_size);
    res.ids.push_back(tok);
    bool go_on = on_token ? on_token(tok) : true;
    if (std::find(stop.begin(), stop.end(), tok) != stop.end()) {
      res.finish_reason = "stop";
      break;
    }
    if (!go_on) {
      res.finish_reason = "stop";
      break;
    }
    if (i + 1 < params.max_tokens) model.forward(&tok, 1, cache, logits.data(), fo);
  }
  res.decode_seconds = now_seconds() - t0;
  return res;
}

}  // namespace frugal

#include "infer/engine_seq.h"

#include <algorithm>
#include <cstring>

namespace frugal {

EngineSeq::EngineSeq(uint64_t id_, GenRequest req_, double arrival_, LatentKvCache cache_)
    : id(id_),
      req(std::move(req_)),
      sampler(req.sampling),
      penalties(req.presence_penalty, req.frequency_penalty),
      cache(std::move(cache_)),
      prompt_len(int64_t(req.prompt.size())),
      arrival(arrival_) {}

bool EngineSeq::is_stop(int32_t token) const {
  return std::find(req.stop_ids.begin(), req.stop_ids.end(), token) != req.stop_ids.end();
}

int32_t EngineSeq::choose(float* logits, int64_t V, TokenLogprobs* lp) {
  const bool want_lp = req.top_logprobs >= 0;
  const float* raw = logits;
  if (want_lp && penalties.active()) {
    raw_.assign(logits, logits + V);
    raw = raw_.data();
  }
  penalties.apply(logits, V);
  const int32_t tok = sampler.sample(logits, V);
  if (want_lp) *lp = token_logprobs(raw, V, tok, req.top_logprobs);
  return tok;
}

}  // namespace frugal

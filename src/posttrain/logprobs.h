// Per-token log-probabilities and entropies of completions under a model (teacher forcing): what
// the GRPO loop needs from the policy being trained and from the frozen reference model. The
// distribution is the softmax of the raw logits, as BatchGenerator's Completion::logprobs (before
// temperature and filters), so the two are comparable up to f32 rounding.
#pragma once
#include <cstdint>
#include <vector>

#include "model/transformer.h"

namespace frugal {

struct TokenScores {
  std::vector<float> logp;     // [n] log p(completion[t] | prompt, completion[<t])
  std::vector<float> entropy;  // [n] entropy (nats) of that next-token distribution
};

// The completions of one prompt: the prompt runs once and each completion continues from a copy
// of its KV cache. Throws kInvalidArgument (naming the id) for ids outside the vocabulary, an
// empty prompt, or a sequence longer than the model's context.
std::vector<TokenScores> score_completions(Transformer& model, const std::vector<int32_t>& prompt,
                                           const std::vector<std::vector<int32_t>>& completions);

// Scores of one logits row [V] for target y: log-softmax at y and the entropy, in double.
void row_scores(const float* logits, int64_t V, int32_t y, float* logp, float* entropy);

}  // namespace frugal

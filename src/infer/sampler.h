// Token sampling: greedy (temperature 0), or temperature + top-k + top-p + min-p filtering
// followed by a draw from a seeded RNG (same seed, same output). Filters apply in the order
// Hugging Face's generate applies its warpers: temperature, top-k, top-p, min-p.
// Also here: OpenAI presence/frequency penalties (applied to the logits before sampling) and the
// log-probabilities reported with each token (taken from the raw logits, before any of that).
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "core/rng.h"

namespace frugal {

struct SamplingParams {
  float temperature = 1.0f;  // 0: greedy argmax
  int64_t top_k = 0;         // 0: off
  float top_p = 1.0f;        // 1: off; keep the smallest set with cumulative probability >= top_p
  float min_p = 0.0f;        // 0: off; drop tokens with p < min_p · p_max
  uint64_t seed = 0;
};

// Throws kInvalidArgument naming the field for NaN/negative temperature, top_p outside (0, 1],
// min_p outside [0, 1], negative top_k.
void validate(const SamplingParams& p);

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p);
  int32_t sample(const float* logits, int64_t vocab);
  // The support of the next draw after the filters: ids in the order the draw walks them (rank
  // order for a nucleus within the best 64, else unordered) and their probabilities (softmax of logits/temperature
  // over the top-k candidates; the draw scales by their sum). Greedy: the argmax with 1.
  void distribution(const float* logits, int64_t vocab, std::vector<int32_t>* ids, std::vector<float>* probs);

 private:
  void distribution(const float* logits, int64_t vocab);  // into idx_, prob_
  template <typename ProbOf>
  int64_t select_mass(int64_t lo, int64_t hi, double need, const ProbOf& prob_of);

  SamplingParams p_;
  Rng rng_;
  std::vector<uint64_t> keys_;  // rank_key of every id; the top-k first, the best 64 sorted
  std::vector<int32_t> idx_;    // the draw's support
  std::vector<float> prob_;     // [idx_.size()]
  std::vector<float> weight_;   // [V] exp((l - max) / T) of the candidates, by id
};

// The specification of Sampler::distribution, from a full sort of the vocabulary (slow; tests).
// Same set and probabilities; ids in rank order.
void sampling_distribution_ref(const SamplingParams& p, const float* logits, int64_t vocab,
                               std::vector<int32_t>* ids, std::vector<float>* probs);

int32_t argmax(const float* x, int64_t n);  // ties -> lowest index; NaN never wins

// Sort key of (logit, id) for the sampler's candidate order: ascending keys = descending logits,
// equal logits by ascending id. logit must not be NaN.
uint64_t rank_key(float logit, int32_t id);

// OpenAI's presence and frequency penalties over the tokens generated so far (not the prompt):
//   l[j] -= count[j] · frequency_penalty + (count[j] > 0) · presence_penalty.
// Positive values discourage repetition, negative ones encourage it.
class TokenPenalties {
 public:
  // Throws kInvalidArgument naming presence_penalty / frequency_penalty unless finite and in [-2, 2].
  TokenPenalties(float presence_penalty, float frequency_penalty);
  bool active() const { return presence_ != 0 || frequency_ != 0; }
  void add(int32_t token);                      // one more occurrence of token
  void apply(float* logits, int64_t vocab) const;  // in place; ids outside [0, vocab) are ignored
  int64_t count(int32_t token) const;

 private:
  float presence_, frequency_;
  std::vector<std::pair<int32_t, int32_t>> counts_;  // (token, occurrences), sorted by token
};

// Log-probabilities under softmax(logits) (the model's distribution: no temperature, penalties or
// filters), computed in double: that of `token`, and the k most likely ids, most likely first
// (ties -> lower id). NaN logits count as -inf. k is clamped to [0, vocab].
struct TokenLogprobs {
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;
};
TokenLogprobs token_logprobs(const float* logits, int64_t vocab, int32_t token, int64_t k);

}  // namespace frugal

// The teacher's top-k next-token distributions for logit distillation (docs/posttrain.md,
// Distillation), computed once and cached to disk.
//
// For every example, the teacher reads the example's tokens in one teacher-forced forward; at each
// position j whose next token is trained, it keeps the k most likely next tokens and their
// probabilities renormalised over those k (the soft targets of kernels/ops.h's
// soft_cross_entropy, whose loss is then the forward KL to this truncated distribution plus its
// constant entropy). The cache file holds k, the examples' fingerprint and every example's rows;
// it is written atomically, and reading validates every count before use, so a stale, truncated
// or foreign file is an error naming it, never garbage.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/transformer.h"
#include "posttrain/sft_data.h"

namespace frugal {

// Fills ex[i].soft_ids / soft_q ([tokens, k]). Throws kInvalidArgument when an example is longer
// than the teacher's context or holds ids outside its vocabulary, or k is not in [1, V].
void compute_teacher_topk(Transformer& teacher, std::vector<SftExample>& ex, int64_t k);

void save_teacher_topk(const std::string& path, const std::vector<SftExample>& ex, int64_t k);
// Returns false when the file does not exist; throws kFormat naming the file when it is not a
// cache of these examples with this k, or holds an id outside [0, vocab) or a bad probability.
bool load_teacher_topk(const std::string& path, std::vector<SftExample>& ex, int64_t k, int64_t vocab);

}  // namespace frugal

// The body of a /tokenize answer: {"tokens": [...], "count": N, "max_model_len": M}, tokens as ids
// or, with pieces, as {"id": ..., "piece": ...}. Written straight into one string: a JSON tree of
// one object per token took about 500 bytes of memory per input byte (issue 12); this takes the
// answer's own size plus a few bytes per token.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace frugal::serve {

std::string tokenize_json(const Tokenizer& tok, const std::vector<int32_t>& ids, bool with_pieces,
                          int64_t max_model_len);

// The same built as a JSON tree and dumped: the definition tokenize_json() is tested against.
std::string tokenize_json_ref(const Tokenizer& tok, const std::vector<int32_t>& ids, bool with_pieces,
                              int64_t max_model_len);

}  // namespace frugal::serve

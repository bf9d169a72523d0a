// What a caller above infer (the HTTP server) may know about a model without seeing src/model:
// the facts that bound requests (vocabulary, positions, end-of-sequence id) and describe it.
#pragma once
#include <cstdint>
#include <string>

namespace frugal {

struct DeepSeekConfig;

struct ModelInfo {
  std::string model_type;               // "deepseek_v3" | "deepseek_v2"
  int64_t vocab_size = 0;               // token ids must be below it
  int64_t max_position_embeddings = 0;  // longest context the model was built for
  int64_t eos_token_id = -1;            // -1: none
  int64_t num_hidden_layers = 0, hidden_size = 0;
};

ModelInfo model_info(const DeepSeekConfig& cfg);

}  // namespace frugal

#include "infer/model_info.h"

#include "model/config.h"

namespace frugal {

ModelInfo model_info(const DeepSeekConfig& cfg) {
  ModelInfo m;
  m.model_type = cfg.model_type;
  m.vocab_size = cfg.vocab_size;
  m.max_position_embeddings = cfg.max_position_embeddings;
  m.eos_token_id = cfg.eos_token_id;
  m.num_hidden_layers = cfg.num_hidden_layers;
  m.hidden_size = cfg.hidden_size;
  return m;
}

}  // namespace frugal

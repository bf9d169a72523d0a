#include "model/kv_cache.h"

#include "core/error.h"

namespace frugal {

LatentKvCache::LatentKvCache(const DeepSeekConfig& cfg, int64_t n_layers, int64_t capacity)
    : capacity_(capacity), width_(cfg.kv_cache_dim()), latent_(cfg.kv_lora_rank) {
  if (capacity <= 0) fail(ErrorKind::kInvalidArgument, "KV cache capacity must be positive (got {})", capacity);
  data_.assign(size_t(n_layers * capacity * width_), 0.0f);
}

}  // namespace frugal

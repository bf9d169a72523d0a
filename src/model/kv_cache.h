// The latent KV cache of MLA (docs/model.md, Latent KV cache): per token and layer, the normalised c_kv
// (kv_lora_rank values) followed by the RoPE-rotated shared key k_pe (qk_rope_head_dim values) —
// 576 values for DeepSeek-V3 instead of the 2·128·(128+..) of standard attention.
#pragma once
#include <cstdint>
#include <vector>

#include "model/config.h"

namespace frugal {

class LatentKvCache {
 public:
  LatentKvCache() = default;
  LatentKvCache(const DeepSeekConfig& cfg, int64_t n_layers, int64_t capacity);

  int64_t capacity() const { return capacity_; }
  int64_t width() const { return width_; }      // kv_lora_rank + qk_rope_head_dim
  int64_t latent_dim() const { return latent_; }  // kv_lora_rank
  int64_t length() const { return length_; }    // tokens already cached (all layers)
  void set_length(int64_t n) { length_ = n; }
  // [capacity, width] rows for one layer: c_kv = row[0, latent), k_pe = row[latent, width).
  float* layer(int64_t l) { return data_.data() + l * capacity_ * width_; }
  const float* layer(int64_t l) const { return data_.data() + l * capacity_ * width_; }
  int64_t bytes() const { return int64_t(data_.size() * sizeof(float)); }

 private:
  int64_t capacity_ = 0, width_ = 0, latent_ = 0, length_ = 0;
  std::vector<float> data_;  // [n_layers, capacity, width]
};

}  // namespace frugal

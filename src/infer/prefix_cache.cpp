#include "infer/prefix_cache.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/rng.h"

namespace frugal {

PrefixCache::PrefixCache(int64_t n_layers, int64_t width, int64_t block_tokens, int64_t capacity_tokens)
    : layers_(n_layers), width_(width), block_(block_tokens), capacity_(capacity_tokens) {
  if (block_tokens <= 0)
    fail(ErrorKind::kInvalidArgument, "prefix cache block size must be positive (got {})", block_tokens);
  if (capacity_tokens < 0)
    fail(ErrorKind::kInvalidArgument, "prefix cache capacity must be >= 0 tokens (got {})", capacity_tokens);
}

uint64_t PrefixCache::root(uint64_t salt) const {
  const uint64_t r = mix64(salt ^ 0x66727567616c7063ull);
  return version_ == 0 ? r : mix64(r ^ version_);  // version 0: the keys of the cache before versions
}

void PrefixCache::set_weights_version(uint64_t v) {
  if (v == version_) return;
  version_ = v;
  blocks_.clear();
  lru_.clear();
}

uint64_t PrefixCache::chain(uint64_t parent, const int32_t* ids, int64_t n) {
  uint64_t h = mix64(parent);
  for (int64_t i = 0; i < n; ++i) h = mix64(h ^ uint64_t(uint32_t(ids[i])));
  return h;
}

PrefixCache::Block* PrefixCache::find(uint64_t key, uint64_t parent, const int32_t* ids) {
  auto it = blocks_.find(key);
  if (it == blocks_.end()) return nullptr;
  Block& b = it->second;
  if (b.parent != parent || std::memcmp(b.ids.data(), ids, size_t(block_) * sizeof(int32_t)) != 0) return nullptr;
  return &b;
}

int64_t PrefixCache::lookup(const int32_t* ids, int64_t max_tokens, uint64_t salt, LatentKvCache& cache) {
  FRUGAL_ASSERT(cache.length() == 0, "prefix lookup into a non-empty cache ({} tokens)", cache.length());
  if (capacity_ == 0) return 0;
  const int64_t n_blocks = std::min(max_tokens, cache.capacity()) / block_;
  std::vector<Block*> hit;
  uint64_t parent = root(salt);
  for (int64_t k = 0; k < n_blocks; ++k) {
    const int32_t* b = ids + k * block_;
    const uint64_t key = chain(parent, b, block_);
    Block* e = find(key, parent, b);
    if (!e) break;
    hit.push_back(e);
    parent = key;
  }
  const int64_t W = width_, B = block_;
  for (size_t k = 0; k < hit.size(); ++k)
    for (int64_t l = 0; l < layers_; ++l)
      std::memcpy(cache.layer(l) + int64_t(k) * B * W, hit[k]->rows.data() + l * B * W, size_t(B * W) * sizeof(float));
  // Refresh from the last block back to the first: parents end up more recent than children.
  for (auto it = hit.rbegin(); it != hit.rend(); ++it) lru_.splice(lru_.begin(), lru_, (*it)->lru);
  const int64_t n = int64_t(hit.size()) * B;
  cache.set_length(n);
  return n;
}

void PrefixCache::insert(const int32_t* ids, int64_t n_tokens, uint64_t salt, const LatentKvCache& cache) {
  if (capacity_ < block_) return;
  FRUGAL_ASSERT(n_tokens <= cache.length(), "prefix insert of {} tokens from a cache holding {}", n_tokens,
                cache.length());
  const int64_t W = width_, B = block_, n_blocks = n_tokens / B;
  uint64_t parent = root(salt);
  std::vector<uint64_t> chain_keys;
  for (int64_t k = 0; k < n_blocks; ++k) {
    const int32_t* b = ids + k * B;
    const uint64_t key = chain(parent, b, B);
    auto it = blocks_.find(key);
    if (it == blocks_.end()) {
      Block& e = blocks_[key];
      e.parent = parent;
      e.ids.assign(b, b + B);
      e.rows.resize(size_t(layers_ * B * W));
      for (int64_t l = 0; l < layers_; ++l)
        std::memcpy(e.rows.data() + l * B * W, cache.layer(l) + k * B * W, size_t(B * W) * sizeof(float));
      e.lru = lru_.insert(lru_.begin(), key);
    } else if (!find(key, parent, b)) {
      break;  // a different prefix owns this key (a hash collision): keep it, cache nothing further
    }
    chain_keys.push_back(key);
    parent = key;
  }
  for (auto it = chain_keys.rbegin(); it != chain_keys.rend(); ++it) {
    auto e = blocks_.find(*it);
    lru_.splice(lru_.begin(), lru_, e->second.lru);
  }
  evict_to(capacity_);
}

void PrefixCache::evict_to(int64_t max_tokens) {
  while (tokens() > max_tokens && !lru_.empty()) {
    blocks_.erase(lru_.back());
    lru_.pop_back();
  }
}

}  // namespace frugal

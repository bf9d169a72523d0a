// Prefix cache of MLA latent KV rows (docs/serving.md, Prefix cache): requests that share a prompt prefix (a
// system prompt, the n choices of one request, a multi-turn chat) copy its cached [c_kv | k_pe]
// rows instead of prefilling it again.
//
// Prompts are cut into blocks of B tokens; block k of a prompt is keyed by a hash chained over
// (salt, block 0, ..., block k), so a key stands for the whole prefix up to and including its
// block, and the salt keeps tenants apart (one tenant's prompts never hit another's cache). Each
// entry stores its own B token ids and its parent's key, and a lookup walks from the first block,
// checking both, so a hit is always the exact prefix (barring a 64-bit collision of the chain key
// itself). The chain starts from a root key of (salt, weights version), so rows computed with
// other weights never match; set_weights_version() also drops them. Only whole blocks are cached.
// Entries are evicted least-recently-used once more than capacity_tokens are held; a lookup
// refreshes a chain from its last block back to its first, so a block is never evicted before the
// blocks that extend it.
//
// Not thread-safe: the engine's scheduler thread is its only user.
//
// Dims legend: L layers, B block tokens, W latent row width (kv_lora_rank + qk_rope_head_dim).
#pragma once
#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

#include "model/kv_cache.h"

namespace frugal {

class PrefixCache {
 public:
  // capacity_tokens 0 disables the cache (lookups miss, inserts keep nothing).
  PrefixCache(int64_t n_layers, int64_t width, int64_t block_tokens, int64_t capacity_tokens);

  // The longest cached prefix of ids[0, max_tokens) in whole blocks: copies its rows into rows
  // [0, n) of every layer of `cache` (which must be empty) and sets its length to n. Returns n,
  // a multiple of block_tokens (0 on a miss).
  int64_t lookup(const int32_t* ids, int64_t max_tokens, uint64_t salt, LatentKvCache& cache);
  // Caches every whole block of ids[0, n_tokens) that is not cached yet, reading its rows from
  // `cache` (rows [0, n_tokens) must hold exactly those tokens). Evicts to stay within capacity.
  void insert(const int32_t* ids, int64_t n_tokens, uint64_t salt, const LatentKvCache& cache);

  // Rows from now on belong to weights version v: every block cached under another version is
  // dropped (it could never match again).
  void set_weights_version(uint64_t v);
  uint64_t weights_version() const { return version_; }

  int64_t tokens() const { return int64_t(blocks_.size()) * block_; }  // tokens held now
  int64_t capacity_tokens() const { return capacity_; }
  int64_t block_tokens() const { return block_; }

 private:
  struct Block {
    uint64_t parent = 0;             // key of the previous block (the salt's root key for block 0)
    std::vector<int32_t> ids;        // [B]
    std::vector<float> rows;         // [L, B, W]
    std::list<uint64_t>::iterator lru;
  };
  static uint64_t chain(uint64_t parent, const int32_t* ids, int64_t n);
  uint64_t root(uint64_t salt) const;  // the chain's start for (salt, version_)
  // The entry for (parent, ids) if it is cached with exactly that content.
  Block* find(uint64_t key, uint64_t parent, const int32_t* ids);
  void evict_to(int64_t max_tokens);

  int64_t layers_, width_, block_, capacity_;
  uint64_t version_ = 0;
  std::unordered_map<uint64_t, Block> blocks_;
  std::list<uint64_t> lru_;  // keys, most recently used first
};

}  // namespace frugal

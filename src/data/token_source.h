// TokenSource: one flat, read-only sequence of token ids behind random access, whatever holds it:
//   - a prepared data directory (index.json + shards, `frugal data prepare`), one split of it;
//   - a single token shard file (train_00000.bin);
//   - a NumPy .npy 1-D integer vector (int8/16/32/64, uint8/16/32/64; ids must be >= 0 and < 2^31).
// Shards are mmapped (zero copy) and checked completely on open: header, size, CRC32 and every id
// < vocab_size, and for a directory each shard against its index.json entry. Errors name the file
// and what is wrong. Copies are cheap and share the mappings.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset_index.h"

namespace frugal::data {

class TokenSource {
 public:
  TokenSource() = default;

  // The training tokens of `path`: the train split of a prepared directory, or all of a .bin / .npy.
  static TokenSource open(const std::string& path);
  // One split of a prepared directory; kTrain on a .bin / .npy is the whole file, kVal on one is an
  // error (a single file has no validation split).
  static TokenSource open(const std::string& path, Split split);
  // The validation tokens of `path`, or nullopt when it has none (a .bin / .npy, or a directory
  // whose val split is empty).
  static std::optional<TokenSource> open_val(const std::string& path);
  // In-memory ids (tests, synthetic data); `name` is used in messages. Throws on a negative id.
  static TokenSource from_ids(std::vector<int32_t> ids, std::string name = "<memory>");

  int64_t size() const { return size_; }             // tokens
  const std::string& path() const { return path_; }  // what was opened, for messages
  std::string describe() const;                      // "DIR (train split, 2 shards, 1234 tokens)"
  int64_t vocab_size() const { return vocab_size_; } // from the shard headers; 0 when unknown (.npy)
  int32_t eos_id() const { return eos_id_; }         // -1 when unknown (.npy)
  int32_t max_id() const { return max_id_; }         // largest id present; -1 when empty
  // Identifies the content (CRC32 over the shard checksums, or over the ids of a .npy), so a
  // restored loader position can tell it is reading the same corpus.
  uint32_t fingerprint() const { return fingerprint_; }

  // ids [pos, pos + n) into out[n], across shard boundaries. Throws kInvalidArgument when the
  // range is outside [0, size()).
  void read(int64_t pos, int64_t n, int32_t* out) const;

  // One contiguous run of ids: a shard payload (width 2 or 4, unsigned) or owned int32 memory.
  struct Segment {
    std::shared_ptr<const void> owner;  // keeps the mapping / vector alive
    const uint8_t* data = nullptr;
    int64_t start = 0, n = 0;  // global position of data[0], tokens
    uint32_t width = 4;        // bytes per id
  };

 private:
  std::string path_, kind_;
  std::vector<Segment> segments_;
  int64_t size_ = 0, vocab_size_ = 0;
  int32_t eos_id_ = -1, max_id_ = -1;
  uint32_t fingerprint_ = 0;

  static TokenSource open_dir(const std::string& dir, Split split);
  static TokenSource open_shard(const std::string& path);
  static TokenSource open_npy(const std::string& path);
  void add_segment(std::shared_ptr<const void> owner, const uint8_t* data, int64_t n, uint32_t width);
};

}  // namespace frugal::data

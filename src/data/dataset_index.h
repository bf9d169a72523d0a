// index.json of a prepared data directory (`frugal data prepare --out DIR`): which tokenizer made
// the tokens, and per shard its file, split, token and document counts, CRC32 and size. It is
// written last, so a directory with an index.json is complete; readers check every shard against it.
//
//   {"format": "frugal.tokens", "version": 1,
//    "tokenizer": {"path": "...", "vocab_size": 4096, "eos_id": 1, "eos_token": "<｜end▁of▁sentence｜>"},
//    "dtype": "uint16", "seed": 0, "val_fraction": 0.01, "inputs": ["a.txt", ...],
//    "shards": [{"file": "train_00000.bin", "split": "train", "tokens": 1000, "documents": 10,
//                "crc32": 305419896, "bytes": 2064}, ...],
//    "totals": {"train": {"shards": 1, "tokens": 1000, "documents": 10}, "val": {...}}}
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace frugal::data {

inline constexpr char kIndexFile[] = "index.json";
inline constexpr char kIndexFormat[] = "frugal.tokens";
inline constexpr int kIndexVersion = 1;

enum class Split { kTrain, kVal };
const char* split_name(Split s);  // "train" / "val"

struct ShardEntry {
  std::string file;  // name inside the directory, e.g. "train_00000.bin"
  Split split = Split::kTrain;
  int64_t tokens = 0, documents = 0, bytes = 0;
  uint32_t crc32 = 0;
};

struct SplitTotals {
  int64_t shards = 0, tokens = 0, documents = 0;
};

struct DatasetIndex {
  std::string tokenizer_path, eos_token;
  int64_t vocab_size = 0;
  int32_t eos_id = -1;
  std::string dtype;  // "uint16" / "uint32"
  uint64_t seed = 0;
  double val_fraction = 0;
  std::vector<std::string> inputs;
  std::vector<ShardEntry> shards;  // train shards first, then val, each in order

  SplitTotals totals(Split s) const;
  nlohmann::json to_json() const;
  // Throws kFormat naming `source` and the key for a missing/mistyped key, another format or an
  // unknown version.
  static DatasetIndex from_json(const nlohmann::json& j, const std::string& source);
  // DIR/index.json; a directory without one gets an error saying it is not a prepared directory.
  static DatasetIndex load(const std::string& dir);
  void save(const std::string& dir) const;  // atomic
};

}  // namespace frugal::data

// Safetensors: reader (mmap, zero-copy, fully validated before any tensor is touched) and writer
// (header padded to 8 bytes, atomic write). Format: u64 little-endian header length N, N bytes of
// JSON {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}},
// then the data; offsets are relative to the start of the data section.
//
// The reader rejects every case of docs/conventions.md, Malformed files — header too small/large/longer than the
// file, non-UTF-8 or non-JSON or non-object header, unknown dtype, negative/overflowing shapes,
// byte count != numel·size, gaps/overlaps/out-of-range offsets, data not covering the file,
// duplicate names, non-string metadata — with an Error naming the file (and tensor).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/file.h"
#include "core/tensor.h"

namespace frugal {

struct SafetensorsEntry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin = 0, end = 0;  // byte offsets into the data section
};

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);  // throws Error(kIo / kFormat)

  const std::string& path() const { return path_; }
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }  // in file order
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool has(const std::string& name) const { return index_.count(name) != 0; }
  const SafetensorsEntry& entry(const std::string& name) const;  // throws naming file + tensor
  // Zero-copy view into the mapping; the returned Tensor keeps the mapping alive. A tensor whose
  // bytes are not aligned for its dtype is served from an aligned copy, made on first use and kept
  // with the file, so its data pointer too stays valid as long as either the Tensor or this file
  // (or a copy of it) lives, and asking twice returns the same memory.
  Tensor tensor(const std::string& name) const;

 private:
  struct AlignedCopies;
  std::string path_;
  std::shared_ptr<MappedFile> file_;
  std::shared_ptr<AlignedCopies> copies_;
  std::vector<SafetensorsEntry> entries_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
  uint64_t data_start_ = 0;
};

// Collects tensors (copied on add) and writes one safetensors file atomically.
class SafetensorsWriter {
 public:
  void add(const std::string& name, const Tensor& t);  // throws on duplicate names
  void add_raw(const std::string& name, DType dtype, const Shape& shape, const void* data, size_t nbytes);
  void set_metadata(const std::string& key, const std::string& value);
  std::string serialize() const;  // the whole file as bytes
  void write(const std::string& path) const;

 private:
  struct Item { std::string name; DType dtype; Shape shape; std::string bytes; };
  std::vector<Item> items_;
  std::map<std::string, std::string> metadata_;
};

// A checkpoint directory: `model.safetensors`, or `model.safetensors.index.json` + shards, or any
// single `*.safetensors`. Resolves every tensor name to its shard. The index is validated: shard
// paths must be plain file names inside the directory (no "../", no absolute paths), every named
// shard must exist, and a tensor may live in only one shard.
class WeightStore {
 public:
  explicit WeightStore(const std::string& dir);
  const std::string& dir() const { return dir_; }
  bool has(const std::string& name) const { return where_.count(name) != 0; }
  Tensor get(const std::string& name) const;           // throws kShape naming dir + tensor if missing
  const SafetensorsEntry& entry(const std::string& name) const;
  const std::string& file_of(const std::string& name) const;  // shard path
  // The __metadata__ of the shard holding `name` (GGUF block tensors are described there).
  const std::map<std::string, std::string>& metadata_of(const std::string& name) const;
  std::vector<std::string> names() const;               // sorted
  int64_t total_bytes() const;                          // sum of tensor bytes

 private:
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, size_t> where_;  // name -> index into files_
};

}  // namespace frugal

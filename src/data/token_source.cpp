#include "data/token_source.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <type_traits>

#include "core/error.h"
#include "core/file.h"
#include "data/shard_format.h"
#include "io/npy.h"

namespace frugal::data {

namespace {

// Widens a .npy integer vector to int32, rejecting ids outside [0, 2^31).
template <typename T> std::vector<int32_t> ids_from(const void* data, int64_t n, const std::string& path) {
  std::vector<int32_t> out(static_cast<size_t>(n));
  const T* p = static_cast<const T*>(data);
  for (int64_t i = 0; i < n; ++i) {
    const T v = p[i];
    if constexpr (std::is_signed_v<T>) {
      if (v < 0) fail(ErrorKind::kFormat, "{}: token id {} at index {} is negative", path, int64_t(v), i);
    }
    if (uint64_t(v) > uint64_t(std::numeric_limits<int32_t>::max()))
      fail(ErrorKind::kFormat, "{}: token id {} at index {} does not fit int32", path, uint64_t(v), i);
    out[size_t(i)] = int32_t(v);
  }
  return out;
}

}  // namespace

void TokenSource::add_segment(std::shared_ptr<const void> owner, const uint8_t* data, int64_t n, uint32_t width) {
  if (n > 0) segments_.push_back(Segment{std::move(owner), data, size_, n, width});
  size_ += n;
}

TokenSource TokenSource::open(const std::string& path) { return open(path, Split::kTrain); }

TokenSource TokenSource::open(const std::string& path, Split split) {
  if (is_directory(path)) return open_dir(path, split);
  if (!file_exists(path)) fail(ErrorKind::kIo, "token data {} does not exist", path);
  if (split == Split::kVal)
    fail(ErrorKind::kInvalidArgument, "{} is a single token file; it has no validation split (prepare a directory "
         "with `frugal data prepare`)", path);
  if (path.ends_with(".npy")) return open_npy(path);
  if (path.ends_with(".bin")) return open_shard(path);
  // Unknown extension: decide by the magic bytes.
  {
    const MappedFile f(path);
    if (f.size() >= 8 && std::memcmp(f.data(), kShardMagic, 8) == 0) return open_shard(path);
    if (f.size() >= 6 && std::memcmp(f.data(), "\x93NUMPY", 6) == 0) return open_npy(path);
  }
  fail(ErrorKind::kFormat, "{} is neither a prepared data directory, a token shard (.bin) nor a NumPy .npy vector",
       path);
}

std::optional<TokenSource> TokenSource::open_val(const std::string& path) {
  if (!is_directory(path)) {
    if (!file_exists(path)) fail(ErrorKind::kIo, "token data {} does not exist", path);
    return std::nullopt;
  }
  TokenSource s = open_dir(path, Split::kVal);
  if (s.size() == 0) return std::nullopt;
  return s;
}

TokenSource TokenSource::from_ids(std::vector<int32_t> ids, std::string name) {
  TokenSource s;
  s.path_ = std::move(name);
  s.kind_ = "ids";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0) fail(ErrorKind::kInvalidArgument, "{}: token id {} at index {} is negative", s.path_, ids[i], i);
    s.max_id_ = std::max(s.max_id_, ids[i]);
  }
  s.fingerprint_ = crc32_of(ids.data(), ids.size() * sizeof(int32_t));
  auto owned = std::make_shared<std::vector<int32_t>>(std::move(ids));
  s.add_segment(owned, reinterpret_cast<const uint8_t*>(owned->data()), int64_t(owned->size()), 4);
  return s;
}

TokenSource TokenSource::open_npy(const std::string& path) {
  const Tensor t = npy_read(path);
  if (t.dim() != 1)
    fail(ErrorKind::kShape, "{}: token ids must be a 1-D vector, got shape {}", path, shape_str(t.shape()));
  const int64_t n = t.numel();
  std::vector<int32_t> ids;
  switch (t.dtype()) {
    case DType::kI8: ids = ids_from<int8_t>(t.data(), n, path); break;
    case DType::kU8: ids = ids_from<uint8_t>(t.data(), n, path); break;
    case DType::kI16: ids = ids_from<int16_t>(t.data(), n, path); break;
    case DType::kU16: ids = ids_from<uint16_t>(t.data(), n, path); break;
    case DType::kI32: ids = ids_from<int32_t>(t.data(), n, path); break;
    case DType::kU32: ids = ids_from<uint32_t>(t.data(), n, path); break;
    case DType::kI64: ids = ids_from<int64_t>(t.data(), n, path); break;
    case DType::kU64: ids = ids_from<uint64_t>(t.data(), n, path); break;
    default:
      fail(ErrorKind::kFormat, "{}: token ids must be integers, got dtype {}", path, dtype_name(t.dtype()));
  }
  TokenSource s = from_ids(std::move(ids), path);
  s.kind_ = "npy";
  return s;
}

TokenSource TokenSource::open_shard(const std::string& path) {
  auto file = std::make_shared<MappedFile>(path);
  const ShardHeader h = shard_validate(path, file->data(), file->size());
  TokenSource s;
  s.path_ = path;
  s.kind_ = "shard";
  s.vocab_size_ = h.vocab_size;
  s.eos_id_ = h.eos_id;
  s.max_id_ = int32_t(h.max_id);
  const uint32_t parts[2] = {h.crc32, uint32_t(h.tokens)};
  s.fingerprint_ = crc32_of(parts, sizeof parts);
  s.add_segment(file, file->data() + kShardHeaderBytes, h.tokens, h.token_bytes);
  return s;
}

TokenSource TokenSource::open_dir(const std::string& dir, Split split) {
  const DatasetIndex index = DatasetIndex::load(dir);
  TokenSource s;
  s.path_ = dir;
  s.kind_ = std::string(split_name(split)) + " split";
  s.vocab_size_ = index.vocab_size;
  s.eos_id_ = index.eos_id;
  std::vector<uint32_t> parts;
  for (const ShardEntry& e : index.shards) {
    if (e.split != split) continue;
    const std::string path = path_join(dir, e.file);
    if (!file_exists(path))
      fail(ErrorKind::kIo, "token shard {} listed in {}/{} is missing", path, dir, kIndexFile);
    auto file = std::make_shared<MappedFile>(path);
    const ShardHeader h = shard_validate(path, file->data(), file->size());
    if (int64_t(file->size()) != e.bytes || h.tokens != e.tokens || h.crc32 != e.crc32 || h.documents != e.documents)
      fail(ErrorKind::kFormat,
           "token shard {}: does not match {}/{} ({} bytes, {} tokens, {} documents, crc32 {:08x} on disk; index says "
           "{} bytes, {} tokens, {} documents, crc32 {:08x}): the directory mixes files of two preparations",
           path, dir, kIndexFile, file->size(), h.tokens, h.documents, h.crc32, e.bytes, e.tokens, e.documents,
           e.crc32);
    if (h.vocab_size != index.vocab_size || h.eos_id != index.eos_id)
      fail(ErrorKind::kFormat, "token shard {}: vocab size {} / eos id {} differ from {}/{} ({} / {})", path,
           h.vocab_size, h.eos_id, dir, kIndexFile, index.vocab_size, index.eos_id);
    s.max_id_ = std::max(s.max_id_, int32_t(h.max_id));
    parts.push_back(h.crc32);
    parts.push_back(uint32_t(h.tokens));
    s.add_segment(file, file->data() + kShardHeaderBytes, h.tokens, h.token_bytes);
  }
  s.fingerprint_ = crc32_of(parts.data(), parts.size() * sizeof(uint32_t));
  return s;
}

std::string TokenSource::describe() const {
  if (kind_ == "npy" || kind_ == "ids") return fmt::format("{} ({} tokens)", path_, size_);
  if (kind_ == "shard") return fmt::format("{} (token shard, {} tokens)", path_, size_);
  return fmt::format("{} ({}, {} shards, {} tokens)", path_, kind_, segments_.size(), size_);
}

void TokenSource::read(int64_t pos, int64_t n, int32_t* out) const {
  if (pos < 0 || n < 0 || pos > size_ || n > size_ - pos)
    fail(ErrorKind::kInvalidArgument, "{}: read of tokens [{}, {}) outside [0, {})", path_, pos, pos + n, size_);
  // The first segment whose end lies past pos.
  auto it = std::upper_bound(segments_.begin(), segments_.end(), pos,
                             [](int64_t p, const Segment& s) { return p < s.start + s.n; });
  while (n > 0) {
    FRUGAL_ASSERT(it != segments_.end(), "pos {} size {}", pos, size_);
    const int64_t off = pos - it->start, take = std::min(n, it->n - off);
    if (it->width == 2) {
      const uint8_t* p = it->data + size_t(off) * 2;
      for (int64_t i = 0; i < take; ++i) {
        uint16_t v;
        std::memcpy(&v, p + size_t(i) * 2, 2);
        out[i] = int32_t(v);
      }
    } else {
      // uint32 payload ids are < 2^31 (checked on open), so the bytes are the same int32 values.
      std::memcpy(out, it->data + size_t(off) * 4, size_t(take) * 4);
    }
    out += take;
    pos += take;
    n -= take;
    ++it;
  }
}

}  // namespace frugal::data

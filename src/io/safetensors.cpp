#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <mutex>
#include <optional>
#include <set>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json.h"
#include "core/strings.h"

namespace frugal {

namespace {

using nlohmann::json;

// The Rust reference reader's limit (MAX_HEADER_SIZE): a header is a few MB even for the
// largest checkpoints, so anything bigger is corruption or an attack, not a model.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr uint64_t kLengthPrefixBytes = 8;
constexpr const char* kMetadataKey = "__metadata__";
// The deepest container a valid header has is a shape: root object (0) > entry (1) > array (2).
constexpr int kMaxHeaderDepth = 2;

uint64_t load_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

void store_le64(uint64_t v, char* p) {
  for (int i = 0; i < 8; ++i) p[i] = char((v >> (8 * i)) & 0xff);
}

// Offset of the first byte that breaks UTF-8 (overlong forms, surrogates and code points past
// U+10FFFF included), or nullopt when the whole string is valid.
std::optional<size_t> first_invalid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07;
    } else {
      return i;
    }
    if (n - i < len) return i;
    for (size_t k = 1; k < len; ++k) {
      const unsigned cc = p[i + k];
      if ((cc & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += len;
  }
  return std::nullopt;
}

// The header or index as JSON, with a key repeated within any object rejected: nlohmann silently
// keeps the last duplicate, which would let two readers of the same file disagree about a tensor.
// Containers nested deeper than `max_depth` (root = 0) are rejected as they open, so a header of
// 100 MB of '[' costs no memory. `top_level_key` says what a top-level key is ("tensor name").
json parse_json_checked(std::string_view text, const std::string& what, const char* top_level_key, int max_depth) {
  JsonLimits lim;
  lim.max_depth = max_depth;
  lim.unique_keys = true;
  lim.top_level_key = top_level_key;
  return parse_json(text, what, lim);
}

const char* json_type(const json& j) { return j.type_name(); }

// A non-negative JSON integer (nlohmann stores those as number_unsigned; negatives and floats are
// other types), or nullopt.
std::optional<uint64_t> as_u64(const json& j) {
  if (!j.is_number_unsigned()) return std::nullopt;
  return j.get<uint64_t>();
}

Shape parse_shape(const json& j, const std::string& where) {
  if (!j.is_array())
    fail(ErrorKind::kFormat, "{}: 'shape' must be an array of integers, found {}", where, json_type(j));
  Shape shape;
  shape.reserve(j.size());
  for (const json& d : j) {
    if (d.is_number_integer() && !d.is_number_unsigned())
      fail(ErrorKind::kFormat, "{}: negative dimension {} in shape {}", where, d.get<int64_t>(), j.dump());
    auto v = as_u64(d);
    if (!v) fail(ErrorKind::kFormat, "{}: shape {} has a non-integer dimension ({})", where, j.dump(), json_type(d));
    if (*v > uint64_t(std::numeric_limits<int64_t>::max()))
      fail(ErrorKind::kFormat, "{}: dimension {} in shape {} does not fit int64", where, *v, j.dump());
    shape.push_back(int64_t(*v));
  }
  return shape;
}

// numel(shape) * elem_size with every product checked; the shape comes from an untrusted file.
uint64_t checked_nbytes(const Shape& shape, size_t elem_size, const std::string& where) {
  uint64_t numel = 1;
  for (int64_t d : shape)
    if (__builtin_mul_overflow(numel, uint64_t(d), &numel) || numel > uint64_t(std::numeric_limits<int64_t>::max()))
      fail(ErrorKind::kFormat, "{}: shape {} has more elements than fit in int64", where, shape_str(shape));
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(numel, uint64_t(elem_size), &bytes))
    fail(ErrorKind::kFormat, "{}: shape {} times {} bytes per element overflows 64 bits", where, shape_str(shape),
         elem_size);
  return bytes;
}

const json& require_field(const json& entry, const char* key, const std::string& where) {
  auto it = entry.find(key);
  if (it == entry.end()) fail(ErrorKind::kFormat, "{}: missing '{}'", where, key);
  return *it;
}

SafetensorsEntry parse_entry(const std::string& name, const json& j, const std::string& path) {
  const std::string where = fmt::format("{}: tensor '{}'", path, name);
  if (!j.is_object())
    fail(ErrorKind::kFormat, "{}: expected an object with dtype/shape/data_offsets, found {}", where, json_type(j));

  SafetensorsEntry e;
  e.name = name;
  const json& dtype = require_field(j, "dtype", where);
  if (!dtype.is_string()) fail(ErrorKind::kFormat, "{}: 'dtype' must be a string, found {}", where, json_type(dtype));
  auto dt = dtype_from_name(dtype.get_ref<const std::string&>());
  // Q8_0 / Q4_0 are frugal's names for GGUF blocks, not safetensors dtypes (they travel as U8).
  if (!dt || dtype_is_block(*dt))
    fail(ErrorKind::kFormat, "{}: unknown dtype '{}'", where, dtype.get_ref<const std::string&>());
  e.dtype = *dt;
  e.shape = parse_shape(require_field(j, "shape", where), where);

  const json& offs = require_field(j, "data_offsets", where);
  std::optional<uint64_t> begin, end;
  if (offs.is_array() && offs.size() == 2) begin = as_u64(offs[0]), end = as_u64(offs[1]);
  if (!begin || !end)
    fail(ErrorKind::kFormat, "{}: 'data_offsets' must be [begin, end] with non-negative integers, found {}", where,
         offs.dump());
  e.begin = *begin;
  e.end = *end;
  if (e.end < e.begin) fail(ErrorKind::kFormat, "{}: data_offsets end {} < begin {}", where, e.end, e.begin);

  const uint64_t expected = checked_nbytes(e.shape, dtype_size(e.dtype), where);
  if (e.end - e.begin != expected)
    fail(ErrorKind::kFormat, "{}: data_offsets [{}, {}] span {} bytes, but {} {} needs {} bytes", where, e.begin,
         e.end, e.end - e.begin, dtype_name(e.dtype), shape_str(e.shape), expected);
  return e;
}

std::map<std::string, std::string> parse_metadata(const json& j, const std::string& path) {
  if (!j.is_object())
    fail(ErrorKind::kFormat, "{}: '{}' must be an object of strings, found {}", path, kMetadataKey, json_type(j));
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : j.items()) {
    if (!value.is_string())
      fail(ErrorKind::kFormat, "{}: '{}' value for key '{}' must be a string, found {}", path, kMetadataKey, key,
           json_type(value));
    out.emplace(key, value.get<std::string>());
  }
  return out;
}

// The tensors must tile the data section exactly: sorted by offset, each starts where the
// previous one ended, the first at 0, the last at the end of the file. Anything else means
// the header and the data disagree (truncated copy, hand-edited header, hostile file).
void check_layout(std::vector<SafetensorsEntry>& entries, uint64_t data_bytes, const std::string& path) {
  std::sort(entries.begin(), entries.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  uint64_t expected = 0;
  const SafetensorsEntry* prev = nullptr;
  for (const SafetensorsEntry& e : entries) {
    if (e.begin < expected)
      fail(ErrorKind::kFormat, "{}: tensor '{}' data [{}, {}) overlaps tensor '{}' which ends at {}", path, e.name,
           e.begin, e.end, prev->name, expected);
    if (e.begin > expected) {
      if (prev)
        fail(ErrorKind::kFormat, "{}: gap of {} bytes before tensor '{}': it begins at {} but tensor '{}' ends at {}",
             path, e.begin - expected, e.name, e.begin, prev->name, expected);
      fail(ErrorKind::kFormat, "{}: first tensor '{}' begins at {}, expected 0", path, e.name, e.begin);
    }
    expected = e.end;
    prev = &e;
  }
  if (expected != data_bytes)
    fail(ErrorKind::kFormat, "{}: header declares {} bytes of tensor data but the file holds {} after the header",
         path, expected, data_bytes);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Reader

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  auto file = std::make_shared<MappedFile>(path);
  const uint64_t size = file->size();
  if (size < kLengthPrefixBytes)
    fail(ErrorKind::kFormat, "{}: file is {} bytes, too small for a safetensors header (needs at least 8)", path, size);
  const uint64_t header_len = load_le64(file->data());
  if (header_len > kMaxHeaderBytes)
    fail(ErrorKind::kFormat, "{}: header length {} is too large (limit {} bytes)", path, header_len, kMaxHeaderBytes);
  if (header_len > size - kLengthPrefixBytes)
    fail(ErrorKind::kFormat, "{}: header length {} + 8 exceeds the file size {}", path, header_len, size);

  const std::string_view header(reinterpret_cast<const char*>(file->data()) + kLengthPrefixBytes, header_len);
  if (auto bad = first_invalid_utf8(header))
    fail(ErrorKind::kFormat, "{}: header is not valid UTF-8 (bad byte at header offset {})", path, *bad);
  const json root = parse_json_checked(header, path + ": header", "tensor name", kMaxHeaderDepth);
  if (!root.is_object()) fail(ErrorKind::kFormat, "{}: header must be a JSON object, found {}", path, json_type(root));

  // Build everything in locals; members are set only once the whole file has been validated.
  std::vector<SafetensorsEntry> entries;
  std::map<std::string, std::string> metadata;
  entries.reserve(root.size());
  for (const auto& [name, value] : root.items()) {
    if (name == kMetadataKey)
      metadata = parse_metadata(value, path);
    else
      entries.push_back(parse_entry(name, value, path));
  }
  const uint64_t data_start = kLengthPrefixBytes + header_len;
  check_layout(entries, size - data_start, path);

  for (size_t i = 0; i < entries.size(); ++i) index_.emplace(entries[i].name, i);
  entries_ = std::move(entries);
  metadata_ = std::move(metadata);
  data_start_ = data_start;
  file_ = std::move(file);
  copies_ = std::make_shared<AlignedCopies>();
}

const SafetensorsEntry& SafetensorsFile::entry(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) fail(ErrorKind::kShape, "{}: no tensor named '{}'", path_, name);
  return entries_[it->second];
}

// Keyed by entry index. Callers keep raw pointers (a LoadedCheckpoint's spans, a model's
// WeightViews) as long as they keep the file, so a copy must live exactly as long as the mapping.
struct SafetensorsFile::AlignedCopies {
  std::mutex mu;
  std::map<size_t, Tensor> by_entry;
};

Tensor SafetensorsFile::tensor(const std::string& name) const {
  const SafetensorsEntry& e = entry(name);
  const uint8_t* p = file_->data() + data_start_ + e.begin;
  // Files from other writers may place a tensor at an offset that is not a multiple of its
  // element size (or have a header length that shifts all of them); a typed access there is UB.
  if (reinterpret_cast<uintptr_t>(p) % dtype_size(e.dtype) != 0) {
    std::lock_guard<std::mutex> lock(copies_->mu);
    auto [it, fresh] = copies_->by_entry.try_emplace(size_t(&e - entries_.data()));
    if (fresh) {
      it->second = Tensor::zeros(e.dtype, e.shape);
      if (e.end > e.begin) std::memcpy(it->second.data(), p, e.end - e.begin);
    }
    return it->second;
  }
  return Tensor(e.dtype, e.shape, const_cast<uint8_t*>(p), file_);
}

// ---------------------------------------------------------------------------------------------
// Writer

void SafetensorsWriter::add(const std::string& name, const Tensor& t) {
  const Tensor c = t.is_contiguous() ? t : t.contiguous();
  add_raw(name, c.dtype(), c.shape(), c.data(), c.nbytes());
}

void SafetensorsWriter::add_raw(const std::string& name, DType dtype, const Shape& shape, const void* data,
                                size_t nbytes) {
  if (name == kMetadataKey) fail(ErrorKind::kInvalidArgument, "'{}' is reserved and cannot name a tensor", name);
  if (first_invalid_utf8(name))
    fail(ErrorKind::kInvalidArgument, "tensor name '{}' is not valid UTF-8", escape_bytes(name));
  // A linear scan: the writer holds every tensor in memory, so it only ever sees a few thousand.
  for (const Item& it : items_)
    if (it.name == name) fail(ErrorKind::kInvalidArgument, "tensor '{}' added twice", name);
  size_t expected = 0;
  if (__builtin_mul_overflow(size_t(shape_numel(shape)), dtype_size(dtype), &expected))
    fail(ErrorKind::kShape, "tensor '{}': {} {} is too large", name, dtype_name(dtype), shape_str(shape));
  if (nbytes != expected)
    fail(ErrorKind::kShape, "tensor '{}': {} {} needs {} bytes, got {}", name, dtype_name(dtype), shape_str(shape),
         expected, nbytes);
  std::string bytes(nbytes, '\0');
  if (nbytes) std::memcpy(bytes.data(), data, nbytes);
  items_.push_back({name, dtype, shape, std::move(bytes)});
}

void SafetensorsWriter::set_metadata(const std::string& key, const std::string& value) {
  if (first_invalid_utf8(key) || first_invalid_utf8(value))
    fail(ErrorKind::kInvalidArgument, "metadata key '{}' or its value is not valid UTF-8", escape_bytes(key));
  metadata_[key] = value;
}

std::string SafetensorsWriter::serialize() const {
  // Largest elements first: the data section starts 8-aligned (header padded below) and every
  // size is a power of two, so each tensor then begins at a multiple of its own element size
  // and readers can use the mapping in place.
  std::vector<const Item*> order;
  for (const Item& it : items_) order.push_back(&it);
  std::sort(order.begin(), order.end(), [](const Item* a, const Item* b) {
    const size_t sa = dtype_size(a->dtype), sb = dtype_size(b->dtype);
    return sa != sb ? sa > sb : a->name < b->name;
  });

  json header = json::object();
  if (!metadata_.empty()) header[kMetadataKey] = metadata_;
  uint64_t offset = 0;
  for (const Item* it : order) {
    const uint64_t end = offset + it->bytes.size();
    header[it->name] = {{"dtype", dtype_name(it->dtype)}, {"shape", it->shape}, {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  if (text.size() > kMaxHeaderBytes)
    fail(ErrorKind::kInvalidArgument, "safetensors header would be {} bytes, over the {} byte limit readers accept",
         text.size(), kMaxHeaderBytes);

  std::string out(kLengthPrefixBytes, '\0');
  store_le64(text.size(), out.data());
  out.reserve(kLengthPrefixBytes + text.size() + offset);
  out += text;
  for (const Item* it : order) out += it->bytes;
  return out;
}

void SafetensorsWriter::write(const std::string& path) const { write_file_atomic(path, serialize()); }

// ---------------------------------------------------------------------------------------------
// WeightStore

namespace {

constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";
constexpr int kMaxIndexDepth = 16;  // weight_map is at depth 1; leave room for rich metadata

// Shard names come from a file we did not write: only a plain name inside the directory is
// acceptable, so an index can never make us open "../../etc/x" or an absolute path.
void check_shard_name(const std::string& shard, const std::string& index_path) {
  const bool plain = !shard.empty() && shard != "." && shard != ".." &&
                     shard.find_first_of(std::string_view("/\\\0", 3)) == std::string::npos;
  if (!plain)
    fail(ErrorKind::kFormat, "{}: shard '{}' must be a plain file name inside the checkpoint directory", index_path,
         shard);
}

// weight_map: tensor name -> shard file name.
std::map<std::string, std::string> read_weight_map(const std::string& index_path) {
  const std::string text = read_file(index_path);
  if (auto bad = first_invalid_utf8(text))
    fail(ErrorKind::kFormat, "{}: not valid UTF-8 (bad byte at offset {})", index_path, *bad);
  const json root = parse_json_checked(text, index_path, "top-level key", kMaxIndexDepth);
  if (!root.is_object()) fail(ErrorKind::kFormat, "{}: expected a JSON object, found {}", index_path, json_type(root));
  auto it = root.find("weight_map");
  if (it == root.end()) fail(ErrorKind::kFormat, "{}: missing 'weight_map'", index_path);
  if (!it->is_object())
    fail(ErrorKind::kFormat, "{}: 'weight_map' must be an object of tensor name -> shard file, found {}", index_path,
         json_type(*it));
  std::map<std::string, std::string> map;
  for (const auto& [name, shard] : it->items()) {
    if (!shard.is_string())
      fail(ErrorKind::kFormat, "{}: weight_map entry for tensor '{}' must be a string, found {}", index_path, name,
           json_type(shard));
    check_shard_name(shard.get_ref<const std::string&>(), index_path);
    map.emplace(name, shard.get<std::string>());
  }
  return map;
}

// Every regular *.safetensors file directly in `dir`, sorted (hidden files such as our own
// in-progress atomic writes are skipped).
std::vector<std::string> list_safetensors(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() > 12 && name.ends_with(".safetensors") && name[0] != '.' && file_exists(it->path().string()))
      names.push_back(name);
  }
  if (ec) fail(ErrorKind::kIo, "cannot list checkpoint directory {}: {}", dir, ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

WeightStore::WeightStore(const std::string& dir) : dir_(dir) {
  if (!is_directory(dir)) fail(ErrorKind::kIo, "checkpoint directory {} does not exist or is not a directory", dir);

  const std::string index_path = path_join(dir, kIndexFile);
  std::map<std::string, std::string> weight_map;
  std::vector<std::string> shards;
  if (file_exists(index_path)) {
    weight_map = read_weight_map(index_path);
    std::set<std::string> unique;
    for (const auto& [name, shard] : weight_map) unique.insert(shard);
    for (const std::string& shard : unique)
      if (!file_exists(path_join(dir, shard)))
        fail(ErrorKind::kIo, "{}: shard '{}' is listed but {} does not exist", index_path, shard,
             path_join(dir, shard));
    shards.assign(unique.begin(), unique.end());
  } else if (file_exists(path_join(dir, kSingleFile))) {
    shards = {kSingleFile};
  } else {
    shards = list_safetensors(dir);
  }
  if (shards.empty())
    fail(ErrorKind::kIo, "no checkpoint in {}: expected {}, {} or some *.safetensors file", dir, kSingleFile,
         kIndexFile);

  for (const std::string& shard : shards) {
    files_.push_back(std::make_unique<SafetensorsFile>(path_join(dir, shard)));
    const size_t k = files_.size() - 1;
    for (const SafetensorsEntry& e : files_[k]->entries()) {
      auto [it, inserted] = where_.emplace(e.name, k);
      if (!inserted)
        fail(ErrorKind::kFormat, "{}: tensor '{}' appears in two shards, {} and {}", dir, e.name,
             files_[it->second]->path(), files_[k]->path());
    }
  }

  // The index must agree with what the shards hold.
  for (const auto& [name, shard] : weight_map) {
    const std::string shard_path = path_join(dir, shard);
    auto it = where_.find(name);
    if (it == where_.end())
      fail(ErrorKind::kFormat, "{}: tensor '{}' is listed in shard '{}' but {} has no such tensor", index_path, name,
           shard, shard_path);
    if (files_[it->second]->path() != shard_path)
      fail(ErrorKind::kFormat, "{}: tensor '{}' is listed in shard '{}' but is stored in {}", index_path, name, shard,
           files_[it->second]->path());
  }
}

namespace {
const SafetensorsFile& find_shard(const std::map<std::string, size_t>& where,
                                  const std::vector<std::unique_ptr<SafetensorsFile>>& files, const std::string& dir,
                                  const std::string& name) {
  auto it = where.find(name);
  if (it == where.end()) fail(ErrorKind::kShape, "checkpoint {} has no tensor named '{}'", dir, name);
  return *files[it->second];
}
}  // namespace

const SafetensorsEntry& WeightStore::entry(const std::string& name) const {
  return find_shard(where_, files_, dir_, name).entry(name);
}
Tensor WeightStore::get(const std::string& name) const { return find_shard(where_, files_, dir_, name).tensor(name); }
const std::string& WeightStore::file_of(const std::string& name) const {
  return find_shard(where_, files_, dir_, name).path();
}
const std::map<std::string, std::string>& WeightStore::metadata_of(const std::string& name) const {
  return find_shard(where_, files_, dir_, name).metadata();
}

std::vector<std::string> WeightStore::names() const {
  std::vector<std::string> out;
  out.reserve(where_.size());
  for (const auto& [name, k] : where_) out.push_back(name);
  return out;
}

int64_t WeightStore::total_bytes() const {
  int64_t total = 0;
  for (const auto& f : files_)
    for (const SafetensorsEntry& e : f->entries()) total += int64_t(e.end - e.begin);
  return total;
}

}  // namespace frugal

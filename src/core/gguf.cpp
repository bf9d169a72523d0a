#include "core/gguf.h"

#include <algorithm>
#include <cstring>
#include <sys/stat.h>

#include "core/error.h"
#include "core/file.h"

namespace frugal {

namespace {

constexpr uint64_t kMaxDims = 4;        // GGML_MAX_DIMS
constexpr uint64_t kMaxTensorName = 63; // GGML_MAX_NAME (64) with its terminator
constexpr uint64_t kMaxKeyBytes = 1 << 16;

// ggml.c's type traits for the ids frugal knows; anything else is an unknown type.
constexpr GgmlTypeInfo kGgmlTypes[] = {
    {0, "F32", 1, 4, DType::kF32},       {1, "F16", 1, 2, DType::kF16},
    {2, "Q4_0", 32, 18, DType::kQ4_0},   {3, "Q4_1", 32, 20, std::nullopt},
    {6, "Q5_0", 32, 22, std::nullopt},   {7, "Q5_1", 32, 24, std::nullopt},
    {8, "Q8_0", 32, 34, DType::kQ8_0},   {9, "Q8_1", 32, 36, std::nullopt},
    {10, "Q2_K", 256, 84, std::nullopt}, {11, "Q3_K", 256, 110, std::nullopt},
    {12, "Q4_K", 256, 144, std::nullopt}, {13, "Q5_K", 256, 176, std::nullopt},
    {14, "Q6_K", 256, 210, std::nullopt}, {15, "Q8_K", 256, 292, std::nullopt},
    {16, "IQ2_XXS", 256, 66, std::nullopt}, {17, "IQ2_XS", 256, 74, std::nullopt},
    {18, "IQ3_XXS", 256, 98, std::nullopt}, {19, "IQ1_S", 256, 50, std::nullopt},
    {20, "IQ4_NL", 32, 18, std::nullopt}, {21, "IQ3_S", 256, 110, std::nullopt},
    {22, "IQ2_S", 256, 82, std::nullopt}, {23, "IQ4_XS", 256, 136, std::nullopt},
    {24, "I8", 1, 1, std::nullopt},      {25, "I16", 1, 2, std::nullopt},
    {26, "I32", 1, 4, std::nullopt},     {27, "I64", 1, 8, std::nullopt},
    {28, "F64", 1, 8, std::nullopt},     {29, "IQ1_M", 256, 56, std::nullopt},
    {30, "BF16", 1, 2, DType::kBF16},    {34, "TQ1_0", 256, 54, std::nullopt},
    {35, "TQ2_0", 256, 66, std::nullopt}, {39, "MXFP4", 32, 17, std::nullopt},
};

// Bytes of one element of a numeric value type (0 for strings and arrays).
uint64_t scalar_bytes(GgufType t) {
  switch (t) {
    case GgufType::kU8: case GgufType::kI8: case GgufType::kBool: return 1;
    case GgufType::kU16: case GgufType::kI16: return 2;
    case GgufType::kU32: case GgufType::kI32: case GgufType::kF32: return 4;
    case GgufType::kU64: case GgufType::kI64: case GgufType::kF64: return 8;
    default: return 0;
  }
}

bool valid_type(uint32_t t) { return t <= uint32_t(GgufType::kF64); }

template <class T>
T load_le(const uint8_t* p) {  // the host is little-endian (x86-64), as GGUF is
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// Reads a scalar of type t at p into v (p has scalar_bytes(t) bytes).
void decode_scalar(GgufType t, const uint8_t* p, GgufValue& v) {
  switch (t) {
    case GgufType::kU8: v.u = p[0]; break;
    case GgufType::kI8: v.i = int8_t(p[0]); break;
    case GgufType::kBool: v.u = p[0]; break;
    case GgufType::kU16: v.u = load_le<uint16_t>(p); break;
    case GgufType::kI16: v.i = load_le<int16_t>(p); break;
    case GgufType::kU32: v.u = load_le<uint32_t>(p); break;
    case GgufType::kI32: v.i = load_le<int32_t>(p); break;
    case GgufType::kF32: v.f = load_le<float>(p); break;
    case GgufType::kU64: v.u = load_le<uint64_t>(p); break;
    case GgufType::kI64: v.i = load_le<int64_t>(p); break;
    case GgufType::kF64: v.f = load_le<double>(p); break;
    default: break;
  }
}

bool is_signed_int(GgufType t) {
  return t == GgufType::kI8 || t == GgufType::kI16 || t == GgufType::kI32 || t == GgufType::kI64;
}
bool is_unsigned_int(GgufType t) {
  return t == GgufType::kU8 || t == GgufType::kU16 || t == GgufType::kU32 || t == GgufType::kU64;
}

// A bounds-checked cursor over the file's bytes.
class Cursor {
 public:
  Cursor(const uint8_t* base, size_t size, const std::string& path) : p_(base), size_(size), path_(path) {}
  uint64_t pos() const { return pos_; }
  uint64_t left() const { return size_ - pos_; }

  const uint8_t* take(uint64_t n, const std::string& what) {
    if (n > left())
      fail(ErrorKind::kFormat, "{}: truncated GGUF file: {} needs {} bytes at offset {}, only {} left", path_, what, n,
           pos_, left());
    const uint8_t* r = p_ + pos_;
    pos_ += n;
    return r;
  }
  template <class T>
  T read(const std::string& what) { return load_le<T>(take(sizeof(T), what)); }
  std::string_view string(const std::string& what, uint64_t max_len) {
    const uint64_t n = read<uint64_t>(what + " (string length)");
    if (n > left())
      fail(ErrorKind::kFormat, "{}: {} has string length {} but only {} bytes are left in the file", path_, what, n,
           left());
    if (n > max_len) fail(ErrorKind::kFormat, "{}: {} has string length {}, more than {}", path_, what, n, max_len);
    return {reinterpret_cast<const char*>(take(n, what)), size_t(n)};
  }

 private:
  const uint8_t* p_;
  uint64_t size_;
  uint64_t pos_ = 0;
  const std::string& path_;
};

GgufValue read_value(Cursor& c, GgufType t, const std::string& key, const std::string& path) {
  GgufValue v;
  v.type = t;
  if (t == GgufType::kString) {
    v.str = c.string("value of '" + key + "'", UINT64_MAX);
  } else if (t == GgufType::kArray) {
    const uint32_t et = c.read<uint32_t>("element type of '" + key + "'");
    if (!valid_type(et))
      fail(ErrorKind::kFormat, "{}: array '{}' has unknown element type {}", path, key, et);
    v.elem = GgufType(et);
    if (v.elem == GgufType::kArray)
      fail(ErrorKind::kFormat, "{}: array '{}' holds arrays; nested arrays are not supported", path, key);
    v.count = c.read<uint64_t>("element count of '" + key + "'");
    // Every element takes at least its scalar size (8 bytes of length for a string): a count the
    // rest of the file cannot hold is refused before anything is allocated.
    const uint64_t min_bytes = v.elem == GgufType::kString ? 8 : scalar_bytes(v.elem);
    if (v.count > c.left() / min_bytes)
      fail(ErrorKind::kFormat, "{}: array '{}' claims {} elements of {}, more than the {} bytes left in the file hold",
           path, key, v.count, gguf_type_name(v.elem), c.left());
    if (v.elem == GgufType::kString) {
      v.strs.reserve(size_t(v.count));
      for (uint64_t k = 0; k < v.count; ++k)
        v.strs.push_back(c.string(fmt::format("element {} of '{}'", k, key), UINT64_MAX));
    } else {
      v.raw = c.take(v.count * min_bytes, "elements of '" + key + "'");
      if (v.elem == GgufType::kBool)
        for (uint64_t k = 0; k < v.count; ++k)
          if (v.raw[k] > 1) fail(ErrorKind::kFormat, "{}: element {} of bool array '{}' is {}, not 0 or 1", path, k, key, v.raw[k]);
    }
  } else {
    decode_scalar(t, c.take(scalar_bytes(t), "value of '" + key + "'"), v);
    if (t == GgufType::kBool && v.u > 1)
      fail(ErrorKind::kFormat, "{}: bool '{}' is {}, not 0 or 1", path, key, v.u);
  }
  return v;
}

uint64_t checked_mul(uint64_t a, uint64_t b, const std::string& path, const std::string& what) {
  if (a != 0 && b > UINT64_MAX / a) fail(ErrorKind::kFormat, "{}: {} overflows 64 bits", path, what);
  return a * b;
}

}  // namespace

const char* gguf_type_name(GgufType t) {
  static const char* names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64",
                                "i64", "f64"};
  return valid_type(uint32_t(t)) ? names[uint32_t(t)] : "unknown";
}

const GgmlTypeInfo* ggml_type_info(uint32_t id) {
  for (const auto& t : kGgmlTypes)
    if (t.id == id) return &t;
  return nullptr;
}

std::optional<uint32_t> ggml_type_of(DType d) {
  for (const auto& t : kGgmlTypes)
    if (t.dtype && *t.dtype == d) return t.id;
  return std::nullopt;
}

bool GgufValue::is_integer() const { return is_signed_int(type) || is_unsigned_int(type); }
bool GgufValue::is_number() const { return is_integer() || type == GgufType::kF32 || type == GgufType::kF64; }

std::optional<int64_t> GgufValue::as_int() const {
  if (is_signed_int(type)) return i;
  if (is_unsigned_int(type) && u <= uint64_t(INT64_MAX)) return int64_t(u);
  return std::nullopt;
}

std::optional<double> GgufValue::as_float() const {
  if (type == GgufType::kF32 || type == GgufType::kF64) return f;
  if (is_signed_int(type)) return double(i);
  if (is_unsigned_int(type)) return double(u);
  return std::nullopt;
}

int64_t GgufValue::int_at(uint64_t k) const {
  GgufValue e;
  e.type = elem;
  decode_scalar(elem, raw + k * scalar_bytes(elem), e);
  if (is_signed_int(elem)) return e.i;
  if (elem == GgufType::kF32 || elem == GgufType::kF64) {  // saturate (NaN -> 0): a cast out of range is UB
    if (!(e.f == e.f)) return 0;
    return e.f >= 9.2e18 ? INT64_MAX : e.f <= -9.2e18 ? INT64_MIN : int64_t(e.f);
  }
  return int64_t(std::min<uint64_t>(e.u, uint64_t(INT64_MAX)));
}

double GgufValue::float_at(uint64_t k) const {
  GgufValue e;
  e.type = elem;
  decode_scalar(elem, raw + k * scalar_bytes(elem), e);
  return e.as_float().value_or(0.0);
}

int64_t GgufTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;  // validated not to overflow when the file was read
  return n;
}

GgufFile::GgufFile(const std::string& path) : path_(path) {
  auto mf = std::make_shared<MappedFile>(path);
  base_ = mf->data();
  size_ = mf->size();
  owner_ = mf;
  parse();
}

GgufFile::GgufFile(std::shared_ptr<const std::string> bytes, std::string name) : path_(std::move(name)) {
  base_ = reinterpret_cast<const uint8_t*>(bytes->data());
  size_ = bytes->size();
  owner_ = bytes;
  parse();
}

void GgufFile::parse() {
  Cursor c(base_, size_, path_);
  const uint8_t* magic = c.take(4, "the magic \"GGUF\"");
  if (std::memcmp(magic, "GGUF", 4) != 0) fail(ErrorKind::kFormat, "{}: not a GGUF file (no \"GGUF\" magic)", path_);
  version_ = c.read<uint32_t>("the version");
  if (version_ == 1) fail(ErrorKind::kUnsupported, "{}: GGUF version 1 is not supported (only 2 and 3)", path_);
  if (version_ != 2 && version_ != 3) {
    const bool swapped = version_ == 0x02000000u || version_ == 0x03000000u;
    fail(ErrorKind::kUnsupported, "{}: GGUF version {} is not supported (only 2 and 3){}", path_, version_,
         swapped ? "; this looks like a big-endian file" : "");
  }
  const uint64_t n_tensors = c.read<uint64_t>("tensor_count");
  const uint64_t n_kv = c.read<uint64_t>("metadata_kv_count");
  // Each key/value takes at least 8 (key length) + 1 (key) + 4 (type) + 1 (value) bytes, each tensor
  // info 8 + 1 + 4 + 8 + 4 + 8: counts the file cannot hold are refused before any allocation.
  if (n_kv > c.left() / 14)
    fail(ErrorKind::kFormat, "{}: metadata_kv_count {} is more than the {} bytes left in the file can hold", path_,
         n_kv, c.left());
  if (n_tensors > c.left() / 33)
    fail(ErrorKind::kFormat, "{}: tensor_count {} is more than the {} bytes left in the file can hold", path_,
         n_tensors, c.left());

  kv_.reserve(size_t(n_kv));
  for (uint64_t k = 0; k < n_kv; ++k) {
    const std::string key(c.string(fmt::format("key of metadata entry {}", k), kMaxKeyBytes));
    if (key.empty()) fail(ErrorKind::kFormat, "{}: metadata entry {} has an empty key", path_, k);
    if (kv_index_.count(key)) fail(ErrorKind::kFormat, "{}: duplicate metadata key '{}'", path_, key);
    const uint32_t t = c.read<uint32_t>("type of '" + key + "'");
    if (!valid_type(t)) fail(ErrorKind::kFormat, "{}: metadata key '{}' has unknown value type {}", path_, key, t);
    kv_index_[key] = kv_.size();
    kv_.emplace_back(key, read_value(c, GgufType(t), key, path_));
  }

  if (const GgufValue* a = find("general.alignment")) {
    if (a->type != GgufType::kU32)
      fail(ErrorKind::kFormat, "{}: general.alignment has type {}, expected u32", path_, gguf_type_name(a->type));
    if (a->u == 0 || (a->u & (a->u - 1)) != 0)
      fail(ErrorKind::kFormat, "{}: general.alignment is {}, expected a power of two", path_, a->u);
    alignment_ = a->u;
  }

  tensors_.reserve(size_t(n_tensors));
  for (uint64_t k = 0; k < n_tensors; ++k) {
    GgufTensor t;
    t.name = std::string(c.string(fmt::format("name of tensor {}", k), UINT64_MAX));
    if (t.name.empty()) fail(ErrorKind::kFormat, "{}: tensor {} has an empty name", path_, k);
    if (t.name.size() > kMaxTensorName)
      fail(ErrorKind::kFormat, "{}: tensor {} has a name of {} bytes, more than ggml's {}", path_, k, t.name.size(),
           kMaxTensorName);
    if (tensor_index_.count(t.name)) fail(ErrorKind::kFormat, "{}: duplicate tensor name '{}'", path_, t.name);
    const std::string what = "tensor '" + t.name + "'";
    const uint32_t n_dims = c.read<uint32_t>("n_dims of " + what);
    if (n_dims < 1 || n_dims > kMaxDims)
      fail(ErrorKind::kFormat, "{}: {} has n_dims {}, expected 1 to {}", path_, what, n_dims, kMaxDims);
    uint64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t n = c.read<uint64_t>(fmt::format("ne[{}] of {}", d, what));
      if (n > uint64_t(INT64_MAX))
        fail(ErrorKind::kFormat, "{}: {} has ne[{}] = {}, which is negative as int64", path_, what, d, int64_t(n));
      numel = checked_mul(numel, n, path_, fmt::format("the element count of {}", what));
      if (numel > uint64_t(INT64_MAX)) fail(ErrorKind::kFormat, "{}: the element count of {} overflows int64", path_, what);
      t.ne.push_back(int64_t(n));
    }
    t.ggml_type = c.read<uint32_t>("type of " + what);
    t.type = ggml_type_info(t.ggml_type);
    if (!t.type) fail(ErrorKind::kUnsupported, "{}: {} has unknown ggml tensor type {}", path_, what, t.ggml_type);
    if (t.ne[0] % t.type->block != 0)
      fail(ErrorKind::kFormat, "{}: {} has ne[0] = {}, not a multiple of {}'s block of {}", path_, what, t.ne[0],
           t.type->name, t.type->block);
    t.nbytes = checked_mul(numel / uint64_t(t.type->block), uint64_t(t.type->bytes), path_, "the byte size of " + what);
    t.offset = c.read<uint64_t>("offset of " + what);
    if (t.offset % alignment_ != 0)
      fail(ErrorKind::kFormat, "{}: {} has offset {}, not a multiple of the alignment {}", path_, what, t.offset,
           alignment_);
    tensor_index_[t.name] = tensors_.size();
    tensors_.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment.
  const uint64_t pos = c.pos();
  data_offset_ = pos + (alignment_ - pos % alignment_) % alignment_;
  const uint64_t data_size = data_offset_ <= size_ ? size_ - data_offset_ : 0;
  if (!tensors_.empty() && data_offset_ > size_)
    fail(ErrorKind::kFormat, "{}: truncated GGUF file: the data section would start at {}, past the end ({})", path_,
         data_offset_, size_);
  std::vector<const GgufTensor*> by_offset;
  for (GgufTensor& t : tensors_) {
    if (t.offset > data_size || t.nbytes > data_size - t.offset)
      fail(ErrorKind::kFormat, "{}: tensor '{}' needs bytes [{}, {}) of the data section, which has {} "
           "(truncated file or offset past the end)", path_, t.name, t.offset, t.offset + std::min(t.nbytes, UINT64_MAX - t.offset), data_size);
    t.data = base_ + data_offset_ + t.offset;
    by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t k = 1; k < by_offset.size(); ++k)
    if (by_offset[k - 1]->offset + by_offset[k - 1]->nbytes > by_offset[k]->offset)
      fail(ErrorKind::kFormat, "{}: tensors '{}' and '{}' overlap in the data section", path_, by_offset[k - 1]->name,
           by_offset[k]->name);
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const GgufTensor* GgufFile::tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::optional<std::string> GgufFile::get_string(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufType::kString)
    fail(ErrorKind::kConfig, "{}: metadata '{}' has type {}, expected string", path_, key, gguf_type_name(v->type));
  return std::string(v->str);
}

std::optional<int64_t> GgufFile::get_int(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_integer() || !v->as_int())
    fail(ErrorKind::kConfig, "{}: metadata '{}' has type {}, expected an integer that fits int64", path_, key,
         gguf_type_name(v->type));
  return v->as_int();
}

std::optional<double> GgufFile::get_float(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_number())
    fail(ErrorKind::kConfig, "{}: metadata '{}' has type {}, expected a number", path_, key, gguf_type_name(v->type));
  return v->as_float();
}

std::optional<bool> GgufFile::get_bool(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufType::kBool)
    fail(ErrorKind::kConfig, "{}: metadata '{}' has type {}, expected bool", path_, key, gguf_type_name(v->type));
  return v->u != 0;
}

const GgufValue* GgufFile::get_array(const std::string& key, GgufType elem) const {
  const GgufValue* v = find(key);
  if (!v) return nullptr;
  const bool ok = v->type == GgufType::kArray &&
                  (elem == GgufType::kU8 ? (v->elem != GgufType::kString && v->elem != GgufType::kBool) : v->elem == elem);
  if (!ok)
    fail(ErrorKind::kConfig, "{}: metadata '{}' has type {}{}, expected an array of {}", path_, key,
         gguf_type_name(v->type), v->type == GgufType::kArray ? fmt::format(" of {}", gguf_type_name(v->elem)) : "",
         elem == GgufType::kU8 ? "numbers" : gguf_type_name(elem));
  return v;
}

bool is_gguf_path(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".gguf") == 0) return true;
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  char m[4] = {};
  const size_t n = std::fread(m, 1, 4, f);
  std::fclose(f);
  return n == 4 && std::memcmp(m, "GGUF", 4) == 0;
}

}  // namespace frugal

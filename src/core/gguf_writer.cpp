#include "core/gguf_writer.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/file.h"
#include "core/gguf.h"

namespace frugal {

namespace {

constexpr uint64_t kAlign = 32;

template <class T>
void put(std::string& s, T v) {  // little-endian host, as GGUF
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  s.append(b, sizeof(T));
}

void put_str(std::string& s, std::string_view v) {
  put<uint64_t>(s, v.size());
  s.append(v);
}

void pad(std::string& s) { s.append(size_t((kAlign - s.size() % kAlign) % kAlign), '\0'); }

}  // namespace

void GgufWriter::key(const std::string& k, uint32_t type) {
  if (std::find(keys_.begin(), keys_.end(), k) != keys_.end())
    fail(ErrorKind::kInternal, "GGUF writer: metadata key '{}' added twice", k);
  keys_.push_back(k);
  ++n_kv_;
  put_str(kv_, k);
  put<uint32_t>(kv_, type);
}

void GgufWriter::add_string(const std::string& k, std::string_view v) {
  key(k, uint32_t(GgufType::kString));
  put_str(kv_, v);
}
void GgufWriter::add_u32(const std::string& k, uint32_t v) {
  key(k, uint32_t(GgufType::kU32));
  put(kv_, v);
}
void GgufWriter::add_i32(const std::string& k, int32_t v) {
  key(k, uint32_t(GgufType::kI32));
  put(kv_, v);
}
void GgufWriter::add_f32(const std::string& k, float v) {
  key(k, uint32_t(GgufType::kF32));
  put(kv_, v);
}
void GgufWriter::add_bool(const std::string& k, bool v) {
  key(k, uint32_t(GgufType::kBool));
  put<uint8_t>(kv_, v ? 1 : 0);
}
void GgufWriter::add_string_array(const std::string& k, const std::vector<std::string>& v) {
  key(k, uint32_t(GgufType::kArray));
  put<uint32_t>(kv_, uint32_t(GgufType::kString));
  put<uint64_t>(kv_, v.size());
  for (const auto& s : v) put_str(kv_, s);
}
void GgufWriter::add_i32_array(const std::string& k, const std::vector<int32_t>& v) {
  key(k, uint32_t(GgufType::kArray));
  put<uint32_t>(kv_, uint32_t(GgufType::kI32));
  put<uint64_t>(kv_, v.size());
  for (int32_t x : v) put(kv_, x);
}
void GgufWriter::add_f32_array(const std::string& k, const std::vector<float>& v) {
  key(k, uint32_t(GgufType::kArray));
  put<uint32_t>(kv_, uint32_t(GgufType::kF32));
  put<uint64_t>(kv_, v.size());
  for (float x : v) put(kv_, x);
}

void GgufWriter::add_tensor(const std::string& name, const std::vector<int64_t>& ne, uint32_t ggml_type,
                            std::string bytes) {
  const GgmlTypeInfo* t = ggml_type_info(ggml_type);
  if (!t) fail(ErrorKind::kInternal, "GGUF writer: tensor '{}' has unknown ggml type {}", name, ggml_type);
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  if (ne.empty() || ne.size() > 4 || ne[0] % t->block != 0 || uint64_t(n / t->block * t->bytes) != bytes.size())
    fail(ErrorKind::kInternal, "GGUF writer: tensor '{}' ({}) has {} bytes for its shape", name, t->name, bytes.size());
  for (const Tensor& o : tensors_)
    if (o.name == name) fail(ErrorKind::kInternal, "GGUF writer: tensor '{}' added twice", name);
  tensors_.push_back({name, ne, ggml_type, std::move(bytes)});
}

std::string GgufWriter::serialize() const {
  std::string s = "GGUF";
  put<uint32_t>(s, 3);
  put<uint64_t>(s, tensors_.size());
  put<uint64_t>(s, n_kv_);
  s += kv_;
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    put_str(s, t.name);
    put<uint32_t>(s, uint32_t(t.ne.size()));
    for (int64_t d : t.ne) put<uint64_t>(s, uint64_t(d));
    put<uint32_t>(s, t.type);
    put<uint64_t>(s, offset);
    offset += (t.bytes.size() + kAlign - 1) / kAlign * kAlign;
  }
  pad(s);
  for (const Tensor& t : tensors_) {
    s += t.bytes;
    pad(s);
  }
  return s;
}

void GgufWriter::write(const std::string& path) const { write_file_atomic(path, serialize()); }

}  // namespace frugal

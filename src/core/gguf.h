// GGUF container reader: llama.cpp's single-file model format, versions 2 and 3, little-endian.
// It lives in core so the tokenizer layer can read embedded vocabularies; the deepseek2 model
// mapping is io/gguf_model.h, the writer io/gguf_writer.h.
//
// Layout: "GGUF", u32 version, u64 tensor_count, u64 kv_count; kv_count key/values (string key,
// u32 type, value; arrays are u32 element type, u64 count, elements); tensor_count tensor infos
// (string name, u32 n_dims, u64 ne[n_dims] with ne[0] the fastest-varying (row) length, u32 ggml
// type, u64 offset relative to the data section); padding to `general.alignment` (default 32);
// the data section. Strings are u64 length + bytes (no terminator).
//
// Everything is validated before it is used or allocated, each error naming the file and the key
// or tensor: every count, string and array length against the bytes left in the file, value and
// element types, nested arrays, duplicate keys and tensor names, n_dims (1..4), every ne >= 0 and
// their product (no overflow), ne[0] a multiple of the type's block, the ggml type (unknown ids
// are refused; known types frugal cannot compute with are kept, so a tool can report them), the
// alignment (a power of two), every offset (a multiple of the alignment) and every tensor's byte
// range (inside the data section, no overlaps). Values and tensors are views into the file's
// bytes (an mmap), so memory stays proportional to the file's size.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"

namespace frugal {

enum class GgufType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7, kString = 8,
  kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};
const char* gguf_type_name(GgufType t);

// ggml tensor types frugal knows the size of (ggml.h's enum ggml_type ids).
struct GgmlTypeInfo {
  uint32_t id;
  const char* name;
  int64_t block;     // values per block (1 for element types)
  int64_t bytes;     // bytes per block
  std::optional<DType> dtype;  // frugal's storage type, if frugal computes with it
};
const GgmlTypeInfo* ggml_type_info(uint32_t id);  // nullptr for an unknown id
std::optional<uint32_t> ggml_type_of(DType t);    // the ggml id of a frugal storage type

struct GgufValue {
  GgufType type = GgufType::kU8;
  // Scalars: integers in `i` (signed) or `u` (unsigned), floats in `f`, bools in `u`.
  int64_t i = 0;
  uint64_t u = 0;
  double f = 0;
  std::string_view str;                 // kString
  GgufType elem = GgufType::kU8;        // kArray: element type (never kArray)
  uint64_t count = 0;                   // kArray: elements
  const uint8_t* raw = nullptr;         // kArray of numbers/bools: little-endian elements
  std::vector<std::string_view> strs;   // kArray of strings

  bool is_integer() const;
  bool is_number() const;  // integer, float or (for convenience) not a bool
  // The scalar as an integer / float; nullopt when the type does not fit.
  std::optional<int64_t> as_int() const;
  std::optional<double> as_float() const;
  // Element k of a numeric array (k < count), widened.
  int64_t int_at(uint64_t k) const;
  double float_at(uint64_t k) const;
};

struct GgufTensor {
  std::string name;
  uint32_t ggml_type = 0;
  const GgmlTypeInfo* type = nullptr;
  std::vector<int64_t> ne;  // ne[0] fastest: a row of ne[0] values, ne[1] rows, ...
  uint64_t offset = 0;      // into the data section
  uint64_t nbytes = 0;
  const uint8_t* data = nullptr;
  int64_t numel() const;
};

class GgufFile {
 public:
  explicit GgufFile(const std::string& path);                      // mmaps the file
  GgufFile(std::shared_ptr<const std::string> bytes, std::string name);  // parses bytes in memory

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // file offset of the data section
  size_t file_size() const { return size_; }

  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return kv_; }  // file order
  const GgufValue* find(const std::string& key) const;
  const std::vector<GgufTensor>& tensors() const { return tensors_; }  // file order
  const GgufTensor* tensor(const std::string& name) const;

  // Typed getters that name the file and the key in their errors.
  std::optional<std::string> get_string(const std::string& key) const;
  std::optional<int64_t> get_int(const std::string& key) const;
  std::optional<double> get_float(const std::string& key) const;
  std::optional<bool> get_bool(const std::string& key) const;
  const GgufValue* get_array(const std::string& key, GgufType elem) const;  // elem: kU8 = any number

  // Keeps the mapping (or bytes) alive for views handed out.
  std::shared_ptr<const void> owner() const { return owner_; }

 private:
  void parse();
  std::string path_;
  std::shared_ptr<const void> owner_;
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::map<std::string, size_t, std::less<>> kv_index_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

// True when `path` names a GGUF file (a regular file that starts with "GGUF" or ends in .gguf).
bool is_gguf_path(const std::string& path);

}  // namespace frugal

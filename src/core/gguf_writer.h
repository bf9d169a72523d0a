// GGUF writer (version 3, alignment 32, the layout core/gguf.h reads): key/values in insertion
// order, then tensor infos and the data, each tensor's bytes padded to the alignment. Written
// atomically (core/file.h). Holds the whole file in memory while writing (fine for the models
// frugal exports today; a streaming writer is future work).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace frugal {

class GgufWriter {
 public:
  void add_string(const std::string& key, std::string_view v);
  void add_u32(const std::string& key, uint32_t v);
  void add_i32(const std::string& key, int32_t v);
  void add_f32(const std::string& key, float v);
  void add_bool(const std::string& key, bool v);
  void add_string_array(const std::string& key, const std::vector<std::string>& v);
  void add_i32_array(const std::string& key, const std::vector<int32_t>& v);
  void add_f32_array(const std::string& key, const std::vector<float>& v);
  // ne[0] is the row length; `bytes` must be the exact byte size for the ggml type.
  void add_tensor(const std::string& name, const std::vector<int64_t>& ne, uint32_t ggml_type, std::string bytes);

  std::string serialize() const;
  void write(const std::string& path) const;

 private:
  void key(const std::string& k, uint32_t type);
  struct Tensor {
    std::string name;
    std::vector<int64_t> ne;
    uint32_t type;
    std::string bytes;
  };
  std::string kv_;  // the encoded key/values
  uint64_t n_kv_ = 0;
  std::vector<std::string> keys_;
  std::vector<Tensor> tensors_;
};

}  // namespace frugal

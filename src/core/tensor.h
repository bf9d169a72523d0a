// Tensor: a typed, strided view of memory it may or may not own.
// Shapes and strides are in elements, row-major by default; a view (slice, transpose, reshape)
// shares the owner, so a checkpoint tensor can point straight into an mmapped file (zero copy).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace frugal {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& s);         // "[2, 3]"
int64_t shape_numel(const Shape& s);           // throws on overflow or negative dims
Shape contiguous_strides(const Shape& s);

class Tensor {
 public:
  Tensor() = default;
  // A view of external memory kept alive by `owner` (may be null when the caller guarantees it).
  Tensor(DType dtype, Shape shape, void* data, std::shared_ptr<void> owner = nullptr);
  // Fresh zero-filled contiguous storage, 64-byte aligned.
  static Tensor zeros(DType dtype, Shape shape);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int64_t dim() const { return int64_t(shape_.size()); }
  int64_t size(int64_t d) const;
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }
  bool is_contiguous() const;

  void* data() const { return data_; }
  template <typename T> T* data_as() const { return static_cast<T*>(data_); }

  // Views (no copy). slice keeps [start, start+len) along dim d.
  Tensor slice(int64_t d, int64_t start, int64_t len) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor reshape(Shape shape) const;  // contiguous tensors only
  Tensor contiguous() const;          // copy into fresh contiguous storage (same dtype)
  Tensor to_f32() const;              // copy, converted

  // Element access for tests and scalar references (slow; any dtype, any strides).
  float get_f32(const std::vector<int64_t>& index) const;

 private:
  DType dtype_ = DType::kF32;
  Shape shape_, strides_;
  void* data_ = nullptr;
  std::shared_ptr<void> owner_;
};

}  // namespace frugal

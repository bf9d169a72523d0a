#include "core/tensor.h"

#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace frugal {

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0) fail(ErrorKind::kShape, "negative dimension in shape {}", shape_str(s));
    if (d != 0 && n > INT64_MAX / d) fail(ErrorKind::kShape, "shape {} overflows int64", shape_str(s));
    n *= d;
  }
  return n;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

Tensor::Tensor(DType dtype, Shape shape, void* data, std::shared_ptr<void> owner)
    : dtype_(dtype), shape_(std::move(shape)), data_(data), owner_(std::move(owner)) {
  shape_numel(shape_);
  strides_ = contiguous_strides(shape_);
}

Tensor Tensor::zeros(DType dtype, Shape shape) {
  size_t bytes = size_t(shape_numel(shape)) * dtype_size(dtype);
  size_t rounded = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded ? rounded : 64);
  if (!p) fail(ErrorKind::kIo, "out of memory allocating {} bytes for a tensor of shape {}", bytes, shape_str(shape));
  std::memset(p, 0, rounded);
  return Tensor(dtype, std::move(shape), p, std::shared_ptr<void>(p, std::free));
}

int64_t Tensor::size(int64_t d) const {
  if (d < 0) d += dim();
  FRUGAL_ASSERT(d >= 0 && d < dim(), "dim {} of a {}-d tensor", d, dim());
  return shape_[size_t(d)];
}

bool Tensor::is_contiguous() const { return strides_ == contiguous_strides(shape_); }

Tensor Tensor::slice(int64_t d, int64_t start, int64_t len) const {
  if (d < 0) d += dim();
  FRUGAL_ASSERT(d >= 0 && d < dim(), "slice dim {}", d);
  if (start < 0 || len < 0 || start + len > shape_[size_t(d)])
    fail(ErrorKind::kInvalidArgument, "slice [{}, {}) out of range for dim {} of shape {}", start, start + len, d,
         shape_str(shape_));
  Tensor t = *this;
  t.shape_[size_t(d)] = len;
  t.data_ = static_cast<char*>(data_) + start * strides_[size_t(d)] * int64_t(dtype_size(dtype_));
  return t;
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  if (d0 < 0 || d1 < 0 || d0 >= dim() || d1 >= dim())
    fail(ErrorKind::kInvalidArgument, "transpose({}, {}) of a {}-d tensor", d0, d1, dim());
  Tensor t = *this;
  std::swap(t.shape_.at(size_t(d0)), t.shape_.at(size_t(d1)));
  std::swap(t.strides_.at(size_t(d0)), t.strides_.at(size_t(d1)));
  return t;
}

Tensor Tensor::reshape(Shape shape) const {
  if (!is_contiguous()) fail(ErrorKind::kInvalidArgument, "reshape of a non-contiguous view");
  if (shape_numel(shape) != numel())
    fail(ErrorKind::kShape, "cannot reshape {} into {}", shape_str(shape_), shape_str(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  t.strides_ = contiguous_strides(t.shape_);
  return t;
}

Tensor Tensor::contiguous() const {
  Tensor out = zeros(dtype_, shape_);
  const size_t es = dtype_size(dtype_);
  const int64_t n = numel();
  std::vector<int64_t> idx(shape_.size(), 0);
  char* dst = static_cast<char*>(out.data_);
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = 0;
    for (size_t d = 0; d < idx.size(); ++d) off += idx[d] * strides_[d];
    std::memcpy(dst + size_t(i) * es, static_cast<const char*>(data_) + off * int64_t(es), es);
    for (size_t d = idx.size(); d-- > 0;) {
      if (++idx[d] < shape_[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

Tensor Tensor::to_f32() const {
  Tensor c = is_contiguous() ? *this : contiguous();
  Tensor out = zeros(DType::kF32, shape_);
  convert_to_f32(dtype_, c.data_, out.data_as<float>(), size_t(numel()));
  return out;
}

float Tensor::get_f32(const std::vector<int64_t>& index) const {
  FRUGAL_ASSERT(index.size() == shape_.size(), "index rank {} vs tensor rank {}", index.size(), shape_.size());
  int64_t off = 0;
  for (size_t d = 0; d < index.size(); ++d) {
    FRUGAL_ASSERT(index[d] >= 0 && index[d] < shape_[d], "index {} out of range", index[d]);
    off += index[d] * strides_[d];
  }
  float v;
  convert_to_f32(dtype_, static_cast<const char*>(data_) + off * int64_t(dtype_size(dtype_)), &v, 1);
  return v;
}

}  // namespace frugal

// NumPy .npy files (format version 1.0/2.0/3.0, little-endian, C order): read f32/f64/i32/i64/etc
// arrays and write f32/i32/i64 arrays atomically. Used for `frugal logits --out` and fixtures.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace frugal {

// Reads into a freshly allocated contiguous Tensor (dtype from the descr; '<f4' -> F32, '<i4' -> I32,
// '<i8' -> I64, '<f8' -> F64, '<f2' -> F16, '|u1' -> U8 ...). Fortran order and big-endian are
// rejected with an error naming the file.
Tensor npy_read(const std::string& path);
std::string npy_serialize(const Tensor& t);  // F32, F64, I32, I64, U8
void npy_write(const std::string& path, const Tensor& t);  // atomic

}  // namespace frugal

#include "core/arena.h"

#include <malloc.h>

#include <cstdlib>

#include "core/error.h"

namespace frugal {

namespace {
void free_block(std::byte* p) { std::free(p); }
}  // namespace

void* Arena::alloc_bytes(size_t bytes) {
  bytes = (bytes + 63) / 64 * 64;
  if (bytes == 0) bytes = 64;
  while (current_ < blocks_.size()) {
    if (offset_ + bytes <= blocks_[current_].size) {
      void* p = blocks_[current_].mem.get() + offset_;
      offset_ += bytes;
      high_water_ = std::max(high_water_, used());
      return p;
    }
    ++current_;
    offset_ = 0;
  }
  size_t size = std::max(bytes, block_bytes_);
  auto* raw = static_cast<std::byte*>(std::aligned_alloc(64, size));
  if (!raw) fail(ErrorKind::kIo, "out of memory: arena block of {} bytes", size);
  blocks_.push_back(Block{{raw, free_block}, size});
  current_ = blocks_.size() - 1;
  offset_ = bytes;
  high_water_ = std::max(high_water_, used());
  return raw;
}

void Arena::reset() {
  current_ = 0;
  offset_ = 0;
}

size_t Arena::used() const {
  size_t u = 0;
  for (size_t i = 0; i < current_ && i < blocks_.size(); ++i) u += blocks_[i].size;
  return u + offset_;
}

size_t Arena::reserved() const {
  size_t r = 0;
  for (const auto& b : blocks_) r += b.size;
  return r;
}

void tune_malloc_for_reuse() {
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, -1);
}

}  // namespace frugal

// Arena: a bump allocator for per-step scratch (activations, dequantised tiles).
// Why: in this VM every fresh page faults expensively and glibc returns large frees to the OS, so
// allocating activations with malloc per forward pass costs more than the math on small models.
// An arena keeps its blocks between steps; reset() just rewinds. Pointers are 64-byte aligned.
#pragma once
#include <cstddef>
#include <memory>
#include <vector>

namespace frugal {

class Arena {
 public:
  explicit Arena(size_t block_bytes = size_t(1) << 22) : block_bytes_(block_bytes) {}
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  void* alloc_bytes(size_t bytes);
  template <typename T> T* alloc(size_t n) { return static_cast<T*>(alloc_bytes(n * sizeof(T))); }
  // Zero-filled allocation.
  template <typename T> T* zeros(size_t n);

  void reset();                    // rewind; keeps the memory
  size_t used() const;             // bytes handed out since the last reset
  size_t high_water() const { return high_water_; }  // most bytes ever in use at once
  size_t reserved() const;         // bytes held from the OS

  // A saved position: everything allocated after mark() is released by rewind(m).
  struct Mark { size_t block, offset; };
  Mark mark() const { return {current_, offset_}; }
  void rewind(Mark m) { current_ = m.block; offset_ = m.offset; }

 private:
  struct Block { std::unique_ptr<std::byte[], void (*)(std::byte*)> mem; size_t size; };
  std::vector<Block> blocks_;
  size_t block_bytes_;
  size_t current_ = 0, offset_ = 0, high_water_ = 0;
};

template <typename T> T* Arena::zeros(size_t n) {
  T* p = alloc<T>(n);
  for (size_t i = 0; i < n; ++i) p[i] = T{};
  return p;
}

// Tell glibc to keep freed memory (no trimming, no mmap for big blocks) so repeated large buffers
// do not fault their pages in again every step. Called once by the CLI at start-up.
void tune_malloc_for_reuse();

}  // namespace frugal

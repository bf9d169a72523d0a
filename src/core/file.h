// Files: read-only memory maps (zero-copy checkpoint loading), whole-file reads, and atomic
// writes (temp file in the same directory + fsync + rename + fsync(dir)) so a crash never leaves a
// half-written output under the final name.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace frugal {

class MappedFile {
 public:
  MappedFile() = default;
  explicit MappedFile(const std::string& path);  // throws kIo naming the path
  ~MappedFile();
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

std::string read_file(const std::string& path);  // throws kIo naming the path
bool file_exists(const std::string& path);
bool is_directory(const std::string& path);
std::string path_join(const std::string& a, const std::string& b);

// Write `bytes` to `path` atomically: nothing or everything is visible under `path`.
void write_file_atomic(const std::string& path, std::string_view bytes);

}  // namespace frugal

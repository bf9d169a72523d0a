// Helpers shared by the tests: a per-test temp directory, raw file bytes, error expectations.
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdint>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"

namespace frugal::test {

// A fresh directory per test under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info->test_suite_name()) + "_" + info->name();
    for (char& c : name)
      if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    path_ = std::filesystem::temp_directory_path() /
            ("frugal_test_" + name + "_" + std::to_string(::getpid()) + "_" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }
  const std::filesystem::path& path() const { return path_; }
  // File names in the directory.
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path_)) out.push_back(e.path().filename().string());
    return out;
  }
  // Number of entries in the directory (atomic writes must leave no temp files behind).
  long count() const {
    return long(std::distance(std::filesystem::directory_iterator(path_), std::filesystem::directory_iterator()));
  }

 private:
  std::filesystem::path path_;
};

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), std::streamsize(bytes.size()));
  ASSERT_TRUE(f.good()) << path;
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// Runs `fn`, expecting a frugal::Error (of `kind`, when given) whose message contains every needle.
inline void expect_error(const std::function<void()>& fn, std::optional<ErrorKind> kind,
                         const std::vector<std::string>& needles) {
  try {
    fn();
    ADD_FAILURE() << "expected an error containing '" << (needles.empty() ? "" : needles[0]) << "'";
  } catch (const Error& e) {
    if (kind) {
      EXPECT_STREQ(error_kind_name(e.kind()), error_kind_name(*kind)) << e.what();
    }
    for (const std::string& n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << "message '" << e.what() << "' lacks '" << n << "'";
  }
}

// The 8 little-endian bytes of `v` (safetensors' header length, shard headers).
inline std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char((v >> (8 * i)) & 0xff);
  return s;
}

// The raw bytes of some f32 values, as a tensor's data section holds them.
inline std::string f32_bytes(std::initializer_list<float> v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), std::data(v), s.size());
  return s;
}

// The PyTorch-reference fixtures (tests/data/fixtures).
inline const std::string kFixtureDir = FRUGAL_TEST_DATA "/fixtures";

// The path of the `frugal` binary the tests run (a build dependency of their targets).
inline const std::string kBinary = FRUGAL_BINARY;

// Runs `fn`, expecting a frugal::Error whose message contains `needle`; returns the message.
template <typename Fn>
std::string error_of(Fn fn, const std::string& needle) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << "message: " << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected an error containing: " << needle;
  return "";
}

// Runs a shell command line and captures its stdout (append " 2>&1" to capture stderr too).
struct CommandResult {
  int rc = -1;  // exit status (-1 when the shell could not be started)
  std::string out;
};
inline CommandResult run_command(const std::string& cmd) {
  CommandResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
  const int status = pclose(p);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace frugal::test

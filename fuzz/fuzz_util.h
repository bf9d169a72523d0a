// Shared pieces of the libFuzzer targets (docs/fuzzing.md): the exception policy and a scratch
// directory for loaders that take a path.
//
// Policy (docs/conventions.md, Errors): bad input must end in frugal::Error (or, in serve, an
// ApiError) naming the problem. Anything else that escapes — a json::exception, std::bad_alloc,
// std::out_of_range, or an Error of kind internal (a broken invariant of our own) — is a bug, and
// the target aborts so libFuzzer records the input as a crash.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>
#include <typeinfo>

#include "core/error.h"
#include "core/file.h"

namespace frugal::fuzz {

[[noreturn]] inline void bug(const char* what, const char* type, const char* message) {
  std::fprintf(stderr, "\n== fuzz target: %s escaped (%s): %s\n", what, type, message);
  std::abort();
}

// FRUGAL_FUZZ_VERBOSE=1 prints the error each rejected input got: to check that a seed is accepted,
// or to read the message a crash input produces once it is fixed.
inline void rejected(const char* message) {
  static const bool verbose = std::getenv("FRUGAL_FUZZ_VERBOSE") != nullptr;
  if (verbose) std::fprintf(stderr, "rejected: %s\n", message);
}

// Runs `fn`; returns normally for the errors bad input is allowed to produce, aborts for the rest.
template <typename F>
void run_guarded(F&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kInternal) bug("internal error", "frugal::Error", e.what());
    rejected(e.what());
  } catch (const std::exception& e) {
    bug("exception other than frugal::Error", typeid(e).name(), e.what());
  } catch (...) {
    bug("non-standard exception", "?", "");
  }
}

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A directory of this process under $TMPDIR (or /tmp), emptied on exit. Loaders that take a path
// read the fuzz input from a file written here, so the target goes through the real entry point
// (open, mmap, size checks) rather than a test-only in-memory variant.
class ScratchDir {
 public:
  ScratchDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/frugal-fuzz-XXXXXX";
    if (!::mkdtemp(tmpl.data())) bug("setup failure", "mkdtemp", tmpl.c_str());
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  // Writes `bytes` to DIR/name (plain write: the fuzz loop is the only reader).
  std::string put(const std::string& name, std::string_view bytes) const {
    const std::string p = file(name);
    std::FILE* f = std::fopen(p.c_str(), "wb");
    if (!f) bug("setup failure", "fopen", p.c_str());
    if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) bug("setup failure", "fwrite", p.c_str());
    std::fclose(f);
    return p;
  }
  std::string mkdir(const std::string& name) const {
    const std::string p = file(name);
    std::filesystem::create_directories(p);
    return p;
  }

 private:
  std::string path_;
};

// A source-tree fixture (tests/data), read once at start-up.
inline std::string test_data(const std::string& rel) { return read_file(std::string(FRUGAL_TEST_DATA) + "/" + rel); }

}  // namespace frugal::fuzz

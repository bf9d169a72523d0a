// frugal::Error — the one exception type of the library (docs/conventions.md, Errors).
// Library code throws; only main() decides to exit. Messages name the input (file, tensor, key)
// and what was expected, so a user can fix the input without reading the source.
#pragma once
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace frugal {

enum class ErrorKind {
  kInvalidArgument,  // a bad value from the user (flag, id, request field)
  kIo,               // open/read/write/mmap failed
  kFormat,           // a malformed file (safetensors, npy, json)
  kConfig,           // a config key missing, of the wrong type or unsupported
  kShape,            // a tensor whose shape/dtype disagrees with the config
  kUnsupported,      // a valid input we do not handle (yet)
  kInternal,         // a bug: an invariant of our own was broken
};

const char* error_kind_name(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

template <typename... Args>
[[noreturn]] void fail(ErrorKind kind, fmt::format_string<Args...> f, Args&&... args) {
  throw Error(kind, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace frugal

// Internal invariant: a failure here is our bug, not the user's input.
#define FRUGAL_ASSERT(cond, ...)                                                                  \
  do {                                                                                            \
    if (!(cond))                                                                                  \
      ::frugal::fail(::frugal::ErrorKind::kInternal, "internal error at {}:{}: {} ({})", __FILE__, \
                     __LINE__, #cond, ::fmt::format(__VA_ARGS__));                                \
  } while (0)

// Option parsing shared by the bench programs: `--key value` pairs and bare `--flag`s, with an
// error naming an unknown option, a key missing its value, or a value that is not a number.
//
//   for (bench::Args args(argc, argv); args.next();) {
//     if (args.is("--preset")) preset = args.value();
//     else if (args.is("--steps")) steps = args.integer();
//     else args.unknown();
//   }
#pragma once
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/error.h"

namespace frugal::bench {

class Args {
 public:
  Args(int argc, char** argv) : argc_(argc), argv_(argv) {}

  bool next() {  // moves to the next option; false after the last
    if (++i_ >= argc_) return false;
    key_ = argv_[i_];
    return true;
  }
  bool is(const char* key) const { return key_ == key; }
  std::string value() {
    if (i_ + 1 >= argc_) fail(ErrorKind::kInvalidArgument, "{} needs a value", key_);
    return argv_[++i_];
  }
  int64_t integer() { return int64_t(parse(true)); }
  double number() { return parse(false); }
  [[noreturn]] void unknown() const { fail(ErrorKind::kInvalidArgument, "unknown option {}", key_); }

 private:
  double parse(bool whole) {
    const std::string v = value();
    char* end = nullptr;
    const double d = whole ? double(std::strtoll(v.c_str(), &end, 10)) : std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0') fail(ErrorKind::kInvalidArgument, "{}: '{}' is not a {}", key_, v, whole ? "whole number" : "number");
    return d;
  }

  int argc_;
  char** argv_;
  int i_ = 0;
  std::string key_;
};

}  // namespace frugal::bench

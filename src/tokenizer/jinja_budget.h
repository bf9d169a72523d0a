// What one template render may cost, and the account of what it has cost so far. Steps alone do
// not bound work: one step can build a 16 MB string, copy a million-item list or search a long
// text, so strings and lists are charged by the bytes and items they build, copy or scan. A
// deadline and a cancel flag stop a render from outside (a server shutting down). Every limit ends
// the render with a frugal::Error naming the template and the limit.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace frugal::jinja {

struct Limits {
  int64_t max_steps = 5'000'000;          // statements + expression nodes + loop iterations
  int max_call_depth = 64;                // nested macro calls
  size_t max_output_bytes = 16u << 20;    // rendered text and any single string
  size_t max_list_items = 1u << 20;       // any single list or dict
  uint64_t max_total_bytes = 256u << 20;  // string bytes built, copied or scanned in one render
  uint64_t max_total_items = 16u << 20;   // list and dict items built, copied or scanned in one render
  int max_nesting = 256;                  // lists and dicts inside each other, when printed or compared
  double max_seconds = 0;                 // wall-clock limit of one render; 0: none
  const std::atomic<bool>* cancel = nullptr;  // when it turns true, the render stops
};

class Budget {
 public:
  // `source` names the template in errors (a file name; may be empty).
  Budget(const Limits& limits, std::string source);

  const Limits& limits() const { return limits_; }
  // Counts one step at template line `line` (also the line later errors name).
  void step(int line);
  void bytes(uint64_t n);  // charges n bytes of string work
  void items(uint64_t n);  // charges n items of list or dict work
  void check_string(size_t bytes) const;
  void check_list(size_t items) const;
  void check_nesting(int depth) const;
  [[noreturn]] void error(int line, const std::string& message) const;
  [[noreturn]] void error(const std::string& message) const { error(line_, message); }

 private:
  void poll();  // the clock and the cancel flag, every so much work

  Limits limits_;
  std::string source_;
  std::chrono::steady_clock::time_point deadline_;
  int line_ = 0;
  int64_t steps_ = 0;
  uint64_t bytes_ = 0, items_ = 0;
  int64_t until_poll_ = 0;
};

}  // namespace frugal::jinja

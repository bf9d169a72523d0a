#include "tokenizer/jinja_budget.h"

#include <fmt/format.h>

#include "core/error.h"

namespace frugal::jinja {
namespace {

constexpr int64_t kPollEvery = 4096;  // steps (or 4 KiB units of work) between looks at the clock

}  // namespace

Budget::Budget(const Limits& limits, std::string source)
    : limits_(limits),
      source_(std::move(source)),
      deadline_(limits.max_seconds > 0
                    ? std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(limits.max_seconds))
                    : std::chrono::steady_clock::time_point::max()) {}

void Budget::error(int line, const std::string& message) const {
  if (source_.empty()) fail(ErrorKind::kFormat, "template line {}: {}", line, message);
  fail(ErrorKind::kFormat, "{}: template line {}: {}", source_, line, message);
}

void Budget::poll() {
  until_poll_ = kPollEvery;
  if (limits_.cancel && limits_.cancel->load(std::memory_order_relaxed)) error("rendering was cancelled");
  if (std::chrono::steady_clock::now() > deadline_)
    error(fmt::format("template ran longer than its limit of {} s", limits_.max_seconds));
}

void Budget::step(int line) {
  line_ = line;
  if (++steps_ > limits_.max_steps)
    error(fmt::format("template exceeded {} execution steps (endless loop?)", limits_.max_steps));
  if (--until_poll_ <= 0) poll();
}

void Budget::bytes(uint64_t n) {
  bytes_ += n;
  if (bytes_ > limits_.max_total_bytes)
    error(fmt::format("template exceeded its budget of {} bytes of string work (strings built, copied or searched)",
                      limits_.max_total_bytes));
  until_poll_ -= int64_t(n >> 12);
  if (until_poll_ <= 0) poll();
}

void Budget::items(uint64_t n) {
  items_ += n;
  if (items_ > limits_.max_total_items)
    error(fmt::format("template exceeded its budget of {} list and dict items (built, copied or scanned)",
                      limits_.max_total_items));
  until_poll_ -= int64_t(n >> 10);
  if (until_poll_ <= 0) poll();
}

void Budget::check_string(size_t bytes) const {
  if (bytes > limits_.max_output_bytes) error(fmt::format("string or output larger than {} bytes", limits_.max_output_bytes));
}

void Budget::check_list(size_t items) const {
  if (items > limits_.max_list_items) error(fmt::format("list longer than {} items", limits_.max_list_items));
}

void Budget::check_nesting(int depth) const {
  if (depth > limits_.max_nesting)
    error(fmt::format("values nested deeper than {} levels (a list or dict that contains itself?)", limits_.max_nesting));
}

}  // namespace frugal::jinja

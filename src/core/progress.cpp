#include "core/progress.h"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

#include "core/sys.h"

namespace frugal {

std::string format_duration(double s) {
  if (s < 60) return fmt::format("{:.1f}s", s);
  int64_t t = int64_t(s + 0.5);
  if (t < 3600) return fmt::format("{}m{:02d}s", t / 60, int(t % 60));
  return fmt::format("{}h{:02d}m", t / 3600, int((t % 3600) / 60));
}

Progress::Progress(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), start_(now_seconds()),
      tty_(::isatty(STDERR_FILENO)) {}

void Progress::update(int64_t done) {
  done_ = done;
  double t = now_seconds();
  if (tty_ && t - last_draw_ > 0.2) {
    last_draw_ = t;
    draw(false);
  }
}

void Progress::finish() { draw(true); }

void Progress::draw(bool final_line) {
  double el = now_seconds() - start_;
  double rate = el > 0 ? double(done_) / el : 0;
  std::string eta = (rate > 0 && total_ > done_) ? format_duration(double(total_ - done_) / rate) : "-";
  std::string line = fmt::format("{}: {}/{} {} | {:.1f} {}/s | elapsed {} | eta {}", label_, done_, total_, unit_,
                                 rate, unit_, format_duration(el), eta);
  if (tty_) std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), final_line ? "\n" : "");
  else if (final_line) std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace frugal

// A live progress line for long work: done/total, rate and ETA, redrawn at most a few times a
// second on stderr (only when stderr is a terminal, or once at the end otherwise).
#pragma once
#include <cstdint>
#include <string>

namespace frugal {

class Progress {
 public:
  Progress(std::string label, int64_t total, std::string unit = "it");
  void update(int64_t done);
  void finish();

 private:
  std::string label_, unit_;
  int64_t total_, done_ = 0;
  double start_, last_draw_ = 0;
  bool tty_;
  void draw(bool final_line);
};

std::string format_duration(double seconds);  // "1h02m", "3m05s", "12.3s"

}  // namespace frugal

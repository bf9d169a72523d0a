// Step records: the JSONL twin, the human line, MaxVio, the cost meter and the run's metrics file.
#include "train/telemetry.h"

#include "model/moe_train.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "core/progress.h"
#include "core/sys.h"

namespace frugal {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Shortest round-trip text of a double; NaN/Inf as null (JSON has neither).
std::string json_number(double v) { return std::isfinite(v) ? fmt::format("{}", v) : "null"; }

double json_double(const nlohmann::json& j, const char* key, double fallback) {
  auto it = j.find(key);
  if (it == j.end()) return fallback;
  if (it->is_null()) return kNaN;
  if (!it->is_number()) fail(ErrorKind::kFormat, "metrics record: \"{}\" is not a number", key);
  return it->get<double>();
}
int64_t json_int(const nlohmann::json& j, const char* key, int64_t fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number()) fail(ErrorKind::kFormat, "metrics record: \"{}\" is not a number", key);
  const double v = it->get<double>();
  if (!(std::fabs(v) < 9e18)) fail(ErrorKind::kFormat, "metrics record: \"{}\" = {} is out of range", key, v);
  return it->is_number_integer() ? it->get<int64_t>() : int64_t(v);
}

// "318k", "1.5k", "12.3M" in 5 columns: tokens/s spans 1 to 1e7 between a CPU and a GPU node.
std::string human_count(double v) {
  if (!std::isfinite(v)) return "nan";
  if (v < 1e3) return fmt::format("{:.0f}", v);
  if (v < 1e4) return fmt::format("{:.1f}k", v / 1e3);
  if (v < 1e6) return fmt::format("{:.0f}k", v / 1e3);
  if (v < 1e7) return fmt::format("{:.2f}M", v / 1e6);
  return fmt::format("{:.1f}M", v / 1e6);
}

double unix_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Drops an unterminated last line (a killed run) so appended records start on their own line.
void drop_partial_last_line(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec || size == 0) return;
  const std::string text = read_file(path);
  if (text.back() == '\n') return;
  const size_t keep = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
  if (::truncate(path.c_str(), off_t(keep)) != 0)
    fail(ErrorKind::kIo, "cannot truncate the cut-off last line of {}", path);
}

}  // namespace

std::string step_record_json(const StepRecord& r) {
  std::string s =
      fmt::format("{{\"step\":{},\"total_steps\":{},\"loss\":{}", r.step, r.total_steps, json_number(r.loss));
  if (r.mtp_loss) s += fmt::format(",\"mtp_loss\":{}", json_number(*r.mtp_loss));
  s += fmt::format(",\"balance_loss\":{},\"lr\":{},\"grad_norm\":{},\"tokens_per_s\":{},\"mfu\":{}",
                   json_number(r.balance_loss), json_number(r.lr), json_number(r.grad_norm),
                   json_number(r.tokens_per_s), json_number(r.mfu));
  s += fmt::format(",\"moe_max_violation\":{},\"elapsed_s\":{},\"peak_mem_bytes\":{},\"device_hours\":{},\"usd\":{}",
                   json_number(r.moe_max_violation), json_number(r.elapsed_s), r.peak_mem_bytes,
                   json_number(r.device_hours), json_number(r.usd));
  s += fmt::format(",\"tokens_seen\":{},\"examples_seen\":{},\"nan_skips\":{},\"step_ms\":{}", r.tokens_seen,
                   r.examples_seen, r.nan_skips, json_number(r.step_ms));
  if (r.val_loss) s += fmt::format(",\"val_loss\":{}", json_number(*r.val_loss));
  s += fmt::format(",\"time\":{}}}", json_number(r.time));
  return s;
}

StepRecord step_record_from_json(std::string_view line) {
  const nlohmann::json j = parse_json(line, "metrics record");
  if (!j.is_object()) fail(ErrorKind::kFormat, "metrics record is not a JSON object");
  if (!j.contains("step") || !j["step"].is_number()) fail(ErrorKind::kFormat, "metrics record has no numeric \"step\"");
  StepRecord r;
  r.step = json_int(j, "step", 0);
  r.total_steps = json_int(j, "total_steps", 0);
  r.loss = json_double(j, "loss", kNaN);
  if (j.contains("mtp_loss")) r.mtp_loss = json_double(j, "mtp_loss", kNaN);
  r.balance_loss = json_double(j, "balance_loss", 0);
  r.lr = json_double(j, "lr", 0);
  r.grad_norm = json_double(j, "grad_norm", 0);
  r.tokens_per_s = json_double(j, "tokens_per_s", 0);
  r.mfu = json_double(j, "mfu", 0);
  r.moe_max_violation = json_double(j, "moe_max_violation", 0);
  r.elapsed_s = json_double(j, "elapsed_s", 0);
  r.peak_mem_bytes = json_int(j, "peak_mem_bytes", 0);
  r.device_hours = json_double(j, "device_hours", 0);
  r.usd = json_double(j, "usd", 0);
  r.tokens_seen = json_int(j, "tokens_seen", 0);
  r.examples_seen = json_int(j, "examples_seen", 0);
  r.nan_skips = json_int(j, "nan_skips", 0);
  r.step_ms = json_double(j, "step_ms", 0);
  if (j.contains("val_loss")) r.val_loss = json_double(j, "val_loss", kNaN);
  r.time = json_double(j, "time", 0);
  return r;
}

std::string format_step_line(const StepRecord& r, double eta_s) {
  const int width = int(std::to_string(std::max<int64_t>(r.total_steps, 1)).size());
  std::string s =
      fmt::format("step {:>{}}/{} | loss {:.4f} | gnorm {:.2f} | lr {:.2e} | {:>4.0f} ms | {:>5} tok/s", r.step, width,
                  r.total_steps, r.loss, r.grad_norm, r.lr, r.step_ms, human_count(r.tokens_per_s));
  s += fmt::format(" | mfu {:4.1f}% | mem {:4.1f} GiB | skip {}", 100 * r.mfu,
                   double(r.peak_mem_bytes) / double(1ull << 30), r.nan_skips);
  if (r.val_loss) s += fmt::format(" | val {:.4f}", *r.val_loss);
  s += fmt::format(" | ${:.2f} | eta {}", r.usd, eta_s < 0 ? std::string("-") : format_duration(eta_s));
  return s;
}

double moe_max_violation(std::span<const int64_t> loads) {
  return max_violation(loads.data(), int64_t(loads.size()));  // model/moe_train.h: one definition of MaxVio
}

double moe_max_violation_layers(std::span<const int64_t> loads, int64_t n_layers, int64_t n_experts) {
  FRUGAL_ASSERT(n_layers >= 0 && n_experts >= 0 && int64_t(loads.size()) == n_layers * n_experts, "loads {} != {} x {}",
                loads.size(), n_layers, n_experts);
  if (n_layers == 0) return 0;
  double sum = 0;
  for (int64_t l = 0; l < n_layers; ++l)
    sum += moe_max_violation(loads.subspan(size_t(l * n_experts), size_t(n_experts)));
  return sum / double(n_layers);
}

void fill_cost(StepRecord& r, double usd_per_hour, int64_t devices) {
  r.device_hours = r.elapsed_s / 3600.0 * double(devices);
  r.usd = r.device_hours * usd_per_hour;
}

Telemetry::Telemetry(const std::string& run_dir, TelemetryOptions opt) : opt_(opt), start_(now_seconds()) {
  std::error_code ec;
  std::filesystem::create_directories(run_dir, ec);
  if (ec) fail(ErrorKind::kIo, "cannot create run directory {}: {}", run_dir, ec.message());
  path_ = path_join(run_dir, "metrics.jsonl");
  drop_partial_last_line(path_);
  file_ = std::fopen(path_.c_str(), "a");
  if (!file_) fail(ErrorKind::kIo, "cannot open {} for appending", path_);
  tty_ = opt_.tty < 0 ? (opt_.out && ::isatty(::fileno(opt_.out))) : opt_.tty == 1;
}

Telemetry::~Telemetry() {
  if (live_shown_ && opt_.out) std::fputc('\n', opt_.out);
  if (file_) std::fclose(file_);
}

double Telemetry::elapsed_s() const { return opt_.prior_elapsed_s + (now_seconds() - start_); }

double Telemetry::eta_s(int64_t step, int64_t total_steps) const {
  if (sec_per_step_ < 0 || step >= total_steps) return step >= total_steps ? 0 : -1;
  return sec_per_step_ * double(total_steps - step);
}

StepRecord Telemetry::log(StepRecord r, bool print_line) {
  const double t = now_seconds();
  r.elapsed_s = elapsed_s();
  r.peak_mem_bytes = int64_t(peak_rss_bytes());
  r.time = unix_seconds();
  fill_cost(r, opt_.usd_per_hour, opt_.devices);
  // ETA: an exponential moving average of wall seconds per step between log calls, so it
  // includes evaluation and checkpoint pauses; before the second log, the step time itself. The
  // weight is 5% per step: an evaluation pause raises the ETA by about 5% of its length per
  // remaining step, instead of doubling the ETA on the line that reports it.
  if (last_log_step_ >= 0 && r.step > last_log_step_) {
    const double steps = double(r.step - last_log_step_), rate = (t - last_log_t_) / steps;
    const double keep = std::pow(0.95, steps);
    sec_per_step_ = sec_per_step_ < 0 ? rate : keep * sec_per_step_ + (1 - keep) * rate;
  } else if (sec_per_step_ < 0 && r.step_ms > 0) {
    sec_per_step_ = r.step_ms / 1000.0;
  }
  last_log_t_ = t;
  last_log_step_ = r.step;

  const std::string json = step_record_json(r);
  if (std::fprintf(file_, "%s\n", json.c_str()) < 0 || std::fflush(file_) != 0)
    fail(ErrorKind::kIo, "cannot append to {}", path_);
  if (!print_line) {
    progress(r);  // the live line on a terminal, nothing otherwise
  } else if (opt_.out) {
    clear_live();
    std::fprintf(opt_.out, "%s\n", format_step_line(r, eta_s(r.step, r.total_steps)).c_str());
    std::fflush(opt_.out);
  }
  return r;
}

void Telemetry::progress(const StepRecord& r) {
  if (!tty_ || !opt_.out) return;
  const double eta = eta_s(r.step, r.total_steps);
  std::fprintf(opt_.out, "\r\033[Kstep %lld/%lld | loss %.4f | %s tok/s | eta %s", (long long)r.step,
               (long long)r.total_steps, r.loss, human_count(r.tokens_per_s).c_str(),
               eta < 0 ? "-" : format_duration(eta).c_str());
  std::fflush(opt_.out);
  live_shown_ = true;
}

void Telemetry::message(std::string_view text) {
  if (!opt_.out) return;
  clear_live();
  std::fprintf(opt_.out, "%.*s\n", int(text.size()), text.data());
  std::fflush(opt_.out);
}

void Telemetry::clear_live() {
  if (!live_shown_) return;
  std::fputs("\r\033[K", opt_.out);
  live_shown_ = false;
}

void truncate_metrics_after(const std::string& path, int64_t step) {
  if (!file_exists(path)) return;
  std::istringstream in(read_file(path));
  std::string line, kept;
  while (std::getline(in, line)) {
    nlohmann::json j;
    try {
      j = parse_json(line, path);
    } catch (const Error&) {
      continue;  // a torn last line
    }
    if (!j.is_object() || !j.contains("step") || !j["step"].is_number_integer()) continue;
    if (j["step"].get<int64_t>() <= step) kept += line + "\n";
  }
  write_file_atomic(path, kept);
}

}  // namespace frugal

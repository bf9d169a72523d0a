// Training telemetry: one StepRecord per logged step, written twice (docs/training.md, Telemetry):
//  * a JSON line appended (and flushed) to RUN_DIR/metrics.jsonl, the machine-readable twin;
//  * a fixed-width human line, llm.c / torchtitan style, plus ETA:
//      step  1200/20000 | loss 2.8134 | gnorm 0.91 | lr 2.95e-04 |  412 ms | 318k tok/s | mfu 38.4% |
//      mem 61.2 GiB | skip 0 | $0.42 | eta 1h02m
//    On a terminal a live progress line between log steps uses '\r'; otherwise only plain lines.
// Cost meter (docs/training.md, Cost): device_hours = elapsed wall hours × devices, usd = device_hours × $/h.
#pragma once
#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace frugal {

struct StepRecord {
  int64_t step = 0;  // optimizer steps completed (1 after the first step)
  int64_t total_steps = 0;
  double loss = 0;                 // main next-token cross-entropy, mean over tokens (NaN on a skipped step)
  std::optional<double> mtp_loss;  // MTP cross-entropy (unweighted); none without MTP
  double balance_loss = 0;         // sequence-wise balance loss (unweighted by α)
  double lr = 0;
  double grad_norm = 0;  // global norm before clipping
  double tokens_per_s = 0;
  double mfu = 0;                // model FLOPs utilisation, a fraction (0.384 = 38.4%)
  double moe_max_violation = 0;  // MaxVio = (max load − mean load) / mean load over the step
  double elapsed_s = 0;          // wall seconds of training so far (all runs of a resumed training)
  int64_t peak_mem_bytes = 0;
  double device_hours = 0;
  double usd = 0;
  int64_t tokens_seen = 0;
  int64_t examples_seen = 0;       // sequences seen (survives batch-size changes, as OLMo counts)
  int64_t nan_skips = 0;           // steps skipped for NaN/Inf so far
  double step_ms = 0;              // wall time of one optimizer step (the loop may average over the log interval)
  std::optional<double> val_loss;  // set on the steps that ran validation
  double time = 0;                 // unix seconds when the record was logged
};

// The JSON line (no trailing newline). Keys are the field names above; NaN/Inf become null
// (JSON has no NaN); absent optionals are left out.
std::string step_record_json(const StepRecord& r);
// Parses one line back (null → NaN). Throws kFormat on bad JSON, a non-object, or a missing or
// non-numeric "step"; other missing keys keep their defaults.
StepRecord step_record_from_json(std::string_view line);

// The human line (no newline). eta_s < 0 prints "eta -".
std::string format_step_line(const StepRecord& r, double eta_s);

// MaxVio of one MoE layer from its routed-token counts per expert: (max − mean) / mean, 0 when
// no token was routed. The layered form averages MaxVio over `n_layers` rows of `n_experts`.
double moe_max_violation(std::span<const int64_t> expert_loads);
double moe_max_violation_layers(std::span<const int64_t> loads, int64_t n_layers, int64_t n_experts);

// device_hours and usd from r.elapsed_s.
void fill_cost(StepRecord& r, double usd_per_hour, int64_t devices);

struct TelemetryOptions {
  double usd_per_hour = 2.0;
  int64_t devices = 1;         // machines / accelerators billed (1 CPU machine)
  double prior_elapsed_s = 0;  // wall seconds of earlier runs of a resumed training
  std::FILE* out = stdout;     // where human lines go
  int tty = -1;                // -1: isatty(out); 0/1 force plain / live output
};

class Telemetry {
 public:
  // Creates run_dir if needed and opens RUN_DIR/metrics.jsonl for appending; a cut-off last line
  // left by a killed run is removed first, so the file stays one JSON object per line.
  // Throws kIo naming the path.
  Telemetry(const std::string& run_dir, TelemetryOptions opt = {});
  ~Telemetry();
  Telemetry(const Telemetry&) = delete;
  Telemetry& operator=(const Telemetry&) = delete;

  // Fills the meters (elapsed_s, device_hours, usd, peak_mem_bytes, time), appends the JSON
  // line, flushes it, and prints the human line. Returns the completed record.
  // print_line = false (steps between log intervals): the JSON line only, plus the live line on a terminal.
  StepRecord log(StepRecord r, bool print_line = true);
  // A live line ("\r...") between log steps on a terminal; nothing otherwise.
  void progress(const StepRecord& r);
  // A message line (checkpoint saved, eval done) that does not collide with the live line.
  void message(std::string_view text);

  double elapsed_s() const;                               // this run's wall seconds + prior_elapsed_s
  double eta_s(int64_t step, int64_t total_steps) const;  // from a moving average; -1 unknown
  const std::string& metrics_path() const { return path_; }

 private:
  void clear_live();
  TelemetryOptions opt_;
  std::string path_;
  std::FILE* file_ = nullptr;
  bool tty_ = false, live_shown_ = false;
  double start_;
  // Moving average of wall seconds per step between log calls (ETA).
  double sec_per_step_ = -1, last_log_t_ = -1;
  int64_t last_log_step_ = -1;
};

// Drops the records of a JSONL metrics file whose "step" is after `step`, and torn lines (a killed
// run logged steps its last checkpoint does not have; the resumed run logs them again). Atomic.
void truncate_metrics_after(const std::string& path, int64_t step);

}  // namespace frugal

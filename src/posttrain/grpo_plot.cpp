#include "posttrain/grpo_plot.h"

#include <cmath>
#include <map>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "core/json.h"

namespace frugal {

namespace {

using Record = std::map<std::string, double>;  // the numeric fields of one step (null: NaN)

std::vector<Record> read_grpo_records(const std::string& path, std::vector<std::string>& warnings) {
  if (!file_exists(path)) fail(ErrorKind::kIo, "metrics file {} does not exist (is this a GRPO run directory?)", path);
  const std::string text = read_file(path);
  std::vector<std::string_view> lines;
  for (size_t pos = 0; pos < text.size();) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    if (text.find_first_not_of(" \t\r", pos) < nl) lines.push_back(std::string_view(text).substr(pos, nl - pos));
    pos = nl + 1;
  }
  std::vector<Record> out;
  for (size_t i = 0; i < lines.size(); ++i) {
    Record r;
    try {
      const nlohmann::json j = parse_json(lines[i], fmt::format("{}:{}", path, i + 1));
      if (!j.is_object() || !j.contains("step") || !j["step"].is_number_integer())
        fail(ErrorKind::kFormat, "{}:{}: not a GRPO step record (no integer \"step\")", path, i + 1);
      for (const auto& [k, v] : j.items())
        if (v.is_number()) r[k] = v.get<double>();
        else if (v.is_null()) r[k] = NAN;
    } catch (const Error& e) {
      if (i + 1 < lines.size()) throw;
      warnings.push_back(fmt::format("ignoring a cut-off last line (a killed run?): {}", e.what()));
      continue;
    }
    while (!out.empty() && out.back()["step"] >= r["step"]) out.pop_back();
    out.push_back(std::move(r));
  }
  if (out.empty()) fail(ErrorKind::kFormat, "metrics file {} has no step records", path);
  return out;
}

PlotSeries series(const std::vector<Record>& rs, const std::string& key, std::string label, std::string color,
                  double scale = 1) {
  PlotSeries s{key, std::move(label), std::move(color), {}, false};
  for (const Record& r : rs) {
    const auto it = r.find(key);
    s.points.emplace_back(r.at("step"), it == r.end() ? NAN : scale * it->second);
  }
  return s;
}

}  // namespace

PlotPage grpo_plot(const std::string& metrics_path, const std::string& title) {
  PlotPage page;
  page.title = title;
  const std::vector<Record> rs = read_grpo_records(metrics_path, page.warnings);
  const Record& last = rs.back();
  auto value = [&](const char* k) { return last.count(k) ? last.at(k) : NAN; };
  page.summary = {{"step", fmt::format("{}", int64_t(value("step")))},
                  {"reward", fmt::format("{:.4f}", value("reward"))},
                  {"accuracy", fmt::format("{:.4f}", value("accuracy"))},
                  {"completion length", fmt::format("{:.1f} tokens", value("completion_length"))},
                  {"KL", fmt::format("{:.4f}", value("kl"))}};
  double rollout_s = 0, update_s = 0;
  for (const Record& r : rs) {
    if (r.count("rollout_s") && std::isfinite(r.at("rollout_s"))) rollout_s += r.at("rollout_s");
    if (r.count("update_s") && std::isfinite(r.at("update_s"))) update_s += r.at("update_s");
  }
  if (rollout_s + update_s > 0)
    page.summary.emplace_back("time", fmt::format("rollout {:.1f} s ({:.0f}%), update {:.1f} s", rollout_s,
                                                  100 * rollout_s / (rollout_s + update_s), update_s));

  // Reward: the total and every reward_<name> the run logged.
  PlotChart reward{"reward", "mean reward", false, {series(rs, "reward", "total", "#1f77b4")}};
  const char* colors[] = {"#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"};
  size_t ci = 0;
  for (const auto& [k, v] : rs.front())
    if (k.starts_with("reward_") && k != "reward_std" && k != "reward_errors")
      reward.series.push_back(series(rs, k, k.substr(7), colors[ci++ % std::size(colors)]));
  page.charts = {
      reward,
      {"accuracy", "fraction correct", true, {series(rs, "accuracy", "accuracy", "#2ca02c")}},
      {"completion length",
       "tokens",
       true,
       {series(rs, "completion_length", "mean length", "#9467bd")}},
      {"KL to the reference", "mean k3", true, {series(rs, "kl", "KL", "#d62728")}},
      {"clipping and signal",
       "fraction",
       true,
       {series(rs, "clip_fraction", "clipped tokens", "#8c564b"),
        series(rs, "zero_advantage_groups", "groups without signal", "#7f7f7f"),
        series(rs, "truncated", "cut at the budget", "#bcbd22")}},
      {"entropy", "nats per token", true, {series(rs, "entropy", "entropy", "#17becf")}},
      {"throughput",
       "tokens / s",
       true,
       {series(rs, "rollout_tokens_per_s", "rollout", "#1f77b4"),
        series(rs, "update_tokens_per_s", "update", "#ff7f0e")}},
  };
  return page;
}

}  // namespace frugal

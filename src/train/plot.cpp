// metrics.jsonl -> HTML with inline SVG charts, a standalone SVG, or a PNG through gnuplot.
#include "train/plot.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>

#include <fmt/format.h>

#include "core/error.h"
#include "core/file.h"
#include "core/progress.h"

extern char** environ;

namespace frugal {
namespace {

// ---- reading ----

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return lines;
}

bool blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r'; });
}

// ---- SVG charts ----

std::string escape_xml(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string tick_label(double v) {
  const double a = std::fabs(v);
  if (a == 0) return "0";
  if (a >= 1e7) return fmt::format("{:.4g}M", v / 1e6);  // tokens/s: "1.5M", "35k"
  if (a >= 1e4) return fmt::format("{:.4g}k", v / 1e3);
  if (a < 1e-2) return fmt::format("{:.2g}", v);  // learning rates: "0.0002", "5e-05"
  return fmt::format("{:.4g}", v);
}

// A 1-2-5 step giving about `target` intervals over [lo, hi].
double nice_step(double lo, double hi, int target) {
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double r = raw / mag;
  return (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
}

struct Axis {
  double lo, hi, step;
};
Axis nice_axis(double lo, double hi, bool from_zero) {
  if (from_zero) lo = std::min(lo, 0.0), hi = std::max(hi, 0.0);
  if (hi - lo <= std::fabs(hi) * 1e-9 || hi == lo) {  // flat data: open a window around it
    const double pad = hi == 0 ? 1 : std::fabs(hi) * 0.1;
    lo -= from_zero && lo == 0 ? 0 : pad;
    hi += pad;
  }
  const double step = nice_step(lo, hi, 5);
  return {std::floor(lo / step) * step, std::ceil(hi / step) * step, step};
}

constexpr double kW = 560, kH = 300, kLeft = 72, kRight = 16, kTop = 30, kBottom = 44;

std::string svg_chart(const PlotChart& chart) {
  const std::string_view title = chart.title, y_label = chart.y_label;
  const std::vector<PlotSeries>& series = chart.series;
  const bool from_zero = chart.from_zero;
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  for (const PlotSeries& s : series)
    for (auto [x, y] : s.points)
      if (std::isfinite(y))
        xlo = std::min(xlo, x), xhi = std::max(xhi, x), ylo = std::min(ylo, y), yhi = std::max(yhi, y);
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"11\">\n<text x=\"{2}\" y=\"18\" text-anchor=\"middle\" "
      "font-size=\"13\" font-weight=\"bold\">{3}</text>\n",
      kW, kH, kW / 2, escape_xml(title));
  if (!std::isfinite(xlo)) {
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#888\">no data</text>\n</svg>\n", kW / 2,
                       kH / 2);
    return svg;
  }
  const Axis xa = nice_axis(xlo, xhi, false), ya = nice_axis(ylo, yhi, from_zero);
  const double pw = kW - kLeft - kRight, ph = kH - kTop - kBottom;
  auto px = [&](double x) { return kLeft + (x - xa.lo) / (xa.hi - xa.lo) * pw; };
  auto py = [&](double y) { return kTop + ph - (y - ya.lo) / (ya.hi - ya.lo) * ph; };
  // Grid, ticks and tick labels; ticks are lo + i·step (no accumulated rounding).
  for (int i = 0; xa.lo + i * xa.step <= xa.hi + xa.step * 1e-6; ++i) {
    const double v = xa.lo + i * xa.step, x = px(v);
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#e4e4e4\"/>"
        "<text x=\"{0:.1f}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>\n",
        x, kTop, kTop + ph, kTop + ph + 14, tick_label(v));
  }
  for (int i = 0; ya.lo + i * ya.step <= ya.hi + ya.step * 1e-6; ++i) {
    const double v = ya.lo + i * ya.step, y = py(v);
    svg += fmt::format(
        "<line x1=\"{0}\" y1=\"{1:.1f}\" x2=\"{2}\" y2=\"{1:.1f}\" stroke=\"#e4e4e4\"/>"
        "<text x=\"{3}\" y=\"{4:.1f}\" text-anchor=\"end\">{5}</text>\n",
        kLeft, y, kLeft + pw, kLeft - 5, y + 4, tick_label(v));
  }
  svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333\"/>\n", kLeft,
                     kTop, pw, ph);
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">step</text>\n", kLeft + pw / 2, kH - 6);
  svg += fmt::format("<text transform=\"translate(14,{}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
                     kTop + ph / 2, escape_xml(y_label));
  int legend = 0;
  for (const PlotSeries& s : series) {
    if (std::none_of(s.points.begin(), s.points.end(), [](auto p) { return std::isfinite(p.second); })) continue;
    svg += fmt::format("<g class=\"series\" data-series=\"{}\" fill=\"{}\" stroke=\"{}\">\n", s.name, s.color, s.color);
    if (s.markers) {
      for (auto [x, y] : s.points)
        if (std::isfinite(y)) svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\"/>\n", px(x), py(y));
    } else {
      // One polyline per run of finite values: a NaN (skipped step) leaves a gap.
      std::string pts;
      auto flush = [&] {
        if (!pts.empty()) svg += fmt::format("<polyline fill=\"none\" stroke-width=\"1.5\" points=\"{}\"/>\n", pts);
        pts.clear();
      };
      for (auto [x, y] : s.points) {
        if (!std::isfinite(y)) {
          flush();
          continue;
        }
        pts += fmt::format("{}{:.1f},{:.1f}", pts.empty() ? "" : " ", px(x), py(y));
      }
      flush();
    }
    svg += "</g>\n";
    const double lx = kLeft + pw - 120, ly = kTop + 12 + 15 * legend++;
    svg += fmt::format(
        "<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"3\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{}</text>\n", lx,
        ly - 4, s.color, lx + 16, ly, escape_xml(s.label));
  }
  return svg + "</svg>\n";
}

PlotSeries series_of(const MetricsLog& log, std::string name, std::string label, std::string color,
                     const std::function<double(const StepRecord&)>& value, bool markers = false) {
  PlotSeries s{std::move(name), std::move(label), std::move(color), {}, markers};
  for (const StepRecord& r : log.records) s.points.emplace_back(double(r.step), value(r));
  return s;
}

// ---- gnuplot ----

std::string gnuplot_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';  // '' is a quote inside a single-quoted gnuplot string
    out += c;
  }
  out += '\'';
  return out;
}

std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = std::getenv("PATH");
  for (std::string_view rest = path ? path : ""; !rest.empty();) {
    const size_t colon = rest.find(':');
    const std::string dir(rest.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    const std::string candidate = path_join(dir.empty() ? "." : dir, name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// A directory under the system temp dir, removed with its contents.
struct TempDirectory {
  std::string path;
  TempDirectory() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "frugal-plot-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) fail(ErrorKind::kIo, "cannot create a temporary directory {}", tmpl);
    path = tmpl;
  }
  ~TempDirectory() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

MetricsLog read_metrics_jsonl(const std::string& path) {
  if (!file_exists(path))
    fail(ErrorKind::kIo, "metrics file {} does not exist (is this a training run directory?)", path);
  const std::string text = read_file(path);
  const std::vector<std::string_view> lines = split_lines(text);
  size_t last = lines.size();
  while (last > 0 && blank(lines[last - 1])) --last;
  MetricsLog log;
  log.path = path;
  for (size_t i = 0; i < last; ++i) {
    if (blank(lines[i])) continue;
    StepRecord r;
    try {
      r = step_record_from_json(lines[i]);
    } catch (const Error& e) {
      if (i + 1 < last) fail(ErrorKind::kFormat, "{}:{}: {}", path, i + 1, e.what());
      log.warnings.push_back(
          fmt::format("{}:{}: ignoring a cut-off last line (a killed run?): {}", path, i + 1, e.what()));
      continue;
    }
    while (!log.records.empty() && log.records.back().step >= r.step) log.records.pop_back();
    log.records.push_back(r);
  }
  if (log.records.empty()) fail(ErrorKind::kFormat, "metrics file {} has no step records", path);
  return log;
}

PlotPage training_plot(const MetricsLog& log, std::string_view title) {
  PlotPage page;
  page.title = title;
  const StepRecord& last = log.records.back();
  double best_val = INFINITY;
  for (const StepRecord& r : log.records)
    if (r.val_loss && std::isfinite(*r.val_loss)) best_val = std::min(best_val, *r.val_loss);
  auto row = [&](std::string k, std::string v) { page.summary.emplace_back(std::move(k), std::move(v)); };
  row("step", fmt::format("{} / {}", last.step, last.total_steps));
  row("loss", fmt::format("{:.4f}", last.loss));
  if (std::isfinite(best_val)) row("best val loss", fmt::format("{:.4f}", best_val));
  row("tokens seen", fmt::format("{}", last.tokens_seen));
  row("elapsed", format_duration(last.elapsed_s));
  row("cost", fmt::format("{:.4f} device-hours, ${:.2f}", last.device_hours, last.usd));
  row("peak memory", fmt::format("{:.2f} GiB", double(last.peak_mem_bytes) / double(1ull << 30)));
  row("NaN/Inf steps skipped", fmt::format("{}", last.nan_skips));
  const double nan = NAN;
  page.charts = {
      {"loss",
       "cross-entropy (nats)",
       false,
       {series_of(log, "loss", "train loss", "#1f77b4", [](const StepRecord& r) { return r.loss; }),
        series_of(log, "mtp_loss", "MTP loss", "#ff7f0e", [&](const StepRecord& r) { return r.mtp_loss.value_or(nan); }),
        series_of(
            log, "val_loss", "val loss", "#d62728", [&](const StepRecord& r) { return r.val_loss.value_or(nan); },
            true)}},
      {"learning rate", "lr", true, {series_of(log, "lr", "lr", "#2ca02c", [](const StepRecord& r) { return r.lr; })}},
      {"throughput",
       "tokens / s",
       true,
       {series_of(log, "tokens_per_s", "tokens/s", "#9467bd", [](const StepRecord& r) { return r.tokens_per_s; })}},
      {"MFU",
       "% of measured sgemm peak",
       true,
       {series_of(log, "mfu", "MFU", "#8c564b", [](const StepRecord& r) { return 100 * r.mfu; })}},
  };
  page.warnings = log.warnings;
  return page;
}

std::string plot_html(const PlotPage& page) {
  std::string html = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{0}</title>\n<style>\n"
      "body {{ font-family: sans-serif; margin: 24px; color: #222; }}\n"
      ".charts {{ display: flex; flex-wrap: wrap; gap: 12px; }}\n"
      "table {{ border-collapse: collapse; margin-bottom: 16px; }}\n"
      "td {{ padding: 2px 12px 2px 0; }}\n</style>\n</head>\n<body>\n<h2>{0}</h2>\n<table>\n",
      escape_xml(page.title));
  for (const auto& [k, v] : page.summary)
    html += fmt::format("<tr><td>{}</td><td>{}</td></tr>\n", escape_xml(k), escape_xml(v));
  html += "</table>\n<div class=\"charts\">\n";
  for (const PlotChart& chart : page.charts) html += svg_chart(chart);
  html += "</div>\n";
  for (const std::string& w : page.warnings) html += fmt::format("<p>warning: {}</p>\n", escape_xml(w));
  return html + "</body>\n</html>\n";
}

std::string plot_svg(const PlotPage& page) {
  constexpr double kHead = 36;  // room for the title above the grid of charts, two per row
  const size_t rows = (page.charts.size() + 1) / 2;
  std::string svg = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" "
      "height=\"{1}\" viewBox=\"0 0 {0} {1}\" font-family=\"sans-serif\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"24\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">{3}</text>\n",
      2 * kW, kHead + double(rows) * kH, kW, escape_xml(page.title));
  for (size_t i = 0; i < page.charts.size(); ++i)
    svg += fmt::format("<g transform=\"translate({},{})\">\n{}</g>\n", (i % 2) * kW, kHead + double(i / 2) * kH,
                       svg_chart(page.charts[i]));
  return svg + "</svg>\n";
}

std::string plot_html(const MetricsLog& log, std::string_view title) { return plot_html(training_plot(log, title)); }
std::string plot_svg(const MetricsLog& log, std::string_view title) { return plot_svg(training_plot(log, title)); }

PlotFormat plot_format_of(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  if (ext == ".html" || ext == ".htm") return PlotFormat::kHtml;
  if (ext == ".svg") return PlotFormat::kSvg;
  if (ext == ".png") return PlotFormat::kPng;
  fail(ErrorKind::kInvalidArgument,
       "plot output {}: {} (the format follows the extension: .html, .svg or .png)", path,
       ext.empty() ? std::string("has no extension") : fmt::format("unknown extension '{}'", ext));
}

void write_plot(const PlotPage& page, const std::string& path) {
  switch (plot_format_of(path)) {
    case PlotFormat::kHtml:
      return write_file_atomic(path, plot_html(page));
    case PlotFormat::kSvg:
      return write_file_atomic(path, plot_svg(page));
    case PlotFormat::kPng:
      return write_plot_png(page, path);
  }
}

void write_plot(const MetricsLog& log, std::string_view title, const std::string& path) {
  write_plot(training_plot(log, title), path);
}

void write_plot_png(const MetricsLog& log, std::string_view title, const std::string& png_path,
                    const std::string& gnuplot) {
  write_plot_png(training_plot(log, title), png_path, gnuplot);
}

void write_plot_png(const PlotPage& page, const std::string& png_path, const std::string& gnuplot) {
  const std::string program = find_program(gnuplot);
  if (program.empty())
    fail(ErrorKind::kUnsupported,
         "cannot make {}: gnuplot ('{}') is not installed or not on PATH "
         "(scripts/install-deps.sh installs Debian's gnuplot-nox; or write .html or .svg)",
         png_path, gnuplot);
  TempDirectory tmp;
  const std::string script = path_join(tmp.path, "plot.gp"), out = path_join(tmp.path, "plot.png"),
                    err = path_join(tmp.path, "gnuplot.err");
  auto num = [](double v) { return std::isfinite(v) ? fmt::format("{}", v) : std::string("NaN"); };
  const int rows = int((page.charts.size() + 1) / 2);
  std::string gp = fmt::format(
      "set terminal pngcairo size {},{} font ',10'\nset output {}\n"
      "set multiplot layout {},2 title {}\nset grid\nset xlabel 'step'\nset key top right\n"
      "set offsets 0, 0, graph 0.05, graph 0.05\n",  // a flat series stays off the frame
      kPlotPngWidth, kPlotPngRowHeight * std::max(rows, 1), gnuplot_quote(out), std::max(rows, 1),
      gnuplot_quote(page.title));
  for (size_t c = 0; c < page.charts.size(); ++c) {
    const PlotChart& chart = page.charts[c];
    // One data file per chart: step, then one column per series (its points share the steps).
    const std::string data = path_join(tmp.path, fmt::format("chart{}.dat", c));
    std::string text;
    const size_t n = chart.series.empty() ? 0 : chart.series[0].points.size();
    for (size_t i = 0; i < n; ++i) {
      text += num(chart.series[0].points[i].first);
      for (const PlotSeries& s : chart.series) text += " " + num(i < s.points.size() ? s.points[i].second : NAN);
      text += "\n";
    }
    write_file_atomic(data, text);
    // gnuplot refuses a plot whose every point is undefined, so only series with data are drawn.
    std::vector<std::string> parts;
    for (size_t k = 0; k < chart.series.size(); ++k) {
      const PlotSeries& s = chart.series[k];
      if (std::none_of(s.points.begin(), s.points.end(), [](auto p) { return std::isfinite(p.second); })) continue;
      parts.push_back(fmt::format("{} using 1:{} with {} title {}", gnuplot_quote(data), k + 2,
                                  s.markers ? "points pt 7" : "lines lw 1.5",
                                  chart.series.size() > 1 ? gnuplot_quote(s.label) : std::string("''")));
    }
    if (parts.empty()) continue;
    gp += fmt::format("set title {}\nset ylabel {}\nplot ", gnuplot_quote(chart.title), gnuplot_quote(chart.y_label));
    for (size_t i = 0; i < parts.size(); ++i) gp += (i ? ", " : "") + parts[i];
    gp += "\n";
  }
  gp += "unset multiplot\nset output\n";
  write_file_atomic(script, gp);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  std::string arg0 = program, arg1 = script;
  char* argv[] = {arg0.data(), arg1.data(), nullptr};
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, program.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) fail(ErrorKind::kIo, "cannot run {}: {}", program, std::strerror(rc));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::string messages = file_exists(err) ? read_file(err) : "";
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !file_exists(out))
    fail(ErrorKind::kIo, "gnuplot failed to render {} (exit {}): {}", png_path,
         WIFEXITED(status) ? WEXITSTATUS(status) : -1, messages.substr(0, 2000));
  write_file_atomic(png_path, read_file(out));
}

}  // namespace frugal

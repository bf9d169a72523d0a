// Plots of a run: a page of charts against step (PlotPage) -> a self-contained HTML page of inline
// SVG charts (no scripts, no external loads), the same charts as one standalone SVG (two columns),
// or a PNG rendered by gnuplot (Debian's gnuplot-nox, installed by scripts/install-deps.sh: its
// pngcairo terminal needs no X server). The output format follows the file name's extension.
// Training runs (RUN_DIR/metrics.jsonl) get training_plot's four charts: loss with MTP loss and
// validation points, learning rate, tokens/s, MFU. Other loops build their own page (GRPO:
// posttrain/grpo_plot.h).
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "train/telemetry.h"

namespace frugal {

struct MetricsLog {
  std::string path;
  // In step order. A resumed run replays the steps after its checkpoint: a record whose step is
  // not after the previous one replaces the earlier records from that step on.
  std::vector<StepRecord> records;
  std::vector<std::string> warnings;  // e.g. a cut-off last line (a killed run), which is skipped
};

// Throws kIo when the file is missing, kFormat when a line other than the last is not a record or
// when there is no record at all; each error names the file (and line).
MetricsLog read_metrics_jsonl(const std::string& path);

// One line of a chart: (step, value) points, NaN values leaving gaps.
struct PlotSeries {
  std::string name, label, color;  // name: the SVG group's data-series attribute
  std::vector<std::pair<double, double>> points;
  bool markers = false;  // points instead of a line (validation)
};
struct PlotChart {
  std::string title, y_label;
  bool from_zero = false;  // the y axis includes 0
  std::vector<PlotSeries> series;
};
// What a plot shows: a title, summary rows (the HTML page's table), the charts, warnings.
struct PlotPage {
  std::string title;
  std::vector<std::pair<std::string, std::string>> summary;
  std::vector<PlotChart> charts;
  std::vector<std::string> warnings;
};

// The training page of a metrics log.
PlotPage training_plot(const MetricsLog& log, std::string_view title);

// The HTML page (UTF-8); the title is shown in the heading (HTML-escaped).
std::string plot_html(const PlotPage& page);
// The charts in one SVG document (two per row), with the title above them.
std::string plot_svg(const PlotPage& page);
// The training page of `log`, as above.
std::string plot_html(const MetricsLog& log, std::string_view title);
std::string plot_svg(const MetricsLog& log, std::string_view title);

enum class PlotFormat { kHtml, kSvg, kPng };
// The format named by `path`'s extension (.html/.htm, .svg, .png; any letter case). Throws
// kInvalidArgument naming the path and the extensions it knows for anything else.
PlotFormat plot_format_of(const std::string& path);

// Writes the plot in the format of `path`'s extension (atomically; PNG through write_plot_png).
void write_plot(const PlotPage& page, const std::string& path);
void write_plot(const MetricsLog& log, std::string_view title, const std::string& path);

// The PNG's size in pixels: two charts per row, each row kPlotPngRowHeight high.
constexpr int kPlotPngWidth = 1200, kPlotPngRowHeight = 400;

// Renders the same charts to `png_path` (written atomically) by running gnuplot on data files and
// a script in a temporary directory. `gnuplot` is the program name or path; throws kUnsupported
// when it cannot be found and kIo when it fails (with its error output).
void write_plot_png(const PlotPage& page, const std::string& png_path, const std::string& gnuplot = "gnuplot");
void write_plot_png(const MetricsLog& log, std::string_view title, const std::string& png_path,
                    const std::string& gnuplot = "gnuplot");

}  // namespace frugal

// Loss-curve plots of a run: RUN_DIR/metrics.jsonl -> a self-contained HTML page of inline SVG
// charts (training loss with MTP loss and validation points, learning rate, tokens/s, MFU against
// step; no scripts, no external loads), the same charts as one standalone SVG, or a PNG rendered
// by gnuplot (Debian's gnuplot-nox, installed by scripts/install-deps.sh: its pngcairo terminal
// needs no X server). The output format follows the file name's extension.
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

// The HTML page (UTF-8). `title` is shown in the heading (HTML-escaped).
std::string plot_html(const MetricsLog& log, std::string_view title);

// The four charts in one SVG document (2 x 2), with the title above them.
std::string plot_svg(const MetricsLog& log, std::string_view title);

enum class PlotFormat { kHtml, kSvg, kPng };
// The format named by `path`'s extension (.html/.htm, .svg, .png; any letter case). Throws
// kInvalidArgument naming the path and the extensions it knows for anything else.
PlotFormat plot_format_of(const std::string& path);

// Writes the plot in the format of `path`'s extension (atomically; PNG through write_plot_png).
void write_plot(const MetricsLog& log, std::string_view title, const std::string& path);

// The PNG's size in pixels.
constexpr int kPlotPngWidth = 1200, kPlotPngHeight = 800;

// Renders the same four charts to `png_path` (written atomically) by running gnuplot on a data
// file and script in a temporary directory. `gnuplot` is the program name or path; throws
// kUnsupported when it cannot be found and kIo when it fails (with its error output).
void write_plot_png(const MetricsLog& log, std::string_view title, const std::string& png_path,
                    const std::string& gnuplot = "gnuplot");

}  // namespace frugal

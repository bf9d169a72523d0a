// frugal plot RUN_DIR [--out FILE] [--png]
// Loss curves of a training run: RUN_DIR/metrics.jsonl -> RUN_DIR/plot.html (inline SVG, no
// external loads), or --out FILE in the format of its extension (.html, .svg, .png through
// gnuplot); --png also writes RUN_DIR/plot.png. RUN_DIR may also be the metrics file itself.
#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "core/file.h"
#include "train/plot.h"

namespace frugal::cli {

void register_plot(CLI::App& app) {
  struct Opts {
    std::string run_dir, out;
    bool png = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* c = app.add_subcommand("plot", "plot a training run's metrics (loss, lr, tokens/s, MFU) as HTML/SVG/PNG");
  c->add_option("RUN_DIR", o->run_dir, "training run directory (or its metrics.jsonl)")->required();
  c->add_option("--out", o->out,
                "output file; its extension picks the format: .html, .svg or .png (default RUN_DIR/plot.html)");
  c->add_flag("--png", o->png, "also render RUN_DIR/plot.png (gnuplot)");
  c->callback([o] {
    const bool is_file = file_exists(o->run_dir) && !is_directory(o->run_dir);
    const std::string dir = is_file ? std::filesystem::path(o->run_dir).parent_path().string() : o->run_dir;
    const std::string metrics = is_file ? o->run_dir : path_join(o->run_dir, "metrics.jsonl");
    const std::string base = dir.empty() ? "." : dir;
    const std::string out = o->out.empty() ? path_join(base, "plot.html") : o->out;
    plot_format_of(out);  // a bad extension is a usage error: report it before reading anything
    const MetricsLog log = read_metrics_jsonl(metrics);
    for (const std::string& w : log.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
    const std::string title = "frugal run " + std::filesystem::path(base).lexically_normal().string();
    write_plot(log, title, out);
    std::fprintf(stderr, "wrote %s (%zu steps)\n", out.c_str(), log.records.size());
    if (o->png) {
      const std::string png = path_join(base, "plot.png");
      write_plot_png(log, title, png);
      std::fprintf(stderr, "wrote %s\n", png.c_str());
    }
  });
}

static CommandRegistrar reg(60, &register_plot);

}  // namespace frugal::cli

// frugal plot RUN_DIR [--out FILE] [--png]
// Curves of a run: RUN_DIR/metrics.jsonl (train, sft) or RUN_DIR/grpo_metrics.jsonl (grpo) ->
// RUN_DIR/plot.html (inline SVG, no external loads), or --out FILE in the format of its extension
// (.html, .svg, .png through gnuplot); --png also writes RUN_DIR/plot.png. RUN_DIR may also be the
// metrics file itself.
#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "core/file.h"
#include "posttrain/grpo_plot.h"
#include "train/plot.h"

namespace frugal::cli {

void register_plot(CLI::App& app) {
  struct Opts {
    std::string run_dir, out;
    bool png = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* c = app.add_subcommand("plot", "plot a run's metrics (training: loss, lr, tokens/s, MFU; GRPO: reward, accuracy, KL, ...) as HTML/SVG/PNG");
  c->add_option("RUN_DIR", o->run_dir, "run directory (or its metrics.jsonl / grpo_metrics.jsonl)")->required();
  c->add_option("--out", o->out,
                "output file; its extension picks the format: .html, .svg or .png (default RUN_DIR/plot.html)");
  c->add_flag("--png", o->png, "also render RUN_DIR/plot.png (gnuplot)");
  c->callback([o] {
    const bool is_file = file_exists(o->run_dir) && !is_directory(o->run_dir);
    const std::string dir = is_file ? std::filesystem::path(o->run_dir).parent_path().string() : o->run_dir;
    // A GRPO run's log, when that is what the directory (or the file) holds.
    const std::string grpo = path_join(o->run_dir, "grpo_metrics.jsonl");
    const bool is_grpo = is_file ? o->run_dir.ends_with("grpo_metrics.jsonl")
                                 : file_exists(grpo) && !file_exists(path_join(o->run_dir, "metrics.jsonl"));
    const std::string metrics = is_file ? o->run_dir : is_grpo ? grpo : path_join(o->run_dir, "metrics.jsonl");
    const std::string base = dir.empty() ? "." : dir;
    const std::string out = o->out.empty() ? path_join(base, "plot.html") : o->out;
    plot_format_of(out);  // a bad extension is a usage error: report it before reading anything
    const std::string title = std::string(is_grpo ? "frugal GRPO run " : "frugal run ") +
                              std::filesystem::path(base).lexically_normal().string();
    const PlotPage page = is_grpo ? grpo_plot(metrics, title) : training_plot(read_metrics_jsonl(metrics), title);
    for (const std::string& w : page.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
    write_plot(page, out);
    std::fprintf(stderr, "wrote %s (%zu steps)\n", out.c_str(),
                 page.charts.empty() || page.charts[0].series.empty() ? size_t(0) : page.charts[0].series[0].points.size());
    if (o->png) {
      const std::string png = path_join(base, "plot.png");
      write_plot_png(page, png);
      std::fprintf(stderr, "wrote %s\n", png.c_str());
    }
  });
}

static CommandRegistrar reg_plot(60, &register_plot);

}  // namespace frugal::cli

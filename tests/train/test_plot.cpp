// Plots: metrics.jsonl reading (cut-off last line, resume replays, errors), the HTML page, the
// standalone SVG, the format chosen by extension and the gnuplot PNG. `frugal plot` itself is
// tested in tests/cli/test_plot_cli.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "test_util.h"
#include "train/plot.h"

namespace frugal {
namespace {

using test::expect_error;

StepRecord record(int64_t step, double loss) {
  StepRecord r;
  r.step = step;
  r.total_steps = 40;
  r.loss = loss;
  r.mtp_loss = loss + 0.3;
  r.lr = 1e-3 * double(step) / 40;
  r.tokens_per_s = 1000 + double(step);
  r.mfu = 0.2;
  r.elapsed_s = double(step);
  r.tokens_seen = step * 512;
  return r;
}

std::string metrics_text(const std::vector<StepRecord>& records) {
  std::string s;
  for (const StepRecord& r : records) s += step_record_json(r) + "\n";
  return s;
}

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

std::string series_group(const std::string& html, const std::string& name) {
  const size_t a = html.find("data-series=\"" + name + "\"");
  if (a == std::string::npos) return "";
  return html.substr(a, html.find("</g>", a) - a);
}

TEST(Plot, HtmlHasEverySeriesAsInlineSvg) {
  test::TempDir dir;
  std::vector<StepRecord> rs;
  for (int s = 10; s <= 40; s += 10) rs.push_back(record(s, 5.0 - 0.1 * s / 10));
  rs[1].val_loss = 4.9;
  rs[3].val_loss = 4.7;
  test::write_bytes(dir.file("metrics.jsonl"), metrics_text(rs));
  const MetricsLog log = read_metrics_jsonl(dir.file("metrics.jsonl"));
  ASSERT_EQ(log.records.size(), 4u);
  EXPECT_TRUE(log.warnings.empty());
  const std::string html = plot_html(log, "run <a&b>");
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(count(html, "<svg"), 4u);
  for (const char* s : {"loss", "mtp_loss", "val_loss", "lr", "tokens_per_s", "mfu"})
    EXPECT_NE(series_group(html, s), "") << s;
  EXPECT_EQ(count(series_group(html, "val_loss"), "<circle"), 2u);  // validation points, not a line
  EXPECT_EQ(count(series_group(html, "loss"), "<polyline"), 1u);
  EXPECT_EQ(count(series_group(html, "loss"), ","), 4u);  // one x,y pair per step
  for (const char* label : {">step<", ">loss<", ">learning rate<", ">throughput<", ">MFU<", ">0.001<"})
    EXPECT_NE(html.find(label), std::string::npos) << label;
  EXPECT_NE(html.find("run &lt;a&amp;b&gt;"), std::string::npos);  // escaped title
  // Self-contained: nothing to fetch, nothing to run.
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("href"), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
}

TEST(Plot, NanStepLeavesGapAndMissingSeriesIsLeftOut) {
  test::TempDir dir;
  std::vector<StepRecord> rs = {record(1, 3), record(2, NAN), record(3, 2.5), record(4, 2.4)};
  for (StepRecord& r : rs) r.mtp_loss.reset();
  test::write_bytes(dir.file("m.jsonl"), metrics_text(rs));
  const std::string html = plot_html(read_metrics_jsonl(dir.file("m.jsonl")), "t");
  EXPECT_EQ(count(series_group(html, "loss"), "<polyline"), 2u);
  EXPECT_EQ(series_group(html, "mtp_loss"), "");
  EXPECT_EQ(series_group(html, "val_loss"), "");
}

TEST(Plot, CutOffLastLineIsSkippedWithWarning) {
  test::TempDir dir;
  const std::string text = metrics_text({record(1, 3), record(2, 2.9)});
  test::write_bytes(dir.file("metrics.jsonl"), text + "{\"step\":3,\"loss\":2.");
  const MetricsLog log = read_metrics_jsonl(dir.file("metrics.jsonl"));
  EXPECT_EQ(log.records.size(), 2u);
  ASSERT_EQ(log.warnings.size(), 1u);
  EXPECT_NE(log.warnings[0].find("metrics.jsonl:3"), std::string::npos) << log.warnings[0];
  EXPECT_NE(log.warnings[0].find("cut-off"), std::string::npos);
}

TEST(Plot, ResumeReplayReplacesEarlierRecords) {
  test::TempDir dir;
  test::write_bytes(dir.file("m.jsonl"),
                    metrics_text({record(10, 3), record(20, 2.9), record(30, 2.8), record(20, 2.7), record(30, 2.6)}));
  const MetricsLog log = read_metrics_jsonl(dir.file("m.jsonl"));
  ASSERT_EQ(log.records.size(), 3u);
  EXPECT_EQ(log.records[1].step, 20);
  EXPECT_EQ(log.records[1].loss, 2.7);
  EXPECT_EQ(log.records[2].loss, 2.6);
}

TEST(Plot, ReadErrorsNameTheFile) {
  test::TempDir dir;
  expect_error([&] { read_metrics_jsonl(dir.file("metrics.jsonl")); }, ErrorKind::kIo,
               {"metrics.jsonl", "does not exist"});
  test::write_bytes(dir.file("empty.jsonl"), "");
  expect_error([&] { read_metrics_jsonl(dir.file("empty.jsonl")); }, ErrorKind::kFormat,
               {"empty.jsonl", "no step records"});
  test::write_bytes(dir.file("cut.jsonl"), "{\"step\":1,");
  expect_error([&] { read_metrics_jsonl(dir.file("cut.jsonl")); }, ErrorKind::kFormat,
               {"cut.jsonl", "no step records"});
  test::write_bytes(dir.file("bad.jsonl"), metrics_text({record(1, 3)}) + "garbage\n" + metrics_text({record(2, 2)}));
  expect_error([&] { read_metrics_jsonl(dir.file("bad.jsonl")); }, ErrorKind::kFormat,
               {"bad.jsonl:2", "not valid JSON"});
}

TEST(Plot, PngThroughGnuplot) {
  test::TempDir dir;
  std::vector<StepRecord> rs = {record(1, 3), record(2, 2.9), record(3, 2.7)};
  rs[2].val_loss = 2.8;
  test::write_bytes(dir.file("m.jsonl"), metrics_text(rs));
  const MetricsLog log = read_metrics_jsonl(dir.file("m.jsonl"));
  expect_error([&] { write_plot_png(log, "t", dir.file("x.png"), "/nonexistent/gnuplot"); }, ErrorKind::kUnsupported,
               {"gnuplot", "x.png"});
  // No skip without gnuplot: scripts/install-deps.sh installs it, and PNG plots must work there.
  ASSERT_EQ(test::run_command("command -v gnuplot").rc, 0) << "gnuplot is not installed (scripts/install-deps.sh)";
  write_plot_png(log, "it's a run", dir.file("plot.png"));
  const std::string png = test::read_bytes(dir.file("plot.png"));
  ASSERT_GT(png.size(), 1000u);
  EXPECT_EQ(png.substr(0, 8), "\x89PNG\r\n\x1a\n");
}

TEST(Plot, SvgHoldsTheFourChartsInOneDocument) {
  test::TempDir dir;
  std::vector<StepRecord> rs = {record(1, 3), record(2, 2.9), record(3, 2.7)};
  rs[2].val_loss = 2.8;
  test::write_bytes(dir.file("m.jsonl"), metrics_text(rs));
  const MetricsLog log = read_metrics_jsonl(dir.file("m.jsonl"));
  const std::string svg = plot_svg(log, "run <a&b>");
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_EQ(count(svg, "<svg"), 5u);  // the document and its four charts
  EXPECT_EQ(count(svg, "</svg>"), 5u);
  EXPECT_EQ(count(svg, "<g transform=\"translate("), 4u);
  EXPECT_NE(svg.find("run &lt;a&amp;b&gt;"), std::string::npos);
  for (const char* s : {"loss", "mtp_loss", "val_loss", "lr", "tokens_per_s", "mfu"})
    EXPECT_NE(series_group(svg, s), "") << s;
  EXPECT_EQ(svg.find("<script"), std::string::npos);
}

TEST(Plot, FormatFollowsTheExtension) {
  EXPECT_EQ(plot_format_of("a/plot.html"), PlotFormat::kHtml);
  EXPECT_EQ(plot_format_of("plot.HTM"), PlotFormat::kHtml);
  EXPECT_EQ(plot_format_of("x.y/plot.svg"), PlotFormat::kSvg);
  EXPECT_EQ(plot_format_of("plot.Png"), PlotFormat::kPng);
  expect_error([] { plot_format_of("out/plot.jpg"); }, ErrorKind::kInvalidArgument,
               {"out/plot.jpg", "unknown extension '.jpg'", ".html, .svg or .png"});
  expect_error([] { plot_format_of("x.png/plot"); }, ErrorKind::kInvalidArgument, {"x.png/plot", "no extension"});
}

TEST(Plot, WritePlotDispatchesOnExtension) {
  test::TempDir dir;
  test::write_bytes(dir.file("m.jsonl"), metrics_text({record(1, 3), record(2, 2.9)}));
  const MetricsLog log = read_metrics_jsonl(dir.file("m.jsonl"));
  write_plot(log, "t", dir.file("a.html"));
  write_plot(log, "t", dir.file("a.svg"));
  write_plot(log, "t", dir.file("a.png"));
  EXPECT_EQ(test::read_bytes(dir.file("a.html")).rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(test::read_bytes(dir.file("a.svg")).rfind("<?xml", 0), 0u);
  EXPECT_EQ(test::read_bytes(dir.file("a.png")).substr(0, 8), "\x89PNG\r\n\x1a\n");
  expect_error([&] { write_plot(log, "t", dir.file("a.pdf")); }, ErrorKind::kInvalidArgument, {"a.pdf"});
  EXPECT_FALSE(std::filesystem::exists(dir.file("a.pdf")));
}

}  // namespace
}  // namespace frugal

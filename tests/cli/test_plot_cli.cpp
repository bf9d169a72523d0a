// `frugal plot`: the output format follows --out's extension (.html, .svg, .png through gnuplot),
// an unknown or missing extension is an error that writes nothing, and --png adds RUN_DIR/plot.png.
// The PNG tests need gnuplot (Debian's gnuplot-nox, which scripts/install-deps.sh installs): without
// it they fail, since `frugal plot --out x.png` must work on a machine set up by the README.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "test_util.h"
#include "train/plot.h"

namespace {

using frugal::test::read_bytes;
using frugal::test::run_command;
using frugal::test::TempDir;
using frugal::test::write_bytes;

using frugal::test::kBinary;
const std::string kPngSignature("\x89PNG\r\n\x1a\n", 8);

// A short run's metrics.jsonl, one record per step (with a validation point).
void write_metrics(const std::string& path) {
  std::string text;
  for (int s = 1; s <= 5; ++s)
    text += "{\"step\":" + std::to_string(s) + ",\"total_steps\":5,\"loss\":" + std::to_string(5.0 - 0.3 * s) +
            ",\"mtp_loss\":" + std::to_string(5.5 - 0.3 * s) + ",\"lr\":0.001,\"tokens_per_s\":" +
            std::to_string(900 + 10 * s) + ",\"mfu\":0.1" + (s == 4 ? ",\"val_loss\":4.0" : "") + "}\n";
  write_bytes(path, text);
}

// Width and height from a PNG's IHDR chunk (big-endian, right after the signature and chunk header).
std::pair<uint32_t, uint32_t> png_size(const std::string& png) {
  auto be32 = [&](size_t at) {
    return uint32_t(uint8_t(png[at])) << 24 | uint32_t(uint8_t(png[at + 1])) << 16 |
           uint32_t(uint8_t(png[at + 2])) << 8 | uint32_t(uint8_t(png[at + 3]));
  };
  EXPECT_GE(png.size(), 24u);
  EXPECT_EQ(png.substr(12, 4), "IHDR");
  return png.size() >= 24 ? std::pair{be32(16), be32(20)} : std::pair{0u, 0u};
}

class PlotCli : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(kBinary)) << kBinary << " missing: the test target depends on it";
    write_metrics(dir_.file("metrics.jsonl"));
  }
  frugal::test::CommandResult plot(const std::string& args) {
    return run_command(kBinary + " plot " + dir_.str() + " " + args + " 2>&1");
  }
  TempDir dir_;
};

TEST_F(PlotCli, DefaultIsHtmlInRunDir) {
  auto r = plot("");
  ASSERT_EQ(r.rc, 0) << r.out;
  const std::string html = read_bytes(dir_.file("plot.html"));
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  r = run_command(kBinary + " plot " + dir_.file("metrics.jsonl") + " --out " + dir_.file("other.HTM") + " 2>&1");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(read_bytes(dir_.file("other.HTM")).rfind("<!DOCTYPE html>", 0), 0u);
}

TEST_F(PlotCli, PngOutIsAPngOfThePlotSize) {
  const auto r = plot("--out " + dir_.file("curves.png"));
  ASSERT_EQ(r.rc, 0) << r.out;
  const std::string png = read_bytes(dir_.file("curves.png"));
  ASSERT_EQ(png.substr(0, 8), kPngSignature) << "not a PNG (an HTML page named .png?): " << png.substr(0, 40);
  EXPECT_EQ(png_size(png), std::pair(uint32_t(frugal::kPlotPngWidth), uint32_t(2 * frugal::kPlotPngRowHeight)));
  EXPECT_FALSE(std::filesystem::exists(dir_.file("plot.html")));  // the one file asked for, nothing else
}

TEST_F(PlotCli, PngFlagAddsRunDirPlotPng) {
  const auto r = plot("--png");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(read_bytes(dir_.file("plot.html")).rfind("<!DOCTYPE html>", 0), 0u);
  const std::string png = read_bytes(dir_.file("plot.png"));
  ASSERT_EQ(png.substr(0, 8), kPngSignature);
  EXPECT_EQ(png_size(png), std::pair(uint32_t(frugal::kPlotPngWidth), uint32_t(2 * frugal::kPlotPngRowHeight)));
}

TEST_F(PlotCli, SvgOutIsOneSvgDocument) {
  const auto r = plot("--out " + dir_.file("curves.svg"));
  ASSERT_EQ(r.rc, 0) << r.out;
  const std::string svg = read_bytes(dir_.file("curves.svg"));
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("<svg xmlns=\"http://www.w3.org/2000/svg\""), std::string::npos);
  EXPECT_EQ(svg.find("<html"), std::string::npos);
  EXPECT_NE(svg.find("data-series=\"val_loss\""), std::string::npos);
}

TEST_F(PlotCli, UnknownOrMissingExtensionIsAnErrorAndWritesNothing) {
  for (const std::string name : {"plot.jpg", "plot", "plot.png.txt"}) {
    const auto r = plot("--out " + dir_.file(name));
    EXPECT_EQ(r.rc, 1) << name << ": " << r.out;
    EXPECT_NE(r.out.find(name), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(".html, .svg or .png"), std::string::npos) << r.out;
    EXPECT_FALSE(std::filesystem::exists(dir_.file(name))) << name;
  }
  EXPECT_EQ(dir_.count(), 1);  // still just metrics.jsonl
}

TEST_F(PlotCli, MissingRunDirIsAnError) {
  const auto r = run_command(kBinary + " plot " + dir_.file("nope") + " 2>&1");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("nope/metrics.jsonl"), std::string::npos) << r.out;
}

}  // namespace

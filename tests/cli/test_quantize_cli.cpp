// `frugal quantize` end to end, and the other verbs on its output: logits, generate and inspect go
// through the loader and work on q8_0 / q4_0 / fp8-block folders like on the f32 original.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/file.h"
#include "io/npy.h"
#include "test_util.h"

using namespace frugal;

namespace {

test::CommandResult qcli_run(const std::string& args) { return test::run_command(test::kBinary + " " + args + " 2>&1"); }

}  // namespace

TEST(CliQuantize, QuantizedFoldersGenerateLogitsAndInspect) {
  test::TempDir dir;
  const std::string f32 = test::kFixtureDir + "/micro_f32";
  // kv_b_proj has 16 inputs (kv_lora_rank), not a multiple of the 32-value block: left out.
  for (const std::string type : {"q8_0", "q4_0", "fp8-block"}) {
    const std::string out = dir.file(type);
    const std::string ex = type == "fp8-block" ? "" : " --exclude kv_b_proj";
    test::CommandResult q = qcli_run("quantize " + f32 + " " + out + " --type " + type + ex);
    ASSERT_EQ(q.rc, 0) << q.out;
    EXPECT_NE(q.out.find("quantized to " + type), std::string::npos) << q.out;

    test::CommandResult g = qcli_run("generate " + out + " --ids 241,160,175 --max-tokens 4 --json --ignore-eos");
    ASSERT_EQ(g.rc, 0) << g.out;
    EXPECT_NE(g.out.find("\"ids\""), std::string::npos) << g.out;

    test::CommandResult l = qcli_run("logits " + out + " --ids 241,160,175 --out " + dir.file(type + ".npy"));
    ASSERT_EQ(l.rc, 0) << l.out;
    test::CommandResult lr = qcli_run("logits " + f32 + " --ids 241,160,175 --out " + dir.file("f32.npy"));
    ASSERT_EQ(lr.rc, 0) << lr.out;
    const Tensor a = npy_read(dir.file(type + ".npy")), b = npy_read(dir.file("f32.npy"));
    ASSERT_EQ(a.numel(), b.numel());
    // Not equal (the weights changed) but the same logits up to quantization noise: the bound of
    // tests/io/test_quantize.cpp LogitsStayCloseToF32, loosest type (q4_0, 0.66), relative RMS.
    double d = 0, s = 0, mean = 0;
    const float* pa = a.data_as<float>();
    const float* pb = b.data_as<float>();
    for (int64_t i = 0; i < b.numel(); ++i) mean += pb[i] / double(b.numel());
    for (int64_t i = 0; i < b.numel(); ++i) d += (pa[i] - pb[i]) * double(pa[i] - pb[i]), s += (pb[i] - mean) * (pb[i] - mean);
    EXPECT_GT(d, 0.0) << type;
    EXPECT_LT(std::sqrt(d / s), 0.66) << type;

    test::CommandResult in = qcli_run("inspect " + out + " --json");
    ASSERT_EQ(in.rc, 0) << in.out;
    const nlohmann::json j = nlohmann::json::parse(in.out.substr(in.out.find('{')));
    const std::string key = type == "fp8-block" ? "F8_E4M3" : type == "q8_0" ? "Q8_0" : "Q4_0";
    EXPECT_GT(j["weights"]["bytes_by_dtype"].value(key, int64_t(0)), 0) << in.out;
    EXPECT_GT(j["weights"]["bytes_by_dtype"].value("F32", int64_t(0)), 0) << in.out;  // embedding, norms, kv_b_proj...
  }
  // Quantizing the output again is refused, naming the reason.
  test::CommandResult again = qcli_run("quantize " + dir.file("q8_0") + " " + dir.file("x") + " --type q4_0");
  EXPECT_EQ(again.rc, 1) << again.out;
  EXPECT_NE(again.out.find("already quantized"), std::string::npos) << again.out;
  test::CommandResult bad = qcli_run("quantize " + f32 + " " + dir.file("y") + " --type q4_0");
  EXPECT_EQ(bad.rc, 1) << bad.out;
  EXPECT_NE(bad.out.find("kv_b_proj"), std::string::npos) << bad.out;
  EXPECT_FALSE(std::filesystem::exists(dir.file("y")));
}

// `frugal export-gguf` end to end, and generate / logits / inspect given the .gguf file instead of
// a folder: the f32 file's logits equal the folder's bit for bit, the q8_0 file's those of the
// folder `frugal quantize` makes (kv_b_proj excluded), and bad flags are refused.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

#include "core/file.h"
#include "io/npy.h"
#include "test_util.h"

using namespace frugal;

namespace {

test::CommandResult gcli_run(const std::string& args) { return test::run_command(test::kBinary + " " + args + " 2>&1"); }

bool gcli_same_logits(const test::TempDir& dir, const std::string& a, const std::string& b) {
  const std::string ids = " --ids 241,160,175,3 --out ";
  EXPECT_EQ(gcli_run("logits " + a + ids + dir.file("a.npy")).rc, 0);
  EXPECT_EQ(gcli_run("logits " + b + ids + dir.file("b.npy")).rc, 0);
  const Tensor x = npy_read(dir.file("a.npy")), y = npy_read(dir.file("b.npy"));
  return x.numel() == y.numel() && std::memcmp(x.data(), y.data(), x.nbytes()) == 0;
}

}  // namespace

TEST(CliGguf, ExportThenEveryVerbOnTheFile) {
  test::TempDir dir;
  const std::string f32 = test::kFixtureDir + "/micro_f32";
  const std::string g = dir.file("m.gguf");
  test::CommandResult e = gcli_run("export-gguf " + f32 + " " + g + " --type f32");
  ASSERT_EQ(e.rc, 0) << e.out;
  EXPECT_TRUE(gcli_same_logits(dir, f32, g));
  test::CommandResult gen = gcli_run("generate " + g + " --ids 241,160,175 --max-tokens 4 --json --ignore-eos");
  ASSERT_EQ(gen.rc, 0) << gen.out;
  EXPECT_EQ(gen.out, gcli_run("generate " + f32 + " --ids 241,160,175 --max-tokens 4 --json --ignore-eos").out);

  const std::string q = dir.file("q8"), gq = dir.file("q8.gguf");
  ASSERT_EQ(gcli_run("quantize " + f32 + " " + q + " --type q8_0 --exclude kv_b_proj").rc, 0);
  ASSERT_EQ(gcli_run("export-gguf " + f32 + " " + gq + " --type q8_0").rc, 0);
  EXPECT_TRUE(gcli_same_logits(dir, q, gq));
  test::CommandResult in = gcli_run("inspect " + gq + " --json");
  ASSERT_EQ(in.rc, 0) << in.out;
  const nlohmann::json j = nlohmann::json::parse(in.out.substr(in.out.find('{')));
  EXPECT_GT(j["weights"]["bytes_by_dtype"].value("Q8_0", int64_t(0)), 0) << in.out;

  // An existing output needs --force; an unknown type is a usage error.
  test::CommandResult again = gcli_run("export-gguf " + f32 + " " + g + " --type f32");
  EXPECT_NE(again.rc, 0);
  EXPECT_NE(again.out.find("--force"), std::string::npos) << again.out;
  EXPECT_NE(gcli_run("export-gguf " + f32 + " " + dir.file("x.gguf") + " --type q4_k").rc, 0);
}

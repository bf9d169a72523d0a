// `frugal tokenize` end to end: JSON lines in, JSON lines out, in order; clear errors on bad lines.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sys/wait.h>

#include "test_util.h"

namespace frugal {
namespace {

test::CommandResult run(const std::string& args, const std::string& input, const test::TempDir& dir) {
  const std::string in = dir.file("in.txt");
  std::ofstream(in, std::ios::binary) << input;
  return test::run_command(std::string(FRUGAL_BINARY) + " tokenize " + args + " < " + in + " 2>&1");
}

class TokenizeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(FRUGAL_BINARY)) << FRUGAL_BINARY " missing: the test target depends on it";
  }
  const std::string tok_ = std::string("--tokenizer ") + FRUGAL_TEST_DATA + "/tokenizer/deepseek_v3";
  test::TempDir dir_;
};

TEST_F(TokenizeCli, EncodeJsonl) {
  auto r = run(tok_ + " --jsonl", "{\"text\":\"Hello, my dog is cute\"}\n\n{\"text\":\"a\",\"add_special_tokens\":false}\n", dir_);
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(r.out, "{\"ids\":[19923,14,1026,6397,344,33125]}\n{\"ids\":[67]}\n");
}

TEST_F(TokenizeCli, DecodeJsonlWithAndWithoutSpecial) {
  auto r = run(tok_ + "/tokenizer.json.gz --decode --jsonl",
               "{\"ids\":[0,19923,0],\"skip_special_tokens\":true}\n{\"ids\":[0,19923,163,124]}\n", dir_);
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(r.out, "{\"text\":\"Hello\"}\n{\"text\":\"<｜begin▁of▁sentence｜>Hello\xEF\xBF\xBD\"}\n");
}

TEST_F(TokenizeCli, BadLinesFailClearly) {
  auto r = run(tok_ + " --jsonl", "{\"text\":\"ok\"}\n{\"text\": bad}\n", dir_);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("line 2: not valid JSON"), std::string::npos) << r.out;
  r = run(tok_ + " --jsonl --decode", "{\"ids\":[\"x\"]}\n", dir_);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("line 1"), std::string::npos) << r.out;
  r = run("--tokenizer /nonexistent --jsonl", "", dir_);
  EXPECT_EQ(r.rc, 1);
}

}  // namespace
}  // namespace frugal

// `frugal data prepare` / `frugal data inspect` end to end through the binary.
#include <gtest/gtest.h>

#include <filesystem>

#include "data/token_source.h"
#include "dataset_test_util.h"

namespace frugal::data {
namespace {

frugal::test::CommandResult run_cli(const std::string& args) {
  return frugal::test::run_command(std::string(FRUGAL_BINARY) + " " + args + " 2>&1");
}

class DataCli : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(FRUGAL_BINARY)) << FRUGAL_BINARY " missing: the test target depends on it";
  }
  test::TempDir dir_;
  const std::string tok_ = " --tokenizer " + test::tokenizer_path();
};

TEST_F(DataCli, PrepareFortuneStyleFilesAndInspect) {
  std::string text;
  for (int i = 0; i < 50; ++i) text += "Fortune number " + std::to_string(i) + ".\n\t-- anon\n%\n";
  const std::string in = test::write_text(dir_, "fortunes", text);
  const std::string out = dir_.file("data");
  auto r = run_cli("data prepare" + tok_ + " --input " + in + " --out " + out +
                   " --doc-separator % --val-fraction 0.1 --seed 5 --shard-tokens 200 --quiet");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("wrote " + out), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tokens/s"), std::string::npos) << r.out;
  const TokenSource train = TokenSource::open(out);
  const auto val = TokenSource::open_val(out);
  ASSERT_TRUE(val.has_value());
  const DatasetIndex index = DatasetIndex::load(out);
  EXPECT_EQ(index.totals(Split::kTrain).documents + index.totals(Split::kVal).documents, 50);
  EXPECT_EQ(index.seed, 5u);
  EXPECT_GT(index.totals(Split::kTrain).shards, 1);
  // The CLI and the library give the same bytes.
  PrepareOptions o = test::prepare_options(dir_, {in}, "lib");
  o.documents.doc_separator = "%";
  o.val_fraction = 0.1;
  o.seed = 5;
  o.shard_tokens = 200;
  prepare_data(o);
  EXPECT_EQ(frugal::test::read_bytes(out + "/train_00000.bin"),
            frugal::test::read_bytes(o.out_dir + "/train_00000.bin"));

  r = run_cli("data inspect " + out);
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("train split"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("all checks passed"), std::string::npos) << r.out;
  test::flip_byte(out + "/train_00001.bin", kShardHeaderBytes + 1);
  r = run_cli("data inspect " + out);
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("train_00001.bin"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("checksum mismatch"), std::string::npos) << r.out;
}

TEST_F(DataCli, BadInputsExitWithClearErrors) {
  const std::string out = dir_.file("data");
  const std::string bad = test::write_text(dir_, "bad.jsonl", "{\"text\": \"ok\"}\n{oops}\n");
  auto r = run_cli("data prepare" + tok_ + " --input " + bad + " --out " + out);
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("bad.jsonl:2"), std::string::npos) << r.out;
  const std::string empty = test::write_text(dir_, "empty.txt", "");
  r = run_cli("data prepare" + tok_ + " --input " + empty + " --out " + out);
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("no documents"), std::string::npos) << r.out;
  r = run_cli("data prepare" + tok_ + " --input " + empty + " --out " + out + " --format csv");
  EXPECT_EQ(r.rc, 2) << r.out;
  r = run_cli("data prepare" + tok_ + " --out " + out);
  EXPECT_EQ(r.rc, 2) << r.out;
  r = run_cli("data inspect " + dir_.file("nothing"));
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("does not exist"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace frugal::data

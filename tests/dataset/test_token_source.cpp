// TokenSource: .npy vectors of every integer type, single shards, prepared directories, and the
// corruptions of a directory (shard flipped / truncated / missing, index edited or missing).
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/file.h"
#include "data/token_source.h"
#include "dataset_test_util.h"

namespace frugal::data {
namespace {

using frugal::test::expect_error;
using frugal::test::read_bytes;
using frugal::test::write_bytes;

using test::all_ids;

template <typename T> std::string npy_of(const std::string& descr, const std::vector<T>& v) {
  return test::npy_bytes(descr, v.data(), v.size(), sizeof(T));
}

TEST(TokenSource, NpyOfEveryIntegerType) {
  test::TempDir dir;
  const std::vector<int32_t> want = {0, 7, 255, 3, 1};
  auto check = [&](const std::string& name, const std::string& bytes) {
    write_bytes(dir.file(name), bytes);
    const TokenSource s = TokenSource::open(dir.file(name));
    EXPECT_EQ(all_ids(s), want) << name;
    EXPECT_EQ(s.max_id(), 255) << name;
    EXPECT_EQ(s.vocab_size(), 0) << name;
    EXPECT_EQ(s.eos_id(), -1) << name;
  };
  check("i32.npy", npy_of<int32_t>("<i4", {0, 7, 255, 3, 1}));
  check("i64.npy", npy_of<int64_t>("<i8", {0, 7, 255, 3, 1}));
  check("u16.npy", npy_of<uint16_t>("<u2", {0, 7, 255, 3, 1}));
  check("u32.npy", npy_of<uint32_t>("<u4", {0, 7, 255, 3, 1}));
  check("i16.npy", npy_of<int16_t>("<i2", {0, 7, 255, 3, 1}));
  check("u8.npy", npy_of<uint8_t>("|u1", {0, 7, 255, 3, 1}));
  // Detected by magic even without the extension.
  check("ids.data", npy_of<int32_t>("<i4", {0, 7, 255, 3, 1}));
  // Same content, same fingerprint, whatever the stored width.
  EXPECT_EQ(TokenSource::open(dir.file("u8.npy")).fingerprint(), TokenSource::open(dir.file("i64.npy")).fingerprint());
  EXPECT_NE(TokenSource::open(dir.file("u8.npy")).fingerprint(),
            TokenSource::from_ids({0, 7, 255, 3, 2}).fingerprint());
}

TEST(TokenSource, BadNpyInputs) {
  test::TempDir dir;
  write_bytes(dir.file("neg.npy"), npy_of<int64_t>("<i8", {1, 2, -3}));
  expect_error([&] { TokenSource::open(dir.file("neg.npy")); }, ErrorKind::kFormat,
               {"neg.npy", "-3", "index 2", "negative"});
  write_bytes(dir.file("big.npy"), npy_of<int64_t>("<i8", {int64_t(1) << 40}));
  expect_error([&] { TokenSource::open(dir.file("big.npy")); }, ErrorKind::kFormat, {"big.npy", "does not fit int32"});
  write_bytes(dir.file("f.npy"), npy_of<float>("<f4", {1.0f, 2.0f}));
  expect_error([&] { TokenSource::open(dir.file("f.npy")); }, ErrorKind::kFormat, {"f.npy", "must be integers"});
  const std::vector<int32_t> m = {1, 2, 3, 4};
  write_bytes(dir.file("m.npy"), test::npy_bytes("<i4", m.data(), 4, 4, "2, 2"));
  expect_error([&] { TokenSource::open(dir.file("m.npy")); }, ErrorKind::kShape, {"m.npy", "1-D", "[2, 2]"});
  write_bytes(dir.file("junk.bin"), "hello there, not a shard");
  expect_error([&] { TokenSource::open(dir.file("junk.bin")); }, ErrorKind::kFormat, {"junk.bin", "bad magic"});
  write_bytes(dir.file("junk.txt"), "hello");
  expect_error([&] { TokenSource::open(dir.file("junk.txt")); }, ErrorKind::kFormat, {"junk.txt", "neither"});
  expect_error([&] { TokenSource::open(dir.file("nothing.npy")); }, ErrorKind::kIo, {"nothing.npy", "does not exist"});
  write_bytes(dir.file("i.npy"), npy_of<int32_t>("<i4", {1}));
  expect_error([&] { TokenSource::open(dir.file("i.npy"), Split::kVal); }, ErrorKind::kInvalidArgument,
               {"no validation split"});
  EXPECT_FALSE(TokenSource::open_val(dir.file("i.npy")).has_value());
  expect_error([&] { TokenSource::from_ids({1, -1}, "mem"); }, ErrorKind::kInvalidArgument, {"mem", "negative"});
}

TEST(TokenSource, SingleShardFile) {
  test::TempDir dir;
  const std::vector<int32_t> ids = {4, 5, 6, 1, 9};
  shard_write(dir.file("x.bin"), ids.data(), 5, 10, 1, 1);
  const TokenSource s = TokenSource::open(dir.file("x.bin"));
  EXPECT_EQ(all_ids(s), ids);
  EXPECT_EQ(s.vocab_size(), 10);
  EXPECT_EQ(s.eos_id(), 1);
  EXPECT_EQ(s.max_id(), 9);
  EXPECT_NE(s.describe().find("token shard"), std::string::npos);
  test::flip_byte(dir.file("x.bin"), kShardHeaderBytes + 2);
  expect_error([&] { TokenSource::open(dir.file("x.bin")); }, ErrorKind::kFormat, {"x.bin", "checksum mismatch"});
}

// A prepared directory with 3+ train shards and a val split, for the corruption cases.
class PreparedDir : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string text;
    for (int i = 0; i < 40; ++i) text += "{\"text\": \"document " + std::to_string(i) + " is here\"}\n";
    PrepareOptions o = test::prepare_options(dir_, {test::write_text(dir_, "in.jsonl", text)});
    o.val_fraction = 0.2;
    o.shard_tokens = 40;
    prepare_data(o);
    out_ = o.out_dir;
  }
  std::string shard(const std::string& name) const { return out_ + "/" + name; }
  test::TempDir dir_;
  std::string out_;
};

TEST_F(PreparedDir, OpensBothSplits) {
  const TokenSource train = TokenSource::open(out_), val = *TokenSource::open_val(out_);
  const DatasetIndex index = DatasetIndex::load(out_);
  EXPECT_GE(index.totals(Split::kTrain).shards, 3);
  EXPECT_GE(index.totals(Split::kVal).shards, 1);
  EXPECT_EQ(train.size(), index.totals(Split::kTrain).tokens);
  EXPECT_EQ(val.size(), index.totals(Split::kVal).tokens);
  EXPECT_NE(train.fingerprint(), val.fingerprint());
  EXPECT_NE(train.describe().find("train split"), std::string::npos);
  EXPECT_LT(train.max_id(), train.vocab_size());
}

TEST_F(PreparedDir, FlippedByteNamesTheShard) {
  test::flip_byte(shard("train_00001.bin"), kShardHeaderBytes + 5);
  expect_error([&] { TokenSource::open(out_); }, ErrorKind::kFormat, {"train_00001.bin", "checksum mismatch"});
  EXPECT_NO_THROW(TokenSource::open_val(out_));  // the val split is intact
}

TEST_F(PreparedDir, TruncatedShard) {
  const std::string b = read_bytes(shard("train_00002.bin"));
  write_bytes(shard("train_00002.bin"), b.substr(0, b.size() / 2));
  expect_error([&] { TokenSource::open(out_); }, ErrorKind::kFormat, {"train_00002.bin", "truncated"});
}

TEST_F(PreparedDir, BadMagicShard) {
  test::flip_byte(shard("val_00000.bin"), 3);
  expect_error([&] { TokenSource::open_val(out_); }, ErrorKind::kFormat, {"val_00000.bin", "bad magic"});
}

TEST_F(PreparedDir, MissingShard) {
  std::filesystem::remove(shard("train_00000.bin"));
  expect_error([&] { TokenSource::open(out_); }, ErrorKind::kIo, {"train_00000.bin", "missing"});
}

TEST_F(PreparedDir, ShardFromAnotherPreparation) {
  // A valid shard with other content under the indexed name.
  const std::vector<int32_t> ids = {1, 2, 3};
  const DatasetIndex index = DatasetIndex::load(out_);
  shard_write(shard("train_00000.bin"), ids.data(), 3, index.vocab_size, index.eos_id, 0);
  expect_error([&] { TokenSource::open(out_); }, ErrorKind::kFormat,
               {"train_00000.bin", "does not match", "index.json"});
}

TEST_F(PreparedDir, IndexProblems) {
  const std::string index_path = out_ + "/index.json";
  const std::string good = read_bytes(index_path);
  auto j = nlohmann::json::parse(good);
  j["shards"][1]["crc32"] = 12345;
  write_bytes(index_path, j.dump());
  expect_error([&] { TokenSource::open(out_); }, ErrorKind::kFormat, {"train_00001.bin", "does not match"});
  j = nlohmann::json::parse(good);
  j.erase("shards");
  write_bytes(index_path, j.dump());
  expect_error([&] { TokenSource::open(out_); }, ErrorKind::kFormat, {"index.json", "missing key \"shards\""});
  j = nlohmann::json::parse(good);
  j["shards"][0]["tokens"] = "many";
  write_bytes(index_path, j.dump());
  expect_error([&] { TokenSource::open(out_); }, ErrorKind::kFormat, {"index.json", "shards[0].tokens"});
  j = nlohmann::json::parse(good);
  j["shards"][0]["file"] = "../etc/passwd";
  write_bytes(index_path, j.dump());
  expect_error([&] { TokenSource::open(out_); }, ErrorKind::kFormat, {"plain file name"});
  j = nlohmann::json::parse(good);
  j["version"] = 2;
  write_bytes(index_path, j.dump());
  expect_error([&] { TokenSource::open(out_); }, ErrorKind::kFormat, {"index.json", "unknown index version 2"});
  write_bytes(index_path, "{\"format\": ");
  expect_error([&] { TokenSource::open(out_); }, ErrorKind::kFormat, {"index.json", "not valid JSON"});
  write_bytes(index_path, "{\"format\": " + std::string(100000, '[') + std::string(100000, ']') + "}");
  expect_error([&] { TokenSource::open(out_); }, ErrorKind::kFormat, {"index.json", "nested deeper than 64 levels"});
  // A number no double holds: nlohmann throws out_of_range here, not parse_error (found by fuzz_dataset_index).
  write_bytes(index_path, "{\"format\": \"frugal.tokens\", \"version\": 1e400}");
  expect_error([&] { TokenSource::open(out_); }, ErrorKind::kFormat, {"index.json", "1e400"});
  std::filesystem::remove(index_path);
  expect_error([&] { TokenSource::open(out_); }, ErrorKind::kIo, {"not a prepared data directory"});
}

}  // namespace
}  // namespace frugal::data

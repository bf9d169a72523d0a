// Token shard files: round trip at both widths, and every corruption gives an error naming the file.
#include <gtest/gtest.h>

#include "core/file.h"
#include "dataset_test_util.h"

namespace frugal::data {
namespace {

using frugal::test::expect_error;
using frugal::test::read_bytes;
using frugal::test::write_bytes;

ShardHeader validate_file(const std::string& path) {
  const std::string b = read_bytes(path);
  return shard_validate(path, reinterpret_cast<const uint8_t*>(b.data()), b.size());
}

TEST(ShardFormat, RoundTripUint16) {
  test::TempDir dir;
  const std::vector<int32_t> ids = {5, 0, 65535, 7, 1};
  const std::string path = dir.file("a.bin");
  const ShardHeader w = shard_write(path, ids.data(), int64_t(ids.size()), 65536, 1, 2);
  EXPECT_EQ(w.token_bytes, 2u);
  EXPECT_EQ(read_bytes(path).size(), kShardHeaderBytes + 2 * ids.size());
  EXPECT_EQ(dir.count(), 1);  // no temp file left behind
  const ShardHeader h = validate_file(path);
  EXPECT_EQ(h.version, kShardVersion);
  EXPECT_EQ(h.tokens, 5);
  EXPECT_EQ(h.vocab_size, 65536);
  EXPECT_EQ(h.eos_id, 1);
  EXPECT_EQ(h.documents, 2);
  EXPECT_EQ(h.max_id, 65535);
  EXPECT_EQ(h.crc32, w.crc32);
  // Header fields at their documented offsets, little-endian.
  const std::string b = read_bytes(path);
  EXPECT_EQ(b.substr(0, 8), std::string("FRGLTOK\0", 8));
  uint64_t tokens;
  std::memcpy(&tokens, b.data() + 24, 8);
  EXPECT_EQ(tokens, 5u);
  uint16_t third;
  std::memcpy(&third, b.data() + kShardHeaderBytes + 4, 2);
  EXPECT_EQ(third, 65535);
  EXPECT_EQ(h.crc32, crc32_of(b.data() + kShardHeaderBytes, 10));
}

TEST(ShardFormat, Uint32AboveSixtyFourK) {
  test::TempDir dir;
  const std::vector<int32_t> ids = {70000, 3, 129279};
  const std::string path = dir.file("b.bin");
  shard_write(path, ids.data(), 3, 129280, 1, 1);
  const ShardHeader h = validate_file(path);
  EXPECT_EQ(h.token_bytes, 4u);
  EXPECT_STREQ(token_dtype_name(h.token_bytes), "uint32");
  EXPECT_EQ(h.max_id, 129279);
  EXPECT_EQ(token_bytes_for_vocab(65536), 2u);
  EXPECT_EQ(token_bytes_for_vocab(65537), 4u);
}

TEST(ShardFormat, CrcMatchesZlibKnownValue) {
  // CRC-32 (ISO-HDLC) check value of "123456789".
  EXPECT_EQ(crc32_of("123456789", 9), 0xCBF43926u);
}

class CorruptShard : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<int32_t> ids(100);
    for (int i = 0; i < 100; ++i) ids[size_t(i)] = i % 50;
    shard_write(path_, ids.data(), 100, 50, 1, 3);
  }
  test::TempDir dir_;
  const std::string path_ = dir_.file("train_00000.bin");
};

TEST_F(CorruptShard, FlippedPayloadByteIsChecksumMismatch) {
  test::flip_byte(path_, kShardHeaderBytes + 17);
  expect_error([&] { validate_file(path_); }, ErrorKind::kFormat, {"train_00000.bin", "checksum mismatch"});
}

TEST_F(CorruptShard, Truncated) {
  const std::string b = read_bytes(path_);
  write_bytes(path_, b.substr(0, b.size() - 3));
  expect_error([&] { validate_file(path_); }, ErrorKind::kFormat, {"train_00000.bin", "truncated"});
  write_bytes(path_, b.substr(0, 20));
  expect_error([&] { validate_file(path_); }, ErrorKind::kFormat, {"train_00000.bin", "truncated", "header"});
  write_bytes(path_, "");
  expect_error([&] { validate_file(path_); }, ErrorKind::kFormat, {"truncated"});
}

TEST_F(CorruptShard, TrailingBytes) {
  write_bytes(path_, read_bytes(path_) + "xy");
  expect_error([&] { validate_file(path_); }, ErrorKind::kFormat, {"train_00000.bin", "2 trailing bytes"});
}

TEST_F(CorruptShard, BadMagic) {
  test::flip_byte(path_, 0);
  expect_error([&] { validate_file(path_); }, ErrorKind::kFormat, {"train_00000.bin", "bad magic"});
}

TEST_F(CorruptShard, UnknownVersion) {
  std::string b = read_bytes(path_);
  b[8] = 9;
  write_bytes(path_, b);
  expect_error([&] { validate_file(path_); }, ErrorKind::kFormat, {"train_00000.bin", "unknown format version 9"});
}

TEST_F(CorruptShard, BadTokenWidth) {
  std::string b = read_bytes(path_);
  b[16] = 3;
  write_bytes(path_, b);
  expect_error([&] { validate_file(path_); }, ErrorKind::kFormat, {"token width 3"});
}

TEST_F(CorruptShard, TokenIdOutsideVocabEvenWithAValidChecksum) {
  std::string b = read_bytes(path_);
  const uint16_t bad = 50;
  std::memcpy(b.data() + kShardHeaderBytes + 2 * 7, &bad, 2);
  const uint32_t crc = crc32_of(b.data() + kShardHeaderBytes, b.size() - kShardHeaderBytes);
  std::memcpy(b.data() + 20, &crc, 4);
  write_bytes(path_, b);
  expect_error([&] { validate_file(path_); }, ErrorKind::kFormat,
               {"train_00000.bin", "token 7 has id 50 >= vocab size 50"});
}

TEST_F(CorruptShard, HeaderOnlyCheckSkipsThePayload) {
  test::flip_byte(path_, kShardHeaderBytes + 1);
  const std::string b = read_bytes(path_);
  EXPECT_NO_THROW(shard_validate(path_, reinterpret_cast<const uint8_t*>(b.data()), b.size(), false));
}

}  // namespace
}  // namespace frugal::data

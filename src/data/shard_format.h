// Token shard files (train_00000.bin, val_00000.bin, ...): a fixed 64-byte little-endian header,
// then the token ids packed as uint16 (vocabularies up to 65536) or uint32. The header carries a
// magic, a format version, the token width, the count, the tokenizer's vocabulary size and EOS id
// and the zlib CRC32 of the payload, so a shard can be checked on its own (llm.c-style headers,
// docs/conventions.md, Binary formats) and a flipped or truncated byte is an error naming the
// file, never silent garbage.
//
// Header layout (all fields little-endian):
//   offset  size  field
//        0     8  magic "FRGLTOK\0"
//        8     4  version (kShardVersion)
//       12     4  header bytes (64)
//       16     4  token bytes: 2 (uint16) or 4 (uint32)
//       20     4  crc32 of the payload bytes
//       24     8  tokens (payload = tokens * token bytes)
//       32     8  vocab_size (every id is < vocab_size)
//       40     4  eos_id
//       44     4  reserved (0)
//       48     8  documents (EOS tokens in this shard)
//       56     8  reserved (0)
// 64 bytes keep the payload 64-byte aligned inside an mmapped file.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace frugal::data {

inline constexpr char kShardMagic[8] = {'F', 'R', 'G', 'L', 'T', 'O', 'K', '\0'};
inline constexpr uint32_t kShardVersion = 1;
inline constexpr size_t kShardHeaderBytes = 64;

struct ShardHeader {
  uint32_t version = kShardVersion;
  uint32_t token_bytes = 2;  // 2 = uint16, 4 = uint32
  uint32_t crc32 = 0;        // of the payload
  int64_t tokens = 0;
  int64_t vocab_size = 0;
  int32_t eos_id = -1;
  int64_t documents = 0;
  int64_t max_id = -1;  // largest id in the payload; set only when the payload was checked
};

// 2 when every id fits uint16 (vocab_size <= 65536), else 4.
uint32_t token_bytes_for_vocab(int64_t vocab_size);
const char* token_dtype_name(uint32_t token_bytes);  // "uint16" / "uint32"

// zlib CRC32 over any length (zlib's crc32() takes a 32-bit length; this feeds it in pieces).
uint32_t crc32_of(const void* data, size_t n, uint32_t crc = 0);

// The whole file (header + payload) for `tokens`; every id must be in [0, vocab_size).
// Throws kInternal for an id out of range (the writer's bug, not the user's).
std::string shard_serialize(const int32_t* tokens, int64_t n, int64_t vocab_size, int32_t eos_id, int64_t documents);
// Atomic (core/file.h). Returns the header written.
ShardHeader shard_write(const std::string& path, const int32_t* tokens, int64_t n, int64_t vocab_size, int32_t eos_id,
                        int64_t documents);

// Checks `bytes` (a whole shard file, e.g. mmapped) and returns its header. Throws kFormat naming
// `path` and the problem: too short for a header, bad magic, unknown version, bad token width,
// truncated or trailing bytes, checksum mismatch, token id >= vocab_size. `check_payload` = false
// skips the CRC and id scan (header and size checks only).
ShardHeader shard_validate(const std::string& path, const uint8_t* bytes, size_t size, bool check_payload = true);

}  // namespace frugal::data

#include "data/shard_format.h"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "core/file.h"

namespace frugal::data {

static_assert(std::endian::native == std::endian::little, "shard headers and payloads are stored little-endian");

namespace {

template <typename T> void put(std::string& out, size_t off, T v) { std::memcpy(out.data() + off, &v, sizeof v); }
template <typename T> T get(const uint8_t* p, size_t off) {
  T v;
  std::memcpy(&v, p + off, sizeof v);
  return v;
}

// Scans the payload: the first index with id >= vocab_size (or -1) and the largest id.
template <typename U>
int64_t scan_ids(const uint8_t* payload, int64_t n, int64_t vocab_size, int64_t* bad_id, int64_t* max_id) {
  int64_t mx = -1;
  for (int64_t i = 0; i < n; ++i) {
    U v;
    std::memcpy(&v, payload + size_t(i) * sizeof(U), sizeof(U));
    if (int64_t(v) >= vocab_size) {
      *bad_id = int64_t(v);
      return i;
    }
    mx = std::max(mx, int64_t(v));
  }
  *max_id = mx;
  return -1;
}

}  // namespace

uint32_t token_bytes_for_vocab(int64_t vocab_size) { return vocab_size <= 65536 ? 2 : 4; }

const char* token_dtype_name(uint32_t token_bytes) { return token_bytes == 2 ? "uint16" : "uint32"; }

uint32_t crc32_of(const void* data, size_t n, uint32_t crc) {
  const auto* p = static_cast<const Bytef*>(data);
  uLong c = crc;
  while (n > 0) {
    const size_t chunk = std::min<size_t>(n, size_t(1) << 30);
    c = crc32(c, p, uInt(chunk));
    p += chunk;
    n -= chunk;
  }
  return uint32_t(c);
}

std::string shard_serialize(const int32_t* tokens, int64_t n, int64_t vocab_size, int32_t eos_id, int64_t documents) {
  FRUGAL_ASSERT(n >= 0 && vocab_size > 0 && vocab_size <= (int64_t(1) << 31), "n {} vocab {}", n, vocab_size);
  const uint32_t tb = token_bytes_for_vocab(vocab_size);
  std::string out(kShardHeaderBytes + size_t(n) * tb, '\0');
  uint8_t* payload = reinterpret_cast<uint8_t*>(out.data()) + kShardHeaderBytes;
  for (int64_t i = 0; i < n; ++i) {
    FRUGAL_ASSERT(tokens[i] >= 0 && tokens[i] < vocab_size, "token {} at {} outside vocab {}", tokens[i], i,
                  vocab_size);
    if (tb == 2) {
      const uint16_t v = uint16_t(tokens[i]);
      std::memcpy(payload + size_t(i) * 2, &v, 2);
    } else {
      const uint32_t v = uint32_t(tokens[i]);
      std::memcpy(payload + size_t(i) * 4, &v, 4);
    }
  }
  std::memcpy(out.data(), kShardMagic, sizeof kShardMagic);
  put<uint32_t>(out, 8, kShardVersion);
  put<uint32_t>(out, 12, uint32_t(kShardHeaderBytes));
  put<uint32_t>(out, 16, tb);
  put<uint32_t>(out, 20, crc32_of(payload, size_t(n) * tb));
  put<uint64_t>(out, 24, uint64_t(n));
  put<uint64_t>(out, 32, uint64_t(vocab_size));
  put<uint32_t>(out, 40, uint32_t(eos_id));
  put<uint64_t>(out, 48, uint64_t(documents));
  return out;
}

ShardHeader shard_write(const std::string& path, const int32_t* tokens, int64_t n, int64_t vocab_size, int32_t eos_id,
                        int64_t documents) {
  const std::string bytes = shard_serialize(tokens, n, vocab_size, eos_id, documents);
  write_file_atomic(path, bytes);
  return shard_validate(path, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), false);
}

ShardHeader shard_validate(const std::string& path, const uint8_t* bytes, size_t size, bool check_payload) {
  // Magic first (on the bytes there are), so a short file of something else is not "truncated".
  if (size > 0 && std::memcmp(bytes, kShardMagic, std::min(size, sizeof kShardMagic)) != 0)
    fail(ErrorKind::kFormat, "token shard {}: bad magic (not a frugal token shard; expected \"FRGLTOK\")", path);
  if (size < kShardHeaderBytes)
    fail(ErrorKind::kFormat, "token shard {}: truncated: {} bytes, shorter than the {}-byte header", path, size,
         kShardHeaderBytes);
  ShardHeader h;
  h.version = get<uint32_t>(bytes, 8);
  if (h.version != kShardVersion)
    fail(ErrorKind::kFormat, "token shard {}: unknown format version {} (this build reads version {})", path,
         h.version, kShardVersion);
  const uint32_t header_bytes = get<uint32_t>(bytes, 12);
  if (header_bytes != kShardHeaderBytes)
    fail(ErrorKind::kFormat, "token shard {}: header size {} (expected {})", path, header_bytes, kShardHeaderBytes);
  h.token_bytes = get<uint32_t>(bytes, 16);
  if (h.token_bytes != 2 && h.token_bytes != 4)
    fail(ErrorKind::kFormat, "token shard {}: token width {} bytes (expected 2 or 4)", path, h.token_bytes);
  h.crc32 = get<uint32_t>(bytes, 20);
  const uint64_t tokens = get<uint64_t>(bytes, 24), vocab = get<uint64_t>(bytes, 32);
  h.eos_id = int32_t(get<uint32_t>(bytes, 40));
  const uint64_t documents = get<uint64_t>(bytes, 48);
  if (vocab == 0 || vocab > (uint64_t(1) << 31) || (h.token_bytes == 2 && vocab > 65536))
    fail(ErrorKind::kFormat, "token shard {}: vocab size {} does not fit {}-byte tokens", path, vocab, h.token_bytes);
  h.vocab_size = int64_t(vocab);
  if (h.eos_id < 0 || int64_t(h.eos_id) >= h.vocab_size)
    fail(ErrorKind::kFormat, "token shard {}: eos id {} outside the vocabulary of {}", path, h.eos_id, vocab);
  const uint64_t payload_bytes = size - kShardHeaderBytes;
  if (tokens > payload_bytes / h.token_bytes)
    fail(ErrorKind::kFormat, "token shard {}: truncated: header says {} tokens ({} bytes) but the file holds {} bytes",
         path, tokens, kShardHeaderBytes + tokens * h.token_bytes, size);
  if (payload_bytes != tokens * h.token_bytes)
    fail(ErrorKind::kFormat, "token shard {}: {} trailing bytes after the {} tokens the header declares", path,
         payload_bytes - tokens * h.token_bytes, tokens);
  if (documents > tokens)
    fail(ErrorKind::kFormat, "token shard {}: {} documents in {} tokens", path, documents, tokens);
  h.tokens = int64_t(tokens);
  h.documents = int64_t(documents);
  if (!check_payload) return h;
  const uint8_t* payload = bytes + kShardHeaderBytes;
  const uint32_t crc = crc32_of(payload, payload_bytes);
  if (crc != h.crc32)
    fail(ErrorKind::kFormat,
         "token shard {}: checksum mismatch (payload CRC32 {:08x}, header says {:08x}): the file is corrupt; "
         "re-run `frugal data prepare`",
         path, crc, h.crc32);
  int64_t bad_id = 0;
  const int64_t at = h.token_bytes == 2 ? scan_ids<uint16_t>(payload, h.tokens, h.vocab_size, &bad_id, &h.max_id)
                                        : scan_ids<uint32_t>(payload, h.tokens, h.vocab_size, &bad_id, &h.max_id);
  if (at >= 0)
    fail(ErrorKind::kFormat, "token shard {}: token {} has id {} >= vocab size {}", path, at, bad_id, h.vocab_size);
  return h;
}

}  // namespace frugal::data

// Token shards (train_00000.bin, src/data/shard_format.h): the input is a whole shard file. It is
// checked twice: as it is, and with the header's CRC32 replaced by the payload's real one, so the
// fuzzer also reaches the id scan and the reader behind a valid checksum. A shard that passes is
// opened as a TokenSource and every token is read.
#include <zlib.h>

#include <cstring>

#include "data/shard_format.h"
#include "data/token_source.h"
#include "fuzz_util.h"

using namespace frugal;

namespace {

void check(const fuzz::ScratchDir& dir, std::string_view bytes) {
  const std::string path = dir.put("train_00000.bin", bytes);
  fuzz::run_guarded([&] {
    const data::ShardHeader h =
        data::shard_validate(path, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), true);
    const data::TokenSource s = data::TokenSource::open(path);
    if (s.size() != h.tokens || s.max_id() != h.max_id) fuzz::bug("shard reader", "TokenSource", "disagrees with shard_validate");
    std::vector<int32_t> ids(size_t(s.size()));
    s.read(0, s.size(), ids.data());
    for (int32_t id : ids)
      if (id < 0 || id >= s.vocab_size()) fuzz::bug("shard reader", "TokenSource", "id outside the vocabulary");
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::ScratchDir dir;
  std::string bytes(reinterpret_cast<const char*>(data), size);
  check(dir, bytes);
  if (bytes.size() >= data::kShardHeaderBytes) {
    const uint32_t crc = data::crc32_of(bytes.data() + data::kShardHeaderBytes, bytes.size() - data::kShardHeaderBytes);
    for (int i = 0; i < 4; ++i) bytes[20 + i] = char((crc >> (8 * i)) & 0xff);
    check(dir, bytes);
  }
  return 0;
}

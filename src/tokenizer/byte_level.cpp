#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/utf8.h"

namespace frugal::tok {
namespace {

struct Tables {
  std::array<uint32_t, 256> to_char{};
  std::array<int16_t, 324> to_byte{};  // code points 0..323 cover the whole alphabet
  Tables() {
    to_byte.fill(-1);
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      to_char[size_t(b)] = printable ? uint32_t(b) : next++;
      to_byte[to_char[size_t(b)]] = int16_t(b);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

const char* const kByteLevelPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

uint32_t byte_to_char(uint8_t b) { return tables().to_char[b]; }

int char_to_byte(uint32_t cp) { return cp < 324 ? tables().to_byte[cp] : -1; }

std::string bytes_to_symbols(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) utf8_append(out, byte_to_char(b));
  return out;
}

bool symbols_to_bytes(std::string_view token, std::string& out) {
  const size_t mark = out.size();
  const auto* p = reinterpret_cast<const uint8_t*>(token.data());
  size_t i = 0;
  while (i < token.size()) {
    int bad = 0;
    const int len = utf8_char_len(p + i, token.size() - i, &bad);
    const int b = len > 0 ? char_to_byte(utf8_decode(p + i, len)) : -1;
    if (b < 0) {
      out.resize(mark);
      return false;
    }
    out += char(b);
    i += size_t(len);
  }
  return true;
}

}  // namespace frugal::tok

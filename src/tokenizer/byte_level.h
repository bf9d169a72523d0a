// The GPT-2 byte-level alphabet: each of the 256 bytes maps to one printable code point (printable
// ASCII and most of Latin-1 map to themselves, the rest to U+0100..U+0143), so any byte string
// becomes a string of vocabulary characters and back without loss.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace frugal::tok {

uint32_t byte_to_char(uint8_t b);
// The byte a code point stands for, or -1 when the code point is not in the alphabet.
int char_to_byte(uint32_t cp);

// Maps raw bytes to the UTF-8 of their alphabet characters ("Ġ" for a space).
std::string bytes_to_symbols(std::string_view bytes);
// Appends the bytes `token` stands for; false (nothing appended) when a character of it is outside
// the alphabet, in which case the reference decoder keeps the token's own UTF-8 bytes.
bool symbols_to_bytes(std::string_view token, std::string& out);

// The GPT-2 pre-tokenizer pattern ByteLevel uses when use_regex is true.
extern const char* const kByteLevelPattern;

}  // namespace frugal::tok

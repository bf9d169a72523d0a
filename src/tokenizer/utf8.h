// UTF-8 helpers with Rust's rules (the reference takes a Rust &str and decodes with
// String::from_utf8_lossy): surrogates, overlongs and code points above U+10FFFF are invalid.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace frugal::tok {

// Length of the valid UTF-8 character at s[0] (1..4), or 0 when s starts an invalid sequence; then
// *bad is the length of its maximal valid prefix (>= 1), the unit that becomes one U+FFFD.
int utf8_char_len(const uint8_t* s, size_t n, int* bad);

// Decodes the valid character at s (length len from utf8_char_len).
uint32_t utf8_decode(const uint8_t* s, int len);
void utf8_append(std::string& out, uint32_t cp);

// Replaces each maximal invalid subsequence by U+FFFD (String::from_utf8_lossy).
std::string utf8_lossy(std::string_view bytes);
bool utf8_valid(std::string_view s);

// Unicode properties as Rust's char methods define them (utf8proc tables).
bool is_numeric(uint32_t cp);       // general category N*
bool is_alphanumeric(uint32_t cp);  // L* or N*
bool is_whitespace(uint32_t cp);    // White_Space property

}  // namespace frugal::tok

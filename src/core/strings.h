// Small string helpers that several layers need alike.
#pragma once
#include <string>
#include <string_view>

namespace frugal {

// ASCII whitespace, the set C's isspace() tests in the "C" locale.
inline constexpr std::string_view kAsciiSpace = " \t\n\r\f\v";

// `s` without leading and trailing characters from `chars`.
std::string_view trim(std::string_view s, std::string_view chars = kAsciiSpace);

// Untrusted bytes made safe to print in an error message: printable ASCII stays, every other byte
// (control characters, all non-ASCII, so never invalid UTF-8) becomes \xNN.
std::string escape_bytes(std::string_view s);

}  // namespace frugal

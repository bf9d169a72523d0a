// cpp-httplib as Debian builds it: libcpp-httplib.so is compiled with OpenSSL, zlib and Brotli
// support, and the header's class layouts depend on those macros, so every file that includes
// <httplib.h> must define them exactly as the library was built (its pkg-config Cflags). Link with
// -lcpp-httplib.
#pragma once
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#define CPPHTTPLIB_OPENSSL_SUPPORT
#endif
#ifndef CPPHTTPLIB_ZLIB_SUPPORT
#define CPPHTTPLIB_ZLIB_SUPPORT
#endif
#ifndef CPPHTTPLIB_BROTLI_SUPPORT
#define CPPHTTPLIB_BROTLI_SUPPORT
#endif
#include <httplib.h>

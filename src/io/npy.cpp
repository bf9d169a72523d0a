#include "io/npy.h"

#include <cstring>
#include <limits>
#include <optional>
#include <string_view>

#include "core/error.h"
#include "core/file.h"
#include "core/strings.h"

namespace frugal {

namespace {

// Format: "\x93NUMPY", major, minor, header length (u16 in 1.0, u32 in 2.0/3.0, little-endian),
// then a Python dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...)}, then raw data.
constexpr std::string_view kMagic("\x93NUMPY", 6);
constexpr size_t kHeaderAlign = 64;  // numpy aligns the data start so it can be mapped in place

// numpy type strings for the dtypes that have one (BF16 and FP8 do not exist in numpy).
struct NpyKind {
  DType dtype;
  char kind;  // 'f' float, 'i' signed, 'u' unsigned, 'b' bool
};
constexpr NpyKind kKinds[] = {
    {DType::kF16, 'f'}, {DType::kF32, 'f'}, {DType::kF64, 'f'}, {DType::kI8, 'i'},  {DType::kI16, 'i'},
    {DType::kI32, 'i'}, {DType::kI64, 'i'}, {DType::kU8, 'u'},  {DType::kU16, 'u'}, {DType::kU32, 'u'},
    {DType::kU64, 'u'}, {DType::kBool, 'b'},
};

std::optional<DType> dtype_for(char kind, size_t size) {
  for (const NpyKind& k : kKinds)
    if (k.kind == kind && dtype_size(k.dtype) == size) return k.dtype;
  return std::nullopt;
}

std::optional<std::string> descr_for(DType t) {
  for (const NpyKind& k : kKinds)
    if (k.dtype == t) {
      const size_t size = dtype_size(t);
      return fmt::format("{}{}{}", size == 1 ? '|' : '<', k.kind, size);
    }
  return std::nullopt;
}

// '<f4' -> F32 etc. Byte order: '<' little, '|' not applicable (1-byte types only), '=' native,
// which is little on every host we build for; '>' is big-endian and rejected for multi-byte types.
DType parse_descr(const std::string& descr, const std::string& path) {
  const std::string shown = escape_bytes(descr);
  if (descr.size() < 3)
    fail(ErrorKind::kFormat, "{}: descr '{}' is not a numpy type string like '<f4'", path, shown);
  const char order = descr[0], kind = descr[1];
  size_t size = 0;
  for (size_t i = 2; i < descr.size(); ++i) {
    if (descr[i] < '0' || descr[i] > '9' || size > 1000)
      fail(ErrorKind::kFormat, "{}: descr '{}' is not a numpy type string like '<f4'", path, shown);
    size = size * 10 + size_t(descr[i] - '0');
  }
  if (order != '<' && order != '>' && order != '|' && order != '=')
    fail(ErrorKind::kFormat, "{}: descr '{}' has an unknown byte order (expected '<', '|' or '=')", path, shown);
  auto dt = dtype_for(kind, size);
  if (!dt) fail(ErrorKind::kUnsupported, "{}: numpy dtype '{}' is not supported", path, shown);
  if (size > 1 && order == '>')
    fail(ErrorKind::kUnsupported, "{}: big-endian dtype '{}' is not supported (expected little-endian '<')", path,
         shown);
  if (size > 1 && order == '|')
    fail(ErrorKind::kFormat, "{}: descr '{}' has no byte order but its elements are {} bytes", path, shown, size);
  return *dt;
}

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  Shape shape;
};

// A parser for the one Python literal numpy writes: a dict of string keys to a string, a bool and
// a tuple of ints. It accepts what numpy's own writers produce ('...' or "..." strings, trailing
// commas, Python 2 "2L" longs) and nothing that would need an eval.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& path) : s_(text), path_(path) {}

  NpyHeader parse() {
    NpyHeader h;
    bool seen_descr = false, seen_order = false, seen_shape = false;
    expect('{');
    while (true) {
      skip_ws();
      if (peek() == '}') break;
      const std::string key = parse_string();
      expect(':');
      if (key == "descr") {
        mark_seen(seen_descr, key);
        skip_ws();
        if (peek() != '\'' && peek() != '"')
          error("'descr' must be a type string such as '<f4' (structured dtypes are not supported)");
        h.descr = parse_string();
      } else if (key == "fortran_order") {
        mark_seen(seen_order, key);
        h.fortran_order = parse_bool();
      } else if (key == "shape") {
        mark_seen(seen_shape, key);
        h.shape = parse_shape();
      } else {
        error(fmt::format("unexpected key '{}' (expected descr, fortran_order, shape)", escape_bytes(key)));
      }
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != '}') error("expected ',' or '}' after a value");
    }
    ++pos_;  // '}'
    skip_ws();
    if (pos_ != s_.size()) error("unexpected characters after the closing '}'");
    if (!seen_descr || !seen_order || !seen_shape) error("header must contain 'descr', 'fortran_order' and 'shape'");
    return h;
  }

 private:
  [[noreturn]] void error(const std::string& what) const {
    fail(ErrorKind::kFormat, "{}: malformed npy header at byte {}: {} (header: {})", path_, pos_, what,
         escape_bytes(s_.substr(0, 200)));
  }
  void mark_seen(bool& seen, const std::string& key) {
    if (seen) error(fmt::format("duplicate key '{}'", key));
    seen = true;
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  void expect(char c) {
    skip_ws();
    if (peek() != c) error(fmt::format("expected '{}'", c));
    ++pos_;
  }
  bool consume_word(std::string_view w) {
    if (s_.substr(pos_, w.size()) != w) return false;
    pos_ += w.size();
    return true;
  }

  std::string parse_string() {
    skip_ws();
    const char quote = peek();
    if (quote != '\'' && quote != '"') error("expected a quoted string");
    const size_t start = ++pos_;
    while (pos_ < s_.size() && s_[pos_] != quote) {
      if (s_[pos_] == '\\') error("escape sequences are not supported in header strings");
      ++pos_;
    }
    if (pos_ >= s_.size()) error("unterminated string");
    return std::string(s_.substr(start, pos_++ - start));
  }

  bool parse_bool() {
    skip_ws();
    if (consume_word("True")) return true;
    if (consume_word("False")) return false;
    error("expected True or False");
  }

  int64_t parse_dim() {
    skip_ws();
    if (peek() == '-') error("negative dimension in 'shape'");
    if (peek() < '0' || peek() > '9') error("expected a non-negative integer in 'shape'");
    int64_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      const int digit = peek() - '0';
      if (v > (std::numeric_limits<int64_t>::max() - digit) / 10) error("dimension does not fit int64");
      v = v * 10 + digit;
      ++pos_;
    }
    if (peek() == 'L') ++pos_;  // Python 2 numpy wrote longs as "2L"
    return v;
  }

  // "()", "(3,)", "(2, 3)", "(2, 3,)" — a tuple, so a single element needs its comma.
  Shape parse_shape() {
    expect('(');
    Shape shape;
    skip_ws();
    if (peek() == ')') {
      ++pos_;
      return shape;
    }
    while (true) {
      shape.push_back(parse_dim());
      skip_ws();
      if (peek() == ')') {
        if (shape.size() == 1) error("a one-element shape must be written '(n,)'");
        ++pos_;
        return shape;
      }
      if (peek() != ',') error("expected ',' or ')' in 'shape'");
      ++pos_;
      skip_ws();
      if (peek() == ')') {
        ++pos_;
        return shape;
      }
    }
  }

  std::string_view s_;
  const std::string& path_;
  size_t pos_ = 0;
};

uint32_t load_le(const uint8_t* p, size_t n) {
  uint32_t v = 0;
  for (size_t i = n; i-- > 0;) v = (v << 8) | p[i];
  return v;
}

// Element count times element size, checked: the shape comes from an untrusted file.
size_t checked_nbytes(const Shape& shape, DType t, const std::string& path) {
  uint64_t n = dtype_size(t);
  for (int64_t d : shape)
    if (__builtin_mul_overflow(n, uint64_t(d), &n))
      fail(ErrorKind::kFormat, "{}: shape {} is too large (byte count overflows)", path, shape_str(shape));
  if (n > uint64_t(std::numeric_limits<int64_t>::max()))
    fail(ErrorKind::kFormat, "{}: shape {} is too large", path, shape_str(shape));
  return size_t(n);
}

}  // namespace

Tensor npy_read(const std::string& path) {
  MappedFile file(path);
  const uint8_t* p = file.data();
  const size_t size = file.size();
  if (size < kMagic.size() + 2 || std::memcmp(p, kMagic.data(), kMagic.size()) != 0)
    fail(ErrorKind::kFormat, "{}: not an npy file (missing the \\x93NUMPY magic)", path);
  const int major = p[6], minor = p[7];
  if ((major != 1 && major != 2 && major != 3) || minor != 0)
    fail(ErrorKind::kFormat, "{}: unsupported npy format version {}.{} (expected 1.0, 2.0 or 3.0)", path, major,
         minor);
  const size_t len_bytes = major == 1 ? 2 : 4;
  const size_t prefix = 8 + len_bytes;
  if (size < prefix) fail(ErrorKind::kFormat, "{}: file ends inside the npy header length ({} bytes)", path, size);
  const size_t header_len = load_le(p + 8, len_bytes);
  if (header_len > size - prefix)
    fail(ErrorKind::kFormat, "{}: npy header length {} exceeds the {} bytes left in the file", path, header_len,
         size - prefix);

  const std::string_view text(reinterpret_cast<const char*>(p + prefix), header_len);
  const NpyHeader h = HeaderParser(text, path).parse();
  if (h.fortran_order)
    fail(ErrorKind::kUnsupported, "{}: fortran_order True is not supported (expected a C-order array)", path);
  const DType dtype = parse_descr(h.descr, path);
  const size_t nbytes = checked_nbytes(h.shape, dtype, path);

  const size_t data_start = prefix + header_len;
  const size_t available = size - data_start;
  if (available < nbytes)
    fail(ErrorKind::kFormat, "{}: truncated: {} {} needs {} bytes of data, found {}", path, h.descr,
         shape_str(h.shape), nbytes, available);
  if (available > nbytes)
    fail(ErrorKind::kFormat, "{}: {} unexpected trailing bytes after the {} bytes of {} {}", path, available - nbytes,
         nbytes, h.descr, shape_str(h.shape));

  Tensor t = Tensor::zeros(dtype, h.shape);
  if (nbytes) std::memcpy(t.data(), p + data_start, nbytes);
  return t;
}

std::string npy_serialize(const Tensor& t) {
  const auto descr = descr_for(t.dtype());
  if (!descr)
    fail(ErrorKind::kUnsupported, "cannot write {} as npy: numpy has no such dtype (convert to F32 first)",
         dtype_name(t.dtype()));
  std::string shape = "(";
  for (size_t i = 0; i < t.shape().size(); ++i) shape += (i ? ", " : "") + std::to_string(t.shape()[i]);
  if (t.shape().size() == 1) shape += ",";
  shape += ")";
  std::string dict = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", *descr, shape);

  // Version 1.0 unless the header outgrows its u16 length (only for absurd ranks).
  const bool v1 = kMagic.size() + 4 + dict.size() + kHeaderAlign <= 0xffff;
  const size_t prefix = kMagic.size() + 2 + (v1 ? 2 : 4);
  const size_t unpadded = prefix + dict.size() + 1;  // + '\n'
  dict.append((kHeaderAlign - unpadded % kHeaderAlign) % kHeaderAlign, ' ');
  dict += '\n';

  const Tensor c = t.is_contiguous() ? t : t.contiguous();
  std::string out(kMagic);
  out += char(v1 ? 1 : 2);
  out += char(0);
  for (size_t i = 0; i < (v1 ? 2u : 4u); ++i) out += char((dict.size() >> (8 * i)) & 0xff);
  out += dict;
  if (c.nbytes()) out.append(static_cast<const char*>(c.data()), c.nbytes());
  return out;
}

void npy_write(const std::string& path, const Tensor& t) { write_file_atomic(path, npy_serialize(t)); }

}  // namespace frugal

// Helpers for the data-pipeline tests: the small test tokenizer, tiny corpora, hand-made .npy files.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "data/prepare.h"
#include "data/shard_format.h"
#include "data/token_source.h"
#include "test_util.h"

namespace frugal::data::test {

using frugal::test::TempDir;

// A 4k-vocabulary byte-level BPE with the DeepSeek special tokens (EOS "<｜end▁of▁sentence｜>").
inline std::string tokenizer_path() {
  return std::string(FRUGAL_TEST_DATA) + "/tokenizer/llama3_style/tokenizer.json.gz";
}

inline const Tokenizer& test_tokenizer() {
  static const Tokenizer tok = Tokenizer::load(tokenizer_path());
  return tok;
}

inline std::string write_text(const TempDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir.file(name);
  frugal::test::write_bytes(path, text);
  return path;
}

inline PrepareOptions prepare_options(const TempDir& dir, std::vector<std::string> inputs,
                                      const std::string& out = "out") {
  PrepareOptions o;
  o.tokenizer = tokenizer_path();
  o.inputs = std::move(inputs);
  o.out_dir = dir.file(out);
  o.progress = false;
  o.threads = 2;
  return o;
}

// A .npy file with a 1-D array of `n` elements of numpy type `descr` ('<i2', '|u1', ...).
inline std::string npy_bytes(const std::string& descr, const void* data, size_t n, size_t elem_bytes,
                             const std::string& shape = "") {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" +
                     (shape.empty() ? std::to_string(n) + "," : shape) + "), }";
  const size_t unpadded = 10 + dict.size() + 1;
  dict += std::string((64 - unpadded % 64) % 64, ' ') + "\n";
  std::string out("\x93NUMPY\x01\x00", 8);
  const uint16_t len = uint16_t(dict.size());
  out.append(reinterpret_cast<const char*>(&len), 2);
  out += dict;
  out.append(static_cast<const char*>(data), n * elem_bytes);
  return out;
}

// Flips one bit of the byte at `offset` of a file.
// Every id of a source, in order.
inline std::vector<int32_t> all_ids(const TokenSource& s) {
  std::vector<int32_t> out(static_cast<size_t>(s.size()));
  s.read(0, s.size(), out.data());
  return out;
}

inline void flip_byte(const std::string& path, size_t offset) {
  std::string b = frugal::test::read_bytes(path);
  b[offset] = char(b[offset] ^ 0x10);
  frugal::test::write_bytes(path, b);
}

}  // namespace frugal::data::test

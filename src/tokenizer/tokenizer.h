// Byte-level BPE tokenizers loaded from Hugging Face `tokenizer.json` (DeepSeek-V3, DeepSeek-R1,
// Qwen3, Llama 3, ...), reproducing Hugging Face `tokenizers` exactly: normalizers, pre-tokenizers,
// the BPE model, added tokens, the post-processor and the ByteLevel decoder.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace frugal {

class Tokenizer {
 public:
  // `path` is a tokenizer.json file, a directory holding one, a .gz of it, or a .gguf file's
  // embedded vocabulary (tokenizer/gguf_vocab.h). Throws
  // frugal::Error naming the file and the field for malformed or unsupported input.
  static Tokenizer load(const std::string& path);
  static Tokenizer from_json_text(std::string_view json_text, const std::string& source);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Text -> ids. add_special_tokens applies the post-processor (e.g. DeepSeek's BOS).
  // Special tokens written in the text are matched as added tokens (as Hugging Face does).
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = false) const;
  // Appends the ids of `text` (no post-processor) to `out`, giving up as soon as more than
  // `max_tokens` would be appended: then returns false and `out` holds a prefix of the encoding.
  // The work is about that of encoding max_tokens tokens, plus a linear scan of the text for
  // added tokens and pre-token pieces, so an oversized prompt is refused cheaply.
  bool encode_at_most(std::string_view text, size_t max_tokens, std::vector<int32_t>& out) const;
  // Ids -> text; incomplete UTF-8 at the end or inside decodes to U+FFFD like Hugging Face.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

  // Encodes many texts on `threads` threads (0 = all cores); results are in input order.
  std::vector<std::vector<int32_t>> encode_batch(const std::vector<std::string>& texts, bool add_special_tokens = false,
                                                 int threads = 0) const;
  // The pre-tokenizer pieces of `text` (after added-token splitting and normalization), as raw
  // bytes; added tokens themselves are left out. For tests and debugging.
  std::vector<std::string> pre_tokenize(std::string_view text) const;

  int64_t vocab_size() const;  // largest id + 1, added tokens included
  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(int32_t id) const;
  bool is_special(int32_t id) const;

  struct Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace frugal

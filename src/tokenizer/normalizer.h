// Normalizers of tokenizer.json: null, NFC, NFD, NFKC, NFKD and Sequence of these. Normalization
// runs on valid UTF-8 only; invalid bytes pass through untouched so byte-level models stay lossless.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace frugal::tok {

class Normalizer {
 public:
  enum class Form { kNFC, kNFD, kNFKC, kNFKD };

  // `j` is the "normalizer" value (may be null); `where` names the file for errors.
  static Normalizer from_json(const nlohmann::json& j, const std::string& where);

  bool empty() const { return forms_.empty(); }
  std::string apply(std::string_view text) const;

 private:
  std::vector<Form> forms_;
};

}  // namespace frugal::tok

// The BPE model of tokenizer.json: vocabulary, ranked merges (either file format), ignore_merges,
// byte fallback and unk. Merging follows the reference exactly: repeatedly merge the adjacent pair
// of lowest rank, leftmost first.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace frugal::tok {

// Open-addressing map from a pair of token ids to (rank, merged id): the innermost lookup of BPE.
class MergeTable {
 public:
  struct Entry {
    uint64_t key;
    int32_t rank;
    int32_t id;
  };
  void reserve(size_t n);
  void insert(int32_t a, int32_t b, int32_t rank, int32_t id);  // a later duplicate wins, like the reference
  const Entry* find(int32_t a, int32_t b) const {
    const uint64_t k = key(a, b);
    for (size_t i = hash(k) & mask_;; i = (i + 1) & mask_) {
      const Entry& e = slots_[i];
      if (e.key == k) return &e;
      if (e.key == kEmpty) return nullptr;
    }
  }
  size_t size() const { return size_; }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t(0);
  static uint64_t key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
  static size_t hash(uint64_t k) { return size_t((k * 0x9E3779B97F4A7C15ull) >> 20); }
  void grow();
  std::vector<Entry> slots_;
  size_t mask_ = 0, size_ = 0;
};

// Token ids index dense tables (id -> token), so a single stray id of 2^26 would cost gigabytes
// whatever the size of the file. Hugging Face files number their tokens 0..n-1 (model.vocab, then
// added_tokens); gaps are tolerated while the unused ids stay fewer than the used ones (plus
// kTokenIdSlack), which keeps every table proportional to the file. `n_tokens` counts the
// entries of model.vocab and added_tokens.
inline constexpr int64_t kTokenIdSlack = 256;
inline int64_t token_id_limit(int64_t n_tokens) { return 2 * n_tokens + kTokenIdSlack; }
inline constexpr const char* kTokenIdLimitRule =
    "token ids may leave gaps but must stay below twice the number of tokens in model.vocab and added_tokens, plus 256";

class BpeModel {
 public:
  // `model` is the "model" object; `where` names the file for errors. Ids must lie below
  // `id_limit` (see tok::token_id_limit): the id -> token table is sized by the largest id.
  static BpeModel from_json(const nlohmann::json& model, const std::string& where, int64_t id_limit);

  // Appends the ids of one pre-token piece. With `byte_level` each byte starts as its alphabet
  // character; otherwise each UTF-8 character does (byte fallback or unk for unknown ones).
  void encode_word(std::string_view piece, bool byte_level, std::vector<int32_t>& out) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  const std::string* id_to_token(int32_t id) const;
  int32_t max_id() const { return int32_t(id_to_token_.size()) - 1; }
  // Runs of unknown characters fuse into one unk token (so one token can stand for any length).
  bool fuse_unk() const { return fuse_unk_ && unk_id_.has_value(); }

 private:
  void merge_symbols(std::vector<int32_t>& syms) const;
  std::unordered_map<std::string, int32_t> vocab_;
  std::vector<std::string> id_to_token_;
  std::vector<uint8_t> has_id_;
  MergeTable merges_;
  std::array<int32_t, 256> byte_ids_{};      // id of each byte's alphabet character, -1 if none
  std::array<int32_t, 256> fallback_ids_{};  // id of "<0xXX>", -1 if none
  std::optional<int32_t> unk_id_;
  bool byte_fallback_ = false, ignore_merges_ = false, fuse_unk_ = false;
};

}  // namespace frugal::tok

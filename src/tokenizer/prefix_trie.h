// Longest-prefix lookup over a fixed set of byte strings (added tokens, special-token texts). A
// lookup walks at most as many bytes as the longest key, whatever the number of keys: scanning
// every key at every text position cost text length x key count, and DeepSeek-V3's 818 added
// tokens almost all start with '<' (issue 12: 1 MiB of '<' took seconds).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace frugal::tok {

class PrefixTrie {
 public:
  struct Match {
    int32_t value = -1;  // -1: no key is a prefix
    size_t length = 0;   // bytes of the matched key
  };

  // Adds a non-empty `key` with `value` >= 0; a key added again keeps its first value.
  void add(std::string_view key, int32_t value);
  bool empty() const { return keys_ == 0; }
  // The longest key that is a prefix of `text`.
  Match longest_prefix(std::string_view text) const;

 private:
  struct Node {
    int32_t value = -1;
    std::vector<std::pair<uint8_t, uint32_t>> next;  // (byte, node index), sorted by byte
  };
  uint32_t child(uint32_t node, uint8_t byte) const;  // 0: none (the root is never a child)
  std::vector<Node> nodes_{Node{}};
  size_t keys_ = 0;
};

// The definition the trie is tested against: the longest of `keys` that is a prefix of `text`;
// among equal keys the first; the value is the key's index.
PrefixTrie::Match longest_prefix_ref(const std::vector<std::string>& keys, std::string_view text);

}  // namespace frugal::tok

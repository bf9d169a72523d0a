#include "tokenizer/prefix_trie.h"

#include <algorithm>

#include "core/error.h"

namespace frugal::tok {

uint32_t PrefixTrie::child(uint32_t node, uint8_t byte) const {
  const auto& next = nodes_[node].next;
  auto it = std::lower_bound(next.begin(), next.end(), byte,
                             [](const std::pair<uint8_t, uint32_t>& e, uint8_t b) { return e.first < b; });
  return it != next.end() && it->first == byte ? it->second : 0;
}

void PrefixTrie::add(std::string_view key, int32_t value) {
  FRUGAL_ASSERT(!key.empty() && value >= 0, "PrefixTrie keys are non-empty and values >= 0");
  uint32_t node = 0;
  for (char c : key) {
    const uint8_t b = uint8_t(c);
    uint32_t n = child(node, b);
    if (n == 0) {
      n = uint32_t(nodes_.size());
      nodes_.emplace_back();  // may move nodes_: look the parent up again below
      auto& next = nodes_[node].next;
      next.insert(std::upper_bound(next.begin(), next.end(), std::make_pair(b, uint32_t(0)),
                                   [](const auto& x, const auto& y) { return x.first < y.first; }),
                  {b, n});
    }
    node = n;
  }
  if (nodes_[node].value < 0) {
    nodes_[node].value = value;
    ++keys_;
  }
}

PrefixTrie::Match PrefixTrie::longest_prefix(std::string_view text) const {
  Match best;
  uint32_t node = 0;
  for (size_t k = 0; k < text.size(); ++k) {
    node = child(node, uint8_t(text[k]));
    if (node == 0) break;
    if (nodes_[node].value >= 0) best = {nodes_[node].value, k + 1};
  }
  return best;
}

PrefixTrie::Match longest_prefix_ref(const std::vector<std::string>& keys, std::string_view text) {
  PrefixTrie::Match best;
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::string& k = keys[i];
    if (k.empty() || k.size() > text.size() || text.compare(0, k.size(), k) != 0) continue;
    if (best.value < 0 || k.size() > best.length) best = {int32_t(i), k.size()};
  }
  return best;
}

}  // namespace frugal::tok

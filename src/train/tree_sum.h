// The one summation order of data-parallel training (docs/distributed.md, Determinism).
//
// A sum of n parts (micro-batch gradients, or ranks' partial sums) is the fixed binary tree
//   S(lo, hi) = S(lo, lo + h) + S(lo + h, hi),   h = the largest power of two < hi - lo
// so its left half is always a full power-of-two subtree. Why this tree: a rank that owns an
// aligned block of m = 2^a consecutive parts computes exactly one node of it, and the tree over the
// P block sums has the same shape as the top of the tree over all P·m parts (the split of P·m is h·m
// with h the split of P). So one process summing K parts and P ranks summing K/P parts each, then
// the P partial sums, perform the same additions on the same operands: bit-identical results.
// IEEE addition is commutative, so only the grouping matters, and the grouping is this tree.
#pragma once
#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

namespace frugal {

// The left part's size of a tree over n >= 2 parts: the largest power of two strictly below n.
inline int64_t tree_split(int64_t n) {
  int64_t h = 1;
  while (h * 2 < n) h *= 2;
  return h;
}

inline bool is_power_of_two(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

namespace tree_sum_detail {
// out[0, len) = S(lo, hi) of parts[p][b0 + i]; scratch holds one block per recursion level below.
template <class T>
void node(const std::vector<const T*>& parts, int64_t lo, int64_t hi, int64_t b0, int64_t len, T* out, T* scratch,
          int64_t block) {
  if (hi - lo == 1) {
    std::copy(parts[size_t(lo)] + b0, parts[size_t(lo)] + b0 + len, out);
    return;
  }
  const int64_t h = tree_split(hi - lo);
  node(parts, lo, lo + h, b0, len, out, scratch, block);
  node(parts, lo + h, hi, b0, len, scratch, scratch + block, block);
  for (int64_t i = 0; i < len; ++i) out[i] = out[i] + scratch[i];
}
}  // namespace tree_sum_detail

// out[i] = S(0, n_parts) of parts[p][i], element by element, for i in [0, n). `out` may alias
// parts[0]. T is float or double; each addition is rounded to T, as a streaming accumulation would.
template <class T>
void tree_sum(const std::vector<const T*>& parts, T* out, int64_t n) {
  const int64_t np = int64_t(parts.size());
  if (np == 0) return;
  // Blocks of elements keep the per-level temporaries in cache; each element's additions are
  // independent of the blocking. Depth of the tree <= log2(np) + 1 levels of scratch.
  constexpr int64_t kBlock = 2048;
  int64_t depth = 1;
  while ((int64_t(1) << (depth - 1)) < np) ++depth;
  std::vector<T> buf(size_t((depth + 1) * kBlock));
  for (int64_t b0 = 0; b0 < n; b0 += kBlock) {
    const int64_t len = std::min<int64_t>(kBlock, n - b0);
    tree_sum_detail::node(parts, 0, np, b0, len, buf.data(), buf.data() + kBlock, kBlock);
    std::copy(buf.data(), buf.data() + len, out + b0);
  }
}

// The same tree over parts that arrive one at a time (micro-batch gradients computed in order):
// push() copies each part, merges equal-size neighbours at once, and finish() folds the rest, so
// at most about log2(parts) buffers of n elements are held.
class TreeAccumulator {
 public:
  explicit TreeAccumulator(int64_t n) : n_(n) {}
  void push(const float* part) {
    stack_.emplace_back(std::vector<float>(part, part + n_), 1);
    while (stack_.size() >= 2 && stack_[stack_.size() - 1].second == stack_[stack_.size() - 2].second) merge_top();
  }
  // out = the tree sum of every part pushed (n elements; no parts: unchanged); starts over.
  void finish(float* out) {
    while (stack_.size() >= 2) merge_top();
    if (!stack_.empty()) std::copy(stack_[0].first.begin(), stack_[0].first.end(), out);
    stack_.clear();
  }

 private:
  void merge_top() {
    auto right = std::move(stack_.back());
    stack_.pop_back();
    auto& left = stack_.back();
    float* __restrict l = left.first.data();
    const float* __restrict r = right.first.data();
    for (int64_t i = 0; i < n_; ++i) l[i] = l[i] + r[i];
    left.second += right.second;
  }
  int64_t n_;
  std::vector<std::pair<std::vector<float>, int64_t>> stack_;  // (partial sum, parts in it)
};

}  // namespace frugal

#include "tokenizer/bpe.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/utf8.h"

namespace frugal::tok {

using json = nlohmann::json;

void MergeTable::reserve(size_t n) {
  size_t cap = 16;
  while (cap < n * 2) cap <<= 1;
  slots_.assign(cap, Entry{kEmpty, 0, 0});
  mask_ = cap - 1;
  size_ = 0;
}

void MergeTable::grow() {
  std::vector<Entry> old;
  old.swap(slots_);
  reserve(old.size());  // doubles: reserve(n) sizes for 2n
  for (const Entry& e : old)
    if (e.key != kEmpty) insert(int32_t(e.key >> 32), int32_t(uint32_t(e.key)), e.rank, e.id);
}

void MergeTable::insert(int32_t a, int32_t b, int32_t rank, int32_t id) {
  if (slots_.empty() || (size_ + 1) * 2 > slots_.size()) grow();
  const uint64_t k = key(a, b);
  for (size_t i = hash(k) & mask_;; i = (i + 1) & mask_) {
    Entry& e = slots_[i];
    if (e.key == k) {
      e.rank = rank;
      e.id = id;
      return;
    }
    if (e.key == kEmpty) {
      e = Entry{k, rank, id};
      ++size_;
      return;
    }
  }
}

namespace {

bool opt_bool(const json& m, const char* key, bool def, const std::string& where) {
  if (!m.contains(key) || m[key].is_null()) return def;
  if (!m[key].is_boolean()) fail(ErrorKind::kConfig, "{}: model.{} must be a boolean", where, key);
  return m[key].get<bool>();
}

std::string opt_string(const json& m, const char* key, const std::string& where) {
  if (!m.contains(key) || m[key].is_null()) return {};
  if (!m[key].is_string()) fail(ErrorKind::kConfig, "{}: model.{} must be a string", where, key);
  return m[key].get<std::string>();
}

}  // namespace

BpeModel BpeModel::from_json(const json& m, const std::string& where, int64_t id_limit) {
  if (!m.is_object()) fail(ErrorKind::kConfig, "{}: \"model\" must be an object", where);
  const std::string type = m.value("type", std::string("BPE"));
  if (type != "BPE")
    fail(ErrorKind::kUnsupported, "{}: model type \"{}\" is not supported (only byte-level BPE is)", where, type);
  if (!opt_string(m, "continuing_subword_prefix", where).empty() || !opt_string(m, "end_of_word_suffix", where).empty())
    fail(ErrorKind::kUnsupported, "{}: BPE continuing_subword_prefix/end_of_word_suffix are not supported", where);
  if (m.contains("dropout") && !m["dropout"].is_null() && m["dropout"].get<double>() != 0.0)
    fail(ErrorKind::kUnsupported, "{}: BPE dropout is not supported", where);
  BpeModel b;
  b.byte_fallback_ = opt_bool(m, "byte_fallback", false, where);
  b.ignore_merges_ = opt_bool(m, "ignore_merges", false, where);
  b.fuse_unk_ = opt_bool(m, "fuse_unk", false, where);

  if (!m.contains("vocab") || !m["vocab"].is_object())
    fail(ErrorKind::kConfig, "{}: model.vocab must be an object of token -> id", where);
  const json& vocab = m["vocab"];
  b.vocab_.reserve(vocab.size());
  int64_t max_id = -1;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer())
      fail(ErrorKind::kConfig, "{}: model.vocab[\"{}\"] must be an integer id", where, it.key());
    const int64_t id = it.value().get<int64_t>();
    if (id < 0 || id >= id_limit)
      fail(ErrorKind::kConfig, "{}: model.vocab[\"{}\"] has id {}, outside [0, {}): {}", where, it.key(), id, id_limit,
           kTokenIdLimitRule);
    max_id = std::max(max_id, id);
    b.vocab_.emplace(it.key(), int32_t(id));
  }
  b.id_to_token_.resize(size_t(max_id + 1));
  b.has_id_.assign(size_t(max_id + 1), 0);
  for (const auto& [tok, id] : b.vocab_) {
    if (b.has_id_[size_t(id)])
      fail(ErrorKind::kConfig, "{}: model.vocab gives id {} to both \"{}\" and \"{}\"", where, id,
           b.id_to_token_[size_t(id)], tok);
    b.has_id_[size_t(id)] = 1;
    b.id_to_token_[size_t(id)] = tok;
  }

  if (m.contains("unk_token") && m["unk_token"].is_string()) {
    auto u = b.token_to_id(m["unk_token"].get<std::string>());
    if (!u) fail(ErrorKind::kConfig, "{}: model.unk_token is not in the vocabulary", where);
    b.unk_id_ = *u;
  }
  for (int c = 0; c < 256; ++c) {
    std::string ch;
    utf8_append(ch, byte_to_char(uint8_t(c)));
    b.byte_ids_[size_t(c)] = b.token_to_id(ch).value_or(-1);
    b.fallback_ids_[size_t(c)] = b.token_to_id(fmt::format("<0x{:02X}>", c)).value_or(-1);
  }

  if (!m.contains("merges") || !m["merges"].is_array())
    fail(ErrorKind::kConfig, "{}: model.merges must be an array", where);
  const json& merges = m["merges"];
  b.merges_.reserve(merges.size());
  std::string left, right;
  for (size_t i = 0; i < merges.size(); ++i) {
    const json& e = merges[i];
    if (e.is_string()) {  // "a b" (older files)
      const std::string& s = e.get_ref<const std::string&>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
        fail(ErrorKind::kConfig, "{}: model.merges[{}] \"{}\" is not two tokens separated by one space", where, i, s);
      left.assign(s, 0, sp);
      right.assign(s, sp + 1);
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {  // ["a", "b"]
      left = e[0].get<std::string>();
      right = e[1].get<std::string>();
    } else {
      fail(ErrorKind::kConfig, "{}: model.merges[{}] must be \"a b\" or [\"a\", \"b\"]", where, i);
    }
    const auto a = b.token_to_id(left), c = b.token_to_id(right);
    if (!a || !c)
      fail(ErrorKind::kConfig, "{}: model.merges[{}] names \"{}\", which is not in the vocabulary", where, i,
           a ? right : left);
    const auto merged = b.token_to_id(left + right);
    if (!merged)
      fail(ErrorKind::kConfig, "{}: model.merges[{}] makes \"{}\", which is not in the vocabulary", where, i,
           left + right);
    b.merges_.insert(*a, *c, int32_t(i), *merged);
  }
  return b;
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
  auto it = vocab_.find(std::string(token));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
  if (id < 0 || size_t(id) >= has_id_.size() || !has_id_[size_t(id)]) return nullptr;
  return &id_to_token_[size_t(id)];
}

void BpeModel::encode_word(std::string_view piece, bool byte_level, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  thread_local std::vector<int32_t> syms;
  syms.clear();
  if (byte_level) {
    if (ignore_merges_) {
      if (auto id = token_to_id(bytes_to_symbols(piece))) {
        out.push_back(*id);
        return;
      }
    }
    for (unsigned char c : piece) {
      const int32_t id = byte_ids_[c];
      if (id >= 0) syms.push_back(id);
      else if (unk_id_ && !(fuse_unk_ && !syms.empty() && syms.back() == *unk_id_)) syms.push_back(*unk_id_);
      // Without unk the reference drops a character it cannot represent.
    }
  } else {
    if (ignore_merges_) {
      if (auto id = token_to_id(piece)) {
        out.push_back(*id);
        return;
      }
    }
    const auto* p = reinterpret_cast<const uint8_t*>(piece.data());
    for (size_t i = 0; i < piece.size();) {
      int bad = 0;
      int len = utf8_char_len(p + i, piece.size() - i, &bad);
      if (len == 0) len = bad;
      auto id = token_to_id(piece.substr(i, size_t(len)));
      if (id) {
        syms.push_back(*id);
      } else if (byte_fallback_ && std::all_of(p + i, p + i + len, [&](uint8_t c) { return fallback_ids_[c] >= 0; })) {
        for (int k = 0; k < len; ++k) syms.push_back(fallback_ids_[p[i + size_t(k)]]);
      } else if (unk_id_ && !(fuse_unk_ && !syms.empty() && syms.back() == *unk_id_)) {
        syms.push_back(*unk_id_);
      }
      i += size_t(len);
    }
  }
  merge_symbols(syms);
  out.insert(out.end(), syms.begin(), syms.end());
}

void BpeModel::merge_symbols(std::vector<int32_t>& syms) const {
  const size_t n = syms.size();
  if (n < 2) return;
  // Doubly linked symbols plus a min-heap of candidate merges keyed by (rank, position): popping in
  // that order is the reference's "lowest rank, leftmost" rule; stale entries are skipped on pop.
  struct Cand {
    int32_t rank;
    int32_t pos;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  thread_local std::vector<int32_t> prev, next;
  thread_local std::vector<Cand> heap;
  prev.resize(n);
  next.resize(n);
  heap.clear();
  for (size_t i = 0; i < n; ++i) {
    prev[i] = int32_t(i) - 1;
    next[i] = i + 1 < n ? int32_t(i + 1) : -1;
    if (i + 1 < n)
      if (const auto* e = merges_.find(syms[i], syms[i + 1])) heap.push_back({e->rank, int32_t(i)});
  }
  auto cmp = std::greater<Cand>();
  std::make_heap(heap.begin(), heap.end(), cmp);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), cmp);
    const Cand c = heap.back();
    heap.pop_back();
    const int32_t i = c.pos;
    if (syms[size_t(i)] < 0 || next[size_t(i)] < 0) continue;
    const int32_t j = next[size_t(i)];
    const auto* e = merges_.find(syms[size_t(i)], syms[size_t(j)]);
    if (!e || e->rank != c.rank) continue;  // this pair changed since the candidate was pushed
    syms[size_t(i)] = e->id;
    syms[size_t(j)] = -1;
    next[size_t(i)] = next[size_t(j)];
    if (next[size_t(j)] >= 0) prev[size_t(next[size_t(j)])] = i;
    if (prev[size_t(i)] >= 0) {
      const int32_t p = prev[size_t(i)];
      if (const auto* pe = merges_.find(syms[size_t(p)], syms[size_t(i)])) {
        heap.push_back({pe->rank, p});
        std::push_heap(heap.begin(), heap.end(), cmp);
      }
    }
    if (next[size_t(i)] >= 0) {
      if (const auto* ne = merges_.find(syms[size_t(i)], syms[size_t(next[size_t(i)])])) {
        heap.push_back({ne->rank, i});
        std::push_heap(heap.begin(), heap.end(), cmp);
      }
    }
  }
  size_t w = 0;
  for (size_t i = 0; i < n; ++i)
    if (syms[i] >= 0) syms[w++] = syms[i];
  syms.resize(w);
}

}  // namespace frugal::tok

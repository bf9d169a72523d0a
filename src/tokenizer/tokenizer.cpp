// Encoding and decoding: added-token split -> normalize -> added-token split -> pre-tokenize ->
// BPE (with a per-thread word cache) -> post-processor; decode maps ids to tokens and through the
// ByteLevel decoder with lossy UTF-8.
#include <algorithm>
#include <deque>
#include <atomic>
#include <exception>
#include <thread>

#include "core/error.h"
#include "core/gguf.h"
#include "tokenizer/gguf_vocab.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/utf8.h"

namespace frugal {
namespace {

// Words repeat heavily in text, so each thread remembers the ids of the words it has encoded (the
// reference caches words too). Per thread, so batch encoding needs no locks.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
struct WordCache {
  static constexpr size_t kMaxEntries = 1 << 17;
  static constexpr size_t kMaxWord = 256;  // longer pieces are rare and would bloat the cache
  uint64_t owner = 0;
  std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> map;
};

void encode_piece(const Tokenizer::Impl& im, std::string_view piece, std::vector<int32_t>& out) {
  thread_local WordCache cache;
  const bool byte_level = im.pretok.byte_level();
  if (piece.size() > WordCache::kMaxWord) {
    im.bpe.encode_word(piece, byte_level, out);
    return;
  }
  if (cache.owner != im.instance) {
    cache.map.clear();
    cache.owner = im.instance;
  }
  auto it = cache.map.find(piece);
  if (it != cache.map.end()) {
    out.insert(out.end(), it->second.begin(), it->second.end());
    return;
  }
  const size_t mark = out.size();
  im.bpe.encode_word(piece, byte_level, out);
  if (cache.map.size() >= WordCache::kMaxEntries) cache.map.clear();
  cache.map.emplace(std::string(piece), std::vector<int32_t>(out.begin() + std::ptrdiff_t(mark), out.end()));
}

// Splits on added tokens and normalizes: calls `text_fn` for plain text and `id_fn` for tokens,
// until `done()` says to stop (checked between segments).
template <typename TextFn, typename IdFn, typename Done>
void walk_segments(const Tokenizer::Impl& im, std::string_view text, TextFn text_fn, IdFn id_fn, Done done) {
  std::vector<tok::Segment> raw, norm;
  im.raw_matcher.split(text, raw);
  for (const auto& s : raw) {
    if (done()) return;
    if (s.id >= 0) {
      id_fn(s.id);
      continue;
    }
    if (im.normalizer.empty() && im.norm_matcher.empty()) {
      text_fn(s.text);
      continue;
    }
    const std::string normalized = im.normalizer.empty() ? std::string(s.text) : im.normalizer.apply(s.text);
    norm.clear();
    im.norm_matcher.split(normalized, norm);
    for (const auto& n : norm) {
      if (done()) return;
      if (n.id >= 0) id_fn(n.id);
      else text_fn(n.text);
    }
  }
}

}  // namespace

void Tokenizer::Impl::compute_token_bounds() const {
  if (bpe.fuse_unk()) return;
  // A byte-level token stands for the bytes its symbols decode to; any other token for at most
  // its own text. unk and byte-fallback tokens stand for one character, <= 4 bytes.
  size_t m = 4;
  std::string bytes;
  for (int32_t id = 0; id <= bpe.max_id(); ++id) {
    const std::string* t = bpe.id_to_token(id);
    if (!t) continue;
    bytes.clear();
    m = std::max(m, pretok.byte_level() && tok::symbols_to_bytes(*t, bytes) ? bytes.size() : t->size());
  }
  max_token_bytes_ = m;
  bool sound = normalizer.empty() && !pretok.drops_text();
  for (const tok::AddedToken& a : added) {
    sound = sound && !a.lstrip && !a.rstrip;
    m = std::max(m, a.content.size());
  }
  if (sound) max_text_bytes_per_token_ = m;
}

size_t Tokenizer::Impl::max_token_bytes() const {
  std::call_once(token_bounds_once_, [this] { compute_token_bounds(); });
  return max_token_bytes_;
}

size_t Tokenizer::Impl::max_text_bytes_per_token() const {
  std::call_once(token_bounds_once_, [this] { compute_token_bounds(); });
  return max_text_bytes_per_token_;
}

bool Tokenizer::Impl::encode_text(std::string_view text, std::vector<int32_t>& out, size_t max_size) const {
  std::vector<std::string_view> pieces;
  std::deque<std::string> storage;
  bool over = false;
  auto done = [&] { return over || out.size() > max_size; };
  const size_t per_token = max_size == SIZE_MAX ? 0 : max_token_bytes();
  walk_segments(
      *this, text,
      [&](std::string_view t) {
        pieces.clear();
        storage.clear();
        pretok.split(t, pieces, storage);
        for (auto p : pieces) {
          // BPE is the costly part: none once the count is known to be too high, and none on a
          // piece (a 4 MiB run of letters is one) whose tokens cannot fit.
          if (done()) return;
          if (per_token && out.size() + (p.size() + per_token - 1) / per_token > max_size) {
            over = true;
            return;
          }
          encode_piece(*this, p, out);
        }
      },
      [&](int32_t id) { out.push_back(id); }, done);
  return !done();
}

std::vector<std::string> Tokenizer::Impl::pre_tokenize(std::string_view text) const {
  std::vector<std::string> result;
  std::vector<std::string_view> pieces;
  std::deque<std::string> storage;
  walk_segments(
      *this, text,
      [&](std::string_view t) {
        pieces.clear();
        pretok.split(t, pieces, storage);
        for (auto p : pieces) result.emplace_back(p);
      },
      [](int32_t) {}, [] { return false; });
  return result;
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_json_text(std::string_view json_text, const std::string& source) {
  return Tokenizer(tok::parse_tokenizer_json(json_text, source));
}

Tokenizer Tokenizer::load(const std::string& path) {
  if (is_gguf_path(path)) return from_json_text(gguf_tokenizer_json(GgufFile(path)), path + " (embedded tokenizer)");
  std::string resolved;
  const std::string text = tok::read_tokenizer_file(path, &resolved);
  return from_json_text(text, resolved);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special_tokens) out.insert(out.end(), impl_->prefix_ids.begin(), impl_->prefix_ids.end());
  impl_->encode_text(text, out);
  if (add_special_tokens) out.insert(out.end(), impl_->suffix_ids.begin(), impl_->suffix_ids.end());
  return out;
}

bool Tokenizer::encode_at_most(std::string_view text, size_t max_tokens, std::vector<int32_t>& out) const {
  const size_t limit = out.size() + max_tokens;
  if (limit < max_tokens) {  // no real limit (overflow): encode all
    impl_->encode_text(text, out);
    return true;
  }
  // No token stands for more than `per` bytes, so a longer text cannot fit: refused unread.
  const size_t per = impl_->max_text_bytes_per_token();
  if (per && max_tokens < SIZE_MAX / per && text.size() > max_tokens * per) return false;
  return impl_->encode_text(text, out, limit);
}

std::vector<std::vector<int32_t>> Tokenizer::encode_batch(const std::vector<std::string>& texts,
                                                          bool add_special_tokens, int threads) const {
  std::vector<std::vector<int32_t>> out(texts.size());
  size_t n_threads = threads > 0 ? size_t(threads) : std::max(1u, std::thread::hardware_concurrency());
  n_threads = std::min(n_threads, texts.size());
  if (n_threads <= 1) {
    for (size_t i = 0; i < texts.size(); ++i) out[i] = encode(texts[i], add_special_tokens);
    return out;
  }
  std::atomic<size_t> next{0};
  std::vector<std::exception_ptr> errors(n_threads);
  std::vector<std::thread> pool;
  for (size_t t = 0; t < n_threads; ++t) {
    pool.emplace_back([&, t] {
      try {
        for (size_t i = next++; i < texts.size(); i = next++) out[i] = encode(texts[i], add_special_tokens);
      } catch (...) {
        errors[t] = std::current_exception();
      }
    });
  }
  for (auto& th : pool) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  return out;
}

std::vector<std::string> Tokenizer::pre_tokenize(std::string_view text) const { return impl_->pre_tokenize(text); }

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::string bytes;
  bool first = true;
  for (int32_t id : ids) {
    const std::string* token = nullptr;
    auto a = impl_->added_by_id.find(id);
    if (a != impl_->added_by_id.end()) {
      const tok::AddedToken& t = impl_->added[a->second];
      if (skip_special_tokens && t.special) continue;
      token = &t.content;
    } else {
      token = impl_->bpe.id_to_token(id);
    }
    if (!token) continue;  // unknown ids are skipped, as the reference does
    if (impl_->decoder == Impl::Decoder::kByteLevel) {
      // A token outside the byte alphabet (an added token like "<｜User｜>") stands for its own UTF-8.
      if (!tok::symbols_to_bytes(*token, bytes)) bytes += *token;
    } else {
      if (!first) bytes += ' ';  // the reference joins tokens with spaces when there is no decoder
      bytes += *token;
    }
    first = false;
  }
  return tok::utf8_lossy(bytes);
}

int64_t Tokenizer::vocab_size() const { return impl_->vocab_size; }

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  auto it = impl_->added_by_content.find(std::string(token));
  if (it != impl_->added_by_content.end()) return it->second;
  return impl_->bpe.token_to_id(token);
}

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  auto a = impl_->added_by_id.find(id);
  if (a != impl_->added_by_id.end()) return impl_->added[a->second].content;
  if (const std::string* t = impl_->bpe.id_to_token(id)) return *t;
  return std::nullopt;
}

bool Tokenizer::is_special(int32_t id) const {
  auto a = impl_->added_by_id.find(id);
  return a != impl_->added_by_id.end() && impl_->added[a->second].special;
}

}  // namespace frugal

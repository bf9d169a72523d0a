// Work per request in the tokenizer (issue 12): the longest-prefix trie against its obvious
// definition, added-token splitting through it against the token-by-token search, and encoding
// that stops once a token limit is passed. Timings of the old and new searches are in
// bench/bench_request_bounds.cpp; these tests check results on random and on large inputs.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/prefix_trie.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"

namespace frugal {
namespace {

const Tokenizer& deepseek() {
  static const Tokenizer t = Tokenizer::load(std::string(FRUGAL_TEST_DATA) + "/tokenizer/deepseek_v3");
  return t;
}

// Random strings over a small alphabet (with a 2-byte and a 3-byte character), so keys share
// prefixes, repeat, and occur in the text often.
std::string random_text(std::mt19937& rng, size_t max_len) {
  static const std::vector<std::string> kAlphabet = {"<", "|", "a", "b", " ", "\n", "\xC3\xA9", "\xEF\xBD\x9C"};
  std::string s;
  const size_t n = rng() % (max_len + 1);
  for (size_t k = 0; k < n; ++k) s += kAlphabet[rng() % kAlphabet.size()];
  return s;
}

TEST(PrefixTrie, AgreesWithTheDefinitionOnRandomKeysAndTexts) {
  std::mt19937 rng(12);
  for (int round = 0; round < 200; ++round) {
    std::vector<std::string> keys;
    tok::PrefixTrie trie;
    const int n_keys = 1 + int(rng() % 30);
    for (int k = 0; k < n_keys; ++k) {
      std::string key = random_text(rng, 6);
      if (key.empty()) key.push_back('<');
      keys.push_back(key);  // duplicates on purpose: the first one's value must win
      trie.add(key, int32_t(keys.size() - 1));
    }
    const std::string text = random_text(rng, 60);
    for (size_t pos = 0; pos <= text.size(); ++pos) {
      const auto got = trie.longest_prefix(std::string_view(text).substr(pos));
      const auto want = tok::longest_prefix_ref(keys, std::string_view(text).substr(pos));
      ASSERT_EQ(got.value, want.value) << "round " << round << " pos " << pos;
      ASSERT_EQ(got.length, want.length) << "round " << round << " pos " << pos;
    }
  }
}

TEST(PrefixTrie, EmptyTrieAndNoMatch) {
  tok::PrefixTrie trie;
  EXPECT_TRUE(trie.empty());
  EXPECT_EQ(trie.longest_prefix("abc").value, -1);
  trie.add("abc", 7);
  EXPECT_FALSE(trie.empty());
  EXPECT_EQ(trie.longest_prefix("ab").value, -1);  // a key's prefix is not a key
  EXPECT_EQ(trie.longest_prefix("abcd").value, 7);
  EXPECT_EQ(trie.longest_prefix("abcd").length, 3u);
}

// Added tokens with every flag (single_word, lstrip, rstrip), split by the trie and by the
// token-by-token search.
TEST(AddedTokenMatcher, TrieSplitAgreesWithTheReferenceOnRandomTexts) {
  std::mt19937 rng(7);
  for (int round = 0; round < 300; ++round) {
    std::vector<tok::AddedToken> tokens;
    const int n = 1 + int(rng() % 12);
    for (int k = 0; k < n; ++k) {
      tok::AddedToken t;
      t.id = 1000 + k;
      t.content = random_text(rng, 5);
      if (t.content.empty()) t.content = "<|";
      t.single_word = rng() % 4 == 0;
      t.lstrip = rng() % 4 == 0;
      t.rstrip = rng() % 4 == 0;
      tokens.push_back(t);
    }
    std::vector<const tok::AddedToken*> ptrs;
    for (const auto& t : tokens) ptrs.push_back(&t);
    tok::AddedTokenMatcher m;
    m.build(ptrs);
    const std::string text = random_text(rng, 80);
    std::vector<tok::Segment> got, want;
    m.split(text, got);
    m.split_reference(text, want);
    ASSERT_EQ(got.size(), want.size()) << "round " << round;
    for (size_t k = 0; k < got.size(); ++k) {
      EXPECT_EQ(got[k].id, want[k].id) << "round " << round << " segment " << k;
      EXPECT_EQ(got[k].text, want[k].text) << "round " << round << " segment " << k;
    }
  }
}

// DeepSeek-V3's 818 added tokens nearly all start with '<': a long run of '<' around a few real
// special tokens splits exactly there (the old search compared every token at every '<').
TEST(AddedTokenMatcher, DeepSeekV3OnAMegabyteOfAngleBrackets) {
  const auto bos = deepseek().token_to_id("<｜begin▁of▁sentence｜>");
  const auto user = deepseek().token_to_id("<｜User｜>");
  ASSERT_TRUE(bos && user);
  const std::string lts(1 << 18, '<');
  const std::string text = "<｜begin▁of▁sentence｜>" + lts + "<｜User｜>" + lts;
  const std::vector<int32_t> ids = deepseek().encode(text);
  const std::vector<int32_t> plain = deepseek().encode(lts);
  ASSERT_FALSE(plain.empty());
  std::vector<int32_t> want = {*bos};
  want.insert(want.end(), plain.begin(), plain.end());
  want.push_back(*user);
  want.insert(want.end(), plain.begin(), plain.end());
  EXPECT_EQ(ids, want);
  for (int32_t id : plain) EXPECT_FALSE(deepseek().is_special(id));
}

TEST(EncodeAtMost, StopsSoonAfterTheLimit) {
  std::string text;
  for (int k = 0; k < 200000; ++k) text += "word" + std::to_string(k % 97) + " ";
  const std::vector<int32_t> all = deepseek().encode(text);
  ASSERT_GT(all.size(), 100000u);
  // Under the limit: the same ids as encode(), appended after what `out` held.
  std::vector<int32_t> out = {42};
  EXPECT_TRUE(deepseek().encode_at_most(text, all.size(), out));
  ASSERT_EQ(out.size(), all.size() + 1);
  EXPECT_TRUE(std::equal(all.begin(), all.end(), out.begin() + 1));
  // Over it: false, and only a prefix was encoded (about the limit, not the rest). 100 kB is
  // short enough that the byte bound below does not refuse it unread.
  out.clear();
  EXPECT_FALSE(deepseek().encode_at_most(text.substr(0, 100000), 1000, out));
  EXPECT_GT(out.size(), 900u);
  EXPECT_LT(out.size(), 1100u);
  EXPECT_TRUE(std::equal(out.begin(), out.end(), all.begin()));
  // No V3 token stands for more than 128 bytes (128 spaces): 4 MiB of words are refused unread,
  // and text made of the longest token is not refused at exactly its count.
  out.clear();
  EXPECT_FALSE(deepseek().encode_at_most(text + text + text + text, 1000, out));
  EXPECT_TRUE(out.empty());
  const std::string spaces(128 * 50, ' ');
  const size_t n_spaces = deepseek().encode(spaces).size();
  EXPECT_LE(n_spaces, 50u);
  EXPECT_TRUE(deepseek().encode_at_most(spaces, n_spaces, out));
  out.clear();
  // One 4 MiB piece (a run of letters) cannot fit in 1000 tokens: refused without running BPE on it.
  out.clear();
  EXPECT_FALSE(deepseek().encode_at_most(std::string(4 << 20, 'b'), 1000, out));
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(deepseek().encode_at_most(std::string(4000, 'b'), 4000, out));
  EXPECT_EQ(out, deepseek().encode(std::string(4000, 'b')));
  // Added tokens count too, and the limit is on what is appended.
  out.assign(5, 0);
  EXPECT_FALSE(deepseek().encode_at_most("<｜User｜><｜User｜><｜User｜>", 2, out));
  out.clear();
  EXPECT_TRUE(deepseek().encode_at_most("<｜User｜><｜User｜>", 2, out));
  EXPECT_EQ(out.size(), 2u);
}

}  // namespace
}  // namespace frugal
